/* sse.h — Server-Sent Events, both directions.
 *
 * The parser follows the WHATWG "event stream interpretation" rules: lines end
 * in CR, LF or CRLF; a blank line dispatches the event; "data" lines join with
 * LF; "event", "id" and "retry" are kept; comments (":") are ignored; a
 * leading UTF-8 BOM is skipped.  It is fed bytes across arbitrary chunk
 * boundaries and calls back once per complete event.  It copies only what it
 * must: an incomplete trailing line is kept until the rest arrives. */
#ifndef CMX_HTTP_SSE_H
#define CMX_HTTP_SSE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* The largest event an upstream's stream may send: one answer chunk's
 * worth is a few KiB; more is a broken or hostile upstream. */
#define CMX_SSE_UPSTREAM_EVENT_MAX (8u << 20)

typedef struct cmx_sse_event {
    const char *event; /* "" when no event field (the default "message") */
    size_t event_len;
    const char *data; /* joined data lines, without the trailing LF */
    size_t data_len;
    const char *id;
    size_t id_len;
} cmx_sse_event;

/* Return non-zero to stop parsing (cmx_sse_feed returns that value). */
typedef int (*cmx_sse_event_cb)(void *ctx, const cmx_sse_event *ev);

typedef struct cmx_sse_parser {
    cmx_buf line; /* partial line carried across feeds */
    cmx_buf data;
    cmx_buf event;
    cmx_buf id;
    int has_data;
    int seen_bytes; /* BOM handling */
    int last_was_cr;
    size_t max_event_bytes; /* 0: unlimited; over → cmx_sse_feed returns -1.
                             * An event's size is the bytes of its field lines
                             * (line ends and comment lines not counted). */
    cmx_sse_event_cb cb;
    void *ctx;
    size_t event_bytes; /* size of the event being read, for max_event_bytes */
} cmx_sse_parser;

void cmx_sse_parser_init(cmx_sse_parser *p, cmx_sse_event_cb cb, void *ctx);
/* The bytes fed from now on continue a stream begun elsewhere: no BOM is
 * looked for. */
void cmx_sse_parser_mid_stream(cmx_sse_parser *p);
/* 0 when all bytes were consumed; the callback's non-zero value if it stopped;
 * -1 when an event exceeded max_event_bytes or memory ran out. */
int cmx_sse_feed(cmx_sse_parser *p, const char *bytes, size_t len);
/* True when bytes of an unfinished event are buffered (a stream that ends now
 * was cut mid-event). */
int cmx_sse_has_partial(const cmx_sse_parser *p);
/* The error for an upstream stream whose event was over the limit or met
 * an out-of-memory (cmx_sse_feed returned -1): fills err, returns its kind. */
cmx_err cmx_sse_upstream_event_refused(cmx_error *err);
void cmx_sse_parser_free(cmx_sse_parser *p);

/* Appends "data: <data>\n\n" (data must not contain a newline) — with an
 * "event: <name>\n" line first when name is not NULL. */
int cmx_sse_write(cmx_buf *out, const char *event_name, const char *data, size_t len);

#endif
