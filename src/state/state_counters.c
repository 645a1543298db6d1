/* state_counters.c — named windowed counters, checked and counted in one
 * step: in this process (a small hash table under a lock) or across the
 * fleet (one Lua script in Redis, so no two replicas can both take the last
 * unit).
 *
 * A counter is a hash of buckets: field = bucket number (time / bucket
 * length), value = the sum counted in it.  The total is the sum of the live
 * buckets; dead ones are deleted as they are met.  Redis's own clock (TIME)
 * places the buckets, so the replicas' clocks do not have to agree. */
#include "state/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define MAX_BUCKETS 60
#define TABLE_SIZE 1024
#define SWEEP_EVERY 4096

/* ARGV[1] force; then per key: window_ms, buckets, limit, delta, allow_first.
 * Returns {admitted, total_1, ..., total_n}. */
const char cmx_state_counter_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local force = ARGV[1] == '1'\n"
    "local ok = 1\n"
    "local totals, cur, ttl = {}, {}, {}\n"
    "for i = 1, #KEYS do\n"
    "  local a = 1 + (i - 1) * 5\n"
    "  local win, nb = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])\n"
    "  local lim, d, first = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5] == '1'\n"
    "  local blen = math.max(1, math.floor(win / nb))\n"
    "  cur[i] = math.floor(now / blen)\n"
    "  ttl[i] = blen * (nb + 1)\n"
    "  local flat = redis.call('HGETALL', KEYS[i])\n"
    "  local sum, dead = 0, {}\n"
    "  for j = 1, #flat, 2 do\n"
    "    if tonumber(flat[j]) <= cur[i] - nb then dead[#dead + 1] = flat[j]\n"
    "    else sum = sum + tonumber(flat[j + 1]) end\n"
    "  end\n"
    "  if #dead > 0 then redis.call('HDEL', KEYS[i], unpack(dead)) end\n"
    "  totals[i] = sum\n"
    "  if not force and lim > 0 and d > 0 and not (first and sum <= 0) and sum + d > lim then\n"
    "    ok = 0\n"
    "  end\n"
    "end\n"
    "if ok == 1 then\n"
    "  for i = 1, #KEYS do\n"
    "    local d = tonumber(ARGV[1 + (i - 1) * 5 + 4])\n"
    "    if d ~= 0 then\n"
    "      redis.call('HINCRBY', KEYS[i], cur[i], d)\n"
    "      redis.call('PEXPIRE', KEYS[i], ttl[i])\n"
    "      totals[i] = totals[i] + d\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {ok}\n"
    "for i = 1, #KEYS do out[i + 1] = totals[i] end\n"
    "return out\n";

/* --- in-process counters ------------------------------------------------- */

typedef struct local_counter {
    struct local_counter *next;
    char *name;
    uint64_t bucket_ms;
    uint32_t n_buckets;
    uint64_t last_bucket; /* newest bucket touched */
    uint64_t stamp[MAX_BUCKETS];
    int64_t value[MAX_BUCKETS];
} local_counter;

struct cmx_local_counters {
    pthread_mutex_t lock;
    local_counter *slots[TABLE_SIZE];
    uint64_t calls;
};

cmx_local_counters *cmx_local_counters_new(void)
{
    cmx_local_counters *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

void cmx_local_counters_free(cmx_local_counters *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        for (local_counter *lc = c->slots[i], *next; lc; lc = next) {
            next = lc->next;
            free(lc->name);
            free(lc);
        }
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % TABLE_SIZE;
}

static void shape(const cmx_state_counter *sc, uint64_t *bucket_ms, uint32_t *n)
{
    *n = sc->buckets < 1 ? 1 : sc->buckets > MAX_BUCKETS ? MAX_BUCKETS : sc->buckets;
    *bucket_ms = sc->window_ms / *n ? sc->window_ms / *n : 1;
}

static local_counter *find(cmx_local_counters *c, const cmx_state_counter *sc)
{
    size_t h = hash_name(sc->name);
    for (local_counter *lc = c->slots[h]; lc; lc = lc->next)
        if (strcmp(lc->name, sc->name) == 0)
            return lc;
    local_counter *lc = calloc(1, sizeof *lc);
    if (!lc || !(lc->name = strdup(sc->name))) {
        free(lc);
        return NULL;
    }
    shape(sc, &lc->bucket_ms, &lc->n_buckets);
    lc->next = c->slots[h];
    c->slots[h] = lc;
    return lc;
}

static int64_t total(const local_counter *lc, uint64_t cur)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < lc->n_buckets; i++)
        if (lc->stamp[i] + lc->n_buckets > cur && lc->stamp[i] <= cur)
            sum += lc->value[i];
    return sum;
}

static void add(local_counter *lc, uint64_t cur, int64_t delta)
{
    uint32_t slot = (uint32_t)(cur % lc->n_buckets);
    if (lc->stamp[slot] != cur) {
        lc->stamp[slot] = cur;
        lc->value[slot] = 0;
    }
    lc->value[slot] += delta;
    if (cur > lc->last_bucket)
        lc->last_bucket = cur;
}

/* Drops counters whose every bucket is dead, so names made per period
 * (budgets) do not pile up. */
static void sweep(cmx_local_counters *c, uint64_t now_ms)
{
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        local_counter **pp = &c->slots[i];
        while (*pp) {
            local_counter *lc = *pp;
            if ((lc->last_bucket + lc->n_buckets) * lc->bucket_ms <= now_ms) {
                *pp = lc->next;
                free(lc->name);
                free(lc);
            } else {
                pp = &lc->next;
            }
        }
    }
}

cmx_state_verdict cmx_state_local_counters_add(cmx_state *st, const cmx_state_counter *counters,
                                               size_t n, bool force, uint64_t now_ms,
                                               int64_t *totals)
{
    cmx_local_counters *c = st->counters;
    local_counter *lcs[CMX_STATE_MAX_COUNTERS];
    uint64_t cur[CMX_STATE_MAX_COUNTERS];
    if (n > CMX_STATE_MAX_COUNTERS)
        return CMX_STATE_NO;
    pthread_mutex_lock(&c->lock);
    if (++c->calls % SWEEP_EVERY == 0)
        sweep(c, now_ms);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const cmx_state_counter *sc = &counters[i];
        lcs[i] = find(c, sc);
        if (!lcs[i]) {
            pthread_mutex_unlock(&c->lock);
            return CMX_STATE_UNAVAILABLE;
        }
        cur[i] = now_ms / lcs[i]->bucket_ms;
        totals[i] = total(lcs[i], cur[i]);
        if (!force && sc->limit > 0 && sc->delta > 0 && !(sc->allow_first && totals[i] <= 0) &&
            totals[i] + sc->delta > sc->limit)
            ok = 0;
    }
    for (size_t i = 0; ok && i < n; i++) {
        if (counters[i].delta) {
            add(lcs[i], cur[i], counters[i].delta);
            totals[i] += counters[i].delta;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ok ? CMX_STATE_YES : CMX_STATE_NO;
}

/* --- across the fleet ---------------------------------------------------- */

static void local_answer(cmx_state *st, const cmx_state_counter *counters, size_t n, bool force,
                         cmx_state_counters_cb cb, void *ctx, int fell_back)
{
    int64_t totals[CMX_STATE_MAX_COUNTERS] = {0};
    cmx_state_verdict v =
        cmx_state_local_counters_add(st, counters, n, force, cmx_wall_ms(), totals);
    if (fell_back) {
        cmx_state_note_fallback(st);
        v = CMX_STATE_UNAVAILABLE;
    }
    if (cb)
        cb(ctx, v, totals, n);
}

static void on_counters_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_counters_cb cb = (cmx_state_counters_cb)op->cb;
    int usable = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == op->n + 1 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER;
    if (!usable) {
        /* Counted here instead, so the local copy knows this replica's share. */
        local_answer(op->w->st, op->counters, op->n, op->force, cb, op->ctx, 1);
        return;
    }
    int64_t totals[CMX_STATE_MAX_COUNTERS];
    for (size_t i = 0; i < op->n; i++)
        totals[i] = reply->element[i + 1]->integer;
    /* The local copy follows what this replica counted, for when Redis
     * goes away. */
    if (reply->element[0]->integer == 1) {
        int64_t ignored[CMX_STATE_MAX_COUNTERS];
        cmx_state_local_counters_add(op->w->st, op->counters, op->n, true, cmx_wall_ms(), ignored);
    }
    if (cb)
        cb(op->ctx, reply->element[0]->integer == 1 ? CMX_STATE_YES : CMX_STATE_NO, totals, op->n);
}

uint64_t cmx_state_counters_add(cmx_state_worker *w, const cmx_state_counter *counters, size_t n,
                                bool force, cmx_state_counters_cb cb, void *ctx)
{
    cmx_state *st = w->st;
    if (n == 0 || n > CMX_STATE_MAX_COUNTERS) {
        int64_t none[1] = {0};
        if (cb)
            cb(ctx, CMX_STATE_NO, none, 0);
        return 0;
    }
    if (!st->shared || !cmx_state_worker_is_up(w)) {
        local_answer(st, counters, n, force, cb, ctx, st->shared);
        return 0;
    }
    cmx_state_op *op = calloc(1, sizeof *op);
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += strlen(st->prefix) + 2 + strlen(counters[i].name) + 1;
    char *names = op ? malloc(names_len) : NULL;
    if (!names) {
        free(op);
        local_answer(st, counters, n, force, cb, ctx, 1);
        return 0;
    }
    /* argv: EVALSHA sha n key... force (5 numbers per key) */
    const char *argv[3 + CMX_STATE_MAX_COUNTERS + 1 + 5 * CMX_STATE_MAX_COUNTERS];
    char nums[CMX_STATE_MAX_COUNTERS][5][24];
    char nkeys[8];
    int argc = 0;
    snprintf(nkeys, sizeof nkeys, "%zu", n);
    argv[argc++] = "EVALSHA";
    argv[argc++] = st->counter_sha;
    argv[argc++] = nkeys;
    char *p = names;
    for (size_t i = 0; i < n; i++) {
        op->counters[i] = counters[i];
        int len = sprintf(p, "%sc:%s", st->prefix, counters[i].name);
        argv[argc++] = p;
        op->counters[i].name = p + strlen(st->prefix) + 2;
        p += len + 1;
    }
    argv[argc++] = force ? "1" : "0";
    for (size_t i = 0; i < n; i++) {
        uint64_t bucket_ms;
        uint32_t nb;
        shape(&counters[i], &bucket_ms, &nb);
        snprintf(nums[i][0], 24, "%llu", (unsigned long long)(bucket_ms * nb));
        snprintf(nums[i][1], 24, "%u", nb);
        snprintf(nums[i][2], 24, "%lld", (long long)counters[i].limit);
        snprintf(nums[i][3], 24, "%lld", (long long)counters[i].delta);
        snprintf(nums[i][4], 24, "%d", counters[i].allow_first ? 1 : 0);
        for (int k = 0; k < 5; k++)
            argv[argc++] = nums[i][k];
    }
    op->names = names;
    op->n = n;
    op->force = force;
    op->cb = (void *)cb;
    op->ctx = ctx;
    op->on_reply = on_counters_reply;
    uint64_t id = cmx_state_send(w, op, argc, argv, NULL);
    if (!id)
        local_answer(st, counters, n, force, cb, ctx, 1);
    return id;
}
