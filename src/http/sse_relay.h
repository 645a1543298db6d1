/* sse_relay.h — the events of a stream passed on as the upstream framed
 * them.
 *
 * Anthropic's Messages stream and OpenAI's Responses stream frame every
 * event alike: "event: TYPE\ndata: JSON\n\n", where TYPE is the JSON's own
 * "type", written first.  Such a "plain" event is byte for byte what the
 * gateway writes for it itself (an event line named by the type, one data
 * line), so a stream passed through can go to the client in runs of the
 * upstream's bytes, one write for all the events of a read, instead of one
 * re-framed write per event.  Anything else (CR line ends, comments, id or
 * retry fields, data over several lines, a name that is not the type, an
 * escaped type) is not plain: the caller reads it and whatever follows with
 * the full SSE reader (http/sse.h), event by event, as before. */
#ifndef CMX_HTTP_SSE_RELAY_H
#define CMX_HTTP_SSE_RELAY_H

#include <stddef.h>

#include "core/buf.h"

typedef struct cmx_sse_plain {
    const char *type; /* the event's name, which is its JSON's "type" */
    size_t type_len;
    const char *data; /* the JSON */
    size_t data_len;
    size_t len; /* the event's bytes, its blank line included */
} cmx_sse_plain;

/* What the bytes a stream's event begins with say about it. */
typedef enum cmx_sse_plain_verdict {
    CMX_SSE_NOT_PLAIN = -1, /* a byte disagrees: the full SSE reader reads it */
    CMX_SSE_CUT = 0,        /* the bytes end before the event does; it may still be plain */
    CMX_SSE_PLAIN = 1,      /* plain and whole: *ev says where its parts are */
} cmx_sse_plain_verdict;

/* The event `bytes` begin with; *ev is filled when it is CMX_SSE_PLAIN. */
cmx_sse_plain_verdict cmx_sse_plain_event(const char *bytes, size_t len, cmx_sse_plain *ev);

/* ---- the relay: a stream's reads in, events out ---------------------------
 * Each plain event is judged; the stream's first goes on alone (a router
 * commits to an attempt on it), the others of a read in one run.  An event
 * a read cuts is kept until its rest comes.  From the first event that is
 * not plain on, the stream goes to the caller's SSE reader for good. */

typedef enum cmx_sse_relay_verdict {
    CMX_SSE_RELAY_PASS, /* it goes on */
    CMX_SSE_RELAY_LAST, /* it goes on and ends the stream: what follows is dropped */
    CMX_SSE_RELAY_STOP, /* the stream stops before it */
} cmx_sse_relay_verdict;

typedef struct cmx_sse_relay_ops {
    cmx_sse_relay_verdict (*judge)(void *ctx, const cmx_sse_plain *ev);
    void (*first)(void *ctx, const cmx_sse_plain *ev); /* the stream's first event, alone */
    void (*run)(void *ctx, const char *sse, size_t len, size_t n); /* n events */
    /* These bytes and every later read are not plain: they go to the
     * caller's SSE reader (at_start: nothing came before them, so a BOM
     * may lead).  Non-zero stops the stream. */
    int (*rest)(void *ctx, const char *bytes, size_t len, int at_start);
} cmx_sse_relay_ops;

typedef struct cmx_sse_relay {
    cmx_buf carry;          /* the start of an event a read cut */
    size_t passed;          /* events gone on so far */
    size_t max_event_bytes; /* a cut event longer than this stops the stream; 0: no limit */
    int done;               /* the last event went on: later bytes are dropped */
    int off;                /* the SSE reader has the stream */
} cmx_sse_relay;

/* One read.  0, or non-zero when the stream stops: STOP (1), what rest()
 * returned, or -1 for an event over max_event_bytes or out of memory. */
int cmx_sse_relay_feed(cmx_sse_relay *r, const char *data, size_t len, const cmx_sse_relay_ops *ops,
                       void *ctx);
/* Bytes of a cut event are kept (a stream ending now was cut mid-event). */
int cmx_sse_relay_partial(const cmx_sse_relay *r);
void cmx_sse_relay_free(cmx_sse_relay *r);

#endif
