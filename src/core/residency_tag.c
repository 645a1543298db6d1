/* residency_tag.c — the syntax of a residency tag; see residency_tag.h. */
#include "residency_tag.h"

int cmx_residency_tag_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > 32)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}
