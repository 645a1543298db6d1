/* test_backoff.c — retry delays (full jitter within its bounds, server hints
 * honoured and capped), the overall deadline across attempts, and the retry
 * budget (refuses past its share of traffic, keeps its floor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "router/backoff.h"
#include "router/retry_budget.h"

#define MS 1000u

static void jitter_ceiling_doubles_up_to_the_cap(void **state)
{
    cmx_backoff_config c = {.base_ms = 100, .cap_ms = 5000, .max_hint_ms = 30000};
    const uint32_t expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (unsigned n = 0; n < 8; n++)
        assert_int_equal(cmx_backoff_ceiling_ms(&c, n), expected[n]);
    /* A huge retry number neither overflows nor loops long. */
    assert_int_equal(cmx_backoff_ceiling_ms(&c, 4000000000u), 5000);
    cmx_backoff_config big = {.base_ms = 3000000000u, .cap_ms = UINT32_MAX};
    assert_int_equal(cmx_backoff_ceiling_ms(&big, 70), UINT32_MAX);
}

static void full_jitter_stays_in_bounds_with_a_mean_near_half(void **state)
{
    cmx_backoff_config c = {.base_ms = 100, .cap_ms = 5000, .max_hint_ms = 30000};
    cmx_splitmix sm;
    cmx_splitmix_seed(&sm, 42);
    cmx_rng rng = cmx_rng_splitmix(&sm);
    enum { DRAWS = 20000 };
    for (unsigned n = 0; n < 9; n++) {
        uint32_t ceiling = cmx_backoff_ceiling_ms(&c, n);
        uint32_t lo = UINT32_MAX, hi = 0;
        double sum = 0;
        for (int i = 0; i < DRAWS; i++) {
            uint32_t d = cmx_backoff_delay_ms(&c, n, 0, &rng);
            assert_true(d <= ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += d;
        }
        double mean = sum / DRAWS;
        /* Uniform on [0, ceiling]: mean ceiling/2, standard error ≈ 0.2% of
         * the ceiling at this many draws; 3% is far outside chance. */
        if (mean < ceiling * 0.47 || mean > ceiling * 0.53)
            fail_msg("retry %u: mean %.1f for ceiling %u", n, mean, ceiling);
        /* Full jitter covers the whole range, down to (nearly) zero. */
        assert_true(lo <= ceiling / 100);
        assert_true(hi >= ceiling - ceiling / 100);
    }
}

static uint64_t scripted_next(void *ctx)
{
    return *(const uint64_t *)ctx;
}

static void full_jitter_reaches_both_ends_with_a_scripted_rng(void **state)
{
    cmx_backoff_config c = {.base_ms = 100, .cap_ms = 5000, .max_hint_ms = 30000};
    /* The smallest draws are rejected by the unbiasing step (a constant 0
     * would loop), so "lowest" is a value just above that zone. */
    uint64_t value = UINT64_C(1) << 40;
    cmx_rng rng = {scripted_next, &value};
    assert_int_equal(cmx_backoff_delay_ms(&c, 2, 0, &rng), 0);
    value = UINT64_MAX;
    assert_int_equal(cmx_backoff_delay_ms(&c, 2, 0, &rng), 400);
    value = UINT64_MAX / 2 + 1; /* the middle of the range */
    assert_int_equal(cmx_backoff_delay_ms(&c, 2, 0, &rng), 200);
    assert_int_equal(cmx_rng_below(&rng, 0), 0);
    assert_int_equal(cmx_rng_below(&rng, 1), 0);
}

static void honours_a_server_hint_as_a_floor(void **state)
{
    cmx_backoff_config c = {.base_ms = 100, .cap_ms = 1000, .max_hint_ms = 30000};
    cmx_splitmix sm;
    cmx_splitmix_seed(&sm, 7);
    cmx_rng rng = cmx_rng_splitmix(&sm);
    for (int i = 0; i < 1000; i++) {
        /* A hint above the jitter ceiling is the delay. */
        assert_int_equal(cmx_backoff_delay_ms(&c, 0, 2500, &rng), 2500);
        /* A small hint is a floor under the jitter. */
        uint32_t d = cmx_backoff_delay_ms(&c, 3, 300, &rng);
        assert_true(d >= 300 && d <= 800);
    }
}

static void caps_a_server_hint_at_max_hint(void **state)
{
    cmx_backoff_config c = {.base_ms = 100, .cap_ms = 1000, .max_hint_ms = 30000};
    cmx_splitmix sm;
    cmx_splitmix_seed(&sm, 7);
    cmx_rng rng = cmx_rng_splitmix(&sm);
    assert_int_equal(cmx_backoff_delay_ms(&c, 0, 3600000, &rng), 30000);
    assert_int_equal(cmx_backoff_delay_ms(&c, 9, 30001, &rng), 30000);
}

static void deadline_bounds_each_attempt_by_what_is_left(void **state)
{
    cmx_deadline d = cmx_deadline_after(1000 * MS, 10000);
    assert_int_equal(cmx_deadline_remaining_us(&d, 1000 * MS), 10000 * MS);
    assert_int_equal(cmx_deadline_attempt_ms(&d, 1000 * MS, 4000), 4000);
    assert_int_equal(cmx_deadline_attempt_ms(&d, 8000 * MS, 4000), 3000);
    assert_int_equal(cmx_deadline_attempt_ms(&d, 8000 * MS, 0), 3000);
    assert_int_equal(cmx_deadline_attempt_ms(&d, 10999 * MS + 1, 4000), 1); /* rounds up */
    assert_false(cmx_deadline_expired(&d, 10999 * MS));
    assert_true(cmx_deadline_expired(&d, 11000 * MS));
    assert_int_equal(cmx_deadline_remaining_us(&d, 20000 * MS), 0);
    assert_int_equal(cmx_deadline_attempt_ms(&d, 11000 * MS, 4000), 0);
}

static void no_deadline_leaves_attempts_their_own_timeout(void **state)
{
    cmx_deadline d = cmx_deadline_after(5 * MS, 0);
    assert_int_equal(cmx_deadline_remaining_us(&d, UINT64_MAX / 2), UINT64_MAX);
    assert_false(cmx_deadline_expired(&d, UINT64_MAX / 2));
    assert_int_equal(cmx_deadline_attempt_ms(&d, 0, 4000), 4000);
    assert_true(cmx_deadline_allows_delay(&d, 0, 3600000, 1000));
}

static void a_retry_sleep_must_leave_time_for_the_attempt(void **state)
{
    cmx_deadline d = cmx_deadline_after(0, 5000);
    assert_true(cmx_deadline_allows_delay(&d, 1000 * MS, 1000, 3000));
    assert_false(cmx_deadline_allows_delay(&d, 1000 * MS, 1001, 3000));
    assert_true(cmx_deadline_allows_delay(&d, 1000 * MS, 3999, 0));
    assert_false(cmx_deadline_allows_delay(&d, 1000 * MS, 4000, 0)); /* nothing left after */
}

static void init_budget(cmx_retry_budget *b, uint32_t percent, uint32_t min_retries)
{
    cmx_retry_budget_config c = {
        .budget_percent = percent, .min_retries = min_retries, .window_ms = 10000};
    cmx_error err;
    assert_int_equal(cmx_retry_budget_init(b, &c, &err), CMX_OK);
}

static void budget_refuses_retries_past_its_percentage(void **state)
{
    cmx_retry_budget b;
    init_budget(&b, 20, 0);
    for (int i = 0; i < 100; i++)
        cmx_retry_budget_record_request(&b, 0);
    int granted = 0;
    for (int i = 0; i < 50; i++)
        granted += cmx_retry_budget_acquire(&b, 0);
    assert_int_equal(granted, 20);
    assert_false(cmx_retry_budget_allow(&b, 0));
    /* More traffic, more room: 10 requests buy 2 retries. */
    for (int i = 0; i < 10; i++)
        cmx_retry_budget_record_request(&b, 0);
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_false(cmx_retry_budget_acquire(&b, 0));
    cmx_retry_budget_destroy(&b);
}

static void budget_always_allows_its_minimum(void **state)
{
    cmx_retry_budget b;
    init_budget(&b, 20, 3);
    /* One lonely request: 20% of it is 0.2 retries, but the floor is 3. */
    cmx_retry_budget_record_request(&b, 0);
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_false(cmx_retry_budget_acquire(&b, 0));
    cmx_retry_budget_destroy(&b);
}

static void budget_allow_counts_nothing_until_recorded(void **state)
{
    cmx_retry_budget b;
    init_budget(&b, 50, 0);
    cmx_retry_budget_record_request(&b, 0);
    cmx_retry_budget_record_request(&b, 0);
    for (int i = 0; i < 10; i++)
        assert_true(cmx_retry_budget_allow(&b, 0));
    cmx_retry_budget_record_retry(&b, 0);
    assert_false(cmx_retry_budget_allow(&b, 0));
    cmx_retry_budget_destroy(&b);
}

static void budget_recovers_when_old_retries_leave_the_window(void **state)
{
    cmx_retry_budget b;
    init_budget(&b, 10, 0);
    for (int i = 0; i < 10; i++)
        cmx_retry_budget_record_request(&b, 0);
    assert_true(cmx_retry_budget_acquire(&b, 0));
    assert_false(cmx_retry_budget_acquire(&b, 0));
    /* 11 s later: 10 fresh requests, the old retry is gone. */
    for (int i = 0; i < 10; i++)
        cmx_retry_budget_record_request(&b, 11000 * MS);
    assert_true(cmx_retry_budget_acquire(&b, 11000 * MS));
    cmx_retry_budget_destroy(&b);
}

static void budget_rejects_a_zero_window(void **state)
{
    cmx_retry_budget b;
    cmx_retry_budget_config c = {.budget_percent = 20, .window_ms = 0};
    cmx_error err;
    assert_int_equal(cmx_retry_budget_init(&b, &c, &err), CMX_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jitter_ceiling_doubles_up_to_the_cap),
        cmocka_unit_test(full_jitter_stays_in_bounds_with_a_mean_near_half),
        cmocka_unit_test(full_jitter_reaches_both_ends_with_a_scripted_rng),
        cmocka_unit_test(honours_a_server_hint_as_a_floor),
        cmocka_unit_test(caps_a_server_hint_at_max_hint),
        cmocka_unit_test(deadline_bounds_each_attempt_by_what_is_left),
        cmocka_unit_test(no_deadline_leaves_attempts_their_own_timeout),
        cmocka_unit_test(a_retry_sleep_must_leave_time_for_the_attempt),
        cmocka_unit_test(budget_refuses_retries_past_its_percentage),
        cmocka_unit_test(budget_always_allows_its_minimum),
        cmocka_unit_test(budget_allow_counts_nothing_until_recorded),
        cmocka_unit_test(budget_recovers_when_old_retries_leave_the_window),
        cmocka_unit_test(budget_rejects_a_zero_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
