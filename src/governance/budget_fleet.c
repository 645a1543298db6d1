/* budget_fleet.c — budgets counted in the fleet's shared state as well.
 *
 * With state.redis, every charge is also added to a shared counter per key
 * (and team) and period, through the state store's atomic windowed counters
 * (state/state.h), from the worker that ends the request, without waiting:
 * the answer — the fleet's total for the period — comes back on the same
 * worker and raises what this process knows is spent (from_fleet).  So a
 * replica learns the whole fleet's spend of a key at its next charge of it,
 * rather than at the next ledger sync.  Redis down: the state store answers
 * UNAVAILABLE and the ledger alone keeps the budgets, as without Redis.
 *
 * A counter is named "budget:key:ID:<period start>" and kept for a window of
 * two period lengths in two buckets, so the whole period is always inside
 * its live window whatever its alignment. */
#include "governance/governance_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define NANO 1e9

typedef struct fleet_call {
    cmx_budget_counters *counters;
    cmx_budget_counter *counter[2];
    int64_t period[2];
    size_t n;
} fleet_call;

void cmx_gov_fleet_attach(cmx_governance *g, size_t worker, cmx_state_worker *sw)
{
    if (g && worker < g->n_fleet)
        g->fleet[worker] = sw && cmx_state_is_shared(cmx_state_of(sw)) ? sw : NULL;
}

static void on_fleet_total(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    fleet_call *call = ctx;
    /* UNAVAILABLE: the totals are this process's own copy, nothing new. */
    for (size_t i = 0; v != CMX_STATE_UNAVAILABLE && i < n && i < call->n; i++)
        call->counters->ops->from_fleet(call->counters, call->counter[i], call->period[i],
                                        (double)totals[i] / NANO);
    free(call);
}

static void add_counter(cmx_state_counter *sc, char *name, size_t cap, fleet_call *call,
                        const cmx_gov_usage *u, int64_t period, int64_t len, double usd)
{
    snprintf(name, cap, "budget:%s:%lld", u->name, (long long)period);
    sc->name = name;
    sc->window_ms = (uint64_t)len * 2;
    sc->buckets = 2;
    sc->limit = 0;
    sc->delta = (int64_t)(usd * NANO + 0.5);
    sc->allow_first = false;
    call->counter[call->n] = u->budget;
    call->period[call->n] = period;
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
    cmx_state_counter sc[2];
    char names[2][128];
    add_counter(&sc[0], names[0], sizeof names[0], call, c->key_usage, c->key_period_ms,
                c->key_period_len_ms, c->usd);
    if (c->team_usage)
        add_counter(&sc[1], names[1], sizeof names[1], call, c->team_usage, c->team_period_ms,
                    c->team_period_len_ms, c->usd);
    /* force: a charge is counted whatever the total; the callback frees call. */
    cmx_state_counters_add(sw, sc, call->n, true, on_fleet_total, call);
}
