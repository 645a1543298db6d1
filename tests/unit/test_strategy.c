/* test_strategy.c — choosing the order of deployments: distributions of
 * round-robin, smooth weighted and weighted random over 10,000 simulated
 * picks, nginx's 5:1:1 sequence, ineligible (breaker open, over rpm)
 * deployments skipped, least-busy, least-latency moving traffic off a slowed
 * deployment and back, cheapest, priority, a two-thread smoke test with exact
 * count invariants, and a printed (not asserted) cost per pick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "router/admission.h"
#include "router/strategy.h"

#define ALL UINT64_MAX
#define PICKS 10000

typedef struct fixture {
    cmx_strategy *s;
    cmx_splitmix sm;
    cmx_rng rng;
} fixture;

static void setup(fixture *f, cmx_strategy_kind kind, size_t n, const uint32_t *weights)
{
    cmx_strategy_config c = cmx_strategy_config_default(kind, n);
    c.weights = weights;
    cmx_error err;
    f->s = cmx_strategy_new(&c, &err);
    assert_non_null(f->s);
    cmx_splitmix_seed(&f->sm, 12345);
    f->rng = cmx_rng_splitmix(&f->sm);
}

static size_t first_choice(fixture *f, uint64_t eligible)
{
    size_t order[CMX_STRATEGY_MAX_DEPLOYMENTS];
    cmx_pick_request req = {.eligible = eligible, .rng = &f->rng};
    assert_true(cmx_strategy_pick(f->s, &req, order) > 0);
    return order[0];
}

/* Every pick must list each eligible deployment exactly once. */
static void assert_permutation(const size_t *order, size_t got, uint64_t eligible, size_t n)
{
    uint64_t seen = 0;
    for (size_t k = 0; k < got; k++) {
        assert_true(order[k] < n);
        assert_true(eligible >> order[k] & 1);
        assert_false(seen >> order[k] & 1);
        seen |= UINT64_C(1) << order[k];
    }
    uint64_t want = eligible & (n < 64 ? (UINT64_C(1) << n) - 1 : ALL);
    assert_int_equal(seen, want);
}

static void count_first_choices(fixture *f, uint64_t eligible, int picks, int *counts)
{
    size_t n = cmx_strategy_size(f->s), order[CMX_STRATEGY_MAX_DEPLOYMENTS];
    cmx_pick_request req = {.eligible = eligible, .rng = &f->rng};
    for (int i = 0; i < picks; i++) {
        size_t got = cmx_strategy_pick(f->s, &req, order);
        assert_permutation(order, got, eligible, n);
        counts[order[0]]++;
    }
}

static void assert_share(const char *what, int count, int total, double expected, double tol)
{
    double share = (double)count / total;
    print_message("    %-34s %6d/%d = %5.2f%% (expected %5.2f%%)\n", what, count, total,
                  share * 100, expected * 100);
    if (share < expected - tol || share > expected + tol)
        fail_msg("%s: share %.4f outside %.4f ± %.4f", what, share, expected, tol);
}

static void priority_keeps_config_order_and_falls_to_the_next(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_PRIORITY, 3, NULL);
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(cmx_strategy_pick(f.s, &req, order), 3);
        assert_int_equal(order[0], 0);
        assert_int_equal(order[1], 1);
        assert_int_equal(order[2], 2);
    }
    req.eligible = 0x6;
    assert_int_equal(cmx_strategy_pick(f.s, &req, order), 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    cmx_strategy_free(f.s);
}

static void nothing_eligible_gives_an_empty_list(void **state)
{
    for (int k = 0; k < CMX_STRATEGY__COUNT; k++) {
        fixture f;
        setup(&f, (cmx_strategy_kind)k, 3, NULL);
        size_t order[3];
        double costs[3] = {1, 2, 3};
        cmx_pick_request req = {.eligible = 0, .costs = costs, .rng = &f.rng};
        assert_int_equal(cmx_strategy_pick(f.s, &req, order), 0);
        req.eligible = UINT64_C(1) << 5; /* a bit past the group's size */
        assert_int_equal(cmx_strategy_pick(f.s, &req, order), 0);
        cmx_strategy_free(f.s);
    }
}

static void round_robin_splits_evenly_and_falls_back_in_rotation(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_ROUND_ROBIN, 3, NULL);
    int counts[3] = {0};
    count_first_choices(&f, ALL, PICKS, counts);
    for (int i = 0; i < 3; i++) {
        char what[32];
        snprintf(what, sizeof what, "round_robin d%d", i);
        assert_share(what, counts[i], PICKS, 1.0 / 3, 0.0002); /* exact: 3333 or 3334 */
    }
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    cmx_strategy_pick(f.s, &req, order);
    assert_int_equal(order[1], (order[0] + 1) % 3);
    assert_int_equal(order[2], (order[0] + 2) % 3);
    cmx_strategy_free(f.s);
}

static void round_robin_shares_an_ineligible_ones_traffic_evenly(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_ROUND_ROBIN, 3, NULL);
    int counts[3] = {0};
    count_first_choices(&f, 0x5, PICKS, counts);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[0], PICKS / 2);
    assert_int_equal(counts[2], PICKS / 2);
    cmx_strategy_free(f.s);
}

static void weighted_splits_5_3_2_within_2_percent(void **state)
{
    fixture f;
    const uint32_t w[3] = {5, 3, 2};
    setup(&f, CMX_STRATEGY_WEIGHTED, 3, w);
    int counts[3] = {0};
    count_first_choices(&f, ALL, PICKS, counts);
    assert_share("weighted 5:3:2 d0", counts[0], PICKS, 0.5, 0.02);
    assert_share("weighted 5:3:2 d1", counts[1], PICKS, 0.3, 0.02);
    assert_share("weighted 5:3:2 d2", counts[2], PICKS, 0.2, 0.02);
    /* Smooth weighted round-robin is exact over whole cycles. */
    assert_int_equal(counts[0], 5000);
    assert_int_equal(counts[1], 3000);
    assert_int_equal(counts[2], 2000);
    cmx_strategy_free(f.s);
}

static void smooth_weighted_5_1_1_gives_nginx_sequence_without_runs(void **state)
{
    fixture f;
    const uint32_t w[3] = {5, 1, 1};
    setup(&f, CMX_STRATEGY_WEIGHTED, 3, w);
    const size_t expected[7] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
    for (int i = 0; i < 7; i++)
        assert_int_equal(first_choice(&f, ALL), expected[i]);
    /* Over many cycles "a" never comes more than twice in a row inside a
     * cycle and at most 4 across the seam (a a | a a); b and c never repeat. */
    size_t prev = 99;
    int run = 0, longest = 0;
    for (int i = 0; i < 7000; i++) {
        size_t d = first_choice(&f, ALL);
        run = d == prev ? run + 1 : 1;
        prev = d;
        if (run > longest)
            longest = run;
        if (d != 0)
            assert_int_equal(run, 1);
    }
    print_message("    smooth weighted 5:1:1 longest run of a: %d\n", longest);
    assert_true(longest <= 4);
    cmx_strategy_free(f.s);
}

static void weighted_fallbacks_are_the_ones_owed_most(void **state)
{
    fixture f;
    const uint32_t w[3] = {5, 1, 1};
    setup(&f, CMX_STRATEGY_WEIGHTED, 3, w);
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    /* First pick: current weights become 5,1,1; a wins and drops to -2, so the
     * fallbacks are b then c (1,1: config order on the tie), a last. */
    cmx_strategy_pick(f.s, &req, order);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    /* Second pick: 3,2,2 → a wins (-4), fallbacks b, c, a is owed least. */
    cmx_strategy_pick(f.s, &req, order);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    /* Third pick: 1,3,3 → b wins (-4): fallbacks c (3), then a (1). */
    cmx_strategy_pick(f.s, &req, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    cmx_strategy_free(f.s);
}

static void weighted_keeps_the_ratio_among_the_eligible(void **state)
{
    fixture f;
    const uint32_t w[3] = {5, 3, 2};
    setup(&f, CMX_STRATEGY_WEIGHTED, 3, w);
    int counts[3] = {0};
    count_first_choices(&f, 0x5, 7000, counts);
    assert_int_equal(counts[0], 5000);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 2000);
    cmx_strategy_free(f.s);
}

static void weighted_random_splits_5_3_2_within_2_percent(void **state)
{
    fixture f;
    const uint32_t w[3] = {5, 3, 2};
    setup(&f, CMX_STRATEGY_RANDOM, 3, w);
    int counts[3] = {0};
    count_first_choices(&f, ALL, PICKS, counts);
    assert_share("weighted random 5:3:2 d0", counts[0], PICKS, 0.5, 0.02);
    assert_share("weighted random 5:3:2 d1", counts[1], PICKS, 0.3, 0.02);
    assert_share("weighted random 5:3:2 d2", counts[2], PICKS, 0.2, 0.02);
    cmx_strategy_free(f.s);
}

static void uniform_random_splits_evenly_first_and_second(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_RANDOM, 3, NULL);
    int first[3] = {0}, second[3] = {0};
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    for (int i = 0; i < PICKS; i++) {
        assert_permutation(order, cmx_strategy_pick(f.s, &req, order), ALL, 3);
        first[order[0]]++;
        second[order[1]]++;
    }
    for (int i = 0; i < 3; i++) {
        assert_share("uniform random first", first[i], PICKS, 1.0 / 3, 0.02);
        assert_share("uniform random second", second[i], PICKS, 1.0 / 3, 0.02);
    }
    cmx_strategy_free(f.s);
}

static void skips_deployments_whose_breaker_is_open(void **state)
{
    cmx_breaker br[3];
    cmx_error err;
    cmx_breaker_config bc = {.consecutive_failures = 2, .cooldown_ms = 1000, .half_open_probes = 1};
    for (int i = 0; i < 3; i++)
        assert_int_equal(cmx_breaker_init(&br[i], &bc, &err), CMX_OK);
    const cmx_strategy_kind kinds[] = {CMX_STRATEGY_PRIORITY,   CMX_STRATEGY_ROUND_ROBIN,
                                       CMX_STRATEGY_WEIGHTED,   CMX_STRATEGY_RANDOM,
                                       CMX_STRATEGY_LEAST_BUSY, CMX_STRATEGY_LEAST_LATENCY,
                                       CMX_STRATEGY_CHEAPEST};
    cmx_breaker_record(&br[0], 0, CMX_ERR_UNAVAILABLE);
    cmx_breaker_record(&br[0], 0, CMX_ERR_UNAVAILABLE);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        fixture f;
        setup(&f, kinds[k], 3, NULL);
        double costs[3] = {0.1, 0.2, 0.3};
        size_t order[3];
        for (int i = 0; i < 1000; i++) {
            uint64_t mask = cmx_eligible_mask(br, NULL, 3, 500000, 0);
            cmx_pick_request req = {.eligible = mask, .costs = costs, .rng = &f.rng};
            size_t got = cmx_strategy_pick(f.s, &req, order);
            assert_int_equal(got, 2);
            assert_true(order[0] != 0 && order[1] != 0);
        }
        /* After the cooldown it is a candidate again (for its probe). */
        uint64_t mask = cmx_eligible_mask(br, NULL, 3, 1000000, 0);
        cmx_pick_request req = {.eligible = mask, .costs = costs, .rng = &f.rng};
        assert_int_equal(cmx_strategy_pick(f.s, &req, order), 3);
        cmx_strategy_free(f.s);
    }
    for (int i = 0; i < 3; i++)
        cmx_breaker_destroy(&br[i]);
}

/* What the attempt loop does: eligible set, pick, then admit down the list. */
static size_t route_one(fixture *f, cmx_ratelimit *rl, size_t n, uint64_t now_us)
{
    size_t order[CMX_STRATEGY_MAX_DEPLOYMENTS];
    cmx_pick_request req = {.eligible = cmx_eligible_mask(NULL, rl, n, now_us, 0), .rng = &f->rng};
    size_t got = cmx_strategy_pick(f->s, &req, order);
    for (size_t k = 0; k < got; k++)
        if (cmx_deployment_admit(NULL, rl, order[k], now_us, 0))
            return order[k];
    return SIZE_MAX;
}

static void the_request_over_rpm_goes_elsewhere(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_PRIORITY, 2, NULL);
    cmx_ratelimit rl[2];
    cmx_error err;
    cmx_ratelimit_config limited = {.rpm = 10}, open = {0};
    assert_int_equal(cmx_ratelimit_init(&rl[0], &limited, &err), CMX_OK);
    assert_int_equal(cmx_ratelimit_init(&rl[1], &open, &err), CMX_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(route_one(&f, rl, 2, (uint64_t)i * 1000000), 0);
    for (int i = 10; i < 30; i++) /* the 11th request of the minute, and on */
        assert_int_equal(route_one(&f, rl, 2, (uint64_t)i * 1000000), 1);
    assert_int_equal(route_one(&f, rl, 2, 60000000), 0); /* the first one left the window */
    cmx_ratelimit_destroy(&rl[0]);
    cmx_ratelimit_destroy(&rl[1]);
    cmx_strategy_free(f.s);
}

static void least_busy_prefers_the_idle_one(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_LEAST_BUSY, 3, NULL);
    cmx_strategy_begin(f.s, 0);
    cmx_strategy_begin(f.s, 0);
    cmx_strategy_begin(f.s, 1);
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    for (int i = 0; i < 100; i++) {
        cmx_strategy_pick(f.s, &req, order);
        assert_int_equal(order[0], 2);
        assert_int_equal(order[1], 1);
        assert_int_equal(order[2], 0);
    }
    assert_int_equal(cmx_strategy_in_flight(f.s, 0), 2);
    cmx_strategy_end(f.s, 0, 1000, true);
    cmx_strategy_end(f.s, 0, 1000, true);
    cmx_strategy_end(f.s, 1, 1000, true);
    assert_int_equal(cmx_strategy_in_flight(f.s, 0), 0);
    /* All idle: ties are broken at random, not by config order. */
    int counts[3] = {0};
    count_first_choices(&f, ALL, PICKS, counts);
    for (int i = 0; i < 3; i++)
        assert_share("least_busy idle tie", counts[i], PICKS, 1.0 / 3, 0.02);
    cmx_strategy_free(f.s);
}

/* Simulates one phase of traffic: each request goes to the first choice,
 * which answers after latency_ms[d] ± 10%.  Returns first-choice counts over
 * the last `measure` requests of the phase. */
static void simulate_latency(fixture *f, const uint32_t *latency_ms, int requests, int measure,
                             int *counts)
{
    memset(counts, 0, 3 * sizeof *counts);
    for (int i = 0; i < requests; i++) {
        size_t d = first_choice(f, ALL);
        cmx_strategy_begin(f->s, d);
        uint64_t us = (uint64_t)latency_ms[d] * 1000;
        us = us * 9 / 10 + cmx_rng_below(&f->rng, us / 5 + 1);
        cmx_strategy_end(f->s, d, us, true);
        if (i >= requests - measure)
            counts[d]++;
    }
}

static void least_latency_moves_off_a_slowed_deployment_and_back(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_LEAST_LATENCY, 3, NULL);
    int counts[3];
    uint32_t lat[3] = {100, 130, 160};
    simulate_latency(&f, lat, 2000, 1000, counts);
    assert_share("least_latency healthy: fast d0", counts[0], 1000, 0.95, 0.04);
    lat[0] = 1000; /* d0 slows down */
    simulate_latency(&f, lat, 2000, 1000, counts);
    assert_share("least_latency d0 slowed: d0", counts[0], 1000, 0.025, 0.025);
    assert_share("least_latency d0 slowed: d1", counts[1], 1000, 0.95, 0.04);
    assert_true(cmx_strategy_latency_us(f.s, 0) > 500000);
    lat[0] = 80; /* d0 recovers; only exploration can notice */
    simulate_latency(&f, lat, 2000, 1000, counts);
    assert_share("least_latency d0 recovered: d0", counts[0], 1000, 0.95, 0.04);
    assert_true(cmx_strategy_latency_us(f.s, 0) < 100000);
    cmx_strategy_free(f.s);
}

static void without_exploration_a_recovered_deployment_stays_starved(void **state)
{
    /* The control for the test above: exploration is what brings it back. */
    cmx_strategy_config c = cmx_strategy_config_default(CMX_STRATEGY_LEAST_LATENCY, 3);
    c.explore_probability = 0;
    cmx_error err;
    fixture f;
    f.s = cmx_strategy_new(&c, &err);
    cmx_splitmix_seed(&f.sm, 1);
    f.rng = cmx_rng_splitmix(&f.sm);
    int counts[3];
    uint32_t lat[3] = {100, 130, 160};
    simulate_latency(&f, lat, 500, 100, counts);
    lat[0] = 1000;
    simulate_latency(&f, lat, 500, 100, counts);
    lat[0] = 80;
    simulate_latency(&f, lat, 2000, 1000, counts);
    assert_int_equal(counts[0], 0);
    cmx_strategy_free(f.s);
}

static void least_latency_tries_unmeasured_deployments_first(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_LEAST_LATENCY, 3, NULL);
    cmx_strategy_end(f.s, 0, 50000, true);
    cmx_strategy_end(f.s, 1, 40000, true);
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    int first_is_unmeasured = 0;
    for (int i = 0; i < 1000; i++) {
        cmx_strategy_pick(f.s, &req, order);
        first_is_unmeasured += order[0] == 2;
    }
    assert_true(first_is_unmeasured > 900); /* all but exploration */
    cmx_strategy_free(f.s);

    /* With an initial estimate, an unmeasured deployment ranks by it. */
    cmx_strategy_config c = cmx_strategy_config_default(CMX_STRATEGY_LEAST_LATENCY, 3);
    c.initial_latency_ms = 45;
    c.explore_probability = 0;
    cmx_error err;
    f.s = cmx_strategy_new(&c, &err);
    cmx_strategy_end(f.s, 0, 50000, true);
    cmx_strategy_end(f.s, 1, 40000, true);
    assert_int_equal(cmx_strategy_latency_us(f.s, 2), 45000);
    cmx_strategy_pick(f.s, &req, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    cmx_strategy_free(f.s);
}

static void a_fast_failure_raises_the_latency_estimate(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_LEAST_LATENCY, 2, NULL);
    cmx_strategy_end(f.s, 0, 100000, true);
    uint64_t before = cmx_strategy_latency_us(f.s, 0);
    cmx_strategy_end(f.s, 0, 1000, false); /* a 1 ms 503 */
    assert_true(cmx_strategy_latency_us(f.s, 0) > before);
    cmx_strategy_free(f.s);
}

static void cheapest_orders_by_cost_then_config_order(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_CHEAPEST, 4, NULL);
    double costs[4] = {0.003, 0.001, 0.002, 0.001};
    size_t order[4];
    cmx_pick_request req = {.eligible = ALL, .costs = costs, .rng = &f.rng};
    assert_int_equal(cmx_strategy_pick(f.s, &req, order), 4);
    const size_t want[4] = {1, 3, 2, 0};
    for (int k = 0; k < 4; k++)
        assert_int_equal(order[k], want[k]);
    req.eligible = 0xD; /* the cheapest (1) is out */
    assert_int_equal(cmx_strategy_pick(f.s, &req, order), 3);
    assert_int_equal(order[0], 3);
    req.costs = NULL; /* no costs: config order */
    req.eligible = ALL;
    cmx_strategy_pick(f.s, &req, order);
    for (int k = 0; k < 4; k++)
        assert_int_equal(order[k], (size_t)k);
    cmx_strategy_free(f.s);
}

static void names_round_trip(void **state)
{
    for (int k = 0; k < CMX_STRATEGY__COUNT; k++) {
        cmx_strategy_kind got;
        assert_true(
            cmx_strategy_kind_from_name(cmx_strategy_kind_name((cmx_strategy_kind)k), &got));
        assert_int_equal(got, k);
    }
    cmx_strategy_kind got;
    assert_true(cmx_strategy_kind_from_name("least-latency", &got));
    assert_int_equal(got, CMX_STRATEGY_LEAST_LATENCY);
    assert_false(cmx_strategy_kind_from_name("least", &got));
    assert_false(cmx_strategy_kind_from_name("cheapestx", &got));
}

static void rejects_an_invalid_config(void **state)
{
    cmx_error err;
    cmx_strategy_config c = cmx_strategy_config_default(CMX_STRATEGY_WEIGHTED, 0);
    assert_null(cmx_strategy_new(&c, &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
    c.n_deployments = 65;
    assert_null(cmx_strategy_new(&c, &err));
    const uint32_t w[2] = {3, 0};
    c.n_deployments = 2;
    c.weights = w;
    assert_null(cmx_strategy_new(&c, &err));
    c = cmx_strategy_config_default(CMX_STRATEGY_LEAST_LATENCY, 2);
    c.ewma_alpha = 0;
    assert_null(cmx_strategy_new(&c, &err));
    c.ewma_alpha = 0.5;
    c.explore_probability = 1;
    assert_null(cmx_strategy_new(&c, &err));
}

static void handles_a_full_64_deployment_group(void **state)
{
    fixture f;
    setup(&f, CMX_STRATEGY_ROUND_ROBIN, 64, NULL);
    size_t order[64];
    cmx_pick_request req = {.eligible = ALL, .rng = &f.rng};
    assert_permutation(order, cmx_strategy_pick(f.s, &req, order), ALL, 64);
    req.eligible = UINT64_C(1) << 63;
    assert_int_equal(cmx_strategy_pick(f.s, &req, order), 1);
    assert_int_equal(order[0], 63);
    cmx_strategy_free(f.s);
}

/* Two workers share one strategy: they pick, begin, end.  Serialised smooth
 * weighted picks stay exact, round-robin stays exact, no in-flight count is
 * lost, and every EWMA stays within the samples' range. */
#define THREAD_PICKS 100000
typedef struct worker_arg {
    cmx_strategy *s;
    uint64_t seed;
    int counts[3];
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    cmx_splitmix sm;
    cmx_splitmix_seed(&sm, a->seed);
    cmx_rng rng = cmx_rng_splitmix(&sm);
    size_t order[3];
    cmx_pick_request req = {.eligible = ALL, .rng = &rng};
    for (int i = 0; i < THREAD_PICKS; i++) {
        if (cmx_strategy_pick(a->s, &req, order) != 3)
            abort();
        a->counts[order[0]]++;
        cmx_strategy_begin(a->s, order[0]);
        cmx_strategy_end(a->s, order[0], 1000 + cmx_rng_below(&rng, 1000), true);
    }
    return NULL;
}

static void run_two_workers(cmx_strategy *s, int *totals)
{
    worker_arg a[2] = {{.s = s, .seed = 1}, {.s = s, .seed = 2}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int d = 0; d < 3; d++)
        totals[d] = a[0].counts[d] + a[1].counts[d];
}

static void two_threads_keep_exact_counts(void **state)
{
    const uint32_t w[3] = {5, 3, 2};
    cmx_error err;
    cmx_strategy_config c = cmx_strategy_config_default(CMX_STRATEGY_WEIGHTED, 3);
    c.weights = w;
    cmx_strategy *s = cmx_strategy_new(&c, &err);
    int totals[3];
    run_two_workers(s, totals);
    assert_int_equal(totals[0], 100000);
    assert_int_equal(totals[1], 60000);
    assert_int_equal(totals[2], 40000);
    for (int d = 0; d < 3; d++) {
        assert_int_equal(cmx_strategy_in_flight(s, d), 0);
        uint64_t est = cmx_strategy_latency_us(s, d);
        assert_true(est >= 1000 && est <= 2000);
    }
    cmx_strategy_free(s);

    c = cmx_strategy_config_default(CMX_STRATEGY_ROUND_ROBIN, 3);
    s = cmx_strategy_new(&c, &err);
    run_two_workers(s, totals);
    for (int d = 0; d < 3; d++)
        assert_true(totals[d] == 66666 || totals[d] == 66667);
    cmx_strategy_free(s);

    c = cmx_strategy_config_default(CMX_STRATEGY_LEAST_BUSY, 3);
    s = cmx_strategy_new(&c, &err);
    run_two_workers(s, totals);
    assert_int_equal(totals[0] + totals[1] + totals[2], 2 * THREAD_PICKS);
    for (int d = 0; d < 3; d++)
        assert_int_equal(cmx_strategy_in_flight(s, d), 0);
    cmx_strategy_free(s);
}

/* Not a timed assertion: prints what a pick costs for 3 deployments. */
static void reports_the_cost_of_a_pick(void **state)
{
    const uint32_t w[3] = {5, 3, 2};
    double costs[3] = {0.3, 0.1, 0.2};
    for (int k = 0; k < CMX_STRATEGY__COUNT; k++) {
        fixture f;
        setup(&f, (cmx_strategy_kind)k, 3, w);
        size_t order[3], sink = 0;
        cmx_pick_request req = {.eligible = ALL, .costs = costs, .rng = &f.rng};
        enum { N = 200000 };
        uint64_t t0 = cmx_now_us();
        for (int i = 0; i < N; i++) {
            cmx_strategy_pick(f.s, &req, order);
            sink += order[0];
        }
        uint64_t t1 = cmx_now_us();
        print_message("    pick %-14s %6.1f ns (3 deployments)\n",
                      cmx_strategy_kind_name((cmx_strategy_kind)k), (t1 - t0) * 1000.0 / N);
        assert_true(sink < 3u * N);
        cmx_strategy_free(f.s);
    }
    /* The eligibility check that precedes a pick: 3 closed breakers (no lock)
     * and 3 limiters with an rpm (one uncontended mutex each). */
    cmx_breaker br[3];
    cmx_ratelimit rl[3];
    cmx_error err;
    cmx_breaker_config bc = cmx_breaker_config_default();
    cmx_ratelimit_config rc = {.rpm = 1000000000};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cmx_breaker_init(&br[i], &bc, &err), CMX_OK);
        assert_int_equal(cmx_ratelimit_init(&rl[i], &rc, &err), CMX_OK);
    }
    enum { M = 200000 };
    uint64_t bits = 0, t0 = cmx_now_us();
    for (int i = 0; i < M; i++)
        bits |= cmx_eligible_mask(br, rl, 3, (uint64_t)i * 100, 0);
    uint64_t t1 = cmx_now_us();
    print_message("    eligible mask  %6.1f ns (3 breakers + 3 rpm limiters)\n",
                  (t1 - t0) * 1000.0 / M);
    assert_int_equal(bits, 0x7);
    for (int i = 0; i < 3; i++) {
        cmx_breaker_destroy(&br[i]);
        cmx_ratelimit_destroy(&rl[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priority_keeps_config_order_and_falls_to_the_next),
        cmocka_unit_test(nothing_eligible_gives_an_empty_list),
        cmocka_unit_test(round_robin_splits_evenly_and_falls_back_in_rotation),
        cmocka_unit_test(round_robin_shares_an_ineligible_ones_traffic_evenly),
        cmocka_unit_test(weighted_splits_5_3_2_within_2_percent),
        cmocka_unit_test(smooth_weighted_5_1_1_gives_nginx_sequence_without_runs),
        cmocka_unit_test(weighted_fallbacks_are_the_ones_owed_most),
        cmocka_unit_test(weighted_keeps_the_ratio_among_the_eligible),
        cmocka_unit_test(weighted_random_splits_5_3_2_within_2_percent),
        cmocka_unit_test(uniform_random_splits_evenly_first_and_second),
        cmocka_unit_test(skips_deployments_whose_breaker_is_open),
        cmocka_unit_test(the_request_over_rpm_goes_elsewhere),
        cmocka_unit_test(least_busy_prefers_the_idle_one),
        cmocka_unit_test(least_latency_moves_off_a_slowed_deployment_and_back),
        cmocka_unit_test(without_exploration_a_recovered_deployment_stays_starved),
        cmocka_unit_test(least_latency_tries_unmeasured_deployments_first),
        cmocka_unit_test(a_fast_failure_raises_the_latency_estimate),
        cmocka_unit_test(cheapest_orders_by_cost_then_config_order),
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(rejects_an_invalid_config),
        cmocka_unit_test(handles_a_full_64_deployment_group),
        cmocka_unit_test(two_threads_keep_exact_counts),
        cmocka_unit_test(reports_the_cost_of_a_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
