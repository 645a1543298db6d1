/* test_state.c — the state store: windowed counters on an injected clock
 * (fixed and sliding windows, limits, allow_first, force), the in-process
 * LRU's byte bound and TTL, Redis URLs, and then the same calls against a
 * real redis-server started on a free loopback port: counters are atomic
 * across two connections; counters taken per request are answered from
 * each replica's allowance without a round trip far from the limit, never
 * admit more than the limit across replicas, give back unspent credit when
 * its second ends and send settlements within the settle delay, and ask the
 * store again once their view is stale; leases are exclusive, events reach
 * the other process object, a Redis that is killed turns every call into a
 * local answer within the timeout (held credit is not spent then, so
 * fail_closed refuses), and a restarted one is used again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/redis_url.h"
#include "core/clock.h"
#include "helpers/fake_http.h"
#include "helpers/state_fleet.h"
#include "helpers/redis_server.h"
#include "state/state.h"
#include "state/state_internal.h"

/* --- in-process ----------------------------------------------------------- */

static cmx_state *local_state(size_t cache_bytes)
{
    cmx_state_config cfg = {.key_prefix = "t:", .timeout_ms = 5, .cache_max_bytes = cache_bytes};
    cmx_error err;
    cmx_state *st = cmx_state_new(&cfg, 1, &err);
    assert_non_null(st);
    return st;
}

static void sliding_window_admits_up_to_the_limit_then_frees_a_bucket_at_a_time(void **unused)
{
    cmx_state *st = local_state(1024);
    cmx_state_counter c = {"rpm", 60000, 60, 10, 1, false};
    int64_t total;
    uint64_t t0 = 1000000000000ull; /* a bucket boundary */
    for (int i = 0; i < 10; i++)
        assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, t0 + i * 1000, &total),
                         CMX_STATE_YES);
    assert_int_equal(total, 10);
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, t0 + 30000, &total),
                     CMX_STATE_NO);
    assert_int_equal(total, 10); /* a refusal counts nothing */
    /* The first request's bucket dies 60 s after it began. */
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, t0 + 59999, &total),
                     CMX_STATE_NO);
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, t0 + 60000, &total),
                     CMX_STATE_YES);
    assert_int_equal(total, 10);
    cmx_state_free(st);
}

static void fixed_window_resets_at_the_period_boundary(void **unused)
{
    cmx_state *st = local_state(1024);
    cmx_state_counter c = {"budget:team-a", 3600000, 1, 100, 60, false};
    int64_t total;
    uint64_t hour = 3600000ull * 500000;
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, hour + 10, &total),
                     CMX_STATE_YES);
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, hour + 3599999, &total),
                     CMX_STATE_NO);
    assert_int_equal(total, 60);
    assert_int_equal(cmx_state_local_counters_add(st, &c, 1, false, hour + 3600000, &total),
                     CMX_STATE_YES);
    assert_int_equal(total, 60);
    cmx_state_free(st);
}

static void several_counters_are_all_or_nothing_and_force_settles(void **unused)
{
    cmx_state *st = local_state(1024);
    uint64_t now = 5000000ull * 60000;
    cmx_state_counter two[2] = {{"req", 60000, 60, 5, 1, false},
                                {"tok", 60000, 60, 1000, 800, true}};
    int64_t totals[2];
    assert_int_equal(cmx_state_local_counters_add(st, two, 2, false, now, totals), CMX_STATE_YES);
    /* tokens would go to 1600 > 1000: neither counter moves */
    assert_int_equal(cmx_state_local_counters_add(st, two, 2, false, now, totals), CMX_STATE_NO);
    assert_int_equal(totals[0], 1);
    assert_int_equal(totals[1], 800);
    /* settle: the answer used 100 tokens, not 800 */
    cmx_state_counter settle = {"tok", 60000, 60, 1000, -700, false};
    assert_int_equal(cmx_state_local_counters_add(st, &settle, 1, true, now, totals),
                     CMX_STATE_YES);
    assert_int_equal(totals[0], 100);
    assert_int_equal(cmx_state_local_counters_add(st, two, 2, false, now, totals), CMX_STATE_YES);
    assert_int_equal(totals[1], 900);
    /* allow_first: a request bigger than the whole limit passes an empty window */
    cmx_state_counter big = {"tok2", 60000, 60, 1000, 5000, true};
    assert_int_equal(cmx_state_local_counters_add(st, &big, 1, false, now, totals), CMX_STATE_YES);
    assert_int_equal(cmx_state_local_counters_add(st, &big, 1, false, now, totals), CMX_STATE_NO);
    cmx_state_free(st);
}

static void got_value(void *ctx, cmx_state_verdict v, const char *value, size_t len)
{
    char *out = ctx;
    if (v == CMX_STATE_YES)
        snprintf(out, 64, "%.*s", (int)len, value);
    else
        strcpy(out, "<miss>");
}

static void lru_evicts_the_least_recent_to_stay_under_its_byte_bound(void **unused)
{
    /* Each entry costs 96 + key + value bytes: 3 fit in 400, not 4. */
    cmx_state *st = local_state(400);
    cmx_error err;
    cmx_state_worker *w = cmx_state_worker_new(st, 0, NULL, NULL, 0, &err);
    char value[64];
    char big[16] = "xxxxxxxxxxxxxxx";
    cmx_state_cache_put(w, "a", big, 15, 60000);
    cmx_state_cache_put(w, "b", big, 15, 60000);
    cmx_state_cache_put(w, "c", big, 15, 60000);
    cmx_state_cache_get(w, "a", got_value, value); /* a is now the most recent */
    assert_string_equal(value, big);
    cmx_state_cache_put(w, "d", big, 15, 60000); /* evicts b */
    cmx_state_cache_get(w, "b", got_value, value);
    assert_string_equal(value, "<miss>");
    cmx_state_cache_get(w, "a", got_value, value);
    assert_string_equal(value, big);
    cmx_state_cache_get(w, "d", got_value, value);
    assert_string_equal(value, big);
    cmx_state_stats s;
    cmx_state_get_stats(st, &s);
    assert_int_equal(s.cache_entries, 3);
    assert_true(s.cache_bytes <= 400);
    /* A TTL of 0 ms is already expired. */
    cmx_state_cache_put(w, "e", "v", 1, 0);
    cmx_state_cache_get(w, "e", got_value, value);
    assert_string_equal(value, "<miss>");
    cmx_state_worker_free(w);
    cmx_state_free(st);
}

static void redis_urls_parse_or_say_what_is_wrong(void **unused)
{
    cmx_redis_url u;
    char why[200];
    assert_int_equal(cmx_parse_redis_url("redis://127.0.0.1:6390/3", &u, why, sizeof why), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 3);
    assert_false(u.tls);
    cmx_redis_url_free(&u);
    assert_int_equal(cmx_parse_redis_url("rediss://app:p%40ss@redis.internal", &u, why, sizeof why),
                     0);
    assert_true(u.tls);
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.username, "app");
    assert_string_equal(u.password, "p@ss");
    char shown[300];
    cmx_redis_url_describe(&u, shown, sizeof shown);
    assert_string_equal(shown, "rediss://redis.internal:6379/0");
    cmx_redis_url_free(&u);
    assert_int_equal(cmx_parse_redis_url("unix:///run/redis.sock", &u, why, sizeof why), 0);
    assert_true(u.is_unix);
    cmx_redis_url_free(&u);
    assert_int_equal(cmx_parse_redis_url("http://x", &u, why, sizeof why), -1);
    assert_non_null(strstr(why, "redis://"));
    assert_int_equal(cmx_parse_redis_url("redis://:secret@host:99999", &u, why, sizeof why), -1);
    assert_null(strstr(why, "secret"));
    assert_int_equal(cmx_parse_redis_url("redis://host/x", &u, why, sizeof why), -1);
    assert_int_equal(cmx_parse_redis_url("unix://relative.sock", &u, why, sizeof why), -1);
}

/* --- against a real redis-server ------------------------------------------ */

typedef cmx_test_fleet fleet_fixture;

static void run_until(fleet_fixture *f, int (*done)(fleet_fixture *), int max_ms)
{
    uint64_t end = cmx_now_us() + (uint64_t)max_ms * 1000;
    while (!done(f) && cmx_now_us() < end)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
}

static int both_up(fleet_fixture *f)
{
    return cmx_test_fleet_up(f);
}

static int fleet_setup(void **state)
{
    *state = cmx_test_fleet_start("t:", 50, 1);
    return *state ? 0 : -1;
}

static int fleet_teardown(void **state)
{
    cmx_test_fleet_stop(*state);
    return 0;
}

typedef cmx_test_tally tally;

static tally *g_tally;
static int g_expected;
static int tally_done(fleet_fixture *f)
{
    return g_tally->answers >= g_expected;
}

static int64_t *g_store_totals;
static void remember_totals(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    if (g_store_totals && n)
        g_store_totals[0] = totals[0];
    cmx_test_count_verdict(ctx, v, totals, n);
}

static void counters_are_atomic_across_replicas(void **state)
{
    fleet_fixture *f = *state;
    tally t = {0};
    cmx_state_counter c = {"limit:x", 60000, 60, 100, 1, false};
    /* 300 requests, alternating between the two replicas, all pipelined. */
    for (int i = 0; i < 300; i++)
        cmx_state_counters_add(i % 2 ? f->wa : f->wb, &c, 1, false, cmx_test_count_verdict, &t);
    g_tally = &t;
    g_expected = 300;
    run_until(f, tally_done, 3000);
    assert_int_equal(t.answers, 300);
    assert_int_equal(t.unavailable, 0);
    assert_int_equal(t.yes, 100);
    assert_int_equal(t.no, 200);
}

/* Takes one unit; 1 when the answer came within the call (no round trip). */
static int take_one(cmx_state_worker *w, const cmx_state_counter *c, tally *t)
{
    int before = t->answers;
    uint64_t id = cmx_state_counters_take(w, c, 1, cmx_test_count_verdict, t);
    return id == 0 && t->answers == before + 1;
}

static int g_now_answered;
#define all_answered tally_done

static void takes_far_from_the_limit_need_no_round_trip(void **state)
{
    fleet_fixture *f = *state;
    tally t = {0};
    g_tally = &t;
    cmx_state_counter c = {"rpm:fast", 60000, 60, 100000, 1, false};
    cmx_state_stats s0, s1;
    cmx_state_get_stats(f->a, &s0);
    /* The first request: nothing known yet, the store decides it. */
    assert_false(take_one(f->wa, &c, &t));
    g_expected = 1;
    run_until(f, all_answered, 2000);
    assert_int_equal(t.yes, 1);
    /* The next one asks for a grant and is its first unit. */
    assert_false(take_one(f->wa, &c, &t));
    g_expected = 2;
    run_until(f, all_answered, 2000);
    assert_int_equal(t.yes, 2);
    /* Then the credit answers at once (the smallest grant: 4 units). */
    g_now_answered = 0;
    for (int i = 0; i < 3; i++)
        g_now_answered += take_one(f->wa, &c, &t);
    assert_int_equal(g_now_answered, 3);
    /* Demand keeps grants coming: of 200 more, run a loop turn after each,
     * nearly all are answered within the call. */
    g_now_answered = 0;
    for (int i = 0; i < 200; i++) {
        g_now_answered += take_one(f->wa, &c, &t);
        f->clock.now_us += 200; /* 5 a millisecond */
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(100);
    }
    g_expected = 205;
    run_until(f, all_answered, 2000);
    assert_int_equal(t.yes, 205);
    assert_true(g_now_answered >= 150);
    cmx_state_get_stats(f->a, &s1);
    assert_true(s1.by_allowance - s0.by_allowance >= 150);
    assert_true(s1.grants - s0.grants >= 2);
    assert_true(s1.by_allowance + s1.by_store - s0.by_allowance - s0.by_store == 205);
}

/* The sum of the counter's live buckets in the store, asked with a delta
 * of 0 (counts nothing). */
static int64_t store_total(fleet_fixture *f, cmx_state_worker *w, const char *name)
{
    int64_t totals[1] = {-1};
    tally t = {0};
    g_tally = &t;
    g_expected = 1;
    cmx_state_counter probe = {name, 60000, 60, 0, 0, false};
    g_store_totals = totals;
    cmx_state_counters_add(w, &probe, 1, true, remember_totals, &t);
    run_until(f, all_answered, 2000);
    g_store_totals = NULL;
    return totals[0];
}

static void replicas_never_admit_more_than_the_limit_and_give_back_what_they_hold(void **state)
{
    fleet_fixture *f = *state;
    tally t = {0};
    g_tally = &t;
    /* 1024 a minute: grants of up to 8, the last 32 decided one by one. */
    cmx_state_counter c = {"rpm:shared", 60000, 60, 1024, 1, false};
    int yes_seen = 0;
    for (int i = 0; i < 1500; i++) {
        take_one(i % 2 ? f->wa : f->wb, &c, &t);
        f->clock.now_us += 100;
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if (i % 50 == 0)
            usleep(500);
        if (t.yes > yes_seen)
            yes_seen = t.yes;
    }
    g_expected = 1500;
    run_until(f, all_answered, 3000);
    assert_int_equal(t.answers, 1500);
    assert_int_equal(t.unavailable, 0);
    assert_true(t.yes <= 1024);
    assert_true(t.yes >= 1024 - 2 * 8); /* at most a grant each held back */
    assert_true(store_total(f, f->wa, "rpm:shared") >= t.yes);
    /* A replica that stops holds what is left of its grant: counted in the
     * store, admitted nowhere ... */
    cmx_state_counter h = {"rpm:held", 60000, 60, 1024, 1, false};
    tally u = {0};
    g_tally = &u;
    for (int i = 0; i < 2; i++) { /* the store's answer, then a grant of 4 */
        cmx_state_counters_take(f->wa, &h, 1, cmx_test_count_verdict, &u);
        g_expected = i + 1;
        run_until(f, all_answered, 2000);
    }
    assert_int_equal(u.yes, 2);
    assert_int_equal(store_total(f, f->wa, "rpm:held"), 5);
    /* ... until its second is over: then it goes back to the bucket it was
     * counted in, and the store holds what was admitted. */
    f->clock.now_us += 1001 * 1000;
    cmx_state_allowance_tick(f->wa);
    cmx_state_allowance_tick(f->wb);
    for (int i = 0; i < 20; i++)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    assert_int_equal(store_total(f, f->wa, "rpm:held"), 2);
    /* The interleaved replicas gave back whatever they held, too: what was
     * held is admitted now, and not one more. */
    assert_int_equal(store_total(f, f->wa, "rpm:shared"), t.yes);
    tally more = {0};
    g_tally = &more;
    for (int i = 0; i < 40; i++)
        cmx_state_counters_take(i % 2 ? f->wa : f->wb, &c, 1, cmx_test_count_verdict, &more);
    g_expected = 40;
    run_until(f, all_answered, 3000);
    assert_int_equal(t.yes + more.yes, 1024);
}

static void a_stale_view_sends_the_next_request_to_the_store(void **state)
{
    fleet_fixture *f = *state;
    tally t = {0};
    g_tally = &t;
    cmx_state_counter c = {"rpm:stale", 60000, 60, 100000, 1, false};
    for (int i = 0; i < 2; i++) {
        take_one(f->wa, &c, &t);
        g_expected = i + 1;
        run_until(f, all_answered, 2000);
    }
    assert_true(take_one(f->wa, &c, &t)); /* from the grant */
    /* A quiet second and a half: the credit's second is over and the
     * fleet's total is too old to size a grant on. */
    f->clock.now_us += 1500 * 1000;
    cmx_state_stats s0, s1;
    cmx_state_get_stats(f->a, &s0);
    assert_false(take_one(f->wa, &c, &t));
    cmx_state_get_stats(f->a, &s1);
    assert_int_equal(s1.by_store - s0.by_store, 1);
    g_expected = 4;
    run_until(f, all_answered, 2000);
    assert_int_equal(t.yes, 4);
}

static void settlements_reach_the_store_within_the_settle_delay(void **state)
{
    fleet_fixture *f = *state;
    cmx_state_counter c = {"tpm:settled", 60000, 60, 0, 500, false};
    tally t = {0};
    g_tally = &t;
    g_expected = 1;
    cmx_state_counters_add(f->wa, &c, 1, false, cmx_test_count_verdict, &t);
    run_until(f, all_answered, 2000);
    /* The answer used 120 tokens, not 500; and another 30 more than asked. */
    c.delta = -380;
    cmx_state_counters_settle(f->wa, &c, 1);
    c.delta = 30;
    cmx_state_counters_settle(f->wb, &c, 1);
    /* Counted here at once ... */
    int64_t local[1];
    cmx_state_counter zero = {"tpm:settled", 60000, 60, 0, 0, false};
    cmx_state_local_counters_add(f->a, &zero, 1, true, cmx_wall_ms(), local);
    assert_int_equal(local[0], 120);
    /* ... sent once the delay has passed. */
    for (int i = 0; i < 5; i++)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    assert_int_equal(store_total(f, f->wa, "tpm:settled"), 500);
    f->clock.now_us += CMX_ALLOWANCE_SETTLE_MS * 1000;
    cmx_state_allowance_tick(f->wa);
    cmx_state_allowance_tick(f->wb);
    for (int i = 0; i < 5; i++)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    assert_int_equal(store_total(f, f->wa, "tpm:settled"), 150);
}

static void grant(void *ctx, cmx_state_verdict v)
{
    *(int *)ctx = (int)v + 1;
}

static int g_a, g_b;
static int leases_done(fleet_fixture *f)
{
    return g_a && g_b;
}

static void a_lease_has_one_holder_in_the_fleet(void **state)
{
    fleet_fixture *f = *state;
    g_a = g_b = 0;
    cmx_state_lease(f->wa, "probe:x", 5000, grant, &g_a);
    cmx_state_lease(f->wb, "probe:x", 5000, grant, &g_b);
    run_until(f, leases_done, 2000);
    /* Two connections race: exactly one wins. */
    assert_true((g_a == CMX_STATE_YES + 1) != (g_b == CMX_STATE_YES + 1));
    assert_true(g_a == CMX_STATE_NO + 1 || g_b == CMX_STATE_NO + 1);
    cmx_state_worker *holder = g_a == CMX_STATE_YES + 1 ? f->wa : f->wb;
    cmx_state_worker *other = holder == f->wa ? f->wb : f->wa;
    /* Only the holder can give it back. */
    cmx_state_lease_release(other, "probe:x");
    /* Given back, the other one gets it (the release and the new request
     * travel on different connections: ask until the release has landed). */
    cmx_state_lease_release(holder, "probe:x");
    int got = 0;
    for (int i = 0; i < 50 && got != CMX_STATE_YES + 1; i++) {
        g_a = 1, g_b = 0;
        cmx_state_lease(other, "probe:x", 5000, grant, &g_b);
        run_until(f, leases_done, 2000);
        got = g_b;
    }
    assert_int_equal(got, CMX_STATE_YES + 1);
}

static cmx_state_event g_heard;
static char g_subject[128];
static void hear(void *ctx, const cmx_state_event *ev)
{
    g_heard = *ev;
    snprintf(g_subject, sizeof g_subject, "%s", ev->subject);
    g_heard.subject = g_subject;
}
static int heard(fleet_fixture *f)
{
    return g_heard.kind != 0;
}

static void events_reach_the_other_replica_and_can_be_read_back(void **state)
{
    fleet_fixture *f = *state;
    memset(&g_heard, 0, sizeof g_heard);
    cmx_state_set_listener(f->b, hear, NULL);
    cmx_state_set_listener(f->a, hear, NULL); /* its own events must not come back */
    cmx_state_event ev = {CMX_EVENT_BREAKER_OPEN, cmx_wall_ms() + 30000, 30000, "chat|p|m|x"};
    cmx_state_publish(f->wa, &ev, 30000);
    run_until(f, heard, 2000);
    assert_int_equal(g_heard.kind, CMX_EVENT_BREAKER_OPEN);
    assert_int_equal(g_heard.value, 30000);
    assert_string_equal(g_heard.subject, "chat|p|m|x");
    /* A replica that connects later reads it back. */
    memset(&g_heard, 0, sizeof g_heard);
    const char *subjects[1] = {"chat|p|m|x"};
    cmx_state_resync(f->wb, subjects, 1, 0);
    run_until(f, heard, 2000);
    assert_int_equal(g_heard.kind, CMX_EVENT_BREAKER_OPEN);
    cmx_state_set_listener(f->a, NULL, NULL);
    cmx_state_set_listener(f->b, NULL, NULL);
}

static char g_value[64];
static int got_cache(fleet_fixture *f)
{
    return g_value[0] != 0;
}

static void the_cache_is_shared_through_redis(void **state)
{
    fleet_fixture *f = *state;
    cmx_state_cache_put(f->wa, "k1", "answer", 6, 60000);
    g_value[0] = 0;
    /* The put and the get are pipelined on different connections: give the
     * put its round trip first. */
    run_until(f, got_cache, 50);
    cmx_state_cache_get(f->wb, "k1", got_value, g_value);
    run_until(f, got_cache, 2000);
    assert_string_equal(g_value, "answer");
}

static int both_down(fleet_fixture *f)
{
    return !cmx_state_is_up(f->a) && !cmx_state_is_up(f->b);
}

static void a_dead_redis_means_local_answers_within_the_timeout(void **state)
{
    fleet_fixture *f = *state;
    kill(f->redis.pid, SIGSTOP); /* alive but silent: the worst kind */
    tally t = {0};
    cmx_state_counter c = {"limit:y", 60000, 60, 3, 1, false};
    uint64_t start = cmx_now_us();
    for (int i = 0; i < 5; i++)
        cmx_state_counters_add(f->wa, &c, 1, false, cmx_test_count_verdict, &t);
    g_tally = &t;
    g_expected = 5;
    run_until(f, tally_done, 2000);
    uint64_t took_ms = (cmx_now_us() - start) / 1000;
    assert_int_equal(t.unavailable, 5);
    assert_true(took_ms < 50 + 100); /* the 50 ms timeout, and the loop's own slack */
    /* decided locally meanwhile: 3 of 5 fit */
    int64_t totals[1];
    cmx_state_counter probe = {"limit:y", 60000, 60, 3, 0, false};
    cmx_state_local_counters_add(f->a, &probe, 1, false, cmx_wall_ms(), totals);
    assert_int_equal(totals[0], 3);
    /* The silent server is given up on, then killed and started again. */
    run_until(f, both_down, 3000);
    assert_true(both_down(f));
    t = (tally){0};
    cmx_state_counters_add(f->wa, &c, 1, false, cmx_test_count_verdict, &t);
    assert_int_equal(t.unavailable, 1); /* answered at once while down */
    /* Credit held from before is not spent while the store is away: the
     * answer is the local one (fail_closed callers refuse it). */
    cmx_state_counter fast = {"rpm:fast", 60000, 60, 100000, 1, false};
    t = (tally){0};
    assert_int_equal(cmx_state_counters_take(f->wa, &fast, 1, cmx_test_count_verdict, &t), 0);
    assert_int_equal(t.unavailable, 1);
    assert_int_equal(t.yes, 0);
    kill(f->redis.pid, SIGCONT);
    cmx_test_redis_stop(&f->redis);
    assert_int_equal(cmx_test_redis_start(&f->redis, f->redis.port), 0);
    run_until(f, both_up, 8000);
    assert_true(both_up(f));
    t = (tally){0};
    cmx_state_counters_add(f->wa, &c, 1, false, cmx_test_count_verdict, &t);
    g_tally = &t;
    g_expected = 1;
    run_until(f, tally_done, 2000);
    assert_int_equal(t.yes, 1);
    cmx_state_stats s;
    cmx_state_get_stats(f->a, &s);
    assert_true(s.timeouts >= 5);
    assert_true(s.disconnects >= 1);
    assert_true(s.fallbacks >= 6);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest local[] = {
        cmocka_unit_test(sliding_window_admits_up_to_the_limit_then_frees_a_bucket_at_a_time),
        cmocka_unit_test(fixed_window_resets_at_the_period_boundary),
        cmocka_unit_test(several_counters_are_all_or_nothing_and_force_settles),
        cmocka_unit_test(lru_evicts_the_least_recent_to_stay_under_its_byte_bound),
        cmocka_unit_test(redis_urls_parse_or_say_what_is_wrong),
    };
    const struct CMUnitTest fleet[] = {
        cmocka_unit_test(counters_are_atomic_across_replicas),
        cmocka_unit_test(takes_far_from_the_limit_need_no_round_trip),
        cmocka_unit_test(replicas_never_admit_more_than_the_limit_and_give_back_what_they_hold),
        cmocka_unit_test(a_stale_view_sends_the_next_request_to_the_store),
        cmocka_unit_test(settlements_reach_the_store_within_the_settle_delay),
        cmocka_unit_test(a_lease_has_one_holder_in_the_fleet),
        cmocka_unit_test(events_reach_the_other_replica_and_can_be_read_back),
        cmocka_unit_test(the_cache_is_shared_through_redis),
        cmocka_unit_test(a_dead_redis_means_local_answers_within_the_timeout),
    };
    int failed = cmocka_run_group_tests_name("state (in-process)", local, NULL, NULL);
    failed += cmocka_run_group_tests_name("state (redis)", fleet, fleet_setup, fleet_teardown);
    return failed;
}
