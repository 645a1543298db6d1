/* loop_turns.c — how long an event loop holds on to each turn, for
 * benchmarks: an LD_PRELOAD library that wraps epoll_wait.
 *
 *   LD_PRELOAD=./loop_turns.so LOOP_TURNS_OUT=FILE program ...
 *
 * A turn is the time between epoll_wait returning and the next call of it
 * in the same thread: the callbacks for what became ready.  A chunk that
 * arrives during a turn waits for the rest of it (and its own), so the
 * longest turns bound what the loop itself adds.  Each turn is measured on
 * the wall clock and on the thread's CPU clock; the CPU figure leaves out
 * the time the thread was runnable but another process had its core, so it
 * is what the program itself spent.  Turns that follow an epoll_wait which
 * returned nothing (timers only) count too.
 *
 * At exit (or never, if the program is killed by a signal it does not
 * handle) it appends one line to FILE:
 *   turns=N cpu_p50_us=.. cpu_p99_us=.. cpu_p999_us=.. cpu_max_us=..
 *   wall_p99_us=.. wall_max_us=.. cpu_over_5ms=.. long=AT:CPU,AT:CPU,...
 * Percentiles come from 10 µs buckets up to 100 ms.  "long" lists the
 * first LONG_MAX turns over 5 ms of CPU: when each began (CLOCK_REALTIME
 * µs) and its CPU µs, so a script can keep those within a window (the
 * program's start and end have long turns of their own). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#define BUCKET_US 10
#define N_BUCKETS 10000 /* 100 ms */
#define LONG_US 5000
#define LONG_MAX 256

typedef struct histogram {
    _Atomic uint32_t bucket[N_BUCKETS + 1]; /* the last one: beyond 100 ms */
    _Atomic uint64_t max_us;
} histogram;

static histogram cpu_turns, wall_turns;
static _Atomic uint64_t n_turns, cpu_over_5ms;
static uint64_t long_at[LONG_MAX], long_cpu[LONG_MAX];
static __thread uint64_t wall_at_return, cpu_at_return, real_at_return;

static uint64_t clock_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void note(histogram *h, uint64_t us)
{
    uint64_t b = us / BUCKET_US;
    atomic_fetch_add_explicit(&h->bucket[b < N_BUCKETS ? b : N_BUCKETS], 1, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&h->max_us, memory_order_relaxed);
    while (us > max && !atomic_compare_exchange_weak(&h->max_us, &max, us))
        ;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    static int (*real)(int, struct epoll_event *, int, int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "epoll_wait");
    if (wall_at_return) {
        uint64_t cpu = clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu_at_return;
        note(&cpu_turns, cpu);
        note(&wall_turns, clock_us(CLOCK_MONOTONIC) - wall_at_return);
        atomic_fetch_add_explicit(&n_turns, 1, memory_order_relaxed);
        if (cpu > LONG_US) {
            uint64_t i = atomic_fetch_add_explicit(&cpu_over_5ms, 1, memory_order_relaxed);
            if (i < LONG_MAX) {
                long_at[i] = real_at_return;
                long_cpu[i] = cpu;
            }
        }
    }
    int n = real(epfd, events, maxevents, timeout);
    wall_at_return = clock_us(CLOCK_MONOTONIC);
    cpu_at_return = clock_us(CLOCK_THREAD_CPUTIME_ID);
    real_at_return = clock_us(CLOCK_REALTIME);
    return n;
}

static uint64_t percentile_us(histogram *h, uint64_t total, double p)
{
    uint64_t want = (uint64_t)(p * (double)total), seen = 0;
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        seen += atomic_load(&h->bucket[b]);
        if (seen > want)
            return b < N_BUCKETS ? (b + 1) * BUCKET_US : atomic_load(&h->max_us);
    }
    return atomic_load(&h->max_us);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("LOOP_TURNS_OUT");
    uint64_t total = atomic_load(&n_turns);
    if (!path || total == 0)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f,
            "turns=%llu cpu_p50_us=%llu cpu_p99_us=%llu cpu_p999_us=%llu cpu_max_us=%llu "
            "wall_p99_us=%llu wall_max_us=%llu cpu_over_5ms=%llu long=",
            (unsigned long long)total, (unsigned long long)percentile_us(&cpu_turns, total, 0.5),
            (unsigned long long)percentile_us(&cpu_turns, total, 0.99),
            (unsigned long long)percentile_us(&cpu_turns, total, 0.999),
            (unsigned long long)atomic_load(&cpu_turns.max_us),
            (unsigned long long)percentile_us(&wall_turns, total, 0.99),
            (unsigned long long)atomic_load(&wall_turns.max_us),
            (unsigned long long)atomic_load(&cpu_over_5ms));
    uint64_t n_long = atomic_load(&cpu_over_5ms);
    for (uint64_t i = 0; i < n_long && i < LONG_MAX; i++)
        fprintf(f, "%s%llu:%llu", i ? "," : "", (unsigned long long)long_at[i],
                (unsigned long long)long_cpu[i]);
    fputc('\n', f);
    fclose(f);
}
