/* admin.h — GET /metrics and GET /v1/status, behind server.admin_keys. */
#ifndef CMX_GATEWAY_ADMIN_H
#define CMX_GATEWAY_ADMIN_H

#include "reply.h"

typedef enum { CMX_ADMIN_METRICS, CMX_ADMIN_STATUS } cmx_admin_endpoint;

/* Checks the admin key (see admin.c for the rules) and answers. */
void cmx_admin_handle(cmx_api_ctx *c, cmx_admin_endpoint ep);

#endif
