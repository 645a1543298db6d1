/* window.c — bucketed sliding window; see window.h. */
#include "core/window.h"

#include <string.h>

void cmx_window_init(cmx_window *w, uint64_t window_us)
{
    memset(w, 0, sizeof *w);
    w->bucket_us = (window_us + CMX_WINDOW_BUCKETS - 1) / CMX_WINDOW_BUCKETS;
    if (w->bucket_us == 0)
        w->bucket_us = 1;
}

void cmx_window_clear(cmx_window *w)
{
    uint64_t bucket_us = w->bucket_us, head = w->head;
    memset(w, 0, sizeof *w);
    w->bucket_us = bucket_us;
    w->head = head;
}

/* Recycles every bucket between the newest one and now's, subtracting what
 * they held.  After a long quiet spell the whole ring is simply cleared. */
static void slide(cmx_window *w, uint64_t now_us)
{
    uint64_t now_index = now_us / w->bucket_us;
    if (now_index <= w->head)
        return;
    if (now_index - w->head >= CMX_WINDOW_BUCKETS) {
        cmx_window_clear(w);
    } else {
        for (uint64_t i = w->head + 1; i <= now_index; i++) {
            int64_t *b = w->bucket[i % CMX_WINDOW_BUCKETS];
            w->total[0] -= b[0];
            w->total[1] -= b[1];
            b[0] = b[1] = 0;
        }
    }
    w->head = now_index;
}

void cmx_window_add(cmx_window *w, uint64_t now_us, int64_t a, int64_t b)
{
    slide(w, now_us);
    int64_t *bucket = w->bucket[w->head % CMX_WINDOW_BUCKETS];
    bucket[0] += a;
    bucket[1] += b;
    w->total[0] += a;
    w->total[1] += b;
}

void cmx_window_totals(cmx_window *w, uint64_t now_us, int64_t out[2])
{
    slide(w, now_us);
    out[0] = w->total[0];
    out[1] = w->total[1];
}

uint64_t cmx_window_wait_us(cmx_window *w, uint64_t now_us, int which, int64_t units)
{
    slide(w, now_us);
    if (units <= 0)
        return 0;
    int64_t gone = 0;
    uint64_t oldest = w->head >= CMX_WINDOW_BUCKETS - 1 ? w->head - (CMX_WINDOW_BUCKETS - 1) : 0;
    for (uint64_t i = oldest; i <= w->head; i++) {
        gone += w->bucket[i % CMX_WINDOW_BUCKETS][which];
        if (gone >= units) {
            uint64_t leaves_us = (i + CMX_WINDOW_BUCKETS) * w->bucket_us;
            return leaves_us > now_us ? leaves_us - now_us : 0;
        }
    }
    return w->bucket_us * CMX_WINDOW_BUCKETS;
}
