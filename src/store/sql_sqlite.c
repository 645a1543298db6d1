/* sql_sqlite.c — the SQLite driver of the SQL layer.
 *
 * The database runs in WAL mode with synchronous=NORMAL: readers never wait
 * for the writer, a commit costs no fsync of the database file, and a killed
 * process loses nothing it committed (a power cut may lose the last
 * transactions, never the file's consistency).  busy_timeout makes a second
 * writer — another thread, the command line, a second gateway on the same
 * file — wait up to 5 s for the lock instead of failing.
 *
 * Prepared statements are cached by their text (a few dozen distinct
 * statements are used), with where each $N sits, so the ledger's batches
 * skip the parser and bind by position. */
#include "store/sql.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 24
#define BUSY_TIMEOUT_MS 5000

typedef struct cached_stmt {
    char *sql;
    size_t sql_len;
    sqlite3_stmt *stmt;
    int *index; /* index[k]: SQLite's position of parameter $k+1, 0 if unused */
    int n_index;
} cached_stmt;

typedef struct sqlite_db {
    cmx_sql base;
    sqlite3 *db;
    cached_stmt cache[STMT_CACHE];
    size_t next_victim;
    size_t last; /* the slot used last: a batch runs one statement many times */
} sqlite_db;

static void sqlite_close(cmx_sql *base)
{
    sqlite_db *s = (sqlite_db *)base;
    for (size_t i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(s->cache[i].stmt);
        free(s->cache[i].sql);
        free(s->cache[i].index);
    }
    sqlite3_close_v2(s->db);
    free(s);
}

/* Where each $N of a statement sits among SQLite's parameters: looked up
 * once per prepared statement, since sqlite3_bind_parameter_index is a scan
 * (a ledger batch binds over a thousand parameters). */
static int map_parameters(cached_stmt *c)
{
    int count = sqlite3_bind_parameter_count(c->stmt);
    c->index = calloc((size_t)count + 1, sizeof *c->index);
    if (!c->index)
        return -1;
    for (int at = 1; at <= count; at++) {
        const char *name = sqlite3_bind_parameter_name(c->stmt, at);
        long k = name && name[0] == '$' ? strtol(name + 1, NULL, 10) : 0;
        if (k >= 1 && k <= count) {
            c->index[k - 1] = at;
            if (k > c->n_index)
                c->n_index = (int)k;
        }
    }
    return 0;
}

static int holds(const cached_stmt *c, const char *sql, size_t len)
{
    return c->sql && c->sql_len == len && memcmp(c->sql, sql, len) == 0;
}

/* Found by length first: the ledger's inserts of 64, 32, ... rows share
 * kilobytes of text before they differ. */
static cached_stmt *statement(sqlite_db *s, const char *sql, cmx_error *err)
{
    size_t len = strlen(sql);
    if (holds(&s->cache[s->last], sql, len))
        return &s->cache[s->last];
    for (size_t i = 0; i < STMT_CACHE; i++)
        if (holds(&s->cache[i], sql, len)) {
            s->last = i;
            return &s->cache[i];
        }
    s->last = s->next_victim;
    cached_stmt *slot = &s->cache[s->next_victim];
    s->next_victim = (s->next_victim + 1) % STMT_CACHE;
    sqlite3_finalize(slot->stmt);
    free(slot->sql);
    free(slot->index);
    memset(slot, 0, sizeof *slot);
    if (sqlite3_prepare_v2(s->db, sql, -1, &slot->stmt, NULL) != SQLITE_OK) {
        cmx_error_set(err, CMX_ERR_IO, "sqlite: %s", sqlite3_errmsg(s->db));
        sqlite3_finalize(slot->stmt);
        slot->stmt = NULL;
        return NULL;
    }
    slot->sql_len = len;
    if (!(slot->sql = strdup(sql)) || map_parameters(slot) != 0) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        sqlite3_finalize(slot->stmt);
        free(slot->sql);
        memset(slot, 0, sizeof *slot);
        return NULL;
    }
    return slot;
}

/* Text is bound without a copy, and the bindings stay after the run: the
 * next run binds over every one of them, or clears them first when it
 * binds fewer (clearing each time was a good share of a ledger batch). */
static int bind(const cached_stmt *c, const cmx_sql_value *params, size_t n)
{
    if (n < (size_t)c->n_index)
        sqlite3_clear_bindings(c->stmt);
    for (size_t i = 0; i < n && (int)i < c->n_index; i++) {
        int at = c->index[i];
        if (at == 0)
            continue; /* the statement does not use it */
        const cmx_sql_value *v = &params[i];
        int rc;
        switch (v->type) {
        case CMX_SQL_INT: rc = sqlite3_bind_int64(c->stmt, at, v->i); break;
        case CMX_SQL_REAL: rc = sqlite3_bind_double(c->stmt, at, v->d); break;
        case CMX_SQL_TEXT:
            rc = sqlite3_bind_text(c->stmt, at, v->s, (int)v->i, SQLITE_STATIC);
            break;
        default: rc = sqlite3_bind_null(c->stmt, at); break;
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static cmx_err sqlite_exec(cmx_sql *base, const char *sql, const cmx_sql_value *params, size_t n,
                           cmx_sql_row_cb cb, void *ctx, cmx_error *err)
{
    sqlite_db *s = (sqlite_db *)base;
    cached_stmt *c = statement(s, sql, err);
    if (!c)
        return err ? err->kind : CMX_ERR_IO;
    sqlite3_stmt *stmt = c->stmt;
    cmx_err rc = CMX_OK;
    if (bind(c, params, n) != SQLITE_OK) {
        rc = cmx_error_set(err, CMX_ERR_IO, "sqlite: %s", sqlite3_errmsg(s->db));
    } else {
        cmx_sql_row row = {base, stmt, 0};
        int step;
        while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (cb && cb(ctx, &row))
                break;
            row.index++;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            rc = cmx_error_set(err, CMX_ERR_IO, "sqlite: %s", sqlite3_errmsg(s->db));
    }
    sqlite3_reset(stmt);
    return rc;
}

static int64_t sqlite_changes(cmx_sql *base)
{
    return sqlite3_changes64(((sqlite_db *)base)->db);
}

static int sqlite_is_null(const cmx_sql_row *row, int col)
{
    return sqlite3_column_type(row->handle, col) == SQLITE_NULL;
}

static const char *sqlite_text(const cmx_sql_row *row, int col)
{
    return (const char *)sqlite3_column_text(row->handle, col);
}

static int64_t sqlite_integer(const cmx_sql_row *row, int col)
{
    return sqlite3_column_int64(row->handle, col);
}

static double sqlite_real(const cmx_sql_row *row, int col)
{
    return sqlite3_column_double(row->handle, col);
}

static const cmx_sql_driver sqlite_driver = {
    CMX_SQL_SQLITE, sqlite_close, sqlite_exec,    sqlite_changes,
    sqlite_is_null, sqlite_text,  sqlite_integer, sqlite_real,
};

cmx_sql *cmx_sql_open_sqlite(const char *path, cmx_error *err)
{
    sqlite_db *s = calloc(1, sizeof *s);
    if (!s) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->base.driver = &sqlite_driver;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        cmx_error_set(err, CMX_ERR_IO, "cannot open the SQLite database %s: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite_close(&s->base);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        cmx_error_set(err, CMX_ERR_IO, "cannot set up the SQLite database %s: %s", path,
                      msg ? msg : "unknown error");
        sqlite3_free(msg);
        sqlite_close(&s->base);
        return NULL;
    }
    return &s->base;
}
