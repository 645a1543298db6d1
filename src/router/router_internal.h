/* router_internal.h — what the router's files share and nobody else sees. */
#ifndef CMX_ROUTER_INTERNAL_H
#define CMX_ROUTER_INTERNAL_H

#include "core/clock.h"
#include "router.h"
#include "router/group_state.h"
#include "router/rng.h"

struct cmx_router {
    cmx_config *cfg;
    cmx_router_shared *shared; /* not owned: one for all workers */
    cmx_worker_env env;
    cmx_provider *providers; /* parallel to cfg->providers */
    cmx_clock clock;
    cmx_splitmix rng_state; /* this worker's randomness */
    cmx_rng rng;
    struct cmx_shadow *shadows;      /* mirrored requests in flight, cancelled at free */
    struct cmx_health_probe *probes; /* active health checks run by this router */
    size_t n_probes;
    cmx_state_worker *state;            /* this worker's link to the shared store, or NULL */
    struct cmx_lease_wait *lease_waits; /* probe-lease requests in flight */
};

/* Mirrors the call to the group's shadow target when the draw says so and
 * the target is inside the request's residency `tag` (shadow.c).  Never
 * affects the client's request. */
void cmx_shadow_maybe_start(cmx_router *r, const cmx_model_group *g, const cmx_call *call,
                            const char *residency);
void cmx_shadow_cancel_all(cmx_router *r);
void cmx_health_stop(cmx_router *r);

cmx_provider *cmx_router_provider(cmx_router *r, const cmx_provider_config *pc);

/* The fleet's probe lease for target i's breaker, asked for when the breaker
 * wants it (probe_lease.c); the answer lands in the breaker. */
void cmx_probe_lease_ask(cmx_router *r, cmx_group_state *gs, size_t i, uint64_t now_us);
void cmx_probe_lease_cancel_all(cmx_router *r);
/* The store's connection when it is shared, else NULL. */
cmx_state_worker *cmx_router_fleet(const cmx_router *r);

#endif
