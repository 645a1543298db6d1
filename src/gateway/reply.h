/* reply.h — how the gateway answers: the error shape of the API called
 * (OpenAI's, or Anthropic's for the Messages API), cloudmux's response
 * headers and the access log line, in one place so every endpoint answers
 * alike. */
#ifndef CMX_GATEWAY_REPLY_H
#define CMX_GATEWAY_REPLY_H

#include "http/server.h"
#include "router/router.h"
#include "worker.h"

/* Per-request state every endpoint shares; lives in the request's arena. */
struct cmx_client_api;

typedef struct cmx_api_ctx {
    cmx_worker *worker;
    cmx_api api;      /* the API the client called: its errors' and stream events' shape */
    int api_endpoint; /* the path is one of the APIs' (not health, metrics, an unknown path) */
    struct cmx_client_api *client; /* messages, count_tokens, responses (client_api.c) */
    cmx_worker_gen *wgen;          /* the config generation this request runs on, held to its end */
    const cmx_config *cfg;         /* wgen's snapshot */
    cmx_http_exchange *ex;
    const cmx_http_request *req;
    const char *request_id;
    const cmx_model_group *group;
    cmx_route *route;
    cmx_call call;
    cmx_request_scan scan;
    int stream;
    int stream_started;        /* the stream's head went out: errors go in the stream */
    int quiet;                 /* health probes and scrapes: no access log line, not metered */
    int in_flight;             /* counted in the in-flight gauge until its log call */
    int logged;                /* cmx_reply_log ran: it counts a request once */
    const char *key_residency; /* the client key's residency, or NULL */
    int cache;                 /* 0: the group does not cache; else 1 + cmx_cache_result */
    int cache_store;           /* a whole answer will be stored */
    char cache_key[65];        /* hex SHA-256 */
    uint64_t cache_op;         /* the lookup being waited for, or 0 */
    cmx_buf *cache_capture;    /* a stream's chunks as relayed, until it completes */
    struct cmx_api_ctx *prev, *next; /* in worker->routing while routed */
    int routed;
    cmx_gov_ticket ticket;                 /* the virtual key, once authenticated (governance) */
    int governed;                          /* settled and written to the spend ledger at its end */
    const cmx_route_result *stream_result; /* the route's result once a stream began */
    uint64_t stream_chars;                 /* content characters relayed so far */
    struct cmx_admin_call *admin_call;     /* an admin API call waiting for its reply */
} cmx_api_ctx;

/* "x-request-id: ...\r\n" and, with a result, the x-cloudmux-* headers. */
const char *cmx_reply_headers(cmx_api_ctx *c, const cmx_route_result *r, const char *extra);

/* An error answer in the shape of the API called — OpenAI's
 * {"error":{"message","type","param","code"}} or Anthropic's
 * {"type":"error","error":{"type","message"}} — plus, inside the error
 * object when r has attempts, "attempts":[{provider, model, error, status,
 * latency_ms, message}].  Status 0 takes the kind's status; extra_headers is
 * NULL or "Name: value\r\n" lines (Allow, Retry-After).  Finishes the
 * exchange and writes the access log line. */
void cmx_reply_error(cmx_api_ctx *c, int status, cmx_err kind, const char *param, const char *code,
                     const char *message, const cmx_route_result *r, const char *extra_headers);

/* The route's failure (nothing was delivered) as an error answer, with
 * Retry-After when the last target was rate limited and said when. */
void cmx_reply_route_failure(cmx_api_ctx *c, const cmx_route_result *r, const cmx_error *err);

/* A JSON answer (finishes the exchange and logs). */
void cmx_reply_json(cmx_api_ctx *c, int status, const char *extra_headers, const char *body,
                    size_t len, const cmx_route_result *r);

/* The end of every request: the access log line and the metrics (both
 * skipped for quiet requests).  Only its first call for a request counts. */
void cmx_reply_log(cmx_api_ctx *c, int status, const cmx_route_result *r, const char *error);

/* One SSE event "data: <data>\n\n" on the exchange's stream. */
void cmx_reply_sse(cmx_api_ctx *c, const char *data, size_t len);
/* One named SSE event "event: <name>\ndata: <data>\n\n" (name NULL: no
 * event line, as cmx_reply_sse). */
void cmx_reply_sse_event(cmx_api_ctx *c, const char *name, const char *data, size_t len);
/* Ends a started stream that failed, with the API's own error event(s)
 * (`code` in OpenAI's) and without its end marker ([DONE], message_stop,
 * response.completed), logs the request with status 200 and the error
 * `logged`, and finishes the exchange. */
void cmx_reply_stream_fail(cmx_api_ctx *c, const cmx_route_result *r, cmx_err kind,
                           const char *code, const char *message, const char *logged);
/* Takes a routed request out of its worker's list of requests in flight
 * (completions.c puts it in); cmx_reply_log does it for every request. */
void cmx_reply_untrack(cmx_api_ctx *c);

/* Appends one error object's JSON in the shape of `api` to b. */
void cmx_reply_error_json(cmx_buf *b, cmx_api api, cmx_err kind, const char *param,
                          const char *code, const char *message, const cmx_route_result *r);

#endif
