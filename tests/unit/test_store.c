/* test_store.c — the store on SQLite, and on PostgreSQL when
 * CMX_TEST_PG_URL names a server (tests/e2e/postgres.test.mjs starts one and
 * runs this binary against it): keys, teams and secrets written and read
 * back whole, conflicts and missing ids, the change counter, rotation's
 * grace, ledger rows and roll-ups that always agree, reports grouped and
 * cut to the top N, spend sums for budgets, pruning, and a file that
 * reopens with everything in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/sql.h"
#include "store/store.h"

#define HOUR 3600000LL
#define T0 (1767225600000LL) /* 2026-01-01T00:00:00Z */

static char db_dir[256];
static char url[512];

/* A store with no tables of ours in it. */
static cmx_store *fresh_store(void)
{
    cmx_error err;
    const char *pg = getenv("CMX_TEST_PG_URL");
    if (pg && *pg) {
        snprintf(url, sizeof url, "%s", pg);
        cmx_sql *db = cmx_sql_open(url, &err);
        if (!db)
            fail_msg("cannot connect to %s: %s", url, err.message);
        const char *tables[] = {"cmx_meta",        "cmx_teams",  "cmx_keys",
                                "cmx_key_secrets", "cmx_ledger", "cmx_rollup_hourly",
                                "cmx_rollup_daily"};
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            char sql[80];
            snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", tables[i]);
            assert_int_equal(cmx_sql_exec(db, sql, NULL, 0, NULL, NULL, &err), CMX_OK);
        }
        cmx_sql_close(db);
    } else {
        static int n;
        if (!db_dir[0]) {
            snprintf(db_dir, sizeof db_dir, "/tmp/cmx-store-test-XXXXXX");
            assert_non_null(mkdtemp(db_dir));
        }
        snprintf(url, sizeof url, "sqlite://%s/t%d.db", db_dir, n++);
    }
    cmx_store *s = cmx_store_open(url, &err);
    if (!s)
        fail_msg("cannot open the store: %s", err.message);
    return s;
}

static cmx_key_rec key_named(const char *id, const char *team)
{
    cmx_key_rec k = {0};
    k.id = strdup(id);
    k.name = strdup("app");
    k.team_id = team ? strdup(team) : NULL;
    k.models_json = strdup("[\"chat\",\"gpt-*\"]");
    k.limits.rpm = 60;
    k.limits.max_parallel = 4;
    k.budget.set = 1;
    k.budget.usd = 12.5;
    snprintf(k.budget.period, sizeof k.budget.period, "7d");
    k.budget.start_ms = 4 * 86400000LL;
    k.budget.warn_at = 0.8;
    k.hint = strdup("cmx-\xe2\x80\xa6"
                    "abcd");
    k.created_ms = k.updated_ms = T0;
    return k;
}

static const char digest_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char digest_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static int64_t changes(cmx_store *s)
{
    int64_t n = -1;
    cmx_error err;
    assert_int_equal(cmx_store_changes(s, &n, &err), CMX_OK);
    return n;
}

static void keys_and_teams_round_trip_and_bump_the_change_counter(void **state)
{
    cmx_store *s = fresh_store();
    cmx_error err;
    int64_t c0 = changes(s);
    cmx_team_rec t = {0};
    t.id = strdup("web");
    t.name = strdup("Web team");
    t.limits.tpm = 1000;
    t.budget.set = 1;
    t.budget.usd = 100;
    snprintf(t.budget.period, sizeof t.budget.period, "monthly");
    t.tags_json = strdup("{\"owner\":\"ana\"}");
    t.created_ms = t.updated_ms = T0;
    assert_int_equal(cmx_store_create_team(s, &t, &err), CMX_OK);
    assert_int_equal(cmx_store_create_team(s, &t, &err), CMX_ERR_CONFLICT);
    cmx_key_rec k = key_named("k1", "web");
    assert_int_equal(cmx_store_create_key(s, &k, digest_a, &err), CMX_OK);
    assert_int_equal(cmx_store_create_key(s, &k, digest_b, &err), CMX_ERR_CONFLICT);
    assert_true(strstr(err.message, "k1") != NULL);
    assert_int_equal(changes(s), c0 + 2);

    cmx_key_rec back;
    assert_int_equal(cmx_store_get_key(s, "k1", &back, &err), CMX_OK);
    assert_string_equal(back.name, "app");
    assert_string_equal(back.team_id, "web");
    assert_string_equal(back.models_json, "[\"chat\",\"gpt-*\"]");
    assert_int_equal(back.limits.rpm, 60);
    assert_int_equal(back.limits.max_parallel, 4);
    assert_int_equal(back.limits.tpm, 0);
    assert_true(back.budget.set);
    assert_true(back.budget.usd == 12.5);
    assert_string_equal(back.budget.period, "7d");
    assert_int_equal(back.budget.start_ms, 4 * 86400000LL);
    assert_string_equal(back.hint, "cmx-\xe2\x80\xa6"
                                   "abcd");
    assert_null(back.residency);
    cmx_key_rec_free(&back);

    free(k.name);
    k.name = strdup("renamed");
    k.budget.set = 0;
    k.revoked_ms = T0 + 5;
    assert_int_equal(cmx_store_update_key(s, &k, &err), CMX_OK);
    assert_int_equal(cmx_store_get_key(s, "k1", &back, &err), CMX_OK);
    assert_string_equal(back.name, "renamed");
    assert_false(back.budget.set);
    assert_int_equal(back.revoked_ms, T0 + 5);
    cmx_key_rec_free(&back);
    assert_int_equal(changes(s), c0 + 3);

    cmx_team_rec tb;
    assert_int_equal(cmx_store_get_team(s, "web", &tb, &err), CMX_OK);
    assert_int_equal(tb.limits.tpm, 1000);
    assert_string_equal(tb.budget.period, "monthly");
    assert_string_equal(tb.tags_json, "{\"owner\":\"ana\"}");
    cmx_team_rec_free(&tb);

    assert_int_equal(cmx_store_get_key(s, "nope", &back, &err), CMX_ERR_NOT_FOUND);
    assert_int_equal(cmx_store_get_team(s, "nope", &tb, &err), CMX_ERR_NOT_FOUND);
    cmx_team_rec ghost = {0};
    ghost.id = "nope";
    ghost.name = "x";
    assert_int_equal(cmx_store_update_team(s, &ghost, &err), CMX_ERR_NOT_FOUND);
    assert_int_equal(changes(s), c0 + 3); /* a failed write changes nothing */

    cmx_store_snapshot snap;
    assert_int_equal(cmx_store_load(s, &snap, &err), CMX_OK);
    assert_int_equal(snap.n_teams, 1);
    assert_int_equal(snap.n_keys, 1);
    assert_int_equal(snap.n_secrets, 1);
    assert_string_equal(snap.secrets[0].digest, digest_a);
    assert_string_equal(snap.secrets[0].key_id, "k1");
    cmx_store_snapshot_free(&snap);
    cmx_key_rec_free(&k);
    cmx_team_rec_free(&t);
    cmx_store_close(s);
}

static void rotation_ends_old_secrets_after_the_grace_and_drops_dead_ones(void **state)
{
    cmx_store *s = fresh_store();
    cmx_error err;
    cmx_key_rec k = key_named("k2", NULL);
    assert_int_equal(cmx_store_create_key(s, &k, digest_a, &err), CMX_OK);
    assert_int_equal(cmx_store_rotate_key(s, "k2", digest_b, "cmx-…bbbb", T0 + 10, T0 + HOUR, &err),
                     CMX_OK);
    cmx_store_snapshot snap;
    assert_int_equal(cmx_store_load(s, &snap, &err), CMX_OK);
    assert_int_equal(snap.n_secrets, 2);
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(snap.secrets[i].digest, digest_a) == 0)
            assert_int_equal(snap.secrets[i].not_after_ms, T0 + HOUR);
        else
            assert_int_equal(snap.secrets[i].not_after_ms, 0);
    }
    assert_string_equal(snap.keys[0].hint, "cmx-…bbbb");
    cmx_store_snapshot_free(&snap);
    /* Rotating again past the first grace: the dead secret goes, the second
     * ends at once (grace 0). */
    static const char digest_c[] =
        "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    assert_int_equal(
        cmx_store_rotate_key(s, "k2", digest_c, "cmx-…cccc", T0 + 2 * HOUR, T0 + 2 * HOUR, &err),
        CMX_OK);
    assert_int_equal(cmx_store_load(s, &snap, &err), CMX_OK);
    assert_int_equal(snap.n_secrets, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_not_equal(snap.secrets[i].digest, digest_a);
        if (strcmp(snap.secrets[i].digest, digest_b) == 0)
            assert_int_equal(snap.secrets[i].not_after_ms, T0 + 2 * HOUR);
    }
    cmx_store_snapshot_free(&snap);
    assert_int_equal(cmx_store_rotate_key(s, "ghost", digest_a, "h", T0, T0, &err),
                     CMX_ERR_NOT_FOUND);
    cmx_key_rec_free(&k);
    cmx_store_close(s);
}

/* A deterministic row: key by i % 3, group by i % 2, hour by i / 50. */
static void make_row(cmx_ledger_row *r, int i)
{
    memset(r, 0, sizeof *r);
    static const char *const keys[] = {"ka", "kb", "kc"};
    char rid[32];
    snprintf(rid, sizeof rid, "req-%d", i);
    const char *strings[CMX_LEDGER__STRINGS] = {
        rid,      keys[i % 3],   i % 3 == 2 ? NULL : "web",     i % 2 ? "chat" : "embed",
        "openai", "gpt-4o-mini", i % 10 == 9 ? "timeout" : NULL};
    cmx_ledger_row_set_strings(r, strings);
    r->ts_ms = T0 + (i / 50) * HOUR + i;
    r->prompt_tokens = 10 + i % 7;
    r->completion_tokens = i % 5 == 0 ? -1 : 3;
    r->cached_tokens = -1;
    r->cost_usd = i % 11 == 0 ? -1 : 0.001 * (1 + i % 4);
    r->status = i % 10 == 9 ? 504 : 200;
    r->attempts = 1;
    r->latency_ms = 20;
    r->estimated = i % 13 == 0;
}

typedef struct sums {
    int64_t requests, errors, prompt, completion, unpriced, estimated;
    double cost;
} sums;

static void add_row(sums *s, const cmx_ledger_row *r)
{
    s->requests++;
    s->errors += r->status >= 400;
    s->prompt += r->prompt_tokens > 0 ? r->prompt_tokens : 0;
    s->completion += r->completion_tokens > 0 ? r->completion_tokens : 0;
    if (r->cost_usd >= 0)
        s->cost += r->cost_usd;
    else
        s->unpriced++;
    s->estimated += r->estimated;
}

static void write_rows(cmx_store *s, int n, sums *total)
{
    cmx_ledger_row *rows = calloc((size_t)n, sizeof *rows);
    for (int i = 0; i < n; i++) {
        make_row(&rows[i], i);
        if (total)
            add_row(total, &rows[i]);
    }
    cmx_error err;
    /* Two batches, the second touching roll-up cells the first made. */
    assert_int_equal(cmx_store_write_ledger(s, rows, (size_t)n / 2, "r1", &err), CMX_OK);
    assert_int_equal(cmx_store_write_ledger(s, rows + n / 2, (size_t)(n - n / 2), "r2", &err),
                     CMX_OK);
    free(rows);
}

static void rollups_equal_the_raw_rows_in_every_report(void **state)
{
    cmx_store *s = fresh_store();
    sums ref = {0};
    write_rows(s, 203, &ref);
    cmx_error err;
    cmx_spend_query q = {.from_ms = T0, .to_ms = T0 + 10 * HOUR};
    cmx_spend_report rep;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.n_lines, 1); /* no dimension: one line, the total */
    assert_int_equal(rep.total.requests, ref.requests);
    assert_int_equal(rep.total.errors, ref.errors);
    assert_int_equal(rep.total.prompt_tokens, ref.prompt);
    assert_int_equal(rep.total.completion_tokens, ref.completion);
    assert_int_equal(rep.total.unpriced, ref.unpriced);
    assert_int_equal(rep.total.estimated, ref.estimated);
    assert_true(fabs(rep.total.cost_usd - ref.cost) < 1e-9);
    cmx_spend_report_free(&rep);

    /* By key and hour: every line matches a sum the test makes itself. */
    q.by[0] = CMX_DIM_HOUR;
    q.by[1] = CMX_DIM_KEY;
    q.n_by = 2;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.n_lines, 5 * 3); /* hours 0..4 × 3 keys */
    int64_t seen = 0;
    for (size_t l = 0; l < rep.n_lines; l++) {
        sums want = {0};
        for (int i = 0; i < 203; i++) {
            cmx_ledger_row r;
            make_row(&r, i);
            char hour[32];
            snprintf(hour, sizeof hour, "2026-01-01T%02d:00Z", (int)(i / 50));
            if (strcmp(hour, rep.lines[l].dims[0]) == 0 &&
                strcmp(cmx_ledger_row_string(&r, CMX_LEDGER_KEY), rep.lines[l].dims[1]) == 0)
                add_row(&want, &r);
        }
        assert_int_equal(rep.lines[l].t.requests, want.requests);
        assert_true(fabs(rep.lines[l].t.cost_usd - want.cost) < 1e-9);
        seen += rep.lines[l].t.requests;
    }
    assert_int_equal(seen, 203);
    /* Lines come in dimension order without top. */
    assert_string_equal(rep.lines[0].dims[0], "2026-01-01T00:00Z");
    assert_string_equal(rep.lines[0].dims[1], "ka");
    cmx_spend_report_free(&rep);

    /* Top 2 teams by cost, and the total still over everything. */
    q.by[0] = CMX_DIM_TEAM;
    q.n_by = 1;
    q.top = 1;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.n_lines, 1);
    assert_string_equal(rep.lines[0].dims[0], "web");
    assert_int_equal(rep.total.requests, 203);
    cmx_spend_report_free(&rep);

    /* A range that starts after the first hours leaves them out. */
    q.top = 0;
    q.n_by = 0;
    q.from_ms = T0 + 3 * HOUR;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.total.requests, 203 - 150);
    cmx_spend_report_free(&rep);
    cmx_store_close(s);
}

typedef struct find_ka {
    double usd;
} find_ka;

static void note_ka(void *ctx, const char *id, double usd)
{
    if (strcmp(id, "ka") == 0)
        ((find_ka *)ctx)->usd = usd;
}

/* Rows over three days, from 06:00 on the first to 18:00 on the third. */
static void write_days(cmx_store *s, cmx_ledger_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        make_row(&rows[i], i);
        rows[i].ts_ms = T0 + 6 * HOUR + (int64_t)i * (60 * HOUR) / n;
    }
    cmx_error err;
    assert_int_equal(cmx_store_write_ledger(s, rows, (size_t)n, "r", &err), CMX_OK);
}

static void reports_across_days_read_whole_days_and_edge_hours_alike(void **state)
{
    cmx_store *s = fresh_store();
    enum { N = 600 };
    cmx_ledger_row *rows = calloc(N, sizeof *rows);
    write_days(s, rows, N);
    /* Ranges with whole days inside, none, and hours on both edges. */
    const int64_t day = 24 * HOUR;
    const int64_t ranges[][2] = {{T0, T0 + 3 * day},
                                 {T0 + 9 * HOUR, T0 + 2 * day + 5 * HOUR},
                                 {T0 + 30 * HOUR, T0 + 40 * HOUR},
                                 {T0 + day, T0 + 2 * day},
                                 {T0 - day, T0 + 10 * day}};
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        for (int hourly = 0; hourly < 2; hourly++) {
            sums want = {0};
            for (int i = 0; i < N; i++)
                if (rows[i].ts_ms >= ranges[k][0] && rows[i].ts_ms < ranges[k][1])
                    add_row(&want, &rows[i]);
            cmx_spend_query q = {.from_ms = ranges[k][0], .to_ms = ranges[k][1]};
            q.by[0] = hourly ? CMX_DIM_HOUR : CMX_DIM_DAY;
            q.n_by = 1;
            cmx_spend_report rep;
            cmx_error err;
            assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
            int64_t lines_total = 0;
            for (size_t l = 0; l < rep.n_lines; l++)
                lines_total += rep.lines[l].t.requests;
            if (rep.total.requests != want.requests || lines_total != want.requests ||
                fabs(rep.total.cost_usd - want.cost) > 1e-9)
                fail_msg("range %zu (%s): %lld/%lld requests, want %lld", k,
                         hourly ? "by hour" : "by day", (long long)rep.total.requests,
                         (long long)lines_total, (long long)want.requests);
            cmx_spend_report_free(&rep);
        }
    }
    /* Budgets read the same way: spend of key ka since 09:00 on day one. */
    double ka = 0;
    for (int i = 0; i < N; i++)
        if (rows[i].ts_ms >= T0 + 9 * HOUR && i % 3 == 0 && rows[i].cost_usd >= 0)
            ka += rows[i].cost_usd;
    find_ka f = {0};
    cmx_error err;
    assert_int_equal(cmx_store_spend_since(s, CMX_SPEND_BY_KEY, T0 + 9 * HOUR, note_ka, &f, &err),
                     CMX_OK);
    assert_true(fabs(f.usd - ka) < 1e-9);
    free(rows);
    cmx_store_close(s);
}

typedef struct spend_seen {
    double ka, kb, kc, web;
    int calls;
} spend_seen;

static void note_spend(void *ctx, const char *id, double usd)
{
    spend_seen *s = ctx;
    s->calls++;
    if (strcmp(id, "ka") == 0)
        s->ka = usd;
    else if (strcmp(id, "kb") == 0)
        s->kb = usd;
    else if (strcmp(id, "kc") == 0)
        s->kc = usd;
    else if (strcmp(id, "web") == 0)
        s->web = usd;
}

static void spend_since_sums_per_key_and_team_from_a_start(void **state)
{
    cmx_store *s = fresh_store();
    write_rows(s, 203, NULL);
    double ka = 0, web = 0, ka_late = 0;
    for (int i = 0; i < 203; i++) {
        cmx_ledger_row r;
        make_row(&r, i);
        if (r.cost_usd < 0)
            continue;
        if (i % 3 == 0)
            ka += r.cost_usd;
        if (i % 3 != 2)
            web += r.cost_usd;
        if (i % 3 == 0 && i / 50 >= 2)
            ka_late += r.cost_usd;
    }
    cmx_error err;
    spend_seen seen = {0};
    assert_int_equal(cmx_store_spend_since(s, CMX_SPEND_BY_KEY, T0, note_spend, &seen, &err),
                     CMX_OK);
    assert_int_equal(seen.calls, 3);
    assert_true(fabs(seen.ka - ka) < 1e-9);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(cmx_store_spend_since(s, CMX_SPEND_BY_TEAM, T0, note_spend, &seen, &err),
                     CMX_OK);
    assert_int_equal(seen.calls, 1); /* rows without a team are nobody's */
    assert_true(fabs(seen.web - web) < 1e-9);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        cmx_store_spend_since(s, CMX_SPEND_BY_KEY, T0 + 2 * HOUR, note_spend, &seen, &err), CMX_OK);
    assert_true(fabs(seen.ka - ka_late) < 1e-9);
    cmx_store_close(s);
}

static void pruning_removes_old_raw_rows_and_keeps_the_rollups(void **state)
{
    cmx_store *s = fresh_store();
    write_rows(s, 203, NULL);
    cmx_error err;
    size_t deleted = 0, total = 0;
    do {
        assert_int_equal(cmx_store_prune_ledger(s, T0 + 2 * HOUR, 40, &deleted, &err), CMX_OK);
        total += deleted;
    } while (deleted == 40);
    assert_int_equal(total, 100);
    cmx_spend_query q = {.from_ms = T0, .to_ms = T0 + 10 * HOUR};
    cmx_spend_report rep;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.total.requests, 203);
    cmx_spend_report_free(&rep);
    cmx_store_close(s);
}

static int read_int(void *ctx, const cmx_sql_row *row)
{
    *(int64_t *)ctx = cmx_sql_row_int(row, 0);
    return 1;
}

/* Raw rows left, through a connection of the test's own. */
static long raw_rows(const char *where)
{
    cmx_error err;
    cmx_sql *db = cmx_sql_open(url, &err);
    assert_non_null(db);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM cmx_ledger WHERE %s", where);
    int64_t n = -1;
    assert_int_equal(cmx_sql_exec(db, sql, NULL, 0, read_int, &n, &err), CMX_OK);
    cmx_sql_close(db);
    return (long)n;
}

/* One row per batch, so ids follow the order given. */
static void write_at(cmx_store *s, const int64_t *offsets, int n)
{
    cmx_error err;
    for (int i = 0; i < n; i++) {
        cmx_ledger_row r;
        make_row(&r, i);
        r.ts_ms = T0 + offsets[i];
        assert_int_equal(cmx_store_write_ledger(s, &r, 1, "r1", &err), CMX_OK);
    }
}

static size_t prune_all(cmx_store *s, int64_t before_ms)
{
    cmx_error err;
    size_t deleted, total = 0;
    do {
        assert_int_equal(cmx_store_prune_ledger(s, before_ms, 2, &deleted, &err), CMX_OK);
        total += deleted;
    } while (deleted == 2);
    return total;
}

/* The raw rows have no time index: pruning finds its boundary through the
 * ids.  A newer row among old ones (a clock ahead) is never deleted early;
 * an old row among newer ones (a clock behind) waits for a later prune. */
static void pruning_by_id_order_never_deletes_a_newer_row(void **state)
{
    cmx_store *s = fresh_store();
    const int64_t ahead[] = {0, 1, 5 * HOUR, 2, 3, 10 * HOUR, 4, 11 * HOUR};
    write_at(s, ahead, 8);
    size_t deleted = prune_all(s, T0 + HOUR);
    assert_in_range(deleted, 2, 5);
    assert_int_equal(raw_rows("ts_ms >= 1767229200000"), 3); /* T0 + 1 h: all newer kept */
    assert_int_equal(raw_rows("ts_ms < 1767225600002"), 0);  /* the rows before them went */
    assert_int_equal(raw_rows("1 = 1"), 8 - (long)deleted);
    /* Once the cut passes the newer rows, the old ones among them go too. */
    assert_int_equal(prune_all(s, T0 + 12 * HOUR), 8 - deleted);
    assert_int_equal(raw_rows("1 = 1"), 0);
    cmx_store_close(s);

    s = fresh_store();
    const int64_t behind[] = {0, 1, 10 * HOUR, 11 * HOUR, 12 * HOUR, 2};
    write_at(s, behind, 6);
    assert_int_equal(prune_all(s, T0 + HOUR), 2);
    assert_int_equal(raw_rows("ts_ms < 1767229200000"), 1); /* the late one, kept for now */
    assert_int_equal(prune_all(s, T0 + 13 * HOUR), 4);
    assert_int_equal(raw_rows("1 = 1"), 0);
    /* Nothing to prune, and an empty ledger: no error, nothing deleted. */
    assert_int_equal(prune_all(s, T0 + 13 * HOUR), 0);
    cmx_store_close(s);
}

/* A store made before the raw rows lost their time index (the same tables
 * plus cmx_ledger_ts) opens and goes on: rows, reports and pruning as
 * before.  SQLite loses the index on open; a shared PostgreSQL store keeps
 * it until its operator drops it. */
static void a_store_with_the_old_time_index_opens(void **state)
{
    cmx_store *s = fresh_store();
    write_rows(s, 100, NULL);
    cmx_store_close(s);
    cmx_error err;
    cmx_sql *db = cmx_sql_open(url, &err);
    assert_non_null(db);
    assert_int_equal(cmx_sql_exec(db, "CREATE INDEX cmx_ledger_ts ON cmx_ledger (ts_ms)", NULL, 0,
                                  NULL, NULL, &err),
                     CMX_OK);
    const char *has_index =
        cmx_sql_dialect_of(db) == CMX_SQL_POSTGRES
            ? "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'cmx_ledger_ts'"
            : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'cmx_ledger_ts'";
    int64_t n = -1;
    assert_int_equal(cmx_sql_exec(db, has_index, NULL, 0, read_int, &n, &err), CMX_OK);
    assert_int_equal(n, 1);
    cmx_sql_close(db);

    s = cmx_store_open(url, &err);
    assert_non_null(s);
    db = cmx_sql_open(url, &err);
    assert_non_null(db);
    int kept = cmx_sql_dialect_of(db) == CMX_SQL_POSTGRES;
    assert_int_equal(cmx_sql_exec(db, has_index, NULL, 0, read_int, &n, &err), CMX_OK);
    assert_int_equal(n, kept);
    cmx_sql_close(db);
    /* Rows 0-49 are in the first hour. */
    assert_int_equal(prune_all(s, T0 + HOUR), 50);
    assert_int_equal(raw_rows("1 = 1"), 50);
    write_rows(s, 100, NULL);
    cmx_spend_query q = {.from_ms = T0, .to_ms = T0 + 10 * HOUR};
    cmx_spend_report rep;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.total.requests, 200);
    cmx_spend_report_free(&rep);
    cmx_store_close(s);
}

static void long_strings_are_cut_to_fit_the_row(void **state)
{
    char big[1024];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *strings[CMX_LEDGER__STRINGS] = {big, big, big, big, big, big, big};
    cmx_ledger_row r;
    cmx_ledger_row_set_strings(&r, strings);
    assert_int_equal(strlen(cmx_ledger_row_string(&r, CMX_LEDGER_REQUEST_ID)), 128);
    assert_int_equal(strlen(cmx_ledger_row_string(&r, CMX_LEDGER_MODEL)), 128);
    assert_int_equal(strlen(cmx_ledger_row_string(&r, CMX_LEDGER_ERROR)), 32);
    const char *none[CMX_LEDGER__STRINGS] = {NULL};
    cmx_ledger_row_set_strings(&r, none);
    assert_null(cmx_ledger_row_string(&r, CMX_LEDGER_KEY));
}

static void a_file_store_reopens_with_everything_in_it(void **state)
{
    if (getenv("CMX_TEST_PG_URL"))
        skip();
    cmx_store *s = fresh_store();
    cmx_error err;
    cmx_key_rec k = key_named("kept", NULL);
    assert_int_equal(cmx_store_create_key(s, &k, digest_a, &err), CMX_OK);
    write_rows(s, 10, NULL);
    cmx_store_close(s);
    s = cmx_store_open(url, &err);
    assert_non_null(s);
    cmx_key_rec back;
    assert_int_equal(cmx_store_get_key(s, "kept", &back, &err), CMX_OK);
    cmx_key_rec_free(&back);
    cmx_spend_query q = {.from_ms = T0, .to_ms = T0 + HOUR};
    cmx_spend_report rep;
    assert_int_equal(cmx_store_report(s, &q, &rep, &err), CMX_OK);
    assert_int_equal(rep.total.requests, 10);
    cmx_spend_report_free(&rep);
    cmx_key_rec_free(&k);
    cmx_store_close(s);
}

static void bad_urls_are_refused_without_being_repeated(void **state)
{
    cmx_error err;
    assert_null(cmx_store_open("mysql://root:hunter2@db/x", &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
    assert_null(strstr(err.message, "hunter2"));
    assert_null(cmx_store_open("sqlite:///nonexistent-dir/x/y.db", &err));
    assert_int_equal(err.kind, CMX_ERR_IO);
    /* A server that is not there: refused quickly, password not echoed. */
    assert_null(cmx_store_open("postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", &err));
    assert_int_equal(err.kind, CMX_ERR_IO);
    assert_null(strstr(err.message, "hunter2"));
}

static int cleanup(void **state)
{
    if (db_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", db_dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_and_teams_round_trip_and_bump_the_change_counter),
        cmocka_unit_test(rotation_ends_old_secrets_after_the_grace_and_drops_dead_ones),
        cmocka_unit_test(rollups_equal_the_raw_rows_in_every_report),
        cmocka_unit_test(reports_across_days_read_whole_days_and_edge_hours_alike),
        cmocka_unit_test(spend_since_sums_per_key_and_team_from_a_start),
        cmocka_unit_test(pruning_removes_old_raw_rows_and_keeps_the_rollups),
        cmocka_unit_test(pruning_by_id_order_never_deletes_a_newer_row),
        cmocka_unit_test(a_store_with_the_old_time_index_opens),
        cmocka_unit_test(long_strings_are_cut_to_fit_the_row),
        cmocka_unit_test(a_file_store_reopens_with_everything_in_it),
        cmocka_unit_test(bad_urls_are_refused_without_being_repeated),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
