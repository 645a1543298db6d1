/* state_allowance.c — counters asked on every request, decided from this
 * process's allowance when it can be (allowance.h has the arithmetic and
 * the bounds), by the store's script otherwise.
 *
 * The allowance of a counter lives beside its local copy in the counter
 * table, under the table's lock, shared by the workers.  A worker that
 * decides a request from the allowance and sees the credit run low asks the
 * store for the next grant on its own connection, pipelined with whatever
 * else its loop turn sends; a request the credit covers never waits for it.
 * One it does not cover waits for the grant on its way when that will cover
 * it (a waiter: its own op, so its caller's id stays valid when it goes on
 * to the store), else asks the store itself.  The
 * worker that received a grant (or was handed an unchecked addition) owns
 * the counter's chores: its timer gives back credit when its bucket ends
 * and sends the additions when they are due.
 *
 * Credit is tied to the connection epoch it was granted in: when any command
 * connection is lost the store may have restarted empty, so credit from
 * before is dropped rather than spent. */
#include "state/state_internal.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

uint64_t cmx_state_now_ms(const cmx_state *st)
{
    return cmx_clock_now_us(st->clock) / 1000;
}

void cmx_state_set_clock(cmx_state *st, const cmx_clock *clock)
{
    st->clock = clock ? clock : &cmx_clock_monotonic;
}

static uint64_t bucket_ms_of(const cmx_state_counter *sc)
{
    uint64_t bucket_ms;
    uint32_t n;
    cmx_state_counter_shape(sc, &bucket_ms, &n);
    return bucket_ms;
}

static void on_tick(evutil_socket_t fd, short what, void *arg);

/* Sets w's timer for due_ms, unless it is set for sooner already. */
static void arm(cmx_state_worker *w, uint64_t due_ms, uint64_t now_ms)
{
    if (due_ms == UINT64_MAX || !w->base || (w->tick_due_ms && w->tick_due_ms <= due_ms))
        return;
    if (!w->tick && !(w->tick = evtimer_new(w->base, on_tick, w)))
        return;
    /* A millisecond late rather than early: libevent's clock is coarser. */
    uint64_t delay = (due_ms > now_ms ? due_ms - now_ms : 0) + 1;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    evtimer_add(w->tick, &tv);
    w->tick_due_ms = due_ms;
}

/* Counters whose answers only teach the fleet's totals. */
static void on_mirror_reply(cmx_state_op *op, const redisReply *reply)
{
    if (!cmx_state_counters_reply_ok(reply, op->n))
        return;
    int64_t totals[CMX_STATE_MAX_COUNTERS];
    for (size_t i = 0; i < op->n; i++)
        totals[i] = reply->element[i + 1]->integer;
    cmx_state_mirror_answer(op->w->st, op->counters, op->n, 0, totals);
}

/* Unchecked additions (give-backs, settlements), at[i] the bucket of each
 * or 0 for the current one.  Nobody waits; a store that cannot take them
 * loses them (give-backs then stay counted until their bucket leaves the
 * window: fewer admitted, never more). */
static void send_additions(cmx_state_worker *w, const cmx_state_counter *counters, size_t n,
                           const uint64_t *at)
{
    if (n == 0)
        return;
    cmx_state_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->on_reply = on_mirror_reply;
    cmx_state_send_counters(w, op, counters, n, true, at);
}

/* Credit given back, one counter at a time (each to its own bucket). */
static void give_back(cmx_state_worker *w, const cmx_state_counter *sc, cmx_allowance_return r)
{
    if (r.units <= 0)
        return;
    cmx_state_counter c = *sc;
    c.delta = -r.units;
    c.allow_first = false;
    send_additions(w, &c, 1, &r.bucket);
}

static void count(atomic_uint_fast64_t *n)
{
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

/* Under c->lock: spends deltas from each counter's credit if all of them
 * cover theirs, counting them in the local copy; 1 when it did.  Credit of
 * an older connection epoch is dropped first. */
static int spend_all(cmx_state *st, cmx_local_counter **lcs, const cmx_state_counter *counters,
                     size_t n, uint64_t now, uint64_t wall, int64_t *totals)
{
    uint64_t epoch = atomic_load(&st->conn_epoch);
    for (size_t i = 0; i < n; i++) {
        if (lcs[i]->epoch != epoch) {
            cmx_allowance_drop(&lcs[i]->al);
            lcs[i]->epoch = epoch;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!cmx_allowance_covers(&lcs[i]->al, now, counters[i].delta))
            return 0;
    for (size_t i = 0; i < n; i++) {
        cmx_allowance_spend(&lcs[i]->al, counters[i].delta);
        cmx_local_counter_add(lcs[i], wall, counters[i].delta);
        totals[i] = lcs[i]->al.total - lcs[i]->al.credit;
    }
    return 1;
}

/* Books a request's deltas against the grant on its way: 1 when the grant
 * covers them after what the earlier waiters will take. */
static int promise(cmx_state_op *grant, const cmx_state_counter *counters, size_t n)
{
    size_t at[CMX_STATE_MAX_COUNTERS];
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < grant->n && strcmp(grant->counters[k].name, counters[i].name) != 0)
            k++;
        if (k == grant->n || grant->promised[k] + counters[i].delta > grant->counters[k].delta)
            return 0;
        at[i] = k;
    }
    for (size_t i = 0; i < n; i++)
        grant->promised[at[i]] += counters[i].delta;
    return 1;
}

/* A request that waits for a grant asked on this worker: its own op (the
 * id its caller holds), with copies of its counters. */
static cmx_state_op *make_waiter(const cmx_state_counter *counters, size_t n,
                                 cmx_state_counters_cb cb, void *ctx)
{
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += strlen(counters[i].name) + 1;
    cmx_state_op *wt = calloc(1, sizeof *wt);
    char *names = wt ? malloc(names_len) : NULL;
    if (!names) {
        free(wt);
        return NULL;
    }
    char *p = names;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(counters[i].name) + 1;
        wt->counters[i] = counters[i];
        wt->counters[i].name = memcpy(p, counters[i].name, len);
        p += len;
    }
    wt->names = names;
    wt->n = n;
    wt->cb = (void *)cb;
    wt->ctx = ctx;
    return wt;
}

/* The grant's answer came (or not): each waiter is admitted from the
 * credit while it lasts, then asks the store itself; after no answer it is
 * decided locally (it has waited a timeout already). */
static void serve_waiter(cmx_state_worker *w, cmx_state_op *wt, int answered)
{
    cmx_state *st = w->st;
    cmx_state_counters_cb cb = (cmx_state_counters_cb)wt->cb;
    void *ctx = wt->ctx;
    cmx_state_counter counters[CMX_STATE_MAX_COUNTERS];
    size_t n = wt->n;
    memcpy(counters, wt->counters, n * sizeof *counters);
    char *names = wt->names; /* counters[i].name point into it */
    int64_t totals[CMX_STATE_MAX_COUNTERS];
    int spent = 0;
    if (cb && answered) {
        cmx_local_counters *c = st->counters;
        cmx_local_counter *lcs[CMX_STATE_MAX_COUNTERS];
        int found = 1;
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < n && found; i++)
            found = (lcs[i] = cmx_local_counter_find(c, &counters[i])) != NULL;
        spent =
            found && spend_all(st, lcs, counters, n, cmx_state_now_ms(st), cmx_wall_ms(), totals);
        pthread_mutex_unlock(&c->lock);
    }
    if (!cb || spent) {
        free(wt);
        if (spent) {
            count(&st->by_allowance);
            cb(ctx, CMX_STATE_YES, totals, n);
        }
        free(names);
        return;
    }
    if (answered) {
        /* The same op goes to the store, so the caller's id stays valid. */
        count(&st->by_store);
        wt->names = NULL;
        wt->on_reply = cmx_state_on_counters_reply;
        if (!cmx_state_send_counters(w, wt, counters, n, false, NULL))
            cmx_state_counters_local(st, counters, n, false, cb, ctx, 1);
    } else {
        count(&st->by_local);
        free(wt);
        cmx_state_counters_local(st, counters, n, false, cb, ctx, 1);
    }
    free(names);
}

static void on_grant_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_worker *w = op->w;
    cmx_state *st = w->st;
    cmx_local_counters *c = st->counters;
    int usable = cmx_state_counters_reply_ok(reply, op->n);
    int granted = usable && reply->element[0]->integer == 1;
    uint64_t store_ms = usable ? (uint64_t)reply->element[op->n + 1]->integer : 0;
    uint64_t now = cmx_state_now_ms(st), due = UINT64_MAX;
    uint64_t epoch = atomic_load(&st->conn_epoch);
    cmx_allowance_return back[CMX_STATE_MAX_COUNTERS] = {{0, 0}};
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < op->n; i++) {
        cmx_local_counter *lc = cmx_local_counter_find(c, &op->counters[i]);
        if (!lc)
            continue;
        if (lc->grant == op)
            lc->grant = NULL;
        if (!usable) {
            cmx_allowance_unanswered(&lc->al);
            continue;
        }
        if (lc->epoch != epoch) { /* credit from before a lost connection */
            cmx_allowance_drop(&lc->al);
            lc->epoch = epoch;
        }
        back[i] = cmx_allowance_answered(&lc->al, op->sent_ms, now, granted, op->counters[i].delta,
                                         reply->element[i + 1]->integer, store_ms,
                                         bucket_ms_of(&op->counters[i]));
        lc->owner = w->index;
        uint64_t d = cmx_allowance_due(&lc->al);
        if (d < due)
            due = d;
    }
    pthread_mutex_unlock(&c->lock);
    if (granted)
        count(&st->grants);
    for (size_t i = 0; i < op->n; i++)
        give_back(w, &op->counters[i], back[i]);
    arm(w, due, now);
    cmx_state_op *waiters = op->waiters;
    op->waiters = op->last_waiter = NULL;
    while (waiters) {
        cmx_state_op *next = waiters->next;
        serve_waiter(w, waiters, usable);
        waiters = next;
    }
}

/* Sends a grant request for the counters (grants[i].delta each); returns its
 * op, or NULL when it could not be sent (then nothing is asked). */
static cmx_state_op *ask_grant(cmx_state_worker *w, const cmx_state_counter *grants, size_t n,
                               uint64_t now_ms)
{
    cmx_local_counters *c = w->st->counters;
    cmx_state_op *op = calloc(1, sizeof *op);
    if (op) {
        op->on_reply = on_grant_reply;
        op->sent_ms = now_ms;
    }
    int sent = op && cmx_state_send_counters(w, op, grants, n, false, NULL);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        cmx_local_counter *lc = cmx_local_counter_find(c, &grants[i]);
        if (!lc)
            continue;
        if (sent)
            lc->grant = op;
        else /* no answer will come to clear the flag */
            cmx_allowance_unanswered(&lc->al);
    }
    pthread_mutex_unlock(&c->lock);
    return sent ? op : NULL;
}

uint64_t cmx_state_counters_take(cmx_state_worker *w, const cmx_state_counter *counters, size_t n,
                                 cmx_state_counters_cb cb, void *ctx)
{
    cmx_state *st = w->st;
    if (n == 0 || n > CMX_STATE_MAX_COUNTERS || !st->shared || !cmx_state_worker_is_up(w)) {
        if (n > 0 && n <= CMX_STATE_MAX_COUNTERS)
            count(&st->by_local);
        return cmx_state_counters_add(w, counters, n, false, cb, ctx);
    }
    cmx_local_counters *c = st->counters;
    cmx_local_counter *lcs[CMX_STATE_MAX_COUNTERS];
    cmx_state_counter grants[CMX_STATE_MAX_COUNTERS];
    int64_t totals[CMX_STATE_MAX_COUNTERS];
    uint64_t now = cmx_state_now_ms(st), wall = cmx_wall_ms();
    int ask = 1;
    cmx_state_op *pending = NULL; /* a grant asked on this worker, to wait for */
    pthread_mutex_lock(&c->lock);
    cmx_local_counters_count_call(c, wall);
    for (size_t i = 0; i < n; i++) {
        if (!(lcs[i] = cmx_local_counter_find(c, &counters[i]))) {
            pthread_mutex_unlock(&c->lock);
            count(&st->by_store);
            return cmx_state_counters_add(w, counters, n, false, cb, ctx);
        }
        cmx_allowance_note_demand(&lcs[i]->al, now, counters[i].delta);
    }
    int fast = spend_all(st, lcs, counters, n, now, wall, totals);
    for (size_t i = 0; i < n; i++) {
        grants[i] = counters[i];
        grants[i].allow_first = false;
        grants[i].delta = cmx_allowance_grant_size(&lcs[i]->al, now, counters[i].limit);
        if (grants[i].delta <= 0)
            ask = 0;
    }
    for (size_t i = 0; ask && i < n; i++) {
        cmx_allowance_asked(&lcs[i]->al, now);
        lcs[i]->grant_worker = w->index;
    }
    if (!fast && !ask && lcs[0]->al.asking && lcs[0]->grant_worker == w->index)
        pending = lcs[0]->grant;
    pthread_mutex_unlock(&c->lock);
    if (ask)
        pending = ask_grant(w, grants, n, now);
    if (fast) {
        count(&st->by_allowance);
        if (cb)
            cb(ctx, CMX_STATE_YES, totals, n);
        return 0;
    }
    /* No credit now: wait for the grant on its way if it will cover this
     * request after those already waiting (this one takes its first units),
     * else ask the store for this request alone. */
    cmx_state_op *wt =
        pending && promise(pending, counters, n) ? make_waiter(counters, n, cb, ctx) : NULL;
    if (wt) {
        if (pending->last_waiter)
            pending->last_waiter->next = wt;
        else
            pending->waiters = wt;
        pending->last_waiter = wt;
        return (uint64_t)(uintptr_t)wt;
    }
    count(&st->by_store);
    return cmx_state_counters_add(w, counters, n, false, cb, ctx);
}

void cmx_state_counters_settle(cmx_state_worker *w, const cmx_state_counter *counters, size_t n)
{
    cmx_state *st = w->st;
    if (n == 0 || n > CMX_STATE_MAX_COUNTERS)
        return;
    if (!st->shared || !cmx_state_worker_is_up(w)) {
        cmx_state_counters_add(w, counters, n, true, NULL, NULL);
        return;
    }
    cmx_local_counters *c = st->counters;
    uint64_t now = cmx_state_now_ms(st), wall = cmx_wall_ms(), due = UINT64_MAX;
    pthread_mutex_lock(&c->lock);
    cmx_local_counters_count_call(c, wall);
    for (size_t i = 0; i < n; i++) {
        cmx_local_counter *lc = cmx_local_counter_find(c, &counters[i]);
        if (!lc || !counters[i].delta)
            continue;
        cmx_local_counter_add(lc, wall, counters[i].delta);
        cmx_allowance_defer(&lc->al, now, counters[i].delta);
        lc->owner = w->index;
        uint64_t d = cmx_allowance_due(&lc->al);
        if (d < due)
            due = d;
    }
    pthread_mutex_unlock(&c->lock);
    arm(w, due, now);
}

/* What a tick found to send: a counter's name (copied, the table may drop
 * the record once the lock is gone), its shape, a delta and its bucket. */
typedef struct chore {
    cmx_state_counter counter;
    uint64_t at;
} chore;

void cmx_state_allowance_tick(cmx_state_worker *w)
{
    cmx_state *st = w->st;
    cmx_local_counters *c = st->counters;
    uint64_t now = cmx_state_now_ms(st), due = UINT64_MAX;
    uint64_t epoch = atomic_load(&st->conn_epoch);
    chore *chores = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t s = 0; s < CMX_LOCAL_TABLE_SIZE; s++) {
        for (cmx_local_counter *lc = c->slots[s]; lc; lc = lc->next) {
            if (lc->owner != w->index || cmx_allowance_idle(&lc->al))
                continue;
            if (lc->epoch != epoch) {
                /* Never given back to a store that may have restarted empty:
                 * that would take from other replicas' counts. */
                cmx_allowance_drop(&lc->al);
                lc->epoch = epoch;
            }
            cmx_allowance_return back = cmx_allowance_expire(&lc->al, now);
            int64_t unsent = cmx_allowance_take_unsent(&lc->al, now);
            for (int k = 0; k < 2; k++) {
                int64_t delta = k == 0 ? -back.units : unsent;
                if (!delta)
                    continue;
                if (n == cap) {
                    size_t more = cap ? cap * 2 : 16;
                    chore *grown = realloc(chores, more * sizeof *grown);
                    if (!grown)
                        continue; /* lost: counted until its bucket leaves the window */
                    chores = grown, cap = more;
                }
                char *name = strdup(lc->name);
                if (!name)
                    continue;
                chores[n++] =
                    (chore){{name, lc->bucket_ms * lc->n_buckets, lc->n_buckets, 0, delta, false},
                            k == 0 ? back.bucket : 0};
            }
            uint64_t d = cmx_allowance_due(&lc->al);
            if (d < due)
                due = d;
        }
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        send_additions(w, &chores[i].counter, 1, &chores[i].at);
        free((char *)chores[i].counter.name);
    }
    free(chores);
    arm(w, due, now);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cmx_state_worker *w = arg;
    w->tick_due_ms = 0;
    cmx_state_allowance_tick(w);
}
