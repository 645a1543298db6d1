/* state_internal.h — what the files of state/ share: the process object,
 * the worker object, the counter table, and the pieces each file owns
 * (counters, allowances, events and leases, the cache). */
#ifndef CMX_STATE_INTERNAL_H
#define CMX_STATE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/clock.h"
#include "state/allowance.h"
#include "state/redis_conn.h"
#include "state/state.h"

typedef struct cmx_lru cmx_lru;
struct event;

#define CMX_LOCAL_MAX_BUCKETS 60
#define CMX_LOCAL_TABLE_SIZE 1024

/* One named counter as this process knows it: its own count (the local
 * copy, what a fallback decides on) and, in a fleet, its allowance. */
typedef struct cmx_local_counter {
    struct cmx_local_counter *next;
    char *name;
    uint64_t bucket_ms;
    uint32_t n_buckets;
    uint64_t last_bucket; /* newest bucket touched */
    uint64_t stamp[CMX_LOCAL_MAX_BUCKETS];
    int64_t value[CMX_LOCAL_MAX_BUCKETS];
    cmx_allowance al;
    int owner;                  /* the worker that gives its credit back and sends its additions */
    uint64_t epoch;             /* the connection epoch (cmx_state.conn_epoch) its credit is from */
    struct cmx_state_op *grant; /* the grant asked (while al.asking) ... */
    int grant_worker;           /* ... on this worker's connection */
} cmx_local_counter;

typedef struct cmx_local_counters {
    pthread_mutex_t lock;
    cmx_local_counter *slots[CMX_LOCAL_TABLE_SIZE];
    uint64_t calls;
} cmx_local_counters;

struct cmx_state {
    int shared;
    cmx_redis_address addr;
    char *prefix;
    uint32_t timeout_ms;
    int fail_closed;
    char origin[17]; /* 16 hex digits */
    char counter_sha[41], release_sha[41];
    cmx_local_counters *counters;
    cmx_lru *cache;
    size_t cache_max_value;
    cmx_state_event_fn listener;
    void *listener_ctx;
    cmx_state_up_fn on_up;
    void *on_up_ctx;
    const cmx_clock *clock;          /* allowances' monotonic time (tests set their own) */
    atomic_uint_fast64_t conn_epoch; /* goes up each time a command connection is lost */
    atomic_uint_fast64_t by_allowance, by_store, by_local; /* counters_take decisions */
    atomic_uint_fast64_t grants;                           /* allowance grants received */
    cmx_state_worker **workers; /* for stats; a slot is NULL until made */
    int n_workers;
    atomic_int conns_total; /* connections made (command + subscriber) */
    atomic_int conns_up;
    atomic_int all_up; /* last logged aggregate */
    atomic_int warned; /* "cannot reach" said since the last time all were up */
    atomic_uint_fast64_t fallbacks;
    pthread_mutex_t log_lock;
};

struct cmx_state_worker {
    cmx_state *st;
    int index;
    cmx_redis *conn; /* commands */
    cmx_redis *sub;  /* events, on the subscriber worker only */
    int conn_up, sub_up;
    struct event_base *base;
    struct event *tick;   /* gives back expired credit, sends deferred additions */
    uint64_t tick_due_ms; /* when it is set for; 0: not set */
};

/* One pending call: a malloc'd record the Redis reply callback frees.
 * Cancelling clears the caller's callback; the record still goes when the
 * reply (or timeout) comes. */
typedef struct cmx_state_op {
    void (*on_reply)(struct cmx_state_op *op, const redisReply *reply); /* NULL reply: timeout */
    void *cb; /* caller's; NULL: cancelled */
    void *ctx;
    cmx_state_worker *w;
    size_t n;
    cmx_state_counter counters[CMX_STATE_MAX_COUNTERS]; /* counters: for the local fallback */
    char *names;                                        /* their names, one block */
    int force;
    uint64_t sent_ms;                         /* allowance grants: when asked (the state's clock) */
    int64_t promised[CMX_STATE_MAX_COUNTERS]; /* grants: what the waiters will take of each */
    struct cmx_state_op *waiters; /* grants: requests waiting for the credit, oldest first */
    struct cmx_state_op *last_waiter;
    struct cmx_state_op *next; /* the next waiter */
} cmx_state_op;

/* Sends argv on w's command connection with op as the context; returns the
 * id to hand back (the op's address) or 0 when not sent (op freed). */
uint64_t cmx_state_send(cmx_state_worker *w, cmx_state_op *op, int argc, const char **argv,
                        const size_t *lens);
/* A command whose answer nobody needs. */
void cmx_state_send_and_forget(cmx_state_worker *w, int argc, const char **argv,
                               const size_t *lens);
/* Counts a decision taken locally because Redis could not help. */
void cmx_state_note_fallback(cmx_state *st);

/* state_counters.c */
cmx_local_counters *cmx_local_counters_new(void);
void cmx_local_counters_free(cmx_local_counters *c);
extern const char cmx_state_counter_script[];
extern const char cmx_state_release_script[];
/* Under c->lock: the counter named sc->name, made (with sc's shape) if new;
 * NULL when out of memory. */
cmx_local_counter *cmx_local_counter_find(cmx_local_counters *c, const cmx_state_counter *sc);
/* A counter's bucket length and count, as the script and the local copy
 * cut its window (1 to 60 buckets, each at least 1 ms). */
void cmx_state_counter_shape(const cmx_state_counter *sc, uint64_t *bucket_ms, uint32_t *n);
/* Under c->lock, first thing: every so many calls, counters that hold
 * nothing any more are dropped (so pointers taken before are not safe). */
void cmx_local_counters_count_call(cmx_local_counters *c, uint64_t now_wall_ms);
/* Under c->lock: adds delta to the local copy at wall time now_ms. */
void cmx_local_counter_add(cmx_local_counter *lc, uint64_t now_ms, int64_t delta);
/* Sends the counter script for counters[0..n) with op (its on_reply, cb and
 * ctx set by the caller); at[i] nonzero puts counter i's delta in that
 * bucket of the store instead of the current one (NULL: all current).
 * Returns the id, or 0 when nothing was sent (op freed). */
uint64_t cmx_state_send_counters(cmx_state_worker *w, cmx_state_op *op,
                                 const cmx_state_counter *counters, size_t n, bool force,
                                 const uint64_t *at);
/* The answer of a counters_add op (for ops made elsewhere and sent as one). */
void cmx_state_on_counters_reply(cmx_state_op *op, const redisReply *reply);
/* Decides in this process's copy and answers at once; fell_back: because
 * the store could not (the verdict is then UNAVAILABLE). */
void cmx_state_counters_local(cmx_state *st, const cmx_state_counter *counters, size_t n,
                              bool force, cmx_state_counters_cb cb, void *ctx, int fell_back);
/* A usable script answer for n counters: {admitted, total_1..total_n,
 * store_ms}. */
int cmx_state_counters_reply_ok(const redisReply *reply, size_t n);
/* Under no lock: each counter's total from an answer of the store, into its
 * allowance; and, when `counted`, the deltas into the local copy. */
void cmx_state_mirror_answer(cmx_state *st, const cmx_state_counter *counters, size_t n,
                             int counted, const int64_t *totals);

/* state_allowance.c */
/* The state's monotonic clock in milliseconds. */
uint64_t cmx_state_now_ms(const cmx_state *st);
/* Gives back w's expired credit and sends its due additions; sets w's
 * timer for the next.  Run by the timer; tests call it directly. */
void cmx_state_allowance_tick(cmx_state_worker *w);

/* state_cache.c: the in-process LRU. */
cmx_lru *cmx_lru_new(size_t max_bytes);
void cmx_lru_free(cmx_lru *l);
/* Copies the value into out (grown as needed); 1 when found and fresh. */
int cmx_lru_get(cmx_lru *l, const char *key, uint64_t now_ms, cmx_buf *out);
void cmx_lru_put(cmx_lru *l, const char *key, const char *value, size_t len, uint64_t expires_ms);
void cmx_lru_stats(cmx_lru *l, uint64_t *entries, uint64_t *bytes);

/* state_events.c: a subscriber connection's messages. */
void cmx_state_on_push(void *ctx, const redisReply *reply);
void cmx_state_subscribe(cmx_state_worker *w);

#endif
