/* retry_budget.h — a cap on retries relative to traffic (Envoy's "retry
 * budgets").
 *
 * Retries help when a few requests fail and hurt when everything fails: each
 * failing request turns into several, and the outage feeds on itself.  A
 * budget says retries may be at most budget_percent of the requests seen
 * recently, so a widespread failure quickly stops multiplying load, while
 * min_retries keeps a floor so that at low traffic (one request a minute)
 * an isolated failure can still be retried.  Envoy counts concurrently
 * active requests and retries; here both are counted over a sliding window
 * (window.h), which needs no "retry finished" bookkeeping from the caller and
 * behaves the same under steady load.  min_retries plays the role of Envoy's
 * min_retry_concurrency: that many retries per window are always allowed.
 *
 * One budget per model group (or per router), shared by all workers: a
 * pthread mutex guards the window; each call holds it for a few dozen
 * nanoseconds. */
#ifndef CMX_ROUTER_RETRY_BUDGET_H
#define CMX_ROUTER_RETRY_BUDGET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/window.h"

typedef struct cmx_retry_budget_config {
    uint32_t budget_percent; /* retries ≤ this % of requests in the window */
    uint32_t min_retries;    /* always allowed per window, whatever the traffic */
    uint32_t window_ms;
} cmx_retry_budget_config;

typedef struct cmx_retry_budget {
    pthread_mutex_t lock;
    cmx_retry_budget_config cfg;
    cmx_window window; /* [0] requests, [1] retries */
} cmx_retry_budget;

/* Defaults: 20% (Envoy's default), 3 retries per window floor, 10 s window. */
cmx_retry_budget_config cmx_retry_budget_config_default(void);

cmx_err cmx_retry_budget_init(cmx_retry_budget *b, const cmx_retry_budget_config *cfg,
                              cmx_error *err);
void cmx_retry_budget_destroy(cmx_retry_budget *b);

/* A client call arrived (count it once, not once per attempt). */
void cmx_retry_budget_record_request(cmx_retry_budget *b, uint64_t now_us);
/* Is there room for one more retry?  Does not count it. */
bool cmx_retry_budget_allow(cmx_retry_budget *b, uint64_t now_us);
/* A retry was made. */
void cmx_retry_budget_record_retry(cmx_retry_budget *b, uint64_t now_us);
/* allow() and record_retry() under one lock, so concurrent workers cannot
 * both take the last slot: what the attempt loop should use. */
bool cmx_retry_budget_acquire(cmx_retry_budget *b, uint64_t now_us);

#endif
