/* test_drill_report.c — the drill's figures from synthetic request logs.
 *
 * The report is a pure function of the log and the fault times, so each test
 * writes a small log by hand, where the right answer is known, and checks
 * the figure.  drill_report.c belongs to the command, not the library:
 * CMakeLists.txt links it into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/drill.h"

#define MS 1000ULL
#define S 1000000ULL

static cmx_drill_record rec(uint64_t sent_us, uint64_t latency_us, int status, const char *provider,
                            int attempts)
{
    cmx_drill_record r;
    memset(&r, 0, sizeof r);
    r.sent_us = sent_us;
    r.latency_us = latency_us;
    r.status = status;
    r.attempts = attempts;
    snprintf(r.provider, sizeof r.provider, "%s", provider);
    snprintf(r.model, sizeof r.model, "m");
    if (status == 0)
        snprintf(r.error, sizeof r.error, "connect_refused");
    return r;
}

static cmx_drill_input input(void)
{
    cmx_drill_input in = {"primary", NULL, 1 * S, 2 * S, 3 * S, 10, 3};
    return in;
}

static void percentile_is_nearest_rank(void **state)
{
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 100 - i; /* unsorted on purpose */
    assert_true(cmx_drill_percentile(v, 100, 50) == 50);
    assert_true(cmx_drill_percentile(v, 100, 95) == 95);
    assert_true(cmx_drill_percentile(v, 100, 100) == 100);
    assert_true(cmx_drill_percentile(v, 100, 0) == 1);
    double one[1] = {7.5};
    assert_true(cmx_drill_percentile(one, 1, 95) == 7.5);
    double three[3] = {30, 10, 20};
    assert_true(cmx_drill_percentile(three, 3, 50) == 20);
    assert_true(cmx_drill_percentile(three, 3, 95) == 30);
}

static void percentile_of_nothing_is_minus_one(void **state)
{
    (void)state;
    assert_true(cmx_drill_percentile(NULL, 0, 50) == -1);
}

/* 10 req/s; primary fails at 1 s and recovers at 2 s.  A request in flight
 * at the fault fails over; the breaker then skips primary; after recovery
 * primary answers again only from 2.5 s on (the cooldown). */
static size_t outage_log(cmx_drill_record *log)
{
    size_t n = 0;
    for (int i = 0; i < 10; i++) /* before: primary, 5 ms */
        log[n++] = rec(i * 100 * MS, 5 * MS, 200, "primary", 1);
    /* sent at 0.95 s, still waiting at the fault: answered by secondary at 1.06 s */
    log[n - 1] = rec(950 * MS, 110 * MS, 200, "secondary", 2);
    log[n++] = rec(1000 * MS, 40 * MS, 503, "", 2); /* an error during failover */
    log[n++] = rec(1100 * MS, 30 * MS, 0, "", 0);   /* lost */
    for (int i = 2; i < 10; i++)
        log[n++] = rec(1000 * MS + i * 100 * MS, 3 * MS, 200, "secondary", i < 4 ? 2 : 1);
    for (int i = 0; i < 10; i++) {
        uint64_t t = 2 * S + i * 100 * MS;
        log[n++] = rec(t, 4 * MS, 200, t < 2500 * MS ? "secondary" : "primary", 1);
    }
    return n;
}

/* The report of the outage log, from *in. */
static void outage_report(cmx_drill_input *in, cmx_drill_report *r)
{
    cmx_drill_record log[40];
    size_t n = outage_log(log);
    *in = input();
    assert_int_equal(cmx_drill_report_compute(in, log, n, r), 0);
}

/* The JSON report of r, parsed. */
static json_t *json_report(const cmx_drill_input *in, const cmx_drill_report *r, const char *how)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cmx_drill_report_print_json(f, in, r, how);
    fclose(f);
    json_error_t jerr;
    json_t *j = json_loads(buf, 0, &jerr);
    free(buf);
    assert_non_null(j);
    return j;
}

static void detection_is_fault_to_first_failover_answer(void **state)
{
    (void)state;
    cmx_drill_input in;
    cmx_drill_report r;
    outage_report(&in, &r);
    /* The 503 at 1.04 s had attempts 2: the gateway had already tried the
     * fallback, so it is the first failover seen. */
    assert_true(r.detection_ms > 39.9 && r.detection_ms < 40.1);
    /* The first good answer from secondary: sent 0.95 s, done 1.06 s. */
    assert_true(r.first_fallback_ms > 59.9 && r.first_fallback_ms < 60.1);
    cmx_drill_report_free(&r);
}

static void failback_includes_the_cooldown(void **state)
{
    (void)state;
    cmx_drill_input in;
    cmx_drill_report r;
    outage_report(&in, &r);
    /* First primary answer after 2 s: sent at 2.5 s, done 2.504 s. */
    assert_true(r.failback_ms > 503.9 && r.failback_ms < 504.1);
    cmx_drill_report_free(&r);
}

static void errors_and_lost_are_counted_by_send_phase(void **state)
{
    (void)state;
    cmx_drill_input in;
    cmx_drill_report r;
    outage_report(&in, &r);
    assert_int_equal(r.total, 30);
    assert_int_equal(r.expected, 30);
    assert_int_equal(r.failover_errors, 1);
    assert_int_equal(r.failover_lost, 1);
    assert_int_equal(r.target_served_during, 0);
    assert_int_equal(r.phase[CMX_DRILL_BEFORE].sent, 10);
    assert_int_equal(r.phase[CMX_DRILL_BEFORE].ok, 10);
    assert_int_equal(r.phase[CMX_DRILL_DURING].sent, 10);
    assert_int_equal(r.phase[CMX_DRILL_DURING].ok, 8);
    assert_int_equal(r.phase[CMX_DRILL_DURING].errors, 1);
    assert_int_equal(r.phase[CMX_DRILL_DURING].lost, 1);
    assert_int_equal(r.phase[CMX_DRILL_AFTER].sent, 10);
    /* Latency of the answered ones: the lost request does not count. */
    assert_true(r.phase[CMX_DRILL_BEFORE].p50_ms == 5);
    assert_true(r.phase[CMX_DRILL_BEFORE].p95_ms == 110);
    assert_true(r.phase[CMX_DRILL_DURING].p50_ms == 3);
    assert_true(r.phase[CMX_DRILL_DURING].max_ms == 40);
    cmx_drill_report_free(&r);
}

static size_t count_of(const cmx_drill_report *r, const char *name, int phase)
{
    for (size_t i = 0; i < r->n_providers; i++)
        if (strcmp(r->providers[i].name, name) == 0)
            return r->providers[i].count[phase];
    return (size_t)-1;
}

static void counts_answers_per_provider_and_phase(void **state)
{
    (void)state;
    cmx_drill_input in;
    cmx_drill_report r;
    outage_report(&in, &r);
    assert_int_equal(count_of(&r, "primary", CMX_DRILL_BEFORE), 9);
    assert_int_equal(count_of(&r, "secondary", CMX_DRILL_BEFORE), 1);
    assert_int_equal(count_of(&r, "primary", CMX_DRILL_DURING), 0);
    assert_int_equal(count_of(&r, "secondary", CMX_DRILL_DURING), 8);
    assert_int_equal(count_of(&r, "(error)", CMX_DRILL_DURING), 1);
    assert_int_equal(count_of(&r, "(lost)", CMX_DRILL_DURING), 1);
    assert_int_equal(count_of(&r, "primary", CMX_DRILL_AFTER), 5);
    assert_int_equal(count_of(&r, "secondary", CMX_DRILL_AFTER), 5);
    cmx_drill_report_free(&r);
}

static void a_named_model_tells_two_targets_of_one_provider_apart(void **state)
{
    (void)state;
    cmx_drill_record log[4];
    log[0] = rec(0, 1 * MS, 200, "p", 1);
    snprintf(log[0].model, sizeof log[0].model, "big");
    log[1] = rec(1100 * MS, 1 * MS, 200, "p", 2); /* same provider, other model */
    snprintf(log[1].model, sizeof log[1].model, "small");
    log[2] = rec(2100 * MS, 1 * MS, 200, "p", 1);
    snprintf(log[2].model, sizeof log[2].model, "big");
    cmx_drill_input in = input();
    in.target_provider = "p";
    in.target_model = "big";
    cmx_drill_report r;
    assert_int_equal(cmx_drill_report_compute(&in, log, 3, &r), 0);
    assert_true(r.first_fallback_ms > 100.9 && r.first_fallback_ms < 101.1);
    assert_true(r.failback_ms > 100.9 && r.failback_ms < 101.1);
    assert_int_equal(count_of(&r, "p/small", CMX_DRILL_DURING), 1);
    assert_int_equal(count_of(&r, "p/big", CMX_DRILL_BEFORE), 1);
    cmx_drill_report_free(&r);
}

static void events_not_seen_are_reported_as_missing(void **state)
{
    (void)state;
    /* The target never failed over and never came back. */
    cmx_drill_record log[3];
    log[0] = rec(0, 1 * MS, 200, "primary", 1);
    log[1] = rec(1500 * MS, 1 * MS, 200, "primary", 1);
    log[2] = rec(2500 * MS, 1 * MS, 0, "", 0);
    cmx_drill_input in = input();
    cmx_drill_report r;
    assert_int_equal(cmx_drill_report_compute(&in, log, 3, &r), 0);
    assert_true(r.detection_ms == -1);
    assert_true(r.first_fallback_ms == -1);
    assert_true(r.failback_ms == -1);
    assert_int_equal(r.target_served_during, 1);
    assert_true(r.phase[CMX_DRILL_AFTER].p50_ms == -1);

    json_t *j = json_report(&in, &r, "relay");
    assert_true(json_is_null(json_object_get(j, "detection_ms")));
    assert_true(json_is_null(json_object_get(j, "failback_ms")));
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_t *after = json_object_get(json_object_get(j, "phases"), "after");
    assert_int_equal(json_integer_value(json_object_get(after, "lost")), 1);
    assert_true(json_is_null(json_object_get(after, "p95_ms")));
    json_decref(j);
    cmx_drill_report_free(&r);
}

static void json_report_carries_every_figure(void **state)
{
    (void)state;
    cmx_drill_input in;
    cmx_drill_report r;
    outage_report(&in, &r);
    json_t *j = json_report(&in, &r, "fault endpoint");
    assert_string_equal(json_string_value(json_object_get(j, "target")), "primary");
    assert_true(json_real_value(json_object_get(j, "detection_ms")) == 40.0);
    assert_true(json_real_value(json_object_get(j, "first_fallback_ms")) == 60.0);
    assert_true(json_real_value(json_object_get(j, "failback_ms")) == 504.0);
    assert_int_equal(json_integer_value(json_object_get(j, "failover_errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "failover_lost")), 1);
    json_t *sec = json_object_get(json_object_get(j, "providers"), "secondary");
    assert_int_equal(json_integer_value(json_object_get(sec, "during")), 8);
    json_decref(j);

    /* The text form names the same figures. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cmx_drill_report_print_text(f, &in, &r, "fault endpoint");
    fclose(f);
    assert_non_null(strstr(buf, "40.0 ms"));
    assert_non_null(strstr(buf, "504.0 ms"));
    assert_non_null(strstr(buf, "1 error (non-2xx), 1 lost"));
    free(buf);
    cmx_drill_report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percentile_is_nearest_rank),
        cmocka_unit_test(percentile_of_nothing_is_minus_one),
        cmocka_unit_test(detection_is_fault_to_first_failover_answer),
        cmocka_unit_test(failback_includes_the_cooldown),
        cmocka_unit_test(errors_and_lost_are_counted_by_send_phase),
        cmocka_unit_test(counts_answers_per_provider_and_phase),
        cmocka_unit_test(a_named_model_tells_two_targets_of_one_provider_apart),
        cmocka_unit_test(events_not_seen_are_reported_as_missing),
        cmocka_unit_test(json_report_carries_every_figure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
