/* clock.c — monotonic and wall clocks; see clock.h. */
#include "clock.h"

#include <time.h>

uint64_t cmx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cmx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t monotonic_now(void *ctx)
{
    (void)ctx;
    return cmx_now_us();
}

const cmx_clock cmx_clock_monotonic = {monotonic_now, NULL};
