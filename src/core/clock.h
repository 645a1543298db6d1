/* clock.h — monotonic and wall time.  The router and breakers take the time
 * from a cmx_clock so unit tests can drive it by hand. */
#ifndef CMX_CORE_CLOCK_H
#define CMX_CORE_CLOCK_H

#include <stdint.h>

/* Monotonic microseconds since an arbitrary origin. */
uint64_t cmx_now_us(void);
/* Milliseconds since the Unix epoch. */
uint64_t cmx_wall_ms(void);

typedef struct cmx_clock {
    uint64_t (*now_us)(void *ctx);
    void *ctx;
} cmx_clock;

/* The real monotonic clock. */
extern const cmx_clock cmx_clock_monotonic;

static inline uint64_t cmx_clock_now_us(const cmx_clock *c)
{
    return c->now_us(c->ctx);
}

#endif
