/* ledger.h — the spend ledger's writer: one row per request, written off
 * the event loop.
 *
 * Workers hand finished requests' rows to the ledger without blocking and
 * without allocating: each worker has its own ring (single producer, single
 * consumer, preallocated).  One writer thread drains the rings and commits a
 * batch — raw rows and their hourly roll-ups in one transaction — whenever
 * governance.ledger.batch_rows rows wait or batch_interval (100 ms) has
 * passed, whichever comes first.  After a commit it tells the budget
 * counters which charges are now in the ledger.
 *
 * A failing store never stops requests: the batch is kept and retried, rows
 * that find their ring full are dropped and counted, both are logged.  With
 * fail_closed the gateway asks cmx_ledger_healthy() and refuses requests
 * while writes fail or rows are being dropped.  Raw rows older than the
 * retention are deleted in small steps, once an hour. */
#ifndef CMX_GOVERNANCE_LEDGER_H
#define CMX_GOVERNANCE_LEDGER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "governance/budget_counters.h"
#include "governance/policy.h"
#include "store/store.h"

struct cmx_audit;

typedef struct cmx_ledger_item {
    cmx_ledger_row row;
    cmx_gov_charge charge; /* what the request charged, to confirm after the commit */
} cmx_ledger_item;

typedef struct cmx_ledger_settings {
    const char *store_url;
    const char *replica;
    size_t producers; /* one ring each (the workers) */
    uint32_t batch_rows;
    uint32_t batch_interval_ms;
    uint32_t queue_rows; /* shared out among the rings */
    uint64_t retention_ms;
    cmx_budget_counters *counters;
    struct cmx_audit *audit;      /* per-request audit records, or NULL */
    pthread_mutex_t *commit_lock; /* held over each commit and its confirmations */
    /* The clock rows are pruned by (the governance's wall clock). */
    int64_t (*now_ms)(void *ctx);
    void *clock_ctx;
} cmx_ledger_settings;

typedef struct cmx_ledger cmx_ledger;

/* Opens its own store connection and starts the writer thread. */
cmx_ledger *cmx_ledger_start(const cmx_ledger_settings *s, cmx_error *err);
/* Writes everything still queued, then stops the thread. */
void cmx_ledger_stop(cmx_ledger *l);

/* Queues a row from producer i; 0, or -1 when its ring is full (counted). */
int cmx_ledger_put(cmx_ledger *l, size_t producer, const cmx_ledger_item *item);

/* 0 while the last write failed or rows were dropped since the last good one. */
int cmx_ledger_healthy(const cmx_ledger *l);

typedef struct cmx_ledger_stats {
    uint64_t rows_written;
    uint64_t rows_dropped;
    uint64_t write_errors;
    uint64_t commits;
    uint64_t queued; /* rows waiting now */
} cmx_ledger_stats;
void cmx_ledger_get_stats(const cmx_ledger *l, cmx_ledger_stats *out);

#endif
