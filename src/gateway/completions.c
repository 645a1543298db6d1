/* completions.c — chat completions and embeddings.
 *
 * The body is validated and its routing fields found by the JSON scanner
 * (no DOM), the model name picks a group, and the router runs the attempts.
 * This file is the router's sink: it turns the route's outcome into bytes for
 * the client — a JSON answer, an SSE stream ending in `[DONE]`, or an error.
 * A stream that fails after it started ends with an error event and no
 * `[DONE]`, so no client mistakes a cut answer for a whole one.  A group
 * with `cache` asks the response cache first (cache.c) and gives it every
 * whole answer.  The routing itself (the group, the call, the request's
 * residency, the list of requests in flight) is shared with the other
 * client APIs (client_api.c), which bring their own sink. */
#include "completions.h"

#include <stdio.h>
#include <string.h>

#include "gateway/cache.h"
#include "gateway/client_api.h"
#include "governance/usage_estimate.h"
#include "http/sse.h"
#include "core/str.h"
#include "core/residency_tag.h"

/* What the client has not read of its stream yet: providers hold the
 * upstream back while it is large. */
static size_t client_backlog(void *ctx)
{
    cmx_api_ctx *c = ctx;
    return cmx_http_stream_pending(c->ex);
}

static void on_response(void *ctx, const cmx_route_result *r, const char *body, size_t len)
{
    cmx_cache_keep_answer(ctx, r, body, len);
    cmx_reply_json(ctx, 200, NULL, body, len, r);
}

static void on_stream_start(void *ctx, const cmx_route_result *r)
{
    cmx_api_ctx *c = ctx;
    c->stream_started = 1;
    c->stream_result = r;
    cmx_http_stream_begin(c->ex, 200, "text/event-stream",
                          cmx_reply_headers(c, r, "Cache-Control: no-cache\r\n"));
}

static void on_stream_chunk(void *ctx, const char *json, size_t len)
{
    cmx_api_ctx *c = ctx;
    /* What a cut stream produced is charged: count it on the way. */
    if (c->governed)
        c->stream_chars += cmx_chunk_text_chars(json, len);
    cmx_cache_keep_chunk(c, json, len);
    cmx_reply_sse(c, json, len);
}

static void on_stream_end(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    cmx_api_ctx *c = ctx;
    if (err) {
        cmx_reply_stream_fail(c, r, err->kind, "upstream_stream_cut", err->message,
                              cmx_err_name(err->kind));
        return;
    }
    /* Only a stream that completed is ever stored. */
    cmx_cache_keep_stream(c, r);
    cmx_reply_sse(c, CMX_LIT("[DONE]"));
    cmx_reply_log(c, 200, r, NULL);
    cmx_http_stream_end(c->ex);
}

static void on_failure(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    cmx_reply_route_failure(ctx, r, err);
}

static const cmx_route_sink route_sink = {
    on_response, on_stream_start, on_stream_chunk, on_stream_end, on_failure, NULL, NULL};

/* An admission still waiting for the fleet's answer is called off. */
static void stop_admitting(cmx_api_ctx *c)
{
    if (c->admitting) {
        cmx_gov_admit_cancel(c->worker->gov, &c->ticket);
        c->admitting = 0;
    }
}

static void on_client_gone(cmx_http_exchange *ex, void *arg)
{
    cmx_api_ctx *c = arg;
    stop_admitting(c);
    cmx_cache_cancel(c);
    cmx_route_cancel(c->route);
    cmx_reply_log(c, 499, cmx_route_result_of(c->route), "cancelled");
}

/* The worker's list of routed requests, for the end of a shutdown's grace
 * period; a request leaves it when its log line is written
 * (cmx_reply_untrack). */
static void track(cmx_api_ctx *c)
{
    cmx_worker *w = c->worker;
    c->prev = NULL;
    c->next = w->routing;
    if (w->routing)
        w->routing->prev = c;
    w->routing = c;
    c->routed = 1;
}

#define SHUTDOWN_MESSAGE                                                                           \
    "the gateway is shutting down and its grace period is over; the request was ended before "     \
    "its answer was complete"

void cmx_api_cut_in_flight(cmx_worker *w)
{
    while (w->routing) {
        cmx_api_ctx *c = w->routing;
        cmx_reply_untrack(c);
        stop_admitting(c);
        cmx_cache_cancel(c);
        cmx_route_cancel(c->route);
        const cmx_route_result *r = cmx_route_result_of(c->route);
        if (c->stream_started) {
            cmx_reply_stream_fail(c, r, CMX_ERR_UNAVAILABLE, "gateway_shutdown", SHUTDOWN_MESSAGE,
                                  "gateway_shutdown");
        } else {
            cmx_reply_error(c, 503, CMX_ERR_UNAVAILABLE, NULL, "gateway_shutdown", SHUTDOWN_MESSAGE,
                            r, NULL);
        }
    }
}

static void start_route(cmx_api_ctx *c)
{
    cmx_route_sink sink = c->client ? cmx_client_api_route_sink : route_sink;
    sink.ctx = c;
    /* When the route ends at once, the exchange is finished and c is gone. */
    cmx_route *route = cmx_route_start(c->wgen->router, c->group, &c->call, &sink);
    if (route)
        c->route = route;
}

/* "model 'x' not found; available: a, b" — bounded, so a config with many
 * groups still gives a readable message. */
static const char *unknown_model_message(cmx_api_ctx *c)
{
    const cmx_config *cfg = c->cfg;
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_printf(&b, "model '%.200s' not found; available: ", c->scan.model_name);
    for (size_t i = 0; i < cfg->n_models && b.len < 900; i++)
        cmx_buf_printf(&b, "%s%s", i ? ", " : "", cfg->models[i].name);
    const char *msg =
        cmx_buf_failed(&b) ? "model not found" : cmx_arena_strndup(c->req->arena, b.data, b.len);
    cmx_buf_free(&b);
    return msg;
}

/* A refusal by the governance: its status, code and headers. */
static void governance_refuses(cmx_api_ctx *c, const char *code, const cmx_error *err)
{
    char headers[96] = "";
    if (err->retry_after_ms)
        snprintf(headers, sizeof headers, "Retry-After: %u\r\n",
                 (err->retry_after_ms + 999) / 1000);
    /* Waiting will not bring a budget back before its reset: clients that
     * retry 429s on their own (the OpenAI SDKs) should not. */
    if (err->kind == CMX_ERR_BUDGET)
        snprintf(headers, sizeof headers, "x-should-retry: false\r\n");
    cmx_reply_error(c, err->status, err->kind, NULL, code, err->message, NULL,
                    headers[0] ? headers : NULL);
}

/* Past admission: the cache, then the route; the response cache keeps
 * chat completions and embeddings (not another API's client). */
static void go(cmx_api_ctx *c)
{
    if (c->client || !cmx_cache_lookup(c, start_route))
        start_route(c);
}

/* The fleet's answer to an admission that had to wait for it. */
static void on_admitted(void *ctx, int admitted, const char *code, const cmx_error *err)
{
    cmx_api_ctx *c = ctx;
    c->admitting = 0;
    if (admitted)
        go(c);
    else
        governance_refuses(c, code, err);
}

int cmx_completions_prepare(cmx_api_ctx *c, cmx_api api, const char *body, size_t len)
{
    const cmx_http_request *req = c->req;
    c->stream = api != CMX_API_EMBEDDINGS && c->scan.stream;
    c->group = cmx_config_find_model(c->cfg, c->scan.model_name, strlen(c->scan.model_name));
    if (!c->group) {
        cmx_reply_error(c, 404, CMX_ERR_NOT_FOUND, "model", "model_not_found",
                        unknown_model_message(c), NULL, NULL);
        return 0;
    }
    c->call.api = api;
    c->call.body = body;
    c->call.body_len = len;
    c->call.scan = &c->scan;
    c->call.arena = req->arena;
    c->call.request_id = c->request_id;
    if (c->stream) {
        c->call.client_backlog = client_backlog;
        c->call.client_ctx = c;
    }
    /* The router decides which region applies (router/residency.h); the
     * header's syntax is checked here, where it is read. */
    const cmx_slice *residency = cmx_http_header_get(req, "x-cloudmux-residency");
    if (residency) {
        c->call.residency_header =
            cmx_residency_tag_valid(residency->ptr, residency->len)
                ? cmx_arena_strndup(req->arena, residency->ptr, residency->len)
                : NULL;
        if (!c->call.residency_header) {
            cmx_reply_error(c, 400, CMX_ERR_BAD_REQUEST, NULL, "invalid_residency",
                            "x-cloudmux-residency must be " CMX_RESIDENCY_TAG_SYNTAX
                            " (such as eu or us)",
                            NULL, NULL);
            return 0;
        }
    }
    c->call.residency_key = c->key_residency;
    return 1;
}

void cmx_completions_route(cmx_api_ctx *c)
{
    /* The key's and team's groups, budget and limits (virtual keys), and the
     * ledger's health when it must refuse; in a fleet the shared limits may
     * answer later. */
    cmx_progress admitted = CMX_READY;
    if (c->governed) {
        const char *code = NULL;
        cmx_error err;
        cmx_error_clear(&err);
        /* About four bytes a token, as the router reserves against a target's tpm. */
        uint64_t tokens = c->req->body_len / 4 + 1;
        admitted = cmx_gov_admit(c->worker->gov, (size_t)c->worker->index, &c->ticket,
                                 c->group->name, tokens, on_admitted, c, &code, &err);
        if (admitted == CMX_FAILED) {
            governance_refuses(c, code, &err);
            return;
        }
    }
    cmx_http_on_close(c->ex, on_client_gone, c);
    track(c);
    if (admitted == CMX_PENDING)
        c->admitting = 1;
    else
        go(c);
}

void cmx_completions_handle(cmx_api_ctx *c, cmx_api api)
{
    const cmx_http_request *req = c->req;
    cmx_error err;
    cmx_error_clear(&err);
    if (cmx_json_scan_request(api, req->body, req->body_len, req->arena, &c->scan, &err) !=
        CMX_OK) {
        cmx_reply_error(c, 400, CMX_ERR_BAD_REQUEST, NULL, "invalid_request", err.message, NULL,
                        NULL);
        return;
    }
    if (cmx_completions_prepare(c, api, req->body, req->body_len))
        cmx_completions_route(c);
}
