/* metrics.c — the registry's layout and the hot path: recording a request
 * into the calling worker's shard.
 *
 * Recording is index arithmetic into a flat counter array: the group's
 * position in the config, the target's position in the group, a status code
 * looked up in a switch, a bucket found by a short scan.  Each bump is a
 * relaxed load and store on a counter only this worker writes (see
 * metrics.h for why that is enough), so a request costs tens of nanoseconds. */
#include "obs/metrics_internal.h"

#include <stdlib.h>
#include <string.h>

const int cmx_metrics_codes[CMX_METRICS_N_CODES] = {
    200, 400, 401, 403, 404, 405, 408, 413, 429, 431, 499, 500, 502, 503, 504, 0, 0, 0, 0, 0};
const char *const cmx_metrics_code_names[CMX_METRICS_N_CODES] = {
    "200", "400", "401", "403", "404", "405", "408", "413", "429", "431",
    "499", "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* 5 ms to 2 minutes: an embedding call to a long streamed completion. */
const uint64_t cmx_metrics_duration_bounds_us[CMX_METRICS_N_DURATION_BUCKETS] = {
    5000,    10000,   25000,    50000,    100000,   250000,   500000,   1000000,
    2500000, 5000000, 10000000, 20000000, 30000000, 60000000, 120000000};
/* 10 µs to 100 ms: what cloudmux itself adds to a request. */
const uint64_t cmx_metrics_overhead_bounds_us[CMX_METRICS_N_OVERHEAD_BUCKETS] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};

#define CACHE_LINE 64

static void layout_free(cmx_metrics_layout *l)
{
    free(l->slot_base);
}

static cmx_err layout_init(cmx_metrics_layout *l, const cmx_config *cfg, cmx_error *err)
{
    memset(l, 0, sizeof *l);
    l->cfg = cfg;
    l->n_groups = cfg->n_models;
    l->slot_base = calloc(cfg->n_models ? cfg->n_models : 1, sizeof *l->slot_base);
    if (!l->slot_base)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    size_t slot = 0;
    for (size_t g = 0; g < cfg->n_models; g++) {
        l->slot_base[g] = slot;
        slot += 1 + cfg->models[g].n_targets;
    }
    l->n_slots = slot + 1; /* the last: no group */
    size_t at = 0;
    l->in_flight = at++;
    l->requests = at;
    at += l->n_slots * CMX_METRICS_N_CODES * 2;
    l->attempts = at;
    at += l->n_slots * CMX_ERR__COUNT;
    l->tokens = at;
    at += l->n_slots * 2;
    l->duration = at;
    at += (l->n_groups + 1) * (CMX_METRICS_N_DURATION_BUCKETS + 1);
    l->duration_sum_us = at;
    at += l->n_groups + 1;
    l->overhead = at;
    at += CMX_METRICS_N_OVERHEAD_BUCKETS + 1;
    l->overhead_sum_us = at++;
    l->cache = at;
    at += l->n_groups * CMX_CACHE_RESULTS;
    l->api_requests = at;
    at += CMX_API__COUNT * CMX_METRICS_N_CODES;
    l->n_counters = at;
    return CMX_OK;
}

cmx_metrics *cmx_metrics_new(const cmx_config *cfg, size_t n_shards, cmx_error *err)
{
    cmx_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    if (layout_init(&m->layout, cfg, err) != CMX_OK) {
        free(m);
        return NULL;
    }
    m->n_shards = n_shards ? n_shards : 1;
    m->shards = calloc(m->n_shards, sizeof *m->shards);
    if (!m->shards) {
        cmx_metrics_free(m);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t bytes = m->layout.n_counters * sizeof(cmx_counter);
    bytes = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    for (size_t i = 0; i < m->n_shards; i++) {
        cmx_metrics_shard *s = &m->shards[i];
        s->layout = &m->layout;
        s->counters = aligned_alloc(CACHE_LINE, bytes);
        if (!s->counters) {
            cmx_metrics_free(m);
            cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
            return NULL;
        }
        for (size_t k = 0; k < m->layout.n_counters; k++)
            atomic_init(&s->counters[k], 0);
    }
    return m;
}

void cmx_metrics_free(cmx_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->shards && i < m->n_shards; i++)
        free(m->shards[i].counters);
    free(m->shards);
    layout_free(&m->layout);
    free(m);
}

cmx_metrics_shard *cmx_metrics_shard_at(cmx_metrics *m, size_t i)
{
    return &m->shards[i % m->n_shards];
}

/* Only the owning worker writes: no read-modify-write instruction needed. */
static inline void bump(cmx_counter *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static size_t code_index(int status)
{
    switch (status) {
    case 200: return 0;
    case 400: return 1;
    case 401: return 2;
    case 403: return 3;
    case 404: return 4;
    case 405: return 5;
    case 408: return 6;
    case 413: return 7;
    case 429: return 8;
    case 431: return 9;
    case 499: return 10;
    case 500: return 11;
    case 502: return 12;
    case 503: return 13;
    case 504: return 14;
    default: break;
    }
    int cls = status / 100;
    if (cls < 1)
        cls = 1;
    if (cls > 5)
        cls = 5;
    return 15 + (size_t)(cls - 1);
}

static size_t bucket_index(const uint64_t *bounds, size_t n, uint64_t value)
{
    size_t i = 0;
    while (i < n && value > bounds[i])
        i++;
    return i;
}

/* The slot of (group, target); group NULL is the "no group" slot. */
static size_t slot_of(const cmx_metrics_layout *l, const cmx_model_group *g, int target)
{
    if (!g)
        return l->n_slots - 1;
    size_t gi = (size_t)(g - l->cfg->models);
    if (target < 0 || (size_t)target >= g->n_targets)
        return l->slot_base[gi];
    return l->slot_base[gi] + 1 + (size_t)target;
}

void cmx_metrics_request_begin(cmx_metrics_shard *s)
{
    bump(&s->counters[s->layout->in_flight], 1);
}

void cmx_metrics_request_end(cmx_metrics_shard *s)
{
    bump(&s->counters[s->layout->in_flight], (uint64_t)-1);
}

void cmx_metrics_record_request(cmx_metrics_shard *s, const cmx_metrics_request *rq)
{
    const cmx_metrics_layout *l = s->layout;
    cmx_counter *c = s->counters;
    size_t slot = slot_of(l, rq->group, rq->target);
    bump(&c[l->requests + (slot * CMX_METRICS_N_CODES + code_index(rq->status)) * 2 +
            (rq->stream ? 1 : 0)],
         1);
    if ((unsigned)rq->api < CMX_API__COUNT)
        bump(&c[l->api_requests + (size_t)rq->api * CMX_METRICS_N_CODES + code_index(rq->status)],
             1);

    size_t gi = rq->group ? (size_t)(rq->group - l->cfg->models) : l->n_groups;
    size_t b = bucket_index(cmx_metrics_duration_bounds_us, CMX_METRICS_N_DURATION_BUCKETS,
                            rq->duration_us);
    bump(&c[l->duration + gi * (CMX_METRICS_N_DURATION_BUCKETS + 1) + b], 1);
    bump(&c[l->duration_sum_us + gi], rq->duration_us);

    uint64_t overhead = rq->duration_us > rq->upstream_us ? rq->duration_us - rq->upstream_us : 0;
    b = bucket_index(cmx_metrics_overhead_bounds_us, CMX_METRICS_N_OVERHEAD_BUCKETS, overhead);
    bump(&c[l->overhead + b], 1);
    bump(&c[l->overhead_sum_us], overhead);

    if (rq->prompt_tokens > 0)
        bump(&c[l->tokens + slot * 2], (uint64_t)rq->prompt_tokens);
    if (rq->completion_tokens > 0)
        bump(&c[l->tokens + slot * 2 + 1], (uint64_t)rq->completion_tokens);
}

void cmx_metrics_record_attempt(cmx_metrics_shard *s, const cmx_model_group *g, int target,
                                cmx_err outcome)
{
    const cmx_metrics_layout *l = s->layout;
    size_t slot = slot_of(l, g, target);
    size_t k = (size_t)outcome < CMX_ERR__COUNT ? (size_t)outcome : CMX_ERR_INTERNAL;
    bump(&s->counters[l->attempts + slot * CMX_ERR__COUNT + k], 1);
}

void cmx_metrics_record_cache(cmx_metrics_shard *s, const cmx_model_group *g, cmx_cache_result r)
{
    const cmx_metrics_layout *l = s->layout;
    if (!g || (size_t)r >= CMX_CACHE_RESULTS)
        return;
    bump(&s->counters[l->cache + (size_t)(g - l->cfg->models) * CMX_CACHE_RESULTS + (size_t)r], 1);
}

int cmx_metrics_target_index(const cmx_model_group *g, const char *provider, const char *model)
{
    if (!g || !provider)
        return -1;
    for (size_t i = 0; i < g->n_targets; i++) {
        const cmx_target_config *t = &g->targets[i];
        const char *tm = t->model ? t->model : g->name;
        if (t->provider->name == provider && (!model || tm == model))
            return (int)i;
    }
    for (size_t i = 0; i < g->n_targets; i++) {
        const cmx_target_config *t = &g->targets[i];
        const char *tm = t->model ? t->model : g->name;
        if (strcmp(t->provider->name, provider) == 0 && (!model || strcmp(tm, model) == 0))
            return (int)i;
    }
    return -1;
}

static void carry_add(cmx_metrics_shard *to, size_t to_i, const cmx_metrics_shard *from,
                      size_t from_i)
{
    uint64_t v = atomic_load_explicit(&from->counters[from_i], memory_order_relaxed);
    if (v)
        atomic_store_explicit(&to->counters[to_i],
                              atomic_load_explicit(&to->counters[to_i], memory_order_relaxed) + v,
                              memory_order_relaxed);
}

/* The new slot of old slot `s`, or SIZE_MAX when its series is gone. */
static size_t map_slot(const cmx_metrics_layout *to, const cmx_metrics_layout *from, size_t s,
                       long *group_out)
{
    *group_out = -1;
    if (s == from->n_slots - 1)
        return to->n_slots - 1;
    size_t g = 0;
    while (g + 1 < from->n_groups && from->slot_base[g + 1] <= s)
        g++;
    const cmx_model_group *og = &from->cfg->models[g];
    const cmx_model_group *ng = cmx_config_find_model(to->cfg, og->name, strlen(og->name));
    if (!ng)
        return SIZE_MAX;
    size_t ngi = (size_t)(ng - to->cfg->models);
    *group_out = (long)ngi;
    size_t t = s - from->slot_base[g];
    if (t == 0)
        return to->slot_base[ngi];
    const cmx_target_config *ot = &og->targets[t - 1];
    int nt = cmx_metrics_target_index(ng, ot->provider->name, ot->model ? ot->model : og->name);
    return nt < 0 ? SIZE_MAX : to->slot_base[ngi] + 1 + (size_t)nt;
}

void cmx_metrics_shard_carry(cmx_metrics_shard *to, const cmx_metrics_shard *from)
{
    const cmx_metrics_layout *tl = to->layout, *fl = from->layout;
    carry_add(to, tl->in_flight, from, fl->in_flight);
    for (size_t s = 0; s < fl->n_slots; s++) {
        long g;
        size_t ns = map_slot(tl, fl, s, &g);
        if (ns == SIZE_MAX)
            continue;
        for (size_t k = 0; k < CMX_METRICS_N_CODES * 2; k++)
            carry_add(to, tl->requests + ns * CMX_METRICS_N_CODES * 2 + k, from,
                      fl->requests + s * CMX_METRICS_N_CODES * 2 + k);
        for (size_t k = 0; k < CMX_ERR__COUNT; k++)
            carry_add(to, tl->attempts + ns * CMX_ERR__COUNT + k, from,
                      fl->attempts + s * CMX_ERR__COUNT + k);
        for (size_t k = 0; k < 2; k++)
            carry_add(to, tl->tokens + ns * 2 + k, from, fl->tokens + s * 2 + k);
    }
    const size_t stride = CMX_METRICS_N_DURATION_BUCKETS + 1;
    for (size_t g = 0; g <= fl->n_groups; g++) {
        size_t ng = tl->n_groups;
        if (g < fl->n_groups) {
            const cmx_model_group *og = &fl->cfg->models[g];
            const cmx_model_group *m = cmx_config_find_model(tl->cfg, og->name, strlen(og->name));
            if (!m)
                continue;
            ng = (size_t)(m - tl->cfg->models);
        }
        for (size_t b = 0; b < stride; b++)
            carry_add(to, tl->duration + ng * stride + b, from, fl->duration + g * stride + b);
        carry_add(to, tl->duration_sum_us + ng, from, fl->duration_sum_us + g);
        for (size_t r = 0; g < fl->n_groups && r < CMX_CACHE_RESULTS; r++)
            carry_add(to, tl->cache + ng * CMX_CACHE_RESULTS + r, from,
                      fl->cache + g * CMX_CACHE_RESULTS + r);
    }
    for (size_t b = 0; b <= CMX_METRICS_N_OVERHEAD_BUCKETS; b++)
        carry_add(to, tl->overhead + b, from, fl->overhead + b);
    carry_add(to, tl->overhead_sum_us, from, fl->overhead_sum_us);
    for (size_t k = 0; k < CMX_API__COUNT * CMX_METRICS_N_CODES; k++)
        carry_add(to, tl->api_requests + k, from, fl->api_requests + k);
}
