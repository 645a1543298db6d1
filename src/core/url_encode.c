/* url_encode.c — RFC 3986 percent-encoding; see url_encode.h. */
#include "url_encode.h"

#include <string.h>

int cmx_url_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int cmx_url_encode(cmx_buf *out, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    if (cmx_buf_reserve(out, len * 3) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (cmx_url_is_unreserved(c) || (keep_slash && c == '/')) {
            out->data[out->len++] = (char)c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = hex[c >> 4];
            out->data[out->len++] = hex[c & 15];
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

int cmx_url_encode_str(cmx_buf *out, const char *s)
{
    return cmx_url_encode(out, s, strlen(s), 0);
}
