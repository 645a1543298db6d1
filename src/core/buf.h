/* buf.h — a growable byte buffer for building messages off the socket path
 * (error bodies, upstream requests, log lines).  Socket I/O itself uses
 * libevent's evbuffer; this is for assembling bytes before they go there.
 * A cmx_buf is always NUL-terminated so it can be used as a C string. */
#ifndef CMX_CORE_BUF_H
#define CMX_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cmx_buf {
    char *data;
    size_t len;
    size_t cap;
} cmx_buf;

#define CMX_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Each returns 0 on success, -1 when out of memory (the buffer is unchanged). */
int cmx_buf_reserve(cmx_buf *b, size_t extra);
int cmx_buf_append(cmx_buf *b, const void *data, size_t len);
int cmx_buf_append_str(cmx_buf *b, const char *s);
int cmx_buf_printf(cmx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmx_buf_vprintf(cmx_buf *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (no quotes), escaping as RFC 8259 asks. */
int cmx_buf_append_json_escaped(cmx_buf *b, const char *s, size_t len);
void cmx_buf_reset(cmx_buf *b);
void cmx_buf_free(cmx_buf *b);

#endif
