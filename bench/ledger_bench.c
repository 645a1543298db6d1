/* ledger_bench.c — the spend ledger at scale: writes ROWS ledger rows
 * (default 10 million) through the store's own batch write (raw rows and
 * hourly roll-ups in one transaction per batch) into a fresh SQLite file,
 * then times reports from the roll-ups against the same questions asked of
 * the raw rows.
 *
 *   ledger_bench DIR [ROWS [BATCH [KEYS]]]   (DIR: where the database file goes)
 *
 * The rows spread over 30 days, KEYS keys (200) in up to 20 teams, 6 model
 * groups on 4 providers, like a mid-sized platform's month, written in
 * batches of BATCH rows (5000).  The gateway's writer commits batches of
 * up to governance.ledger.batch_rows (500): `ledger_bench DIR 200000 500 100`
 * under valgrind --tool=callgrind --toggle-collect=cmx_store_write_ledger
 * gives the writer's instructions per row.  Prints one line per
 * measurement and a last machine-readable line:
 *   LEDGER rows=.. hourly_rows=.. daily_rows=.. insert_s=.. report_ms_max=.. raw_ms=.. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/sql.h"
#include "store/store.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAYS 30

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int n_keys = 200;

static void make_row(cmx_ledger_row *r, long i, long n)
{
    static const char *const groups[6] = {"chat", "chat-large", "embed",
                                          "code", "summarize",  "vision"};
    static const char *const providers[6] = {"openai",  "azure-eu", "openai",
                                             "bedrock", "vertex",   "azure-eu"};
    static const char *const models[6] = {
        "gpt-4o-mini",     "gpt-4o",           "text-embedding-3-small",
        "claude-sonnet-4", "gemini-2.0-flash", "gpt-4o"};
    uint64_t x = next_rand();
    int key = (int)(x % (uint64_t)n_keys), g = (int)((x >> 8) % 6);
    char rid[32], k[16], team[16];
    snprintf(rid, sizeof rid, "req-%ld", i);
    snprintf(k, sizeof k, "key-%03d", key);
    snprintf(team, sizeof team, "team-%02d", key % 20);
    const char *s[CMX_LEDGER__STRINGS] = {
        rid, k, team, groups[g], providers[g], models[g], (x >> 20) % 50 == 0 ? "timeout" : NULL};
    memset(r, 0, sizeof *r);
    cmx_ledger_row_set_strings(r, s);
    /* In time order over the month, as a ledger fills. */
    r->ts_ms = T0 + (int64_t)((double)i / (double)n * DAYS * 86400000.0);
    r->prompt_tokens = 200 + (int64_t)((x >> 24) % 2000);
    r->completion_tokens = 50 + (int64_t)((x >> 36) % 500);
    r->cached_tokens = 0;
    r->cost_usd = (double)(r->prompt_tokens + 4 * r->completion_tokens) * 1.5e-7;
    r->status = (x >> 20) % 50 == 0 ? 504 : 200;
    r->attempts = 1;
    r->latency_ms = 300 + (uint32_t)((x >> 44) % 2000);
}

static int count_row(void *ctx, const cmx_sql_row *row)
{
    *(long *)ctx += 1;
    (void)row;
    return 0;
}

/* A report from the roll-ups: best of 3 after a first (cold) run. */
static double time_report(cmx_store *s, const char *what, const cmx_spend_query *q)
{
    double best = 1e9, first = 0;
    size_t lines = 0;
    for (int run = 0; run < 4; run++) {
        cmx_spend_report rep;
        cmx_error err;
        double t = now_s();
        if (cmx_store_report(s, q, &rep, &err) != CMX_OK) {
            fprintf(stderr, "report failed: %s\n", err.message);
            exit(1);
        }
        t = (now_s() - t) * 1000;
        lines = rep.n_lines;
        if (run == 0)
            first = t;
        else if (t < best)
            best = t;
        if (run == 3)
            printf("  %-34s %6zu lines  %8.1f ms (first run %.1f ms)  total $%.2f over %lld "
                   "requests\n",
                   what, lines, best, first, rep.total.cost_usd, (long long)rep.total.requests);
        cmx_spend_report_free(&rep);
    }
    return first > best ? first : best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ledger_bench DIR [ROWS]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 10000000L;
    long batch = argc > 3 ? atol(argv[3]) : 5000;
    n_keys = argc > 4 ? atoi(argv[4]) : 200;
    if (n < 1 || batch < 1 || n_keys < 1) {
        fprintf(stderr, "ledger_bench: ROWS, BATCH and KEYS must be positive\n");
        return 2;
    }
    char url[512], path[480];
    snprintf(path, sizeof path, "%s/ledger-bench.db", argv[1]);
    remove(path);
    snprintf(url, sizeof url, "sqlite://%s", path);
    cmx_error err;
    cmx_store *s = cmx_store_open(url, &err);
    if (!s) {
        fprintf(stderr, "cannot open the store: %s\n", err.message);
        return 1;
    }
    cmx_ledger_row *rows = malloc((size_t)batch * sizeof *rows);
    double t = now_s();
    for (long i = 0; i < n; i += batch) {
        long m = n - i < batch ? n - i : batch;
        for (long j = 0; j < m; j++)
            make_row(&rows[j], i + j, n);
        if (cmx_store_write_ledger(s, rows, (size_t)m, "bench", &err) != CMX_OK) {
            fprintf(stderr, "write failed: %s\n", err.message);
            return 1;
        }
    }
    double insert_s = now_s() - t;
    free(rows);
    printf("wrote %ld ledger rows in %.1f s (%.0f rows/s, batches of %ld over %d keys, each "
           "with its roll-ups)\n",
           n, insert_s, (double)n / insert_s, batch, n_keys);
    cmx_store_close(s);
    /* Reopen: reports start from a fresh connection and cache. */
    s = cmx_store_open(url, &err);
    cmx_sql *db = cmx_sql_open(url, &err);
    long rollup_rows = 0, daily_rows = 0;
    cmx_sql_exec(db, "SELECT 1 FROM cmx_rollup_hourly", NULL, 0, count_row, &rollup_rows, &err);
    cmx_sql_exec(db, "SELECT 1 FROM cmx_rollup_daily", NULL, 0, count_row, &daily_rows, &err);
    printf("roll-up rows: %ld hourly, %ld daily\nreports from the roll-ups (30 days):\n",
           rollup_rows, daily_rows);
    cmx_spend_query q = {.from_ms = T0, .to_ms = T0 + DAYS * 86400000LL};
    double worst = time_report(s, "total", &q);
    q.by[0] = CMX_DIM_DAY;
    q.by[1] = CMX_DIM_PROVIDER;
    q.n_by = 2;
    double r2 = time_report(s, "--by day,provider", &q);
    q.by[0] = CMX_DIM_KEY;
    q.n_by = 1;
    q.top = 10;
    double r3 = time_report(s, "--by key --top 10", &q);
    q.by[0] = CMX_DIM_TEAM;
    q.by[1] = CMX_DIM_GROUP;
    q.by[2] = CMX_DIM_MODEL;
    q.n_by = 3;
    q.top = 0;
    double r4 = time_report(s, "--by team,group,model", &q);
    worst = worst > r2 ? worst : r2;
    worst = worst > r3 ? worst : r3;
    worst = worst > r4 ? worst : r4;
    /* The same question of the raw rows, for scale. */
    t = now_s();
    long lines = 0;
    cmx_sql_exec(db,
                 "SELECT ts_ms / 86400000, provider, SUM(cost_usd), COUNT(*) FROM cmx_ledger "
                 "GROUP BY 1, 2",
                 NULL, 0, count_row, &lines, &err);
    double raw_ms = (now_s() - t) * 1000;
    printf("the day,provider report from the raw rows instead: %ld lines in %.0f ms\n", lines,
           raw_ms);
    printf("LEDGER rows=%ld hourly_rows=%ld daily_rows=%ld insert_s=%.1f report_ms_max=%.1f "
           "raw_ms=%.0f\n",
           n, rollup_rows, daily_rows, insert_s, worst, raw_ms);
    cmx_sql_close(db);
    cmx_store_close(s);
    remove(path);
    char wal[520];
    snprintf(wal, sizeof wal, "%s-wal", path);
    remove(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    remove(wal);
    return 0;
}
