/* sql_pg.c — the PostgreSQL driver of the SQL layer (libpq).
 *
 * libpq is loaded with dlopen the first time a PostgreSQL store is opened,
 * not linked: it pulls in two dozen shared libraries (Kerberos, LDAP,
 * GnuTLS ...) whose loading doubled every gateway's start, store or not.
 * Without libpq5 installed, opening a postgres:// store fails with a clear
 * error and everything else runs.
 *
 * Parameters travel as text through PQexecParams, so one code path serves
 * every type and nothing is interpolated into SQL.  A broken connection (the
 * server restarted, a network blip) is reset before the next statement, so
 * the store's threads recover on their own; the statement that met the
 * break fails and its caller retries as it would any error.  The server's
 * notices ("relation already exists, skipping") are dropped, not printed. */
#include "store/sql.h"

#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBPQ_SONAME "libpq.so.5"

/* The libpq functions the driver calls, resolved once into `pq`. */
#define PQ_FUNCTIONS(X)                                                                            \
    X(PQconnectdb)                                                                                 \
    X(PQfinish)                                                                                    \
    X(PQstatus)                                                                                    \
    X(PQreset)                                                                                     \
    X(PQerrorMessage)                                                                              \
    X(PQsetNoticeProcessor)                                                                        \
    X(PQexecParams)                                                                                \
    X(PQresultStatus)                                                                              \
    X(PQresultErrorMessage)                                                                        \
    X(PQcmdTuples)                                                                                 \
    X(PQntuples)                                                                                   \
    X(PQgetisnull)                                                                                 \
    X(PQgetvalue)                                                                                  \
    X(PQclear)

static struct {
#define PQ_POINTER(name) __typeof__(name) *name;
    PQ_FUNCTIONS(PQ_POINTER)
#undef PQ_POINTER
} pq;
static char pq_load_error[200]; /* empty once every function resolved */
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;

static void pq_load(void)
{
    void *lib = dlopen(LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(pq_load_error, sizeof pq_load_error, "%s", dlerror());
        return;
    }
#define PQ_RESOLVE(name)                                                                           \
    if (!(*(void **)&pq.name = dlsym(lib, #name))) {                                               \
        snprintf(pq_load_error, sizeof pq_load_error, "%s has no %s", LIBPQ_SONAME, #name);        \
        return;                                                                                    \
    }
    PQ_FUNCTIONS(PQ_RESOLVE)
#undef PQ_RESOLVE
}

#define MAX_PARAMS 32767
#define NUMBER_TEXT 32

typedef struct pg_db {
    cmx_sql base;
    PGconn *conn;
    int64_t changes;
} pg_db;

static void pg_close(cmx_sql *base)
{
    pg_db *p = (pg_db *)base;
    pq.PQfinish(p->conn);
    free(p);
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* libpq's messages end with a newline; the store's do not. */
static void set_pg_error(cmx_error *err, const char *what, const char *msg)
{
    char text[200];
    snprintf(text, sizeof text, "%s", msg ? msg : "unknown error");
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    cmx_error_set(err, CMX_ERR_IO, "postgres: %s%s", what, text);
}

static cmx_err pg_exec(cmx_sql *base, const char *sql, const cmx_sql_value *params, size_t n,
                       cmx_sql_row_cb cb, void *ctx, cmx_error *err)
{
    pg_db *p = (pg_db *)base;
    if (n > MAX_PARAMS)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "postgres: too many parameters");
    if (pq.PQstatus(p->conn) != CONNECTION_OK) {
        pq.PQreset(p->conn);
        if (pq.PQstatus(p->conn) != CONNECTION_OK) {
            set_pg_error(err, "connection lost: ", pq.PQerrorMessage(p->conn));
            return CMX_ERR_IO;
        }
    }
    const char **values = n ? calloc(n, sizeof *values) : NULL;
    char *numbers = n ? malloc(n * NUMBER_TEXT) : NULL;
    if (n && (!values || !numbers)) {
        free(values);
        free(numbers);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *num = numbers + i * NUMBER_TEXT;
        switch (params[i].type) {
        case CMX_SQL_INT:
            snprintf(num, NUMBER_TEXT, "%lld", (long long)params[i].i);
            values[i] = num;
            break;
        case CMX_SQL_REAL:
            snprintf(num, NUMBER_TEXT, "%.17g", params[i].d);
            values[i] = num;
            break;
        case CMX_SQL_TEXT: values[i] = params[i].s; break;
        default: values[i] = NULL; break;
        }
    }
    PGresult *res = pq.PQexecParams(p->conn, sql, (int)n, NULL, values, NULL, NULL, 0);
    free(values);
    free(numbers);
    cmx_err rc = CMX_OK;
    ExecStatusType st = res ? pq.PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        const char *affected = pq.PQcmdTuples(res);
        p->changes = affected && *affected ? strtoll(affected, NULL, 10) : 0;
        int rows = pq.PQntuples(res);
        cmx_sql_row row = {base, res, 0};
        for (row.index = 0; cb && row.index < rows; row.index++)
            if (cb(ctx, &row))
                break;
    } else {
        set_pg_error(err, "", res ? pq.PQresultErrorMessage(res) : pq.PQerrorMessage(p->conn));
        rc = CMX_ERR_IO;
    }
    pq.PQclear(res);
    return rc;
}

static int64_t pg_changes(cmx_sql *base)
{
    return ((pg_db *)base)->changes;
}

static int pg_is_null(const cmx_sql_row *row, int col)
{
    return pq.PQgetisnull(row->handle, row->index, col);
}

static const char *pg_text(const cmx_sql_row *row, int col)
{
    return pq.PQgetvalue(row->handle, row->index, col);
}

static int64_t pg_integer(const cmx_sql_row *row, int col)
{
    return strtoll(pq.PQgetvalue(row->handle, row->index, col), NULL, 10);
}

static double pg_real(const cmx_sql_row *row, int col)
{
    return strtod(pq.PQgetvalue(row->handle, row->index, col), NULL);
}

static const cmx_sql_driver pg_driver = {
    CMX_SQL_POSTGRES, pg_close, pg_exec, pg_changes, pg_is_null, pg_text, pg_integer, pg_real,
};

cmx_sql *cmx_sql_open_postgres(const char *conninfo, cmx_error *err)
{
    pg_db *p = calloc(1, sizeof *p);
    if (!p) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->base.driver = &pg_driver;
    pthread_once(&pq_once, pq_load);
    if (pq_load_error[0]) {
        cmx_error_set(err, CMX_ERR_IO, "postgres: cannot load libpq (install libpq5): %s",
                      pq_load_error);
        free(p);
        return NULL;
    }
    p->conn = pq.PQconnectdb(conninfo);
    if (!p->conn || pq.PQstatus(p->conn) != CONNECTION_OK) {
        set_pg_error(err,
                     "cannot connect: ", p->conn ? pq.PQerrorMessage(p->conn) : "out of memory");
        pg_close(&p->base);
        return NULL;
    }
    pq.PQsetNoticeProcessor(p->conn, quiet_notices, NULL);
    return &p->base;
}
