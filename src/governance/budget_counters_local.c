/* budget_counters_local.c — the in-process budget counters; see
 * budget_counters.h.  One small mutex per counter: a request takes it twice
 * (check, charge), other counters never contend. */
#include "governance/budget_counters.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cmx_budget_counter {
    pthread_mutex_t lock;
    int64_t period_start_ms;
    double ledger;  /* the shared ledger's sum for the period, at the last sync */
    double pending; /* charged here, not yet committed to the ledger */
    double fleet;   /* the fleet's shared counter as last seen, plus this process's charges
                       since (without a fleet: its own charges, never above ledger + pending) */
    char *name;
    struct cmx_budget_counter *next;
};

typedef struct local_set {
    cmx_budget_counters base;
    pthread_mutex_t lock; /* the list; counters are only added */
    cmx_budget_counter *head;
} local_set;

/* Moves c to a later period (under c->lock). */
static void roll(cmx_budget_counter *c, int64_t period_start_ms)
{
    if (period_start_ms > c->period_start_ms) {
        c->period_start_ms = period_start_ms;
        c->ledger = 0;
        c->pending = 0;
        c->fleet = 0;
    }
}

static cmx_budget_counter *local_counter(cmx_budget_counters *set, const char *name)
{
    local_set *s = (local_set *)set;
    pthread_mutex_lock(&s->lock);
    cmx_budget_counter *c = s->head;
    while (c && strcmp(c->name, name) != 0)
        c = c->next;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (c && !(c->name = strdup(name))) {
            free(c);
            c = NULL;
        }
        if (c) {
            pthread_mutex_init(&c->lock, NULL);
            c->period_start_ms = INT64_MIN;
            c->next = s->head;
            s->head = c;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return c;
}

static double local_spent(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms)
{
    (void)set;
    pthread_mutex_lock(&c->lock);
    double v = 0;
    if (c->period_start_ms == period_start_ms)
        v = c->ledger + c->pending > c->fleet ? c->ledger + c->pending : c->fleet;
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void local_charge(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms,
                         double usd)
{
    (void)set;
    pthread_mutex_lock(&c->lock);
    roll(c, period_start_ms);
    /* The fleet's total as last seen did not count this charge yet: until
     * the store's answer raises it, the charge is added to it here, so the
     * fleet's spend known here never lags this process's own. */
    if (c->period_start_ms == period_start_ms) {
        c->pending += usd;
        c->fleet += usd;
    }
    pthread_mutex_unlock(&c->lock);
}

static void local_committed(cmx_budget_counters *set, cmx_budget_counter *c,
                            int64_t period_start_ms, double usd)
{
    (void)set;
    pthread_mutex_lock(&c->lock);
    /* From pending to the ledger's part: the total stays, and the next sync
     * (which now sees the row) replaces the ledger's part anyway. */
    if (c->period_start_ms == period_start_ms) {
        c->pending -= usd;
        if (c->pending < 0)
            c->pending = 0;
        c->ledger += usd;
    }
    pthread_mutex_unlock(&c->lock);
}

static void local_from_ledger(cmx_budget_counters *set, cmx_budget_counter *c,
                              int64_t period_start_ms, double usd)
{
    (void)set;
    pthread_mutex_lock(&c->lock);
    roll(c, period_start_ms);
    if (c->period_start_ms == period_start_ms)
        c->ledger = usd;
    pthread_mutex_unlock(&c->lock);
}

static void local_from_fleet(cmx_budget_counters *set, cmx_budget_counter *c,
                             int64_t period_start_ms, double usd)
{
    (void)set;
    pthread_mutex_lock(&c->lock);
    roll(c, period_start_ms);
    if (c->period_start_ms == period_start_ms && usd > c->fleet)
        c->fleet = usd;
    pthread_mutex_unlock(&c->lock);
}

static void local_free(cmx_budget_counters *set)
{
    local_set *s = (local_set *)set;
    for (cmx_budget_counter *c = s->head, *next; c; c = next) {
        next = c->next;
        pthread_mutex_destroy(&c->lock);
        free(c->name);
        free(c);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const cmx_budget_counters_ops local_ops = {
    local_counter,     local_spent,      local_charge, local_committed,
    local_from_ledger, local_from_fleet, local_free,
};

cmx_budget_counters *cmx_budget_counters_local_new(void)
{
    local_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &local_ops;
    pthread_mutex_init(&s->lock, NULL);
    return &s->base;
}
