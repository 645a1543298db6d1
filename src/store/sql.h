/* sql.h — the little SQL layer under the store: one connection to SQLite or
 * PostgreSQL, statements with $1..$N parameters, results read row by row.
 *
 * The store's queries are written once, in the SQL both databases speak
 * (parameters as $N, INSERT ... ON CONFLICT, CREATE ... IF NOT EXISTS); this
 * layer hides the client libraries.  SQLite statements are prepared once and
 * kept in a small cache keyed by their text; PostgreSQL gets its parameters
 * as text through PQexecParams.  A connection belongs to one thread.
 *
 * Nothing here runs on a worker's event loop: the store is used by the
 * governance threads and the command line only. */
#ifndef CMX_STORE_SQL_H
#define CMX_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct cmx_sql cmx_sql;

typedef enum { CMX_SQL_SQLITE, CMX_SQL_POSTGRES } cmx_sql_dialect;

typedef enum { CMX_SQL_NULL = 0, CMX_SQL_INT, CMX_SQL_REAL, CMX_SQL_TEXT } cmx_sql_type;

typedef struct cmx_sql_value {
    cmx_sql_type type;
    int64_t i; /* an integer's value; a text's length in bytes, -1 for up to its NUL */
    double d;
    const char *s;
} cmx_sql_value;

static inline cmx_sql_value cmx_sql_int(int64_t v)
{
    cmx_sql_value x = {CMX_SQL_INT, v, 0, NULL};
    return x;
}
static inline cmx_sql_value cmx_sql_real(double v)
{
    cmx_sql_value x = {CMX_SQL_REAL, 0, v, NULL};
    return x;
}
/* NULL text binds SQL NULL. */
static inline cmx_sql_value cmx_sql_text(const char *s)
{
    cmx_sql_value x = {s ? CMX_SQL_TEXT : CMX_SQL_NULL, -1, 0, s};
    return x;
}
/* Text whose length is known (still NUL-terminated: PostgreSQL reads it so). */
static inline cmx_sql_value cmx_sql_text_len(const char *s, size_t len)
{
    cmx_sql_value x = {s ? CMX_SQL_TEXT : CMX_SQL_NULL, (int64_t)len, 0, s};
    return x;
}
static inline cmx_sql_value cmx_sql_null(void)
{
    cmx_sql_value x = {CMX_SQL_NULL, 0, 0, NULL};
    return x;
}

/* One result row, valid during the row callback only. */
typedef struct cmx_sql_row cmx_sql_row;
int cmx_sql_row_is_null(const cmx_sql_row *row, int col);
const char *cmx_sql_row_text(const cmx_sql_row *row, int col); /* NULL for SQL NULL */
int64_t cmx_sql_row_int(const cmx_sql_row *row, int col);      /* 0 for SQL NULL */
double cmx_sql_row_real(const cmx_sql_row *row, int col);      /* 0 for SQL NULL */

/* Return non-zero to stop reading rows (the statement still succeeds). */
typedef int (*cmx_sql_row_cb)(void *ctx, const cmx_sql_row *row);

/* Opens "sqlite:///abs/path.db", "sqlite://rel/path.db" or a PostgreSQL URI
 * ("postgres://..." / "postgresql://...").  Messages never repeat the URL,
 * which may hold a password. */
cmx_sql *cmx_sql_open(const char *url, cmx_error *err);
void cmx_sql_close(cmx_sql *db);
cmx_sql_dialect cmx_sql_dialect_of(const cmx_sql *db);

/* Runs one statement; each result row goes to cb (may be NULL). */
cmx_err cmx_sql_exec(cmx_sql *db, const char *sql, const cmx_sql_value *params, size_t n_params,
                     cmx_sql_row_cb cb, void *ctx, cmx_error *err);
/* Rows changed by the last INSERT/UPDATE/DELETE. */
int64_t cmx_sql_changes(cmx_sql *db);

/* Transactions.  `write` takes SQLite's write lock at once (BEGIN IMMEDIATE),
 * so two writers wait for each other instead of failing half-way. */
cmx_err cmx_sql_begin(cmx_sql *db, int write, cmx_error *err);
cmx_err cmx_sql_commit(cmx_sql *db, cmx_error *err);
void cmx_sql_rollback(cmx_sql *db);

/* Backend internals, shared by sql.c and the two drivers. */
typedef struct cmx_sql_driver {
    cmx_sql_dialect dialect;
    void (*close)(cmx_sql *db);
    cmx_err (*exec)(cmx_sql *db, const char *sql, const cmx_sql_value *params, size_t n,
                    cmx_sql_row_cb cb, void *ctx, cmx_error *err);
    int64_t (*changes)(cmx_sql *db);
    int (*is_null)(const cmx_sql_row *row, int col);
    const char *(*text)(const cmx_sql_row *row, int col);
    int64_t (*integer)(const cmx_sql_row *row, int col);
    double (*real)(const cmx_sql_row *row, int col);
} cmx_sql_driver;

struct cmx_sql {
    const cmx_sql_driver *driver;
};

struct cmx_sql_row {
    const cmx_sql *db;
    void *handle; /* sqlite3_stmt* or PGresult* */
    int index;    /* row number (PostgreSQL) */
};

cmx_sql *cmx_sql_open_sqlite(const char *path, cmx_error *err);
cmx_sql *cmx_sql_open_postgres(const char *conninfo, cmx_error *err);

#endif
