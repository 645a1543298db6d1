/* allowance.c — a replica's credit on a fleet-wide counter: when it covers a
 * request, how big a grant to ask for, and what to give back; see
 * allowance.h. */
#include "state/allowance.h"

bool cmx_allowance_covers(const cmx_allowance *a, uint64_t now_ms, int64_t delta)
{
    return delta <= a->credit && now_ms < a->spend_until_ms;
}

void cmx_allowance_spend(cmx_allowance *a, int64_t delta)
{
    a->credit -= delta;
}

void cmx_allowance_note_demand(cmx_allowance *a, uint64_t now_ms, int64_t delta)
{
    if (a->demand_since_ms == 0)
        a->demand_since_ms = now_ms;
    a->demand += delta;
    if (delta > a->peak)
        a->peak = delta;
}

int64_t cmx_allowance_grant_size(const cmx_allowance *a, uint64_t now_ms, int64_t limit)
{
    if (a->asking || limit <= 0 || a->total_ms == 0 ||
        now_ms - a->total_ms > CMX_ALLOWANCE_STALE_MS)
        return 0;
    int64_t unit = a->typical > a->peak ? a->typical : a->peak;
    int64_t smallest = CMX_ALLOWANCE_MIN_REQUESTS * (unit > 0 ? unit : 1);
    int64_t share = (limit - a->total) / CMX_ALLOWANCE_SHARE;
    if (share > limit / CMX_ALLOWANCE_LIMIT_SHARE)
        share = limit / CMX_ALLOWANCE_LIMIT_SHARE;
    if (share < smallest)
        return 0; /* near the limit, or a small one: every request asks the store */
    int64_t want = (int64_t)(a->rate * CMX_ALLOWANCE_HORIZON_MS);
    if (want < smallest)
        want = smallest;
    if (want > share)
        want = share;
    if (a->credit >= want / 2 && now_ms < a->spend_until_ms)
        return 0;
    return want;
}

void cmx_allowance_asked(cmx_allowance *a, uint64_t now_ms)
{
    a->asking = 1;
    a->typical = a->peak > 0 ? a->peak : 1;
    a->peak = 0;
    /* The rate is measured over at least a quarter of the horizon, so a
     * burst of a few requests in one moment does not look like thousands a
     * second. */
    uint64_t elapsed = now_ms - a->demand_since_ms;
    if (a->demand_since_ms == 0 || elapsed < CMX_ALLOWANCE_HORIZON_MS / 4)
        return;
    double seen = (double)a->demand / (double)elapsed;
    a->rate = a->rate > 0 ? (a->rate + seen) / 2 : seen;
    a->demand = 0;
    a->demand_since_ms = now_ms;
}

void cmx_allowance_learn_total(cmx_allowance *a, uint64_t now_ms, int64_t total)
{
    a->total = total;
    a->total_ms = now_ms ? now_ms : 1;
}

cmx_allowance_return cmx_allowance_answered(cmx_allowance *a, uint64_t sent_ms, uint64_t now_ms,
                                            bool granted, int64_t grant, int64_t total,
                                            uint64_t store_ms, uint64_t bucket_ms)
{
    cmx_allowance_return back = {0, 0};
    a->asking = 0;
    cmx_allowance_learn_total(a, now_ms, total);
    if (!granted || grant <= 0)
        return back;
    if (bucket_ms == 0)
        bucket_ms = 1;
    uint64_t bucket = store_ms / bucket_ms;
    /* Counted from when it was sent: the script ran later than that, so the
     * bucket's end comes no earlier than this. */
    uint64_t left_ms = (bucket + 1) * bucket_ms - store_ms;
    if (left_ms > CMX_ALLOWANCE_MAX_HOLD_MS)
        left_ms = CMX_ALLOWANCE_MAX_HOLD_MS;
    uint64_t until = sent_ms + left_ms;
    if (until <= now_ms)
        return (cmx_allowance_return){grant, bucket};
    if (a->credit > 0 && a->bucket == bucket && now_ms < a->spend_until_ms) {
        a->credit += grant;
        if (until < a->spend_until_ms)
            a->spend_until_ms = until;
        return back;
    }
    if (a->credit > 0)
        back = (cmx_allowance_return){a->credit, a->bucket};
    a->credit = grant;
    a->bucket = bucket;
    a->spend_until_ms = until;
    return back;
}

void cmx_allowance_unanswered(cmx_allowance *a)
{
    a->asking = 0;
}

cmx_allowance_return cmx_allowance_expire(cmx_allowance *a, uint64_t now_ms)
{
    cmx_allowance_return back = {0, 0};
    if (a->credit > 0 && now_ms >= a->spend_until_ms) {
        back = (cmx_allowance_return){a->credit, a->bucket};
        a->credit = 0;
    }
    return back;
}

void cmx_allowance_drop(cmx_allowance *a)
{
    a->credit = 0;
}

void cmx_allowance_defer(cmx_allowance *a, uint64_t now_ms, int64_t delta)
{
    a->unsent += delta;
    if (a->send_by_ms == 0)
        a->send_by_ms = now_ms + CMX_ALLOWANCE_SETTLE_MS;
}

int64_t cmx_allowance_take_unsent(cmx_allowance *a, uint64_t now_ms)
{
    if (a->send_by_ms == 0 || now_ms < a->send_by_ms)
        return 0;
    int64_t v = a->unsent;
    a->unsent = 0;
    a->send_by_ms = 0;
    return v;
}

uint64_t cmx_allowance_due(const cmx_allowance *a)
{
    uint64_t due = UINT64_MAX;
    if (a->credit > 0)
        due = a->spend_until_ms;
    if (a->send_by_ms && a->send_by_ms < due)
        due = a->send_by_ms;
    return due;
}

bool cmx_allowance_idle(const cmx_allowance *a)
{
    return a->credit == 0 && !a->asking && a->send_by_ms == 0;
}
