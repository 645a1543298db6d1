/* buf.c — growable NUL-terminated byte buffer with a sticky failure; see
 * buf.h. */
#include "buf.h"
#include "wipe.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*buf_realloc)(void *, size_t) = realloc;

void cmx_buf_set_realloc(void *(*realloc_fn)(void *ptr, size_t size))
{
    buf_realloc = realloc_fn ? realloc_fn : realloc;
}

void cmx_buf_init_fixed(cmx_buf *b, char *storage, size_t size)
{
    *b = (cmx_buf){storage, 0, size, size == 0, 1, 0, 0};
    if (size)
        storage[0] = '\0';
}

void cmx_buf_init_spill(cmx_buf *b, char *storage, size_t size)
{
    *b = (cmx_buf){size ? storage : NULL, 0, size, 0, 0, 0, size != 0};
    if (size)
        storage[0] = '\0';
}

static int fail(cmx_buf *b)
{
    b->failed = 1;
    return -1;
}

int cmx_buf_reserve(cmx_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    size_t need = b->len + extra + 1;
    if (need < b->len)
        return fail(b);
    if (need <= b->cap)
        return 0;
    if (b->fixed)
        return fail(b);
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > (size_t)-1 / 2)
            return fail(b);
        cap *= 2;
    }
    char *p;
    if (b->secret || b->borrowed) {
        /* a copy, then the old block wiped (realloc would free it unwiped)
         * or left to its owner (the caller's storage) */
        p = buf_realloc(NULL, cap);
        if (p && b->data) {
            memcpy(p, b->data, b->len + 1);
            if (b->secret)
                cmx_wipe(b->data, b->cap);
            if (!b->borrowed)
                free(b->data);
        }
        if (p)
            b->borrowed = 0;
    } else {
        p = buf_realloc(b->data, cap);
    }
    if (!p)
        return fail(b);
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
    if (b->failed)
        return -1;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return fail(b);
    if (cmx_buf_reserve(b, (size_t)n) < 0)
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

/* 1 for the bytes a JSON string cannot hold as they are. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1,
};

/* Runs of bytes that need no escape are copied at once; most strings are
 * one run. */
int cmx_buf_append_json_escaped(cmx_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && !needs_escape[(unsigned char)s[run]])
            run++;
        if (run > i)
            cmx_buf_append(b, s + i, run - i);
        if (run == len)
            break;
        unsigned char c = (unsigned char)s[run];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        cmx_buf_append(b, esc, n);
        i = run + 1;
    }
    if (b->failed && b->len > start) {
        /* nothing of a half-escaped string stays behind */
        b->len = start;
        b->data[start] = '\0';
    }
    return b->failed ? -1 : 0;
}

void cmx_buf_rewind(cmx_buf *b)
{
    b->len = 0;
    if (b->data && b->cap)
        b->data[0] = '\0';
}

void cmx_buf_reset(cmx_buf *b)
{
    cmx_buf_rewind(b);
    b->failed = b->fixed && b->cap == 0;
}

void cmx_buf_truncate(cmx_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
    b->failed = b->fixed && b->cap == 0;
}

void cmx_buf_free(cmx_buf *b)
{
    if (b->secret && !b->fixed)
        cmx_wipe(b->data, b->cap);
    if (!b->fixed && !b->borrowed)
        free(b->data);
    int secret = b->secret;
    *b = (cmx_buf)CMX_BUF_INIT;
    b->secret = secret;
}
