/* sql.c — opening a connection by URL, and the calls every driver shares;
 * see sql.h. */
#include "store/sql.h"

#include <string.h>

cmx_sql *cmx_sql_open(const char *url, cmx_error *err)
{
    if (url && strncmp(url, "sqlite://", 9) == 0 && url[9])
        return cmx_sql_open_sqlite(url + 9, err);
    if (url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)) {
#ifdef CMX_POSTGRES
        return cmx_sql_open_postgres(url, err);
#else
        cmx_error_set(err, CMX_ERR_CONFIG,
                      "this cloudmux was built without PostgreSQL (the static build); use "
                      "sqlite:///PATH, or the dynamically linked build for a PostgreSQL store");
        return NULL;
#endif
    }
    cmx_error_set(err, CMX_ERR_CONFIG,
                  "unknown store: expected sqlite:///PATH or postgres://USER@HOST:PORT/DB");
    return NULL;
}

void cmx_sql_close(cmx_sql *db)
{
    if (db)
        db->driver->close(db);
}

cmx_sql_dialect cmx_sql_dialect_of(const cmx_sql *db)
{
    return db->driver->dialect;
}

cmx_err cmx_sql_exec(cmx_sql *db, const char *sql, const cmx_sql_value *params, size_t n_params,
                     cmx_sql_row_cb cb, void *ctx, cmx_error *err)
{
    return db->driver->exec(db, sql, params, n_params, cb, ctx, err);
}

int64_t cmx_sql_changes(cmx_sql *db)
{
    return db->driver->changes(db);
}

cmx_err cmx_sql_begin(cmx_sql *db, int write, cmx_error *err)
{
    const char *sql = write && db->driver->dialect == CMX_SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN";
    return cmx_sql_exec(db, sql, NULL, 0, NULL, NULL, err);
}

cmx_err cmx_sql_commit(cmx_sql *db, cmx_error *err)
{
    return cmx_sql_exec(db, "COMMIT", NULL, 0, NULL, NULL, err);
}

void cmx_sql_rollback(cmx_sql *db)
{
    cmx_error ignored;
    cmx_sql_exec(db, "ROLLBACK", NULL, 0, NULL, NULL, &ignored);
}

int cmx_sql_row_is_null(const cmx_sql_row *row, int col)
{
    return row->db->driver->is_null(row, col);
}

const char *cmx_sql_row_text(const cmx_sql_row *row, int col)
{
    return row->db->driver->is_null(row, col) ? NULL : row->db->driver->text(row, col);
}

int64_t cmx_sql_row_int(const cmx_sql_row *row, int col)
{
    return row->db->driver->is_null(row, col) ? 0 : row->db->driver->integer(row, col);
}

double cmx_sql_row_real(const cmx_sql_row *row, int col)
{
    return row->db->driver->is_null(row, col) ? 0 : row->db->driver->real(row, col);
}
