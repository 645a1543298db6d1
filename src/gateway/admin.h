/* admin.h — GET /metrics, GET /v1/status and POST /admin/reload, behind
 * server.admin_keys. */
#ifndef CMX_GATEWAY_ADMIN_H
#define CMX_GATEWAY_ADMIN_H

#include "reply.h"

typedef enum { CMX_ADMIN_METRICS, CMX_ADMIN_STATUS, CMX_ADMIN_RELOAD } cmx_admin_endpoint;

/* Checks the admin key (see admin.c for the rules) and answers. */
void cmx_admin_handle(cmx_api_ctx *c, cmx_admin_endpoint ep);

#endif
