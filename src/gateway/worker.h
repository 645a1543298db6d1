/* worker.h — one worker thread's world, shared by the gateway's files. */
#ifndef CMX_GATEWAY_WORKER_H
#define CMX_GATEWAY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "gateway.h"
#include "governance/governance.h"
#include "http/server.h"
#include "obs/access_log.h"
#include "obs/metrics.h"
#include "router/router.h"

struct event;
struct evdns_base;

typedef struct cmx_worker {
    int index;
    cmx_gateway *gateway;
    const cmx_config *cfg;
    pthread_t thread;
    struct event_base *base;
    struct evdns_base *dns;
    cmx_upstream *upstream;
    cmx_router *router;
    cmx_http_server *server;
    cmx_access_log *access_log;
    cmx_metrics *metrics;             /* the gateway's registry (for the scrape) */
    cmx_metrics_shard *shard;         /* this worker's counters: only it writes them */
    struct cmx_router_shared *shared; /* breakers, limits, strategies: read by /v1/status */
    uint64_t started_us;              /* when the gateway was made, monotonic */
    uint64_t started_wall_ms;
    struct event *shutdown_event; /* activated from the main thread */
    struct event *drain_timer;
    uint64_t drain_deadline_us;
    atomic_int draining;
    uint64_t request_seq;
    uint32_t id_prefix; /* random per worker: request ids never collide */
    char *models_json;  /* GET /v1/models answer, made once */
    size_t models_json_len;
    cmx_buf scratch;             /* reused for SSE frames on this thread */
    cmx_governance *gov;         /* virtual keys, ledger, audit; NULL when off */
    cmx_gov_view gov_view;       /* this worker's reference to the key table */
    struct cmx_mailbox *mailbox; /* replies from the governance thread */
    char (*admin_key_ids)[24];   /* parallel to server.admin_keys, for the audit log */
} cmx_worker;

/* The HTTP handler for every request (api.c). */
void cmx_api_handle(cmx_http_exchange *ex, void *worker);
/* Builds worker->models_json from the config (api.c). */
cmx_err cmx_api_prepare(cmx_worker *w, cmx_error *err);

#endif
