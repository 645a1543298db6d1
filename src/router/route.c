/* route.c — the attempt loop for one call.
 *
 * Targets are tried in the group's order.  Each attempt's outcome is an error
 * kind, and the kind alone decides what happens next (DESIGN.md "Errors"):
 * kinds that fail over move to the next target, the others end the route.
 * Streams add one rule: once a chunk has been handed to the client the route
 * is committed to that target, and a later failure ends the stream with an
 * error instead of failing over (a cut stream must never look complete). */
#include "router_internal.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"

struct cmx_route {
    cmx_router *router;
    const cmx_model_group *group;
    const cmx_call *call;
    cmx_route_sink sink;
    size_t next_target;
    cmx_provider *provider;   /* of the attempt in flight */
    void *attempt;            /* NULL when none is in flight */
    uint64_t attempt_start_us;
    int committed;            /* a stream chunk reached the client */
    cmx_route_result result;
    cmx_attempt_record *records;
};

static int start_next(cmx_route *route);

static cmx_attempt_record *record_attempt(cmx_route *route, const cmx_error *err)
{
    const cmx_target_config *t = &route->group->targets[route->next_target - 1];
    cmx_attempt_record *rec = &route->records[route->result.attempts - 1];
    uint64_t elapsed = cmx_now_us() - route->attempt_start_us;
    rec->provider = t->provider->name;
    rec->model = t->model ? t->model : route->group->name;
    rec->kind = err ? err->kind : CMX_OK;
    rec->cause = err ? err->cause : CMX_CAUSE_NONE;
    rec->status = err ? err->upstream_status : 200;
    rec->latency_ms = (uint32_t)(elapsed / 1000);
    rec->retry_after_ms = err ? err->retry_after_ms : 0;
    rec->message = err ? cmx_arena_strdup(route->call->arena, err->message) : NULL;
    route->result.upstream_us += elapsed;
    route->result.provider = rec->provider;
    route->result.model = rec->model;
    return rec;
}

static void on_chunk(void *ctx, const char *json, size_t len)
{
    cmx_route *route = ctx;
    if (!route->committed) {
        const cmx_target_config *t = &route->group->targets[route->next_target - 1];
        route->committed = 1;
        route->result.provider = t->provider->name;
        route->result.model = t->model ? t->model : route->group->name;
        route->sink.on_stream_start(route->sink.ctx, &route->result);
    }
    route->sink.on_stream_chunk(route->sink.ctx, json, len);
}

/* The error for "every target failed": the status says what kind of outage
 * it was, the message names the last failure, the attempts carry the rest. */
static void all_failed_error(const cmx_route *route, cmx_error *out)
{
    size_t n = route->result.attempts;
    size_t timeouts = 0, limited = 0, unavailable = 0;
    for (size_t i = 0; i < n; i++) {
        cmx_err k = route->records[i].kind;
        timeouts += k == CMX_ERR_TIMEOUT;
        limited += k == CMX_ERR_RATE_LIMITED;
        unavailable += k == CMX_ERR_UNAVAILABLE;
    }
    cmx_err kind;
    int status;
    if (limited == n) {
        kind = CMX_ERR_RATE_LIMITED;
        status = 429;
    } else if (timeouts == n) {
        kind = CMX_ERR_TIMEOUT;
        status = 504;
    } else if (unavailable + timeouts + limited == n) {
        kind = CMX_ERR_UNAVAILABLE;
        status = 503;
    } else {
        kind = CMX_ERR_UPSTREAM_PROTOCOL;
        status = 502;
    }
    const cmx_attempt_record *last = &route->records[n - 1];
    cmx_error_set(out, kind, "all %zu target%s of model '%s' failed; last: %s", n,
                  n == 1 ? "" : "s", route->group->name, last->message ? last->message : "");
    out->status = status;
    uint32_t retry = 0;
    for (size_t i = 0; i < n; i++)
        if (route->records[i].retry_after_ms &&
            (!retry || route->records[i].retry_after_ms < retry))
            retry = route->records[i].retry_after_ms;
    out->retry_after_ms = retry;
}

static void on_done(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                    size_t len)
{
    cmx_route *route = ctx;
    route->attempt = NULL;
    int ok = !err || err->kind == CMX_OK;
    record_attempt(route, ok ? NULL : err);
    if (usage)
        route->result.usage = *usage;

    if (ok) {
        if (route->call->api == CMX_API_CHAT && route->call->scan->stream) {
            if (!route->committed) { /* a complete stream with no chunk at all */
                route->committed = 1;
                route->sink.on_stream_start(route->sink.ctx, &route->result);
            }
            route->sink.on_stream_end(route->sink.ctx, &route->result, NULL);
        } else {
            route->sink.on_response(route->sink.ctx, &route->result, body, len);
        }
        return;
    }
    if (route->committed) {
        route->sink.on_stream_end(route->sink.ctx, &route->result, err);
        return;
    }
    if (cmx_err_fails_over(err->kind) && route->next_target < route->group->n_targets) {
        start_next(route);
        return;
    }
    cmx_error final;
    if (cmx_err_fails_over(err->kind)) {
        all_failed_error(route, &final);
    } else {
        final = *err;
        final.status = err->upstream_status >= 400 && err->upstream_status < 500
                           ? err->upstream_status
                           : 0;
    }
    route->sink.on_failure(route->sink.ctx, &route->result, &final);
}

/* Starts attempts until one is in flight; returns 0 if none could be
 * started (the route has then ended with on_failure). */
static int start_next(cmx_route *route)
{
    static const cmx_error no_target = {.kind = CMX_ERR_INTERNAL};
    const cmx_error *last = &no_target;
    cmx_error err;
    while (route->next_target < route->group->n_targets) {
        const cmx_target_config *t = &route->group->targets[route->next_target++];
        cmx_attempt_sink attempt_sink = {on_chunk, on_done, route};
        route->provider = cmx_router_provider(route->router, t->provider);
        route->attempt_start_us = cmx_now_us();
        route->result.attempts++;
        cmx_error_clear(&err);
        route->attempt =
            route->provider->vt->start(route->provider->state, route->call, t, &attempt_sink, &err);
        if (route->attempt)
            return 1;
        record_attempt(route, &err);
        last = &err;
    }
    cmx_error final = *last;
    if (route->result.attempts)
        all_failed_error(route, &final);
    route->sink.on_failure(route->sink.ctx, &route->result, &final);
    return 0;
}

cmx_route *cmx_route_start(cmx_router *r, const cmx_model_group *group, const cmx_call *call,
                           const cmx_route_sink *sink)
{
    cmx_route *route = cmx_arena_calloc(call->arena, 1, sizeof *route);
    cmx_attempt_record *records =
        route ? cmx_arena_calloc(call->arena, group->n_targets, sizeof *records) : NULL;
    if (!records) {
        cmx_error err;
        cmx_route_result empty = {0};
        cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory");
        sink->on_failure(sink->ctx, &empty, &err);
        return NULL;
    }
    route->router = r;
    route->group = group;
    route->call = call;
    route->sink = *sink;
    route->records = records;
    route->result.records = records;
    cmx_usage_init(&route->result.usage);
    return start_next(route) ? route : NULL;
}

void cmx_route_cancel(cmx_route *route)
{
    if (route && route->attempt) {
        route->provider->vt->cancel(route->attempt);
        route->attempt = NULL;
    }
}
