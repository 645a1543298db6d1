/* lambda_runtime.c — the Runtime API loop (see lambda_runtime.h).
 *
 * An invocation is an exchange without a connection (server_detached.c)
 * whose sink is this file: the handler's answer is either gathered and
 * posted whole, or relayed chunk by chunk into a streaming POST.  The
 * invocation, and with it the exchange, is freed when the POST of its answer
 * has been answered — never inside a sink callback, which the handler may
 * still be in. */
#include "lambda_runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/base64.h"
#include "core/log.h"
#include "lambda_event.h"
#include "runtime_api.h"

#define INIT_ERROR_WAIT_S 3
#define ERROR_TYPE_HEADER "Lambda-Runtime-Function-Error-Type"
#define STREAMING_HEADERS                                                                          \
    "Lambda-Runtime-Function-Response-Mode: streaming\r\n"                                         \
    "Content-Type: " CMX_LAMBDA_HTTP_INTEGRATION "\r\n"                                            \
    "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"

typedef struct invocation invocation;

typedef struct runtime {
    cmx_gateway *gw;
    struct event_base *base;
    cmx_lambda_api *api;
    int streaming;
    cmx_lambda_call *next_call; /* the poll in flight */
    invocation *inv;            /* the invocation in flight */
    int stopping;
    int exit_code;
} runtime;

struct invocation {
    runtime *rt;
    cmx_http_exchange *ex;
    cmx_lambda_event ev;
    char id[128];
    cmx_lambda_call *post; /* the answer (or error) being posted */
    /* buffered: a streamed answer gathered until its end */
    int status;
    char *content_type, *extra_headers;
    cmx_buf body;
};

static void poll_next(runtime *rt);

/* The loop cannot even schedule work: stop with a failure. */
static void fail_runtime_later(runtime *rt)
{
    rt->exit_code = 1;
    event_base_loopbreak(rt->base);
}

/* ---- the end of an invocation --------------------------------------------- */

static void invocation_free(invocation *inv)
{
    if (inv->post)
        cmx_lambda_api_cancel(inv->post);
    if (inv->ex) {
        cmx_http_exchange_cancel(inv->ex); /* only does something if unfinished */
        cmx_http_exchange_free(inv->ex);
    }
    free(inv->content_type);
    free(inv->extra_headers);
    cmx_buf_free(&inv->body);
    free(inv);
}

static void on_posted(void *ctx, const cmx_lambda_reply *reply, const cmx_error *err)
{
    invocation *inv = ctx;
    runtime *rt = inv->rt;
    inv->post = NULL;
    if (err)
        cmx_error_log("lambda: posting the answer of %s failed: %s", inv->id, err->message);
    else if (reply->status != 202)
        cmx_error_log("lambda: the Runtime API refused the answer of %s: HTTP %d %.200s", inv->id,
                      reply->status, reply->body.data ? reply->body.data : "");
    rt->inv = NULL;
    invocation_free(inv);
    if (rt->stopping)
        event_base_loopbreak(rt->base);
    else
        poll_next(rt);
}

/* A POST that could not even start (out of memory or sockets): the
 * invocation ends from the loop's next turn, since a sink callback may be
 * on the stack now. */
static void on_post_not_started(evutil_socket_t fd, short what, void *arg)
{
    invocation *inv = arg;
    cmx_error e;
    cmx_error_clear(&e);
    cmx_error_set(&e, CMX_ERR_NOMEM, "cannot start a call to the Runtime API");
    on_posted(inv, NULL, &e);
}

static void check_post_started(invocation *inv)
{
    static const struct timeval now = {0, 0};
    if (!inv->post &&
        event_base_once(inv->rt->base, -1, EV_TIMEOUT, on_post_not_started, inv, &now) != 0)
        fail_runtime_later(inv->rt);
}

static void invocation_path(const invocation *inv, const char *what, char *out, size_t cap)
{
    snprintf(out, cap, "/runtime/invocation/%s/%s", inv->id, what);
}

/* POST /invocation/{id}/error with AWS's error document. */
static void post_error(invocation *inv, const char *type, const char *message)
{
    char path[200], headers[160];
    cmx_buf body = CMX_BUF_INIT;
    invocation_path(inv, "error", path, sizeof path);
    snprintf(headers, sizeof headers,
             ERROR_TYPE_HEADER ": %s\r\nContent-Type: application/json\r\n", type);
    cmx_lambda_error_json(type, message, &body);
    cmx_error_log("lambda: invocation %s failed: %s: %s", inv->id, type, message);
    inv->post = cmx_lambda_api_post(inv->rt->api, path, headers, body.data ? body.data : "",
                                    body.len, on_posted, inv);
    cmx_buf_free(&body);
    check_post_started(inv);
}

static void post_whole(invocation *inv, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t len)
{
    char path[200];
    cmx_buf answer = CMX_BUF_INIT;
    if (cmx_lambda_answer_json(&inv->ev, status, content_type, extra_headers, body, len, &answer) !=
        0) {
        cmx_buf_free(&answer);
        post_error(inv, "Cloudmux.OutOfMemory", "out of memory while making the answer");
        return;
    }
    invocation_path(inv, "response", path, sizeof path);
    inv->post = cmx_lambda_api_post(inv->rt->api, path, "Content-Type: application/json\r\n",
                                    answer.data, answer.len, on_posted, inv);
    cmx_buf_free(&answer);
    check_post_started(inv);
}

/* Opens the streaming POST and writes the prelude. */
static int stream_open(invocation *inv, int status, const char *content_type,
                       const char *extra_headers)
{
    char path[200];
    cmx_buf prelude = CMX_BUF_INIT;
    invocation_path(inv, "response", path, sizeof path);
    if (cmx_lambda_stream_prelude(status, content_type, extra_headers, &prelude) == 0)
        inv->post = cmx_lambda_api_stream(inv->rt->api, path, STREAMING_HEADERS, on_posted, inv);
    if (inv->post)
        cmx_lambda_api_stream_write(inv->post, prelude.data, prelude.len);
    cmx_buf_free(&prelude);
    return inv->post ? 0 : -1;
}

/* ---- the sink: what the gateway's handler answers ------------------------- */

static void sink_respond(void *arg, int status, const char *content_type, const char *extra_headers,
                         const char *body, size_t len)
{
    invocation *inv = arg;
    if (!inv->rt->streaming) {
        post_whole(inv, status, content_type, extra_headers, body, len);
        return;
    }
    if (stream_open(inv, status, content_type, extra_headers) != 0) {
        post_error(inv, "Cloudmux.OutOfMemory", "out of memory while opening the response stream");
        return;
    }
    cmx_lambda_api_stream_write(inv->post, body, len);
    cmx_lambda_api_stream_finish(inv->post, NULL);
}

static void sink_stream_begin(void *arg, int status, const char *content_type,
                              const char *extra_headers)
{
    invocation *inv = arg;
    if (inv->rt->streaming) {
        if (stream_open(inv, status, content_type, extra_headers) != 0)
            cmx_error_log("lambda: cannot open the response stream of %s", inv->id);
        return;
    }
    inv->status = status;
    inv->content_type = content_type ? strdup(content_type) : NULL;
    inv->extra_headers = extra_headers ? strdup(extra_headers) : NULL;
}

static void sink_stream_write(void *arg, const char *data, size_t len)
{
    invocation *inv = arg;
    if (!inv->rt->streaming)
        cmx_buf_append(&inv->body, data, len);
    else if (inv->post)
        cmx_lambda_api_stream_write(inv->post, data, len);
}

static void sink_stream_end(void *arg, int complete)
{
    invocation *inv = arg;
    if (!inv->rt->streaming) {
        if (complete && cmx_buf_failed(&inv->body)) /* never a partial answer */
            post_error(inv, "Cloudmux.OutOfMemory", "out of memory while collecting the answer");
        else if (complete)
            post_whole(inv, inv->status, inv->content_type, inv->extra_headers, inv->body.data,
                       inv->body.len);
        else
            post_error(inv, "Cloudmux.ResponseAborted", "the answer was cut before its end");
        return;
    }
    if (!inv->post) { /* never opened (out of memory, or cut before its head) */
        post_error(inv, "Cloudmux.ResponseAborted", "the answer was cut before it started");
        return;
    }
    if (complete) {
        cmx_lambda_api_stream_finish(inv->post, NULL);
        return;
    }
    /* Cut mid-stream: the trailers tell Lambda the function failed. */
    static const char type[] = "Cloudmux.ResponseAborted";
    cmx_buf doc = CMX_BUF_INIT, trailers = CMX_BUF_INIT;
    cmx_lambda_error_json(type, "the answer was cut after it started", &doc);
    char *b64 = malloc(CMX_BASE64_ENCODED_SIZE(doc.len));
    if (b64)
        cmx_base64_encode((const unsigned char *)(doc.data ? doc.data : ""), doc.len, b64);
    cmx_buf_printf(&trailers,
                   ERROR_TYPE_HEADER ": %s\r\nLambda-Runtime-Function-Error-Body: %s\r\n", type,
                   b64 ? b64 : "");
    cmx_lambda_api_stream_finish(inv->post, trailers.data);
    free(b64);
    cmx_buf_free(&doc);
    cmx_buf_free(&trailers);
}

static size_t sink_stream_pending(void *arg)
{
    invocation *inv = arg;
    return inv->rt->streaming && inv->post ? cmx_lambda_api_stream_pending(inv->post) : 0;
}

static const cmx_http_sink invocation_sink = {sink_respond, sink_stream_begin, sink_stream_write,
                                              sink_stream_end, sink_stream_pending};

/* ---- the loop ------------------------------------------------------------- */

static void fail_runtime(runtime *rt, const char *what)
{
    cmx_error_log("lambda: %s; stopping", what);
    rt->exit_code = 1;
    event_base_loopbreak(rt->base);
}

static void on_next(void *ctx, const cmx_lambda_reply *reply, const cmx_error *err)
{
    runtime *rt = ctx;
    rt->next_call = NULL;
    char why[300];
    if (err || reply->status != 200 || !reply->request_id[0]) {
        snprintf(why, sizeof why, "the Runtime API's next invocation failed: %s",
                 err                    ? err->message
                 : reply->status != 200 ? "it answered an HTTP error"
                                        : "no Lambda-Runtime-Aws-Request-Id");
        fail_runtime(rt, why);
        return;
    }
    invocation *inv = calloc(1, sizeof *inv);
    if (inv)
        inv->ex = cmx_http_exchange_new(&invocation_sink, inv);
    if (!inv || !inv->ex) {
        free(inv);
        fail_runtime(rt, "out of memory");
        return;
    }
    inv->rt = rt;
    snprintf(inv->id, sizeof inv->id, "%s", reply->request_id);
    rt->inv = inv;
    cmx_error perr;
    cmx_error_clear(&perr);
    cmx_http_request *req = cmx_http_exchange_request(inv->ex);
    if (cmx_lambda_event_parse(reply->body.data ? reply->body.data : "", reply->body.len, req,
                               &inv->ev, &perr) != CMX_OK) {
        cmx_http_exchange_cancel(inv->ex);
        post_error(inv,
                   perr.kind == CMX_ERR_NOMEM ? "Cloudmux.OutOfMemory" : "Cloudmux.InvalidEvent",
                   perr.message);
        return;
    }
    cmx_gateway_handle(rt->gw, inv->ex);
}

static void poll_next(runtime *rt)
{
    rt->next_call = cmx_lambda_api_next(rt->api, on_next, rt);
    if (!rt->next_call)
        fail_runtime(rt, "cannot reach the Runtime API");
}

/* SIGTERM (Lambda's shutdown, with extensions) or SIGINT: finish the
 * invocation in flight, then stop. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    runtime *rt = arg;
    cmx_info("lambda: received %s; stopping after the invocation in flight",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rt->stopping = 1;
    if (!rt->inv)
        event_base_loopbreak(rt->base);
}

int cmx_lambda_run(cmx_gateway *gw, const cmx_lambda_options *opts)
{
    cmx_error err;
    cmx_error_clear(&err);
    runtime rt = {.gw = gw, .base = cmx_gateway_event_base(gw), .streaming = opts->streaming};
    rt.api = cmx_lambda_api_new(rt.base, opts->endpoint, &err);
    if (!rt.api) {
        cmx_error_log("lambda: %s", err.message);
        return 1;
    }
    struct event *term = evsignal_new(rt.base, SIGTERM, on_signal, &rt);
    struct event *intr = evsignal_new(rt.base, SIGINT, on_signal, &rt);
    if (term)
        event_add(term, NULL);
    if (intr)
        event_add(intr, NULL);
    poll_next(&rt);
    if (!rt.exit_code)
        event_base_dispatch(rt.base);
    if (rt.next_call)
        cmx_lambda_api_cancel(rt.next_call);
    if (rt.inv)
        invocation_free(rt.inv);
    if (term)
        event_free(term);
    if (intr)
        event_free(intr);
    cmx_lambda_api_free(rt.api);
    return rt.exit_code;
}

/* ---- a failed start ------------------------------------------------------- */

typedef struct init_report {
    struct event_base *base;
    int done;
} init_report;

static void on_init_error_posted(void *ctx, const cmx_lambda_reply *reply, const cmx_error *err)
{
    init_report *r = ctx;
    r->done = 1;
    if (err)
        cmx_error_log("lambda: cannot report the init error: %s", err->message);
    event_base_loopbreak(r->base);
}

void cmx_lambda_init_error(const char *endpoint, const char *type, const char *message)
{
    cmx_error err;
    cmx_error_clear(&err);
    struct event_base *base = event_base_new();
    cmx_lambda_api *api = base ? cmx_lambda_api_new(base, endpoint, &err) : NULL;
    cmx_buf body = CMX_BUF_INIT;
    char headers[160];
    snprintf(headers, sizeof headers,
             ERROR_TYPE_HEADER ": %s\r\nContent-Type: application/json\r\n", type);
    cmx_lambda_error_json(type, message, &body);
    init_report report = {base, 0};
    cmx_lambda_call *call =
        api ? cmx_lambda_api_post(api, "/runtime/init/error", headers, body.data ? body.data : "",
                                  body.len, on_init_error_posted, &report)
            : NULL;
    if (call) {
        struct timeval limit = {INIT_ERROR_WAIT_S, 0};
        event_base_loopexit(base, &limit);
        event_base_dispatch(base);
        if (!report.done)
            cmx_lambda_api_cancel(call);
    }
    cmx_buf_free(&body);
    cmx_lambda_api_free(api);
    if (base)
        event_base_free(base);
}
