/* breaker.h — a per-deployment circuit breaker, as operators know it.
 *
 * The idea of Envoy's outlier detection and nginx's max_fails/fail_timeout: a
 * deployment that keeps failing is taken out of rotation for a while instead
 * of costing every request a failed attempt, then let back in carefully.
 *
 *   closed ──(N consecutive failures, or error rate ≥ threshold% over the
 *   │         window with at least min_requests in it)──▶ open
 *   open ──(cooldown elapsed; the next allow() admits a probe)──▶ half_open
 *   half_open ──(half_open_probes successes)──▶ closed (cooldown back to base)
 *   half_open ──(a probe fails)──▶ open, cooldown doubled up to max_cooldown
 *
 * Only the provider's failures count (cmx_breaker_counts_as_failure): rate
 * limited, timeout, unavailable, upstream protocol, provider auth.  The
 * client's own errors (bad request, context window, content policy) and
 * cancellations say nothing about the deployment's health and are ignored.
 *
 * Time comes in as now_us (read once per request from a cmx_clock), so tests
 * drive it by hand.  Thread-safety: one breaker is shared by all worker
 * threads.  A transition changes several fields together (state, counters,
 * window, cooldown, probe slots), so they sit behind a small pthread mutex:
 * uncontended it is one atomic exchange, and the lock is per deployment so
 * workers only meet when they hit the same deployment at the same instant.
 * The state is also mirrored in an atomic so allow() on a closed breaker —
 * the common case — takes no lock at all.
 *
 * Every attempt admitted by allow() must end in record() or cancel(): in
 * half-open that is what frees or settles the probe slot.  As a safety net a
 * probe that never reports is forgotten after one cooldown.
 *
 * In a fleet (cmx_breaker_set_fleet) the replicas share one breaker per
 * target: a trip here is published and every other replica applies it
 * (cmx_breaker_apply_remote), and half-open probing needs the fleet's probe
 * lease, so one replica probes while the others keep the breaker open.  When
 * the cooldown is over, allow() says no until the lease is held;
 * cmx_breaker_wants_lease() tells the caller to ask for it (once at a time)
 * and cmx_breaker_lease_answer() hands the answer back.  A lease the store
 * could not decide on is taken as granted: probing locally beats never
 * probing. */
#ifndef CMX_ROUTER_BREAKER_H
#define CMX_ROUTER_BREAKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/window.h"

typedef enum cmx_breaker_state {
    CMX_BREAKER_CLOSED = 0,
    CMX_BREAKER_OPEN,
    CMX_BREAKER_HALF_OPEN,
} cmx_breaker_state;

/* What a record() did, for logs and metrics. */
typedef enum cmx_breaker_transition {
    CMX_BREAKER_UNCHANGED = 0,
    CMX_BREAKER_TRIPPED,   /* closed → open */
    CMX_BREAKER_REOPENED,  /* half_open → open (a probe failed) */
    CMX_BREAKER_RECOVERED, /* half_open → closed */
} cmx_breaker_transition;

typedef struct cmx_breaker_config {
    uint32_t consecutive_failures; /* open after this many in a row; 0: rule off */
    uint32_t error_rate_threshold; /* percent 1..100 of failures in the window; 0: rule off */
    uint32_t window_ms;            /* error-rate window (required when the rule is on) */
    uint32_t min_requests;         /* no error-rate verdict on fewer requests than this */
    uint32_t cooldown_ms;          /* open → half_open after this */
    uint32_t max_cooldown_ms;      /* failed probes double the cooldown up to this;
                                      ≤ cooldown_ms: the cooldown never grows */
    uint32_t half_open_probes;     /* probes admitted in half_open, all must succeed; 0 → 1 */
} cmx_breaker_config;

typedef struct cmx_breaker {
    pthread_mutex_t lock;
    atomic_int state; /* cmx_breaker_state; written under lock, read anywhere */
    cmx_breaker_config cfg;
    uint32_t consecutive;     /* failures in a row while closed */
    uint64_t cooldown_us;     /* current cooldown (grows on failed probes) */
    uint64_t open_until_us;   /* while open: when probing may start */
    uint32_t probes_admitted; /* this half-open period's slots in use */
    uint32_t probes_pending;  /* admitted, no verdict yet */
    uint32_t probes_succeeded;
    uint64_t last_probe_us;
    uint64_t trips;          /* times it opened, for status */
    cmx_window window;       /* [0] requests, [1] failures, while closed */
    bool fleet;              /* half-open probing needs the fleet's lease */
    bool lease_asked;        /* a lease request is in flight */
    uint64_t lease_until_us; /* this replica may probe until then */
    uint64_t lease_retry_us; /* another replica holds it: ask again after this */
} cmx_breaker;

/* Defaults: 5 consecutive failures, or 50% over 10 s with at least 20
 * requests; 30 s cooldown growing to 5 min; 1 probe. */
cmx_breaker_config cmx_breaker_config_default(void);

/* Returns CMX_OK, or CMX_ERR_CONFIG with err saying which field is wrong. */
cmx_err cmx_breaker_init(cmx_breaker *b, const cmx_breaker_config *cfg, cmx_error *err);
void cmx_breaker_destroy(cmx_breaker *b);

/* May an attempt go to this deployment now?  In half_open a yes reserves a
 * probe slot, so call it only for an attempt about to start. */
bool cmx_breaker_allow(cmx_breaker *b, uint64_t now_us);
/* The same answer without reserving anything (for building an eligible set). */
bool cmx_breaker_would_allow(cmx_breaker *b, uint64_t now_us);
/* An admitted attempt ended without a verdict (cancelled, never sent). */
void cmx_breaker_cancel(cmx_breaker *b);
/* The outcome of an admitted attempt: CMX_OK for success, else its kind. */
cmx_breaker_transition cmx_breaker_record(cmx_breaker *b, uint64_t now_us, cmx_err kind);

/* Fleet mode on or off (see the top of this file). */
void cmx_breaker_set_fleet(cmx_breaker *b, bool fleet);
/* True once per needed lease: the cooldown is over, no lease is held or
 * asked for.  The caller asks the store and reports with lease_answer. */
bool cmx_breaker_wants_lease(cmx_breaker *b, uint64_t now_us);
/* granted: this replica may probe for one cooldown; not granted (held
 * elsewhere): ask again after retry_ms. */
void cmx_breaker_lease_answer(cmx_breaker *b, uint64_t now_us, bool granted, uint32_t retry_ms);
/* Another replica's transition: open until open_until_us with that
 * cooldown, or closed. */
void cmx_breaker_apply_remote(cmx_breaker *b, uint64_t now_us, bool open, uint64_t open_until_us,
                              uint64_t cooldown_us);
/* The cooldown of the current (or next) open period, in microseconds. */
uint64_t cmx_breaker_cooldown_us(cmx_breaker *b);

/* Does this kind of failure count against the deployment? */
bool cmx_breaker_counts_as_failure(cmx_err kind);

typedef struct cmx_breaker_status {
    cmx_breaker_state state; /* as the next request would see it: an open breaker
                                whose cooldown is over reports half_open */
    uint64_t open_until_us;  /* meaningful when open */
    uint32_t consecutive_failures;
    int64_t window_requests;
    int64_t window_failures;
    uint32_t cooldown_ms; /* the cooldown the next trip (or current one) uses */
    uint64_t trips;
} cmx_breaker_status;

void cmx_breaker_get_status(cmx_breaker *b, uint64_t now_us, cmx_breaker_status *out);
cmx_breaker_state cmx_breaker_state_at(cmx_breaker *b, uint64_t now_us);
/* "closed", "open", "half_open". */
const char *cmx_breaker_state_name(cmx_breaker_state s);

#endif
