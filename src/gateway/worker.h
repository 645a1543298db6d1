/* worker.h — one worker thread's world, shared by the gateway's files. */
#ifndef CMX_GATEWAY_WORKER_H
#define CMX_GATEWAY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "gateway.h"
#include "gateway/generation.h"
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
    pthread_t thread;
    struct event_base *base;
    struct evdns_base *dns;
    cmx_upstream *upstream;
    cmx_state_worker *state;  /* this worker's link to the state store */
    cmx_worker_gen *current;  /* the config generation new requests start on */
    cmx_metrics_shard *shard; /* this worker's counters in the current generation's registry:
                                 only it writes them */
    cmx_http_server *server;
    cmx_access_log *access_log;
    uint64_t started_us; /* when the gateway was made, monotonic */
    uint64_t started_wall_ms;
    struct event *shutdown_event; /* activated from the main thread */
    struct event *drain_timer;
    uint64_t drain_deadline_us;  /* the grace period's end, then the last flush's */
    atomic_int draining;         /* /health/ready answers 503; set by the main thread */
    int stopping;                /* listener closed, waiting for in-flight requests */
    int cut;                     /* the grace period is over: what ran was ended */
    struct cmx_api_ctx *routing; /* chat and embeddings requests in flight (completions.c) */
    uint64_t request_seq;
    uint32_t id_prefix;          /* random per worker: request ids never collide */
    cmx_buf scratch;             /* reused for SSE frames on this thread */
    cmx_governance *gov;         /* virtual keys, ledger, audit; NULL when off */
    cmx_gov_view gov_view;       /* this worker's reference to the key table */
    struct cmx_mailbox *mailbox; /* replies from the governance thread */
} cmx_worker;

/* The HTTP handler for every request (api.c). */
void cmx_api_handle(cmx_http_exchange *ex, void *worker);
/* The body of an error the HTTP server answers itself (413, 431, 408 ...),
 * in the shape of the API the path belongs to (api.c). */
void cmx_api_error_writer(cmx_buf *b, cmx_slice path, int status, const char *code,
                          const char *message);
/* Ends every request still in flight: streams with an error event, others
 * with a 503 (completions.c). */
void cmx_api_cut_in_flight(cmx_worker *w);

#endif
