/* budget_counters.h — what a key or a team has spent in its current budget
 * period, behind one small interface.
 *
 * The request path asks `spent` before it admits a request and `charge`s the
 * cost when the request ends; neither may block.  The in-process set
 * (cmx_budget_counters_local_new) keeps, per counter and period, what the
 * shared ledger says was spent (`from_ledger`, refreshed every
 * governance.budget_sync by a background thread, all replicas included) plus
 * what this process charged that the ledger has not committed yet (`pending`,
 * moved over by `committed` once the ledger writer has written the row).  The
 * ledger writer commits and confirms, and the sync reads and sets, under one
 * lock, so no charge is counted twice or missed.  A fleet sharing a
 * PostgreSQL store thus enforces one budget, within one sync interval.
 * With state.redis every charge also goes to a shared counter, whose answer
 * (`from_fleet`, the fleet's total) raises what is known to be spent before
 * the ledger shows it.  A shared set (Redis)
 * implements the same calls against the shared counter and may ignore committed/from_ledger.
 *
 * A counter's period is its start time; a charge for a later period starts
 * it afresh, and calls about an earlier period are ignored. */
#ifndef CMX_GOVERNANCE_BUDGET_COUNTERS_H
#define CMX_GOVERNANCE_BUDGET_COUNTERS_H

#include <stdint.h>

typedef struct cmx_budget_counter cmx_budget_counter;
typedef struct cmx_budget_counters cmx_budget_counters;

typedef struct cmx_budget_counters_ops {
    /* The counter named `name` ("key:ID", "team:ID"), made on first use; it
     * lives as long as the set.  NULL when out of memory. */
    cmx_budget_counter *(*counter)(cmx_budget_counters *set, const char *name);
    double (*spent)(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms);
    void (*charge)(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms,
                   double usd);
    /* The ledger has durably written `usd` charged earlier in that period. */
    void (*committed)(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms,
                      double usd);
    /* The shared ledger's total for the period, every replica's rows included. */
    void (*from_ledger)(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms,
                        double usd);
    /* The fleet's shared counter (state.redis) for the period, as it answered
     * a charge: spent is then at least this. */
    void (*from_fleet)(cmx_budget_counters *set, cmx_budget_counter *c, int64_t period_start_ms,
                       double usd);
    void (*free)(cmx_budget_counters *set);
} cmx_budget_counters_ops;

struct cmx_budget_counters {
    const cmx_budget_counters_ops *ops;
};

/* Counters in this process's memory. */
cmx_budget_counters *cmx_budget_counters_local_new(void);

#endif
