/* test_router.c — the attempt loop, driven through real mock providers on a
 * real event loop: failover on retryable kinds, none on the client's own
 * errors, the "every target failed" status, streams committed at their first
 * chunk, and cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <string.h>

#include "helpers/config_load.h"
#include "router/group_state.h"
#include "router/residency.h"
#include "core/str.h"
#include "router/router.h"

typedef struct outcome {
    int responses, stream_starts, stream_ends, failures, chunks;
    int saw_error_at_end;
    cmx_error err;
    size_t attempts;
    char provider[64];
    char body[2048];
    cmx_usage usage;
    cmx_err record_kinds[8];
    char record_providers[8][32];
    char group[64];
    struct event_base *base;
} outcome;

static void keep_result(outcome *o, const cmx_route_result *r)
{
    o->attempts = r->attempts;
    snprintf(o->group, sizeof o->group, "%s", r->group ? r->group : "");
    for (size_t i = 0; i < r->attempts && i < 8; i++)
        snprintf(o->record_providers[i], sizeof o->record_providers[i], "%s",
                 r->records[i].provider ? r->records[i].provider : "");
    snprintf(o->provider, sizeof o->provider, "%s", r->provider ? r->provider : "");
    o->usage = r->usage;
    for (size_t i = 0; i < r->attempts && i < 8; i++)
        o->record_kinds[i] = r->records[i].kind;
}

static void on_response(void *ctx, const cmx_route_result *r, const char *body, size_t len)
{
    outcome *o = ctx;
    o->responses++;
    keep_result(o, r);
    snprintf(o->body, sizeof o->body, "%.*s", (int)len, body);
    event_base_loopbreak(o->base);
}

static void on_stream_start(void *ctx, const cmx_route_result *r)
{
    outcome *o = ctx;
    o->stream_starts++;
    keep_result(o, r);
}

static void on_stream_chunk(void *ctx, const char *json, size_t len)
{
    ((outcome *)ctx)->chunks++;
}

static void on_stream_end(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    outcome *o = ctx;
    o->stream_ends++;
    keep_result(o, r);
    if (err) {
        o->saw_error_at_end = 1;
        o->err = *err;
    }
    event_base_loopbreak(o->base);
}

static void on_failure(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    outcome *o = ctx;
    o->failures++;
    keep_result(o, r);
    o->err = *err;
    event_base_loopbreak(o->base);
}

static const char *config_yaml =
    "providers:\n"
    "  down:    {type: mock, failure_rate: 1, failure_status: 503}\n"
    "  limited: {type: mock, failure_rate: 1, failure_status: 429}\n"
    "  refuses: {type: mock, failure_rate: 1, failure_status: 400}\n"
    "  slow:    {type: mock, failure_rate: 1, failure_status: 504}\n"
    "  healthy: {type: mock, latency: 1ms, stream_chunks: 3, content: \"hello there\"}\n"
    "  sluggish: {type: mock, latency: 5s, timeouts: {first_byte: 20ms}}\n"
    "  glacial: {type: mock, latency: 5s}\n"
    "  terse: {type: mock, content: \"No.\"}\n"
    "  refuser: {type: mock, content: \"I can't help with that, sorry about it.\"}\n"
    "  thorough: {type: mock, content: \"A complete and helpful answer.\"}\n"
    "  standby: {type: mock, latency: 50ms, failure_rate: 1}\n"
    "models:\n"
    "  failover: {targets: [{provider: down}, {provider: limited}, {provider: healthy}]}\n"
    "  client_error: {targets: [{provider: refuses}, {provider: healthy}]}\n"
    "  all_limited: {targets: [{provider: limited}, {provider: limited}]}\n"
    "  all_timeout: {targets: [{provider: slow}]}\n"
    "  mixed_down: {targets: [{provider: down}, {provider: slow}]}\n"
    "  healthy_only: {targets: [{provider: healthy, model: sim-1}]}\n"
    "  sluggish_first: {targets: [{provider: sluggish}, {provider: healthy}]}\n"
    "  retried: {num_retries: 2, retry: {base: 1ms, cap: 2ms}, breaker: false,\n"
    "            targets: [{provider: down}, {provider: healthy}]}\n"
    "  no_retry_on_400: {num_retries: 3, targets: [{provider: refuses}]}\n"
    "  tripping: {breaker: {consecutive_failures: 3, cooldown: 10s},\n"
    "             targets: [{provider: down}, {provider: healthy}]}\n"
    "  split: {strategy: weighted, targets: [{provider: healthy, model: a, weight: 3},\n"
    "                                        {provider: healthy, model: b, weight: 1}]}\n"
    "  deadline: {timeout: 30ms, targets: [{provider: glacial}, {provider: healthy}]}\n"
    "  falls_back: {fallbacks: [healthy_only], targets: [{provider: down}]}\n"
    "  climb: {strategy: cascade, cascade: {min_length: 10, refusal_prefixes: [\"i can't\"]},\n"
    "         targets: [{provider: thorough, price: {input: 10, output: 30}},\n"
    "                   {provider: terse, price: {input: 0.1, output: 0.1}},\n"
    "                   {provider: refuser, price: {input: 1, output: 1}}]}\n"
    "  climb_capped: {strategy: cascade, cascade: {min_length: 10, max_escalations: 0},\n"
    "         targets: [{provider: thorough, price: {input: 10, output: 30}},\n"
    "                   {provider: terse, price: {input: 0.1, output: 0.1}}]}\n"
    "  climb_blocked: {strategy: cascade, cascade: {min_length: 10}, breaker: false,\n"
    "         targets: [{provider: down, price: {input: 10, output: 30}},\n"
    "                   {provider: terse, price: {input: 0.1, output: 0.1}}]}\n"
    "  thrifty: {strategy: cheapest, targets: [\n"
    "      {provider: healthy, model: unpriced},\n"
    "      {provider: healthy, model: premium, price: {input: 5, output: 15}},\n"
    "      {provider: healthy, model: budget, price: {input: 0.1, output: 0.4}},\n"
    "      {provider: down, model: bargain, price: {input: 0.01, output: 0.02}}]}\n"
    "  mirrored: {shadow: {provider: standby, percent: 100}, targets: [{provider: healthy}]}\n"
    "  limited_rpm: {targets: [{provider: healthy, model: first, rpm: 2},\n"
    "                          {provider: healthy, model: second}]}\n";

typedef struct fixture {
    struct event_base *base;
    cmx_config *cfg;
    cmx_router_shared *shared;
    cmx_router *router;
    cmx_arena *arena;
} fixture;

static int setup(void **state)
{
    static fixture f;
    f.cfg = cmx_test_config_ok(config_yaml, "router-test.yaml");
    f.base = event_base_new();
    cmx_worker_env env = {f.base, NULL};
    cmx_error err;
    f.shared = cmx_router_shared_new(f.cfg, &err);
    assert_non_null(f.shared);
    f.router = cmx_router_new(f.cfg, f.shared, &env, &err);
    assert_non_null(f.router);
    f.arena = cmx_arena_new(4096);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_router_free(f->router);
    cmx_router_shared_free(f->shared);
    cmx_config_unref(f->cfg);
    event_base_free(f->base);
    cmx_arena_free(f->arena);
    return 0;
}

static const char *run_residency; /* x-cloudmux-residency for the next run() */

static void run(fixture *f, const char *group, int stream, int include_usage, outcome *o)
{
    static cmx_request_scan scan;
    static cmx_call call;
    memset(o, 0, sizeof *o);
    memset(&scan, 0, sizeof scan);
    cmx_arena_reset(f->arena);
    o->base = f->base;
    snprintf(scan.model_name, sizeof scan.model_name, "%s", group);
    scan.stream = stream;
    scan.include_usage = include_usage;
    call.api = CMX_API_CHAT;
    call.body = "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    call.body_len = strlen(call.body);
    call.scan = &scan;
    call.arena = f->arena;
    call.residency_header = run_residency;
    const cmx_model_group *g = cmx_config_find_model(f->cfg, group, strlen(group));
    assert_non_null(g);
    cmx_route_sink sink = {
        on_response, on_stream_start, on_stream_chunk, on_stream_end, on_failure, o, NULL};
    if (cmx_route_start(f->router, g, &call, &sink))
        event_base_dispatch(f->base);
}

static void fails_over_past_503_and_429_to_the_healthy_target(void **state)
{
    outcome o;
    run(*state, "failover", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.failures, 0);
    assert_int_equal(o.attempts, 3);
    assert_string_equal(o.provider, "healthy");
    assert_int_equal(o.record_kinds[0], CMX_ERR_UNAVAILABLE);
    assert_int_equal(o.record_kinds[1], CMX_ERR_RATE_LIMITED);
    assert_int_equal(o.record_kinds[2], CMX_OK);
    assert_non_null(strstr(o.body, "hello there"));
    assert_true(o.usage.completion_tokens == 2);
}

static void does_not_fail_over_on_the_clients_own_400(void **state)
{
    outcome o;
    run(*state, "client_error", 0, 0, &o);
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.err.kind, CMX_ERR_BAD_REQUEST);
    assert_int_equal(o.err.status, 400);
}

static void answers_429_when_every_target_is_rate_limited(void **state)
{
    outcome o;
    run(*state, "all_limited", 0, 0, &o);
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.err.status, 429);
    assert_non_null(strstr(o.err.message, "all 2 attempts"));
}

static void answers_504_when_every_target_timed_out(void **state)
{
    outcome o;
    run(*state, "all_timeout", 0, 0, &o);
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.err.status, 504);
}

static void answers_503_when_targets_were_down_or_slow(void **state)
{
    outcome o;
    run(*state, "mixed_down", 0, 0, &o);
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.err.status, 503);
}

static void fails_over_when_the_first_byte_timeout_passes(void **state)
{
    outcome o;
    run(*state, "sluggish_first", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.record_kinds[0], CMX_ERR_TIMEOUT);
    assert_string_equal(o.provider, "healthy");
}

static void retries_the_same_target_before_failing_over(void **state)
{
    outcome o;
    run(*state, "retried", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    /* 1 try + 2 retries on "down", then "healthy" */
    assert_int_equal(o.attempts, 4);
    assert_int_equal(o.record_kinds[0], CMX_ERR_UNAVAILABLE);
    assert_int_equal(o.record_kinds[2], CMX_ERR_UNAVAILABLE);
    assert_int_equal(o.record_kinds[3], CMX_OK);
}

static void never_retries_the_clients_own_error(void **state)
{
    outcome o;
    run(*state, "no_retry_on_400", 0, 0, &o);
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 1);
    assert_int_equal(o.err.status, 400);
}

static void breaker_opens_after_consecutive_failures_and_skips_the_target(void **state)
{
    outcome o;
    for (int i = 0; i < 3; i++) {
        run(*state, "tripping", 0, 0, &o);
        assert_int_equal(o.attempts, 2); /* down, then healthy */
    }
    /* Three failures in a row: "down" is skipped while its breaker is open. */
    run(*state, "tripping", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 1);
    assert_string_equal(o.provider, "healthy");
}

static void weighted_strategy_splits_traffic_by_weight(void **state)
{
    fixture *f = *state;
    int first = 0;
    for (int i = 0; i < 400; i++) {
        outcome o;
        run(f, "split", 0, 0, &o);
        assert_int_equal(o.responses, 1);
        first += strstr(o.body, "\"model\":\"a\"") != NULL;
    }
    /* smooth weighted round-robin is exact over whole cycles: 3 of every 4 */
    assert_int_equal(first, 300);
}

static void the_request_deadline_bounds_every_attempt(void **state)
{
    outcome o;
    run(*state, "deadline", 0, 0, &o);
    /* the 5 s mock is cut at the 30 ms deadline, and nothing is left for the next */
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.record_kinds[0], CMX_ERR_TIMEOUT);
    assert_int_equal(o.record_kinds[1], CMX_ERR_TIMEOUT);
    assert_int_equal(o.err.status, 504);
}

static void rpm_limit_sends_the_excess_to_the_next_target(void **state)
{
    outcome o;
    for (int i = 0; i < 2; i++) {
        run(*state, "limited_rpm", 0, 0, &o);
        assert_non_null(strstr(o.body, "\"model\":\"first\""));
    }
    run(*state, "limited_rpm", 0, 0, &o);
    assert_non_null(strstr(o.body, "\"model\":\"second\""));
    assert_int_equal(o.attempts, 1);
}

static void continues_with_the_fallback_group_when_every_target_failed(void **state)
{
    outcome o;
    run(*state, "falls_back", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 2);
    assert_string_equal(o.group, "healthy_only");
    assert_string_equal(o.provider, "healthy");
}

/* Residency, as a table: three targets (two in the EU, one in the US) in
 * every combination of up and down, the region asked by the group or by the
 * request, with a US-only fallback group behind.  No attempt may ever reach
 * the US target. */
static void residency_is_never_violated_in_any_failure_combination(void **state)
{
    for (int by_header = 0; by_header < 2; by_header++) {
        for (int combo = 0; combo < 8; combo++) {
            int eu1_up = combo & 1, us_up = combo & 2, eu2_up = combo & 4;
            char yaml[1024];
            snprintf(yaml, sizeof yaml,
                     "providers:\n"
                     "  eu1: {type: mock, residency: eu, failure_rate: %d}\n"
                     "  us1: {type: mock, residency: us, failure_rate: %d}\n"
                     "  eu2: {type: mock, residency: eu, failure_rate: %d}\n"
                     "  usonly: {type: mock, residency: us}\n"
                     "models:\n"
                     "  us_fallback: [{provider: usonly}]\n"
                     "  g: {strategy: round-robin, num_retries: 1, retry: {base: 1ms},\n"
                     "      breaker: false, %s fallbacks: [us_fallback],\n"
                     "      targets: [{provider: eu1}, {provider: us1}, {provider: eu2}]}\n",
                     !eu1_up, !us_up, !eu2_up, by_header ? "" : "residency: eu,");
            cmx_config *cfg = cmx_test_config_ok(yaml, "res.yaml");
            fixture f = {0};
            cmx_error err;
            f.cfg = cfg;
            f.base = event_base_new();
            cmx_worker_env env = {f.base, NULL};
            f.shared = cmx_router_shared_new(cfg, &err);
            f.router = cmx_router_new(cfg, f.shared, &env, &err);
            f.arena = cmx_arena_new(4096);
            for (int rep = 0; rep < 4; rep++) { /* round-robin: every target gets to be first */
                outcome o;
                run_residency = by_header ? "eu" : NULL;
                run(&f, "g", 0, 0, &o);
                run_residency = NULL;
                for (size_t i = 0; i < o.attempts && i < 8; i++)
                    assert_true(strcmp(o.record_providers[i], "eu1") == 0 ||
                                strcmp(o.record_providers[i], "eu2") == 0);
                if (eu1_up || eu2_up) {
                    assert_int_equal(o.responses, 1);
                    assert_true(o.provider[0] == 'e' && o.provider[1] == 'u');
                } else {
                    assert_int_equal(o.failures, 1);
                    assert_int_equal(o.err.status, 503); /* an outage, not a residency refusal */
                }
            }
            fixture *fp = &f;
            teardown((void **)&fp);
        }
    }
}

static void residency_with_no_target_inside_is_refused_before_sending(void **state)
{
    outcome o;
    run_residency = "ap";
    run(*state, "healthy_only", 0, 0, &o);
    run_residency = NULL;
    assert_int_equal(o.failures, 1);
    assert_int_equal(o.attempts, 0);
    assert_int_equal(o.err.kind, CMX_ERR_RESIDENCY);
    assert_int_equal(cmx_err_http_status(o.err.kind), 403);
    assert_non_null(strstr(o.err.message, "residency 'ap'"));
}

/* The header, the API key and the group each may name a region; the one
 * decision takes whichever is set and refuses any two that differ. */
static void residency_is_decided_once_from_header_key_and_group(void **state)
{
    (void)state;
    const char *yaml = "providers:\n"
                       "  eu1: {type: mock, residency: eu}\n"
                       "  us1: {type: mock, residency: us}\n"
                       "models:\n"
                       "  any: [{provider: eu1}, {provider: us1}]\n"
                       "  eu_only: {residency: eu, targets: [{provider: eu1}, {provider: us1}]}\n";
    cmx_config *cfg = cmx_test_config_ok(yaml, "t.yaml");
    const cmx_model_group *any = cmx_config_find_model(cfg, CMX_LIT("any"));
    const cmx_model_group *eu_only = cmx_config_find_model(cfg, CMX_LIT("eu_only"));
    cmx_call call = {0};
    cmx_residency r;
    cmx_error err;
    assert_int_equal(cmx_residency_decide(&call, any, &r, &err), CMX_OK);
    assert_null(r.tag);
    assert_int_equal(cmx_residency_targets(r.tag, any), 3);
    call.residency_key = "us";
    assert_int_equal(cmx_residency_decide(&call, any, &r, &err), CMX_OK);
    assert_string_equal(r.tag, "us");
    assert_string_equal(r.rule, "the API key");
    assert_int_equal(cmx_residency_targets(r.tag, any), 2);
    call.residency_header = "eu";
    assert_int_equal(cmx_residency_decide(&call, any, &r, &err), CMX_ERR_RESIDENCY);
    assert_non_null(strstr(err.message, "conflicts with the API key"));
    call.residency_key = NULL;
    assert_int_equal(cmx_residency_decide(&call, eu_only, &r, &err), CMX_OK);
    assert_int_equal(cmx_residency_targets(r.tag, eu_only), 1);
    call.residency_header = "us";
    assert_int_equal(cmx_residency_decide(&call, eu_only, &r, &err), CMX_ERR_RESIDENCY);
    assert_non_null(strstr(err.message, "conflicts with model 'eu_only'"));
    /* a fallback group bound to another region serves none of the request */
    assert_int_equal(cmx_residency_targets("us", eu_only), 0);
    assert_true(cmx_residency_allows(NULL, eu_only->targets[1].provider));
    assert_false(cmx_residency_allows("eu", eu_only->targets[1].provider));
    cmx_config_unref(cfg);
}

static void cheapest_tries_targets_by_price_and_unpriced_last(void **state)
{
    outcome o;
    run(*state, "thrifty", 0, 0, &o);
    /* bargain (cheapest, but down), then budget answers */
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 2);
    assert_string_equal(o.record_providers[0], "down");
    assert_non_null(strstr(o.body, "\"model\":\"budget\""));
}

static void cascade_escalates_past_short_and_refusing_answers(void **state)
{
    outcome o;
    run(*state, "climb", 0, 0, &o);
    /* terse (cheapest) is too short, refuser refuses, thorough answers */
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 3);
    assert_string_equal(o.provider, "thorough");
    assert_non_null(strstr(o.body, "A complete and helpful answer."));
}

static void cascade_stops_at_its_escalation_cap(void **state)
{
    outcome o;
    run(*state, "climb_capped", 0, 0, &o);
    assert_int_equal(o.attempts, 1);
    assert_non_null(strstr(o.body, "\"content\":\"No.\""));
}

static void cascade_keeps_the_rejected_answer_when_escalation_fails(void **state)
{
    outcome o;
    run(*state, "climb_blocked", 0, 0, &o);
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 2);
    assert_string_equal(o.provider, "terse");
    assert_non_null(strstr(o.body, "\"content\":\"No.\""));
}

static void shadow_traffic_never_delays_the_client_and_is_counted_apart(void **state)
{
    fixture *f = *state;
    const cmx_model_group *g = cmx_config_find_model(f->cfg, "mirrored", 8);
    cmx_group_state *gs = cmx_router_shared_group(f->shared, g);
    outcome o;
    run(f, "mirrored", 0, 0, &o);
    /* The client has its healthy answer while the slower standby's mirror is
     * still in flight: it did not wait for it, and the mirror's coming
     * failure cannot touch it. */
    assert_int_equal(o.responses, 1);
    assert_int_equal(o.attempts, 1);
    assert_string_equal(o.provider, "healthy");
    assert_int_equal(atomic_load(&gs->shadow_sent), 1);
    assert_int_equal(atomic_load(&gs->shadow_failed), 0); /* still in flight */
    struct timeval tv = {0, 200000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
    assert_int_equal(atomic_load(&gs->shadow_failed), 1);
    /* 50 ms, less the few ms of libevent's coarse timer clock */
    assert_true(atomic_load(&gs->shadow_latency_us) >= 40000);
}

static void stream_fails_over_before_its_first_chunk(void **state)
{
    outcome o;
    run(*state, "failover", 1, 1, &o);
    assert_int_equal(o.stream_starts, 1);
    assert_int_equal(o.stream_ends, 1);
    assert_int_equal(o.saw_error_at_end, 0);
    assert_string_equal(o.provider, "healthy");
    /* role chunk + 3 content chunks + finish chunk + usage chunk */
    assert_int_equal(o.chunks, 6);
    assert_int_equal(o.attempts, 3);
}

static void stream_without_include_usage_has_no_usage_chunk(void **state)
{
    outcome o;
    run(*state, "healthy_only", 1, 0, &o);
    assert_int_equal(o.chunks, 5);
    assert_int_equal(o.usage.completion_tokens, 2); /* still accounted */
}

static void cancel_stops_all_sink_calls(void **state)
{
    fixture *f = *state;
    outcome o;
    memset(&o, 0, sizeof o);
    cmx_request_scan scan = {0};
    snprintf(scan.model_name, sizeof scan.model_name, "healthy_only");
    cmx_call call = {.api = CMX_API_CHAT,
                     .body = "{}",
                     .body_len = 2,
                     .scan = &scan,
                     .arena = f->arena,
                     .request_id = "t"};
    const cmx_model_group *g = cmx_config_find_model(f->cfg, "healthy_only", 12);
    cmx_route_sink sink = {
        on_response, on_stream_start, on_stream_chunk, on_stream_end, on_failure, &o, NULL};
    o.base = f->base;
    cmx_route *route = cmx_route_start(f->router, g, &call, &sink);
    assert_non_null(route);
    cmx_route_cancel(route);
    /* Nothing is pending any more: the loop returns at once. */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    struct timeval tv = {0, 20000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
    assert_int_equal(o.responses + o.failures + o.stream_ends, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fails_over_past_503_and_429_to_the_healthy_target),
        cmocka_unit_test(does_not_fail_over_on_the_clients_own_400),
        cmocka_unit_test(answers_429_when_every_target_is_rate_limited),
        cmocka_unit_test(answers_504_when_every_target_timed_out),
        cmocka_unit_test(answers_503_when_targets_were_down_or_slow),
        cmocka_unit_test(fails_over_when_the_first_byte_timeout_passes),
        cmocka_unit_test(retries_the_same_target_before_failing_over),
        cmocka_unit_test(never_retries_the_clients_own_error),
        cmocka_unit_test(breaker_opens_after_consecutive_failures_and_skips_the_target),
        cmocka_unit_test(weighted_strategy_splits_traffic_by_weight),
        cmocka_unit_test(the_request_deadline_bounds_every_attempt),
        cmocka_unit_test(rpm_limit_sends_the_excess_to_the_next_target),
        cmocka_unit_test(continues_with_the_fallback_group_when_every_target_failed),
        cmocka_unit_test(residency_is_never_violated_in_any_failure_combination),
        cmocka_unit_test(residency_with_no_target_inside_is_refused_before_sending),
        cmocka_unit_test(residency_is_decided_once_from_header_key_and_group),
        cmocka_unit_test(cheapest_tries_targets_by_price_and_unpriced_last),
        cmocka_unit_test(cascade_escalates_past_short_and_refusing_answers),
        cmocka_unit_test(cascade_stops_at_its_escalation_cap),
        cmocka_unit_test(cascade_keeps_the_rejected_answer_when_escalation_fails),
        cmocka_unit_test(shadow_traffic_never_delays_the_client_and_is_counted_apart),
        cmocka_unit_test(stream_fails_over_before_its_first_chunk),
        cmocka_unit_test(stream_without_include_usage_has_no_usage_chunk),
        cmocka_unit_test(cancel_stops_all_sink_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
