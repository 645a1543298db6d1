/* test_ratelimit.c — per-deployment rpm/tpm over a sliding minute, and the
 * admission helpers that join it with the breaker: the (limit+1)th request of
 * a minute is refused, tokens are reserved then settled, old counts leave the
 * window, and admission reserves nothing when it says no. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "router/admission.h"
#include "router/ratelimit.h"

#define MS 1000u
#define S 1000000u

static void init_limit(cmx_ratelimit *rl, uint32_t rpm, uint64_t tpm)
{
    cmx_ratelimit_config c = {.rpm = rpm, .tpm = tpm};
    cmx_error err;
    assert_int_equal(cmx_ratelimit_init(rl, &c, &err), CMX_OK);
}

static void refuses_the_request_over_rpm_within_a_minute(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 10, 0);
    for (int i = 0; i < 10; i++)
        assert_true(cmx_ratelimit_try_acquire(&rl, (uint64_t)i * 5 * S, 0));
    assert_false(cmx_ratelimit_has_room(&rl, 50 * S, 0));
    assert_false(cmx_ratelimit_try_acquire(&rl, 50 * S, 0));
    /* The first request (t=0) leaves the window at t=60 s: one slot again. */
    assert_false(cmx_ratelimit_try_acquire(&rl, 59 * S, 0));
    assert_true(cmx_ratelimit_try_acquire(&rl, 60 * S, 0));
    assert_false(cmx_ratelimit_try_acquire(&rl, 60 * S, 0));
    cmx_ratelimit_destroy(&rl);
}

static void refuses_a_request_whose_tokens_do_not_fit(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 0, 1000);
    assert_true(cmx_ratelimit_try_acquire(&rl, 0, 600));
    assert_false(cmx_ratelimit_has_room(&rl, 0, 401));
    assert_true(cmx_ratelimit_try_acquire(&rl, 0, 400));
    assert_false(cmx_ratelimit_try_acquire(&rl, 0, 1));
    uint64_t req, tok;
    cmx_ratelimit_usage(&rl, 0, &req, &tok);
    assert_int_equal(req, 2);
    assert_int_equal(tok, 1000);
    cmx_ratelimit_destroy(&rl);
}

static void settling_a_reservation_frees_or_takes_tokens(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 0, 1000);
    assert_true(cmx_ratelimit_try_acquire(&rl, 0, 900));
    assert_false(cmx_ratelimit_has_room(&rl, 0, 200));
    cmx_ratelimit_adjust_tokens(&rl, 1 * S, -700); /* it used 200, not 900 */
    assert_true(cmx_ratelimit_has_room(&rl, 1 * S, 800));
    cmx_ratelimit_adjust_tokens(&rl, 2 * S, 500); /* a second answer was longer */
    assert_false(cmx_ratelimit_has_room(&rl, 2 * S, 301));
    /* The reservation leaves the window before its settlement: never negative. */
    uint64_t req, tok;
    cmx_ratelimit_usage(&rl, 60 * S, &req, &tok);
    assert_int_equal(req, 0);
    assert_int_equal(tok, 0);
    assert_true(cmx_ratelimit_has_room(&rl, 60 * S, 1000));
    cmx_ratelimit_destroy(&rl);
}

static void lets_one_oversized_request_through_an_empty_window(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 0, 1000);
    assert_true(cmx_ratelimit_try_acquire(&rl, 0, 5000));
    assert_false(cmx_ratelimit_try_acquire(&rl, 0, 1));
    cmx_ratelimit_destroy(&rl);
}

static void unlimited_when_both_limits_are_zero(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 0, 0);
    for (int i = 0; i < 100000; i++)
        assert_true(cmx_ratelimit_try_acquire(&rl, 0, 1000000));
    cmx_ratelimit_destroy(&rl);
}

#define PER_THREAD 20000
static void *take_slots(void *arg)
{
    cmx_ratelimit *rl = arg;
    long granted = 0;
    for (int i = 0; i < PER_THREAD; i++)
        granted += cmx_ratelimit_try_acquire(rl, 0, 1);
    return (void *)granted;
}

static void two_threads_never_share_the_last_slot(void **state)
{
    cmx_ratelimit rl;
    init_limit(&rl, 5000, 0);
    pthread_t t1, t2;
    void *g1, *g2;
    pthread_create(&t1, NULL, take_slots, &rl);
    pthread_create(&t2, NULL, take_slots, &rl);
    pthread_join(t1, &g1);
    pthread_join(t2, &g2);
    assert_int_equal((long)g1 + (long)g2, 5000);
    cmx_ratelimit_destroy(&rl);
}

static void eligible_mask_leaves_out_open_breakers_and_full_limits(void **state)
{
    cmx_breaker br[3];
    cmx_ratelimit rl[3];
    cmx_error err;
    cmx_breaker_config bc = {.consecutive_failures = 1, .cooldown_ms = 1000, .half_open_probes = 1};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cmx_breaker_init(&br[i], &bc, &err), CMX_OK);
        init_limit(&rl[i], i == 2 ? 1 : 0, 0);
    }
    assert_int_equal(cmx_eligible_mask(br, rl, 3, 0, 10), 0x7);
    cmx_breaker_record(&br[0], 0, CMX_ERR_UNAVAILABLE);
    assert_true(cmx_ratelimit_try_acquire(&rl[2], 0, 0));
    assert_int_equal(cmx_eligible_mask(br, rl, 3, 0, 10), 0x2);
    assert_int_equal(cmx_eligible_mask(br, NULL, 3, 0, 10), 0x6);
    assert_int_equal(cmx_eligible_mask(NULL, rl, 3, 0, 10), 0x3);
    /* After the cooldown the breaker would admit a probe; asking takes none. */
    assert_int_equal(cmx_eligible_mask(br, NULL, 3, 1000 * MS, 10), 0x7);
    assert_int_equal(cmx_eligible_mask(br, NULL, 3, 1000 * MS, 10), 0x7);
    for (int i = 0; i < 3; i++) {
        cmx_breaker_destroy(&br[i]);
        cmx_ratelimit_destroy(&rl[i]);
    }
}

static void admission_refused_by_the_limit_gives_the_probe_back(void **state)
{
    cmx_breaker br;
    cmx_ratelimit rl;
    cmx_error err;
    cmx_breaker_config bc = {.consecutive_failures = 1, .cooldown_ms = 1000, .half_open_probes = 1};
    assert_int_equal(cmx_breaker_init(&br, &bc, &err), CMX_OK);
    init_limit(&rl, 1, 0);
    cmx_breaker_record(&br, 0, CMX_ERR_UNAVAILABLE);
    assert_true(cmx_ratelimit_try_acquire(&rl, 0, 0)); /* the minute's one slot */
    assert_false(cmx_deployment_admit(&br, &rl, 0, 1000 * MS, 0));
    /* The probe slot was not kept: once the limit has room, a probe goes. */
    assert_true(cmx_deployment_admit(&br, &rl, 0, 60 * S, 0));
    assert_false(cmx_deployment_admit(&br, &rl, 0, 60 * S, 0));
    cmx_breaker_destroy(&br);
    cmx_ratelimit_destroy(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_the_request_over_rpm_within_a_minute),
        cmocka_unit_test(refuses_a_request_whose_tokens_do_not_fit),
        cmocka_unit_test(settling_a_reservation_frees_or_takes_tokens),
        cmocka_unit_test(lets_one_oversized_request_through_an_empty_window),
        cmocka_unit_test(unlimited_when_both_limits_are_zero),
        cmocka_unit_test(two_threads_never_share_the_last_slot),
        cmocka_unit_test(eligible_mask_leaves_out_open_breakers_and_full_limits),
        cmocka_unit_test(admission_refused_by_the_limit_gives_the_probe_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
