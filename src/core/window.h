/* window.h — a sliding-window pair of counters, in buckets.
 *
 * The breaker's error rate (requests, failures), the retry budget (requests,
 * retries) and the rpm/tpm limiter (requests, tokens) all ask the same
 * question: "how many in the last W milliseconds?".  Keeping every event's
 * timestamp would cost memory per request; instead the window is cut into
 * CMX_WINDOW_BUCKETS buckets of W/CMX_WINDOW_BUCKETS each, a ring indexed by
 * time, with running totals.  An event leaves the window when its bucket is
 * recycled, so the window slides in steps of one bucket: an event is counted
 * for between W - W/BUCKETS and W after it happened (within 1/60 of W).
 * Advancing costs O(buckets passed), amortised O(1) per event.
 *
 * Not thread-safe: each owner (breaker, budget, limiter, a virtual key's
 * limits) holds its own lock. */
#ifndef CMX_CORE_WINDOW_H
#define CMX_CORE_WINDOW_H

#include <stdint.h>

#define CMX_WINDOW_BUCKETS 60

typedef struct cmx_window {
    uint64_t bucket_us;
    uint64_t head;    /* index (now / bucket_us) of the newest bucket */
    int64_t total[2]; /* sums over the live buckets */
    int64_t bucket[CMX_WINDOW_BUCKETS][2];
} cmx_window;

/* window_us is rounded up to a multiple of CMX_WINDOW_BUCKETS microseconds. */
void cmx_window_init(cmx_window *w, uint64_t window_us);
void cmx_window_clear(cmx_window *w);
/* Adds to the bucket of now_us.  A time older than the newest bucket (another
 * thread read the clock first) counts in the newest one. */
void cmx_window_add(cmx_window *w, uint64_t now_us, int64_t a, int64_t b);
/* Slides the window to now_us and returns the totals in out[0], out[1]. */
void cmx_window_totals(cmx_window *w, uint64_t now_us, int64_t out[2]);
/* How long from now_us until at least `units` of sum `which` (0 or 1) have
 * left the window, oldest bucket first: when a limit refused at now_us has
 * room again.  The whole window's length when it holds fewer. */
uint64_t cmx_window_wait_us(cmx_window *w, uint64_t now_us, int which, int64_t units);

#endif
