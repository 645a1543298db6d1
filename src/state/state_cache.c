/* state_cache.c — the response cache's storage: an in-process LRU bounded
 * in bytes, and Redis keys with a TTL when the state is shared.
 *
 * The LRU is one hash table (chained, keys are hex digests) threaded on a
 * recency list, under one lock: a lookup copies the value out under the lock
 * (values are small, and copying keeps eviction free to run at any time).
 * Entries past their TTL are dropped when met.  Putting a value evicts the
 * least recently used entries until the total fits the bound.
 *
 * With Redis, lookups and stores go there; while Redis is down, or when a
 * lookup is not answered in time, the local LRU serves instead. */
#include "state/state_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define BUCKETS 4096
#define ENTRY_OVERHEAD 96 /* what an entry costs besides its key and value */

typedef struct lru_entry {
    struct lru_entry *hnext;
    struct lru_entry *prev, *next; /* recency: head is the most recent */
    uint64_t expires_ms;
    size_t len;
    char *key;
    char *value;
} lru_entry;

struct cmx_lru {
    pthread_mutex_t lock;
    size_t max_bytes, bytes, entries;
    lru_entry *buckets[BUCKETS];
    lru_entry *head, *tail;
};

static size_t hash_key(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % BUCKETS;
}

cmx_lru *cmx_lru_new(size_t max_bytes)
{
    cmx_lru *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->max_bytes = max_bytes;
    return l;
}

static size_t cost(const lru_entry *e)
{
    return ENTRY_OVERHEAD + strlen(e->key) + e->len;
}

static void unlink_recency(cmx_lru *l, lru_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(cmx_lru *l, lru_entry *e)
{
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    l->head = e;
    if (!l->tail)
        l->tail = e;
}

static void remove_entry(cmx_lru *l, lru_entry *e)
{
    lru_entry **pp = &l->buckets[hash_key(e->key)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    unlink_recency(l, e);
    l->bytes -= cost(e);
    l->entries--;
    free(e->key);
    free(e->value);
    free(e);
}

void cmx_lru_free(cmx_lru *l)
{
    if (!l)
        return;
    while (l->head)
        remove_entry(l, l->head);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static lru_entry *lookup(cmx_lru *l, const char *key)
{
    for (lru_entry *e = l->buckets[hash_key(key)]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

int cmx_lru_get(cmx_lru *l, const char *key, uint64_t now_ms, cmx_buf *out)
{
    int found = 0;
    pthread_mutex_lock(&l->lock);
    lru_entry *e = lookup(l, key);
    if (e && e->expires_ms <= now_ms) {
        remove_entry(l, e);
        e = NULL;
    }
    if (e) {
        unlink_recency(l, e);
        push_front(l, e);
        cmx_buf_reset(out);
        cmx_buf_append(out, e->value, e->len);
        found = out->data != NULL || e->len == 0;
    }
    pthread_mutex_unlock(&l->lock);
    return found;
}

void cmx_lru_put(cmx_lru *l, const char *key, const char *value, size_t len, uint64_t expires_ms)
{
    lru_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key)) || !(e->value = malloc(len ? len : 1))) {
        if (e)
            free(e->key);
        free(e);
        return;
    }
    memcpy(e->value, value, len);
    e->len = len;
    e->expires_ms = expires_ms;
    if (cost(e) > l->max_bytes) {
        free(e->key);
        free(e->value);
        free(e);
        return;
    }
    pthread_mutex_lock(&l->lock);
    lru_entry *old = lookup(l, key);
    if (old)
        remove_entry(l, old);
    while (l->tail && l->bytes + cost(e) > l->max_bytes)
        remove_entry(l, l->tail);
    size_t h = hash_key(key);
    e->hnext = l->buckets[h];
    l->buckets[h] = e;
    push_front(l, e);
    l->bytes += cost(e);
    l->entries++;
    pthread_mutex_unlock(&l->lock);
}

void cmx_lru_stats(cmx_lru *l, uint64_t *entries, uint64_t *bytes)
{
    pthread_mutex_lock(&l->lock);
    *entries = l->entries;
    *bytes = l->bytes;
    pthread_mutex_unlock(&l->lock);
}

/* --- the store behind cmx_state_cache_* ----------------------------------- */

static void local_get(cmx_state *st, const char *key, cmx_state_cache_cb cb, void *ctx)
{
    cmx_buf value = CMX_BUF_INIT;
    if (cmx_lru_get(st->cache, key, cmx_wall_ms(), &value))
        cb(ctx, CMX_STATE_YES, value.data ? value.data : "", value.len);
    else
        cb(ctx, CMX_STATE_NO, NULL, 0);
    cmx_buf_free(&value);
}

typedef struct cache_get_op {
    cmx_state_op op;
    char key[];
} cache_get_op;

static void on_get_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_cache_cb cb = (cmx_state_cache_cb)op->cb;
    if (!cb)
        return;
    if (reply && reply->type == REDIS_REPLY_STRING) {
        cb(op->ctx, CMX_STATE_YES, reply->str, reply->len);
    } else if (reply && reply->type == REDIS_REPLY_NIL) {
        cb(op->ctx, CMX_STATE_NO, NULL, 0);
    } else {
        cmx_state_note_fallback(op->w->st);
        local_get(op->w->st, ((cache_get_op *)op)->key, cb, op->ctx);
    }
}

uint64_t cmx_state_cache_get(cmx_state_worker *w, const char *key, cmx_state_cache_cb cb, void *ctx)
{
    cmx_state *st = w->st;
    if (!st->shared || !cmx_state_worker_is_up(w)) {
        local_get(st, key, cb, ctx);
        return 0;
    }
    size_t klen = strlen(key);
    cache_get_op *g = calloc(1, sizeof *g + klen + 1);
    char *rkey = NULL;
    if (!g || asprintf(&rkey, "%scache:%s", st->prefix, key) < 0) {
        free(g);
        local_get(st, key, cb, ctx);
        return 0;
    }
    memcpy(g->key, key, klen + 1);
    g->op.on_reply = on_get_reply;
    g->op.cb = (void *)cb;
    g->op.ctx = ctx;
    const char *argv[2] = {"GET", rkey};
    uint64_t id = cmx_state_send(w, &g->op, 2, argv, NULL);
    free(rkey);
    if (!id)
        local_get(st, key, cb, ctx);
    return id;
}

void cmx_state_cache_put(cmx_state_worker *w, const char *key, const char *value, size_t len,
                         uint32_t ttl_ms)
{
    cmx_state *st = w->st;
    if (len > st->cache_max_value)
        return;
    if (!st->shared || !cmx_state_worker_is_up(w)) {
        cmx_lru_put(st->cache, key, value, len, cmx_wall_ms() + ttl_ms);
        return;
    }
    char *rkey = NULL;
    if (asprintf(&rkey, "%scache:%s", st->prefix, key) < 0)
        return;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%u", ttl_ms ? ttl_ms : 1);
    const char *argv[5] = {"SET", rkey, value, "PX", ttl};
    size_t lens[5] = {3, strlen(rkey), len, 2, strlen(ttl)};
    cmx_state_send_and_forget(w, 5, argv, lens);
    free(rkey);
}
