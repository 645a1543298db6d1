/* store_ledger.c — the spend ledger: raw rows, hourly roll-ups, pruning,
 * and the spend sums budgets are rebuilt from.
 *
 * A batch is written as multi-row INSERTs (chunks of 64, 32, ... 1 rows, so
 * only seven statement shapes are ever prepared), and its rows are summed
 * per roll-up cell in memory first, so a batch of a thousand requests for a
 * handful of keys touches a handful of roll-up rows.  Both go in one
 * transaction: the roll-ups are exactly the sum of the raw rows, always. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define LEDGER_COLUMNS 18
#define MAX_CHUNK 64

/* The longest each string may be; their sum (with NULs) fits in the row. */
static const uint16_t string_max[CMX_LEDGER__STRINGS] = {128, 64, 64, 64, 64, 128, 32};

void cmx_ledger_row_set_strings(cmx_ledger_row *row, const char *const strings[CMX_LEDGER__STRINGS])
{
    size_t at = 0;
    for (int i = 0; i < CMX_LEDGER__STRINGS; i++) {
        const char *s = strings[i] ? strings[i] : "";
        size_t n = strnlen(s, string_max[i]);
        if (at + n + 1 > sizeof row->text)
            n = sizeof row->text - at - 1;
        memcpy(row->text + at, s, n);
        row->text[at + n] = '\0';
        row->offsets[i] = (uint16_t)at;
        at += n + 1;
    }
}

const char *cmx_ledger_row_string(const cmx_ledger_row *row, cmx_ledger_string which)
{
    const char *s = row->text + row->offsets[which];
    return *s ? s : NULL;
}

static int64_t known(int64_t v)
{
    return v > 0 ? v : 0;
}

/* ---- roll-up cells --------------------------------------------------------- */

typedef struct cell {
    int64_t time_ms;     /* hour or day */
    const char *dims[5]; /* key, team, group, provider, model: '' for none */
    const char *span;    /* the five as a row holds them, each ending in its NUL */
    size_t span_len;
    cmx_spend_totals t;
    int64_t latency_ms;
} cell;

/* A row's roll-up dimensions are one run of its packed strings. */
_Static_assert(CMX_LEDGER_TEAM == CMX_LEDGER_KEY + 1 && CMX_LEDGER_GROUP == CMX_LEDGER_KEY + 2 &&
                   CMX_LEDGER_PROVIDER == CMX_LEDGER_KEY + 3 &&
                   CMX_LEDGER_MODEL == CMX_LEDGER_KEY + 4 && CMX_LEDGER_ERROR == CMX_LEDGER_KEY + 5,
               "the roll-up dimensions follow each other in a ledger row");

/* Cells of one grain, found through an open-addressing table of n_slots (a
 * power of two, at least twice the cells there can be). */
typedef struct cell_table {
    cell *cells;
    size_t n;
    uint32_t *slots;
    size_t n_slots;
} cell_table;

/* FNV-style, eight bytes a step. */
static uint64_t cell_hash(int64_t time_ms, const char *span, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)time_ms;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, span + i, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ (unsigned char)span[i]) * 1099511628211ULL;
    return h ^ (h >> 32);
}

/* The cell of (time, span); *made tells whether it is new (its dims then
 * still to be filled in). */
static cell *cell_for(cell_table *t, int64_t time_ms, const char *span, size_t len, int *made)
{
    size_t mask = t->n_slots - 1, at = (size_t)cell_hash(time_ms, span, len) & mask;
    for (; t->slots[at]; at = (at + 1) & mask) {
        cell *c = &t->cells[t->slots[at] - 1];
        if (c->time_ms == time_ms && c->span_len == len && memcmp(c->span, span, len) == 0) {
            *made = 0;
            return c;
        }
    }
    cell *c = &t->cells[t->n];
    memset(c, 0, sizeof *c);
    c->time_ms = time_ms;
    c->span = span;
    c->span_len = len;
    t->slots[at] = (uint32_t)++t->n;
    *made = 1;
    return c;
}

/* Sums rows into hourly cells. */
static void sum_rows(const cmx_ledger_row *rows, size_t n, cell_table *hours)
{
    hours->n = 0;
    memset(hours->slots, 0, hours->n_slots * sizeof *hours->slots);
    for (size_t i = 0; i < n; i++) {
        const cmx_ledger_row *r = &rows[i];
        const char *span = r->text + r->offsets[CMX_LEDGER_KEY];
        size_t len = (size_t)(r->offsets[CMX_LEDGER_ERROR] - r->offsets[CMX_LEDGER_KEY]);
        int made;
        cell *c = cell_for(hours, r->ts_ms - r->ts_ms % HOUR_MS, span, len, &made);
        if (made) {
            /* The span's strings, '' for none. */
            for (int d = 0; d < 5; d++)
                c->dims[d] = r->text + r->offsets[CMX_LEDGER_KEY + d];
        }
        cmx_spend_totals *t = &c->t;
        t->requests++;
        t->errors += r->status >= 400 || cmx_ledger_row_string(r, CMX_LEDGER_ERROR) != NULL;
        t->prompt_tokens += known(r->prompt_tokens);
        t->completion_tokens += known(r->completion_tokens);
        t->cached_tokens += known(r->cached_tokens);
        if (r->cost_usd >= 0)
            t->cost_usd += r->cost_usd;
        else
            t->unpriced++;
        t->estimated += r->estimated != 0;
        c->latency_ms += r->latency_ms;
    }
}

/* Sums hourly cells into daily ones: far fewer than the rows. */
static void sum_days(const cell_table *hours, cell_table *days)
{
    days->n = 0;
    memset(days->slots, 0, days->n_slots * sizeof *days->slots);
    for (size_t i = 0; i < hours->n; i++) {
        const cell *h = &hours->cells[i];
        int made;
        cell *c = cell_for(days, h->time_ms - h->time_ms % DAY_MS, h->span, h->span_len, &made);
        if (made)
            memcpy(c->dims, h->dims, sizeof c->dims);
        c->t.requests += h->t.requests;
        c->t.errors += h->t.errors;
        c->t.prompt_tokens += h->t.prompt_tokens;
        c->t.completion_tokens += h->t.completion_tokens;
        c->t.cached_tokens += h->t.cached_tokens;
        c->t.cost_usd += h->t.cost_usd;
        c->t.unpriced += h->t.unpriced;
        c->t.estimated += h->t.estimated;
        c->latency_ms += h->latency_ms;
    }
}

/* INSERT ... ON CONFLICT DO UPDATE adding to the cell, for one table. */
#define UPSERT(table, time)                                                                        \
    "INSERT INTO " table " (" time ", key_id, team_id, model_group, provider, model, requests, "   \
    "errors, prompt_tokens, completion_tokens, cached_tokens, cost_usd, unpriced, estimated, "     \
    "latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "       \
    "ON CONFLICT (" time ", key_id, team_id, model_group, provider, model) DO UPDATE SET "         \
    "requests = " table ".requests + excluded.requests, "                                          \
    "errors = " table ".errors + excluded.errors, "                                                \
    "prompt_tokens = " table ".prompt_tokens + excluded.prompt_tokens, "                           \
    "completion_tokens = " table ".completion_tokens + excluded.completion_tokens, "               \
    "cached_tokens = " table ".cached_tokens + excluded.cached_tokens, "                           \
    "cost_usd = " table ".cost_usd + excluded.cost_usd, "                                          \
    "unpriced = " table ".unpriced + excluded.unpriced, "                                          \
    "estimated = " table ".estimated + excluded.estimated, "                                       \
    "latency_ms = " table ".latency_ms + excluded.latency_ms"

static cmx_err write_cells(cmx_store *s, const char *sql, const cell *cells, size_t n,
                           cmx_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const cell *c = &cells[i];
        cmx_sql_value p[15] = {
            cmx_sql_int(c->time_ms),         cmx_sql_text(c->dims[0]),
            cmx_sql_text(c->dims[1]),        cmx_sql_text(c->dims[2]),
            cmx_sql_text(c->dims[3]),        cmx_sql_text(c->dims[4]),
            cmx_sql_int(c->t.requests),      cmx_sql_int(c->t.errors),
            cmx_sql_int(c->t.prompt_tokens), cmx_sql_int(c->t.completion_tokens),
            cmx_sql_int(c->t.cached_tokens), cmx_sql_real(c->t.cost_usd),
            cmx_sql_int(c->t.unpriced),      cmx_sql_int(c->t.estimated),
            cmx_sql_int(c->latency_ms),
        };
        if (cmx_sql_exec(s->db, sql, p, 15, NULL, NULL, err) != CMX_OK)
            return err->kind;
    }
    return CMX_OK;
}

/* Both grains of roll-ups for a batch. */
static cmx_err write_rollups(cmx_store *s, const cmx_ledger_row *rows, size_t n, cmx_error *err)
{
    size_t n_slots = 16;
    while (n_slots < n * 2)
        n_slots *= 2;
    cell_table hours = {malloc(n * sizeof(cell)), 0, malloc(n_slots * sizeof(uint32_t)), n_slots};
    cell_table days = {malloc(n * sizeof(cell)), 0, malloc(n_slots * sizeof(uint32_t)), n_slots};
    cmx_err rc = CMX_OK;
    if (!hours.cells || !hours.slots || !days.cells || !days.slots) {
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    } else {
        sum_rows(rows, n, &hours);
        sum_days(&hours, &days);
        rc = write_cells(s, UPSERT("cmx_rollup_hourly", "hour_ms"), hours.cells, hours.n, err);
        if (rc == CMX_OK)
            rc = write_cells(s, UPSERT("cmx_rollup_daily", "day_ms"), days.cells, days.n, err);
    }
    free(hours.cells);
    free(hours.slots);
    free(days.cells);
    free(days.slots);
    return rc;
}

/* ---- raw rows -------------------------------------------------------------- */

/* On PostgreSQL each value is cast to its column's type: it types the
 * parameters of a multi-row VALUES list on their own, as text, before the
 * INSERT.  SQLite needs no cast (and is faster without). */
static const char *const column_type[LEDGER_COLUMNS] = {
    "BIGINT",  "TEXT",    "TEXT",    "TEXT",   "TEXT",   "TEXT",   "TEXT",
    "INTEGER", "TEXT",    "INTEGER", "BIGINT", "BIGINT", "BIGINT", "DOUBLE PRECISION",
    "BIGINT",  "INTEGER", "INTEGER", "TEXT"};

/* "INSERT INTO cmx_ledger (...) VALUES (CAST($1 AS BIGINT), ...), (...)" for n rows. */
static char *insert_sql(size_t n, int cast)
{
    static const char head[] =
        "INSERT INTO cmx_ledger (ts_ms, request_id, key_id, team_id, model_group, provider, "
        "model, status, error, attempts, prompt_tokens, completion_tokens, cached_tokens, "
        "cost_usd, latency_ms, cache_hit, estimated, replica) VALUES ";
    size_t cap = sizeof head + n * LEDGER_COLUMNS * 40 + n * 4;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t at = (size_t)snprintf(sql, cap, "%s", head);
    for (size_t r = 0; r < n; r++) {
        sql[at++] = r ? ',' : ' ';
        sql[at++] = '(';
        for (size_t c = 0; c < LEDGER_COLUMNS; c++)
            at += cast ? (size_t)snprintf(sql + at, cap - at, "%sCAST($%zu AS %s)", c ? "," : "",
                                          r * LEDGER_COLUMNS + c + 1, column_type[c])
                       : (size_t)snprintf(sql + at, cap - at, "%s$%zu", c ? "," : "",
                                          r * LEDGER_COLUMNS + c + 1);
        sql[at++] = ')';
    }
    sql[at] = '\0';
    return sql;
}

static cmx_sql_value tokens(int64_t v)
{
    return v >= 0 ? cmx_sql_int(v) : cmx_sql_null();
}

/* A row's string as a value, its length known from where the next begins. */
static cmx_sql_value row_text(const cmx_ledger_row *r, cmx_ledger_string which)
{
    const char *s = r->text + r->offsets[which];
    if (!*s)
        return cmx_sql_null();
    size_t len = which + 1 < CMX_LEDGER__STRINGS
                     ? (size_t)(r->offsets[which + 1] - r->offsets[which] - 1)
                     : strlen(s);
    return cmx_sql_text_len(s, len);
}

static void row_params(const cmx_ledger_row *r, cmx_sql_value replica, cmx_sql_value *p)
{
    p[0] = cmx_sql_int(r->ts_ms);
    p[1] = row_text(r, CMX_LEDGER_REQUEST_ID);
    p[2] = row_text(r, CMX_LEDGER_KEY);
    p[3] = row_text(r, CMX_LEDGER_TEAM);
    p[4] = row_text(r, CMX_LEDGER_GROUP);
    p[5] = row_text(r, CMX_LEDGER_PROVIDER);
    p[6] = row_text(r, CMX_LEDGER_MODEL);
    p[7] = cmx_sql_int(r->status);
    p[8] = row_text(r, CMX_LEDGER_ERROR);
    p[9] = cmx_sql_int(r->attempts);
    p[10] = tokens(r->prompt_tokens);
    p[11] = tokens(r->completion_tokens);
    p[12] = tokens(r->cached_tokens);
    p[13] = r->cost_usd >= 0 ? cmx_sql_real(r->cost_usd) : cmx_sql_null();
    p[14] = cmx_sql_int(r->latency_ms);
    p[15] = cmx_sql_int(r->cache_hit);
    p[16] = cmx_sql_int(r->estimated);
    p[17] = replica;
}

static cmx_err insert_rows(cmx_store *s, const cmx_ledger_row *rows, size_t n, const char *replica,
                           cmx_sql_value *params, cmx_error *err)
{
    cmx_sql_value rep = cmx_sql_text_len(replica, strlen(replica));
    size_t done = 0;
    while (done < n) {
        size_t chunk = MAX_CHUNK;
        int shape = 0;
        while (chunk > n - done) {
            chunk /= 2;
            shape++;
        }
        int cast = cmx_sql_dialect_of(s->db) == CMX_SQL_POSTGRES;
        if (!s->ledger_insert[shape] && !(s->ledger_insert[shape] = insert_sql(chunk, cast)))
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < chunk; i++)
            row_params(&rows[done + i], rep, params + i * LEDGER_COLUMNS);
        cmx_err rc = cmx_sql_exec(s->db, s->ledger_insert[shape], params, chunk * LEDGER_COLUMNS,
                                  NULL, NULL, err);
        if (rc != CMX_OK)
            return rc;
        done += chunk;
    }
    return CMX_OK;
}

cmx_err cmx_store_write_ledger(cmx_store *s, const cmx_ledger_row *rows, size_t n,
                               const char *replica, cmx_error *err)
{
    if (n == 0)
        return CMX_OK;
    cmx_sql_value *params = malloc(MAX_CHUNK * LEDGER_COLUMNS * sizeof *params);
    if (!params)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    cmx_err rc = cmx_sql_begin(s->db, 1, err);
    if (rc == CMX_OK) {
        rc = insert_rows(s, rows, n, replica, params, err);
        if (rc == CMX_OK)
            rc = write_rollups(s, rows, n, err);
        if (rc == CMX_OK)
            rc = cmx_sql_commit(s->db, err);
        if (rc != CMX_OK)
            cmx_sql_rollback(s->db);
    }
    free(params);
    return rc;
}

/* ---- pruning ------------------------------------------------------------------ */

/* Rows are appended in time order, so ids grow with ts_ms and the raw table
 * needs no index on time: the last row older than the cut is found by a
 * binary search over ids, a few dozen primary-key seeks even for tens of
 * millions of rows.  A row whose time is out of that order (a replica with
 * a clock behind the others) is judged by its neighbours: it may stay until
 * a later prune, and the ts_ms < cut condition keeps any newer row below
 * the boundary from going early. */

typedef struct probe {
    int found;
    int64_t id, ts_ms;
} probe;

static int read_probe(void *ctx, const cmx_sql_row *row)
{
    probe *p = ctx;
    p->found = !cmx_sql_row_is_null(row, 0);
    p->id = cmx_sql_row_int(row, 0);
    p->ts_ms = cmx_sql_row_int(row, 1);
    return 1;
}

/* The first row at or after id `from`. */
static cmx_err row_from(cmx_store *s, int64_t from, probe *p, cmx_error *err)
{
    cmx_sql_value v = cmx_sql_int(from);
    p->found = 0;
    return cmx_sql_exec(s->db,
                        "SELECT id, ts_ms FROM cmx_ledger WHERE id >= $1 ORDER BY id LIMIT 1", &v,
                        1, read_probe, p, err);
}

/* The highest id of the rows older than before_ms, by their order; below
 * the first id when none is. */
static cmx_err prune_boundary(cmx_store *s, int64_t before_ms, int64_t *boundary, cmx_error *err)
{
    probe first, last;
    *boundary = 0;
    if (row_from(s, INT64_MIN, &first, err) != CMX_OK)
        return err->kind;
    if (!first.found)
        return CMX_OK;
    if (cmx_sql_exec(s->db, "SELECT MAX(id), MAX(id) FROM cmx_ledger", NULL, 0, read_probe, &last,
                     err) != CMX_OK)
        return err->kind;
    /* Up to lo the rows are older than the cut; from hi on, newer (by
     * their order: lo starts just below the first row, hi just above the
     * last). */
    int64_t lo = first.id - 1, hi = last.id + 1;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        probe p;
        if (row_from(s, mid, &p, err) != CMX_OK)
            return err->kind;
        if (p.found && p.id < hi && p.ts_ms < before_ms)
            lo = p.id;
        else
            hi = mid;
    }
    *boundary = lo;
    return CMX_OK;
}

cmx_err cmx_store_prune_ledger(cmx_store *s, int64_t before_ms, size_t limit, size_t *deleted,
                               cmx_error *err)
{
    int64_t boundary;
    *deleted = 0;
    if (prune_boundary(s, before_ms, &boundary, err) != CMX_OK)
        return err->kind;
    cmx_sql_value p[3] = {cmx_sql_int(boundary), cmx_sql_int(before_ms),
                          cmx_sql_int((int64_t)limit)};
    cmx_err rc = cmx_sql_exec(s->db,
                              "DELETE FROM cmx_ledger WHERE id IN (SELECT id FROM cmx_ledger "
                              "WHERE id <= $1 AND ts_ms < $2 ORDER BY id LIMIT $3)",
                              p, 3, NULL, NULL, err);
    if (rc == CMX_OK)
        *deleted = (size_t)cmx_sql_changes(s->db);
    return rc;
}

typedef struct spend_ctx {
    cmx_spend_cb cb;
    void *ctx;
} spend_ctx;

static int spend_row(void *ctx, const cmx_sql_row *row)
{
    spend_ctx *sc = ctx;
    const char *id = cmx_sql_row_text(row, 0);
    if (id && *id)
        sc->cb(sc->ctx, id, cmx_sql_row_real(row, 1));
    return 0;
}

/* ---- reading the roll-ups ---------------------------------------------------- */

int cmx_rollup_range(char *sql, size_t cap, const char *columns)
{
    int n = snprintf(sql, cap,
                     "(SELECT day_ms AS hour_ms, %s FROM cmx_rollup_daily WHERE day_ms >= $3 AND "
                     "day_ms < $4 UNION ALL SELECT hour_ms, %s FROM cmx_rollup_hourly WHERE "
                     "(hour_ms >= $1 AND hour_ms < $3) OR (hour_ms >= $4 AND hour_ms < $2)) AS r",
                     columns, columns);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

void cmx_rollup_range_params(int64_t from_ms, int64_t to_ms, int hours_only, cmx_sql_value p[4])
{
    int64_t first_day = (from_ms + DAY_MS - 1) / DAY_MS * DAY_MS;
    int64_t last_day = to_ms / DAY_MS * DAY_MS;
    if (first_day >= last_day || hours_only)
        first_day = last_day = to_ms; /* no whole day inside: hours only */
    p[0] = cmx_sql_int(from_ms);
    p[1] = cmx_sql_int(to_ms);
    p[2] = cmx_sql_int(first_day);
    p[3] = cmx_sql_int(last_day);
}

cmx_err cmx_store_spend_since(cmx_store *s, cmx_spend_scope scope, int64_t since_ms,
                              cmx_spend_cb cb, void *ctx, cmx_error *err)
{
    const char *col = scope == CMX_SPEND_BY_TEAM ? "team_id" : "key_id";
    char source[512], sql[700];
    if (cmx_rollup_range(source, sizeof source, "key_id, team_id, cost_usd") != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "query too long");
    snprintf(sql, sizeof sql, "SELECT %s, SUM(cost_usd) FROM %s WHERE %s <> '' GROUP BY %s", col,
             source, col, col);
    /* Spend "since" runs to any time ahead (a moved clock, a late row). */
    cmx_sql_value p[4];
    cmx_rollup_range_params(since_ms, INT64_C(1) << 52, 0, p);
    spend_ctx sc = {cb, ctx};
    return cmx_sql_exec(s->db, sql, p, 4, spend_row, &sc, err);
}
