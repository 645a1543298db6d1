/* route.c — the attempt loop for one call.
 *
 * The group's strategy orders the targets that their breaker and rate
 * limits admit right now.  Each attempt's outcome is an error kind, and the
 * kind alone decides what happens next (DESIGN.md "Errors"):
 *   - transient kinds (rate limited, timeout, unavailable) are retried on
 *     the same target up to num_retries times, after a jittered backoff that
 *     honours the upstream's Retry-After, while the group's retry budget and
 *     the request's deadline allow;
 *   - kinds that fail over then move to the next target in the order;
 *   - the client's own kinds end the route at once.
 * Streams add one rule: once a chunk has been handed to the client the route
 * is committed to that target, and a later failure ends the stream with an
 * error instead of trying again (a cut stream must never look complete).
 *
 * When a group's targets are exhausted, the route continues with the group's
 * `fallbacks` (and theirs, each group once); a context-window error or a
 * content-policy refusal jumps to the matching fallback list at once.
 * Residency (the request's x-cloudmux-residency or the group's own) filters
 * every group's targets before anything else, so no failure, retry or
 * fallback ever reaches a target outside it.
 *
 * Every admitted attempt ends in exactly one breaker record or cancel and
 * one strategy end, so half-open probe slots and in-flight counts never
 * leak.
 *
 * In a fleet (a shared state store), a target with rpm/tpm limits is also
 * asked of the fleet's count before its attempt starts.  Usually the
 * replica's allowance answers at once (state.h, cmx_state_counters_take);
 * otherwise the route waits for the store (at most state.redis.timeout),
 * and on no answer it goes by this replica's own count, or refuses with
 * `fail_closed`.  Breaker
 * transitions and Retry-After cooldowns learned here are published to the
 * fleet (fleet.c). */
#include "router_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "router/admission.h"
#include "governance/pricing.h"
#include "router/cascade.h"
#include "router/fleet.h"
#include "router/residency.h"

#define RETRY_AFTER_MARGIN_MS 5

struct cmx_route {
    cmx_router *router;
    const cmx_model_group *requested; /* the group the client asked for */
    const cmx_model_group *group;     /* the group being tried now */
    cmx_group_state *gs;
    const char *residency;           /* required region tag, or NULL */
    const cmx_model_group **visited; /* groups entered or queued, in order */
    size_t n_visited;
    size_t next_group; /* next position in visited[] to enter */
    cmx_call call;     /* the caller's, with this attempt's timeout */
    cmx_route_sink sink;
    size_t *order; /* target indices, best first */
    size_t n_order;
    size_t next;            /* next position in order[] */
    size_t current;         /* target of the attempt in flight or waiting to retry */
    unsigned retries_here;  /* retries made on the current target */
    cmx_provider *provider; /* of the attempt in flight */
    cmx_api attempt_api;    /* the API the attempt in flight answers in */
    void *attempt;          /* NULL when none is in flight */
    int admitted;           /* current holds a breaker/strategy slot */
    struct event *retry_timer;
    uint64_t attempt_start_us;
    uint64_t tokens_reserved; /* counted against the target's tpm */
    uint64_t fleet_op;        /* the fleet's rpm/tpm answer being waited for, or 0 */
    int fleet_in_call;        /* cmx_state_counters_take has not returned yet */
    int fleet_verdict;        /* its answer when it came during the call, else -1 */
    cmx_deadline deadline;
    int committed;        /* a stream chunk reached the client */
    unsigned escalations; /* cascade: answers rejected so far */
    double spent_usd;     /* cascade: what the attempts so far cost */
    char *kept_body;      /* cascade: the last rejected answer, delivered if */
    size_t kept_len;      /* every escalation fails */
    const char *kept_provider, *kept_model;
    cmx_route_result result;
    cmx_attempt_record *records;
    size_t records_cap;
    /* A target that cannot take the call in any form (a token count on a
     * target that cannot count, a Messages or Responses request whose chat
     * form is refused) is passed over for the group's others; its refusal
     * is the answer when no target could take the call. */
    int passed_over;    /* the last start_attempt passed its target over */
    cmx_error unsuited; /* the first such refusal */
    int unsuited_seen;
};

static int try_next_target(cmx_route *route);
static int enter_kind_fallback(cmx_route *route, cmx_err kind);

static uint64_t now_us(const cmx_route *route)
{
    return cmx_clock_now_us(&route->router->clock);
}

static const char *target_model(const cmx_route *route, size_t i)
{
    const cmx_target_config *t = &route->group->targets[i];
    return t->model ? t->model : route->group->name;
}

/* Room for one more attempt record; fallback groups can need more than the
 * first group's estimate. */
static int reserve_record(cmx_route *route)
{
    if (route->result.attempts < route->records_cap)
        return 1;
    size_t cap = route->records_cap * 2 + 4;
    cmx_attempt_record *more = cmx_arena_calloc(route->call.arena, cap, sizeof *more);
    if (!more)
        return 0;
    memcpy(more, route->records, route->records_cap * sizeof *more);
    route->records = more;
    route->records_cap = cap;
    route->result.records = more;
    return 1;
}

static void record_attempt(cmx_route *route, const cmx_error *err, uint64_t elapsed)
{
    if (route->result.attempts > route->records_cap)
        return;
    cmx_attempt_record *rec = &route->records[route->result.attempts - 1];
    rec->provider = route->group->targets[route->current].provider->name;
    rec->model = target_model(route, route->current);
    rec->kind = err ? err->kind : CMX_OK;
    rec->cause = err ? err->cause : CMX_CAUSE_NONE;
    rec->status = err ? err->upstream_status : 200;
    rec->latency_ms = (uint32_t)(elapsed / 1000);
    rec->retry_after_ms = err ? err->retry_after_ms : 0;
    rec->message = err ? cmx_arena_strdup(route->call.arena, err->message) : NULL;
    rec->upstream_request_id = route->result.upstream_request_id;
    route->result.upstream_us += elapsed;
    route->result.provider = rec->provider;
    route->result.model = rec->model;
    route->result.group = route->group->name;
    route->result.target = &route->group->targets[route->current];
}

/* Gives back what the current attempt holds: the breaker's probe slot (when
 * the attempt never reported) and the strategy's in-flight count. */
static void release_slot(cmx_route *route, const cmx_error *outcome, uint64_t elapsed, int reported)
{
    if (!route->admitted)
        return;
    route->admitted = 0;
    cmx_group_state *gs = route->gs;
    size_t i = route->current;
    int ok = !outcome || outcome->kind == CMX_OK;
    if (gs->breakers) {
        if (reported) {
            uint64_t now = now_us(route);
            cmx_breaker_transition t =
                cmx_breaker_record(&gs->breakers[i], now, ok ? CMX_OK : outcome->kind);
            cmx_fleet_publish_breaker(cmx_router_fleet(route->router), gs, i, t, now,
                                      cmx_wall_ms());
        } else {
            cmx_breaker_cancel(&gs->breakers[i]);
        }
    }
    cmx_strategy_end(gs->strategy, i, elapsed, ok);
}

/* Ends the route's own resources before its single final sink call. */
static void route_end(cmx_route *route)
{
    if (route->retry_timer) {
        event_free(route->retry_timer);
        route->retry_timer = NULL;
    }
}

/* The stream's first event: the route is committed to this attempt. */
static void commit_stream(cmx_route *route)
{
    if (!route->committed) {
        route->committed = 1;
        route->result.api = route->attempt_api;
        route->result.provider = route->group->targets[route->current].provider->name;
        route->result.model = target_model(route, route->current);
        route->result.group = route->group->name;
        route->result.target = &route->group->targets[route->current];
        route->sink.on_stream_start(route->sink.ctx, &route->result);
    }
}

static void on_chunk(void *ctx, const char *json, size_t len)
{
    cmx_route *route = ctx;
    commit_stream(route);
    route->sink.on_stream_chunk(route->sink.ctx, json, len);
}

static void on_events(void *ctx, const char *sse, size_t len, size_t n)
{
    cmx_route *route = ctx;
    commit_stream(route);
    route->sink.on_stream_events(route->sink.ctx, sse, len, n);
}

/* The error for "every target failed": the status says what kind of outage
 * it was, the message names the last failure, the attempts carry the rest. */
static void all_failed_error(const cmx_route *route, cmx_error *out)
{
    size_t n =
        route->result.attempts < route->records_cap ? route->result.attempts : route->records_cap;
    size_t timeouts = 0, limited = 0, unavailable = 0;
    for (size_t i = 0; i < n; i++) {
        cmx_err k = route->records[i].kind;
        timeouts += k == CMX_ERR_TIMEOUT;
        limited += k == CMX_ERR_RATE_LIMITED;
        unavailable += k == CMX_ERR_UNAVAILABLE;
    }
    cmx_err kind;
    int status;
    if (n && limited == n) {
        kind = CMX_ERR_RATE_LIMITED;
        status = 429;
    } else if (n && timeouts == n) {
        kind = CMX_ERR_TIMEOUT;
        status = 504;
    } else if (unavailable + timeouts + limited == n) {
        kind = CMX_ERR_UNAVAILABLE;
        status = 503;
    } else {
        kind = CMX_ERR_UPSTREAM_PROTOCOL;
        status = 502;
    }
    if (n == 0) {
        cmx_error_set(out, CMX_ERR_UNAVAILABLE,
                      "no target of model '%s' is available: every circuit breaker is open or "
                      "every rate limit is reached",
                      route->requested->name);
        out->status = 503;
        return;
    }
    const cmx_attempt_record *last = &route->records[n - 1];
    cmx_error_set(out, kind, "all %zu attempt%s for model '%s' failed; last: %s", n,
                  n == 1 ? "" : "s", route->requested->name, last->message ? last->message : "");
    out->status = status;
    uint32_t retry = 0;
    for (size_t i = 0; i < n; i++)
        if (route->records[i].retry_after_ms &&
            (!retry || route->records[i].retry_after_ms < retry))
            retry = route->records[i].retry_after_ms;
    out->retry_after_ms = retry;
}

static void fail_route(cmx_route *route, const cmx_error *err)
{
    if (route->kept_body) {
        /* Every escalation failed: the answer the cascade rejected is still
         * an answer, and better than an error. */
        route->result.provider = route->kept_provider;
        route->result.model = route->kept_model;
        route_end(route);
        route->sink.on_response(route->sink.ctx, &route->result, route->kept_body, route->kept_len);
        return;
    }
    cmx_error final;
    if ((!err || cmx_err_fails_over(err->kind)) && route->unsuited_seen &&
        route->result.attempts == 0) {
        final = route->unsuited;
    } else if (!err || cmx_err_fails_over(err->kind)) {
        all_failed_error(route, &final);
    } else {
        final = *err;
        final.status =
            err->upstream_status >= 400 && err->upstream_status < 500 ? err->upstream_status : 0;
    }
    route_end(route);
    route->sink.on_failure(route->sink.ctx, &route->result, &final);
}

static void on_done(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                    size_t len);

/* A 429 with Retry-After: the target is left alone until then by every
 * request here and, in a fleet, everywhere.  A later deadline wins over an
 * earlier one; a hint longer than the breaker's longest cooldown is cut to
 * it, so one odd header cannot bench a target for hours. */
static void learn_cooldown(cmx_route *route, uint32_t retry_after_ms)
{
    const cmx_model_group *g = route->group;
    uint32_t cap = g->breaker.max_cooldown_ms ? g->breaker.max_cooldown_ms : 300000;
    uint64_t now = now_us(route);
    uint64_t until = now + (uint64_t)(retry_after_ms < cap ? retry_after_ms : cap) * 1000;
    cmx_cooldown_extend(&route->gs->cooldown_until_us[route->current], until);
    cmx_fleet_publish_cooldown(cmx_router_fleet(route->router), route->gs, route->current, until,
                               now, cmx_wall_ms());
}

/* The fleet's counters of target i: requests and tokens per minute. */
static size_t fleet_counters(cmx_route *route, size_t i, cmx_state_counter *c, char *names,
                             size_t names_len, int64_t tokens)
{
    const cmx_target_config *t = &route->group->targets[i];
    const char *subject = route->gs->subjects[i];
    size_t n = 0;
    if (t->rpm && tokens >= 0) {
        snprintf(names, names_len / 2, "rpm:%s", subject);
        c[n++] = (cmx_state_counter){names, 60000, 60, (int64_t)t->rpm, 1, false};
    }
    if (t->tpm) {
        snprintf(names + names_len / 2, names_len / 2, "tpm:%s", subject);
        c[n++] =
            (cmx_state_counter){names + names_len / 2, 60000, 60, (int64_t)t->tpm, tokens, true};
    }
    return n;
}

/* The answer's tokens replace the request's estimate in the fleet's tpm
 * (sent with other settlements within a few milliseconds). */
static void fleet_settle_tokens(cmx_route *route, int64_t delta)
{
    cmx_state_worker *sw = cmx_router_fleet(route->router);
    if (!sw || !delta || !route->group->targets[route->current].tpm)
        return;
    cmx_state_counter c[2];
    char names[1200];
    /* tokens < 0 leaves the request counter out */
    size_t n = fleet_counters(route, route->current, c, names, sizeof names, -1);
    c[0].delta = delta;
    cmx_state_counters_settle(sw, c, n);
}

/* Gives back what admission took for the current target when the attempt
 * will not start: the breaker's probe slot and the local rate slot. */
static void unadmit(cmx_route *route)
{
    cmx_group_state *gs = route->gs;
    route->admitted = 0;
    if (gs->breakers)
        cmx_breaker_cancel(&gs->breakers[route->current]);
    if (gs->limits)
        cmx_ratelimit_release(&gs->limits[route->current], now_us(route), route->tokens_reserved);
}

static int start_attempt(cmx_route *route, cmx_error *err);
static void continue_after_admission(cmx_route *route);

static void on_fleet_count(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    cmx_route *route = ctx;
    route->fleet_op = 0;
    if (route->fleet_in_call) {
        route->fleet_verdict = (int)v;
        return;
    }
    route->fleet_verdict = (int)v;
    continue_after_admission(route);
}

/* Asks the fleet's count for the current, locally admitted target.
 * Returns 1 when the route now waits for the answer, 0 when it is known
 * (route->fleet_verdict). */
static int fleet_admit(cmx_route *route)
{
    cmx_state_worker *sw = cmx_router_fleet(route->router);
    const cmx_target_config *t = &route->group->targets[route->current];
    route->fleet_verdict = CMX_STATE_YES;
    if (!sw || (!t->rpm && !t->tpm))
        return 0;
    cmx_state_counter c[2];
    char names[1200];
    size_t n = fleet_counters(route, route->current, c, names, sizeof names,
                              (int64_t)route->tokens_reserved);
    route->fleet_in_call = 1;
    route->fleet_verdict = -1;
    route->fleet_op = cmx_state_counters_take(sw, c, n, on_fleet_count, route);
    route->fleet_in_call = 0;
    return route->fleet_op != 0;
}

/* After the fleet's answer: 1 when the attempt may go (the store said yes,
 * or could not say and the store fails open). */
static int fleet_allows(cmx_route *route)
{
    if (route->fleet_verdict == CMX_STATE_YES)
        return 1;
    if (route->fleet_verdict == CMX_STATE_UNAVAILABLE &&
        !cmx_state_fail_closed(cmx_state_of(route->router->state)))
        return 1;
    return 0;
}

static void on_upstream_id(void *ctx, const char *id, size_t len)
{
    cmx_route *route = ctx;
    route->result.upstream_request_id = cmx_arena_strndup(route->call.arena, id, len);
}

/* The call as target t takes it: the client's own when its provider serves
 * the call's API, else its chat form (in *chat).  NULL with err set when t
 * can take it in neither form. */
static const cmx_call *call_for_target(cmx_route *route, const cmx_target_config *t, cmx_call *chat,
                                       cmx_error *err)
{
    const cmx_call *call = &route->call;
    route->attempt_api = call->api;
    if (call->api == CMX_API_CHAT || call->api == CMX_API_EMBEDDINGS)
        return call;
    const cmx_provider_vtable *vt = route->provider->vt;
    if (vt->serves && vt->serves(route->provider->state, t, call->api))
        return call;
    if (call->api == CMX_API_COUNT_TOKENS || !call->as_chat) {
        cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                      "provider '%s' (%s) cannot count tokens: /v1/messages/count_tokens is served "
                      "by anthropic targets and by Claude on bedrock and vertex",
                      t->provider->name, vt->type);
        return NULL;
    }
    *chat = *call;
    if (call->as_chat->convert(call->as_chat->ctx, chat, err) != CMX_OK)
        return NULL;
    route->attempt_api = chat->api;
    return chat;
}

/* Starts an attempt on route->current, which holds an admitted slot.
 * Returns 1 when it is in flight; 0 with *err filled when it could not start. */
static int start_attempt(cmx_route *route, cmx_error *err)
{
    const cmx_target_config *t = &route->group->targets[route->current];
    uint64_t now = now_us(route);
    cmx_attempt_sink attempt_sink = {on_chunk, on_done, route, on_upstream_id,
                                     route->sink.on_stream_events ? on_events : NULL};
    route->provider = cmx_router_provider(route->router, t->provider);
    route->attempt_start_us = now;
    if (!reserve_record(route)) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return 0;
    }
    route->result.attempts++;
    route->result.upstream_request_id = NULL; /* this attempt's, when its answer has one */
    route->call.attempt_timeout_ms = cmx_deadline_attempt_ms(&route->deadline, now, 0);
    if (route->call.attempt_timeout_ms == 0) {
        cmx_error_set(err, CMX_ERR_TIMEOUT, "the request's deadline of %u ms has passed",
                      route->group->timeout_ms);
        err->cause = CMX_CAUSE_TOTAL_TIMEOUT;
    } else {
        cmx_strategy_begin(route->gs->strategy, route->current);
        cmx_error_clear(err);
        cmx_call chat;
        const cmx_call *call = call_for_target(route, t, &chat, err);
        if (!call && err->kind == CMX_ERR_BAD_REQUEST) {
            /* not an attempt: the target cannot take this call */
            route->result.attempts--;
            route->passed_over = 1;
            if (!route->unsuited_seen) {
                route->unsuited = *err;
                route->unsuited_seen = 1;
            }
            release_slot(route, err, 0, 0);
            return 0;
        }
        if (call) {
            route->attempt =
                route->provider->vt->start(route->provider->state, call, t, &attempt_sink, err);
            if (route->attempt)
                return 1;
        }
    }
    record_attempt(route, err, 0);
    release_slot(route, err, 0, 1);
    return 0;
}

/* start_attempt failed: whether the route goes on to the next target (a
 * target passed over, or a failure that fails over). */
static int goes_on(cmx_route *route, const cmx_error *err)
{
    int over = route->passed_over;
    route->passed_over = 0;
    return over || cmx_err_fails_over(err->kind);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_route *route = arg;
    cmx_group_state *gs = route->gs;
    uint64_t now = now_us(route);
    cmx_error err;
    /* The breaker may have opened meanwhile: then the next target it is. */
    if (!cmx_cooldown_active(&gs->cooldown_until_us[route->current], now) &&
        cmx_deployment_admit(gs->breakers, gs->limits, route->current, now,
                             route->tokens_reserved)) {
        route->admitted = 1;
        if (fleet_admit(route))
            return;
        if (fleet_allows(route)) {
            if (start_attempt(route, &err))
                return;
            if (!goes_on(route, &err)) {
                fail_route(route, &err);
                return;
            }
        } else {
            unadmit(route);
        }
    }
    try_next_target(route);
}

/* Schedules another try on the current target, if the kind, the retry
 * count, the budget and the deadline all allow it. */
static int schedule_retry(cmx_route *route, const cmx_error *err)
{
    cmx_group_state *gs = route->gs;
    const cmx_model_group *g = route->group;
    if (!cmx_err_is_retryable(err->kind) || route->retries_here >= g->num_retries)
        return 0;
    if (err->retry_after_ms > g->retry.max_retry_after_ms)
        return 0; /* the upstream asks for a longer wait than is worth it: fail over */
    uint64_t now = now_us(route);
    uint32_t delay = cmx_backoff_delay_ms(&gs->backoff, route->retries_here, err->retry_after_ms,
                                          &route->router->rng);
    /* libevent's timers run on the coarse monotonic clock (a few ms of
     * granularity): a server's wait is padded so it is never cut short. */
    if (err->retry_after_ms)
        delay += RETRY_AFTER_MARGIN_MS;
    if (!cmx_deadline_allows_delay(&route->deadline, now, delay, 1))
        return 0;
    if (!cmx_retry_budget_acquire(&gs->budget, now))
        return 0;
    if (!route->retry_timer) {
        route->retry_timer = evtimer_new(route->router->env.base, on_retry_timer, route);
        if (!route->retry_timer)
            return 0;
    }
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    /* libevent counts from the time cached at the start of this loop turn;
     * refresh it so a Retry-After wait is never cut short. */
    event_base_update_cache_time(route->router->env.base);
    evtimer_add(route->retry_timer, &tv);
    route->retries_here++;
    return 1;
}

/* Cascade: judges a whole answer; when it fails the check and the caps
 * allow, keeps it and moves on to the next (pricier) target.  Returns 1 when
 * the route went on. */
static int cascade_escalates(cmx_route *route, const cmx_usage *usage, const char *body, size_t len)
{
    const cmx_model_group *g = route->group;
    if (!route->gs->cascade || !body || route->call.scan->stream || route->call.api != CMX_API_CHAT)
        return 0;
    /* charged as the client is told (x-cloudmux-cost-usd): cached tokens too */
    double spent = cmx_price_cost(&g->targets[route->current].price, usage);
    if (spent > 0)
        route->spent_usd += spent;
    if (route->escalations >= g->cascade.max_escalations || route->next >= route->n_order)
        return 0;
    double next_cost =
        cmx_price_estimate(&g->targets[route->order[route->next]].price, route->tokens_reserved);
    if (g->cascade.max_cost_usd > 0 &&
        route->spent_usd + (next_cost > 0 ? next_cost : 0) > g->cascade.max_cost_usd)
        return 0;
    const char *reason = cmx_cascade_reject_reason(g, &route->call, body, len);
    if (!reason)
        return 0;
    route->escalations++;
    route->kept_body = cmx_arena_strndup(route->call.arena, body, len);
    route->kept_len = len;
    route->kept_provider = route->result.provider;
    route->kept_model = route->result.model;
    cmx_attempt_record *rec = &route->records[route->result.attempts - 1];
    rec->message =
        cmx_arena_sprintf(route->call.arena, "answer rejected by the cascade check: %s", reason);
    try_next_target(route);
    return 1;
}

static void on_done(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                    size_t len)
{
    cmx_route *route = ctx;
    int ok = !err || err->kind == CMX_OK;
    uint64_t elapsed = now_us(route) - route->attempt_start_us;
    route->attempt = NULL;
    record_attempt(route, ok ? NULL : err, elapsed);
    release_slot(route, ok ? NULL : err, elapsed, 1);
    if (usage) {
        route->result.usage = *usage;
        if (usage->total_tokens >= 0 && route->gs->limits) {
            int64_t delta = usage->total_tokens - (int64_t)route->tokens_reserved;
            cmx_ratelimit_adjust_tokens(&route->gs->limits[route->current], now_us(route), delta);
            fleet_settle_tokens(route, delta);
        }
    }
    if (!ok && err->kind == CMX_ERR_RATE_LIMITED && err->retry_after_ms)
        learn_cooldown(route, err->retry_after_ms);

    if (ok && cascade_escalates(route, usage, body, len))
        return;
    if (ok) {
        route_end(route);
        route->result.api = route->attempt_api;
        if (cmx_call_streams(&route->call)) {
            if (!route->committed) { /* a complete stream with no chunk at all */
                route->committed = 1;
                route->sink.on_stream_start(route->sink.ctx, &route->result);
            }
            route->sink.on_stream_end(route->sink.ctx, &route->result, NULL);
        } else {
            route->sink.on_response(route->sink.ctx, &route->result, body, len);
        }
        return;
    }
    if (route->committed) {
        route_end(route);
        route->sink.on_stream_end(route->sink.ctx, &route->result, err);
        return;
    }
    if (schedule_retry(route, err))
        return;
    if (cmx_err_fails_over(err->kind)) {
        try_next_target(route);
        return;
    }
    if (enter_kind_fallback(route, err->kind)) {
        try_next_target(route);
        return;
    }
    fail_route(route, err);
}

/* Targets whose provider the health checks have not marked down. */
static uint64_t health_mask(const cmx_route *route, const cmx_model_group *g)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < g->n_targets && i < 64; i++)
        if (!atomic_load_explicit(
                cmx_router_shared_provider_down(route->router->shared, g->targets[i].provider),
                memory_order_relaxed))
            mask |= UINT64_C(1) << i;
    return mask;
}

/* Targets not cooling down after a Retry-After. */
static uint64_t cooldown_mask(const cmx_group_state *gs, size_t n, uint64_t now)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (!cmx_cooldown_active(&gs->cooldown_until_us[i], now))
            mask |= UINT64_C(1) << i;
    return mask;
}

static int was_visited(const cmx_route *route, const cmx_model_group *g)
{
    for (size_t i = 0; i < route->n_visited; i++)
        if (route->visited[i] == g)
            return 1;
    return 0;
}

static void queue_group(cmx_route *route, const cmx_model_group *g)
{
    if (g && !was_visited(route, g) && route->n_visited < route->router->cfg->n_models)
        route->visited[route->n_visited++] = g;
}

/* For the cheapest strategy: what the request would cost on each target, as
 * its estimated prompt tokens at the input price plus as many at the output
 * price.  A target without a known price sorts after every priced one. */
static const double *expected_costs(cmx_route *route, const cmx_model_group *g)
{
    if (!route->gs->by_price)
        return NULL;
    double *costs = cmx_arena_calloc(route->call.arena, g->n_targets, sizeof *costs);
    if (!costs)
        return NULL;
    for (size_t i = 0; i < g->n_targets; i++) {
        double c = cmx_price_estimate(&g->targets[i].price, route->tokens_reserved);
        costs[i] = c >= 0 ? c : 1e300;
    }
    return costs;
}

/* Makes g the group being tried: its state, its order of admitted targets
 * inside the residency, and its own fallbacks queued behind. */
static void enter_group(cmx_route *route, const cmx_model_group *g)
{
    route->group = g;
    route->gs = cmx_router_shared_group(route->router->shared, g);
    route->next = 0;
    route->n_order = 0;
    size_t *order = cmx_arena_calloc(route->call.arena, g->n_targets, sizeof *order);
    if (!order)
        return;
    route->order = order;
    for (size_t i = 0; i < g->fallbacks[CMX_FALLBACK_ANY].n; i++)
        queue_group(route, g->fallbacks[CMX_FALLBACK_ANY].groups[i]);
    uint64_t now = now_us(route);
    cmx_pick_request pick = {
        .eligible = cmx_residency_targets(route->residency, g) & health_mask(route, g) &
                    cooldown_mask(route->gs, g->n_targets, now) &
                    cmx_eligible_mask(route->gs->breakers, route->gs->limits, g->n_targets, now,
                                      route->tokens_reserved),
        .costs = expected_costs(route, g),
        .rng = &route->router->rng,
    };
    route->n_order = cmx_strategy_pick(route->gs->strategy, &pick, order);
    /* A shared breaker whose cooldown is over waits for the fleet's probe
     * lease; this request asks for it and goes elsewhere meanwhile. */
    for (size_t i = 0; route->gs->breakers && i < g->n_targets && i < 64; i++)
        if (!(pick.eligible & (UINT64_C(1) << i)))
            cmx_probe_lease_ask(route->router, route->gs, i, now);
}

/* Moves on to the next queued fallback group; 0 when there is none. */
static int enter_next_group(cmx_route *route)
{
    while (route->next_group < route->n_visited) {
        enter_group(route, route->visited[route->next_group++]);
        if (route->n_order)
            return 1;
    }
    return 0;
}

/* A context-window or content-policy failure: the matching fallbacks of the
 * current group, at once.  0 when it has none left to try. */
static int enter_kind_fallback(cmx_route *route, cmx_err kind)
{
    cmx_fallback_kind k = kind == CMX_ERR_CONTEXT_WINDOW   ? CMX_FALLBACK_CONTEXT_WINDOW
                          : kind == CMX_ERR_CONTENT_POLICY ? CMX_FALLBACK_CONTENT_POLICY
                                                           : CMX_FALLBACK__COUNT;
    if (k == CMX_FALLBACK__COUNT)
        return 0;
    const cmx_fallback_list *fl = &route->group->fallbacks[k];
    for (size_t i = 0; i < fl->n; i++) {
        const cmx_model_group *g = fl->groups[i];
        if (!g || was_visited(route, g))
            continue;
        /* Tried next, ahead of anything already queued. */
        route->visited[route->n_visited++] = g;
        memmove(&route->visited[route->next_group + 1], &route->visited[route->next_group],
                (route->n_visited - 1 - route->next_group) * sizeof *route->visited);
        route->visited[route->next_group] = g;
        return enter_next_group(route);
    }
    return 0;
}

/* Starts attempts down the order until one is in flight; returns 0 when the
 * route has ended instead (with on_failure). */
static int try_next_target(cmx_route *route)
{
    cmx_group_state *gs;
    cmx_error err;
    cmx_error_clear(&err);
    const cmx_error *last = NULL;
    for (;;) {
        while (route->next < route->n_order) {
            gs = route->gs;
            route->current = route->order[route->next++];
            route->retries_here = 0;
            uint64_t now = now_us(route);
            if (cmx_cooldown_active(&gs->cooldown_until_us[route->current], now) ||
                !cmx_deployment_admit(gs->breakers, gs->limits, route->current, now,
                                      route->tokens_reserved))
                continue;
            route->admitted = 1;
            if (fleet_admit(route))
                return 1; /* continue_after_admission() goes on */
            if (!fleet_allows(route)) {
                unadmit(route);
                continue;
            }
            if (start_attempt(route, &err))
                return 1;
            if (route->passed_over) {
                route->passed_over = 0;
                continue;
            }
            last = &err;
            if (!cmx_err_fails_over(err.kind)) {
                fail_route(route, last);
                return 0;
            }
        }
        if (!enter_next_group(route))
            break;
    }
    fail_route(route, last);
    return 0;
}

/* The fleet's answer came for the current target. */
static void continue_after_admission(cmx_route *route)
{
    cmx_error err;
    if (!fleet_allows(route)) {
        unadmit(route);
        try_next_target(route);
        return;
    }
    if (start_attempt(route, &err))
        return;
    if (!goes_on(route, &err)) {
        fail_route(route, &err);
        return;
    }
    try_next_target(route);
}

static void fail_now(const cmx_route_sink *sink, cmx_err kind, const char *message)
{
    cmx_error err;
    cmx_route_result empty = {0};
    cmx_error_set(&err, kind, "%s", message);
    sink->on_failure(sink->ctx, &empty, &err);
}

cmx_route *cmx_route_start(cmx_router *r, const cmx_model_group *group, const cmx_call *call,
                           const cmx_route_sink *sink)
{
    size_t cap = group->n_targets * (group->num_retries + 1);
    cmx_route *route = cmx_arena_calloc(call->arena, 1, sizeof *route);
    cmx_attempt_record *records =
        route ? cmx_arena_calloc(call->arena, cap, sizeof *records) : NULL;
    const cmx_model_group **visited =
        records ? cmx_arena_calloc(call->arena, r->cfg->n_models, sizeof *visited) : NULL;
    if (!visited) {
        fail_now(sink, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    route->router = r;
    route->requested = group;
    route->call = *call;
    route->sink = *sink;
    route->records = records;
    route->records_cap = cap;
    route->visited = visited;
    route->result.records = records;
    route->result.group = group->name;
    cmx_usage_init(&route->result.usage);
    route->result.api = call->api;

    cmx_residency where;
    cmx_error why;
    if (cmx_residency_decide(call, group, &where, &why) != CMX_OK) {
        fail_now(sink, why.kind, why.message);
        return NULL;
    }
    route->residency = where.tag;

    uint64_t now = now_us(route);
    route->deadline = cmx_deadline_after(now, group->timeout_ms);
    /* About four bytes a token: what the request will count against tpm. */
    route->tokens_reserved = call->body_len / 4 + 1;
    route->visited[route->n_visited++] = group;
    route->next_group = 1;
    enter_group(route, group);
    cmx_retry_budget_record_request(&route->gs->budget, now);
    /* Before the real attempt, which may end the request (and its arena) at once. */
    cmx_shadow_maybe_start(r, group, call, route->residency);
    return try_next_target(route) ? route : NULL;
}

void cmx_route_cancel(cmx_route *route)
{
    if (!route)
        return;
    if (route->fleet_op) {
        cmx_state_cancel(route->router->state, route->fleet_op);
        route->fleet_op = 0;
        unadmit(route);
    }
    uint64_t elapsed = now_us(route) - route->attempt_start_us;
    if (route->attempt) {
        route->provider->vt->cancel(route->attempt);
        route->attempt = NULL;
        /* The attempt ran until now: the log names it, and its time is the
         * provider's, not the gateway's overhead. */
        cmx_error cancelled;
        cmx_error_set(&cancelled, CMX_ERR_CANCELLED, "cancelled while waiting for the provider");
        record_attempt(route, &cancelled, elapsed);
    }
    release_slot(route, NULL, elapsed, 0);
    route_end(route);
}

const cmx_route_result *cmx_route_result_of(const cmx_route *route)
{
    return route ? &route->result : NULL;
}
