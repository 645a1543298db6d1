/* strategy_internal.h — what the strategy files share and nobody else sees. */
#ifndef CMX_ROUTER_STRATEGY_INTERNAL_H
#define CMX_ROUTER_STRATEGY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "router/strategy.h"

/* Per-deployment counters touched by every worker, one cache line each so
 * workers updating neighbours do not bounce the same line between cores. */
typedef struct cmx_deployment_slot {
    _Alignas(64) atomic_uint in_flight;
    /* EWMA latency in µs as the bits of a double; 0 means "no sample yet"
     * (samples are at least 1 µs, so 0 is free for that). */
    atomic_uint_fast64_t ewma_bits;
} cmx_deployment_slot;

struct cmx_strategy {
    cmx_deployment_slot slots[CMX_STRATEGY_MAX_DEPLOYMENTS];
    cmx_strategy_config cfg; /* cfg.weights points at weight[] */
    uint32_t weight[CMX_STRATEGY_MAX_DEPLOYMENTS];
    _Alignas(64) atomic_uint_fast64_t rr_cursor;
    _Alignas(64) pthread_mutex_t swrr_lock;
    int64_t current_weight[CMX_STRATEGY_MAX_DEPLOYMENTS]; /* under swrr_lock */
};

/* A sort key: by key, then tie, ascending.  Lists are at most 64 long and
 * usually 2-5, so insertion sort is the fastest choice. */
typedef struct cmx_rank {
    double key;
    uint64_t tie;
    size_t index;
} cmx_rank;

void cmx_rank_sort(cmx_rank *r, size_t n);

size_t cmx_pick_weighted(cmx_strategy *s, const size_t *cand, size_t m, size_t *order);
size_t cmx_pick_random(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand, size_t m,
                       size_t *order);
size_t cmx_pick_least_busy(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand,
                           size_t m, size_t *order);
size_t cmx_pick_least_latency(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand,
                              size_t m, size_t *order);
void cmx_latency_record(cmx_strategy *s, size_t i, uint64_t latency_us, bool ok);
double cmx_latency_estimate(const cmx_strategy *s, size_t i);

#endif
