/* state_counters.c — named windowed counters, checked and counted in one
 * step: in this process (a small hash table under a lock) or across the
 * fleet (one Lua script in Redis, so no two replicas can both take the last
 * unit).
 *
 * A counter is a hash of buckets: field = bucket number (time / bucket
 * length), value = the sum counted in it.  The total is the sum of the live
 * buckets; dead ones are deleted as they are met.  Redis's own clock (TIME)
 * places the buckets, so the replicas' clocks do not have to agree.  The
 * table here also holds each counter's allowance (state_allowance.c). */
#include "state/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/str.h"

#define SWEEP_EVERY 4096

/* ARGV[1] force; then per key: window_ms, buckets, limit, delta, allow_first,
 * at (a bucket number: put the delta there while it is in the window, or
 * nowhere once it has left; 0: the current bucket).
 * Returns {admitted, total_1, ..., total_n, now_ms}. */
const char cmx_state_counter_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local force = ARGV[1] == '1'\n"
    "local ok = 1\n"
    "local totals, cur, ttl = {}, {}, {}\n"
    "for i = 1, #KEYS do\n"
    "  local a = 1 + (i - 1) * 6\n"
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
    "    local a = 1 + (i - 1) * 6\n"
    "    local d, at = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 6])\n"
    "    if at <= 0 or at > cur[i] then at = cur[i] end\n"
    "    if d ~= 0 and at > cur[i] - tonumber(ARGV[a + 2]) then\n"
    "      redis.call('HINCRBY', KEYS[i], at, d)\n"
    "      redis.call('PEXPIRE', KEYS[i], ttl[i])\n"
    "      totals[i] = totals[i] + d\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {ok}\n"
    "for i = 1, #KEYS do out[i + 1] = totals[i] end\n"
    "out[#KEYS + 2] = now\n"
    "return out\n";

/* --- in-process counters ------------------------------------------------- */

typedef cmx_local_counter local_counter;

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
    for (size_t i = 0; i < CMX_LOCAL_TABLE_SIZE; i++) {
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
    return h % CMX_LOCAL_TABLE_SIZE;
}

void cmx_state_counter_shape(const cmx_state_counter *sc, uint64_t *bucket_ms, uint32_t *n)
{
    *n = sc->buckets < 1                       ? 1
         : sc->buckets > CMX_LOCAL_MAX_BUCKETS ? CMX_LOCAL_MAX_BUCKETS
                                               : sc->buckets;
    *bucket_ms = sc->window_ms / *n ? sc->window_ms / *n : 1;
}

cmx_local_counter *cmx_local_counter_find(cmx_local_counters *c, const cmx_state_counter *sc)
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
    cmx_state_counter_shape(sc, &lc->bucket_ms, &lc->n_buckets);
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
    if (!delta)
        return;
    uint32_t slot = (uint32_t)(cur % lc->n_buckets);
    if (lc->stamp[slot] != cur) {
        lc->stamp[slot] = cur;
        lc->value[slot] = 0;
    }
    lc->value[slot] += delta;
    if (cur > lc->last_bucket)
        lc->last_bucket = cur;
}

void cmx_local_counter_add(cmx_local_counter *lc, uint64_t now_ms, int64_t delta)
{
    add(lc, now_ms / lc->bucket_ms, delta);
}

/* Drops counters whose every bucket is dead, so names made per period
 * (budgets) do not pile up; never one with credit, a grant asked or
 * additions to send. */
static void sweep(cmx_local_counters *c, uint64_t now_ms)
{
    for (size_t i = 0; i < CMX_LOCAL_TABLE_SIZE; i++) {
        local_counter **pp = &c->slots[i];
        while (*pp) {
            local_counter *lc = *pp;
            if ((lc->last_bucket + lc->n_buckets) * lc->bucket_ms <= now_ms &&
                cmx_allowance_idle(&lc->al)) {
                *pp = lc->next;
                free(lc->name);
                free(lc);
            } else {
                pp = &lc->next;
            }
        }
    }
}

void cmx_local_counters_count_call(cmx_local_counters *c, uint64_t now_ms)
{
    if (++c->calls % SWEEP_EVERY == 0)
        sweep(c, now_ms);
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
    cmx_local_counters_count_call(c, now_ms);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const cmx_state_counter *sc = &counters[i];
        lcs[i] = cmx_local_counter_find(c, sc);
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
        add(lcs[i], cur[i], counters[i].delta);
        totals[i] += counters[i].delta;
    }
    pthread_mutex_unlock(&c->lock);
    return ok ? CMX_STATE_YES : CMX_STATE_NO;
}

/* --- across the fleet ---------------------------------------------------- */

void cmx_state_counters_local(cmx_state *st, const cmx_state_counter *counters, size_t n,
                              bool force, cmx_state_counters_cb cb, void *ctx, int fell_back)
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

int cmx_state_counters_reply_ok(const redisReply *reply, size_t n)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != n + 2)
        return 0;
    for (size_t i = 0; i < n + 2; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return 0;
    return 1;
}

void cmx_state_mirror_answer(cmx_state *st, const cmx_state_counter *counters, size_t n,
                             int counted, const int64_t *totals)
{
    cmx_local_counters *c = st->counters;
    uint64_t now = cmx_state_now_ms(st), wall = cmx_wall_ms();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        cmx_local_counter *lc = cmx_local_counter_find(c, &counters[i]);
        if (!lc)
            continue;
        cmx_allowance_learn_total(&lc->al, now, totals[i]);
        /* The local copy follows what this replica counted, for when Redis
         * goes away. */
        if (counted)
            cmx_local_counter_add(lc, wall, counters[i].delta);
    }
    pthread_mutex_unlock(&c->lock);
}

void cmx_state_on_counters_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_counters_cb cb = (cmx_state_counters_cb)op->cb;
    if (!cmx_state_counters_reply_ok(reply, op->n)) {
        /* Counted here instead, so the local copy knows this replica's share. */
        cmx_state_counters_local(op->w->st, op->counters, op->n, op->force, cb, op->ctx, 1);
        return;
    }
    int64_t totals[CMX_STATE_MAX_COUNTERS];
    for (size_t i = 0; i < op->n; i++)
        totals[i] = reply->element[i + 1]->integer;
    int admitted = reply->element[0]->integer == 1;
    cmx_state_mirror_answer(op->w->st, op->counters, op->n, admitted, totals);
    if (cb)
        cb(op->ctx, admitted ? CMX_STATE_YES : CMX_STATE_NO, totals, op->n);
}

uint64_t cmx_state_send_counters(cmx_state_worker *w, cmx_state_op *op,
                                 const cmx_state_counter *counters, size_t n, bool force,
                                 const uint64_t *at)
{
    cmx_state *st = w->st;
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += strlen(st->prefix) + 2 + strlen(counters[i].name) + 1;
    char *names = malloc(names_len);
    if (!names) {
        free(op);
        return 0;
    }
    /* argv: EVALSHA sha n key... force (6 numbers per key) */
    const char *argv[3 + CMX_STATE_MAX_COUNTERS + 1 + 6 * CMX_STATE_MAX_COUNTERS];
    char nums[CMX_STATE_MAX_COUNTERS][4][CMX_DEC_MAX];
    char at_nums[CMX_STATE_MAX_COUNTERS][CMX_DEC_MAX];
    char nkeys[CMX_DEC_MAX];
    int argc = 0;
    cmx_dec_u64(nkeys, n);
    argv[argc++] = "EVALSHA";
    argv[argc++] = st->counter_sha;
    argv[argc++] = nkeys;
    char *p = names;
    size_t prefix_len = strlen(st->prefix);
    for (size_t i = 0; i < n; i++) {
        op->counters[i] = counters[i];
        size_t name_len = strlen(counters[i].name);
        argv[argc++] = p;
        memcpy(p, st->prefix, prefix_len);
        memcpy(p + prefix_len, "c:", 2);
        memcpy(p + prefix_len + 2, counters[i].name, name_len + 1);
        op->counters[i].name = p + prefix_len + 2;
        p += prefix_len + 2 + name_len + 1;
    }
    argv[argc++] = force ? "1" : "0";
    for (size_t i = 0; i < n; i++) {
        uint64_t bucket_ms;
        uint32_t nb;
        cmx_state_counter_shape(&counters[i], &bucket_ms, &nb);
        cmx_dec_u64(nums[i][0], bucket_ms * nb);
        cmx_dec_u64(nums[i][1], nb);
        cmx_dec_i64(nums[i][2], counters[i].limit);
        cmx_dec_i64(nums[i][3], counters[i].delta);
        argv[argc++] = nums[i][0];
        argv[argc++] = nums[i][1];
        argv[argc++] = nums[i][2];
        argv[argc++] = nums[i][3];
        argv[argc++] = counters[i].allow_first ? "1" : "0";
        argv[argc++] = at && at[i] ? (cmx_dec_u64(at_nums[i], at[i]), at_nums[i]) : "0";
    }
    op->names = names;
    op->n = n;
    op->force = force;
    return cmx_state_send(w, op, argc, argv, NULL);
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
        cmx_state_counters_local(st, counters, n, force, cb, ctx, st->shared);
        return 0;
    }
    cmx_state_op *op = calloc(1, sizeof *op);
    if (op) {
        op->cb = (void *)cb;
        op->ctx = ctx;
        op->on_reply = cmx_state_on_counters_reply;
    }
    uint64_t id = op ? cmx_state_send_counters(w, op, counters, n, force, NULL) : 0;
    if (!id)
        cmx_state_counters_local(st, counters, n, force, cb, ctx, 1);
    return id;
}
