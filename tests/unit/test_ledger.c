/* test_ledger.c — the ledger's writer thread (governance/ledger.c) against a
 * SQLite store in a temporary directory: rows put faster than one batch
 * takes are all written without waiting for the interval, stopping
 * writes whatever is still queued, and every worker's ring gets its share
 * of each batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "governance/ledger.h"
#include "store/sql.h"

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_int(void *ctx, const cmx_sql_row *row)
{
    *(int64_t *)ctx = cmx_sql_row_int(row, 0);
    return 1;
}

static int64_t rows_in(const char *url)
{
    cmx_error err;
    cmx_sql *db = cmx_sql_open(url, &err);
    assert_non_null(db);
    int64_t n = -1;
    assert_int_equal(
        cmx_sql_exec(db, "SELECT COUNT(*) FROM cmx_ledger", NULL, 0, read_int, &n, &err), CMX_OK);
    cmx_sql_close(db);
    return n;
}

static void item_at(cmx_ledger_item *it, int i)
{
    memset(it, 0, sizeof *it);
    char rid[32];
    snprintf(rid, sizeof rid, "req-%d", i);
    const char *strings[CMX_LEDGER__STRINGS] = {rid,      "k1",          "t1", "chat",
                                                "openai", "gpt-4o-mini", NULL};
    cmx_ledger_row_set_strings(&it->row, strings);
    it->row.ts_ms = wall_ms(NULL);
    it->row.prompt_tokens = 10;
    it->row.completion_tokens = 2;
    it->row.cached_tokens = -1;
    it->row.cost_usd = 0.001;
    it->row.status = 200;
    it->row.attempts = 1;
}

/* A ledger writing to a SQLite store in a fresh temporary directory, with a
 * 10 s interval (only wake-ups commit early) and queue_rows shared by
 * `producers` rings. */
typedef struct fixture {
    char dir[32];
    char url[128];
    cmx_budget_counters *bc;
    pthread_mutex_t lock;
    cmx_ledger *l;
} fixture;

static void fixture_start(fixture *f, size_t producers, uint32_t batch_rows, uint32_t queue_rows)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/cmx-ledger-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite://%s/l.db", f->dir);
    f->bc = cmx_budget_counters_local_new();
    pthread_mutex_init(&f->lock, NULL);
    cmx_ledger_settings s = {.store_url = f->url,
                             .replica = "test",
                             .producers = producers,
                             .batch_rows = batch_rows,
                             .batch_interval_ms = 10000,
                             .queue_rows = queue_rows,
                             .counters = f->bc,
                             .commit_lock = &f->lock,
                             .now_ms = wall_ms};
    cmx_error err;
    f->l = cmx_ledger_start(&s, &err);
    assert_non_null(f->l);
}

/* After cmx_ledger_stop: the counters and the store's files go. */
static void fixture_remove(fixture *f)
{
    f->bc->ops->free(f->bc);
    pthread_mutex_destroy(&f->lock);
    char path[160];
    const char *const files[] = {"l.db", "l.db-wal", "l.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        remove(path);
    }
    rmdir(f->dir);
}

/* A backlog of many batches: the writer, woken once when batch_rows wait,
 * takes two batches' worth at a time and goes straight on while a batch's
 * worth is left, long before the (10 s) interval. */
static void a_backlog_is_written_batch_after_batch_without_waiting(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 1, 16, 512);
    cmx_ledger *l = f.l;
    const char *url = f.url;
    cmx_ledger_item it;
    for (int i = 0; i < 400; i++) {
        item_at(&it, i);
        assert_int_equal(cmx_ledger_put(l, 0, &it), 0);
    }
    cmx_ledger_stats st;
    for (int waited = 0; waited < 5000; waited += 10) {
        cmx_ledger_get_stats(l, &st);
        if (st.queued < 16)
            break;
        usleep(10000);
    }
    cmx_ledger_get_stats(l, &st);
    assert_true(st.queued < 16);
    assert_true(st.rows_written > 400 - 16);
    assert_int_equal(st.rows_dropped, 0);
    /* Stopping writes the rest (fewer than a batch, waiting for the interval). */
    cmx_ledger_stop(l);
    assert_int_equal(rows_in(url), 400);
    fixture_remove(&f);
}

static int64_t count_where(const char *url, const char *sql)
{
    cmx_error err;
    cmx_sql *db = cmx_sql_open(url, &err);
    assert_non_null(db);
    int64_t n = -1;
    assert_int_equal(cmx_sql_exec(db, sql, NULL, 0, read_int, &n, &err), CMX_OK);
    cmx_sql_close(db);
    return n;
}

/* Two workers' rings, one with a long backlog: the writer takes a share
 * from each ring for every batch, so the other worker's rows are written
 * among the first batches instead of after the whole backlog. */
static void every_ring_gets_a_share_of_each_batch(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 2, 16, 512);
    cmx_ledger *l = f.l;
    const char *url = f.url;
    cmx_ledger_item it;
    /* The writer is held at its first commit while both rings fill. */
    pthread_mutex_lock(&f.lock);
    for (int i = 0; i < 216; i++) {
        item_at(&it, i);
        assert_int_equal(cmx_ledger_put(l, 0, &it), 0);
    }
    for (int i = 1000; i < 1200; i++) {
        item_at(&it, i);
        assert_int_equal(cmx_ledger_put(l, 1, &it), 0);
    }
    pthread_mutex_unlock(&f.lock);
    cmx_ledger_stop(l);
    assert_int_equal(rows_in(url), 416);
    /* Batches hold at most 32 rows, half of each from either ring while
     * both have rows: within the first three, the second worker's rows
     * (four-digit ids) have had their share. */
    assert_true(
        count_where(url, "SELECT COUNT(*) FROM (SELECT request_id FROM cmx_ledger "
                         "ORDER BY id LIMIT 96) AS first WHERE request_id LIKE 'req-____'") >= 16);
    fixture_remove(&f);
}

/* Rings smaller than two batches (many workers, a modest queue): a ring
 * half full wakes the writer, long before the interval and before the
 * ring could overflow waiting for a batch it cannot hold. */
static void a_small_ring_wakes_the_writer_when_half_full(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 4, 2000, 64); /* rings of 16 rows, batches of 2000 */
    cmx_ledger_item it;
    for (int i = 0; i < 8; i++) {
        item_at(&it, i);
        assert_int_equal(cmx_ledger_put(f.l, 2, &it), 0);
    }
    cmx_ledger_stats st = {0};
    for (int waited = 0; waited < 3000; waited += 10) {
        cmx_ledger_get_stats(f.l, &st);
        if (st.rows_written == 8)
            break;
        usleep(10000);
    }
    assert_int_equal(st.rows_written, 8); /* within 3 s; the interval is 10 s */
    cmx_ledger_stop(f.l);
    fixture_remove(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_backlog_is_written_batch_after_batch_without_waiting),
        cmocka_unit_test(every_ring_gets_a_share_of_each_batch),
        cmocka_unit_test(a_small_ring_wakes_the_writer_when_half_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
