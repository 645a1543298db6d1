/* admin_ops.h — the admin API's operations on keys, teams and spend,
 * independent of HTTP: a method, a path, a query and a JSON body in, a
 * status and a body (or an error) out.
 *
 * The gateway runs them on its governance thread for /admin/... requests;
 * `cloudmux keys ...` runs the very same calls against the store, so both
 * validate alike, write alike and leave the same audit records.
 *
 *   GET    /admin/keys                list (never secrets)
 *   POST   /admin/keys                create: {"key": {...}, "secret": "cmx-..."} (shown once)
 *   GET    /admin/keys/ID             one key
 *   PATCH  /admin/keys/ID             update the given fields (null clears)
 *   POST   /admin/keys/ID/rotate      {"grace": "1h"}: a new secret; the old one ends after grace
 *   POST   /admin/keys/ID/revoke      at once, everywhere (within governance.poll)
 *   GET    /admin/teams, POST /admin/teams, GET|PATCH /admin/teams/ID
 *   GET    /admin/spend?from=&to=&by=&format=&top=
 *
 * Keys and teams defined in the config are listed but cannot be changed
 * here (409): the file is their source of truth. */
#ifndef CMX_GOVERNANCE_ADMIN_OPS_H
#define CMX_GOVERNANCE_ADMIN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "governance/audit.h"
#include "governance/key_secret.h"
#include "store/store.h"

typedef struct cmx_gov_ops {
    cmx_store *store;
    cmx_audit *audit; /* NULL: no audit log */
    const cmx_config *cfg;
    const cmx_key_hasher *hasher;
    int64_t now_ms;
    const char *actor; /* "admin:1a2b3c4d", "cli:root" */
    /* What a budget has spent now; NULL: summed from the store's roll-ups. */
    double (*spent)(void *ctx, const char *scope, const char *id, int64_t now_ms);
    void *spent_ctx;
} cmx_gov_ops;

typedef struct cmx_gov_reply {
    int status;
    char *body; /* malloc'd; NULL on error */
    const char *content_type;
    cmx_err kind; /* CMX_OK, or the error */
    char code[40];
    char param[40];
    char message[320];
    char allow[24]; /* 405: the methods the path takes */
    int changed;    /* keys or teams were written: reload them */
} cmx_gov_reply;

void cmx_gov_admin(const cmx_gov_ops *ops, const char *method, const char *path, const char *query,
                   const char *body, size_t body_len, cmx_gov_reply *out);
void cmx_gov_reply_free(cmx_gov_reply *r);

/* Is this path one of these routes (/admin/keys..., /admin/teams...,
 * /admin/spend)?  Other /admin/ paths belong to others. */
int cmx_gov_admin_path(const char *path, size_t len);

#endif
