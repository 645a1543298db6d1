/* shadow.c — shadow traffic: a share of a group's requests mirrored to a
 * standby target, to keep its connection pools, caches and quotas warm so a
 * failover does not land on a cold deployment.
 *
 * The mirror is started beside the real request and owns a copy of it (its
 * own arena), because it may outlive the client's exchange.  Its answer is
 * discarded; only its latency and whether it failed are kept, in the group's
 * shadow counters.  Nothing here can delay, change or fail the client's
 * request: a mirror that cannot start is just counted as failed.  Mirrors
 * still in flight when the router is freed are cancelled. */
#include "router_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "router/residency.h"

typedef struct cmx_shadow {
    struct cmx_shadow *prev, *next;
    cmx_router *router;
    cmx_group_state *gs;
    cmx_provider *provider;
    void *attempt;
    cmx_arena *arena;
    cmx_call call;
    cmx_request_scan scan;
    uint64_t start_us;
} cmx_shadow;

static void unlink_shadow(cmx_shadow *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->router->shadows = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static void shadow_free(cmx_shadow *s)
{
    unlink_shadow(s);
    cmx_arena_free(s->arena);
    free(s);
}

static void on_chunk(void *ctx, const char *json, size_t len)
{
    (void)ctx, (void)json, (void)len; /* discarded: only the outcome matters */
}

static void on_done(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                    size_t len)
{
    cmx_shadow *s = ctx;
    uint64_t elapsed = cmx_clock_now_us(&s->router->clock) - s->start_us;
    atomic_fetch_add(&s->gs->shadow_latency_us, elapsed);
    if (err && err->kind != CMX_OK) {
        atomic_fetch_add(&s->gs->shadow_failed, 1);
        cmx_debug("shadow request for model '%s' failed: %s", s->gs->group->name, err->message);
    }
    shadow_free(s);
}

void cmx_shadow_maybe_start(cmx_router *r, const cmx_model_group *g, const cmx_call *call,
                            const char *residency)
{
    if (!g->shadow || !g->shadow->provider || g->shadow_percent <= 0)
        return;
    /* A mirror is traffic too: it stays inside the request's residency. */
    if (!cmx_residency_allows(residency, g->shadow->provider))
        return;
    if (g->shadow_percent < 100 && cmx_rng_unit(&r->rng) * 100.0 >= g->shadow_percent)
        return;
    cmx_group_state *gs = cmx_router_shared_group(r->shared, g);
    atomic_fetch_add(&gs->shadow_sent, 1);
    cmx_shadow *s = calloc(1, sizeof *s);
    cmx_arena *arena = s ? cmx_arena_new(call->body_len + 4096) : NULL;
    char *body = arena ? cmx_arena_strndup(arena, call->body, call->body_len) : NULL;
    char *request_id = body && call->request_id ? cmx_arena_strdup(arena, call->request_id) : NULL;
    if (!body || (call->request_id && !request_id)) {
        atomic_fetch_add(&gs->shadow_failed, 1);
        cmx_arena_free(arena);
        free(s);
        return;
    }
    s->router = r;
    s->gs = gs;
    s->arena = arena;
    /* Spans in the scan are offsets, so they hold for the copy too. */
    s->scan = *call->scan;
    s->scan.tokens = NULL; /* they live in the client's arena; the copy is scanned anew */
    s->call = *call;
    s->call.body = body;
    s->call.scan = &s->scan;
    s->call.arena = arena;
    s->call.request_id = request_id;
    /* checked above; the client's copies die with its request */
    s->call.residency_header = s->call.residency_key = NULL;
    s->call.attempt_timeout_ms = 0;
    s->call.client_backlog = NULL; /* nobody reads a shadow's answer */
    s->call.client_ctx = NULL;
    s->start_us = cmx_clock_now_us(&r->clock);
    s->provider = cmx_router_provider(r, g->shadow->provider);
    s->next = r->shadows;
    if (r->shadows)
        r->shadows->prev = s;
    r->shadows = s;

    cmx_attempt_sink sink = {on_chunk, on_done, s, NULL, NULL};
    cmx_error err;
    cmx_error_clear(&err);
    s->attempt = s->provider->vt->start(s->provider->state, &s->call, g->shadow, &sink, &err);
    if (!s->attempt) {
        atomic_fetch_add(&gs->shadow_failed, 1);
        shadow_free(s);
    }
}

void cmx_shadow_cancel_all(cmx_router *r)
{
    while (r->shadows) {
        cmx_shadow *s = r->shadows;
        s->provider->vt->cancel(s->attempt);
        shadow_free(s);
    }
}
