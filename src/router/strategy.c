/* strategy.c — choosing the order of a model group's deployments.
 *
 * What each strategy does, and the threading rules, are in strategy.h.  This
 * file holds the lifecycle, the dispatch, and the strategies with no state of
 * their own (priority, round-robin, cheapest); the weighted and random ones
 * are in strategy_weighted.c, least-busy and least-latency in
 * strategy_latency.c.  Every pick starts the same way: the eligible
 * deployments, in config order, become the candidate list. */
#include "strategy_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[CMX_STRATEGY__COUNT] = {
    [CMX_STRATEGY_PRIORITY] = "priority",     [CMX_STRATEGY_ROUND_ROBIN] = "round_robin",
    [CMX_STRATEGY_WEIGHTED] = "weighted",     [CMX_STRATEGY_RANDOM] = "random",
    [CMX_STRATEGY_LEAST_BUSY] = "least_busy", [CMX_STRATEGY_LEAST_LATENCY] = "least_latency",
    [CMX_STRATEGY_CHEAPEST] = "cheapest",
};

const char *cmx_strategy_kind_name(cmx_strategy_kind kind)
{
    return kind < CMX_STRATEGY__COUNT ? kind_names[kind] : "unknown";
}

bool cmx_strategy_kind_from_name(const char *name, cmx_strategy_kind *out)
{
    for (int k = 0; k < CMX_STRATEGY__COUNT; k++) {
        const char *a = kind_names[k], *b = name;
        while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
            a++;
            b++;
        }
        if (!*a && !*b) {
            *out = (cmx_strategy_kind)k;
            return true;
        }
    }
    return false;
}

cmx_strategy_config cmx_strategy_config_default(cmx_strategy_kind kind, size_t n_deployments)
{
    return (cmx_strategy_config){
        .kind = kind,
        .n_deployments = n_deployments,
        .ewma_alpha = 0.3,
        .explore_probability = 0.05,
    };
}

static cmx_strategy *config_error(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_CONFIG, "strategy: %s", what);
    return NULL;
}

cmx_strategy *cmx_strategy_new(const cmx_strategy_config *cfg, cmx_error *err)
{
    if (cfg->kind >= CMX_STRATEGY__COUNT)
        return config_error(err, "unknown kind");
    if (cfg->n_deployments == 0 || cfg->n_deployments > CMX_STRATEGY_MAX_DEPLOYMENTS)
        return config_error(err, "a model group needs 1 to 64 deployments");
    if (cfg->kind == CMX_STRATEGY_LEAST_LATENCY && !(cfg->ewma_alpha > 0 && cfg->ewma_alpha <= 1))
        return config_error(err, "ewma_alpha must be in (0, 1]");
    if (cfg->kind == CMX_STRATEGY_LEAST_LATENCY &&
        !(cfg->explore_probability >= 0 && cfg->explore_probability < 1))
        return config_error(err, "explore_probability must be in [0, 1)");
    for (size_t i = 0; cfg->weights && i < cfg->n_deployments; i++)
        if (cfg->weights[i] == 0)
            return config_error(err, "weights must be at least 1");

    cmx_strategy *s = aligned_alloc(_Alignof(cmx_strategy), sizeof *s);
    if (!s) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memset(s, 0, sizeof *s);
    if (pthread_mutex_init(&s->swrr_lock, NULL) != 0) {
        free(s);
        cmx_error_set(err, CMX_ERR_INTERNAL, "strategy: cannot create its mutex");
        return NULL;
    }
    s->cfg = *cfg;
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        s->weight[i] = cfg->weights ? cfg->weights[i] : 1;
        atomic_init(&s->slots[i].in_flight, 0);
        atomic_init(&s->slots[i].ewma_bits, 0);
    }
    s->cfg.weights = s->weight;
    atomic_init(&s->rr_cursor, 0);
    return s;
}

void cmx_strategy_free(cmx_strategy *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->swrr_lock);
    free(s);
}

size_t cmx_strategy_size(const cmx_strategy *s)
{
    return s->cfg.n_deployments;
}

void cmx_rank_sort(cmx_rank *r, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        cmx_rank x = r[i];
        size_t j = i;
        while (j > 0 && (r[j - 1].key > x.key || (r[j - 1].key == x.key && r[j - 1].tie > x.tie))) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

static size_t pick_round_robin(cmx_strategy *s, const size_t *cand, size_t m, size_t *order)
{
    /* Counting among the eligible ones (not all n) keeps the split even when
     * one is out: its share is spread over all the others, not handed to the
     * next one in the ring. */
    uint64_t start =
        atomic_fetch_add_explicit(&s->rr_cursor, 1, memory_order_relaxed) % (uint64_t)m;
    for (size_t k = 0; k < m; k++)
        order[k] = cand[(start + k) % m];
    return m;
}

static size_t pick_cheapest(const cmx_pick_request *req, const size_t *cand, size_t m,
                            size_t *order)
{
    cmx_rank r[CMX_STRATEGY_MAX_DEPLOYMENTS];
    for (size_t k = 0; k < m; k++) {
        double c = req->costs ? req->costs[cand[k]] : 0;
        r[k] = (cmx_rank){isnan(c) ? INFINITY : c, cand[k], cand[k]};
    }
    cmx_rank_sort(r, m);
    for (size_t k = 0; k < m; k++)
        order[k] = r[k].index;
    return m;
}

size_t cmx_strategy_pick(cmx_strategy *s, const cmx_pick_request *req, size_t *order)
{
    size_t n = s->cfg.n_deployments, cand[CMX_STRATEGY_MAX_DEPLOYMENTS], m = 0;
    uint64_t mask = req->eligible;
    if (n < 64)
        mask &= (UINT64_C(1) << n) - 1;
    while (mask) {
        cand[m++] = (size_t)__builtin_ctzll(mask);
        mask &= mask - 1;
    }
    if (m == 0)
        return 0;
    switch (s->cfg.kind) {
    case CMX_STRATEGY_ROUND_ROBIN: return pick_round_robin(s, cand, m, order);
    case CMX_STRATEGY_WEIGHTED: return cmx_pick_weighted(s, cand, m, order);
    case CMX_STRATEGY_RANDOM: return cmx_pick_random(s, req, cand, m, order);
    case CMX_STRATEGY_LEAST_BUSY: return cmx_pick_least_busy(s, req, cand, m, order);
    case CMX_STRATEGY_LEAST_LATENCY: return cmx_pick_least_latency(s, req, cand, m, order);
    case CMX_STRATEGY_CHEAPEST: return pick_cheapest(req, cand, m, order);
    case CMX_STRATEGY_PRIORITY:
    default: memcpy(order, cand, m * sizeof *order); return m;
    }
}

void cmx_strategy_begin(cmx_strategy *s, size_t i)
{
    atomic_fetch_add_explicit(&s->slots[i].in_flight, 1, memory_order_relaxed);
}

void cmx_strategy_end(cmx_strategy *s, size_t i, uint64_t latency_us, bool ok)
{
    atomic_fetch_sub_explicit(&s->slots[i].in_flight, 1, memory_order_relaxed);
    cmx_latency_record(s, i, latency_us, ok);
}

uint32_t cmx_strategy_in_flight(const cmx_strategy *s, size_t i)
{
    return atomic_load_explicit(&s->slots[i].in_flight, memory_order_relaxed);
}

uint64_t cmx_strategy_latency_us(const cmx_strategy *s, size_t i)
{
    return (uint64_t)llround(cmx_latency_estimate(s, i));
}

void cmx_strategy_carry_latency(cmx_strategy *s, size_t i, const cmx_strategy *from, size_t j)
{
    atomic_store(&s->slots[i].ewma_bits, atomic_load(&from->slots[j].ewma_bits));
}
