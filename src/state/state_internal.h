/* state_internal.h — what the files of state/ share: the process object,
 * the worker object, and the pieces each file owns (counters, events and
 * leases, the cache). */
#ifndef CMX_STATE_INTERNAL_H
#define CMX_STATE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "state/redis_conn.h"
#include "state/state.h"

typedef struct cmx_local_counters cmx_local_counters;
typedef struct cmx_lru cmx_lru;

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
