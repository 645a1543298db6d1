/* provider.h — the one interface every provider implements.
 *
 * A provider turns one canonical call (an OpenAI-format chat or embeddings
 * request) into whatever its service speaks, and its service's answer back
 * into canonical bytes: a whole response body, or stream chunks (the JSON of
 * one OpenAI chat.completion.chunk each).  It reports the outcome through an
 * attempt sink, exactly once, with an error kind the router decides on.
 *
 * A provider never writes to the client and never decides about failover;
 * that is the router's job.
 *
 * A provider is a module: its vtable (P.c), its config keys, settings
 * struct and checks hanging off the vtable as a schema (P_config.c and
 * P_config.h, see config/config_module.h), its translators when it speaks
 * another format (translator.h), and one line in provider.c's registry.
 * Nothing outside its own files names it. */
#ifndef CMX_PROVIDERS_PROVIDER_H
#define CMX_PROVIDERS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/config_module.h"
#include "core/arena.h"
#include "core/err.h"
#include "http/json_scan.h"
#include "http/upstream.h"
#include "providers/translator.h"

struct event_base;

/* What a worker gives its providers. */
typedef struct cmx_worker_env {
    struct event_base *base;
    cmx_upstream *upstream;
} cmx_worker_env;

typedef struct cmx_call cmx_call;

/* How a client API call (messages, responses) becomes a chat completion
 * for a target that does not serve that API itself: `convert` fills `out`
 * (a copy of the call) with the chat request's api, body and scan, made on
 * first need and kept for the request's other attempts, or says why the
 * request cannot be one (a 400 naming the field). */
typedef struct cmx_call_as_chat {
    cmx_err (*convert)(void *ctx, cmx_call *out, cmx_error *err);
    void *ctx;
} cmx_call_as_chat;

/* One client request as providers see it.  Lives in the request's arena. */
struct cmx_call {
    cmx_api api;
    const char *body; /* the client's original bytes */
    size_t body_len;
    const cmx_request_scan *scan;
    cmx_arena *arena;
    const char *request_id;
    uint32_t attempt_timeout_ms;  /* the most this attempt may take, from the request's
                                     overall deadline; 0: the provider's own total timeout */
    const char *residency_header; /* the client's x-cloudmux-residency, or NULL */
    const char *residency_key;    /* the region its API key is bound to, or NULL */
    /* Optional: bytes of the answer the client has not taken yet (a slow
     * reader's unsent output), so an attempt can hold the upstream back
     * (cmx_upstream_watch_backlog); NULL: no backpressure. */
    size_t (*client_backlog)(void *client_ctx);
    void *client_ctx;
    /* A Messages call's anthropic-version and anthropic-beta headers as the
     * client sent them, or NULL. */
    const char *anthropic_version;
    const char *anthropic_beta;
    /* A client API call's chat form, for targets that do not serve the API
     * (cmx_provider_vtable.serves); NULL for chat and embeddings calls. */
    const cmx_call_as_chat *as_chat;
};

/* Whether the call streams its answer (chat, messages and responses can). */
static inline int cmx_call_streams(const cmx_call *call)
{
    return call->scan && call->scan->stream &&
           (call->api == CMX_API_CHAT || call->api == CMX_API_MESSAGES ||
            call->api == CMX_API_RESPONSES);
}

/* The provider's total timeout, shortened to the call's remaining deadline. */
static inline uint32_t cmx_call_total_ms(const cmx_call *call, uint32_t provider_total_ms)
{
    uint32_t limit = call->attempt_timeout_ms;
    if (!limit)
        return provider_total_ms;
    return provider_total_ms && provider_total_ms < limit ? provider_total_ms : limit;
}

/* Where an attempt reports.  A stream's chunks come through on_chunk as they
 * arrive.  on_done runs exactly once and last, with err->kind == CMX_OK when
 * the answer is complete; for a non-streaming call that succeeded, body and
 * len hold the whole canonical response (valid during the call only).  The
 * attempt is gone when on_done runs, so the sink may end the request from
 * inside it. */
typedef struct cmx_attempt_sink {
    void (*on_chunk)(void *ctx, const char *json, size_t len);
    void (*on_done)(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                    size_t len);
    void *ctx;
    /* Optional: the upstream's own id of the request (x-request-id,
     * request-id, x-amzn-requestid ...), reported once when the answer's
     * head arrives (cmx_header_is_request_id). */
    void (*on_upstream_id)(void *ctx, const char *id, size_t len);
    /* Optional: n whole events of a stream passed through (Messages,
     * Responses), judged as on_chunk's would be and framed as the client
     * takes them (http/sse_relay.h: "event: TYPE\ndata: JSON\n\n" each),
     * in place of n on_chunk calls.  Only after a first on_chunk.  NULL:
     * every event comes through on_chunk. */
    void (*on_events)(void *ctx, const char *sse, size_t len, size_t n);
} cmx_attempt_sink;

typedef struct cmx_provider_vtable {
    const char *type; /* as written in config: "openai", "anthropic", "mock" */
    /* Its config keys, settings struct and checks (its *_config.c);
     * schema->type is `type`. */
    const cmx_provider_schema *schema;
    /* The format translators it chooses from per attempt, NULL-terminated;
     * NULL for a provider that speaks the canonical format (translator.h). */
    const cmx_translator_ops *const *translators;
    /* Per-worker state for one configured provider. */
    cmx_err (*create)(const cmx_provider_config *cfg, const cmx_worker_env *env, void **state,
                      cmx_error *err);
    void (*destroy)(void *state);
    /* Optional: whether this target answers `api` (messages, count_tokens,
     * responses) in that API's own format.  The router then hands start()
     * the client's call as it came, and the answer (whole, or stream chunks
     * that are the API's events, each a JSON object whose "type" names it)
     * goes to the client as it is.  Otherwise start() gets the call as a
     * chat completion (cmx_call.as_chat), or, for count_tokens, the router
     * refuses it.  NULL: chat and embeddings only. */
    int (*serves)(void *state, const cmx_target_config *target, cmx_api api);
    /* Starts one attempt; returns a handle for cancel, or NULL with err set
     * (no sink callback runs then).  No sink callback runs before it returns. */
    void *(*start)(void *state, const cmx_call *call, const cmx_target_config *target,
                   const cmx_attempt_sink *sink, cmx_error *err);
    /* Abandons an attempt: no further sink callbacks. */
    void (*cancel)(void *attempt);
    /* Optional: a cheap health request (GET base_url + path); `done` runs
     * once with NULL or an error.  Returns a handle for cmx_probe_cancel,
     * or NULL with nothing started. */
    struct cmx_probe *(*probe)(void *state, const char *path, uint32_t timeout_ms,
                               void (*done)(void *ctx, const cmx_error *err), void *ctx);
} cmx_provider_vtable;

/* An HTTP health probe over the upstream client (probe.c), for providers'
 * probe methods: GET `path` on `origin` with `headers`; 2xx is healthy. */
typedef struct cmx_probe cmx_probe;
cmx_probe *cmx_probe_http(cmx_upstream *up, const cmx_url *origin, int tls_verify, int http2,
                          const char *ca_file, const char *path, const char *headers,
                          size_t headers_len, uint32_t timeout_ms,
                          void (*done)(void *ctx, const cmx_error *err), void *ctx);
void cmx_probe_cancel(cmx_probe *p);

/* What every provider that calls a service over HTTP holds on a worker,
 * as the first member of its state: its config, the worker's upstream
 * client and loop, and the origin and path prefix of its base_url. */
typedef struct cmx_service {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    struct event_base *base;
    cmx_url url;
} cmx_service;

/* Allocates a provider state of `size` bytes (zeroed) whose first member
 * is a cmx_service, filled for cfg on this worker.  NULL with err set
 * (out of memory, or a base_url that does not parse). */
void *cmx_service_new(size_t size, const cmx_provider_config *cfg, const cmx_worker_env *env,
                      cmx_error *err);

/* A provider instance on one worker. */
typedef struct cmx_provider {
    const cmx_provider_vtable *vt;
    const cmx_provider_config *cfg;
    void *state;
} cmx_provider;

const cmx_provider_vtable *cmx_provider_lookup(const char *type);
/* The registered vtables in order, NULL past the last. */
const cmx_provider_vtable *cmx_provider_at(size_t i);

/* Each module defines its vtable as cmx_provider_<type> (cmx_provider_openai
 * ...); the registry in provider.c lists them. */

#endif
