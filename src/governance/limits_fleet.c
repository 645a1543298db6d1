/* limits_fleet.c — keys' and teams' rpm, tpm and max_parallel shared by the
 * fleet, through the state store (state/state.h).
 *
 * With state.redis, a request that this process's own counts admitted
 * (policy.c) is then counted in the fleet's: rpm and tpm in windowed
 * counters over a sliding minute (cmx_state_counters_take: from this
 * replica's allowance without a round trip far from the limit, by the
 * store's script near it), then max_parallel in slot sets
 * (cmx_state_slots_take: a round trip, or a worker's spare far from a large
 * limit).  A key and its team are asked in one step each, so a request that
 * either refuses counts against neither.  A refusal gives back what was
 * counted and is answered 429 like a local one, its Retry-After worked out
 * from this replica's own requests in the window (the fleet's are not read
 * back): when those leave, the fleet has room again, perhaps sooner.  When
 * the store cannot answer, this process's own counts stand (each replica
 * then enforces the whole limit on its own), or, with
 * state.redis.fail_closed, the request is refused with 503.
 *
 * At the end the slots are given back and the tokens the provider reported
 * replace the reservation in the fleet's tpm (sent with others within
 * 10 ms).  The fleet's names: gov:rpm:key:ID, gov:tpm:key:ID (counters),
 * gov:par:key:ID (slot sets), and the same with team:ID. */
#include "governance/governance_internal.h"

#include <stdio.h>

#define MINUTE_MS 60000
#define BUCKETS 60

enum { STAGE_NONE = 0, STAGE_COUNTERS, STAGE_SLOTS };

static cmx_state_worker *fleet_of(cmx_governance *g, size_t worker)
{
    return worker < g->n_fleet ? g->fleet[worker] : NULL;
}

/* The ticket's key and its team, key first; returns how many. */
static size_t principals(const cmx_gov_ticket *t, const cmx_gov_principal **ps)
{
    ps[0] = &t->key->p;
    ps[1] = t->key->team ? &t->key->team->p : NULL;
    return ps[1] ? 2 : 1;
}

/* The fleet's rpm and tpm counters of the key and team, with the request's
 * deltas; tokens < 0 leaves the rpm counters out (a settlement: the caller
 * sets the deltas).  owner[i]: whose counter i is. */
static size_t counters_of(const cmx_gov_ticket *t, int64_t tokens, cmx_state_counter *c,
                          const cmx_gov_principal **owner)
{
    const cmx_gov_principal *ps[2];
    size_t np = principals(t, ps), n = 0;
    for (size_t i = 0; i < np; i++) {
        const cmx_gov_usage *u = ps[i]->usage;
        if (ps[i]->rpm && tokens >= 0) {
            owner[n] = ps[i];
            c[n++] = (cmx_state_counter){u->rpm_counter,      MINUTE_MS, BUCKETS,
                                         (int64_t)ps[i]->rpm, 1,         false};
        }
        if (ps[i]->tpm) {
            owner[n] = ps[i];
            c[n++] = (cmx_state_counter){u->tpm_counter,      MINUTE_MS, BUCKETS,
                                         (int64_t)ps[i]->tpm, tokens,    true};
        }
    }
    return n;
}

/* The slot sets of the key and team: those with a max_parallel (mask 0),
 * or those in the mask (1 the key's, 2 the team's).  bits[i]: set i's. */
static size_t slot_sets_of(const cmx_gov_ticket *t, uint8_t mask, cmx_state_slot *s,
                           const cmx_gov_principal **owner, uint8_t *bits)
{
    const cmx_gov_principal *ps[2];
    size_t np = principals(t, ps), n = 0;
    for (size_t i = 0; i < np; i++) {
        uint8_t bit = (uint8_t)(1u << i);
        if (mask ? !(mask & bit) : !ps[i]->max_parallel)
            continue;
        owner[n] = ps[i];
        bits[n] = bit;
        s[n++] = (cmx_state_slot){ps[i]->usage->slot_set, (int64_t)ps[i]->max_parallel};
    }
    return n;
}

static cmx_progress run(cmx_gov_ticket *t, const char **code, cmx_error *err);

static void on_answer(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    cmx_gov_ticket *t = ctx;
    t->fleet_op = 0;
    t->fleet_verdict = (int8_t)v;
    t->fleet_refused = -1;
    if (v == CMX_STATE_NO) {
        /* Which one refused: the first without room, as the store checks. */
        cmx_state_counter c[4];
        cmx_state_slot s[2];
        const cmx_gov_principal *owner[4];
        uint8_t bits[2];
        if (t->fleet_stage == STAGE_COUNTERS) {
            size_t k = counters_of(t, (int64_t)t->tokens_reserved, c, owner);
            for (size_t i = 0; i < n && i < k && t->fleet_refused < 0; i++)
                if (!(c[i].allow_first && totals[i] <= 0) && totals[i] + c[i].delta > c[i].limit)
                    t->fleet_refused = (int8_t)i;
        } else {
            size_t k = slot_sets_of(t, 0, s, owner, bits);
            for (size_t i = 0; i < n && i < k && t->fleet_refused < 0; i++)
                if (totals[i] + 1 > s[i].limit)
                    t->fleet_refused = (int8_t)i;
        }
        if (t->fleet_refused < 0)
            t->fleet_refused = 0;
        t->fleet_total = totals[t->fleet_refused];
    }
    if (t->fleet_in_call)
        return;
    const char *why = NULL;
    cmx_error e;
    cmx_error_clear(&e);
    cmx_progress p = run(t, &why, &e);
    if (p != CMX_PENDING && t->done)
        t->done(t->done_ctx, p == CMX_READY, why, &e);
}

/* Asks the store for the stage's counts; 1 when the answer is to come. */
static int ask(cmx_gov_ticket *t, cmx_state_worker *sw, int stage)
{
    cmx_state_counter c[4];
    cmx_state_slot s[2];
    const cmx_gov_principal *owner[4];
    uint8_t bits[2];
    t->fleet_stage = (uint8_t)stage;
    t->fleet_verdict = -1;
    t->fleet_in_call = 1;
    if (stage == STAGE_COUNTERS) {
        size_t n = counters_of(t, (int64_t)t->tokens_reserved, c, owner);
        t->fleet_op = n ? cmx_state_counters_take(sw, c, n, on_answer, t) : 0;
        if (!n)
            t->fleet_verdict = CMX_STATE_YES;
    } else {
        size_t n = slot_sets_of(t, 0, s, owner, bits);
        t->fleet_op = n ? cmx_state_slots_take(sw, s, n, on_answer, t) : 0;
        if (!n)
            t->fleet_verdict = CMX_STATE_YES;
    }
    t->fleet_in_call = 0;
    return t->fleet_verdict == -1;
}

/* The fleet refused: this request's own counts are given back, and so are
 * the fleet's counts when the slots refused after the counters took them. */
static cmx_progress refuse(cmx_gov_ticket *t, cmx_state_worker *sw, const char **code,
                           cmx_error *err)
{
    cmx_governance *g = t->gov;
    int64_t now_ms = cmx_gov_now_ms(g);
    cmx_gov_policy_unadmit(t, now_ms);
    if (t->fleet_counted) {
        cmx_state_counter c[4];
        const cmx_gov_principal *owner[4];
        size_t n = counters_of(t, (int64_t)t->tokens_reserved, c, owner);
        for (size_t i = 0; i < n; i++)
            c[i].delta = -c[i].delta;
        cmx_state_counters_settle(sw, c, n);
        t->fleet_counted = 0;
    }
    if (g->env.on_refusal)
        g->env.on_refusal(g->env.ctx, CMX_GOV_REFUSED_RATE);
    *code = "rate_limit_exceeded";
    char detail[96];
    uint64_t wait_us = 1000000;
    const cmx_gov_principal *owner[4];
    if (t->fleet_stage == STAGE_SLOTS) {
        cmx_state_slot s[2];
        uint8_t bits[2];
        slot_sets_of(t, 0, s, owner, bits);
        const cmx_gov_principal *p = owner[t->fleet_refused];
        snprintf(detail, sizeof detail, "%u requests at a time across the fleet", p->max_parallel);
        cmx_gov_refuse_limit(t->key, p, detail, 1, 1000, err);
        return CMX_FAILED;
    }
    cmx_state_counter c[4];
    counters_of(t, (int64_t)t->tokens_reserved, c, owner);
    const cmx_gov_principal *p = owner[t->fleet_refused];
    int tokens = c[t->fleet_refused].allow_first; /* only tpm lets a first one through */
    snprintf(detail, sizeof detail, "%lld %s per minute across the fleet",
             (long long)c[t->fleet_refused].limit, tokens ? "tokens" : "requests");
    /* Room comes back when enough of the window has left it; this replica
     * knows when its own requests leave. */
    int64_t excess = t->fleet_total + c[t->fleet_refused].delta - c[t->fleet_refused].limit;
    cmx_gov_usage *u = p->usage;
    pthread_mutex_lock(&u->lock);
    wait_us = cmx_window_wait_us(&u->window, (uint64_t)now_ms * 1000, tokens, excess);
    pthread_mutex_unlock(&u->lock);
    cmx_gov_refuse_limit(t->key, p, detail, 0, wait_us / 1000, err);
    return CMX_FAILED;
}

/* The store could not answer and state.redis.fail_closed says refuse. */
static cmx_progress refuse_unavailable(cmx_gov_ticket *t, const char **code, cmx_error *err)
{
    cmx_governance *g = t->gov;
    cmx_gov_policy_unadmit(t, cmx_gov_now_ms(g));
    atomic_fetch_add_explicit(&g->refusals[GOV_REASON_STATE], 1, memory_order_relaxed);
    *code = "limits_unavailable";
    cmx_error_set(err, CMX_ERR_UNAVAILABLE,
                  "the fleet's shared limits of key '%.64s' cannot be checked (the state store "
                  "does not answer), and this gateway refuses until they can "
                  "(state.redis.fail_closed); retry shortly",
                  t->key->p.id);
    err->status = 503;
    err->retry_after_ms = 1000;
    return CMX_FAILED;
}

/* Goes on from the stage the ticket is at: READY when every count has
 * room, FAILED with the refusal, PENDING while an answer is to come. */
static cmx_progress run(cmx_gov_ticket *t, const char **code, cmx_error *err)
{
    cmx_state_worker *sw = fleet_of(t->gov, t->worker);
    int fail_closed = sw && cmx_state_fail_closed(cmx_state_of(sw));
    if (!sw)
        return CMX_READY;
    if (t->fleet_stage == STAGE_NONE && ask(t, sw, STAGE_COUNTERS))
        return CMX_PENDING;
    if (t->fleet_stage == STAGE_COUNTERS) {
        if (t->fleet_verdict == CMX_STATE_NO)
            return refuse(t, sw, code, err);
        if (t->fleet_verdict == CMX_STATE_UNAVAILABLE && fail_closed)
            return refuse_unavailable(t, code, err);
        t->fleet_counted = t->fleet_verdict == CMX_STATE_YES;
        if (ask(t, sw, STAGE_SLOTS))
            return CMX_PENDING;
    }
    if (t->fleet_verdict == CMX_STATE_NO)
        return refuse(t, sw, code, err);
    if (t->fleet_verdict == CMX_STATE_UNAVAILABLE && fail_closed)
        return refuse_unavailable(t, code, err);
    if (t->fleet_verdict == CMX_STATE_YES) {
        cmx_state_slot s[2];
        const cmx_gov_principal *owner[2];
        uint8_t bits[2];
        size_t n = slot_sets_of(t, 0, s, owner, bits);
        for (size_t i = 0; i < n; i++)
            t->fleet_slots |= bits[i];
    }
    return CMX_READY;
}

static int has_limits(const cmx_gov_principal *p)
{
    return p && (p->rpm || p->tpm || p->max_parallel);
}

cmx_progress cmx_gov_fleet_admit(cmx_governance *g, size_t worker, cmx_gov_ticket *t,
                                 cmx_gov_admitted_fn done, void *ctx, const char **code,
                                 cmx_error *err)
{
    if (!fleet_of(g, worker) ||
        (!has_limits(&t->key->p) && !(t->key->team && has_limits(&t->key->team->p))))
        return CMX_READY;
    t->gov = g;
    t->worker = worker;
    t->done = done;
    t->done_ctx = ctx;
    t->fleet_stage = STAGE_NONE;
    return run(t, code, err);
}

void cmx_gov_admit_cancel(cmx_governance *g, cmx_gov_ticket *t)
{
    cmx_state_worker *sw = fleet_of(g, t->worker);
    if (t->fleet_op && sw)
        cmx_state_cancel(sw, t->fleet_op);
    t->fleet_op = 0;
    t->done = NULL;
}

void cmx_gov_fleet_end(cmx_governance *g, size_t worker, cmx_gov_ticket *t, int64_t total_tokens)
{
    cmx_state_worker *sw = fleet_of(g, worker);
    if (!sw || !t->key)
        return;
    if (t->fleet_slots) {
        cmx_state_slot s[2];
        const cmx_gov_principal *owner[2];
        uint8_t bits[2];
        size_t n = slot_sets_of(t, t->fleet_slots, s, owner, bits);
        cmx_state_slots_give(sw, s, n);
        t->fleet_slots = 0;
    }
    if (t->fleet_counted && total_tokens >= 0 && total_tokens != (int64_t)t->tokens_reserved) {
        cmx_state_counter c[4];
        const cmx_gov_principal *owner[4];
        size_t n = counters_of(t, -1, c, owner);
        for (size_t i = 0; i < n; i++)
            c[i].delta = total_tokens - (int64_t)t->tokens_reserved;
        if (n)
            cmx_state_counters_settle(sw, c, n);
    }
    t->fleet_counted = 0;
}
