/* state_events.c — what one replica tells the others, and leases.
 *
 * An event is a subject's new status ("the breaker of chat|openai|gpt-4o is
 * open until T").  It is written twice in one pipelined step: SET under the
 * subject's key with a TTL (so a replica that starts or reconnects later can
 * read it back: cmx_state_resync) and PUBLISH on the prefix's channel (so
 * the replicas connected now hear it within a round trip).  The wire form is
 * "kind|until_wall_ms|value|origin|subject"; the subject goes last because
 * it may itself contain '|'.  A replica ignores its own events.
 *
 * Times cross the wire as wall-clock milliseconds: replicas are assumed to
 * agree on the time within a few milliseconds (NTP), and a skew shifts the
 * end of a cooldown by that much on the skewed replica.
 *
 * Leases are SET key origin NX PX ttl; giving one back deletes the key only
 * if this process still holds it (a small script). */
#include "state/state_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char cmx_state_release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

static const char *namespace_of(cmx_state_event_kind k)
{
    switch (k) {
    case CMX_EVENT_BREAKER_OPEN:
    case CMX_EVENT_BREAKER_CLOSED: return "brk";
    case CMX_EVENT_COOLDOWN: return "cd";
    case CMX_EVENT_HEALTH_DOWN:
    case CMX_EVENT_HEALTH_UP: return "hc";
    case CMX_EVENT_BUDGET_SPENT: return "bud";
    }
    return "x";
}

void cmx_state_publish(cmx_state_worker *w, const cmx_state_event *ev, uint32_t ttl_ms)
{
    cmx_state *st = w->st;
    if (!st->shared || !cmx_state_worker_is_up(w))
        return;
    char *key = NULL, *channel = NULL, *msg = NULL;
    if (asprintf(&key, "%sev:%s:%s", st->prefix, namespace_of(ev->kind), ev->subject) < 0)
        key = NULL;
    if (asprintf(&channel, "%sevents", st->prefix) < 0)
        channel = NULL;
    if (asprintf(&msg, "%d|%" PRIu64 "|%" PRIu64 "|%s|%s", (int)ev->kind, ev->until_wall_ms,
                 ev->value, st->origin, ev->subject) < 0)
        msg = NULL;
    if (key && channel && msg) {
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%u", ttl_ms ? ttl_ms : 1);
        const char *set[5] = {"SET", key, msg, "PX", ttl};
        cmx_state_send_and_forget(w, 5, set, NULL);
        const char *pub[3] = {"PUBLISH", channel, msg};
        cmx_state_send_and_forget(w, 3, pub, NULL);
    }
    free(key);
    free(channel);
    free(msg);
}

/* "kind|until|value|origin|subject" → ev (pointing into text); origin out. */
static int parse_event(char *text, cmx_state_event *ev, const char **origin)
{
    char *fields[4];
    char *p = text;
    for (int i = 0; i < 4; i++) {
        fields[i] = p;
        p = strchr(p, '|');
        if (!p)
            return -1;
        *p++ = '\0';
    }
    char *end;
    long kind = strtol(fields[0], &end, 10);
    if (*end || kind < CMX_EVENT_BREAKER_OPEN || kind > CMX_EVENT_BUDGET_SPENT || !*p)
        return -1;
    ev->kind = (cmx_state_event_kind)kind;
    ev->until_wall_ms = strtoull(fields[1], NULL, 10);
    ev->value = strtoull(fields[2], NULL, 10);
    *origin = fields[3];
    ev->subject = p;
    return 0;
}

static void deliver(cmx_state *st, const char *payload, size_t len, int skip_own)
{
    if (!st->listener || len > 4096)
        return;
    char text[4097];
    memcpy(text, payload, len);
    text[len] = '\0';
    cmx_state_event ev;
    const char *origin;
    if (parse_event(text, &ev, &origin) != 0) {
        cmx_debug("state store: ignoring a malformed event");
        return;
    }
    if (skip_own && strcmp(origin, st->origin) == 0)
        return;
    st->listener(st->listener_ctx, &ev);
}

void cmx_state_on_push(void *ctx, const redisReply *reply)
{
    cmx_state_worker *w = ctx;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return; /* subscribe confirmations */
    deliver(w->st, reply->element[2]->str, reply->element[2]->len, 1);
}

void cmx_state_subscribe(cmx_state_worker *w)
{
    char channel[96];
    snprintf(channel, sizeof channel, "%sevents", w->st->prefix);
    const char *argv[2] = {"SUBSCRIBE", channel};
    cmx_redis_send_unanswered(w->sub, 2, argv, NULL);
}

static void on_resync_reply(cmx_state_op *op, const redisReply *reply)
{
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            deliver(op->w->st, reply->element[i]->str, reply->element[i]->len, 0);
}

void cmx_state_resync(cmx_state_worker *w, const char *const *subjects, size_t n,
                      int kinds_are_health)
{
    cmx_state *st = w->st;
    if (!st->shared || !n)
        return;
    static const char *const target_ns[] = {"brk", "cd"};
    static const char *const health_ns[] = {"hc"};
    const char *const *ns = kinds_are_health ? health_ns : target_ns;
    size_t n_ns = kinds_are_health ? 1 : 2;
    size_t argc = 1 + n * n_ns;
    const char **argv = calloc(argc, sizeof *argv);
    char **keys = calloc(n * n_ns, sizeof *keys);
    cmx_state_op *op = calloc(1, sizeof *op);
    int ok = argv && keys && op;
    for (size_t i = 0; ok && i < n; i++)
        for (size_t k = 0; ok && k < n_ns; k++)
            ok = asprintf(&keys[i * n_ns + k], "%sev:%s:%s", st->prefix, ns[k], subjects[i]) >= 0;
    if (ok) {
        argv[0] = "MGET";
        for (size_t i = 0; i < n * n_ns; i++)
            argv[1 + i] = keys[i];
        op->on_reply = on_resync_reply;
        cmx_state_send(w, op, (int)argc, argv, NULL);
        op = NULL;
    }
    for (size_t i = 0; keys && i < n * n_ns; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    free(op);
}

/* --- leases -------------------------------------------------------------- */

static void on_lease_reply(cmx_state_op *op, const redisReply *reply)
{
    cmx_state_lease_cb cb = (cmx_state_lease_cb)op->cb;
    cmx_state_verdict v;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        cmx_state_note_fallback(op->w->st);
        v = CMX_STATE_UNAVAILABLE;
    } else {
        v = reply->type == REDIS_REPLY_STATUS ? CMX_STATE_YES : CMX_STATE_NO;
    }
    if (cb)
        cb(op->ctx, v);
}

uint64_t cmx_state_lease(cmx_state_worker *w, const char *name, uint32_t ttl_ms,
                         cmx_state_lease_cb cb, void *ctx)
{
    cmx_state *st = w->st;
    if (!st->shared) {
        cb(ctx, CMX_STATE_YES);
        return 0;
    }
    char *key = NULL;
    cmx_state_op *op = calloc(1, sizeof *op);
    if (!op || asprintf(&key, "%slease:%s", st->prefix, name) < 0 || !cmx_state_worker_is_up(w)) {
        free(op);
        free(key);
        cmx_state_note_fallback(st);
        cb(ctx, CMX_STATE_UNAVAILABLE);
        return 0;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%u", ttl_ms ? ttl_ms : 1);
    const char *argv[6] = {"SET", key, st->origin, "NX", "PX", ttl};
    op->on_reply = on_lease_reply;
    op->cb = (void *)cb;
    op->ctx = ctx;
    uint64_t id = cmx_state_send(w, op, 6, argv, NULL);
    free(key);
    if (!id) {
        cmx_state_note_fallback(st);
        cb(ctx, CMX_STATE_UNAVAILABLE);
    }
    return id;
}

void cmx_state_lease_release(cmx_state_worker *w, const char *name)
{
    cmx_state *st = w->st;
    char *key = NULL;
    if (!st->shared || asprintf(&key, "%slease:%s", st->prefix, name) < 0)
        return;
    const char *argv[5] = {"EVALSHA", st->release_sha, "1", key, st->origin};
    cmx_state_send_and_forget(w, 5, argv, NULL);
    free(key);
}
