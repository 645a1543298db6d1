/* reply.c — error bodies, response headers and access log lines; see reply.h. */
#include "reply.h"
#include "client_api.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/error_json.h"
#include "governance/pricing.h"
#include "core/str.h"
#include "governance/usage_estimate.h"

/* The request's cost at the answering target's price, formatted into buf;
 * NULL when unknown (no price, no usage, or no target answered). */
static const char *cost_text(const cmx_route_result *r, char *buf, size_t len)
{
    if (!r || !r->target)
        return NULL;
    double usd = cmx_price_cost(&r->target->price, &r->usage);
    return usd >= 0 && cmx_cost_format(usd, buf, len) ? buf : NULL;
}

/* Appends s to p; the caller has sized the buffer. */
static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static const char *const cache_header[] = {NULL, "x-cloudmux-cache: hit\r\n",
                                           "x-cloudmux-cache: miss\r\n",
                                           "x-cloudmux-cache: bypass\r\n"};
static const char *const cache_name[] = {NULL, "hit", "miss", "bypass"};

/* 1 when an earlier attempt went to another target than the one that
 * answered: the request failed over (retries on one target do not count). */
static int failed_over(const cmx_route_result *r)
{
    if (!r->records || r->attempts < 2)
        return 0;
    const cmx_attempt_record *first = &r->records[0];
    if (!first->provider || !first->model || !r->model)
        return 0;
    return strcmp(first->provider, r->provider) != 0 || strcmp(first->model, r->model) != 0;
}

/* An upstream's request id, if it can go into a header as it is. */
static const char *header_safe_id(const char *id)
{
    if (!id || !*id)
        return NULL;
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return NULL;
    return id;
}

const char *cmx_reply_headers(cmx_api_ctx *c, const cmx_route_result *r, const char *extra)
{
    /* Assembled by hand: this runs for every response, and printf-family
     * formatting cost more than the rest of the header work together. */
    const char *provider = r && r->provider ? r->provider : NULL;
    const char *model = provider && r->model ? r->model : "";
    /* The answer came from a fallback group: say which. */
    const char *fallback =
        provider && r->group && c->group && strcmp(r->group, c->group->name) != 0 ? r->group : NULL;
    char cost[40];
    const char *cost_usd = provider ? cost_text(r, cost, sizeof cost) : NULL;
    /* An answer from the cache cost no provider anything. */
    if (c->cache == 1 + CMX_CACHE_RESULT_HIT)
        cost_usd = "0";
    const char *cache =
        c->cache > 0 && c->cache <= CMX_CACHE_RESULTS ? cache_header[c->cache] : NULL;
    const char *upstream_id = r ? header_safe_id(r->upstream_request_id) : NULL;
    size_t need = 64 + strlen(c->request_id) + (extra ? strlen(extra) : 0) +
                  (cache ? strlen(cache) : 0) + (upstream_id ? 40 + strlen(upstream_id) : 0) +
                  (cost_usd ? 24 + strlen(cost_usd) : 0) +
                  (provider ? 96 + strlen(provider) + strlen(model) : 0) +
                  (fallback ? 32 + strlen(fallback) : 0);
    char *out = cmx_arena_alloc(c->req->arena, need);
    if (!out)
        return extra;
    char *p = put_str(out, "x-request-id: ");
    p = put_str(p, c->request_id);
    p = put_str(p, "\r\n");
    if (provider) {
        char attempts[24];
        snprintf(attempts, sizeof attempts, "%zu", r->attempts);
        p = put_str(p, "x-cloudmux-provider: ");
        p = put_str(p, provider);
        p = put_str(p, "\r\nx-cloudmux-model: ");
        p = put_str(p, model);
        p = put_str(p, "\r\nx-cloudmux-attempts: ");
        p = put_str(p, attempts);
        p = put_str(p, "\r\n");
        if (failed_over(r))
            p = put_str(p, "x-cloudmux-failed-over: true\r\n");
    }
    if (upstream_id) {
        p = put_str(p, "x-cloudmux-upstream-request-id: ");
        p = put_str(p, upstream_id);
        p = put_str(p, "\r\n");
    }
    if (fallback) {
        p = put_str(p, "x-cloudmux-fallback: ");
        p = put_str(p, fallback);
        p = put_str(p, "\r\n");
    }
    if (cost_usd) {
        p = put_str(p, "x-cloudmux-cost-usd: ");
        p = put_str(p, cost_usd);
        p = put_str(p, "\r\n");
    }
    if (cache)
        p = put_str(p, cache);
    if (extra)
        p = put_str(p, extra);
    *p = '\0';
    return out;
}

void cmx_reply_error_json(cmx_buf *b, cmx_api api, cmx_err kind, const char *param,
                          const char *code, const char *message, const cmx_route_result *r)
{
    if (api == CMX_API_MESSAGES || api == CMX_API_COUNT_TOKENS) {
        cmx_error_json_anthropic_open(b, kind, message);
    } else {
        cmx_error_body body = {.kind = kind, .message = message, .param = param, .code = code};
        cmx_error_json_open(b, &body);
    }
    if (r && r->attempts) {
        cmx_buf_append(b, CMX_LIT(",\"attempts\":["));
        for (size_t i = 0; i < r->attempts; i++) {
            const cmx_attempt_record *rec = &r->records[i];
            cmx_buf_append_str(b, i ? ",{\"provider\":" : "{\"provider\":");
            cmx_json_put_string(b, rec->provider);
            cmx_buf_append(b, CMX_LIT(",\"model\":"));
            cmx_json_put_string(b, rec->model);
            cmx_buf_append(b, CMX_LIT(",\"error\":"));
            cmx_json_put_string(b, cmx_err_name(rec->kind));
            cmx_buf_append(b, CMX_LIT(",\"cause\":"));
            cmx_json_put_string(b, cmx_cause_name(rec->cause));
            cmx_buf_printf(b, ",\"status\":%d,\"latency_ms\":%u", rec->status, rec->latency_ms);
            if (rec->retry_after_ms)
                cmx_buf_printf(b, ",\"retry_after_ms\":%u", rec->retry_after_ms);
            cmx_buf_append(b, CMX_LIT(",\"message\":"));
            cmx_json_put_string(b, rec->message);
            if (rec->upstream_request_id) {
                cmx_buf_append(b, CMX_LIT(",\"upstream_request_id\":"));
                cmx_json_put_string(b, rec->upstream_request_id);
            }
            cmx_buf_append(b, CMX_LIT("}"));
        }
        cmx_buf_append(b, CMX_LIT("]"));
    }
    cmx_error_json_close(b);
}

/* Requests, attempts, tokens and timings into this worker's shard: index
 * lookups and counter bumps, no allocation. */
static void record_metrics(cmx_api_ctx *c, int status, const cmx_route_result *r,
                           uint64_t latency_us)
{
    cmx_metrics_shard *shard = c->worker->shard;
    const cmx_model_group *g = c->group;
    /* A request that started before a reload counts in the generation that
     * serves now, under the same group name. */
    const cmx_config *now_cfg = c->worker->current->gen->cfg;
    if (g && now_cfg != c->cfg)
        g = cmx_config_find_model(now_cfg, g->name, strlen(g->name));
    cmx_metrics_request rq = {
        .api = c->api_endpoint ? c->api : (cmx_api)CMX_API__COUNT, /* none: not counted */
        .group = g,
        .target = r && g ? cmx_metrics_target_index(g, r->provider, r->model) : -1,
        .status = status,
        .stream = c->stream,
        .duration_us = latency_us,
        .upstream_us = r ? r->upstream_us : 0,
        .prompt_tokens = r ? r->usage.prompt_tokens : -1,
        .completion_tokens = r ? r->usage.completion_tokens : -1,
    };
    cmx_metrics_record_request(shard, &rq);
    if (c->cache > 0)
        cmx_metrics_record_cache(shard, g, (cmx_cache_result)(c->cache - 1));
    if (!r || !g || !r->records)
        return;
    /* The router records at most this many attempts (route.c). */
    size_t cap = g->n_targets * (g->num_retries + 1);
    size_t n = r->attempts < cap ? r->attempts : cap;
    for (size_t i = 0; i < n; i++) {
        const cmx_attempt_record *rec = &r->records[i];
        cmx_metrics_record_attempt(shard, g, cmx_metrics_target_index(g, rec->provider, rec->model),
                                   rec->kind);
    }
}

/* Settles the request's key and queues its ledger row.  A stream that was
 * cut (by the upstream or by the client leaving) is charged for what it
 * produced, estimated when the provider's count never came. */
static void governance_end(cmx_api_ctx *c, int status, const cmx_route_result *r, const char *error,
                           uint64_t latency_us)
{
    if (!c->governed) {
        cmx_gov_key_unref(c->ticket.key);
        c->ticket.key = NULL;
        return;
    }
    const cmx_route_result *rr = r ? r : c->stream_result;
    cmx_gov_outcome o = {
        .request_id = c->request_id,
        .group = c->group ? c->group->name : NULL,
        .provider = rr ? rr->provider : NULL,
        .model = rr ? rr->model : NULL,
        .error = error,
        .status = status,
        .attempts = rr ? rr->attempts : 0,
        /* Nothing was sent upstream: nothing to pay.  Sent but no answer
         * (the client left mid-request): unknown. */
        .cost_usd = rr || c->route ? -1 : 0,
        .latency_us = latency_us,
    };
    if (rr)
        o.usage = rr->usage;
    else
        cmx_usage_init(&o.usage);
    if (c->stream && c->stream_result && error)
        o.estimated = cmx_usage_estimate(&o.usage, c->req->body_len, c->stream_chars);
    if (rr && rr->target)
        o.cost_usd = cmx_price_cost(&rr->target->price, &o.usage);
    /* An answer from the response cache cost nothing upstream. */
    if (c->cache == 1 + CMX_CACHE_RESULT_HIT) {
        o.cache_hit = 1;
        o.cost_usd = 0;
    }
    /* An error answer delivered nothing, and providers bill no errors. */
    if (o.cost_usd < 0 && status >= 400 && status != 499 && !c->stream_result)
        o.cost_usd = 0;
    cmx_gov_request_end(c->worker->gov, (size_t)c->worker->index, &c->ticket, &o);
}

void cmx_reply_untrack(cmx_api_ctx *c)
{
    if (!c->routed)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->worker->routing = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->routed = 0;
}

void cmx_reply_log(cmx_api_ctx *c, int status, const cmx_route_result *r, const char *error)
{
    if (c->logged)
        return;
    c->logged = 1;
    if (c->worker->gov && (c->governed || c->ticket.key))
        governance_end(c, status, r, error, cmx_now_us() - c->req->start_us);
    cmx_reply_untrack(c);
    if (c->in_flight) {
        c->in_flight = 0;
        cmx_metrics_request_end(c->worker->shard);
    }
    if (c->quiet)
        return;
    uint64_t latency_us = cmx_now_us() - c->req->start_us;
    if (c->worker->shard)
        record_metrics(c, status, r, latency_us);
    if (!c->worker->access_log)
        return;
    cmx_access_entry e = {
        .request_id = c->request_id,
        .method = c->req->method.ptr,
        .method_len = c->req->method.len,
        .path = c->req->path.ptr,
        .path_len = c->req->path.len,
        .api = c->api_endpoint ? cmx_api_name(c->api) : NULL,
        .model = c->group ? c->group->name : NULL,
        .provider = r ? r->provider : NULL,
        .target_model = r ? r->model : NULL,
        .status = status,
        .attempts = r ? r->attempts : 0,
        .stream = c->stream,
        .latency_us = latency_us,
        .upstream_us = r ? r->upstream_us : 0,
        .error = error,
        .upstream_request_id = r ? r->upstream_request_id : NULL,
    };
    char cost[40];
    if (r) {
        e.usage = r->usage;
        e.cost_usd = cost_text(r, cost, sizeof cost);
    } else {
        cmx_usage_init(&e.usage);
    }
    if (c->cache > 0 && c->cache <= CMX_CACHE_RESULTS) {
        e.cache = cache_name[c->cache];
        if (c->cache == 1 + CMX_CACHE_RESULT_HIT)
            e.cost_usd = "0";
    }
    cmx_access_log_write(c->worker->access_log, &e);
}

void cmx_reply_sse(cmx_api_ctx *c, const char *data, size_t len)
{
    cmx_reply_sse_event(c, NULL, data, len);
}

void cmx_reply_sse_event(cmx_api_ctx *c, const char *name, const char *data, size_t len)
{
    cmx_buf *b = &c->worker->scratch;
    cmx_buf_reset(b);
    if (name) {
        cmx_buf_append(b, CMX_LIT("event: "));
        cmx_buf_append_str(b, name);
        cmx_buf_append(b, CMX_LIT("\n"));
    }
    cmx_buf_append(b, CMX_LIT("data: "));
    cmx_buf_append(b, data, len);
    cmx_buf_append(b, CMX_LIT("\n\n"));
    if (cmx_buf_failed(b)) {
        /* an event that cannot be sent whole ends the stream as cut */
        cmx_http_stream_abort(c->ex);
        return;
    }
    cmx_http_stream_write(c->ex, b->data, b->len);
}

void cmx_reply_stream_fail(cmx_api_ctx *c, const cmx_route_result *r, cmx_err kind,
                           const char *code, const char *message, const char *logged)
{
    if (c->api == CMX_API_CHAT) {
        cmx_buf b = CMX_BUF_INIT;
        cmx_reply_error_json(&b, c->api, kind, NULL, code, message, NULL);
        cmx_reply_sse(c, b.data, b.len);
        cmx_buf_free(&b);
    } else {
        cmx_client_api_stream_fail(c, kind, message);
    }
    cmx_reply_log(c, 200, r, logged);
    cmx_http_stream_end(c->ex);
}

void cmx_reply_route_failure(cmx_api_ctx *c, const cmx_route_result *r, const cmx_error *err)
{
    char retry[48] = "";
    if (err->kind == CMX_ERR_RATE_LIMITED && err->retry_after_ms)
        snprintf(retry, sizeof retry, "Retry-After: %u\r\n", (err->retry_after_ms + 999) / 1000);
    cmx_reply_error(c, err->status, err->kind, NULL, NULL, err->message, r,
                    retry[0] ? retry : NULL);
}

void cmx_reply_json(cmx_api_ctx *c, int status, const char *extra_headers, const char *body,
                    size_t len, const cmx_route_result *r)
{
    cmx_reply_log(c, status, r, NULL);
    cmx_http_respond(c->ex, status, "application/json", cmx_reply_headers(c, r, extra_headers),
                     body, len);
}

void cmx_reply_error(cmx_api_ctx *c, int status, cmx_err kind, const char *param, const char *code,
                     const char *message, const cmx_route_result *r, const char *extra_headers)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_reply_error_json(&b, c->api, kind, param, code, message, r);
    if (!status)
        status = cmx_err_http_status(kind);
    cmx_reply_log(c, status, r, cmx_err_name(kind));
    if (cmx_buf_failed(&b)) {
        /* no room for the attempts list: the error itself, from the stack */
        char mem[512];
        cmx_buf_free(&b);
        cmx_buf_init_fixed(&b, mem, sizeof mem);
        cmx_reply_error_json(&b, c->api, kind, NULL, code, "out of memory", NULL);
    }
    cmx_http_respond(c->ex, status, "application/json", cmx_reply_headers(c, r, extra_headers),
                     b.data ? b.data : "", b.len);
    cmx_buf_free(&b);
}
