/* str.c — decimal numbers and the constant-time secret compare (the slice
 * comparisons are inline in str.h). */
#include "str.h"

#include <strings.h>

size_t cmx_dec_u64(char *out, uint64_t v)
{
    char tmp[CMX_DEC_MAX];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t len = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, len);
    out[len] = '\0';
    return len;
}

size_t cmx_dec_i64(char *out, int64_t v)
{
    if (v >= 0)
        return cmx_dec_u64(out, (uint64_t)v);
    out[0] = '-';
    return 1 + cmx_dec_u64(out + 1, 0 - (uint64_t)v);
}

int cmx_secure_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk the longer input fully so time does not depend on where the first
     * difference is. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}
