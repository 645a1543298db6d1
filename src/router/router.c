/* router.c — a worker's router: its provider instances, made from the config
 * snapshot once when the worker starts. */
#include "router_internal.h"

#include <stdint.h>
#include <stdlib.h>

cmx_router *cmx_router_new(cmx_config *cfg, cmx_router_shared *shared, const cmx_worker_env *env,
                           cmx_error *err)
{
    cmx_router *r = calloc(1, sizeof *r);
    if (!r) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->cfg = cmx_config_ref(cfg);
    r->shared = shared;
    r->env = *env;
    r->clock = cmx_clock_monotonic;
    /* Workers draw different sequences: seeded by time and the router's address. */
    cmx_splitmix_seed(&r->rng_state, cmx_now_us() ^ (uint64_t)(uintptr_t)r);
    r->rng = cmx_rng_splitmix(&r->rng_state);
    r->providers = calloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *r->providers);
    if (!r->providers) {
        cmx_router_free(r);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const cmx_provider_config *pc = &cfg->providers[i];
        cmx_provider *p = &r->providers[i];
        p->cfg = pc;
        p->vt = cmx_provider_lookup(pc->type_name);
        if (!p->vt) {
            cmx_error_set(err, CMX_ERR_CONFIG, "provider '%s': unknown type '%s'", pc->name,
                          pc->type_name);
            cmx_router_free(r);
            return NULL;
        }
        if (p->vt->create(pc, &r->env, &p->state, err) != CMX_OK) {
            p->vt = NULL;
            cmx_router_free(r);
            return NULL;
        }
    }
    return r;
}

void cmx_router_free(cmx_router *r)
{
    if (!r)
        return;
    cmx_shadow_cancel_all(r);
    cmx_health_stop(r);
    cmx_probe_lease_cancel_all(r);
    if (r->providers) {
        for (size_t i = 0; i < r->cfg->n_providers; i++)
            if (r->providers[i].vt)
                r->providers[i].vt->destroy(r->providers[i].state);
        free(r->providers);
    }
    cmx_config_unref(r->cfg);
    free(r);
}

const cmx_config *cmx_router_config(const cmx_router *r)
{
    return r->cfg;
}

void cmx_router_set_state(cmx_router *r, cmx_state_worker *sw)
{
    r->state = sw;
}

cmx_state_worker *cmx_router_fleet(const cmx_router *r)
{
    return r->state && cmx_state_is_shared(cmx_state_of(r->state)) ? r->state : NULL;
}

void cmx_router_stop_health_checks(cmx_router *r)
{
    cmx_health_stop(r);
}

void cmx_router_set_clock(cmx_router *r, const cmx_clock *clock)
{
    r->clock = *clock;
}

cmx_provider *cmx_router_provider(cmx_router *r, const cmx_provider_config *pc)
{
    /* Targets point into the snapshot's providers array: the index is free. */
    return &r->providers[pc - r->cfg->providers];
}
