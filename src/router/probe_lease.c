/* probe_lease.c — one half-open probe for the whole fleet.
 *
 * When a shared breaker's cooldown is over, the replica that first sees it
 * asks the store for the target's probe lease (SET NX PX, for one cooldown).
 * The holder's breaker goes half-open and probes; the others keep theirs
 * open until the holder publishes the verdict (fleet.c), or until the lease
 * runs out because the holder died.  A store that cannot answer is taken as
 * a yes: each replica then probes on its own, as without a fleet.
 *
 * Requests in flight are kept on the router so that freeing the router
 * (worker stop, reload) cancels them before their callbacks could run. */
#include "router_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define LEASE_RETRY_MS 250

typedef struct cmx_lease_wait {
    struct cmx_lease_wait *next, *prev;
    cmx_router *router;
    cmx_breaker *breaker;
    uint64_t id;
    int in_call; /* the answer came before cmx_state_lease returned */
    int answered;
} cmx_lease_wait;

static void unlink_wait(cmx_lease_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->router->lease_waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

static void on_lease(void *ctx, cmx_state_verdict v)
{
    cmx_lease_wait *w = ctx;
    cmx_breaker_lease_answer(w->breaker, cmx_clock_now_us(&w->router->clock), v != CMX_STATE_NO,
                             LEASE_RETRY_MS);
    w->answered = 1;
    if (w->in_call)
        return;
    unlink_wait(w);
    free(w);
}

void cmx_probe_lease_ask(cmx_router *r, cmx_group_state *gs, size_t i, uint64_t now_us)
{
    cmx_state_worker *sw = cmx_router_fleet(r);
    if (!sw || !gs->breakers || !cmx_breaker_wants_lease(&gs->breakers[i], now_us))
        return;
    cmx_lease_wait *w = calloc(1, sizeof *w);
    char name[600];
    if (!w) {
        cmx_breaker_lease_answer(&gs->breakers[i], now_us, true, LEASE_RETRY_MS);
        return;
    }
    w->router = r;
    w->breaker = &gs->breakers[i];
    w->next = r->lease_waits;
    if (w->next)
        w->next->prev = w;
    r->lease_waits = w;
    snprintf(name, sizeof name, "probe:%s", gs->subjects[i]);
    uint64_t ttl_ms = cmx_breaker_cooldown_us(w->breaker) / 1000;
    w->in_call = 1;
    w->id = cmx_state_lease(sw, name, (uint32_t)(ttl_ms ? ttl_ms : 1000), on_lease, w);
    w->in_call = 0;
    if (w->answered) {
        unlink_wait(w);
        free(w);
    }
}

void cmx_probe_lease_cancel_all(cmx_router *r)
{
    while (r->lease_waits) {
        cmx_lease_wait *w = r->lease_waits;
        r->lease_waits = w->next;
        cmx_state_cancel(r->state, w->id);
        /* Nobody will answer: the breaker may ask again. */
        cmx_breaker_lease_answer(w->breaker, cmx_clock_now_us(&r->clock), false, 0);
        free(w);
    }
}
