/* group_state.h — what the router remembers about each model group across
 * requests and worker threads: the strategy's counters, one circuit breaker
 * and one rate limiter per target, and the group's retry budget.
 *
 * It is made from one config snapshot and shared by every worker's router,
 * so all workers see the same breaker states and limits (each piece locks
 * or uses atomics itself).  Replicas of a fleet keep their own copy and
 * share it through the state store (router/fleet.c): this is their local
 * mirror.  A reload makes a new one and carries over what it knew about
 * every target that still exists (cmx_router_shared_carry_over). */
#ifndef CMX_ROUTER_GROUP_STATE_H
#define CMX_ROUTER_GROUP_STATE_H

#include <stdatomic.h>

#include "config/config.h"
#include "state/state.h"
#include "router/backoff.h"
#include "router/breaker.h"
#include "router/ratelimit.h"
#include "router/retry_budget.h"
#include "router/strategy.h"

typedef struct cmx_group_state {
    const cmx_model_group *group;
    cmx_strategy *strategy;
    int by_price;          /* cheapest or cascade: picks need each target's cost */
    int cascade;           /* answers are judged before they are accepted */
    cmx_breaker *breakers; /* one per target, or NULL when breakers are off */
    cmx_ratelimit *limits; /* one per target */
    cmx_retry_budget budget;
    cmx_backoff_config backoff;
    _Atomic uint64_t *cooldown_until_us; /* per target: a Retry-After's end, 0 if none */
    char **subjects; /* per target: "group|provider|model", its name in the fleet */
    /* Shadow traffic to the group's standby, kept apart from the real
     * traffic's figures. */
    atomic_uint_fast64_t shadow_sent;
    atomic_uint_fast64_t shadow_failed;
    atomic_uint_fast64_t shadow_latency_us; /* sum over completed shadows */
} cmx_group_state;

typedef struct cmx_router_shared cmx_router_shared;

cmx_router_shared *cmx_router_shared_new(cmx_config *cfg, cmx_error *err);
void cmx_router_shared_free(cmx_router_shared *s);
/* The state of a group of the snapshot the shared state was made from. */
cmx_group_state *cmx_router_shared_group(cmx_router_shared *s, const cmx_model_group *g);

/* Set by active health checks: 1 while the provider is taken out of
 * routing.  Indexed like cfg->providers. */
atomic_int *cmx_router_shared_provider_down(cmx_router_shared *s, const cmx_provider_config *p);

const cmx_config *cmx_router_shared_config(const cmx_router_shared *s);

/* The state store the fleet shares (NULL: none); turns on the breakers'
 * fleet mode when it is shared.  Call before any worker uses s. */
void cmx_router_shared_use_state(cmx_router_shared *s, cmx_state *st);
cmx_state *cmx_router_shared_state(const cmx_router_shared *s);

/* Copies what `from` knows about each target that `to` still has (same
 * group, provider and upstream model): breaker state, cooldown, rate-limit
 * window, latency estimate, retry budget; and which providers are down. */
void cmx_router_shared_carry_over(cmx_router_shared *to, cmx_router_shared *from);

/* Cooldowns: a target that answered 429 with a Retry-After is left alone
 * until then by every request (and, in a fleet, by every replica). */
void cmx_cooldown_extend(_Atomic uint64_t *until_us, uint64_t new_until_us);
int cmx_cooldown_active(const _Atomic uint64_t *until_us, uint64_t now_us);

#endif
