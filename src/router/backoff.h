/* backoff.h — how long to wait before a retry, and how much time is left.
 *
 * Delay: exponential backoff with "full jitter" (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): the n-th retry (n = 0 for the first)
 * sleeps a uniform random time in [0, min(cap, base·2^n)].  The randomness
 * spreads the retries of many clients that failed together, so they do not
 * hit the recovering upstream in synchronised waves; the growth backs off a
 * struggling one.
 *
 * Server hint: when the upstream said when to come back (Retry-After,
 * retry-after-ms, x-ratelimit-reset-*, parsed by the provider into
 * milliseconds), the delay is at least the hint — retrying earlier would only
 * be refused again — but never more than max_hint_ms.  A caller that would
 * rather fail over than wait that long compares the hint with max_hint_ms.
 *
 * Deadline: one overall budget of time per client call, across attempts and
 * the sleeps between them.  Each attempt's timeout is the smaller of its own
 * and what is left; a retry whose sleep would eat the rest is not worth it.
 *
 * Pure functions; randomness from a cmx_rng (see rng.h). */
#ifndef CMX_ROUTER_BACKOFF_H
#define CMX_ROUTER_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "router/rng.h"

typedef struct cmx_backoff_config {
    uint32_t base_ms;     /* ceiling of the first retry's delay */
    uint32_t cap_ms;      /* ceiling never grows past this */
    uint32_t max_hint_ms; /* a server hint is honoured up to this */
} cmx_backoff_config;

/* Defaults: base 100 ms, cap 5 s, hints honoured up to 30 s. */
cmx_backoff_config cmx_backoff_config_default(void);

/* The ceiling of retry n's jitter: min(cap, base·2^n), without overflow. */
uint32_t cmx_backoff_ceiling_ms(const cmx_backoff_config *c, unsigned retry);
/* The delay before retry n (0-based), given the server's hint (0: none). */
uint32_t cmx_backoff_delay_ms(const cmx_backoff_config *c, unsigned retry, uint32_t hint_ms,
                              const cmx_rng *rng);

/* An overall deadline; end_us == 0 means none. */
typedef struct cmx_deadline {
    uint64_t end_us;
} cmx_deadline;

/* A deadline total_ms after now_us (total_ms 0: no deadline). */
cmx_deadline cmx_deadline_after(uint64_t now_us, uint32_t total_ms);
/* Microseconds left; 0 once expired; UINT64_MAX without a deadline. */
uint64_t cmx_deadline_remaining_us(const cmx_deadline *d, uint64_t now_us);
bool cmx_deadline_expired(const cmx_deadline *d, uint64_t now_us);
/* The timeout for an attempt starting now: min(attempt_ms, what is left),
 * rounded up to whole milliseconds; 0 when expired (do not start it).
 * attempt_ms 0 means "no per-attempt limit": only the deadline bounds it,
 * and without one either the result is 0 too — check expired() first. */
uint32_t cmx_deadline_attempt_ms(const cmx_deadline *d, uint64_t now_us, uint32_t attempt_ms);
/* Would sleeping delay_ms still leave at least min_attempt_ms for the retry? */
bool cmx_deadline_allows_delay(const cmx_deadline *d, uint64_t now_us, uint32_t delay_ms,
                               uint32_t min_attempt_ms);

#endif
