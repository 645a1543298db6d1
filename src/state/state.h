/* state.h — what the replicas of a fleet share, behind one interface.
 *
 * Without `state.redis` everything is in-process: counters live in this
 * process's memory, leases are always granted, events go nowhere, and the
 * response cache is a byte-bounded LRU.  With `state.redis` the same calls go
 * to Redis: counters are checked and counted atomically by a Lua script
 * (one round trip, pipelined with the rest), leases are `SET NX PX`, events
 * (a breaker opened, a cooldown was learned, a health check's verdict) are
 * stored under their key and published to every replica, and the cache is
 * Redis keys with a TTL.
 *
 * Nothing here ever waits on Redis longer than `state.redis.timeout`: every
 * call answers through its callback, either at once (in-process, or Redis is
 * down) or when Redis replies, or with CMX_STATE_UNAVAILABLE when the time is
 * up.  Callers decide locally on UNAVAILABLE (fail-open), unless they chose
 * to refuse (`fail_closed`).
 *
 * Objects: one cmx_state per process (the config, the local stores, the
 * event subscribers, the counters for /metrics) and one cmx_state_worker per
 * worker thread (its own Redis connection on its own event loop).  Calls on
 * a cmx_state_worker are made on that worker's thread; callbacks run there.
 *
 * For other modules (budgets): cmx_state_counters_add() is a generic
 * increment-and-check over named, windowed counters that is atomic across
 * the fleet.  See "Counters" below. */
#ifndef CMX_STATE_STATE_H
#define CMX_STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"

struct event_base;
struct evdns_base;

typedef struct cmx_state cmx_state;
typedef struct cmx_state_worker cmx_state_worker;

/* cfg->state decides the backend.  The worker count sizes the connection
 * table. */
cmx_state *cmx_state_new(const cmx_state_config *cfg, int n_workers, cmx_error *err);
void cmx_state_free(cmx_state *st);
/* 1 when Redis is configured (a fleet), 0 for in-process state. */
int cmx_state_is_shared(const cmx_state *st);
/* 1 when every connection of this process is up (always 1 in-process). */
int cmx_state_is_up(const cmx_state *st);
/* state.redis.fail_closed */
int cmx_state_fail_closed(const cmx_state *st);
/* This process's random id, as it appears in events and leases. */
const char *cmx_state_origin(const cmx_state *st);

/* Worker index i's connection, made on its event loop.  The worker with
 * `subscriber` set also receives the fleet's events. */
cmx_state_worker *cmx_state_worker_new(cmx_state *st, int index, struct event_base *base,
                                       struct evdns_base *dns, int subscriber, cmx_error *err);
void cmx_state_worker_free(cmx_state_worker *w);
cmx_state *cmx_state_of(cmx_state_worker *w);
int cmx_state_worker_is_up(const cmx_state_worker *w);

typedef enum cmx_state_verdict {
    CMX_STATE_YES = 0,     /* admitted, granted, found */
    CMX_STATE_NO,          /* refused, held by another replica, not found */
    CMX_STATE_UNAVAILABLE, /* Redis did not answer in time or is down: decide locally */
} cmx_state_verdict;

/* Forget a pending call: its callback will not run.  id 0 is ignored. */
void cmx_state_cancel(cmx_state_worker *w, uint64_t id);

/* --- Counters ------------------------------------------------------------
 * A counter is a named sum over a window.  `buckets` = 1 is a fixed window
 * that resets at every multiple of window_ms since the Unix epoch (for
 * calendar periods, put the period in the name, e.g. "budget:team-a:2025-06",
 * and use window_ms as the key's lifetime); `buckets` > 1 (at most 60) is a
 * sliding window that moves in steps of window_ms / buckets.
 *
 * cmx_state_counters_add() checks all n counters and, only if each one has
 * room, adds each delta: one atomic step for the whole fleet.  A counter has
 * room when limit is 0, delta ≤ 0, total + delta ≤ limit, or (allow_first)
 * its total is 0.  `force` adds without checking (settling a reservation).
 * The callback gets YES or NO with the totals after the call (totals[i] for
 * counter i), or UNAVAILABLE when Redis could not answer: then the counters
 * were decided and counted in this process's own copy instead. */
typedef struct cmx_state_counter {
    const char *name;
    uint64_t window_ms;
    uint32_t buckets;
    int64_t limit;
    int64_t delta;
    bool allow_first;
} cmx_state_counter;

#define CMX_STATE_MAX_COUNTERS 8

typedef void (*cmx_state_counters_cb)(void *ctx, cmx_state_verdict v, const int64_t *totals,
                                      size_t n);

/* Returns an id for cmx_state_cancel while the answer is pending, or 0 when
 * the callback has already run (in-process, Redis down, or n invalid). */
uint64_t cmx_state_counters_add(cmx_state_worker *w, const cmx_state_counter *counters, size_t n,
                                bool force, cmx_state_counters_cb cb, void *ctx);

/* A counter asked on every request (a target's rpm/tpm): the same check as
 * cmx_state_counters_add() without force, and the same callback, but in a
 * fleet usually answered at once from this process's allowance: units of
 * the counter that the store has already counted for this process and that
 * it hands out without a round trip (allowance.h says how much it holds and
 * for how long).  Without enough credit (the first requests, near the
 * limit, after a quiet second) it is exactly counters_add.  Either way the
 * fleet admits no more than the limit.  On the fast path `totals` are the
 * fleet's totals as last seen minus this process's unspent credit, an
 * approximation.  In-process, and while Redis is down, it is counters_add.
 * A counter without a limit (0) gets no allowance. */
uint64_t cmx_state_counters_take(cmx_state_worker *w, const cmx_state_counter *counters, size_t n,
                                 cmx_state_counters_cb cb, void *ctx);
/* Adds without checking (settling a reservation) and reports nothing:
 * counted in this process's copy at once and, in a fleet, sent to the
 * store with other additions within CMX_ALLOWANCE_SETTLE_MS (10 ms).  While
 * Redis is down it is counted here only. */
void cmx_state_counters_settle(cmx_state_worker *w, const cmx_state_counter *counters, size_t n);
/* For tests: the monotonic clock allowances go by (NULL: the real one). */
void cmx_state_set_clock(cmx_state *st, const cmx_clock *clock);

/* The in-process half on its own (what counters_add falls back to); for
 * tests and for callers that need an answer now. */
cmx_state_verdict cmx_state_local_counters_add(cmx_state *st, const cmx_state_counter *counters,
                                               size_t n, bool force, uint64_t now_ms,
                                               int64_t *totals);

/* --- Leases --------------------------------------------------------------
 * One holder at a time across the fleet, for ttl_ms (SET NX PX).  In-process
 * a lease is always granted.  UNAVAILABLE: Redis could not say. */
typedef void (*cmx_state_lease_cb)(void *ctx, cmx_state_verdict v);
uint64_t cmx_state_lease(cmx_state_worker *w, const char *name, uint32_t ttl_ms,
                         cmx_state_lease_cb cb, void *ctx);
/* Gives a lease back early, if this process still holds it. */
void cmx_state_lease_release(cmx_state_worker *w, const char *name);

/* --- Events --------------------------------------------------------------
 * A target's or provider's shared status, e.g. "breaker open until T".  An
 * event is stored under its subject (for replicas that connect later) for
 * ttl_ms and published to every replica but this one.  In-process: no-op. */
typedef enum cmx_state_event_kind {
    CMX_EVENT_BREAKER_OPEN = 1, /* until_wall_ms = end of the cooldown, value = cooldown ms */
    CMX_EVENT_BREAKER_CLOSED,
    CMX_EVENT_COOLDOWN,    /* until_wall_ms = end of a Retry-After */
    CMX_EVENT_HEALTH_DOWN, /* subject is a provider name */
    CMX_EVENT_HEALTH_UP,
} cmx_state_event_kind;

typedef struct cmx_state_event {
    cmx_state_event_kind kind;
    uint64_t until_wall_ms;
    uint64_t value;
    const char *subject; /* "group|provider|model" for targets, the provider's name for health */
} cmx_state_event;

void cmx_state_publish(cmx_state_worker *w, const cmx_state_event *ev, uint32_t ttl_ms);

/* Who hears events: called on the subscriber worker's thread, for events
 * of other replicas and for what a resync reads back.  One listener. */
typedef void (*cmx_state_event_fn)(void *ctx, const cmx_state_event *ev);
void cmx_state_set_listener(cmx_state *st, cmx_state_event_fn fn, void *ctx);

/* Reads back the stored events of these subjects (breakers, cooldowns and
 * health) and hands each to the listener; called by the subscriber worker on
 * every reconnect.  `kinds_are_health` picks the health namespace. */
void cmx_state_resync(cmx_state_worker *w, const char *const *subjects, size_t n,
                      int kinds_are_health);
/* Called (on the subscriber worker's thread) whenever its connection comes
 * up, so the owner can resync and republish what it knows. */
typedef void (*cmx_state_up_fn)(void *ctx, cmx_state_worker *w);
void cmx_state_set_on_up(cmx_state *st, cmx_state_up_fn fn, void *ctx);

/* --- Response cache ------------------------------------------------------
 * Values are opaque bytes under a key (a hex digest).  Lookups answer YES with
 * the bytes, NO, or UNAVAILABLE (then the local LRU was consulted instead
 * and its answer is in v: YES/NO are the only values passed when local). */
typedef void (*cmx_state_cache_cb)(void *ctx, cmx_state_verdict v, const char *value, size_t len);
uint64_t cmx_state_cache_get(cmx_state_worker *w, const char *key, cmx_state_cache_cb cb,
                             void *ctx);
void cmx_state_cache_put(cmx_state_worker *w, const char *key, const char *value, size_t len,
                         uint32_t ttl_ms);
/* Largest value worth storing. */
size_t cmx_state_cache_max_value(const cmx_state *st);

/* --- Observability ------------------------------------------------------- */
typedef struct cmx_state_stats {
    int shared;
    int up;
    uint64_t timeouts, errors, disconnects, fallbacks;
    /* counters_take: decided from the allowance, by the store, locally */
    uint64_t by_allowance, by_store, by_local, grants;
    uint64_t cache_entries, cache_bytes; /* the in-process LRU */
} cmx_state_stats;
void cmx_state_get_stats(cmx_state *st, cmx_state_stats *out);
/* Appends the cloudmux_state_* metric families. */
void cmx_state_format_metrics(cmx_state *st, cmx_buf *out);

#endif
