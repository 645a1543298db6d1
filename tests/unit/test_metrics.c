/* test_metrics.c — the metrics registry: shards summed at scrape time, label
 * values escaped, and the exact exposition text for a known state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers/config_load.h"
#include "obs/metrics.h"
#include "router/group_state.h"

static const char config_yaml[] = "providers:\n"
                                  "  a: { type: mock }\n"
                                  "  b: { type: mock }\n"
                                  "models:\n"
                                  "  chat:\n"
                                  "    breaker: { consecutive_failures: 2 }\n"
                                  "    targets:\n"
                                  "      - { provider: a, model: \"m\\\"1\" }\n"
                                  "      - { provider: b, model: m2 }\n"
                                  "      - { provider: a, model: m3 }\n"
                                  "  quiet: { breaker: false, targets: [ { provider: b } ] }\n";

typedef struct fixture {
    cmx_config *cfg;
    cmx_metrics *m;
    cmx_buf out;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    f.cfg = cmx_test_config_ok(config_yaml, "metrics-test.yaml");
    cmx_error err;
    f.m = cmx_metrics_new(f.cfg, 2, &err);
    assert_non_null(f.m);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_buf_free(&f->out);
    cmx_metrics_free(f->m);
    cmx_config_unref(f->cfg);
    return 0;
}

static const char *scrape(fixture *f, cmx_router_shared *shared)
{
    cmx_buf_reset(&f->out);
    assert_int_equal(cmx_metrics_format(f->m, shared, 0, "1.2.3", &f->out), CMX_OK);
    return f->out.data;
}

/* The value of the sample line that starts with `series` followed by a space. */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atoll(p + n + 1);
    }
    return -1;
}

static void sums_counters_of_every_shard(void **state)
{
    fixture *f = *state;
    const cmx_model_group *chat = &f->cfg->models[0];
    cmx_metrics_request rq = {.group = chat,
                              .target = 1,
                              .status = 200,
                              .duration_us = 3000,
                              .prompt_tokens = 10,
                              .completion_tokens = 5};
    cmx_metrics_record_request(cmx_metrics_shard_at(f->m, 0), &rq);
    cmx_metrics_record_request(cmx_metrics_shard_at(f->m, 1), &rq);
    cmx_metrics_record_request(cmx_metrics_shard_at(f->m, 1), &rq);
    cmx_metrics_record_attempt(cmx_metrics_shard_at(f->m, 0), chat, 0, CMX_ERR_UNAVAILABLE);
    cmx_metrics_record_attempt(cmx_metrics_shard_at(f->m, 1), chat, 2, CMX_ERR_UNAVAILABLE);
    cmx_metrics_record_attempt(cmx_metrics_shard_at(f->m, 1), chat, 1, CMX_OK);
    const char *t = scrape(f, NULL);
    assert_int_equal(
        sample(
            t,
            "cloudmux_requests_total{model=\"chat\",provider=\"b\",code=\"200\",stream=\"false\"}"),
        3);
    assert_int_equal(
        sample(t, "cloudmux_tokens_total{model=\"chat\",provider=\"b\",type=\"prompt\"}"), 30);
    /* Targets 0 and 2 are both on provider a: one series. */
    assert_int_equal(sample(t, "cloudmux_upstream_attempts_total{model=\"chat\",provider=\"a\","
                               "outcome=\"unavailable\"}"),
                     2);
    assert_int_equal(
        sample(t, "cloudmux_upstream_attempts_total{model=\"chat\",provider=\"b\",outcome=\"ok\"}"),
        1);
    assert_int_equal(sample(t, "cloudmux_request_duration_seconds_count{model=\"chat\"}"), 3);
}

static void counts_requests_in_flight_across_shards(void **state)
{
    fixture *f = *state;
    cmx_metrics_request_begin(cmx_metrics_shard_at(f->m, 0));
    cmx_metrics_request_begin(cmx_metrics_shard_at(f->m, 1));
    cmx_metrics_request_begin(cmx_metrics_shard_at(f->m, 1));
    cmx_metrics_request_end(cmx_metrics_shard_at(f->m, 0));
    assert_int_equal(cmx_metrics_in_flight(f->m), 2);
    assert_int_equal(sample(scrape(f, NULL), "cloudmux_in_flight_requests"), 2);
}

static void escapes_backslash_quote_and_newline_in_label_values(void **state)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_metrics_append_label_value(&b, "a\\b\"c\nd");
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
    cmx_buf_reset(&b);
    cmx_metrics_append_label_value(&b, "plain");
    assert_string_equal(b.data, "plain");
    cmx_buf_free(&b);
}

static void unknown_status_codes_count_as_their_class(void **state)
{
    fixture *f = *state;
    cmx_metrics_request rq = {.group = NULL, .target = -1, .status = 418, .duration_us = 1};
    cmx_metrics_record_request(cmx_metrics_shard_at(f->m, 0), &rq);
    rq.status = 201;
    cmx_metrics_record_request(cmx_metrics_shard_at(f->m, 0), &rq);
    const char *t = scrape(f, NULL);
    assert_int_equal(
        sample(t,
               "cloudmux_requests_total{model=\"\",provider=\"\",code=\"4xx\",stream=\"false\"}"),
        1);
    assert_int_equal(
        sample(t,
               "cloudmux_requests_total{model=\"\",provider=\"\",code=\"2xx\",stream=\"false\"}"),
        1);
}

static void finds_targets_by_pointer_or_by_name(void **state)
{
    fixture *f = *state;
    const cmx_model_group *chat = &f->cfg->models[0];
    assert_int_equal(
        cmx_metrics_target_index(chat, chat->targets[2].provider->name, chat->targets[2].model), 2);
    char prov[] = "b", model[] = "m2"; /* same names, other pointers */
    assert_int_equal(cmx_metrics_target_index(chat, prov, model), 1);
    assert_int_equal(cmx_metrics_target_index(chat, prov, "nope"), -1);
    assert_int_equal(cmx_metrics_target_index(NULL, prov, model), -1);
}

/* The whole exposition for a known state, byte for byte. */
static void writes_the_exposition_for_a_known_state(void **state)
{
    fixture *f = *state;
    const cmx_model_group *chat = &f->cfg->models[0];
    cmx_metrics_shard *s0 = cmx_metrics_shard_at(f->m, 0), *s1 = cmx_metrics_shard_at(f->m, 1);
    /* A failover: a (target 0) unavailable, b answered, 120 ms of which 119.98 upstream. */
    cmx_metrics_request ok = {.api = CMX_API_CHAT,
                              .group = chat,
                              .target = 1,
                              .status = 200,
                              .duration_us = 120000,
                              .upstream_us = 119980,
                              .prompt_tokens = 7,
                              .completion_tokens = 3};
    cmx_metrics_record_request(s0, &ok);
    cmx_metrics_record_attempt(s0, chat, 0, CMX_ERR_UNAVAILABLE);
    cmx_metrics_record_attempt(s0, chat, 1, CMX_OK);
    /* A stream on another worker, 3 s, through Anthropic's Messages API. */
    ok.stream = 1;
    ok.api = CMX_API_MESSAGES;
    ok.duration_us = 3000000;
    ok.upstream_us = 2999900;
    cmx_metrics_record_request(s1, &ok);
    cmx_metrics_record_attempt(s1, chat, 1, CMX_OK);
    /* An unknown path: no group, 40 µs, all overhead. */
    cmx_metrics_request lost = {.api = (cmx_api)CMX_API__COUNT,
                                .target = -1,
                                .status = 404,
                                .duration_us = 40,
                                .prompt_tokens = -1,
                                .completion_tokens = -1};
    cmx_metrics_record_request(s1, &lost);

    cmx_error err;
    cmx_router_shared *shared = cmx_router_shared_new(f->cfg, &err);
    assert_non_null(shared);
    cmx_group_state *gs = cmx_router_shared_group(shared, chat);
    assert_true(cmx_breaker_allow(&gs->breakers[0], 1000));
    cmx_breaker_record(&gs->breakers[0], 1000, CMX_ERR_UNAVAILABLE);
    assert_true(cmx_breaker_allow(&gs->breakers[0], 2000));
    cmx_breaker_record(&gs->breakers[0], 2000, CMX_ERR_UNAVAILABLE); /* opens */

    const char *expected =
        "# HELP cloudmux_build_info Always 1; the labels say which cloudmux is running.\n"
        "# TYPE cloudmux_build_info gauge\n"
        "cloudmux_build_info{version=\"1.2.3\"} 1\n"
        "# HELP cloudmux_in_flight_requests Client requests being handled now (health probes "
        "and scrapes excluded).\n"
        "# TYPE cloudmux_in_flight_requests gauge\n"
        "cloudmux_in_flight_requests 0\n"
        "# HELP cloudmux_requests_total Client requests answered, by model group, provider that "
        "answered (or was tried last), status code and streaming.\n"
        "# TYPE cloudmux_requests_total counter\n"
        "cloudmux_requests_total{model=\"chat\",provider=\"b\",code=\"200\",stream=\"false\"} 1\n"
        "cloudmux_requests_total{model=\"chat\",provider=\"b\",code=\"200\",stream=\"true\"} 1\n"
        "cloudmux_requests_total{model=\"\",provider=\"\",code=\"404\",stream=\"false\"} 1\n"
        "# HELP cloudmux_request_duration_seconds Time from a request's first byte to its last "
        "response byte handed to the socket.\n"
        "# TYPE cloudmux_request_duration_seconds histogram\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.005\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.01\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.025\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.05\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.1\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.25\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"0.5\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"1\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"2.5\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"5\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"10\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"20\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"30\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"60\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"120\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"chat\",le=\"+Inf\"} 2\n"
        "cloudmux_request_duration_seconds_sum{model=\"chat\"} 3.12\n"
        "cloudmux_request_duration_seconds_count{model=\"chat\"} 2\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.005\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.01\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.025\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.05\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.1\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.25\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"0.5\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"1\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"2.5\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"5\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"10\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"20\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"30\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"60\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"120\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"quiet\",le=\"+Inf\"} 0\n"
        "cloudmux_request_duration_seconds_sum{model=\"quiet\"} 0\n"
        "cloudmux_request_duration_seconds_count{model=\"quiet\"} 0\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.005\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.01\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.025\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.05\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.1\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.25\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"0.5\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"1\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"2.5\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"5\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"10\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"20\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"30\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"60\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"120\"} 1\n"
        "cloudmux_request_duration_seconds_bucket{model=\"\",le=\"+Inf\"} 1\n"
        "cloudmux_request_duration_seconds_sum{model=\"\"} 0.00004\n"
        "cloudmux_request_duration_seconds_count{model=\"\"} 1\n"
        "# HELP cloudmux_gateway_overhead_seconds Time cloudmux itself added to a request: its "
        "duration minus the time spent waiting on providers.\n"
        "# TYPE cloudmux_gateway_overhead_seconds histogram\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.00001\"} 0\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.000025\"} 1\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.00005\"} 2\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.0001\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.00025\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.0005\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.001\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.0025\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.005\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.01\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.025\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.05\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"0.1\"} 3\n"
        "cloudmux_gateway_overhead_seconds_bucket{le=\"+Inf\"} 3\n"
        "cloudmux_gateway_overhead_seconds_sum 0.00016\n"
        "cloudmux_gateway_overhead_seconds_count 3\n"
        "# HELP cloudmux_upstream_attempts_total Attempts sent to providers, retries included, "
        "by outcome: ok or the error kind.\n"
        "# TYPE cloudmux_upstream_attempts_total counter\n"
        "cloudmux_upstream_attempts_total{model=\"chat\",provider=\"a\",outcome=\"unavailable\"} "
        "1\n"
        "cloudmux_upstream_attempts_total{model=\"chat\",provider=\"b\",outcome=\"ok\"} 2\n"
        "# HELP cloudmux_tokens_total Tokens the providers reported in their usage, by type.\n"
        "# TYPE cloudmux_tokens_total counter\n"
        "cloudmux_tokens_total{model=\"chat\",provider=\"b\",type=\"prompt\"} 14\n"
        "cloudmux_tokens_total{model=\"chat\",provider=\"b\",type=\"completion\"} 6\n"
        "# HELP cloudmux_api_requests_total Client requests answered, by the API called (chat, "
        "embeddings, messages, count_tokens, responses) and status code.\n"
        "# TYPE cloudmux_api_requests_total counter\n"
        "cloudmux_api_requests_total{api=\"chat\",code=\"200\"} 1\n"
        "cloudmux_api_requests_total{api=\"messages\",code=\"200\"} 1\n"
        "# HELP cloudmux_breaker_state Circuit breaker of a target: 0 closed, 1 open, 2 "
        "half-open.\n"
        "# TYPE cloudmux_breaker_state gauge\n"
        "cloudmux_breaker_state{model=\"chat\",provider=\"a\",target=\"m\\\"1\"} 1\n"
        "cloudmux_breaker_state{model=\"chat\",provider=\"b\",target=\"m2\"} 0\n"
        "cloudmux_breaker_state{model=\"chat\",provider=\"a\",target=\"m3\"} 0\n"
        "# HELP cloudmux_breaker_open_total Times a target's circuit breaker opened (tripped or "
        "reopened after a failed probe).\n"
        "# TYPE cloudmux_breaker_open_total counter\n"
        "cloudmux_breaker_open_total{model=\"chat\",provider=\"a\",target=\"m\\\"1\"} 1\n"
        "cloudmux_breaker_open_total{model=\"chat\",provider=\"b\",target=\"m2\"} 0\n"
        "cloudmux_breaker_open_total{model=\"chat\",provider=\"a\",target=\"m3\"} 0\n";
    cmx_buf_reset(&f->out);
    assert_int_equal(cmx_metrics_format(f->m, shared, 3000, "1.2.3", &f->out), CMX_OK);
    assert_string_equal(f->out.data, expected);
    cmx_router_shared_free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sums_counters_of_every_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(counts_requests_in_flight_across_shards, setup, teardown),
        cmocka_unit_test(escapes_backslash_quote_and_newline_in_label_values),
        cmocka_unit_test_setup_teardown(unknown_status_codes_count_as_their_class, setup, teardown),
        cmocka_unit_test_setup_teardown(finds_targets_by_pointer_or_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_the_exposition_for_a_known_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
