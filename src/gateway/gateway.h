/* gateway.h — the cloudmux server process: worker threads serving the
 * OpenAI-compatible API over one config snapshot.
 *
 * Each worker has its own event loop, listener (SO_REUSEPORT on the shared
 * port), upstream connection pools and router, so a request lives on one
 * thread from accept to last byte.  The gateway owns their lifecycle:
 * cmx_gateway_new binds, cmx_gateway_start runs the threads, cmx_gateway_drain
 * and cmx_gateway_stop take them through shutdown (see below),
 * cmx_gateway_shutdown joins them and cmx_gateway_free releases everything.
 *
 * cmx_gateway_reload reads the config file again: an invalid file changes
 * nothing; a valid one becomes the next generation (generation.h), taken by
 * each worker for its new requests while its in-flight requests and streams
 * finish on the old one. */
#ifndef CMX_GATEWAY_GATEWAY_H
#define CMX_GATEWAY_GATEWAY_H

#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/server.h"
#include "http/upstream.h"

typedef struct cmx_gateway cmx_gateway;

typedef struct cmx_gateway_options {
    const char *listen_host; /* NULL: from config */
    int listen_port;         /* -1: from config; 0: any free port */
    int workers;             /* 0: from config */
    int no_listener;         /* bind nothing: requests come only through
                                cmx_gateway_handle (the Lambda runtime) */
} cmx_gateway_options;

cmx_gateway *cmx_gateway_new(cmx_config *cfg, const cmx_gateway_options *opts, cmx_error *err);
int cmx_gateway_port(const cmx_gateway *gw);
int cmx_gateway_workers(const cmx_gateway *gw);
cmx_err cmx_gateway_start(cmx_gateway *gw, cmx_error *err);
/* The shutdown sequence, in the order a load balancer needs it:
 * cmx_gateway_drain makes /health/ready answer 503 at once while every
 * worker goes on accepting and serving (each response then closes its
 * connection); cmx_gateway_stop closes the listeners, lets the requests in
 * flight finish for up to grace_ms and then ends the rest (streams with an
 * error event and no [DONE], other requests with a 503).  stop may be called
 * again with a shorter grace (0: end everything now).  Neither blocks. */
void cmx_gateway_drain(cmx_gateway *gw);
void cmx_gateway_stop(cmx_gateway *gw, uint32_t grace_ms);
/* 1 once every worker's loop has ended after a stop. */
int cmx_gateway_stopped(const cmx_gateway *gw);
/* Stops (unless already stopped) with grace_ms and joins the workers. */
void cmx_gateway_shutdown(cmx_gateway *gw, uint32_t grace_ms);
/* Every worker's upstream client figures, summed; from any thread. */
void cmx_gateway_upstream_stats(const cmx_gateway *gw, cmx_upstream_stats *sum);
void cmx_gateway_free(cmx_gateway *gw);

/* For a gateway made with no_listener, run by its owner on one thread
 * instead of cmx_gateway_start: the first worker's event loop, and the
 * handler that answers an exchange on it (see cmx_http_exchange_new). */
struct event_base *cmx_gateway_event_base(cmx_gateway *gw);
void cmx_gateway_handle(cmx_gateway *gw, cmx_http_exchange *ex);

typedef struct cmx_reload_result {
    int ok;
    uint64_t generation; /* the generation serving after the call */
    char **errors;       /* "file:line:col: message", when not ok */
    size_t n_errors;
    char **restart_only; /* settings that changed but need a restart (kept as they were) */
    size_t n_restart_only;
} cmx_reload_result;

/* Reads the config file the gateway runs (its snapshot's path) again.  Safe
 * from any thread, one reload at a time; returns CMX_OK when the new
 * generation was handed to the workers.  Logs the outcome, and records a
 * successful one in the audit log, if any, as done by `actor` ("admin:…",
 * "signal:SIGHUP"). */
cmx_err cmx_gateway_reload(cmx_gateway *gw, const char *actor, cmx_reload_result *out);
void cmx_reload_result_free(cmx_reload_result *r);
/* The cloudmux_config_* and cloudmux_state_* metric families. */
void cmx_gateway_format_metrics(cmx_gateway *gw, cmx_buf *out);

/* The governance service (keys, ledger, audit), or NULL when off.  The
 * reload path tells it about a new config (cmx_governance_config_reloaded). */
struct cmx_governance;
struct cmx_governance *cmx_gateway_governance(cmx_gateway *gw);

#endif
