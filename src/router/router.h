/* router.h — from a model group to an answer: the attempt loop.
 *
 * A router belongs to one worker: it holds that worker's instance of every
 * configured provider, and shares each group's breakers, limits, strategy
 * counters and retry budget with the other workers.  cmx_route_start() runs
 * one client call: the group's strategy orders the targets whose breaker and
 * rate limits admit them; a transient failure is retried on the same target
 * (num_retries, backoff with jitter, the server's Retry-After, the retry
 * budget, the request's deadline); a failure whose kind fails over (rate
 * limited, timeout, unavailable, provider auth, upstream protocol) then moves
 * on to the next target; a context-window error or a content-policy refusal
 * jumps to the group's context_window_fallbacks or content_policy_fallbacks
 * (ahead of anything queued) and ends the route only when the group has
 * none left to try; the client's other errors (bad request and the like)
 * end the route at once.  When a group's targets are exhausted the route
 * continues with its `fallbacks`.  A stream fails over only until its first
 * chunk has been handed to the client; after that a failure ends the
 * stream with an error.
 *
 * A client API call (messages, count_tokens, responses) goes as it came to
 * a target that serves that API (cmx_provider_vtable.serves); any other
 * target gets it as a chat completion (cmx_call.as_chat), and the result
 * says in which API the answer is written.  A count_tokens call has no
 * chat form: a target that cannot count refuses it with bad_request.
 *
 * The route ends in exactly one sink call: on_response (non-stream success),
 * on_stream_end (a stream that was started, with or without error) or
 * on_failure (nothing was delivered).  It is made last, so the sink may end
 * the request and release its arena from inside it. */
#ifndef CMX_ROUTER_ROUTER_H
#define CMX_ROUTER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "providers/provider.h"

typedef struct cmx_router cmx_router;
typedef struct cmx_router_shared cmx_router_shared;

/* `shared` is the cross-worker state made for the same snapshot
 * (group_state.h); the caller keeps it alive longer than the router. */
cmx_router *cmx_router_new(cmx_config *cfg, cmx_router_shared *shared, const cmx_worker_env *env,
                           cmx_error *err);
void cmx_router_free(cmx_router *r);
const cmx_config *cmx_router_config(const cmx_router *r);
/* Starts the active health checks of every provider that configures one, on
 * this router's event loop.  One router per process should run them (they
 * set shared state); the gateway's first worker does. */
cmx_err cmx_router_start_health_checks(cmx_router *r, cmx_error *err);

/* This worker's connection to the state store; with a shared (Redis)
 * store, breakers, cooldowns, limits and health are shared with the fleet.
 * NULL or an in-process store: nothing is shared.  Set before routing. */
struct cmx_state_worker;
void cmx_router_set_state(cmx_router *r, struct cmx_state_worker *sw);
/* Stops this router's health checks (a reload hands them to the next). */
void cmx_router_stop_health_checks(cmx_router *r);

/* For tests: breakers, limits and latencies read time from this clock. */
struct cmx_clock;
void cmx_router_set_clock(cmx_router *r, const struct cmx_clock *clock);

typedef struct cmx_attempt_record {
    const char *provider;
    const char *model;
    cmx_err kind; /* CMX_OK for the attempt that answered */
    cmx_cause cause;
    int status; /* upstream HTTP status, 0 if none */
    uint32_t latency_ms;
    uint32_t retry_after_ms;
    const char *message;
    const char *upstream_request_id; /* the provider's id of the attempt, or NULL */
} cmx_attempt_record;

typedef struct cmx_route_result {
    const char *group;    /* the group whose target answered (a fallback group or the one asked) */
    const char *provider; /* the target that answered, or the last one tried */
    const char *model;
    const cmx_target_config *target; /* the same target's config (its price), or NULL */
    size_t attempts;
    cmx_usage usage;
    uint64_t upstream_us;            /* time spent waiting on providers, all attempts */
    const char *upstream_request_id; /* the provider's id of the last attempt, or NULL */
    const cmx_attempt_record *records;
    /* The API the answer (its body or stream chunks) is written in: the
     * call's own, or chat when the target that answered a client API call
     * (messages, responses) served it as a chat completion. */
    cmx_api api;
} cmx_route_result;

typedef struct cmx_route_sink {
    void (*on_response)(void *ctx, const cmx_route_result *r, const char *body, size_t len);
    void (*on_stream_start)(void *ctx, const cmx_route_result *r);
    void (*on_stream_chunk)(void *ctx, const char *json, size_t len);
    /* err is NULL when the stream completed. */
    void (*on_stream_end)(void *ctx, const cmx_route_result *r, const cmx_error *err);
    /* err says why; for "every target failed" its status is 429/502/503/504. */
    void (*on_failure)(void *ctx, const cmx_route_result *r, const cmx_error *err);
    void *ctx;
    /* Optional: a run of n stream events of the client's own API, framed
     * as SSE the client takes as they are (cmx_attempt_sink.on_events);
     * NULL: each comes through on_stream_chunk. */
    void (*on_stream_events)(void *ctx, const char *sse, size_t len, size_t n);
} cmx_route_sink;

typedef struct cmx_route cmx_route;

/* Starts routing; the route lives in call->arena.  Returns NULL when no
 * attempt could even be started: on_failure has then been called already.
 * Otherwise no sink call happens before it returns. */
cmx_route *cmx_route_start(cmx_router *r, const cmx_model_group *group, const cmx_call *call,
                           const cmx_route_sink *sink);
/* The client went away (or the gateway is ending the request): abandon the
 * current attempt, which is recorded as cancelled with the time it ran; no
 * further sink calls. */
void cmx_route_cancel(cmx_route *route);
/* What the route did so far: its attempts (a cancelled one included), the
 * target tried last and the time spent on providers.  Valid while the
 * request's arena lives. */
const cmx_route_result *cmx_route_result_of(const cmx_route *route);

#endif
