/* gateway.h — the cloudmux server process: worker threads serving the
 * OpenAI-compatible API over one config snapshot.
 *
 * Each worker has its own event loop, listener (SO_REUSEPORT on the shared
 * port), upstream connection pools and router, so a request lives on one
 * thread from accept to last byte.  The gateway owns their lifecycle:
 * cmx_gateway_new binds, cmx_gateway_start runs the threads,
 * cmx_gateway_shutdown drains them (in-flight requests finish, up to a grace
 * period) and cmx_gateway_free releases everything. */
#ifndef CMX_GATEWAY_GATEWAY_H
#define CMX_GATEWAY_GATEWAY_H

#include <stdint.h>

#include "config/config.h"
#include "core/err.h"

typedef struct cmx_gateway cmx_gateway;

typedef struct cmx_gateway_options {
    const char *listen_host; /* NULL: from config */
    int listen_port;         /* -1: from config; 0: any free port */
    int workers;             /* 0: from config */
} cmx_gateway_options;

cmx_gateway *cmx_gateway_new(cmx_config *cfg, const cmx_gateway_options *opts, cmx_error *err);
int cmx_gateway_port(const cmx_gateway *gw);
int cmx_gateway_workers(const cmx_gateway *gw);
cmx_err cmx_gateway_start(cmx_gateway *gw, cmx_error *err);
/* Stops accepting, lets in-flight requests finish for up to grace_ms, then
 * stops the workers and joins them. */
void cmx_gateway_shutdown(cmx_gateway *gw, uint32_t grace_ms);
void cmx_gateway_free(cmx_gateway *gw);

/* The governance service (keys, ledger, audit), or NULL when off.  The
 * reload path tells it about a new config (cmx_governance_config_reloaded). */
struct cmx_governance;
struct cmx_governance *cmx_gateway_governance(cmx_gateway *gw);

#endif
