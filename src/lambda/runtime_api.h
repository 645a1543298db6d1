/* runtime_api.h — a client of the AWS Lambda Runtime API, the local HTTP
 * endpoint ($AWS_LAMBDA_RUNTIME_API, 127.0.0.1:9001 on Lambda) a custom
 * runtime polls for invocations and posts their results to:
 *
 *   GET  /2018-06-01/runtime/invocation/next            (long poll: the next event)
 *   POST /2018-06-01/runtime/invocation/{id}/response   (buffered, or streamed)
 *   POST /2018-06-01/runtime/invocation/{id}/error
 *   POST /2018-06-01/runtime/init/error
 *
 * Why not the upstream client: this peer is plain HTTP on loopback, the poll
 * for the next event must wait without any timeout, and a streamed response
 * is a chunked request body with trailers, which no provider call needs.
 * One connection per call (the endpoint is local, a connect is cheap).
 *
 * All functions run on the thread of the event_base given to
 * cmx_lambda_api_new. */
#ifndef CMX_LAMBDA_RUNTIME_API_H
#define CMX_LAMBDA_RUNTIME_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct event_base;

typedef struct cmx_lambda_api cmx_lambda_api;
typedef struct cmx_lambda_call cmx_lambda_call;

/* What a call got back.  For /next: the event and its context headers. */
typedef struct cmx_lambda_reply {
    int status;
    cmx_buf body;
    char request_id[128];   /* Lambda-Runtime-Aws-Request-Id */
    uint64_t deadline_ms;   /* Lambda-Runtime-Deadline-Ms (wall clock, ms) */
    char function_arn[256]; /* Lambda-Runtime-Invoked-Function-Arn */
    char trace_id[256];     /* Lambda-Runtime-Trace-Id */
} cmx_lambda_reply;

/* Runs once when the call ends: err is NULL when a whole answer arrived
 * (whatever its status), else says what failed.  The call is freed after. */
typedef void (*cmx_lambda_done)(void *ctx, const cmx_lambda_reply *reply, const cmx_error *err);

/* `endpoint` is host:port as in AWS_LAMBDA_RUNTIME_API (an IP address, or
 * localhost).  NULL with err set when it is not one. */
cmx_lambda_api *cmx_lambda_api_new(struct event_base *base, const char *endpoint, cmx_error *err);
/* Every call must have ended first. */
void cmx_lambda_api_free(cmx_lambda_api *api);

/* Each call returns NULL, without calling `done`, when it cannot start (out
 * of memory or sockets); otherwise `done` runs later, from the loop. */

/* Abandons a call: `done` will not run; its connection is closed. */
void cmx_lambda_api_cancel(cmx_lambda_call *call);

/* GET /runtime/invocation/next. */
cmx_lambda_call *cmx_lambda_api_next(cmx_lambda_api *api, cmx_lambda_done done, void *ctx);

/* A POST with a whole body to `path` (under /2018-06-01); `headers` is NULL
 * or complete "Name: value\r\n" lines. */
cmx_lambda_call *cmx_lambda_api_post(cmx_lambda_api *api, const char *path, const char *headers,
                                     const char *body, size_t body_len, cmx_lambda_done done,
                                     void *ctx);

/* A POST whose body is sent as it is produced (Transfer-Encoding: chunked,
 * with the trailers named in `headers`' Trailer line): write, then finish. */
cmx_lambda_call *cmx_lambda_api_stream(cmx_lambda_api *api, const char *path, const char *headers,
                                       cmx_lambda_done done, void *ctx);
void cmx_lambda_api_stream_write(cmx_lambda_call *call, const char *data, size_t len);
/* Bytes written and not yet taken by the socket. */
size_t cmx_lambda_api_stream_pending(cmx_lambda_call *call);
/* The last chunk, then `trailers` (NULL or "Name: value\r\n" lines). */
void cmx_lambda_api_stream_finish(cmx_lambda_call *call, const char *trailers);

#endif
