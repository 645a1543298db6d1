/* buf.c — growable NUL-terminated byte buffer; see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmx_buf_reserve(cmx_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len)
        return -1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cmx_buf_append(cmx_buf *b, const void *data, size_t len)
{
    if (cmx_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int cmx_buf_append_str(cmx_buf *b, const char *s)
{
    return cmx_buf_append(b, s, strlen(s));
}

int cmx_buf_vprintf(cmx_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || cmx_buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cmx_buf_printf(cmx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cmx_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int cmx_buf_append_json_escaped(cmx_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (cmx_buf_reserve(b, len + 8) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t n = 0;
        switch (c) {
        case '"':
            esc[0] = '\\';
            esc[1] = '"';
            n = 2;
            break;
        case '\\':
            esc[0] = '\\';
            esc[1] = '\\';
            n = 2;
            break;
        case '\n':
            esc[0] = '\\';
            esc[1] = 'n';
            n = 2;
            break;
        case '\r':
            esc[0] = '\\';
            esc[1] = 'r';
            n = 2;
            break;
        case '\t':
            esc[0] = '\\';
            esc[1] = 't';
            n = 2;
            break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
            }
        }
        int rc = n ? cmx_buf_append(b, esc, n) : cmx_buf_append(b, &s[i], 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void cmx_buf_reset(cmx_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cmx_buf_free(cmx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
