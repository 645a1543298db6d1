/* admission.c — the breaker and the rate limiter asked together; see
 * admission.h for why they are asked twice. */
#include "admission.h"

uint64_t cmx_eligible_mask(cmx_breaker *breakers, cmx_ratelimit *limits, size_t n, uint64_t now_us,
                           uint64_t tokens)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (breakers && !cmx_breaker_would_allow(&breakers[i], now_us))
            continue;
        if (limits && !cmx_ratelimit_has_room(&limits[i], now_us, tokens))
            continue;
        mask |= UINT64_C(1) << i;
    }
    return mask;
}

bool cmx_deployment_admit(cmx_breaker *breakers, cmx_ratelimit *limits, size_t i, uint64_t now_us,
                          uint64_t tokens)
{
    if (breakers && !cmx_breaker_allow(&breakers[i], now_us))
        return false;
    if (limits && !cmx_ratelimit_try_acquire(&limits[i], now_us, tokens)) {
        if (breakers)
            cmx_breaker_cancel(&breakers[i]); /* give back the probe slot, if one was taken */
        return false;
    }
    return true;
}
