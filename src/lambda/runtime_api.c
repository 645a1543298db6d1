/* runtime_api.c — the Runtime API client: one bufferevent per call, the
 * request written at once (or, for a streamed response, chunk by chunk), the
 * answer parsed with http-parser and kept whole (events are at most 6 MB,
 * answers to posts are a few bytes).  Of the answer's headers only the
 * invocation context of /next is kept. */
#include "runtime_api.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/str.h"

#define API_PREFIX "/2018-06-01"
#define MAX_EVENT_BYTES (8u << 20) /* Lambda's request payload limit is 6 MB */
#define MAX_HEADER_NAME 64

struct cmx_lambda_api {
    struct event_base *base;
    struct sockaddr_storage addr;
    int addr_len;
    char host[300]; /* the Host header */
};

struct cmx_lambda_call {
    cmx_lambda_api *api;
    struct bufferevent *bev;
    http_parser parser;
    cmx_lambda_done done;
    void *ctx;
    cmx_lambda_reply reply;
    char field[MAX_HEADER_NAME + 1]; /* the header name being parsed */
    size_t field_len;
    int field_too_long;
    int in_value;
    char *slot; /* where the current header's value goes, or NULL */
    size_t slot_cap, slot_len;
    char deadline_text[24];
    int streaming; /* a chunked request body is still being written */
    int complete;  /* the whole answer arrived */
    int ended;
};

cmx_lambda_api *cmx_lambda_api_new(struct event_base *base, const char *endpoint, cmx_error *err)
{
    cmx_lambda_api *api = calloc(1, sizeof *api);
    if (!api) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    api->base = base;
    char text[300];
    const char *target = endpoint ? endpoint : "";
    /* localhost is the one name worth knowing; everything else is an IP. */
    if (CMX_STARTS_WITH(target, "localhost:")) {
        snprintf(text, sizeof text, "127.0.0.1:%s", target + CMX_LIT_LEN("localhost:"));
        target = text;
    }
    api->addr_len = (int)sizeof api->addr;
    if (!*target || strlen(endpoint) >= sizeof api->host ||
        evutil_parse_sockaddr_port(target, (struct sockaddr *)&api->addr, &api->addr_len) != 0 ||
        !strchr(endpoint, ':')) {
        cmx_error_set(err, CMX_ERR_CONFIG,
                      "AWS_LAMBDA_RUNTIME_API must be HOST:PORT with an IP address, got '%.100s'",
                      endpoint ? endpoint : "");
        free(api);
        return NULL;
    }
    snprintf(api->host, sizeof api->host, "%s", endpoint);
    return api;
}

void cmx_lambda_api_free(cmx_lambda_api *api)
{
    free(api);
}

/* ---- the end of a call ---------------------------------------------------- */

static void call_free(cmx_lambda_call *call)
{
    if (call->bev)
        bufferevent_free(call->bev);
    cmx_buf_free(&call->reply.body);
    free(call);
}

/* Reports once; the call is gone afterwards. */
static void call_end(cmx_lambda_call *call, const cmx_error *err)
{
    if (call->ended)
        return;
    call->ended = 1;
    if (call->bev) {
        bufferevent_free(call->bev);
        call->bev = NULL;
    }
    call->done(call->ctx, &call->reply, err);
    call_free(call);
}

static void call_fail(cmx_lambda_call *call, const char *what, const char *detail)
{
    cmx_error e;
    cmx_error_clear(&e);
    cmx_error_set(&e, CMX_ERR_UNAVAILABLE, "%s: %s", what, detail);
    call_end(call, &e);
}

void cmx_lambda_api_cancel(cmx_lambda_call *call)
{
    if (call && !call->ended) {
        call->ended = 1;
        call_free(call);
    }
}

/* ---- parsing the answer --------------------------------------------------- */

static cmx_lambda_call *call_of(http_parser *p)
{
    return p->data;
}

static char *context_slot(cmx_lambda_call *call, size_t *cap)
{
    cmx_lambda_reply *r = &call->reply;
    if (call->field_too_long)
        return NULL;
    if (strcasecmp(call->field, "Lambda-Runtime-Aws-Request-Id") == 0) {
        *cap = sizeof r->request_id;
        return r->request_id;
    }
    if (strcasecmp(call->field, "Lambda-Runtime-Invoked-Function-Arn") == 0) {
        *cap = sizeof r->function_arn;
        return r->function_arn;
    }
    if (strcasecmp(call->field, "Lambda-Runtime-Trace-Id") == 0) {
        *cap = sizeof r->trace_id;
        return r->trace_id;
    }
    if (strcasecmp(call->field, "Lambda-Runtime-Deadline-Ms") == 0) {
        *cap = sizeof call->deadline_text;
        return call->deadline_text;
    }
    return NULL;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    cmx_lambda_call *call = call_of(p);
    if (call->in_value) { /* a new field: the previous value is done */
        call->in_value = 0;
        call->field_len = 0;
        call->field_too_long = 0;
    }
    if (call->field_len + len > MAX_HEADER_NAME) {
        call->field_too_long = 1;
        return 0;
    }
    memcpy(call->field + call->field_len, at, len);
    call->field_len += len;
    call->field[call->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    cmx_lambda_call *call = call_of(p);
    if (!call->in_value) {
        call->in_value = 1;
        call->slot = context_slot(call, &call->slot_cap);
        call->slot_len = 0;
    }
    if (!call->slot)
        return 0;
    size_t room = call->slot_cap - 1 - call->slot_len;
    size_t n = len < room ? len : room;
    memcpy(call->slot + call->slot_len, at, n);
    call->slot_len += n;
    call->slot[call->slot_len] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    cmx_lambda_call *call = call_of(p);
    call->reply.status = p->status_code;
    call->reply.deadline_ms = strtoull(call->deadline_text, NULL, 10);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    cmx_lambda_call *call = call_of(p);
    if (call->reply.body.len + len > MAX_EVENT_BYTES)
        return -1;
    return cmx_buf_append(&call->reply.body, at, len) == 0 ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    call_of(p)->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings reply_parser = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void read_cb(struct bufferevent *bev, void *arg)
{
    cmx_lambda_call *call = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    while (!call->complete && (n = evbuffer_get_contiguous_space(in)) > 0) {
        const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        size_t used = http_parser_execute(&call->parser, &reply_parser, data, n);
        evbuffer_drain(in, used);
        if (HTTP_PARSER_ERRNO(&call->parser) != HPE_OK &&
            HTTP_PARSER_ERRNO(&call->parser) != HPE_PAUSED) {
            call_fail(call, "the Runtime API answered malformed HTTP",
                      http_errno_description(HTTP_PARSER_ERRNO(&call->parser)));
            return;
        }
    }
    if (call->complete)
        call_end(call, NULL);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    cmx_lambda_call *call = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_EOF) {
        /* A body delimited by the close is complete at EOF. */
        http_parser_execute(&call->parser, &reply_parser, NULL, 0);
        if (call->complete) {
            call_end(call, NULL);
            return;
        }
    }
    call_fail(call, "the Runtime API connection failed",
              what & BEV_EVENT_EOF ? "closed before the answer"
                                   : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- starting a call ------------------------------------------------------ */

static cmx_lambda_call *call_start(cmx_lambda_api *api, const char *method, const char *path,
                                   const char *headers, cmx_lambda_done done, void *ctx)
{
    cmx_lambda_call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->api = api;
    call->done = done;
    call->ctx = ctx;
    http_parser_init(&call->parser, HTTP_RESPONSE);
    call->parser.data = call;
    call->bev = bufferevent_socket_new(api->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!call->bev) {
        free(call);
        return NULL;
    }
    bufferevent_setcb(call->bev, read_cb, NULL, event_cb, call);
    bufferevent_enable(call->bev, EV_READ | EV_WRITE);
    struct evbuffer *out = bufferevent_get_output(call->bev);
    evbuffer_add_printf(out,
                        "%s " API_PREFIX "%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cloudmux\r\n%s",
                        method, path, api->host, headers ? headers : "");
    /* A refused connection is reported through event_cb, from the loop. */
    if (bufferevent_socket_connect(call->bev, (struct sockaddr *)&api->addr, api->addr_len) < 0) {
        call_free(call);
        return NULL;
    }
    return call;
}

cmx_lambda_call *cmx_lambda_api_next(cmx_lambda_api *api, cmx_lambda_done done, void *ctx)
{
    cmx_lambda_call *call = call_start(api, "GET", "/runtime/invocation/next", NULL, done, ctx);
    if (call)
        evbuffer_add(bufferevent_get_output(call->bev), CMX_LIT("\r\n"));
    return call;
}

cmx_lambda_call *cmx_lambda_api_post(cmx_lambda_api *api, const char *path, const char *headers,
                                     const char *body, size_t body_len, cmx_lambda_done done,
                                     void *ctx)
{
    cmx_lambda_call *call = call_start(api, "POST", path, headers, done, ctx);
    if (!call)
        return NULL;
    struct evbuffer *out = bufferevent_get_output(call->bev);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", body_len);
    evbuffer_add(out, body, body_len);
    return call;
}

cmx_lambda_call *cmx_lambda_api_stream(cmx_lambda_api *api, const char *path, const char *headers,
                                       cmx_lambda_done done, void *ctx)
{
    cmx_lambda_call *call = call_start(api, "POST", path, headers, done, ctx);
    if (!call)
        return NULL;
    evbuffer_add_printf(bufferevent_get_output(call->bev), "Transfer-Encoding: chunked\r\n\r\n");
    call->streaming = 1;
    return call;
}

void cmx_lambda_api_stream_write(cmx_lambda_call *call, const char *data, size_t len)
{
    if (!call->streaming || len == 0)
        return;
    struct evbuffer *out = bufferevent_get_output(call->bev);
    evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, data, len);
    evbuffer_add(out, CMX_LIT("\r\n"));
}

size_t cmx_lambda_api_stream_pending(cmx_lambda_call *call)
{
    return call->bev ? evbuffer_get_length(bufferevent_get_output(call->bev)) : 0;
}

void cmx_lambda_api_stream_finish(cmx_lambda_call *call, const char *trailers)
{
    if (!call->streaming)
        return;
    call->streaming = 0;
    evbuffer_add_printf(bufferevent_get_output(call->bev), "0\r\n%s\r\n", trailers ? trailers : "");
}
