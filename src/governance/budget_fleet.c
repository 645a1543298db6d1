/* budget_fleet.c — budgets counted in the fleet's shared state as well.
 *
 * With state.redis, every charge is also added to a shared counter per key
 * (and team) and period, through the state store's atomic windowed counters
 * (state/state.h), from the worker that ends the request, without waiting:
 * the answer — the fleet's total for the period — comes back on the same
 * worker and raises what this process knows is spent (from_fleet).  So a
 * replica learns the whole fleet's spend of a key at its next charge of it,
 * rather than at the next ledger sync.
 *
 * The replicas that are not charging the key learn it when it matters: the
 * charge whose answer shows the budget reached publishes that total as an
 * event (CMX_EVENT_BUDGET_SPENT) to every replica, which raises what each
 * knows is spent (cmx_gov_fleet_heard) within a publish round trip, so all
 * of them refuse from then on.  Redis down: the state store answers
 * UNAVAILABLE and the ledger alone keeps the budgets, as without Redis.
 *
 * A counter is named "budget:key:ID:<period start>" and kept for a window of
 * two period lengths in two buckets, so the whole period is always inside
 * its live window whatever its alignment; the event's subject is the same
 * name. */
#include "governance/governance_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define NANO 1e9
#define BUDGET_PREFIX "budget:"
/* How long a budget event stays stored in Redis (nobody reads it back: a
 * replica that starts rebuilds its budgets from the ledger). */
#define EVENT_TTL_MS 60000

typedef struct fleet_call {
    cmx_budget_counters *counters;
    cmx_state_worker *sw;
    cmx_budget_counter *counter[2];
    int64_t period[2];
    int64_t period_end_ms[2];
    int64_t budget_nano[2]; /* 0: no budget */
    char name[2][128];
    size_t n;
} fleet_call;

void cmx_gov_fleet_attach(cmx_governance *g, size_t worker, cmx_state_worker *sw)
{
    if (g && worker < g->n_fleet)
        g->fleet[worker] = sw && cmx_state_is_shared(cmx_state_of(sw)) ? sw : NULL;
}

/* Tells the other replicas that this budget is spent. */
static void publish_spent(fleet_call *call, size_t i, int64_t total_nano)
{
    cmx_state_event ev = {CMX_EVENT_BUDGET_SPENT, (uint64_t)call->period_end_ms[i],
                          (uint64_t)total_nano, call->name[i]};
    cmx_state_publish(call->sw, &ev, EVENT_TTL_MS);
}

static void on_fleet_total(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    fleet_call *call = ctx;
    /* UNAVAILABLE: the totals are this process's own copy, nothing new. */
    for (size_t i = 0; v != CMX_STATE_UNAVAILABLE && i < n && i < call->n; i++) {
        call->counters->ops->from_fleet(call->counters, call->counter[i], call->period[i],
                                        (double)totals[i] / NANO);
        if (call->budget_nano[i] && totals[i] >= call->budget_nano[i])
            publish_spent(call, i, totals[i]);
    }
    free(call);
}

static void add_counter(cmx_state_counter *sc, fleet_call *call, const cmx_gov_usage *u,
                        int64_t period, int64_t len, double usd, double budget_usd)
{
    char *name = call->name[call->n];
    size_t id_len = strlen(u->name), at = CMX_LIT_LEN(BUDGET_PREFIX);
    if (at + id_len + 1 + CMX_DEC_MAX <= sizeof call->name[0]) { /* every name but a huge one */
        memcpy(name, BUDGET_PREFIX, at);
        memcpy(name + at, u->name, id_len);
        name[at + id_len] = ':';
        cmx_dec_i64(name + at + id_len + 1, period);
    } else {
        snprintf(name, sizeof call->name[0], BUDGET_PREFIX "%s:%lld", u->name, (long long)period);
    }
    sc->name = name;
    sc->window_ms = (uint64_t)len * 2;
    sc->buckets = 2;
    sc->limit = 0;
    sc->delta = (int64_t)(usd * NANO + 0.5);
    sc->allow_first = false;
    call->counter[call->n] = u->budget;
    call->period[call->n] = period;
    call->period_end_ms[call->n] = period + len;
    /* A budget counts as reached a nano-dollar early, as admission does. */
    call->budget_nano[call->n] = budget_usd > 0 ? (int64_t)(budget_usd * NANO + 0.5) - 1 : 0;
    call->n++;
}

void cmx_gov_fleet_charge(cmx_governance *g, size_t worker, const cmx_gov_charge *c)
{
    cmx_state_worker *sw = worker < g->n_fleet ? g->fleet[worker] : NULL;
    if (!sw || c->usd <= 0 || !c->key_usage)
        return;
    fleet_call *call = calloc(1, sizeof *call);
    if (!call)
        return;
    call->counters = g->counters;
    call->sw = sw;
    cmx_state_counter sc[2];
    add_counter(&sc[0], call, c->key_usage, c->key_period_ms, c->key_period_len_ms, c->usd,
                c->key_budget_usd);
    if (c->team_usage)
        add_counter(&sc[1], call, c->team_usage, c->team_period_ms, c->team_period_len_ms, c->usd,
                    c->team_budget_usd);
    /* force: a charge is counted whatever the total; the callback frees call. */
    cmx_state_counters_add(sw, sc, call->n, true, on_fleet_total, call);
}

void cmx_gov_fleet_heard(cmx_governance *g, const char *subject, uint64_t total_nano)
{
    size_t plen = strlen(BUDGET_PREFIX);
    const char *colon = strrchr(subject, ':');
    if (!g || strncmp(subject, BUDGET_PREFIX, plen) != 0 || !colon || colon <= subject + plen)
        return;
    char *end;
    long long period = strtoll(colon + 1, &end, 10);
    char name[128];
    size_t len = (size_t)(colon - subject) - plen;
    if (*end || colon[1] == '\0' || len >= sizeof name)
        return;
    memcpy(name, subject + plen, len);
    name[len] = '\0';
    cmx_gov_usage *u = cmx_gov_usage_find(g->registry, name);
    if (u)
        g->counters->ops->from_fleet(g->counters, u->budget, (int64_t)period,
                                     (double)total_nano / NANO);
}
