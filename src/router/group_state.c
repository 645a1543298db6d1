/* group_state.c — building and releasing the per-group shared state from a
 * config snapshot; see group_state.h. */
#include "router/group_state.h"

#include <stdlib.h>
#include <string.h>

struct cmx_router_shared {
    cmx_config *cfg;
    cmx_group_state *groups;   /* parallel to cfg->models */
    atomic_int *provider_down; /* parallel to cfg->providers */
};

static cmx_strategy_kind strategy_kind(const char *name)
{
    cmx_strategy_kind kind = CMX_STRATEGY_PRIORITY;
    /* A cascade climbs from the cheapest target up: the cheapest order. */
    if (name && strcmp(name, "cascade") == 0)
        return CMX_STRATEGY_CHEAPEST;
    if (name)
        cmx_strategy_kind_from_name(name, &kind);
    return kind;
}

static void group_release(cmx_group_state *gs)
{
    const cmx_model_group *g = gs->group;
    if (!g)
        return;
    cmx_strategy_free(gs->strategy);
    for (size_t i = 0; gs->breakers && i < g->n_targets; i++)
        cmx_breaker_destroy(&gs->breakers[i]);
    for (size_t i = 0; gs->limits && i < g->n_targets; i++)
        cmx_ratelimit_destroy(&gs->limits[i]);
    free(gs->breakers);
    free(gs->limits);
    cmx_retry_budget_destroy(&gs->budget);
}

static cmx_err group_init(cmx_group_state *gs, const cmx_model_group *g, cmx_error *err)
{
    size_t n = g->n_targets;
    uint32_t *weights = calloc(n, sizeof *weights);
    gs->limits = calloc(n, sizeof *gs->limits);
    if (!weights || !gs->limits) {
        free(weights);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        weights[i] = g->targets[i].weight ? g->targets[i].weight : 1;
    cmx_strategy_kind kind = strategy_kind(g->strategy);
    gs->by_price = kind == CMX_STRATEGY_CHEAPEST;
    gs->cascade = g->strategy && strcmp(g->strategy, "cascade") == 0;
    cmx_strategy_config sc = cmx_strategy_config_default(kind, n);
    sc.weights = weights;
    gs->strategy = cmx_strategy_new(&sc, err);
    free(weights);
    if (!gs->strategy)
        return err->kind;

    for (size_t i = 0; i < n; i++) {
        cmx_ratelimit_config rc = {(uint32_t)g->targets[i].rpm, g->targets[i].tpm};
        if (cmx_ratelimit_init(&gs->limits[i], &rc, err) != CMX_OK)
            return err->kind;
    }
    const cmx_breaker_settings *bs = &g->breaker;
    if (bs->enabled) {
        gs->breakers = calloc(n, sizeof *gs->breakers);
        if (!gs->breakers)
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        cmx_breaker_config bc = cmx_breaker_config_default();
        bc.consecutive_failures = bs->consecutive_failures;
        bc.error_rate_threshold = bs->error_rate_percent;
        bc.window_ms = bs->window_ms;
        bc.min_requests = bs->min_requests;
        bc.cooldown_ms = bs->cooldown_ms;
        bc.max_cooldown_ms = bs->max_cooldown_ms;
        bc.half_open_probes = bs->half_open_probes;
        for (size_t i = 0; i < n; i++)
            if (cmx_breaker_init(&gs->breakers[i], &bc, err) != CMX_OK)
                return err->kind;
    }
    cmx_retry_budget_config rb = cmx_retry_budget_config_default();
    rb.budget_percent = g->retry.budget_percent;
    rb.min_retries = g->retry.min_retries;
    if (cmx_retry_budget_init(&gs->budget, &rb, err) != CMX_OK)
        return err->kind;
    gs->backoff =
        (cmx_backoff_config){g->retry.base_ms, g->retry.cap_ms, g->retry.max_retry_after_ms};
    return CMX_OK;
}

cmx_router_shared *cmx_router_shared_new(cmx_config *cfg, cmx_error *err)
{
    cmx_router_shared *s = calloc(1, sizeof *s);
    if (!s || !(s->groups = calloc(cfg->n_models ? cfg->n_models : 1, sizeof *s->groups))) {
        free(s);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = cmx_config_ref(cfg);
    s->provider_down = calloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *s->provider_down);
    if (!s->provider_down) {
        cmx_router_shared_free(s);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        s->groups[i].group = &cfg->models[i];
        if (group_init(&s->groups[i], &cfg->models[i], err) != CMX_OK) {
            cmx_router_shared_free(s);
            return NULL;
        }
    }
    return s;
}

void cmx_router_shared_free(cmx_router_shared *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cfg->n_models; i++)
        group_release(&s->groups[i]);
    free(s->groups);
    free(s->provider_down);
    cmx_config_unref(s->cfg);
    free(s);
}

atomic_int *cmx_router_shared_provider_down(cmx_router_shared *s, const cmx_provider_config *p)
{
    return &s->provider_down[p - s->cfg->providers];
}

cmx_group_state *cmx_router_shared_group(cmx_router_shared *s, const cmx_model_group *g)
{
    return &s->groups[g - s->cfg->models];
}
