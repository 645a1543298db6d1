/* translating_attempt.h — one attempt of a translating provider (anthropic,
 * bedrock, vertex) over the upstream client: the plumbing they all share.
 *
 * A translating provider chooses a translator for the attempt
 * (translator.h), sends the request it wrote, and gets back either a whole
 * answer to translate or a stream to translate chunk by chunk.  Everything
 * around the translation is the same for each of them and lives here:
 * reading the status and content type, keeping the first stream chunk back
 * until a second exists (so a stream that fails right after it started can
 * still fail over: nothing has reached the client yet), capping bodies,
 * turning a transport failure, a non-2xx answer, a wrong content type or an
 * unfinished stream into an error, reporting a failure found before sending
 * from the event loop, and handing exactly one outcome to the attempt sink.
 *
 * The translation goes through the translator alone, whichever it is; what
 * is the provider's own goes through cmx_translating_ops: the mapping of
 * its service's error answers, the headers it reads, and what its part of
 * the attempt holds.  A provider's attempt struct holds a
 * cmx_translating_attempt as its first member; the ops get that member back
 * and cast it. */
#ifndef CMX_PROVIDERS_TRANSLATING_ATTEMPT_H
#define CMX_PROVIDERS_TRANSLATING_ATTEMPT_H

#include "provider.h"

#include "core/buf.h"
#include "providers/translator.h"

struct event;
typedef struct cmx_translating_attempt cmx_translating_attempt;

typedef struct cmx_translating_ops {
    /* A non-2xx answer (its start is in a->body) → the router's kinds. */
    void (*map_error)(cmx_translating_attempt *a, cmx_error *err);
    /* Optional: each response header other than Content-Type (after the
     * translator saw it). */
    void (*header)(cmx_translating_attempt *a, const cmx_http_header *h);
    /* Optional: frees what the provider's part of the attempt holds; may
     * run twice. */
    void (*release)(cmx_translating_attempt *a);
} cmx_translating_ops;

struct cmx_translating_attempt {
    const cmx_translating_ops *ops;
    cmx_translator tr; /* chosen for this attempt (tr.ops NULL before) */
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
    size_t (*client_backlog)(void *client_ctx); /* the call's, for backpressure */
    void *client_ctx;
};

/* Sets up the shared part (the rest of the attempt was zeroed by calloc). */
void cmx_translating_init(cmx_translating_attempt *a, const cmx_translating_ops *ops,
                          struct event_base *base, const cmx_attempt_sink *sink, int stream);

/* Opens `tr` for this attempt with what the provider knows (`p`: its name,
 * the model, the id, drop_unsupported, default_max_tokens; the rest is
 * filled here from the call) and writes the translated request into
 * a->request.  CMX_OK, or why the request cannot go (err), for
 * cmx_translating_fail_later. */
cmx_err cmx_translating_translate(cmx_translating_attempt *a, const cmx_translator_ops *tr,
                                  const cmx_call *call, const cmx_translate_params *p,
                                  cmx_error *err);

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

/* A .header op for a service that says in Retry-After (seconds) when to
 * come back: sets a->retry_after_ms. */
void cmx_translating_retry_after(cmx_translating_attempt *a, const cmx_http_header *h);

/* The vtable's cancel: abandons the attempt, no further sink callbacks. */
void cmx_translating_cancel(void *attempt);

#endif
