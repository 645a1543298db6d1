/* state_slots.c — fleet-wide slots: how many of something the whole fleet
 * holds at once (a virtual key's requests in flight), checked and taken in
 * one atomic step, and given back when done.
 *
 * A slot set is one Redis hash.  Each worker of each replica keeps its share
 * in fields of its own — "ORIGIN.W" (how many it holds) and "ORIGIN.W:t"
 * (when that share stops counting, on Redis's clock) — and only that
 * worker's connection writes them, so they change in the order the worker
 * sent its commands.  One script sums the live shares (deleting dead ones),
 * then takes, adds to or just refreshes this worker's share.
 *
 *  - Take: one slot of each set asked (a key's and its team's), granted only
 *    if every set has room.  Far from a large limit a worker takes a few
 *    more than it needs — its spare, at most 1/CMX_ALLOWANCE_LIMIT_SHARE of
 *    the limit and 1/CMX_ALLOWANCE_SHARE of the room left, none for a limit
 *    under CMX_SLOTS_MIN_SPARE * 128 or a view of the fleet older than a
 *    second — and hands those out without a round trip.  A slot given back
 *    returns to the spare; what is above the spare's size (and all of it
 *    once the set has had no take for a beat) goes back to Redis within
 *    CMX_ALLOWANCE_SETTLE_MS.
 *  - Heartbeat: every CMX_SLOTS_BEAT_MS each worker refreshes its shares'
 *    stamps to CMX_SLOTS_TTL_MS ahead, so the share of a replica that was
 *    killed (or cut off from Redis) stops counting at most that long after
 *    its last beat.  The beat also reads the share back: what the worker's
 *    answered and sent commands say it should be there is known exactly
 *    (the connection keeps order), so a difference left by a command that
 *    timed out or was lost with a connection, or by a Redis that restarted
 *    empty, is corrected at once.
 *
 * Per worker and without locks: a request's slot is taken and given back on
 * the worker that serves it. */
#include "state/state_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define TABLE_SIZE 256
/* Sets in one script call: an op keeps each one's name, limit and units in
 * its counters[] (for the answer and the local fallback). */
#define KEYS_PER_CALL CMX_STATE_MAX_COUNTERS

/* ARGV[1] mode (t: take, a: add, b: beat), ARGV[2] this worker's field,
 * ARGV[3] its stamp's lifetime in ms; per key: limit, then units wanted
 * (take) or the delta (add).  Returns {ok, now_ms, total_1..n, own_1..n,
 * granted_1..n}: totals and own shares after the call. */
const char cmx_state_slots_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local mode, me, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local stamp = me .. ':t'\n"
    "local totals, owns, room, grants = {}, {}, {}, {}\n"
    "local ok = 1\n"
    "for i = 1, #KEYS do\n"
    "  local flat = redis.call('HGETALL', KEYS[i])\n"
    "  local f = {}\n"
    "  for j = 1, #flat, 2 do f[flat[j]] = flat[j + 1] end\n"
    "  local sum, own, dead = 0, 0, {}\n"
    "  for k, v in pairs(f) do\n"
    "    if string.sub(k, -2) ~= ':t' then\n"
    "      if k == me then own = tonumber(v)\n"
    "      elseif tonumber(f[k .. ':t'] or '0') < now then\n"
    "        dead[#dead + 1] = k\n"
    "        dead[#dead + 1] = k .. ':t'\n"
    "      else sum = sum + math.max(0, tonumber(v)) end\n"
    "    end\n"
    "  end\n"
    "  if #dead > 0 then redis.call('HDEL', KEYS[i], unpack(dead)) end\n"
    "  owns[i] = own\n"
    "  totals[i] = sum + math.max(0, own)\n"
    "  grants[i] = 0\n"
    "  local lim = tonumber(ARGV[2 + 2 * i])\n"
    "  room[i] = lim > 0 and lim - totals[i] or tonumber(ARGV[3 + 2 * i])\n"
    "  if mode == 't' and room[i] < 1 then ok = 0 end\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  local n = tonumber(ARGV[3 + 2 * i])\n"
    "  local d = 0\n"
    "  if mode == 'a' then d = n end\n"
    "  if mode == 't' and ok == 1 then d = math.min(n, room[i]); grants[i] = d end\n"
    "  if d ~= 0 then\n"
    "    owns[i] = tonumber(redis.call('HINCRBY', KEYS[i], me, d))\n"
    "    totals[i] = totals[i] - math.max(0, owns[i] - d) + math.max(0, owns[i])\n"
    "  end\n"
    "  if owns[i] == 0 then\n"
    "    redis.call('HDEL', KEYS[i], me, stamp)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[i], stamp, now + ttl)\n"
    "    redis.call('PEXPIRE', KEYS[i], 2 * ttl)\n"
    "  end\n"
    "end\n"
    "local out = {ok, now}\n"
    "for i = 1, #KEYS do\n"
    "  out[#out + 1] = totals[i]\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  out[#out + 1] = owns[i]\n"
    "end\n"
    "for i = 1, #KEYS do\n"
    "  out[#out + 1] = grants[i]\n"
    "end\n"
    "return out\n";

/* One set as this worker knows it.  What Redis should hold for it, at any
 * point of the connection's order, follows from the fields: grants answered,
 * minus give-backs sent (`flushed`), that is held + unsent. */
typedef struct slot_rec {
    struct slot_rec *next;
    char *name;
    int64_t limit;
    int64_t in_use;       /* taken by requests and not given back */
    int64_t held;         /* in_use plus the spare */
    int64_t unsent;       /* given back here, not sent to Redis yet */
    int64_t flushed;      /* every give-back sent, summed */
    int64_t beat_flushed; /* `flushed` when the beat in flight was sent */
    int pending;          /* takes in flight */
    int64_t total;        /* the fleet's total at the last answer */
    uint64_t total_ms;    /* when (the state's clock); 0: never */
    uint64_t last_take_ms;
} slot_rec;

struct cmx_slot_table {
    slot_rec *slots[TABLE_SIZE];
    size_t n;
    struct event *timer;
    uint64_t timer_due_ms; /* 0: not set */
    uint64_t next_beat_ms;
    uint64_t flush_due_ms; /* 0: nothing to send */
    int beats_in_flight;
    char field[48]; /* "ORIGIN.W" */
};

static void count(atomic_uint_fast64_t *n)
{
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % TABLE_SIZE;
}

static slot_rec *find(cmx_slot_table *t, const char *name, int make)
{
    size_t h = hash_name(name);
    for (slot_rec *r = t->slots[h]; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    if (!make)
        return NULL;
    slot_rec *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return NULL;
    }
    r->next = t->slots[h];
    t->slots[h] = r;
    t->n++;
    return r;
}

static void drop(cmx_slot_table *t, slot_rec *gone)
{
    for (slot_rec **pp = &t->slots[hash_name(gone->name)]; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            free(gone->name);
            free(gone);
            t->n--;
            return;
        }
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/* Sets the table's timer for its next chore: a beat or a give-back. */
static void arm(cmx_state_worker *w, uint64_t now_ms)
{
    cmx_slot_table *t = w->slots;
    uint64_t due = t->n ? t->next_beat_ms : UINT64_MAX;
    if (t->flush_due_ms && t->flush_due_ms < due)
        due = t->flush_due_ms;
    if (due == UINT64_MAX || !w->base || (t->timer_due_ms && t->timer_due_ms <= due))
        return;
    if (!t->timer && !(t->timer = evtimer_new(w->base, on_timer, w)))
        return;
    uint64_t delay = (due > now_ms ? due - now_ms : 0) + 1;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    evtimer_add(t->timer, &tv);
    t->timer_due_ms = due;
}

static cmx_slot_table *table_of(cmx_state_worker *w)
{
    if (w->slots)
        return w->slots;
    cmx_slot_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->field, sizeof t->field, "%s.%d", w->st->origin, w->index);
    t->next_beat_ms = cmx_state_now_ms(w->st) + CMX_SLOTS_BEAT_MS;
    w->slots = t;
    return t;
}

void cmx_slot_table_free(cmx_slot_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        for (slot_rec *r = t->slots[i], *next; r; r = next) {
            next = r->next;
            free(r->name);
            free(r);
        }
    if (t->timer)
        event_free(t->timer);
    free(t);
}

/* How many this worker may hold beyond what its requests use. */
static int64_t spare_size(const slot_rec *r, uint64_t now_ms)
{
    if (r->limit <= 0 || r->total_ms == 0 || now_ms - r->total_ms > CMX_ALLOWANCE_STALE_MS ||
        now_ms - r->last_take_ms >= CMX_SLOTS_BEAT_MS)
        return 0;
    int64_t share = (r->limit - r->total) / CMX_ALLOWANCE_SHARE;
    if (share > r->limit / CMX_ALLOWANCE_LIMIT_SHARE)
        share = r->limit / CMX_ALLOWANCE_LIMIT_SHARE;
    return share >= CMX_SLOTS_MIN_SPARE ? share : 0;
}

/* Spare above its size goes back (sent within CMX_ALLOWANCE_SETTLE_MS). */
static void trim(cmx_slot_table *t, slot_rec *r, uint64_t now_ms)
{
    int64_t extra = r->held - r->in_use - spare_size(r, now_ms);
    if (extra <= 0)
        return;
    r->held -= extra;
    r->unsent += extra;
    if (!t->flush_due_ms)
        t->flush_due_ms = now_ms + CMX_ALLOWANCE_SETTLE_MS;
}

/* Sends the script for n sets (names without the prefix), with per-set
 * limit and units; op's on_reply, cb and ctx set by the caller.  Returns
 * the id, or 0 when not sent (op freed). */
static uint64_t send_script(cmx_state_worker *w, cmx_state_op *op, const char *mode,
                            const char *const *names, const int64_t *limits, const int64_t *units,
                            size_t n)
{
    cmx_state *st = w->st;
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++)
        names_len += strlen(st->prefix) + 6 + strlen(names[i]) + 1;
    char *block = malloc(names_len);
    if (!block) {
        free(op);
        return 0;
    }
    const char *argv[3 + KEYS_PER_CALL + 3 + 2 * KEYS_PER_CALL];
    char nums[KEYS_PER_CALL][2][CMX_DEC_MAX], nkeys[CMX_DEC_MAX], ttl[CMX_DEC_MAX];
    int argc = 0;
    cmx_dec_u64(nkeys, n);
    cmx_dec_u64(ttl, CMX_SLOTS_TTL_MS);
    argv[argc++] = "EVALSHA";
    argv[argc++] = st->slots_sha;
    argv[argc++] = nkeys;
    char *p = block;
    size_t prefix_len = strlen(st->prefix);
    for (size_t i = 0; i < n; i++) {
        size_t name_len = strlen(names[i]);
        argv[argc++] = p;
        memcpy(p, st->prefix, prefix_len);
        memcpy(p + prefix_len, "slots:", 6);
        memcpy(p + prefix_len + 6, names[i], name_len + 1);
        op->counters[i].name = p + prefix_len + 6;
        op->counters[i].limit = limits[i];
        op->counters[i].delta = units[i];
        p += prefix_len + 6 + name_len + 1;
    }
    argv[argc++] = mode;
    argv[argc++] = w->slots->field;
    argv[argc++] = ttl;
    for (size_t i = 0; i < n; i++) {
        cmx_dec_i64(nums[i][0], limits[i]);
        cmx_dec_i64(nums[i][1], units[i]);
        argv[argc++] = nums[i][0];
        argv[argc++] = nums[i][1];
    }
    op->names = block;
    op->n = n;
    return cmx_state_send(w, op, argc, argv, NULL);
}

static int reply_ok(const redisReply *reply, size_t n)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 + 3 * n)
        return 0;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return 0;
    return 1;
}

static int64_t element(const redisReply *reply, size_t i)
{
    return reply->element[i]->integer;
}

static void answer(cmx_state_counters_cb cb, void *ctx, cmx_state_verdict v, const int64_t *totals,
                   size_t n)
{
    if (cb)
        cb(ctx, v, totals, n);
}

static void on_take_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_worker *w = op->w;
    cmx_slot_table *t = w->slots;
    cmx_state_counters_cb cb = (cmx_state_counters_cb)op->cb;
    int usable = t && reply_ok(reply, op->n);
    int granted = usable && element(reply, 0) == 1;
    uint64_t now = cmx_state_now_ms(w->st);
    int64_t totals[CMX_STATE_MAX_COUNTERS] = {0};
    for (size_t i = 0; t && i < op->n; i++) {
        slot_rec *r = find(t, op->counters[i].name, 0);
        if (!r)
            continue;
        r->pending--;
        if (!usable)
            continue;
        totals[i] = r->total = element(reply, 2 + i);
        r->total_ms = now ? now : 1;
        if (granted) {
            r->held += element(reply, 2 + 2 * op->n + i);
            if (cb)
                r->in_use++;
            trim(t, r, now); /* a cancelled take leaves only spare */
        }
    }
    if (t)
        arm(w, now);
    if (!usable) {
        cmx_state_note_fallback(w->st);
        answer(cb, op->ctx, CMX_STATE_UNAVAILABLE, totals, op->n);
        return;
    }
    answer(cb, op->ctx, granted ? CMX_STATE_YES : CMX_STATE_NO, totals, op->n);
}

uint64_t cmx_state_slots_take(cmx_state_worker *w, const cmx_state_slot *slots, size_t n,
                              cmx_state_counters_cb cb, void *ctx)
{
    cmx_state *st = w->st;
    int64_t totals[CMX_STATE_MAX_COUNTERS] = {0};
    cmx_slot_table *t = NULL;
    slot_rec *recs[CMX_STATE_MAX_COUNTERS];
    if (n == 0 || n > CMX_STATE_MAX_COUNTERS || !st->shared || !cmx_state_worker_is_up(w) ||
        !(t = table_of(w))) {
        if (st->shared)
            cmx_state_note_fallback(st);
        count(&st->slots_by_local);
        answer(cb, ctx, CMX_STATE_UNAVAILABLE, totals, n <= CMX_STATE_MAX_COUNTERS ? n : 0);
        return 0;
    }
    uint64_t now = cmx_state_now_ms(st);
    int spare = 1;
    for (size_t i = 0; i < n; i++) {
        if (!(recs[i] = find(t, slots[i].name, 1))) {
            count(&st->slots_by_local);
            answer(cb, ctx, CMX_STATE_UNAVAILABLE, totals, n);
            return 0;
        }
        recs[i]->limit = slots[i].limit;
        recs[i]->last_take_ms = now;
        if (recs[i]->held - recs[i]->in_use < 1)
            spare = 0;
    }
    arm(w, now);
    if (spare) {
        for (size_t i = 0; i < n; i++) {
            recs[i]->in_use++;
            totals[i] = recs[i]->total;
        }
        count(&st->slots_by_spare);
        answer(cb, ctx, CMX_STATE_YES, totals, n);
        return 0;
    }
    const char *names[CMX_STATE_MAX_COUNTERS];
    int64_t limits[CMX_STATE_MAX_COUNTERS], units[CMX_STATE_MAX_COUNTERS];
    for (size_t i = 0; i < n; i++) {
        int64_t have = recs[i]->held - recs[i]->in_use, want = spare_size(recs[i], now);
        names[i] = recs[i]->name;
        limits[i] = slots[i].limit;
        units[i] = 1 + (want > have ? want - have : 0);
    }
    cmx_state_op *op = calloc(1, sizeof *op);
    if (op) {
        op->on_reply = on_take_reply;
        op->cb = (void *)cb;
        op->ctx = ctx;
    }
    uint64_t id = op ? send_script(w, op, "t", names, limits, units, n) : 0;
    if (!id) {
        cmx_state_note_fallback(st);
        count(&st->slots_by_local);
        answer(cb, ctx, CMX_STATE_UNAVAILABLE, totals, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        recs[i]->pending++;
    count(&st->slots_by_store);
    return id;
}

void cmx_state_slots_give(cmx_state_worker *w, const cmx_state_slot *slots, size_t n)
{
    cmx_slot_table *t = w->slots;
    if (!t)
        return;
    uint64_t now = cmx_state_now_ms(w->st);
    for (size_t i = 0; i < n; i++) {
        slot_rec *r = find(t, slots[i].name, 0);
        if (!r || r->in_use <= 0)
            continue;
        r->in_use--;
        trim(t, r, now);
    }
    arm(w, now);
}

static void ignore_reply(cmx_state_op *op, const redisReply *reply)
{
    (void)op, (void)reply;
}

/* Adds delta to this worker's share of each set, without checking; nobody
 * waits for the answer. */
static void send_adds(cmx_state_worker *w, const char *const *names, const int64_t *deltas,
                      size_t n)
{
    int64_t limits[KEYS_PER_CALL] = {0};
    for (size_t at = 0; at < n; at += KEYS_PER_CALL) {
        size_t k = n - at < KEYS_PER_CALL ? n - at : KEYS_PER_CALL;
        cmx_state_op *op = calloc(1, sizeof *op);
        if (!op)
            return;
        op->on_reply = ignore_reply;
        send_script(w, op, "a", names + at, limits, deltas + at, k);
    }
}

/* Give-backs due: sent together (counted as sent even when the connection
 * is down: the next beat finds them still held and corrects). */
static void flush(cmx_state_worker *w)
{
    cmx_slot_table *t = w->slots;
    const char *names[KEYS_PER_CALL];
    int64_t deltas[KEYS_PER_CALL];
    size_t n = 0;
    t->flush_due_ms = 0;
    for (size_t s = 0; s < TABLE_SIZE; s++)
        for (slot_rec *r = t->slots[s]; r; r = r->next) {
            if (r->unsent <= 0)
                continue;
            r->flushed += r->unsent;
            if (cmx_state_worker_is_up(w)) {
                names[n] = r->name;
                deltas[n++] = -r->unsent;
            }
            r->unsent = 0;
            if (n == KEYS_PER_CALL) {
                send_adds(w, names, deltas, n);
                n = 0;
            }
        }
    send_adds(w, names, deltas, n);
}

static int idle(const slot_rec *r)
{
    return !r->held && !r->in_use && !r->unsent && !r->pending;
}

static void on_beat_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_worker *w = op->w;
    cmx_slot_table *t = w->slots;
    if (!t)
        return;
    t->beats_in_flight--;
    int usable = reply_ok(reply, op->n);
    uint64_t now = cmx_state_now_ms(w->st);
    const char *names[KEYS_PER_CALL];
    int64_t fixes[KEYS_PER_CALL];
    size_t n_fixes = 0;
    for (size_t i = 0; usable && i < op->n; i++) {
        slot_rec *r = find(t, op->counters[i].name, 0);
        if (!r)
            continue;
        r->total = element(reply, 2 + i);
        r->total_ms = now ? now : 1;
        /* What Redis should hold at the beat's place in the connection's
         * order: give-backs sent after the beat had not reached it. */
        int64_t should = r->held + r->unsent + (r->flushed - r->beat_flushed);
        int64_t fix = should - element(reply, 2 + op->n + i);
        if (fix) {
            names[n_fixes] = op->counters[i].name; /* r may go below */
            fixes[n_fixes++] = fix;
            count(&w->st->slot_corrections);
        }
        if (idle(r) && should == 0)
            drop(t, r);
    }
    send_adds(w, names, fixes, n_fixes);
    arm(w, now);
}

static void send_beat(cmx_state_worker *w, const char *const *names, size_t n)
{
    static const int64_t zeros[KEYS_PER_CALL];
    cmx_state_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->on_reply = on_beat_reply;
    if (send_script(w, op, "b", names, zeros, zeros, n))
        w->slots->beats_in_flight++;
}

/* Refreshes this worker's shares and reads them back, KEYS_PER_CALL sets a
 * call; spare nobody took for a beat goes back first. */
static void beat(cmx_state_worker *w, uint64_t now)
{
    cmx_slot_table *t = w->slots;
    t->next_beat_ms = now + CMX_SLOTS_BEAT_MS;
    if (t->beats_in_flight || !cmx_state_worker_is_up(w))
        return;
    for (size_t s = 0; s < TABLE_SIZE; s++)
        for (slot_rec *r = t->slots[s]; r; r = r->next)
            trim(t, r, now);
    if (t->flush_due_ms)
        flush(w);
    const char *names[KEYS_PER_CALL];
    size_t n = 0;
    for (size_t s = 0; s < TABLE_SIZE; s++)
        for (slot_rec *r = t->slots[s]; r; r = r->next) {
            r->beat_flushed = r->flushed;
            names[n++] = r->name;
            if (n == KEYS_PER_CALL) {
                send_beat(w, names, n);
                n = 0;
            }
        }
    if (n)
        send_beat(w, names, n);
}

void cmx_state_slots_tick(cmx_state_worker *w)
{
    cmx_slot_table *t = w->slots;
    if (!t)
        return;
    uint64_t now = cmx_state_now_ms(w->st);
    if (t->flush_due_ms && now >= t->flush_due_ms)
        flush(w);
    if (now >= t->next_beat_ms)
        beat(w, now);
    arm(w, now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    cmx_state_worker *w = arg;
    w->slots->timer_due_ms = 0;
    cmx_state_slots_tick(w);
}
