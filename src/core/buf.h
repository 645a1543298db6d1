/* buf.h — a growable byte buffer for building messages off the socket path
 * (error bodies, upstream requests, stream chunks, log lines).  Socket I/O
 * itself uses libevent's evbuffer; this is for assembling bytes before they
 * go there.  A cmx_buf is always NUL-terminated so it can be used as a C
 * string.
 *
 * A buffer remembers failure (SQLite's StrAccum idea): once an append runs
 * out of memory (or out of room, for a fixed buffer) the buffer is marked
 * failed and every later append does nothing.  Writers therefore append
 * freely without checking each call; the one place that hands the bytes on
 * (sends them, emits a chunk, returns a body) checks cmx_buf_failed() once
 * and never passes on a half-written message.  The appends still return
 * 0 / -1 for code that wants to stop early. */
#ifndef CMX_CORE_BUF_H
#define CMX_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cmx_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;   /* an append ran out of memory (or room): the content is incomplete */
    int fixed;    /* the storage is the caller's (cmx_buf_init_fixed): never grown or freed */
    int secret;   /* holds a secret (cmx_buf_init_secret, core/wipe.h): wiped when it grows
                     and when it is freed */
    int borrowed; /* the storage is the caller's until the buffer outgrows it
                     (cmx_buf_init_spill): then it moves to the heap */
} cmx_buf;

#define CMX_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0, 0, 0, 0                                                                     \
    }

/* A buffer over the caller's storage (a stack array, say): appends past
 * `size - 1` bytes fail the buffer instead of allocating. */
void cmx_buf_init_fixed(cmx_buf *b, char *storage, size_t size);
/* A buffer that starts in the caller's storage (a stack array sized for the
 * usual message) and moves to the heap, content and all, only when it
 * outgrows it: a scratch buffer that costs no allocation in the common
 * case.  cmx_buf_free gives back the heap copy if there is one and never
 * frees the storage, which must outlive the buffer's use. */
void cmx_buf_init_spill(cmx_buf *b, char *storage, size_t size);

/* Each returns 0 on success, -1 when the buffer has failed (now or before);
 * a failed append leaves the content as it was and marks the buffer. */
int cmx_buf_reserve(cmx_buf *b, size_t extra);
int cmx_buf_append(cmx_buf *b, const void *data, size_t len);
int cmx_buf_append_str(cmx_buf *b, const char *s);
int cmx_buf_printf(cmx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmx_buf_vprintf(cmx_buf *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (no quotes), escaping as RFC 8259 asks. */
int cmx_buf_append_json_escaped(cmx_buf *b, const char *s, size_t len);

/* 1 once an append failed: the content is not the message that was written. */
static inline int cmx_buf_failed(const cmx_buf *b)
{
    return b->failed;
}

/* Empties the buffer and clears its failure: a fresh start for a buffer
 * reused for unrelated messages (log lines, parser state). */
void cmx_buf_reset(cmx_buf *b);
/* Empties the buffer but keeps its failure, for a writer that reuses one
 * buffer for a run of messages and checks once that none of them failed. */
void cmx_buf_rewind(cmx_buf *b);
/* Cuts the content back to `len` bytes (a mark taken before a message that
 * failed, so nothing of it stays) and clears the failure. */
void cmx_buf_truncate(cmx_buf *b, size_t len);
/* Gives the memory back (wiped first for a secret buffer). */
void cmx_buf_free(cmx_buf *b);

/* Test hook: the allocator every buffer grows with, so a test can make the
 * Nth allocation fail.  NULL restores realloc.  Process-wide and not
 * thread-safe: for single-threaded tests only. */
void cmx_buf_set_realloc(void *(*realloc_fn)(void *ptr, size_t size));

#endif
