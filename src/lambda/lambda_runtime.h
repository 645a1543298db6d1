/* lambda_runtime.h — cloudmux as an AWS Lambda custom runtime.
 *
 * The loop of the Runtime API, on the gateway's own event loop: poll
 * /invocation/next, turn the event into a request for the gateway's handler
 * (the same router, pools and cached credentials as `serve`, kept across
 * warm invocations), send its answer to /invocation/{id}/response, poll
 * again.  One invocation at a time, as Lambda sends them.
 *
 * Answers are buffered (one JSON document in the event's format) or, when
 * the function's invoke mode is response streaming, streamed: the POST
 * carries `Lambda-Runtime-Function-Response-Mode: streaming` and a chunked
 * body that starts with the HTTP integration prelude, so an SSE stream
 * reaches the client chunk by chunk.  A stream cut after it started ends
 * with the error trailers Lambda-Runtime-Function-Error-Type and -Body.
 * An event that is not an HTTP request, or an answer that could not be
 * made, goes to /invocation/{id}/error in AWS's error shape; an HTTP error
 * of the gateway (a 4xx or 5xx answer) is an answer like any other. */
#ifndef CMX_LAMBDA_RUNTIME_H
#define CMX_LAMBDA_RUNTIME_H

#include "gateway/gateway.h"

typedef struct cmx_lambda_options {
    const char *endpoint; /* AWS_LAMBDA_RUNTIME_API, host:port */
    int streaming;        /* answer as response streams (invoke mode RESPONSE_STREAM) */
} cmx_lambda_options;

/* Runs invocations until SIGTERM/SIGINT (returns 0) or until the Runtime
 * API cannot be reached or answers what it must not (returns 1).  The
 * gateway must have been made with no_listener and not started. */
int cmx_lambda_run(cmx_gateway *gw, const cmx_lambda_options *opts);

/* Reports a failed start: POST /runtime/init/error with `type` and
 * `message`, waiting at most a few seconds for the answer. */
void cmx_lambda_init_error(const char *endpoint, const char *type, const char *message);

#endif
