/* store_internal.h — what the store's files share: the connection and the
 * helpers that run a statement inside a transaction. */
#ifndef CMX_STORE_STORE_INTERNAL_H
#define CMX_STORE_STORE_INTERNAL_H

#include "store/sql.h"
#include "store/store.h"

#define CMX_LEDGER_CHUNK_SHAPES 7 /* multi-row inserts of 64, 32, ... 1 rows */

struct cmx_store {
    cmx_sql *db;
    char *ledger_insert[CMX_LEDGER_CHUNK_SHAPES]; /* their SQL, made on first use */
};

/* Creates the tables that are missing (store_schema.c). */
cmx_err cmx_store_migrate(cmx_store *s, cmx_error *err);

/* The roll-ups of [from, to) as one derived table `r` (store_ledger.c):
 * daily rows for the whole days inside, hourly rows for the hours at the
 * edges.  Its columns are hour_ms and `columns` (of the roll-up tables);
 * the statement takes cmx_rollup_range_params as $1..$4 (hours_only: the
 * hourly grain throughout, for by-hour reports). */
int cmx_rollup_range(char *sql, size_t cap, const char *columns);
void cmx_rollup_range_params(int64_t from_ms, int64_t to_ms, int hours_only, cmx_sql_value p[4]);

/* Bumps the change counter; call inside the writing transaction. */
cmx_err cmx_store_bump_changes(cmx_store *s, cmx_error *err);

#endif
