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
    cmx_splitmix rng_state;  /* this worker's randomness */
    cmx_rng rng;
};

cmx_provider *cmx_router_provider(cmx_router *r, const cmx_provider_config *pc);

#endif
