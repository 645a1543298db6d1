/* test_credential_share.c — one credential cache per process: which worker
 * fetches, who waits, how waiters learn the outcome on their own loop, and
 * what happens when a fetch fails, is abandoned or the value is refused.
 * Two "workers" are two event bases driven by hand on this thread; the
 * clock is a number the test sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "providers/credential_share.h"

typedef struct worker {
    struct event_base *base;
    cmx_credential_local local;
    int news; /* on_news calls */
} worker;

static void on_news(void *ctx)
{
    ((worker *)ctx)->news++;
}

static void worker_open(worker *w, const char *key)
{
    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    assert_non_null(w->base);
    cmx_error err;
    assert_int_equal(cmx_credential_local_init(&w->local, key, w->base, on_news, w, &err), CMX_OK);
}

static void worker_close(worker *w)
{
    cmx_credential_local_release(&w->local);
    event_base_free(w->base);
}

/* Runs what is ready on the worker's loop (its wake-ups). */
static void turn(worker *w)
{
    event_base_loop(w->base, EVLOOP_NONBLOCK);
}

static cmx_credential_state get(worker *w, uint64_t now, cmx_error *err)
{
    return cmx_credential_local_get(&w->local, now, err);
}

static void one_fetch_serves_every_worker(void **state)
{
    (void)state;
    worker a, b;
    worker_open(&a, "test one");
    worker_open(&b, "test one");
    cmx_error err;
    assert_int_equal(get(&a, 100, &err), CMX_CREDENTIAL_FETCH);
    assert_int_equal(get(&b, 100, &err), CMX_CREDENTIAL_WAIT);
    assert_int_equal(get(&b, 101, &err), CMX_CREDENTIAL_WAIT);
    assert_int_equal(get(&a, 101, &err), CMX_CREDENTIAL_WAIT); /* its own fetch: no second */
    turn(&b);
    assert_int_equal(b.news, 0);
    cmx_credential_local_publish(&a.local, "token-1", 7, 1000, 800);
    assert_int_equal(b.news, 0); /* told on its own loop, not from a's thread */
    turn(&b);
    assert_int_equal(b.news, 1);
    assert_int_equal(get(&b, 200, &err), CMX_CREDENTIAL_FRESH);
    assert_string_equal(b.local.value.data, "token-1");
    assert_int_equal(get(&a, 200, &err), CMX_CREDENTIAL_FRESH);
    assert_string_equal(a.local.value.data, "token-1");
    assert_int_equal(cmx_credential_share_fetches(&a.local), 1);
    worker_close(&a);
    worker_close(&b);
}

static void one_refresh_at_a_time_while_the_old_value_serves(void **state)
{
    (void)state;
    worker a, b;
    worker_open(&a, "test refresh");
    worker_open(&b, "test refresh");
    cmx_error err;
    assert_int_equal(get(&a, 0, &err), CMX_CREDENTIAL_FETCH);
    cmx_credential_local_publish(&a.local, "old", 3, 1000, 800);
    assert_int_equal(get(&b, 850, &err), CMX_CREDENTIAL_REFRESH);
    assert_int_equal(get(&a, 860, &err), CMX_CREDENTIAL_FRESH);
    assert_string_equal(a.local.value.data, "old");
    cmx_credential_local_publish(&b.local, "new", 3, 2000, 1800);
    assert_int_equal(get(&a, 870, &err), CMX_CREDENTIAL_FRESH);
    assert_string_equal(a.local.value.data, "new");
    assert_true(a.local.changed);
    /* past its expiry a value is never used */
    assert_int_equal(get(&a, 2000, &err), CMX_CREDENTIAL_FETCH);
    worker_close(&a);
    worker_close(&b);
}

static void a_failure_reaches_the_waiters_and_holds_until_its_time(void **state)
{
    (void)state;
    worker a, b;
    worker_open(&a, "test failure");
    worker_open(&b, "test failure");
    cmx_error err, why;
    assert_int_equal(get(&a, 0, &err), CMX_CREDENTIAL_FETCH);
    assert_int_equal(get(&b, 0, &err), CMX_CREDENTIAL_WAIT);
    cmx_error_set(&why, CMX_ERR_PROVIDER_AUTH, "token endpoint said no");
    cmx_credential_local_publish_failure(&a.local, &why, 500);
    turn(&b);
    assert_int_equal(b.news, 1);
    assert_int_equal(get(&b, 10, &err), CMX_CREDENTIAL_FAILED);
    assert_string_equal(err.message, "token endpoint said no");
    assert_int_equal(get(&a, 499, &err), CMX_CREDENTIAL_FAILED);
    assert_int_equal(get(&b, 500, &err), CMX_CREDENTIAL_FETCH);
    worker_close(&a);
    worker_close(&b);
}

static void an_abandoned_fetch_is_taken_over_by_a_waiting_worker(void **state)
{
    (void)state;
    worker a, b;
    worker_open(&a, "test abandon");
    worker_open(&b, "test abandon");
    cmx_error err;
    assert_int_equal(get(&a, 0, &err), CMX_CREDENTIAL_FETCH);
    assert_int_equal(get(&b, 0, &err), CMX_CREDENTIAL_WAIT);
    worker_close(&a); /* a worker going away with its fetch in flight */
    turn(&b);
    assert_int_equal(b.news, 1);
    assert_int_equal(get(&b, 1, &err), CMX_CREDENTIAL_FETCH);
    cmx_credential_local_abandon(&b.local); /* could not start */
    assert_int_equal(get(&b, 2, &err), CMX_CREDENTIAL_FETCH);
    worker_close(&b);
}

static void a_refused_value_is_forgotten_by_every_worker_and_keys_do_not_mix(void **state)
{
    (void)state;
    worker a, b, other;
    worker_open(&a, "test invalidate");
    worker_open(&b, "test invalidate");
    worker_open(&other, "test another credential");
    cmx_error err;
    assert_int_equal(get(&a, 0, &err), CMX_CREDENTIAL_FETCH);
    cmx_credential_local_publish(&a.local, "revoked", 7, 0, 0); /* never expires */
    assert_int_equal(get(&b, 5, &err), CMX_CREDENTIAL_FRESH);
    assert_int_equal(get(&other, 5, &err), CMX_CREDENTIAL_FETCH);
    cmx_credential_local_invalidate(&b.local, "something else", 14);
    assert_int_equal(get(&a, 6, &err), CMX_CREDENTIAL_FRESH);
    cmx_credential_local_invalidate(&b.local, "revoked", 7);
    assert_int_equal(get(&a, 7, &err), CMX_CREDENTIAL_FETCH);
    assert_int_equal(get(&b, 7, &err), CMX_CREDENTIAL_WAIT);
    assert_false(b.local.has_value);
    worker_close(&a);
    worker_close(&b);
    worker_close(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_fetch_serves_every_worker),
        cmocka_unit_test(one_refresh_at_a_time_while_the_old_value_serves),
        cmocka_unit_test(a_failure_reaches_the_waiters_and_holds_until_its_time),
        cmocka_unit_test(an_abandoned_fetch_is_taken_over_by_a_waiting_worker),
        cmocka_unit_test(a_refused_value_is_forgotten_by_every_worker_and_keys_do_not_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
