/* store_schema.c — the store's tables, created when missing.
 *
 * One schema for both databases; the two spellings that differ (an
 * auto-numbered key, a double) are filled in per dialect.  The roll-ups are
 * keyed by hour and by every dimension a report groups on; the raw rows
 * also name the replica that wrote them.  Dimensions that a row lacks are '' in the roll-ups (a key
 * column cannot be NULL) and NULL in the raw rows.
 *
 * Roll-ups come in two grains: hourly, and daily for reports over whole days
 * (a month is 30 daily rows per combination instead of 720).
 *
 * The raw rows have no index but their id: rows are appended in time order,
 * so the id order is the time order, and pruning finds its boundary by a
 * binary search over ids (store_ledger.c).  (PostgreSQL stores made before
 * may still carry a time index; see cmx_store_migrate.)
 *
 * PostgreSQL replicas may start together: the tables are created under an
 * advisory lock so two CREATE TABLE IF NOT EXISTS cannot race. */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define PG_SCHEMA_LOCK 7213490061

/* A roll-up table's columns after its time: the dimensions, then the sums.
 * Keyed by time first, and on SQLite stored in key order (WITHOUT ROWID), so
 * a report's time range is one sequential read. */
#define ROLLUP(time)                                                                               \
    " key_id TEXT NOT NULL, team_id TEXT NOT NULL, model_group TEXT NOT NULL,"                     \
    " provider TEXT NOT NULL, model TEXT NOT NULL, requests BIGINT NOT NULL,"                      \
    " errors BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,"   \
    " cached_tokens BIGINT NOT NULL, cost_usd @REAL@ NOT NULL, unpriced BIGINT NOT NULL,"          \
    " estimated BIGINT NOT NULL, latency_ms BIGINT NOT NULL,"                                      \
    " PRIMARY KEY (" time ", key_id, team_id, model_group, provider, model))@NOROWID@"

static const char *const tables[] = {
    "CREATE TABLE IF NOT EXISTS cmx_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cmx_teams ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, models TEXT,"
    " rpm BIGINT NOT NULL DEFAULT 0, tpm BIGINT NOT NULL DEFAULT 0,"
    " max_parallel BIGINT NOT NULL DEFAULT 0,"
    " budget_usd @REAL@, budget_period TEXT, budget_start BIGINT, budget_warn_at @REAL@,"
    " tags TEXT, disabled INTEGER NOT NULL DEFAULT 0,"
    " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cmx_keys ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, team_id TEXT, models TEXT,"
    " rpm BIGINT NOT NULL DEFAULT 0, tpm BIGINT NOT NULL DEFAULT 0,"
    " max_parallel BIGINT NOT NULL DEFAULT 0,"
    " budget_usd @REAL@, budget_period TEXT, budget_start BIGINT, budget_warn_at @REAL@,"
    " expires_ms BIGINT NOT NULL DEFAULT 0, revoked_ms BIGINT NOT NULL DEFAULT 0,"
    " residency TEXT, disabled INTEGER NOT NULL DEFAULT 0, tags TEXT, hint TEXT,"
    " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cmx_key_secrets ("
    " digest TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
    " created_ms BIGINT NOT NULL, not_after_ms BIGINT NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS cmx_key_secrets_key ON cmx_key_secrets (key_id)",
    "CREATE TABLE IF NOT EXISTS cmx_ledger ("
    " id @ID@, ts_ms BIGINT NOT NULL, request_id TEXT, key_id TEXT, team_id TEXT,"
    " model_group TEXT, provider TEXT, model TEXT, status INTEGER NOT NULL,"
    " error TEXT, attempts INTEGER NOT NULL, prompt_tokens BIGINT, completion_tokens BIGINT,"
    " cached_tokens BIGINT, cost_usd @REAL@, latency_ms BIGINT NOT NULL,"
    " cache_hit INTEGER NOT NULL, estimated INTEGER NOT NULL, replica TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cmx_rollup_hourly (hour_ms BIGINT NOT NULL," ROLLUP("hour_ms"),
    "CREATE TABLE IF NOT EXISTS cmx_rollup_daily (day_ms BIGINT NOT NULL," ROLLUP("day_ms"),
    "INSERT INTO cmx_meta (name, value) VALUES ('changes', 0) ON CONFLICT (name) DO NOTHING",
};

/* Fills @ID@, @REAL@ and @NOROWID@ in for the dialect. */
static void spell(const char *in, cmx_sql_dialect d, char *out, size_t cap)
{
    const char *id = d == CMX_SQL_POSTGRES ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY";
    const char *real = d == CMX_SQL_POSTGRES ? "DOUBLE PRECISION" : "REAL";
    const char *norowid = d == CMX_SQL_POSTGRES ? "" : " WITHOUT ROWID";
    size_t n = 0;
    while (*in && n + 32 < cap) {
        const char *word = NULL;
        if (strncmp(in, "@ID@", 4) == 0) {
            word = id;
            in += 4;
        } else if (strncmp(in, "@REAL@", 6) == 0) {
            word = real;
            in += 6;
        } else if (strncmp(in, "@NOROWID@", 9) == 0) {
            word = norowid;
            in += 9;
        }
        if (word) {
            size_t w = strlen(word);
            if (n + w + 1 >= cap)
                break;
            memcpy(out + n, word, w);
            n += w;
        } else {
            out[n++] = *in++;
        }
    }
    out[n] = '\0';
}

static int read_version(void *ctx, const cmx_sql_row *row)
{
    *(int64_t *)ctx = cmx_sql_row_int(row, 0);
    return 1;
}

cmx_err cmx_store_migrate(cmx_store *s, cmx_error *err)
{
    cmx_sql_dialect d = cmx_sql_dialect_of(s->db);
    if (cmx_sql_begin(s->db, 1, err) != CMX_OK)
        return err->kind;
    if (d == CMX_SQL_POSTGRES) {
        cmx_sql_value lock = cmx_sql_int(PG_SCHEMA_LOCK);
        if (cmx_sql_exec(s->db, "SELECT pg_advisory_xact_lock($1)", &lock, 1, NULL, NULL, err))
            goto fail;
    }
    char sql[2048];
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        spell(tables[i], d, sql, sizeof sql);
        if (cmx_sql_exec(s->db, sql, NULL, 0, NULL, NULL, err) != CMX_OK)
            goto fail;
    }
    /* Raw rows are found by time through their ids (see store_ledger.c): an
     * index on ts_ms cost a second B-tree insert per row.  An embedded
     * store made before has it, and loses it here.  A shared PostgreSQL
     * store keeps it: dropping it takes a lock that would hold every
     * replica's inserts behind any long query, and a replica still on an
     * older version would build it again; docs/governance.md says how to
     * drop it once every replica is upgraded.  Either way it changes no
     * result. */
    if (d == CMX_SQL_SQLITE && cmx_sql_exec(s->db, "DROP INDEX IF EXISTS cmx_ledger_ts", NULL, 0,
                                            NULL, NULL, err) != CMX_OK)
        goto fail;
    int64_t version = 0;
    if (cmx_sql_exec(s->db, "SELECT value FROM cmx_meta WHERE name = 'schema'", NULL, 0,
                     read_version, &version, err) != CMX_OK)
        goto fail;
    if (version > SCHEMA_VERSION) {
        cmx_error_set(err, CMX_ERR_CONFIG,
                      "the store was written by a newer cloudmux (schema %lld, this one knows "
                      "%d): upgrade this binary",
                      (long long)version, SCHEMA_VERSION);
        goto fail;
    }
    cmx_sql_value v = cmx_sql_int(SCHEMA_VERSION);
    if (cmx_sql_exec(s->db,
                     "INSERT INTO cmx_meta (name, value) VALUES ('schema', $1) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                     &v, 1, NULL, NULL, err) != CMX_OK)
        goto fail;
    return cmx_sql_commit(s->db, err);
fail:
    cmx_sql_rollback(s->db);
    return err->kind;
}
