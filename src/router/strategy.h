/* strategy.h — in which order to try a model group's deployments.
 *
 * A model group has N deployments (the same model on several providers,
 * regions or keys).  For each request a strategy turns "who may take it" (an
 * eligible bitmask: breaker not open, under its rpm/tpm — see admission.h)
 * into an ordered list: the first choice, then the fallbacks.  The attempt
 * loop walks that list.  Ineligible deployments are left out entirely; when
 * nothing is eligible the list is empty and the caller decides (fail fast,
 * or "panic mode": pick again with every bit set, as Envoy does when too many
 * hosts are ejected).
 *
 *   priority       config order: active-passive.  Fallbacks: config order.
 *   round_robin    each request starts one further along the eligible ones.
 *                  Fallbacks: the rest in rotation order (wrapping).
 *   weighted       nginx's smooth weighted round-robin: every eligible
 *                  deployment's current weight grows by its weight, the
 *                  largest is chosen and loses the total.  5:1:1 gives
 *                  a a b a c a a, not a a a a a b c.  Fallbacks: by current
 *                  weight after the pick, i.e. whoever the rotation owes most.
 *   random         weighted random (uniform when no weights are given).
 *                  Fallbacks: further weighted draws without replacement.
 *   least_busy     fewest attempts in flight; ties broken at random.
 *                  Fallbacks: by in-flight count, ties random.
 *   least_latency  lowest EWMA of observed latency; deployments without a
 *                  sample start at initial_latency_ms (0: optimistic, so they
 *                  get measured first).  With explore_probability the first
 *                  choice is instead a random other eligible deployment, so a
 *                  slow one that recovered is sampled again and earns its
 *                  traffic back.  Fallbacks: by latency.
 *   cheapest       lowest cost for this request (costs[] from the caller,
 *                  e.g. expected tokens × price).  Ties and fallbacks: by cost,
 *                  then config order.
 *
 * Shared state and threads: one cmx_strategy per model group, shared by all
 * workers.  The round-robin cursor, in-flight counts and latency EWMAs are C11
 * atomics (each deployment's on its own cache line); smooth weighted
 * round-robin updates all current weights together and takes a small mutex.
 * Randomness comes from the caller's cmx_rng (one per worker), never from
 * shared state.  A pick for 3 deployments costs tens of nanoseconds. */
#ifndef CMX_ROUTER_STRATEGY_H
#define CMX_ROUTER_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "router/rng.h"

#define CMX_STRATEGY_MAX_DEPLOYMENTS 64 /* the eligible set is a uint64_t */

typedef enum cmx_strategy_kind {
    CMX_STRATEGY_PRIORITY = 0,
    CMX_STRATEGY_ROUND_ROBIN,
    CMX_STRATEGY_WEIGHTED,
    CMX_STRATEGY_RANDOM,
    CMX_STRATEGY_LEAST_BUSY,
    CMX_STRATEGY_LEAST_LATENCY,
    CMX_STRATEGY_CHEAPEST,
    CMX_STRATEGY__COUNT
} cmx_strategy_kind;

typedef struct cmx_strategy_config {
    cmx_strategy_kind kind;
    size_t n_deployments;        /* 1..CMX_STRATEGY_MAX_DEPLOYMENTS */
    const uint32_t *weights;     /* weighted, random: n weights ≥ 1 (copied); NULL: all 1 */
    double ewma_alpha;           /* least_latency: weight of a new sample, (0, 1] */
    double explore_probability;  /* least_latency: [0, 1) */
    uint32_t initial_latency_ms; /* least_latency: estimate before the first sample */
} cmx_strategy_config;

typedef struct cmx_strategy cmx_strategy;

/* Defaults: alpha 0.3, exploration 5%, initial latency 0 (optimistic). */
cmx_strategy_config cmx_strategy_config_default(cmx_strategy_kind kind, size_t n_deployments);

/* NULL with err (CMX_ERR_CONFIG / CMX_ERR_NOMEM) on failure. */
cmx_strategy *cmx_strategy_new(const cmx_strategy_config *cfg, cmx_error *err);
void cmx_strategy_free(cmx_strategy *s);
size_t cmx_strategy_size(const cmx_strategy *s); /* number of deployments */

typedef struct cmx_pick_request {
    uint64_t eligible;   /* bit i set: deployment i may be chosen */
    const double *costs; /* cheapest: this request's cost on each deployment */
    const cmx_rng *rng;  /* the calling worker's generator */
} cmx_pick_request;

/* Writes the eligible deployments' indices to order[] (room for
 * n_deployments), best first, and returns how many. */
size_t cmx_strategy_pick(cmx_strategy *s, const cmx_pick_request *req, size_t *order);

/* An attempt on deployment i started / ended.  Every begin needs its end.
 * latency_us is what the strategy should minimise: total time for a plain
 * answer, time to the first byte for a stream.  A failure's sample is raised
 * to at least twice the current estimate, so a deployment that fails fast
 * does not look fast. */
void cmx_strategy_begin(cmx_strategy *s, size_t i);
void cmx_strategy_end(cmx_strategy *s, size_t i, uint64_t latency_us, bool ok);

/* For status output and tests. */
uint32_t cmx_strategy_in_flight(const cmx_strategy *s, size_t i);
/* The latency estimate in µs (EWMA, or the initial one before any sample). */
uint64_t cmx_strategy_latency_us(const cmx_strategy *s, size_t i);
/* A reload: deployment i of s starts from what deployment j of from knew
 * about latency (its in-flight count stays with from). */
void cmx_strategy_carry_latency(cmx_strategy *s, size_t i, const cmx_strategy *from, size_t j);

/* "priority", "round_robin", "weighted", "random", "least_busy",
 * "least_latency", "cheapest"; from_name also accepts '-' for '_'. */
const char *cmx_strategy_kind_name(cmx_strategy_kind kind);
bool cmx_strategy_kind_from_name(const char *name, cmx_strategy_kind *out);

#endif
