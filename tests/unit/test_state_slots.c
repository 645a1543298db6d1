/* test_state_slots.c — fleet-wide slots (a key's requests in flight) on a
 * real redis-server: two process objects on one loop never hold more than
 * the limit together, a key's and its team's slot are taken together or not
 * at all, a slot given back is free for the other within the give-back
 * delay, a cancelled take gives its slot back, the share of a replica that
 * dies stops counting within the stamp's lifetime, a heartbeat puts back a
 * share that Redis lost, large limits are served from a worker's spare
 * without a round trip and the spare goes back once idle, and a dead Redis
 * answers UNAVAILABLE at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "helpers/fake_http.h"
#include "helpers/state_fleet.h"
#include "state/allowance.h"
#include "state/state.h"

typedef cmx_test_fleet fixture;

static fixture *g_f;

static void run_until(int (*done)(void), int max_ms)
{
    uint64_t end = cmx_now_us() + (uint64_t)max_ms * 1000;
    while (!done() && cmx_now_us() < end)
        event_base_loop(g_f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
}

static void run_for(int ms)
{
    uint64_t end = cmx_now_us() + (uint64_t)ms * 1000;
    while (cmx_now_us() < end)
        event_base_loop(g_f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
}

static int setup(void **state)
{
    g_f = cmx_test_fleet_start("s:", 200, 0);
    *state = g_f;
    return g_f ? 0 : -1;
}

static int teardown(void **state)
{
    cmx_test_fleet_stop(*state);
    return 0;
}

typedef cmx_test_tally tally;

static tally *g_tally;
static int g_expected;
static int tally_done(void)
{
    return g_tally->answers >= g_expected;
}

/* Takes one slot of each set through w and waits for the answer. */
static cmx_state_verdict take(cmx_state_worker *w, const cmx_state_slot *s, size_t n, tally *t)
{
    tally before = *t;
    cmx_state_slots_take(w, s, n, cmx_test_count_verdict, t);
    g_tally = t;
    g_expected = before.answers + 1;
    run_until(tally_done, 2000);
    assert_int_equal(t->answers, before.answers + 1);
    return t->yes > before.yes ? CMX_STATE_YES
           : t->no > before.no ? CMX_STATE_NO
                               : CMX_STATE_UNAVAILABLE;
}

/* The fleet's holdings of a set, summed from Redis itself. */
static long long held_in_redis(const char *set)
{
    redisContext *rc = redisConnect("127.0.0.1", g_f->redis.port);
    assert_non_null(rc);
    redisReply *r = redisCommand(rc, "HGETALL s:slots:%s", set);
    long long sum = 0;
    for (size_t i = 0; r && i + 1 < r->elements; i += 2)
        if (!strstr(r->element[i]->str, ":t"))
            sum += atoll(r->element[i + 1]->str);
    freeReplyObject(r);
    redisFree(rc);
    return sum;
}

static void redis_command(const char *cmd)
{
    redisContext *rc = redisConnect("127.0.0.1", g_f->redis.port);
    assert_non_null(rc);
    freeReplyObject(redisCommand(rc, cmd));
    redisFree(rc);
}

static void advance(int ms)
{
    g_f->clock.now_us += (uint64_t)ms * 1000;
}

/* Past the give-back delay: what the workers gave back is sent (the
 * timers go by the real clock, the fake one is ahead of it). */
static void send_give_backs(void)
{
    advance(CMX_ALLOWANCE_SETTLE_MS + 1);
    cmx_state_slots_tick(g_f->wa);
    cmx_state_slots_tick(g_f->wb);
    run_for(30);
}

static void replicas_never_hold_more_than_the_limit_and_free_slots_for_each_other(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:a", 3};
    tally t = {0};
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wb, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(t.last_total[0], 3);
    assert_int_equal(take(f->wb, &s, 1, &t), CMX_STATE_NO);
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_NO);
    assert_int_equal(held_in_redis("par:key:a"), 3);
    /* A slot given back on A is free for B once it is sent (within 10 ms). */
    cmx_state_slots_give(f->wa, &s, 1);
    send_give_backs();
    assert_int_equal(held_in_redis("par:key:a"), 2);
    assert_int_equal(take(f->wb, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_NO);
    /* Everything back: nothing held in the fleet. */
    cmx_state_slots_give(f->wa, &s, 1);
    cmx_state_slots_give(f->wb, &s, 1);
    cmx_state_slots_give(f->wb, &s, 1);
    send_give_backs();
    assert_int_equal(held_in_redis("par:key:a"), 0);
}

static void a_key_and_its_team_are_taken_together_or_not_at_all(void **state)
{
    fixture *f = *state;
    cmx_state_slot both[2] = {{"par:key:k1", 5}, {"par:team:t", 2}};
    cmx_state_slot other[2] = {{"par:key:k2", 5}, {"par:team:t", 2}};
    tally t = {0};
    assert_int_equal(take(f->wa, both, 2, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wb, other, 2, &t), CMX_STATE_YES);
    /* The team is full: k1 has room, but nothing of it is taken. */
    assert_int_equal(take(f->wa, both, 2, &t), CMX_STATE_NO);
    assert_int_equal(t.last_total[1], 2);
    assert_int_equal(held_in_redis("par:key:k1"), 1);
    assert_int_equal(held_in_redis("par:team:t"), 2);
    cmx_state_slots_give(f->wa, both, 2);
    cmx_state_slots_give(f->wb, other, 2);
    send_give_backs();
    assert_int_equal(held_in_redis("par:team:t"), 0);
    assert_int_equal(held_in_redis("par:key:k1"), 0);
}

/* More sets than one script call takes: give-backs and a heartbeat go in
 * several calls, and every set ends where it should. */
static void many_sets_are_given_back_and_refreshed_in_batches(void **state)
{
    fixture *f = *state;
    enum { N = 3 * CMX_STATE_MAX_COUNTERS + 1 };
    char names[N][32];
    cmx_state_slot s[N];
    tally t = {0};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "par:key:many%d", i);
        s[i] = (cmx_state_slot){names[i], 2};
        assert_int_equal(take(f->wa, &s[i], 1, &t), CMX_STATE_YES);
    }
    /* A beat refreshes and reads back every share. */
    advance(CMX_SLOTS_BEAT_MS + 1);
    cmx_state_slots_tick(f->wa);
    run_for(50);
    for (int i = 0; i < N; i++)
        assert_int_equal(held_in_redis(names[i]), 1);
    for (int i = 0; i < N; i++)
        cmx_state_slots_give(f->wa, &s[i], 1);
    send_give_backs();
    for (int i = 0; i < N; i++)
        assert_int_equal(held_in_redis(names[i]), 0);
}

static void a_cancelled_take_gives_its_slot_back(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:cancel", 1};
    tally t = {0};
    uint64_t id = cmx_state_slots_take(f->wa, &s, 1, cmx_test_count_verdict, &t);
    assert_true(id != 0);
    cmx_state_cancel(f->wa, id);
    run_for(50); /* the answer comes, the slot goes back */
    send_give_backs();
    assert_int_equal(t.answers, 0);
    assert_int_equal(held_in_redis("par:key:cancel"), 0);
    assert_int_equal(take(f->wb, &s, 1, &t), CMX_STATE_YES);
    cmx_state_slots_give(f->wb, &s, 1);
    send_give_backs();
}

static void a_beat_puts_back_a_share_redis_lost(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:lost", 4};
    tally t = {0};
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    redis_command("FLUSHALL"); /* as if Redis had restarted empty */
    assert_int_equal(held_in_redis("par:key:lost"), 0);
    advance(CMX_SLOTS_BEAT_MS);
    cmx_state_slots_tick(f->wa);
    run_for(50);
    assert_int_equal(held_in_redis("par:key:lost"), 2);
    cmx_state_stats st;
    cmx_state_get_stats(f->a, &st);
    assert_true(st.slot_corrections >= 1);
    /* And a share Redis holds too much of (a give-back that was lost) is
     * brought down. */
    cmx_state_slots_give(f->wa, &s, 1);
    send_give_backs();
    assert_int_equal(held_in_redis("par:key:lost"), 1);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "HINCRBY s:slots:par:key:lost %s.0 5", cmx_state_origin(f->a));
    redis_command(cmd);
    assert_int_equal(held_in_redis("par:key:lost"), 6);
    advance(CMX_SLOTS_BEAT_MS);
    cmx_state_slots_tick(f->wa);
    run_for(50);
    assert_int_equal(held_in_redis("par:key:lost"), 1);
    cmx_state_slots_give(f->wa, &s, 1);
    send_give_backs();
    assert_int_equal(held_in_redis("par:key:lost"), 0);
}

static void a_dead_replicas_share_stops_counting_within_its_stamp(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:crash", 2};
    tally t = {0};
    cmx_error err;
    cmx_state *c = cmx_test_shared_state(f->redis.port, f->prefix, f->timeout_ms);
    cmx_state_worker *wc = cmx_state_worker_new(c, 0, f->base, f->dns, 0, &err);
    uint64_t end = cmx_now_us() + 3000000;
    while (!cmx_state_is_up(c) && cmx_now_us() < end)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
    assert_int_equal(take(wc, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(wc, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wb, &s, 1, &t), CMX_STATE_NO);
    /* C dies without giving anything back. */
    uint64_t died = cmx_now_us();
    cmx_state_worker_free(wc);
    cmx_state_free(c);
    cmx_state_verdict v = CMX_STATE_NO;
    while (v != CMX_STATE_YES && cmx_now_us() - died < 5000000) {
        run_for(100);
        v = take(f->wb, &s, 1, &t);
    }
    uint64_t took_ms = (cmx_now_us() - died) / 1000;
    assert_int_equal(v, CMX_STATE_YES);
    assert_true(took_ms <= CMX_SLOTS_TTL_MS + 200);
    assert_true(took_ms >= CMX_SLOTS_TTL_MS - CMX_SLOTS_BEAT_MS - 200);
    cmx_state_slots_give(f->wb, &s, 1);
    send_give_backs();
}

static void large_limits_are_served_from_the_spare_which_goes_back_when_idle(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:big", 100000};
    tally t = {0};
    cmx_state_stats before, after;
    cmx_state_get_stats(f->a, &before);
    /* The first take learns the fleet's total; the next takes spare with it. */
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    assert_int_equal(take(f->wa, &s, 1, &t), CMX_STATE_YES);
    for (int i = 0; i < 50; i++) {
        t = (tally){0};
        assert_int_equal(cmx_state_slots_take(f->wa, &s, 1, cmx_test_count_verdict, &t), 0);
        assert_int_equal(t.yes, 1); /* answered at once */
    }
    cmx_state_get_stats(f->a, &after);
    assert_int_equal(after.slots_by_spare - before.slots_by_spare, 50);
    assert_int_equal(after.slots_by_store - before.slots_by_store, 2);
    /* The spare is bounded: 1/128 of the limit. */
    long long held = held_in_redis("par:key:big");
    assert_true(held >= 52 && held <= 52 + 100000 / 128);
    for (int i = 0; i < 52; i++)
        cmx_state_slots_give(f->wa, &s, 1);
    /* No take for a beat: the spare goes back too. */
    advance(CMX_SLOTS_BEAT_MS);
    cmx_state_slots_tick(f->wa);
    run_for(50);
    assert_int_equal(held_in_redis("par:key:big"), 0);
}

static void a_dead_redis_answers_unavailable_at_once(void **state)
{
    fixture *f = *state;
    cmx_state_slot s = {"par:key:down", 3};
    tally t = {0};
    cmx_test_redis_stop(&f->redis);
    run_for(100);
    cmx_state_slots_take(f->wa, &s, 1, cmx_test_count_verdict, &t);
    assert_int_equal(t.unavailable, 1);
    /* In-process there is no fleet: the caller's own count decides. */
    cmx_state_config cfg = {.key_prefix = "s:", .timeout_ms = 5, .cache_max_bytes = 1 << 20};
    cmx_error err;
    cmx_state *local = cmx_state_new(&cfg, 1, &err);
    cmx_state_worker *lw = cmx_state_worker_new(local, 0, f->base, f->dns, 0, &err);
    cmx_state_slots_take(lw, &s, 1, cmx_test_count_verdict, &t);
    assert_int_equal(t.unavailable, 2);
    cmx_state_worker_free(lw);
    cmx_state_free(local);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replicas_never_hold_more_than_the_limit_and_free_slots_for_each_other),
        cmocka_unit_test(a_key_and_its_team_are_taken_together_or_not_at_all),
        cmocka_unit_test(many_sets_are_given_back_and_refreshed_in_batches),
        cmocka_unit_test(a_cancelled_take_gives_its_slot_back),
        cmocka_unit_test(a_beat_puts_back_a_share_redis_lost),
        cmocka_unit_test(a_dead_replicas_share_stops_counting_within_its_stamp),
        cmocka_unit_test(large_limits_are_served_from_the_spare_which_goes_back_when_idle),
        cmocka_unit_test(a_dead_redis_answers_unavailable_at_once),
    };
    return cmocka_run_group_tests_name("state slots (redis)", tests, setup, teardown);
}
