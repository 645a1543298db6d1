/* translating_attempt.h — one attempt of a translating provider (anthropic,
 * bedrock, vertex) over the upstream client: the plumbing they all share.
 *
 * A translating provider sends a request it translated, and gets back
 * either a whole answer to translate into a chat.completion or a stream to
 * translate chunk by chunk.  Everything around the translation is the same
 * for each of them and lives here: reading the status and content type,
 * keeping the first stream chunk back until a second exists (so a stream
 * that fails right after it started can still fail over: nothing has
 * reached the client yet), capping bodies, turning a transport failure, a
 * non-2xx answer, a wrong content type or an unfinished stream into an
 * error, reporting a failure found before sending from the event loop, and
 * handing exactly one outcome to the attempt sink.
 *
 * What differs goes through cmx_translating_ops: the stream framing and its
 * translator, the whole-answer translation, and the mapping of the service's
 * error answers.  A provider's attempt struct holds a cmx_translating_attempt
 * as its first member; the ops get that member back and cast it. */
#ifndef CMX_PROVIDERS_TRANSLATING_ATTEMPT_H
#define CMX_PROVIDERS_TRANSLATING_ATTEMPT_H

#include "provider.h"

#include "core/buf.h"
#include "http/sse.h"

struct event;
typedef struct cmx_translating_attempt cmx_translating_attempt;

typedef struct cmx_translating_ops {
    /* The content type a 2xx stream must have ("text/event-stream"). */
    const char *stream_content_type;
    /* Bytes of a 2xx stream with the right type.  Nonzero fails the attempt
     * with a->stream_err (the upstream call is cancelled). */
    int (*feed_stream)(cmx_translating_attempt *a, const char *data, size_t len);
    /* The stream's bytes ended cleanly.  CMX_OK when the translator saw the
     * answer complete (it may emit its last chunks now), else err is set. */
    cmx_err (*end_stream)(cmx_translating_attempt *a, cmx_error *err);
    /* Stream events translated so far (0 before any), for messages. */
    size_t (*stream_events)(const cmx_translating_attempt *a);
    /* A whole 2xx answer → chat.completion appended to out, usage in *usage. */
    cmx_err (*translate_response)(cmx_translating_attempt *a, const char *body, size_t len,
                                  cmx_buf *out, cmx_usage *usage, cmx_error *err);
    /* A non-2xx answer (its start is in a->body) → the router's kinds. */
    void (*map_error)(cmx_translating_attempt *a, cmx_error *err);
    /* The usage the stream translator counted, or none (cmx_usage_init)
     * when there is none; called before release. */
    void (*stream_usage)(const cmx_translating_attempt *a, cmx_usage *u);
    /* Frees what the provider's part of the attempt holds; may run twice. */
    void (*release)(cmx_translating_attempt *a);
    /* Optional: each response header other than Content-Type. */
    void (*header)(cmx_translating_attempt *a, const cmx_http_header *h);
} cmx_translating_ops;

struct cmx_translating_attempt {
    const cmx_translating_ops *ops;
    struct event_base *base;
    cmx_upstream_call *call;
    struct event *deferred; /* reports a failure found before sending */
    cmx_error deferred_err;
    cmx_attempt_sink sink;
    int stream;
    int status;
    int upstream_id_seen; /* the upstream's request id was reported */
    int content_type_ok;
    char content_type[64]; /* lower case */
    uint32_t retry_after_ms;
    cmx_buf request; /* the translated body */
    cmx_buf body;    /* whole answer (non-stream) or error body */
    cmx_buf held;    /* the first stream chunk, until a second one comes */
    int holding;
    size_t chunks; /* chunks handed to the sink */
    cmx_error stream_err;
};

/* Sets up the shared part (the rest of the attempt was zeroed by calloc). */
void cmx_translating_init(cmx_translating_attempt *a, const cmx_translating_ops *ops,
                          struct event_base *base, const cmx_attempt_sink *sink, int stream);

/* Fails the attempt from the event loop (no sink callback may run inside
 * start); returns the attempt, or NULL with *err = *why when even that is
 * impossible. */
void *cmx_translating_fail_later(cmx_translating_attempt *a, const cmx_error *why, cmx_error *err);

/* Fails the attempt now: its sink's on_done runs before this returns, so
 * only from the event loop, never inside start (a provider that sends later,
 * when something it waited for failed). */
void cmx_translating_fail(cmx_translating_attempt *a, const cmx_error *why);

/* Sends a->request to path with the header block; the attempt then runs on
 * its own.  Frees a->request (the client copied it).  Returns the attempt, or
 * NULL with err set when out of memory. */
void *cmx_translating_send(cmx_translating_attempt *a, cmx_upstream *upstream,
                           const cmx_provider_config *cfg, const cmx_url *origin,
                           const cmx_call *call, const char *path, const char *headers,
                           size_t headers_len, cmx_error *err);

/* cmx_translating_send for an attempt that sends later than start() (after
 * fetching a token, say): the total timeout was worked out while the call
 * was at hand.  On failure (NULL, err set) the attempt is not released: the
 * caller reports it, e.g. with cmx_translating_fail. */
void *cmx_translating_send_timed(cmx_translating_attempt *a, cmx_upstream *upstream,
                                 const cmx_provider_config *cfg, const cmx_url *origin,
                                 uint32_t total_ms, const char *path, const char *headers,
                                 size_t headers_len, cmx_error *err);

/* The stream translator's emit callback (ctx: the attempt): holds the first
 * chunk back until a second exists, then hands chunks to the sink. */
void cmx_translating_emit_chunk(void *ctx, const char *json, size_t len);

/* A .header op for a service that says in Retry-After (seconds) when to
 * come back: sets a->retry_after_ms. */
void cmx_translating_retry_after(cmx_translating_attempt *a, const cmx_http_header *h);

/* For a feed_stream over SSE: feeds the bytes to `sse`, set up on first use
 * (*ready 0 → 1) to hand each event to on_event(ctx) and to refuse events
 * over 8 MiB.  Nonzero stops the stream; a->stream_err says why (set here
 * for an oversized event or no memory, by on_event otherwise). */
int cmx_translating_feed_sse(cmx_translating_attempt *a, cmx_sse_parser *sse, int *ready,
                             cmx_sse_event_cb on_event, void *ctx, const char *data, size_t len);

/* The vtable's cancel: abandons the attempt, no further sink callbacks. */
void cmx_translating_cancel(void *attempt);

#endif
