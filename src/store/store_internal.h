/* store_internal.h — what the store's files share: the connection and the
 * helpers that run a statement inside a transaction. */
#ifndef CMX_STORE_STORE_INTERNAL_H
#define CMX_STORE_STORE_INTERNAL_H

#include "store/sql.h"
#include "store/store.h"

struct cmx_store {
    cmx_sql *db;
};

/* Creates the tables that are missing (store_schema.c). */
cmx_err cmx_store_migrate(cmx_store *s, cmx_error *err);

/* Bumps the change counter; call inside the writing transaction. */
cmx_err cmx_store_bump_changes(cmx_store *s, cmx_error *err);

#endif
