/* rng.c — SplitMix64 and the two derived draws the router needs; see rng.h. */
#include "rng.h"

static uint64_t splitmix_next(void *ctx)
{
    cmx_splitmix *s = ctx;
    uint64_t z = (s->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void cmx_splitmix_seed(cmx_splitmix *s, uint64_t seed)
{
    s->state = seed;
}

cmx_rng cmx_rng_splitmix(cmx_splitmix *s)
{
    return (cmx_rng){splitmix_next, s};
}

/* A 64x64→128 multiply maps a draw onto [0, n); draws landing in the short
 * leftover slice are rejected so every value keeps the same odds.  A modulo
 * would favour small values whenever n does not divide 2^64. */
uint64_t cmx_rng_below(const cmx_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    unsigned __int128 m = (unsigned __int128)cmx_rng_u64(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)cmx_rng_u64(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double cmx_rng_unit(const cmx_rng *r)
{
    return (double)(cmx_rng_u64(r) >> 11) * 0x1.0p-53;
}
