/* test_allowance.c — a replica's credit on a fleet-wide counter, on an
 * injected clock: far from the limit requests are spent from credit and a
 * grant is sized by demand; near the limit no grant is asked (every request
 * goes to the store), nor for a small limit; a stale fleet total sizes nothing; credit is spent
 * only within the bucket it was counted in and what is left goes back to that bucket; grants in one
 * bucket add up, a later one sends the older credit back; a refused or lost grant holds nothing;
 * fixed windows hold credit at most a second; unchecked additions are sent together after a short
 * wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "state/allowance.h"

#define T0 5000000u              /* the replica's monotonic ms */
#define STORE_SECOND 1700000000u /* a bucket number of the store (1 s buckets) */

/* The store's clock `into` ms into bucket STORE_SECOND. */
static uint64_t store_at(uint64_t into)
{
    return (uint64_t)STORE_SECOND * 1000 + into;
}

/* An allowance that knows the fleet's total and holds `credit` granted at
 * T0, `into` ms into its bucket. */
static cmx_allowance holding(int64_t total, int64_t credit, uint64_t into)
{
    cmx_allowance a = {0};
    cmx_allowance_learn_total(&a, T0, total);
    cmx_allowance_asked(&a, T0);
    cmx_allowance_answered(&a, T0, T0 + 1, true, credit, total + credit, store_at(into), 1000);
    return a;
}

static void far_from_the_limit_requests_are_spent_from_credit(void **unused)
{
    cmx_allowance a = {0};
    /* Nothing known yet: the first request goes to the store. */
    cmx_allowance_note_demand(&a, T0, 1);
    assert_false(cmx_allowance_covers(&a, T0, 1));
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 600), 0);
    /* Its answer teaches the fleet's total: now a grant is worth asking,
     * the smallest one while the rate is unknown. */
    cmx_allowance_learn_total(&a, T0 + 1, 1);
    int64_t g = cmx_allowance_grant_size(&a, T0 + 1, 600);
    assert_int_equal(g, CMX_ALLOWANCE_MIN_REQUESTS);
    cmx_allowance_asked(&a, T0 + 1);
    assert_int_equal(cmx_allowance_grant_size(&a, T0 + 1, 600), 0); /* one at a time */
    cmx_allowance_return back =
        cmx_allowance_answered(&a, T0 + 1, T0 + 2, true, g, 1 + g, store_at(200), 1000);
    assert_int_equal(back.units, 0);
    for (int i = 0; i < g; i++) {
        assert_true(cmx_allowance_covers(&a, T0 + 3, 1));
        cmx_allowance_spend(&a, 1);
    }
    assert_false(cmx_allowance_covers(&a, T0 + 3, 1));
    assert_int_equal(a.credit, 0);
}

static void a_grant_follows_the_demand_and_stays_within_a_share_of_the_room(void **unused)
{
    cmx_allowance a = {0};
    cmx_allowance_learn_total(&a, T0, 0);
    /* 10 units a millisecond for 25 ms. */
    for (int ms = 0; ms < 25; ms++)
        for (int k = 0; k < 10; k++)
            cmx_allowance_note_demand(&a, T0 + (uint64_t)ms, 1);
    cmx_allowance_learn_total(&a, T0 + 25, 0);
    cmx_allowance_asked(&a, T0 + 25);
    cmx_allowance_answered(&a, T0 + 25, T0 + 26, false, 4, 0, store_at(0), 1000);
    /* ~10/ms over a 25 ms horizon: about 250, well under 1/128 of 1e6. */
    int64_t g = cmx_allowance_grant_size(&a, T0 + 26, 1000000);
    assert_in_range(g, 200, 260);
    /* The same demand against a limit of 16000: at most 1/128 of it. */
    assert_int_equal(cmx_allowance_grant_size(&a, T0 + 26, 16000), 125);
    /* ... and at most 1/8 of the room left. */
    cmx_allowance_learn_total(&a, T0 + 26, 16000 - 800);
    assert_int_equal(cmx_allowance_grant_size(&a, T0 + 26, 16000), 100);
    /* Credit still covering half the next grant: nothing asked. */
    cmx_allowance b = holding(0, 100, 0);
    cmx_allowance_note_demand(&b, T0 + 2, 1);
    assert_int_equal(cmx_allowance_grant_size(&b, T0 + 2, 600), 0);
}

static void near_the_limit_no_grant_is_asked(void **unused)
{
    cmx_allowance a = {0};
    cmx_allowance_note_demand(&a, T0, 1);
    /* 1/8 of the room left must hold the smallest grant (4 requests). */
    cmx_allowance_learn_total(&a, T0, 600 - 32);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 600), 4);
    cmx_allowance_learn_total(&a, T0, 600 - 31);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 600), 0);
    cmx_allowance_learn_total(&a, T0, 600);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 600), 0);
    /* Tokens: the smallest grant is four of the largest request lately. */
    cmx_allowance t = {0};
    cmx_allowance_note_demand(&t, T0, 300);
    cmx_allowance_learn_total(&t, T0, 1000000 - 8 * 1200);
    assert_int_equal(cmx_allowance_grant_size(&t, T0, 1000000), 1200);
    cmx_allowance_learn_total(&t, T0, 1000000 - 8 * 1200 + 8);
    assert_int_equal(cmx_allowance_grant_size(&t, T0, 1000000), 0);
}

static void a_small_limit_gets_no_allowance(void **unused)
{
    /* 1/128 of an rpm of 511 is less than four requests: the store decides
     * every one of them, even with the window empty. */
    cmx_allowance a = {0};
    cmx_allowance_note_demand(&a, T0, 1);
    cmx_allowance_learn_total(&a, T0, 0);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 511), 0);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 512), 4);
    assert_int_equal(cmx_allowance_grant_size(&a, T0, 120), 0);
}

static void a_stale_total_sizes_no_grant(void **unused)
{
    cmx_allowance a = {0};
    cmx_allowance_note_demand(&a, T0, 1);
    cmx_allowance_learn_total(&a, T0, 10);
    assert_true(cmx_allowance_grant_size(&a, T0 + CMX_ALLOWANCE_STALE_MS, 600) > 0);
    assert_int_equal(cmx_allowance_grant_size(&a, T0 + CMX_ALLOWANCE_STALE_MS + 1, 600), 0);
    /* A fresh answer (a request the store decided) makes it usable again. */
    cmx_allowance_learn_total(&a, T0 + 2000, 11);
    assert_true(cmx_allowance_grant_size(&a, T0 + 2000, 600) > 0);
}

static void credit_is_spent_within_its_bucket_and_the_rest_goes_back_to_it(void **unused)
{
    /* Granted 900 ms into the store's second: 100 ms left, counted from
     * when it was asked (T0). */
    cmx_allowance a = holding(0, 10, 900);
    assert_true(cmx_allowance_covers(&a, T0 + 99, 1));
    assert_false(cmx_allowance_covers(&a, T0 + 100, 1));
    assert_int_equal(cmx_allowance_due(&a), T0 + 100);
    cmx_allowance_spend(&a, 3);
    assert_int_equal(cmx_allowance_expire(&a, T0 + 99).units, 0);
    cmx_allowance_return back = cmx_allowance_expire(&a, T0 + 100);
    assert_int_equal(back.units, 7);
    assert_int_equal(back.bucket, STORE_SECOND);
    assert_int_equal(a.credit, 0);
    assert_true(cmx_allowance_idle(&a));
    /* A grant whose second was over before its answer came goes back whole. */
    cmx_allowance b = {0};
    cmx_allowance_learn_total(&b, T0, 0);
    cmx_allowance_asked(&b, T0);
    back = cmx_allowance_answered(&b, T0, T0 + 50, true, 8, 8, store_at(970), 1000);
    assert_int_equal(back.units, 8);
    assert_int_equal(back.bucket, STORE_SECOND);
    assert_int_equal(b.credit, 0);
}

static void grants_in_one_bucket_add_up_and_a_new_bucket_sends_the_old_credit_back(void **unused)
{
    cmx_allowance a = holding(0, 10, 100);
    cmx_allowance_spend(&a, 6);
    cmx_allowance_asked(&a, T0 + 10);
    cmx_allowance_return back =
        cmx_allowance_answered(&a, T0 + 10, T0 + 11, true, 20, 30, store_at(110), 1000);
    assert_int_equal(back.units, 0);
    assert_int_equal(a.credit, 24);
    assert_int_equal(a.spend_until_ms, T0 + 900); /* the earlier, safer end */
    /* The next grant lands in the next second: the 24 go back to this one. */
    cmx_allowance_asked(&a, T0 + 905);
    back = cmx_allowance_answered(&a, T0 + 905, T0 + 906, true, 16, 46, store_at(1005), 1000);
    assert_int_equal(back.units, 24);
    assert_int_equal(back.bucket, STORE_SECOND);
    assert_int_equal(a.credit, 16);
    assert_int_equal(a.bucket, STORE_SECOND + 1);
}

static void a_refused_or_lost_grant_holds_nothing(void **unused)
{
    cmx_allowance a = {0};
    cmx_allowance_learn_total(&a, T0, 0);
    cmx_allowance_asked(&a, T0);
    cmx_allowance_return back =
        cmx_allowance_answered(&a, T0, T0 + 1, false, 50, 598, store_at(0), 1000);
    assert_int_equal(back.units, 0);
    assert_int_equal(a.credit, 0);
    assert_int_equal(a.total, 598); /* it still teaches the total */
    assert_false(a.asking);
    cmx_allowance_asked(&a, T0 + 2);
    cmx_allowance_unanswered(&a);
    assert_false(a.asking);
    assert_int_equal(a.credit, 0);
    /* Dropped credit (a lost connection) is neither spent nor given back. */
    cmx_allowance b = holding(0, 10, 0);
    cmx_allowance_drop(&b);
    assert_false(cmx_allowance_covers(&b, T0 + 1, 1));
    assert_int_equal(cmx_allowance_expire(&b, T0 + 5000).units, 0);
}

static void a_fixed_window_holds_credit_at_most_a_second(void **unused)
{
    /* A one-hour bucket: the hold, not the bucket, ends the credit. */
    cmx_allowance a = {0};
    cmx_allowance_learn_total(&a, T0, 0);
    cmx_allowance_asked(&a, T0);
    cmx_allowance_answered(&a, T0, T0 + 1, true, 100, 100, 3600000ull * 500000 + 10, 3600000);
    assert_true(cmx_allowance_covers(&a, T0 + CMX_ALLOWANCE_MAX_HOLD_MS - 1, 1));
    assert_false(cmx_allowance_covers(&a, T0 + CMX_ALLOWANCE_MAX_HOLD_MS, 1));
    assert_int_equal(cmx_allowance_expire(&a, T0 + CMX_ALLOWANCE_MAX_HOLD_MS).bucket, 500000);
}

static void unchecked_additions_are_sent_together_after_a_short_wait(void **unused)
{
    cmx_allowance a = {0};
    cmx_allowance_defer(&a, T0, -200);
    cmx_allowance_defer(&a, T0 + 4, 35);
    assert_false(cmx_allowance_idle(&a));
    assert_int_equal(cmx_allowance_due(&a), T0 + CMX_ALLOWANCE_SETTLE_MS);
    assert_int_equal(cmx_allowance_take_unsent(&a, T0 + CMX_ALLOWANCE_SETTLE_MS - 1), 0);
    assert_int_equal(cmx_allowance_take_unsent(&a, T0 + CMX_ALLOWANCE_SETTLE_MS), -165);
    assert_int_equal(cmx_allowance_take_unsent(&a, T0 + 100), 0);
    assert_true(cmx_allowance_idle(&a));
    assert_int_equal(cmx_allowance_due(&a), UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(far_from_the_limit_requests_are_spent_from_credit),
        cmocka_unit_test(a_grant_follows_the_demand_and_stays_within_a_share_of_the_room),
        cmocka_unit_test(near_the_limit_no_grant_is_asked),
        cmocka_unit_test(a_small_limit_gets_no_allowance),
        cmocka_unit_test(a_stale_total_sizes_no_grant),
        cmocka_unit_test(credit_is_spent_within_its_bucket_and_the_rest_goes_back_to_it),
        cmocka_unit_test(grants_in_one_bucket_add_up_and_a_new_bucket_sends_the_old_credit_back),
        cmocka_unit_test(a_refused_or_lost_grant_holds_nothing),
        cmocka_unit_test(a_fixed_window_holds_credit_at_most_a_second),
        cmocka_unit_test(unchecked_additions_are_sent_together_after_a_short_wait),
    };
    return cmocka_run_group_tests_name("allowance", tests, NULL, NULL);
}
