/* backoff.c — full-jitter backoff, server hints and the overall deadline;
 * see backoff.h for the reasoning. */
#include "backoff.h"

cmx_backoff_config cmx_backoff_config_default(void)
{
    return (cmx_backoff_config){.base_ms = 100, .cap_ms = 5000, .max_hint_ms = 30000};
}

uint32_t cmx_backoff_ceiling_ms(const cmx_backoff_config *c, unsigned retry)
{
    uint64_t ceiling = c->base_ms;
    /* Doubling stops as soon as the cap is reached, so 2^n never overflows. */
    for (unsigned i = 0; i < retry && ceiling < c->cap_ms; i++)
        ceiling *= 2;
    return ceiling < c->cap_ms ? (uint32_t)ceiling : c->cap_ms;
}

uint32_t cmx_backoff_delay_ms(const cmx_backoff_config *c, unsigned retry, uint32_t hint_ms,
                              const cmx_rng *rng)
{
    uint32_t ceiling = cmx_backoff_ceiling_ms(c, retry);
    uint32_t delay = (uint32_t)cmx_rng_below(rng, (uint64_t)ceiling + 1);
    if (hint_ms) {
        uint32_t honoured = hint_ms < c->max_hint_ms ? hint_ms : c->max_hint_ms;
        if (delay < honoured)
            delay = honoured;
    }
    return delay;
}

cmx_deadline cmx_deadline_after(uint64_t now_us, uint32_t total_ms)
{
    return (cmx_deadline){.end_us = total_ms ? now_us + (uint64_t)total_ms * 1000 : 0};
}

uint64_t cmx_deadline_remaining_us(const cmx_deadline *d, uint64_t now_us)
{
    if (!d->end_us)
        return UINT64_MAX;
    return now_us < d->end_us ? d->end_us - now_us : 0;
}

bool cmx_deadline_expired(const cmx_deadline *d, uint64_t now_us)
{
    return cmx_deadline_remaining_us(d, now_us) == 0;
}

uint32_t cmx_deadline_attempt_ms(const cmx_deadline *d, uint64_t now_us, uint32_t attempt_ms)
{
    uint64_t left_us = cmx_deadline_remaining_us(d, now_us);
    if (left_us == UINT64_MAX)
        return attempt_ms;
    if (left_us == 0)
        return 0;
    uint64_t left_ms = (left_us + 999) / 1000;
    if (attempt_ms && attempt_ms < left_ms)
        return attempt_ms;
    return left_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)left_ms;
}

bool cmx_deadline_allows_delay(const cmx_deadline *d, uint64_t now_us, uint32_t delay_ms,
                               uint32_t min_attempt_ms)
{
    uint64_t left_us = cmx_deadline_remaining_us(d, now_us);
    uint64_t delay_us = (uint64_t)delay_ms * 1000;
    if (left_us == UINT64_MAX)
        return true;
    /* Some time must be left after the sleep, and at least min_attempt_ms. */
    return left_us > delay_us && left_us - delay_us >= (uint64_t)min_attempt_ms * 1000;
}
