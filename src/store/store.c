/* store.c — opening the store, and keys, teams and their secrets.
 *
 * Records are read and written whole; the caller (governance/) merges an
 * update into the record it read.  Every write bumps the change counter in
 * its own transaction, which is how the other workers' and replicas' key
 * tables learn that they must reload. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_COLUMNS                                                                                \
    "id, name, team_id, models, rpm, tpm, max_parallel, budget_usd, budget_period, "               \
    "budget_start, budget_warn_at, expires_ms, revoked_ms, residency, disabled, tags, hint, "      \
    "created_ms, updated_ms"
#define TEAM_COLUMNS                                                                               \
    "id, name, models, rpm, tpm, max_parallel, budget_usd, budget_period, budget_start, "          \
    "budget_warn_at, tags, disabled, created_ms, updated_ms"

cmx_store *cmx_store_open(const char *url, cmx_error *err)
{
    cmx_store *s = calloc(1, sizeof *s);
    if (!s) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->db = cmx_sql_open(url, err);
    if (!s->db || cmx_store_migrate(s, err) != CMX_OK) {
        cmx_store_close(s);
        return NULL;
    }
    return s;
}

void cmx_store_close(cmx_store *s)
{
    if (!s)
        return;
    cmx_sql_close(s->db);
    for (int i = 0; i < CMX_LEDGER_CHUNK_SHAPES; i++)
        free(s->ledger_insert[i]);
    free(s);
}

const char *cmx_store_kind(const cmx_store *s)
{
    return cmx_sql_dialect_of(s->db) == CMX_SQL_POSTGRES ? "postgres" : "sqlite";
}

static int read_int(void *ctx, const cmx_sql_row *row)
{
    *(int64_t *)ctx = cmx_sql_row_int(row, 0);
    return 1;
}

cmx_err cmx_store_changes(cmx_store *s, int64_t *out, cmx_error *err)
{
    *out = 0;
    return cmx_sql_exec(s->db, "SELECT value FROM cmx_meta WHERE name = 'changes'", NULL, 0,
                        read_int, out, err);
}

cmx_err cmx_store_bump_changes(cmx_store *s, cmx_error *err)
{
    return cmx_sql_exec(s->db, "UPDATE cmx_meta SET value = value + 1 WHERE name = 'changes'", NULL,
                        0, NULL, NULL, err);
}

/* ---- records <-> rows ---------------------------------------------------- */

static char *dup_text(const cmx_sql_row *row, int col, int *oom)
{
    const char *t = cmx_sql_row_text(row, col);
    if (!t)
        return NULL;
    char *c = strdup(t);
    if (!c)
        *oom = 1;
    return c;
}

static void read_budget(const cmx_sql_row *row, int col, cmx_budget_rec *b)
{
    memset(b, 0, sizeof *b);
    b->set = !cmx_sql_row_is_null(row, col);
    if (!b->set)
        return;
    b->usd = cmx_sql_row_real(row, col);
    const char *p = cmx_sql_row_text(row, col + 1);
    snprintf(b->period, sizeof b->period, "%s", p ? p : "total");
    b->start_ms = cmx_sql_row_int(row, col + 2);
    b->warn_at = cmx_sql_row_real(row, col + 3);
}

static void read_limits(const cmx_sql_row *row, int col, cmx_limits_rec *l)
{
    l->rpm = cmx_sql_row_int(row, col);
    l->tpm = cmx_sql_row_int(row, col + 1);
    l->max_parallel = cmx_sql_row_int(row, col + 2);
}

static int row_to_key(const cmx_sql_row *row, cmx_key_rec *k)
{
    int oom = 0;
    memset(k, 0, sizeof *k);
    k->id = dup_text(row, 0, &oom);
    k->name = dup_text(row, 1, &oom);
    k->team_id = dup_text(row, 2, &oom);
    k->models_json = dup_text(row, 3, &oom);
    read_limits(row, 4, &k->limits);
    read_budget(row, 7, &k->budget);
    k->expires_ms = cmx_sql_row_int(row, 11);
    k->revoked_ms = cmx_sql_row_int(row, 12);
    k->residency = dup_text(row, 13, &oom);
    k->disabled = (int)cmx_sql_row_int(row, 14);
    k->tags_json = dup_text(row, 15, &oom);
    k->hint = dup_text(row, 16, &oom);
    k->created_ms = cmx_sql_row_int(row, 17);
    k->updated_ms = cmx_sql_row_int(row, 18);
    return oom || !k->id || !k->name ? -1 : 0;
}

static int row_to_team(const cmx_sql_row *row, cmx_team_rec *t)
{
    int oom = 0;
    memset(t, 0, sizeof *t);
    t->id = dup_text(row, 0, &oom);
    t->name = dup_text(row, 1, &oom);
    t->models_json = dup_text(row, 2, &oom);
    read_limits(row, 3, &t->limits);
    read_budget(row, 6, &t->budget);
    t->tags_json = dup_text(row, 10, &oom);
    t->disabled = (int)cmx_sql_row_int(row, 11);
    t->created_ms = cmx_sql_row_int(row, 12);
    t->updated_ms = cmx_sql_row_int(row, 13);
    return oom || !t->id || !t->name ? -1 : 0;
}

/* Budget and limit parameters, in the column order above. */
static void budget_params(const cmx_budget_rec *b, cmx_sql_value *p)
{
    p[0] = b->set ? cmx_sql_real(b->usd) : cmx_sql_null();
    p[1] = b->set ? cmx_sql_text(b->period) : cmx_sql_null();
    p[2] = b->set ? cmx_sql_int(b->start_ms) : cmx_sql_null();
    p[3] = b->set ? cmx_sql_real(b->warn_at) : cmx_sql_null();
}

static void limit_params(const cmx_limits_rec *l, cmx_sql_value *p)
{
    p[0] = cmx_sql_int(l->rpm);
    p[1] = cmx_sql_int(l->tpm);
    p[2] = cmx_sql_int(l->max_parallel);
}

#define N_KEY_PARAMS 19
static void key_params(const cmx_key_rec *k, cmx_sql_value p[N_KEY_PARAMS])
{
    p[0] = cmx_sql_text(k->id);
    p[1] = cmx_sql_text(k->name);
    p[2] = cmx_sql_text(k->team_id);
    p[3] = cmx_sql_text(k->models_json);
    limit_params(&k->limits, p + 4);
    budget_params(&k->budget, p + 7);
    p[11] = cmx_sql_int(k->expires_ms);
    p[12] = cmx_sql_int(k->revoked_ms);
    p[13] = cmx_sql_text(k->residency);
    p[14] = cmx_sql_int(k->disabled);
    p[15] = cmx_sql_text(k->tags_json);
    p[16] = cmx_sql_text(k->hint);
    p[17] = cmx_sql_int(k->created_ms);
    p[18] = cmx_sql_int(k->updated_ms);
}

#define N_TEAM_PARAMS 14
static void team_params(const cmx_team_rec *t, cmx_sql_value p[N_TEAM_PARAMS])
{
    p[0] = cmx_sql_text(t->id);
    p[1] = cmx_sql_text(t->name);
    p[2] = cmx_sql_text(t->models_json);
    limit_params(&t->limits, p + 3);
    budget_params(&t->budget, p + 6);
    p[10] = cmx_sql_text(t->tags_json);
    p[11] = cmx_sql_int(t->disabled);
    p[12] = cmx_sql_int(t->created_ms);
    p[13] = cmx_sql_int(t->updated_ms);
}

void cmx_team_rec_free(cmx_team_rec *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->name);
    free(t->models_json);
    free(t->tags_json);
    memset(t, 0, sizeof *t);
}

void cmx_key_rec_free(cmx_key_rec *k)
{
    if (!k)
        return;
    free(k->id);
    free(k->name);
    free(k->team_id);
    free(k->models_json);
    free(k->residency);
    free(k->tags_json);
    free(k->hint);
    memset(k, 0, sizeof *k);
}

void cmx_store_snapshot_free(cmx_store_snapshot *snap)
{
    for (size_t i = 0; i < snap->n_teams; i++)
        cmx_team_rec_free(&snap->teams[i]);
    for (size_t i = 0; i < snap->n_keys; i++)
        cmx_key_rec_free(&snap->keys[i]);
    for (size_t i = 0; i < snap->n_secrets; i++)
        free(snap->secrets[i].key_id);
    free(snap->teams);
    free(snap->keys);
    free(snap->secrets);
    memset(snap, 0, sizeof *snap);
}

/* ---- loading ------------------------------------------------------------- */

/* A growing array of records filled by a row callback. */
typedef struct collect {
    void *items;
    size_t n, cap, size;
    int (*convert)(const cmx_sql_row *row, void *item);
    int failed;
} collect;

static int collect_row(void *ctx, const cmx_sql_row *row)
{
    collect *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        void *more = realloc(c->items, cap * c->size);
        if (!more) {
            c->failed = 1;
            return 1;
        }
        c->items = more;
        c->cap = cap;
    }
    void *item = (char *)c->items + c->n * c->size;
    memset(item, 0, c->size);
    c->n++; /* counted even when half-filled, so the free routine sees it */
    if (c->convert(row, item) != 0) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

static int convert_key(const cmx_sql_row *row, void *item)
{
    return row_to_key(row, item);
}

static int convert_team(const cmx_sql_row *row, void *item)
{
    return row_to_team(row, item);
}

static int convert_secret(const cmx_sql_row *row, void *item)
{
    cmx_secret_rec *s = item;
    const char *id = cmx_sql_row_text(row, 0);
    const char *digest = cmx_sql_row_text(row, 1);
    s->key_id = id ? strdup(id) : NULL;
    snprintf(s->digest, sizeof s->digest, "%s", digest ? digest : "");
    s->created_ms = cmx_sql_row_int(row, 2);
    s->not_after_ms = cmx_sql_row_int(row, 3);
    return s->key_id ? 0 : -1;
}

cmx_err cmx_store_load(cmx_store *s, cmx_store_snapshot *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    collect teams = {NULL, 0, 0, sizeof(cmx_team_rec), convert_team, 0};
    collect keys = {NULL, 0, 0, sizeof(cmx_key_rec), convert_key, 0};
    collect secrets = {NULL, 0, 0, sizeof(cmx_secret_rec), convert_secret, 0};
    /* One read transaction: the three tables as of one moment. */
    cmx_err rc = cmx_sql_begin(s->db, 0, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db, "SELECT " TEAM_COLUMNS " FROM cmx_teams ORDER BY id", NULL, 0,
                          collect_row, &teams, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db, "SELECT " KEY_COLUMNS " FROM cmx_keys ORDER BY id", NULL, 0,
                          collect_row, &keys, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db,
                          "SELECT key_id, digest, created_ms, not_after_ms FROM cmx_key_secrets "
                          "ORDER BY key_id, created_ms",
                          NULL, 0, collect_row, &secrets, err);
    if (rc == CMX_OK)
        rc = cmx_sql_commit(s->db, err);
    else
        cmx_sql_rollback(s->db);
    out->teams = teams.items;
    out->n_teams = teams.n;
    out->keys = keys.items;
    out->n_keys = keys.n;
    out->secrets = secrets.items;
    out->n_secrets = secrets.n;
    if (rc == CMX_OK && (teams.failed || keys.failed || secrets.failed))
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while loading keys");
    if (rc != CMX_OK)
        cmx_store_snapshot_free(out);
    return rc;
}

typedef struct get_one {
    void *item;
    int (*convert)(const cmx_sql_row *row, void *item);
    int found, failed;
} get_one;

static int get_one_row(void *ctx, const cmx_sql_row *row)
{
    get_one *g = ctx;
    g->found = 1;
    g->failed = g->convert(row, g->item) != 0;
    return 1;
}

static cmx_err get_record(cmx_store *s, const char *sql, const char *id, const char *what,
                          get_one *g, cmx_error *err)
{
    cmx_sql_value p = cmx_sql_text(id);
    if (cmx_sql_exec(s->db, sql, &p, 1, get_one_row, g, err) != CMX_OK)
        return err->kind;
    if (g->failed)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (!g->found)
        return cmx_error_set(err, CMX_ERR_NOT_FOUND, "no %s with id '%.64s'", what, id);
    return CMX_OK;
}

cmx_err cmx_store_get_team(cmx_store *s, const char *id, cmx_team_rec *out, cmx_error *err)
{
    get_one g = {out, convert_team, 0, 0};
    memset(out, 0, sizeof *out);
    cmx_err rc =
        get_record(s, "SELECT " TEAM_COLUMNS " FROM cmx_teams WHERE id = $1", id, "team", &g, err);
    if (rc != CMX_OK)
        cmx_team_rec_free(out);
    return rc;
}

cmx_err cmx_store_get_key(cmx_store *s, const char *id, cmx_key_rec *out, cmx_error *err)
{
    get_one g = {out, convert_key, 0, 0};
    memset(out, 0, sizeof *out);
    cmx_err rc =
        get_record(s, "SELECT " KEY_COLUMNS " FROM cmx_keys WHERE id = $1", id, "key", &g, err);
    if (rc != CMX_OK)
        cmx_key_rec_free(out);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

/* Runs `sql` with params in a write transaction that also bumps the change
 * counter.  expect_change: an UPDATE that touched nothing means NOT_FOUND. */
static cmx_err write_txn(cmx_store *s, const char *sql, const cmx_sql_value *p, size_t n,
                         int expect_change, const char *what, const char *id, cmx_error *err)
{
    if (cmx_sql_begin(s->db, 1, err) != CMX_OK)
        return err->kind;
    cmx_err rc = cmx_sql_exec(s->db, sql, p, n, NULL, NULL, err);
    if (rc == CMX_OK && expect_change && cmx_sql_changes(s->db) == 0)
        rc = cmx_error_set(err, CMX_ERR_NOT_FOUND, "no %s with id '%.64s'", what, id);
    if (rc == CMX_OK)
        rc = cmx_store_bump_changes(s, err);
    if (rc == CMX_OK)
        rc = cmx_sql_commit(s->db, err);
    if (rc != CMX_OK)
        cmx_sql_rollback(s->db);
    return rc;
}

static int exists(cmx_store *s, const char *sql, const char *id, cmx_error *err)
{
    int64_t n = 0;
    cmx_sql_value p = cmx_sql_text(id);
    if (cmx_sql_exec(s->db, sql, &p, 1, read_int, &n, err) != CMX_OK)
        return -1;
    return n > 0;
}

cmx_err cmx_store_create_team(cmx_store *s, const cmx_team_rec *t, cmx_error *err)
{
    int e = exists(s, "SELECT COUNT(*) FROM cmx_teams WHERE id = $1", t->id, err);
    if (e < 0)
        return err->kind;
    if (e)
        return cmx_error_set(err, CMX_ERR_CONFLICT, "a team with id '%.64s' exists already", t->id);
    cmx_sql_value p[N_TEAM_PARAMS];
    team_params(t, p);
    return write_txn(s,
                     "INSERT INTO cmx_teams (" TEAM_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, "
                     "$7, $8, $9, $10, $11, $12, $13, $14)",
                     p, N_TEAM_PARAMS, 0, "team", t->id, err);
}

cmx_err cmx_store_update_team(cmx_store *s, const cmx_team_rec *t, cmx_error *err)
{
    cmx_sql_value p[N_TEAM_PARAMS];
    team_params(t, p);
    return write_txn(s,
                     "UPDATE cmx_teams SET name = $2, models = $3, rpm = $4, tpm = $5, "
                     "max_parallel = $6, budget_usd = $7, budget_period = $8, budget_start = $9, "
                     "budget_warn_at = $10, tags = $11, disabled = $12, created_ms = $13, "
                     "updated_ms = $14 WHERE id = $1",
                     p, N_TEAM_PARAMS, 1, "team", t->id, err);
}

cmx_err cmx_store_create_key(cmx_store *s, const cmx_key_rec *k, const char *digest_hex,
                             cmx_error *err)
{
    int e = exists(s, "SELECT COUNT(*) FROM cmx_keys WHERE id = $1", k->id, err);
    if (e < 0)
        return err->kind;
    if (e)
        return cmx_error_set(err, CMX_ERR_CONFLICT, "a key with id '%.64s' exists already", k->id);
    cmx_sql_value p[N_KEY_PARAMS];
    key_params(k, p);
    if (cmx_sql_begin(s->db, 1, err) != CMX_OK)
        return err->kind;
    cmx_sql_value sp[3] = {cmx_sql_text(digest_hex), cmx_sql_text(k->id),
                           cmx_sql_int(k->created_ms)};
    cmx_err rc = cmx_sql_exec(s->db,
                              "INSERT INTO cmx_keys (" KEY_COLUMNS
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                              "$14, $15, $16, $17, $18, $19)",
                              p, N_KEY_PARAMS, NULL, NULL, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db,
                          "INSERT INTO cmx_key_secrets (digest, key_id, created_ms) "
                          "VALUES ($1, $2, $3)",
                          sp, 3, NULL, NULL, err);
    if (rc == CMX_OK)
        rc = cmx_store_bump_changes(s, err);
    if (rc == CMX_OK)
        rc = cmx_sql_commit(s->db, err);
    if (rc != CMX_OK)
        cmx_sql_rollback(s->db);
    return rc;
}

cmx_err cmx_store_update_key(cmx_store *s, const cmx_key_rec *k, cmx_error *err)
{
    cmx_sql_value p[N_KEY_PARAMS];
    key_params(k, p);
    return write_txn(s,
                     "UPDATE cmx_keys SET name = $2, team_id = $3, models = $4, rpm = $5, "
                     "tpm = $6, max_parallel = $7, budget_usd = $8, budget_period = $9, "
                     "budget_start = $10, budget_warn_at = $11, expires_ms = $12, "
                     "revoked_ms = $13, residency = $14, disabled = $15, tags = $16, hint = $17, "
                     "created_ms = $18, updated_ms = $19 WHERE id = $1",
                     p, N_KEY_PARAMS, 1, "key", k->id, err);
}

cmx_err cmx_store_rotate_key(cmx_store *s, const char *id, const char *digest_hex, const char *hint,
                             int64_t now_ms, int64_t old_not_after_ms, cmx_error *err)
{
    /* PostgreSQL wants exactly the parameters a statement uses, in order. */
    cmx_sql_value touch[3] = {cmx_sql_text(id), cmx_sql_text(hint), cmx_sql_int(now_ms)};
    cmx_sql_value prune[2] = {cmx_sql_text(id), cmx_sql_int(now_ms)};
    cmx_sql_value end[2] = {cmx_sql_text(id), cmx_sql_int(old_not_after_ms)};
    cmx_sql_value add[3] = {cmx_sql_text(digest_hex), cmx_sql_text(id), cmx_sql_int(now_ms)};
    if (cmx_sql_begin(s->db, 1, err) != CMX_OK)
        return err->kind;
    cmx_err rc = cmx_sql_exec(s->db, "UPDATE cmx_keys SET hint = $2, updated_ms = $3 WHERE id = $1",
                              touch, 3, NULL, NULL, err);
    if (rc == CMX_OK && cmx_sql_changes(s->db) == 0)
        rc = cmx_error_set(err, CMX_ERR_NOT_FOUND, "no key with id '%.64s'", id);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db,
                          "DELETE FROM cmx_key_secrets WHERE key_id = $1 AND not_after_ms <> 0 "
                          "AND not_after_ms <= $2",
                          prune, 2, NULL, NULL, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db,
                          "UPDATE cmx_key_secrets SET not_after_ms = $2 WHERE key_id = $1 AND "
                          "(not_after_ms = 0 OR not_after_ms > $2)",
                          end, 2, NULL, NULL, err);
    if (rc == CMX_OK)
        rc = cmx_sql_exec(s->db,
                          "INSERT INTO cmx_key_secrets (digest, key_id, created_ms) "
                          "VALUES ($1, $2, $3)",
                          add, 3, NULL, NULL, err);
    if (rc == CMX_OK)
        rc = cmx_store_bump_changes(s, err);
    if (rc == CMX_OK)
        rc = cmx_sql_commit(s->db, err);
    if (rc != CMX_OK)
        cmx_sql_rollback(s->db);
    return rc;
}
