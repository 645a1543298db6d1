/* admin.h — GET /metrics, GET /v1/status, POST /admin/reload and the
 * governance admin API (/admin/keys, /admin/teams, /admin/spend), behind
 * server.admin_keys. */
#ifndef CMX_GATEWAY_ADMIN_H
#define CMX_GATEWAY_ADMIN_H

#include "reply.h"

typedef enum {
    CMX_ADMIN_METRICS,
    CMX_ADMIN_STATUS,
    CMX_ADMIN_RELOAD,
    CMX_ADMIN_GOVERNANCE
} cmx_admin_endpoint;

/* Checks the admin key (see admin.c for the rules) and answers. */
void cmx_admin_handle(cmx_api_ctx *c, cmx_admin_endpoint ep);

/* /admin/... once the caller is known to hold admin key `key_index`: the
 * request runs on the governance thread (admin_governance.c). */
void cmx_admin_governance(cmx_api_ctx *c, long key_index);

#endif
