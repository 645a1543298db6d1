/* router_internal.h — what the router's files share and nobody else sees. */
#ifndef CMX_ROUTER_INTERNAL_H
#define CMX_ROUTER_INTERNAL_H

#include "router.h"

struct cmx_router {
    cmx_config *cfg;
    cmx_worker_env env;
    cmx_provider *providers; /* parallel to cfg->providers */
};

cmx_provider *cmx_router_provider(cmx_router *r, const cmx_provider_config *pc);

#endif
