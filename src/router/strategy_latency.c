/* strategy_latency.c — strategies driven by what the deployments are doing
 * now: least-busy (attempts in flight) and least-latency (EWMA of observed
 * latency), and the recording of both.
 *
 * Least-busy is nginx's least_conn: the deployment with the fewest attempts
 * in flight gets the next one, which adapts to a slow deployment by itself
 * (its attempts pile up).  Ties, common at low load, are broken at random so
 * that idle deployments share the trickle evenly instead of the first one in
 * config order taking all of it.
 *
 * Least-latency keeps an exponentially weighted moving average per
 * deployment, new = old + alpha·(sample − old): recent samples dominate, one
 * outlier does not.  Only the chosen deployment gets new samples, so a
 * deployment that was slow and recovered would never be measured again; with
 * a small probability the first choice is a random other eligible deployment
 * (exploration, as in an epsilon-greedy bandit), and its fresh fast samples
 * pull its average back down.
 *
 * The EWMA is a double kept as bits in an atomic 64-bit word and updated with
 * a compare-and-swap loop: no lock, and two workers recording at once both
 * land (one retries). */
#include "strategy_internal.h"

#include <string.h>

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

double cmx_latency_estimate(const cmx_strategy *s, size_t i)
{
    uint64_t bits = atomic_load_explicit(&s->slots[i].ewma_bits, memory_order_relaxed);
    return bits ? bits_to_double(bits) : (double)s->cfg.initial_latency_ms * 1000.0;
}

void cmx_latency_record(cmx_strategy *s, size_t i, uint64_t latency_us, bool ok)
{
    atomic_uint_fast64_t *slot = &s->slots[i].ewma_bits;
    double sample = latency_us ? (double)latency_us : 1.0;
    uint64_t old_bits = atomic_load_explicit(slot, memory_order_relaxed), new_bits;
    do {
        double next = sample;
        if (old_bits) {
            double old = bits_to_double(old_bits);
            if (!ok && next < 2 * old)
                next = 2 * old; /* a fast failure must not look like a fast answer */
            next = old + s->cfg.ewma_alpha * (next - old);
        }
        new_bits = double_to_bits(next);
    } while (!atomic_compare_exchange_weak_explicit(slot, &old_bits, new_bits, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static size_t emit(const cmx_rank *r, size_t m, size_t *order)
{
    for (size_t k = 0; k < m; k++)
        order[k] = r[k].index;
    return m;
}

size_t cmx_pick_least_busy(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand,
                           size_t m, size_t *order)
{
    cmx_rank r[CMX_STRATEGY_MAX_DEPLOYMENTS];
    for (size_t k = 0; k < m; k++) {
        unsigned busy = atomic_load_explicit(&s->slots[cand[k]].in_flight, memory_order_relaxed);
        r[k] = (cmx_rank){(double)busy, m > 1 ? cmx_rng_u64(req->rng) : 0, cand[k]};
    }
    cmx_rank_sort(r, m);
    return emit(r, m, order);
}

size_t cmx_pick_least_latency(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand,
                              size_t m, size_t *order)
{
    cmx_rank r[CMX_STRATEGY_MAX_DEPLOYMENTS];
    for (size_t k = 0; k < m; k++)
        r[k] = (cmx_rank){cmx_latency_estimate(s, cand[k]), m > 1 ? cmx_rng_u64(req->rng) : 0,
                          cand[k]};
    cmx_rank_sort(r, m);
    if (m > 1 && s->cfg.explore_probability > 0 &&
        cmx_rng_unit(req->rng) < s->cfg.explore_probability) {
        /* Promote one of the others to first; the rest keep their order. */
        size_t j = 1 + (size_t)cmx_rng_below(req->rng, m - 1);
        cmx_rank chosen = r[j];
        memmove(&r[1], &r[0], j * sizeof *r);
        r[0] = chosen;
    }
    return emit(r, m, order);
}
