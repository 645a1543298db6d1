/* test_breaker.c — the per-deployment circuit breaker, driven by hand-set
 * times: when it opens (consecutive failures, error rate over the window with
 * a minimum of requests, never for the client's own errors), when it probes,
 * how many probes it admits, how it closes, and how its cooldown grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "router/breaker.h"

#define MS 1000u /* times below are in µs, written as milliseconds × MS */

static cmx_breaker_config consecutive_only(uint32_t n)
{
    cmx_breaker_config c = {0};
    c.consecutive_failures = n;
    c.cooldown_ms = 1000;
    c.max_cooldown_ms = 1000;
    c.half_open_probes = 1;
    return c;
}

static void init(cmx_breaker *b, const cmx_breaker_config *c)
{
    cmx_error err;
    assert_int_equal(cmx_breaker_init(b, c, &err), CMX_OK);
}

static void opens_after_n_consecutive_failures(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(3);
    init(&b, &c);
    uint64_t t = 5000 * MS;
    assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_UNAVAILABLE), CMX_BREAKER_UNCHANGED);
    assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_TIMEOUT), CMX_BREAKER_UNCHANGED);
    assert_true(cmx_breaker_allow(&b, t));
    assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_RATE_LIMITED), CMX_BREAKER_TRIPPED);
    assert_false(cmx_breaker_allow(&b, t));
    assert_int_equal(cmx_breaker_state_at(&b, t), CMX_BREAKER_OPEN);
    cmx_breaker_destroy(&b);
}

static void a_success_breaks_the_run_of_failures(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(3);
    init(&b, &c);
    for (int round = 0; round < 10; round++) {
        cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE);
        cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE);
        assert_int_equal(cmx_breaker_record(&b, 0, CMX_OK), CMX_BREAKER_UNCHANGED);
    }
    assert_int_equal(cmx_breaker_state_at(&b, 0), CMX_BREAKER_CLOSED);
    cmx_breaker_destroy(&b);
}

static cmx_breaker_config rate_only(void)
{
    cmx_breaker_config c = {0};
    c.error_rate_threshold = 50;
    c.window_ms = 10000;
    c.min_requests = 10;
    c.cooldown_ms = 1000;
    c.half_open_probes = 1;
    return c;
}

static void opens_on_error_rate_only_with_min_requests(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = rate_only();
    init(&b, &c);
    uint64_t t = 1000 * MS;
    /* 5 of 5 failed: 100%, but too few requests to judge. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_UNAVAILABLE), CMX_BREAKER_UNCHANGED);
    for (int i = 0; i < 4; i++)
        cmx_breaker_record(&b, t, CMX_OK);
    assert_int_equal(cmx_breaker_state_at(&b, t), CMX_BREAKER_CLOSED);
    /* The 10th request, a failure: 6 of 10 = 60% ≥ 50%. */
    assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_TIMEOUT), CMX_BREAKER_TRIPPED);
    assert_false(cmx_breaker_allow(&b, t));
    cmx_breaker_destroy(&b);
}

static void stays_closed_below_the_error_rate(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = rate_only();
    init(&b, &c);
    /* 4 failures in 10, forever: 40% < 50%. */
    for (int round = 0; round < 50; round++) {
        uint64_t t = (uint64_t)round * 100 * MS;
        for (int i = 0; i < 6; i++)
            cmx_breaker_record(&b, t, CMX_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(cmx_breaker_record(&b, t, CMX_ERR_UNAVAILABLE), CMX_BREAKER_UNCHANGED);
    }
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 49 * 100 * MS, &st);
    assert_int_equal(st.state, CMX_BREAKER_CLOSED);
    assert_true(st.window_requests >= 10);
    cmx_breaker_destroy(&b);
}

static void error_rate_forgets_failures_older_than_the_window(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = rate_only();
    init(&b, &c);
    for (int i = 0; i < 9; i++)
        cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE);
    /* 11 s later the 9 failures have left the 10 s window: 1 of 1 is too few. */
    assert_int_equal(cmx_breaker_record(&b, 11000 * MS, CMX_ERR_UNAVAILABLE),
                     CMX_BREAKER_UNCHANGED);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 11000 * MS, &st);
    assert_int_equal(st.window_requests, 1);
    assert_int_equal(st.window_failures, 1);
    /* Within the window they still count: 9 more failures make 10 of 10. */
    for (int i = 0; i < 8; i++)
        cmx_breaker_record(&b, 12000 * MS, CMX_ERR_UNAVAILABLE);
    assert_int_equal(cmx_breaker_record(&b, 12000 * MS, CMX_ERR_UNAVAILABLE), CMX_BREAKER_TRIPPED);
    cmx_breaker_destroy(&b);
}

static void stays_closed_on_client_fault_kinds(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = cmx_breaker_config_default();
    init(&b, &c);
    const cmx_err client_kinds[] = {CMX_ERR_BAD_REQUEST, CMX_ERR_CONTEXT_WINDOW,
                                    CMX_ERR_CONTENT_POLICY, CMX_ERR_CANCELLED};
    for (int i = 0; i < 400; i++)
        assert_int_equal(cmx_breaker_record(&b, 0, client_kinds[i % 4]), CMX_BREAKER_UNCHANGED);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 0, &st);
    assert_int_equal(st.state, CMX_BREAKER_CLOSED);
    assert_int_equal(st.window_requests, 0);
    assert_int_equal(st.consecutive_failures, 0);
    cmx_breaker_destroy(&b);
}

static void client_faults_neither_count_nor_break_a_run(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(3);
    init(&b, &c);
    cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE);
    cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE);
    cmx_breaker_record(&b, 0, CMX_ERR_BAD_REQUEST);
    assert_int_equal(cmx_breaker_record(&b, 0, CMX_ERR_UNAVAILABLE), CMX_BREAKER_TRIPPED);
    cmx_breaker_destroy(&b);
}

static void counts_only_the_providers_failures(void **state)
{
    int counted = 0;
    for (int k = 0; k < CMX_ERR__COUNT; k++)
        counted += cmx_breaker_counts_as_failure((cmx_err)k);
    assert_int_equal(counted, 5);
    assert_true(cmx_breaker_counts_as_failure(CMX_ERR_RATE_LIMITED));
    assert_true(cmx_breaker_counts_as_failure(CMX_ERR_TIMEOUT));
    assert_true(cmx_breaker_counts_as_failure(CMX_ERR_UNAVAILABLE));
    assert_true(cmx_breaker_counts_as_failure(CMX_ERR_UPSTREAM_PROTOCOL));
    assert_true(cmx_breaker_counts_as_failure(CMX_ERR_PROVIDER_AUTH));
    assert_false(cmx_breaker_counts_as_failure(CMX_OK));
    assert_false(cmx_breaker_counts_as_failure(CMX_ERR_BAD_REQUEST));
    assert_false(cmx_breaker_counts_as_failure(CMX_ERR_CONTEXT_WINDOW));
    assert_false(cmx_breaker_counts_as_failure(CMX_ERR_CONTENT_POLICY));
}

static void trip(cmx_breaker *b, uint64_t t)
{
    while (cmx_breaker_record(b, t, CMX_ERR_UNAVAILABLE) != CMX_BREAKER_TRIPPED)
        ;
}

static void half_opens_after_cooldown_and_admits_exactly_max_probes(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    c.half_open_probes = 2;
    init(&b, &c);
    trip(&b, 100 * MS);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 100 * MS, &st);
    assert_int_equal(st.open_until_us, 1100 * MS);
    assert_false(cmx_breaker_allow(&b, 1100 * MS - 1));
    assert_false(cmx_breaker_would_allow(&b, 1100 * MS - 1));
    assert_int_equal(cmx_breaker_state_at(&b, 1100 * MS), CMX_BREAKER_HALF_OPEN);
    /* Peeking reserves nothing. */
    for (int i = 0; i < 5; i++)
        assert_true(cmx_breaker_would_allow(&b, 1100 * MS));
    assert_true(cmx_breaker_allow(&b, 1100 * MS));
    assert_true(cmx_breaker_allow(&b, 1100 * MS));
    assert_false(cmx_breaker_allow(&b, 1100 * MS));
    assert_false(cmx_breaker_would_allow(&b, 1200 * MS));
    assert_false(cmx_breaker_allow(&b, 1500 * MS));
    cmx_breaker_destroy(&b);
}

static void closes_when_every_probe_succeeds(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    c.half_open_probes = 2;
    init(&b, &c);
    trip(&b, 0);
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    assert_int_equal(cmx_breaker_record(&b, 1010 * MS, CMX_OK), CMX_BREAKER_UNCHANGED);
    assert_int_equal(cmx_breaker_state_at(&b, 1010 * MS), CMX_BREAKER_HALF_OPEN);
    assert_false(cmx_breaker_allow(&b, 1010 * MS));
    assert_int_equal(cmx_breaker_record(&b, 1020 * MS, CMX_OK), CMX_BREAKER_RECOVERED);
    assert_int_equal(cmx_breaker_state_at(&b, 1020 * MS), CMX_BREAKER_CLOSED);
    for (int i = 0; i < 10; i++)
        assert_true(cmx_breaker_allow(&b, 1020 * MS));
    cmx_breaker_destroy(&b);
}

static void reopens_on_probe_failure_with_a_doubled_capped_cooldown(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    c.cooldown_ms = 1000;
    c.max_cooldown_ms = 3000;
    init(&b, &c);
    cmx_breaker_status st;
    trip(&b, 0);
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    assert_int_equal(cmx_breaker_record(&b, 1000 * MS, CMX_ERR_TIMEOUT), CMX_BREAKER_REOPENED);
    cmx_breaker_get_status(&b, 1000 * MS, &st);
    assert_int_equal(st.state, CMX_BREAKER_OPEN);
    assert_int_equal(st.open_until_us, 3000 * MS); /* 2 s */
    assert_int_equal(st.trips, 2);
    assert_false(cmx_breaker_allow(&b, 2999 * MS));
    assert_true(cmx_breaker_allow(&b, 3000 * MS));
    cmx_breaker_record(&b, 3000 * MS, CMX_ERR_TIMEOUT);
    cmx_breaker_get_status(&b, 3000 * MS, &st);
    assert_int_equal(st.open_until_us, 6000 * MS); /* 4 s capped to 3 s */
    assert_true(cmx_breaker_allow(&b, 6000 * MS));
    assert_int_equal(cmx_breaker_record(&b, 6000 * MS, CMX_OK), CMX_BREAKER_RECOVERED);
    /* Recovery resets the cooldown to its base. */
    trip(&b, 7000 * MS);
    cmx_breaker_get_status(&b, 7000 * MS, &st);
    assert_int_equal(st.open_until_us, 8000 * MS);
    cmx_breaker_destroy(&b);
}

static void a_cancelled_probe_frees_its_slot(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    init(&b, &c);
    trip(&b, 0);
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    assert_false(cmx_breaker_allow(&b, 1000 * MS));
    cmx_breaker_cancel(&b);
    assert_true(cmx_breaker_allow(&b, 1001 * MS));
    /* A client-fault answer is no verdict either: the slot comes back. */
    cmx_breaker_record(&b, 1002 * MS, CMX_ERR_BAD_REQUEST);
    assert_int_equal(cmx_breaker_state_at(&b, 1002 * MS), CMX_BREAKER_HALF_OPEN);
    assert_true(cmx_breaker_allow(&b, 1003 * MS));
    cmx_breaker_destroy(&b);
}

static void a_probe_that_never_reports_is_forgotten_after_a_cooldown(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    init(&b, &c);
    trip(&b, 0);
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    assert_false(cmx_breaker_allow(&b, 1999 * MS));
    assert_true(cmx_breaker_allow(&b, 2000 * MS));
    cmx_breaker_destroy(&b);
}

static void results_while_open_are_ignored(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    init(&b, &c);
    trip(&b, 0);
    /* Late answers of attempts started before it opened. */
    assert_int_equal(cmx_breaker_record(&b, 10 * MS, CMX_OK), CMX_BREAKER_UNCHANGED);
    assert_int_equal(cmx_breaker_record(&b, 20 * MS, CMX_ERR_UNAVAILABLE), CMX_BREAKER_UNCHANGED);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 20 * MS, &st);
    assert_int_equal(st.state, CMX_BREAKER_OPEN);
    assert_int_equal(st.open_until_us, 1000 * MS);
    /* In half-open with no probe out, a stray result is not a verdict. */
    assert_true(cmx_breaker_would_allow(&b, 1000 * MS));
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    cmx_breaker_cancel(&b);
    assert_int_equal(cmx_breaker_record(&b, 1001 * MS, CMX_OK), CMX_BREAKER_UNCHANGED);
    assert_int_equal(cmx_breaker_state_at(&b, 1001 * MS), CMX_BREAKER_HALF_OPEN);
    cmx_breaker_destroy(&b);
}

/* One step of a schedule: at time t, do op, expect a result and a state. */
enum op { ALLOW, FAIL, OK, CLIENT_FAULT, CANCEL };
typedef struct step {
    uint32_t t_ms;
    enum op op;
    int expect; /* ALLOW: 0/1; record ops: a cmx_breaker_transition; CANCEL: ignored */
    cmx_breaker_state state;
    uint32_t open_until_ms; /* checked when state is OPEN */
} step;

static void follows_the_schedule_table_exactly(void **state)
{
    /* 2 consecutive failures trip it; cooldown 100 ms doubling to 400 ms; 2 probes. */
    cmx_breaker_config c = consecutive_only(2);
    c.cooldown_ms = 100;
    c.max_cooldown_ms = 400;
    c.half_open_probes = 2;
    const step schedule[] = {
        {0, ALLOW, 1, CMX_BREAKER_CLOSED, 0},
        {0, FAIL, CMX_BREAKER_UNCHANGED, CMX_BREAKER_CLOSED, 0},
        {5, OK, CMX_BREAKER_UNCHANGED, CMX_BREAKER_CLOSED, 0},
        {6, FAIL, CMX_BREAKER_UNCHANGED, CMX_BREAKER_CLOSED, 0},
        {7, CLIENT_FAULT, CMX_BREAKER_UNCHANGED, CMX_BREAKER_CLOSED, 0},
        {10, FAIL, CMX_BREAKER_TRIPPED, CMX_BREAKER_OPEN, 110},
        {50, ALLOW, 0, CMX_BREAKER_OPEN, 110},
        {109, ALLOW, 0, CMX_BREAKER_OPEN, 110},
        {110, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {111, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {112, ALLOW, 0, CMX_BREAKER_HALF_OPEN, 0},
        {120, OK, CMX_BREAKER_UNCHANGED, CMX_BREAKER_HALF_OPEN, 0},
        {121, FAIL, CMX_BREAKER_REOPENED, CMX_BREAKER_OPEN, 321},
        {320, ALLOW, 0, CMX_BREAKER_OPEN, 321},
        {321, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {330, FAIL, CMX_BREAKER_REOPENED, CMX_BREAKER_OPEN, 730},
        {730, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {731, CANCEL, 0, CMX_BREAKER_HALF_OPEN, 0},
        {731, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {732, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {733, ALLOW, 0, CMX_BREAKER_HALF_OPEN, 0},
        {740, FAIL, CMX_BREAKER_REOPENED, CMX_BREAKER_OPEN, 1140}, /* 800 capped to 400 */
        {1140, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {1141, ALLOW, 1, CMX_BREAKER_HALF_OPEN, 0},
        {1150, OK, CMX_BREAKER_UNCHANGED, CMX_BREAKER_HALF_OPEN, 0},
        {1160, OK, CMX_BREAKER_RECOVERED, CMX_BREAKER_CLOSED, 0},
        {1170, FAIL, CMX_BREAKER_UNCHANGED, CMX_BREAKER_CLOSED, 0},
        {1171, FAIL, CMX_BREAKER_TRIPPED, CMX_BREAKER_OPEN, 1271}, /* back to 100 ms */
    };
    cmx_breaker b;
    init(&b, &c);
    for (size_t i = 0; i < sizeof schedule / sizeof *schedule; i++) {
        const step *s = &schedule[i];
        uint64_t t = (uint64_t)s->t_ms * MS;
        int got = 0;
        switch (s->op) {
        case ALLOW: got = cmx_breaker_allow(&b, t); break;
        case FAIL: got = cmx_breaker_record(&b, t, CMX_ERR_UNAVAILABLE); break;
        case OK: got = cmx_breaker_record(&b, t, CMX_OK); break;
        case CLIENT_FAULT: got = cmx_breaker_record(&b, t, CMX_ERR_CONTEXT_WINDOW); break;
        case CANCEL: cmx_breaker_cancel(&b); break;
        }
        cmx_breaker_status st;
        cmx_breaker_get_status(&b, t, &st);
        if ((s->op != CANCEL && got != s->expect) || st.state != s->state ||
            (s->state == CMX_BREAKER_OPEN && st.open_until_us != (uint64_t)s->open_until_ms * MS))
            fail_msg("step %zu (t=%u ms): got %d state %s until %llu ms; expected %d %s %u", i,
                     s->t_ms, got, cmx_breaker_state_name(st.state),
                     (unsigned long long)(st.open_until_us / MS), s->expect,
                     cmx_breaker_state_name(s->state), s->open_until_ms);
    }
    cmx_breaker_destroy(&b);
}

static void rejects_an_invalid_config(void **state)
{
    cmx_breaker b;
    cmx_error err;
    cmx_breaker_config c = rate_only();
    c.error_rate_threshold = 101;
    assert_int_equal(cmx_breaker_init(&b, &c, &err), CMX_ERR_CONFIG);
    c = rate_only();
    c.window_ms = 0;
    assert_int_equal(cmx_breaker_init(&b, &c, &err), CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "window_ms"));
}

static void names_its_states(void **state)
{
    assert_string_equal(cmx_breaker_state_name(CMX_BREAKER_CLOSED), "closed");
    assert_string_equal(cmx_breaker_state_name(CMX_BREAKER_OPEN), "open");
    assert_string_equal(cmx_breaker_state_name(CMX_BREAKER_HALF_OPEN), "half_open");
}

/* Two threads record at once; the mutex must not lose a single count. */
#define PER_THREAD 50000
static void *hammer(void *arg)
{
    cmx_breaker *b = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (cmx_breaker_allow(b, 0))
            cmx_breaker_record(b, 0, i % 4 == 0 ? CMX_ERR_UNAVAILABLE : CMX_OK);
    }
    return NULL;
}

static void counts_every_result_from_two_threads(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = rate_only();
    c.min_requests = 1000000; /* never trips: the counts stay observable */
    init(&b, &c);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, hammer, &b);
    pthread_create(&t2, NULL, hammer, &b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, 0, &st);
    assert_int_equal(st.window_requests, 2 * PER_THREAD);
    assert_int_equal(st.window_failures, 2 * PER_THREAD / 4);
    cmx_breaker_destroy(&b);
}

/* --- in a fleet --------------------------------------------------------- */

static void in_a_fleet_only_the_lease_holder_probes(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    init(&b, &c);
    cmx_breaker_set_fleet(&b, true);
    uint64_t t = 1000 * MS;
    trip(&b, t);
    /* Cooldown over, no lease: still refused, and the lease is wanted once. */
    assert_false(cmx_breaker_allow(&b, t + 1000 * MS));
    assert_true(cmx_breaker_wants_lease(&b, t + 1000 * MS));
    assert_false(cmx_breaker_wants_lease(&b, t + 1001 * MS)); /* already asked */
    assert_false(cmx_breaker_allow(&b, t + 1001 * MS));
    /* Another replica holds it: ask again only after the retry delay. */
    cmx_breaker_lease_answer(&b, t + 1002 * MS, false, 250);
    assert_false(cmx_breaker_wants_lease(&b, t + 1100 * MS));
    assert_true(cmx_breaker_wants_lease(&b, t + 1252 * MS));
    /* Granted: one probe, the rest refused as in half-open. */
    cmx_breaker_lease_answer(&b, t + 1260 * MS, true, 250);
    assert_true(cmx_breaker_allow(&b, t + 1261 * MS));
    assert_false(cmx_breaker_allow(&b, t + 1262 * MS));
    assert_int_equal(cmx_breaker_record(&b, t + 1300 * MS, CMX_OK), CMX_BREAKER_RECOVERED);
    assert_true(cmx_breaker_allow(&b, t + 1301 * MS));
    /* The next trip needs a new lease: the old one ended with the verdict. */
    trip(&b, t + 2000 * MS);
    assert_false(cmx_breaker_allow(&b, t + 3001 * MS));
    assert_true(cmx_breaker_wants_lease(&b, t + 3001 * MS));
    cmx_breaker_destroy(&b);
}

static void without_a_fleet_no_lease_is_wanted(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(1);
    init(&b, &c);
    trip(&b, 0);
    assert_false(cmx_breaker_wants_lease(&b, 1000 * MS));
    assert_true(cmx_breaker_allow(&b, 1000 * MS));
    cmx_breaker_destroy(&b);
}

static void another_replicas_transitions_apply_here(void **state)
{
    cmx_breaker b;
    cmx_breaker_config c = consecutive_only(5);
    c.max_cooldown_ms = 8000;
    init(&b, &c);
    cmx_breaker_set_fleet(&b, true);
    uint64_t t = 500 * MS;
    /* Opened elsewhere with a 4 s cooldown (it had doubled there). */
    cmx_breaker_apply_remote(&b, t, true, t + 4000 * MS, 4000 * MS);
    assert_int_equal(cmx_breaker_state_at(&b, t), CMX_BREAKER_OPEN);
    assert_false(cmx_breaker_allow(&b, t + 3999 * MS));
    assert_int_equal(cmx_breaker_cooldown_us(&b), 4000 * MS);
    cmx_breaker_status st;
    cmx_breaker_get_status(&b, t, &st);
    assert_int_equal(st.trips, 1);
    /* An older, shorter opening does not shorten it. */
    cmx_breaker_apply_remote(&b, t + 10 * MS, true, t + 1000 * MS, 1000 * MS);
    assert_false(cmx_breaker_allow(&b, t + 2000 * MS));
    /* Closed elsewhere (its probe succeeded): closed here, cooldown back to base. */
    cmx_breaker_apply_remote(&b, t + 2000 * MS, false, 0, 0);
    assert_int_equal(cmx_breaker_state_at(&b, t + 2000 * MS), CMX_BREAKER_CLOSED);
    assert_true(cmx_breaker_allow(&b, t + 2000 * MS));
    assert_int_equal(cmx_breaker_cooldown_us(&b), 1000 * MS);
    cmx_breaker_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_after_n_consecutive_failures),
        cmocka_unit_test(a_success_breaks_the_run_of_failures),
        cmocka_unit_test(opens_on_error_rate_only_with_min_requests),
        cmocka_unit_test(stays_closed_below_the_error_rate),
        cmocka_unit_test(error_rate_forgets_failures_older_than_the_window),
        cmocka_unit_test(stays_closed_on_client_fault_kinds),
        cmocka_unit_test(client_faults_neither_count_nor_break_a_run),
        cmocka_unit_test(counts_only_the_providers_failures),
        cmocka_unit_test(half_opens_after_cooldown_and_admits_exactly_max_probes),
        cmocka_unit_test(closes_when_every_probe_succeeds),
        cmocka_unit_test(reopens_on_probe_failure_with_a_doubled_capped_cooldown),
        cmocka_unit_test(a_cancelled_probe_frees_its_slot),
        cmocka_unit_test(a_probe_that_never_reports_is_forgotten_after_a_cooldown),
        cmocka_unit_test(results_while_open_are_ignored),
        cmocka_unit_test(follows_the_schedule_table_exactly),
        cmocka_unit_test(rejects_an_invalid_config),
        cmocka_unit_test(names_its_states),
        cmocka_unit_test(counts_every_result_from_two_threads),
        cmocka_unit_test(in_a_fleet_only_the_lease_holder_probes),
        cmocka_unit_test(without_a_fleet_no_lease_is_wanted),
        cmocka_unit_test(another_replicas_transitions_apply_here),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
