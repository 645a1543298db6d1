/* rng.h — injectable randomness for the router's decisions.
 *
 * Jitter, random and weighted-random picks, tie breaks and exploration all
 * draw from a cmx_rng: a function pointer and its context, like cmx_clock.
 * Production gives each worker thread its own generator (no shared state, no
 * lock on the hot path); tests pass a seeded one, or a scripted one, so every
 * decision is reproducible.
 *
 * cmx_splitmix is the default generator: SplitMix64, 8 bytes of state, one
 * multiply-xorshift chain per draw.  Not for secrets, only for spreading load. */
#ifndef CMX_ROUTER_RNG_H
#define CMX_ROUTER_RNG_H

#include <stdint.h>

typedef struct cmx_rng {
    uint64_t (*next_u64)(void *ctx); /* uniform over all 64-bit values */
    void *ctx;
} cmx_rng;

typedef struct cmx_splitmix {
    uint64_t state;
} cmx_splitmix;

void cmx_splitmix_seed(cmx_splitmix *s, uint64_t seed);
/* A cmx_rng drawing from s; s must outlive it and belongs to one thread. */
cmx_rng cmx_rng_splitmix(cmx_splitmix *s);

static inline uint64_t cmx_rng_u64(const cmx_rng *r)
{
    return r->next_u64(r->ctx);
}

/* Uniform in [0, n); 0 when n is 0.  Unbiased (Lemire's multiply-and-reject):
 * draws whose product with n lands in a slice smaller than n are redrawn, so
 * a scripted generator that keeps returning such a value (0, say) loops. */
uint64_t cmx_rng_below(const cmx_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 bits of precision. */
double cmx_rng_unit(const cmx_rng *r);

#endif
