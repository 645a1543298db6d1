/* group_state.c — building and releasing the per-group shared state from a
 * config snapshot; see group_state.h. */
#include "router/group_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmx_router_shared {
    cmx_config *cfg;
    cmx_state *state;          /* not owned */
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
    free(gs->cooldown_until_us);
    for (size_t i = 0; gs->subjects && i < g->n_targets; i++)
        free(gs->subjects[i]);
    free(gs->subjects);
    cmx_retry_budget_destroy(&gs->budget);
}

static cmx_err group_init(cmx_group_state *gs, const cmx_model_group *g, cmx_error *err)
{
    size_t n = g->n_targets;
    uint32_t *weights = calloc(n, sizeof *weights);
    gs->limits = calloc(n, sizeof *gs->limits);
    gs->cooldown_until_us = calloc(n, sizeof *gs->cooldown_until_us);
    gs->subjects = calloc(n, sizeof *gs->subjects);
    if (!weights || !gs->limits || !gs->cooldown_until_us || !gs->subjects) {
        free(weights);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const cmx_target_config *t = &g->targets[i];
        if (asprintf(&gs->subjects[i], "%s|%s|%s", g->name, t->provider->name,
                     t->model ? t->model : g->name) < 0) {
            gs->subjects[i] = NULL;
            free(weights);
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        }
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

const cmx_config *cmx_router_shared_config(const cmx_router_shared *s)
{
    return s->cfg;
}

void cmx_router_shared_use_state(cmx_router_shared *s, cmx_state *st)
{
    s->state = st;
    bool fleet = cmx_state_is_shared(st);
    for (size_t g = 0; g < s->cfg->n_models; g++)
        for (size_t i = 0; s->groups[g].breakers && i < s->cfg->models[g].n_targets; i++)
            cmx_breaker_set_fleet(&s->groups[g].breakers[i], fleet);
}

cmx_state *cmx_router_shared_state(const cmx_router_shared *s)
{
    return s->state;
}

void cmx_cooldown_extend(_Atomic uint64_t *until_us, uint64_t new_until_us)
{
    uint64_t cur = atomic_load_explicit(until_us, memory_order_relaxed);
    while (cur < new_until_us &&
           !atomic_compare_exchange_weak_explicit(until_us, &cur, new_until_us,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

int cmx_cooldown_active(const _Atomic uint64_t *until_us, uint64_t now_us)
{
    return atomic_load_explicit(until_us, memory_order_acquire) > now_us;
}

/* The same target in the old snapshot: same provider name and upstream
 * model; twins (the same pair twice) match by their order. */
static long old_target(const cmx_model_group *og, const cmx_model_group *ng, size_t i)
{
    const cmx_target_config *t = &ng->targets[i];
    const char *model = t->model ? t->model : ng->name;
    size_t twin = 0;
    for (size_t k = 0; k < i; k++) {
        const cmx_target_config *u = &ng->targets[k];
        twin += strcmp(u->provider->name, t->provider->name) == 0 &&
                strcmp(u->model ? u->model : ng->name, model) == 0;
    }
    for (size_t k = 0; k < og->n_targets; k++) {
        const cmx_target_config *u = &og->targets[k];
        if (strcmp(u->provider->name, t->provider->name) == 0 &&
            strcmp(u->model ? u->model : og->name, model) == 0 && twin-- == 0)
            return (long)k;
    }
    return -1;
}

static void carry_breaker(cmx_breaker *to, cmx_breaker *from)
{
    pthread_mutex_lock(&from->lock);
    pthread_mutex_lock(&to->lock);
    atomic_store(&to->state, atomic_load(&from->state));
    to->consecutive = from->consecutive;
    to->cooldown_us = from->cooldown_us;
    to->open_until_us = from->open_until_us;
    to->probes_admitted = to->probes_pending = 0; /* old probes report to the old copy */
    to->probes_succeeded = from->probes_succeeded;
    to->last_probe_us = from->last_probe_us;
    to->trips = from->trips;
    to->lease_until_us = from->lease_until_us;
    to->lease_retry_us = from->lease_retry_us;
    if (to->window.bucket_us == from->window.bucket_us)
        to->window = from->window;
    pthread_mutex_unlock(&to->lock);
    pthread_mutex_unlock(&from->lock);
}

static void carry_window(pthread_mutex_t *to_lock, cmx_window *to, pthread_mutex_t *from_lock,
                         cmx_window *from)
{
    pthread_mutex_lock(from_lock);
    pthread_mutex_lock(to_lock);
    if (to->bucket_us == from->bucket_us)
        *to = *from;
    pthread_mutex_unlock(to_lock);
    pthread_mutex_unlock(from_lock);
}

void cmx_router_shared_carry_over(cmx_router_shared *to, cmx_router_shared *from)
{
    for (size_t g = 0; g < to->cfg->n_models; g++) {
        const cmx_model_group *ng = &to->cfg->models[g];
        const cmx_model_group *og = cmx_config_find_model(from->cfg, ng->name, strlen(ng->name));
        if (!og)
            continue;
        cmx_group_state *ns = &to->groups[g], *os = cmx_router_shared_group(from, og);
        carry_window(&ns->budget.lock, &ns->budget.window, &os->budget.lock, &os->budget.window);
        for (size_t i = 0; i < ng->n_targets; i++) {
            long k = old_target(og, ng, i);
            if (k < 0)
                continue;
            if (ns->breakers && os->breakers)
                carry_breaker(&ns->breakers[i], &os->breakers[k]);
            carry_window(&ns->limits[i].lock, &ns->limits[i].window, &os->limits[k].lock,
                         &os->limits[k].window);
            atomic_store(&ns->cooldown_until_us[i], atomic_load(&os->cooldown_until_us[k]));
            cmx_strategy_carry_latency(ns->strategy, i, os->strategy, (size_t)k);
        }
    }
    for (size_t p = 0; p < to->cfg->n_providers; p++) {
        const cmx_provider_config *old =
            cmx_config_find_provider(from->cfg, to->cfg->providers[p].name);
        if (old)
            atomic_store(&to->provider_down[p],
                         atomic_load(cmx_router_shared_provider_down(from, old)));
    }
}
