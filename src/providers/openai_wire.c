/* openai_wire.c — one attempt against an upstream that speaks the OpenAI
 * wire format: request bytes out, answer bytes back, judged on the way.
 *
 * The canonical format is the upstream's own, so nothing is translated: the
 * client's bytes go upstream with the model name spliced in, and the answer
 * comes back as bytes.  What this adds is judgement about those bytes: a 200
 * that is not JSON, a stream that is not SSE, a chunk that is garbage or a
 * stream that ends without `[DONE]` are upstream protocol errors, never
 * passed off as answers.  Usage is read by token scan; for streams the
 * attempt asks upstream for the usage chunk even when the client did not, so
 * spend is never lost, and drops that chunk on the way back.  Shared by the
 * openai and azure providers, which differ only in URL and credentials.
 *
 * The same holds for OpenAI's Responses API, which these upstreams speak
 * themselves: the client's body goes on with the model spliced in, its
 * events come back as they are.  A Responses stream has no [DONE]: it is
 * whole after response.completed (or response.incomplete), whose response
 * carries the usage; an `error` or response.failed event ends the attempt.
 * When the sink takes runs of events (on_events), a Responses stream framed
 * plainly (http/sse_relay.h) goes on in the upstream's own bytes: the first
 * event alone (the router commits on it), then the events of each read in
 * one run, each judged as before; the first event of another framing hands
 * it and the rest of the stream to the SSE reader, event by event. */
#include "openai_wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "http/sse.h"
#include "http/sse_relay.h"
#include "providers/provider_error.h"
#include "providers/upstream_answer.h"
#include "core/str.h"

struct cmx_openai_wire_attempt {
    const cmx_provider_config *cfg;
    cmx_upstream_call *call;
    cmx_attempt_sink sink;
    int stream;
    int strip_usage_chunk; /* we asked for usage; the client did not */
    int status;
    int content_type_ok;
    char content_type[64];
    uint32_t retry_after_ms;
    cmx_buf body; /* whole body (non-stream) or error body */
    cmx_sse_parser sse;
    int sse_ready;
    int done_seen; /* "data: [DONE]" arrived (Responses: response.completed or .incomplete) */
    int responses; /* the Responses API: events named by their "type" */
    int relay;     /* Responses events go on in runs of upstream bytes (sink.on_events) */
    cmx_sse_relay relay_state;
    size_t chunks;
    cmx_usage usage;
    cmx_error stream_err; /* set by the SSE callback to stop */
    cmx_arena *arena;
    size_t (*client_backlog)(void *client_ctx);
    void *client_ctx;
    int upstream_id_seen;
};
typedef struct cmx_openai_wire_attempt openai_attempt;

static size_t client_backlog(void *ctx)
{
    openai_attempt *a = ctx;
    return a->client_backlog(a->client_ctx);
}

/* The client's body with the upstream model name spliced in and, for a
 * stream whose client did not ask for usage, a request for the usage chunk. */
static const char *build_body(const cmx_call *call, const char *model, int ask_usage,
                              int keep_extra_content, size_t *out_len)
{
    const char *body = call->body;
    size_t len = call->body_len;
    if (model && call->scan->model.end > call->scan->model.start) {
        body = cmx_json_splice_string(call->arena, body, len, call->scan->model, model, &len);
        if (!body)
            return NULL;
    }
    if (ask_usage) {
        static const char insert[] = "\"stream_options\":{\"include_usage\":true},";
        size_t at = call->scan->body.start + 1; /* just inside the top-level '{' */
        char *out = cmx_arena_alloc(call->arena, len + sizeof insert);
        if (!out)
            return NULL;
        memcpy(out, body, at);
        memcpy(out + at, insert, sizeof insert - 1);
        memcpy(out + at + sizeof insert - 1, body + at, len - at);
        len += sizeof insert - 1;
        out[len] = '\0';
        body = out;
    }
    /* The gateway's own request vocabulary for the translating providers
     * (prompt-cache marks, thinking sent back, a Gemini tool call's thought
     * signature in extra_content) is unknown to OpenAI-format services,
     * which may refuse it ("Unrecognized request argument", "Additional
     * properties are not allowed"): taken out, only when a body holds it,
     * so other requests pass as they are.  Google's own OpenAI-compatible
     * API reads extra_content, so it keeps it. */
    static const char *const portable_keys[] = {"cache_control", "thinking_blocks",
                                                "extra_content"};
    size_t n_keys = keep_extra_content ? 2 : 3;
    if (cmx_json_mentions_key(body, len, "cache_control") ||
        cmx_json_mentions_key(body, len, "thinking_blocks") ||
        (!keep_extra_content && cmx_json_mentions_key(body, len, "extra_content")))
        body = cmx_json_strip_keys(call->arena, body, len, portable_keys, n_keys, &len);
    *out_len = len;
    return body;
}

static void attempt_release(openai_attempt *a)
{
    cmx_buf_free(&a->body);
    cmx_sse_relay_free(&a->relay_state);
    if (a->sse_ready)
        cmx_sse_parser_free(&a->sse);
}

/* Reports the outcome.  The attempt lives in the request's arena, which the
 * sink may release from inside on_done: nothing of it is touched after. */
static void finish(openai_attempt *a, const cmx_error *err)
{
    cmx_attempt_sink sink = a->sink;
    cmx_usage usage = a->usage;
    cmx_buf body = a->body;
    int deliver_body = (!err || err->kind == CMX_OK) && !a->stream;
    a->body = (cmx_buf)CMX_BUF_INIT;
    attempt_release(a);
    sink.on_done(sink.ctx, err, &usage, deliver_body ? (body.data ? body.data : "") : NULL,
                 deliver_body ? body.len : 0);
    cmx_buf_free(&body);
}

static int is_json_type(const char *ct)
{
    return strstr(ct, "json") != NULL;
}

/* OpenAI's x-ratelimit-reset-* values are Go durations: "1s", "6m0s",
 * "20ms", "1h2m3.5s".  Milliseconds, or -1 when it is not one. */
static double parse_go_duration(cmx_slice v)
{
    double total = 0;
    size_t i = 0;
    if (v.len == 0)
        return -1;
    while (i < v.len) {
        double x = 0, scale = 0;
        int digits = 0;
        while (i < v.len && ((v.ptr[i] >= '0' && v.ptr[i] <= '9') || v.ptr[i] == '.')) {
            if (v.ptr[i] == '.')
                scale = 1;
            else if (scale)
                x += (v.ptr[i] - '0') * (scale /= 10);
            else
                x = x * 10 + (v.ptr[i] - '0');
            i++;
            digits++;
        }
        if (!digits || i >= v.len)
            return -1;
        double unit;
        if (v.ptr[i] == 'h') {
            unit = 3600000;
            i++;
        } else if (v.ptr[i] == 'm' && i + 1 < v.len && v.ptr[i + 1] == 's') {
            unit = 1;
            i += 2;
        } else if (v.ptr[i] == 'm') {
            unit = 60000;
            i++;
        } else if (v.ptr[i] == 's') {
            unit = 1000;
            i++;
        } else {
            return -1;
        }
        total += x * unit;
    }
    return total < 86400000 ? total : 86400000;
}

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    openai_attempt *a = ctx;
    a->status = status;
    /* When a 429 has no Retry-After, the reset time of the exhausted limit
     * is the server's hint instead. */
    double reset_requests = -1, reset_tokens = -1;
    int out_of_requests = 0, out_of_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        const cmx_http_header *h = &headers[i];
        if (cmx_slice_case_eq(h->name, "content-type")) {
            cmx_header_copy_lower(a->content_type, sizeof a->content_type, h->value);
        } else if (!a->upstream_id_seen && a->sink.on_upstream_id &&
                   cmx_header_is_request_id(h->name)) {
            a->upstream_id_seen = 1;
            a->sink.on_upstream_id(a->sink.ctx, h->value.ptr,
                                   h->value.len < CMX_MAX_UPSTREAM_ID ? h->value.len
                                                                      : CMX_MAX_UPSTREAM_ID);
        } else if (cmx_slice_case_eq(h->name, "retry-after-ms")) {
            double ms = cmx_header_decimal(h->value);
            if (ms > 0)
                a->retry_after_ms = (uint32_t)ms;
        } else if (cmx_slice_case_eq(h->name, "retry-after") && !a->retry_after_ms) {
            int64_t ms = cmx_header_retry_after_ms(h->value);
            if (ms >= 0)
                a->retry_after_ms = (uint32_t)ms;
        } else if (status == 429 && cmx_slice_case_eq(h->name, "x-ratelimit-reset-requests")) {
            reset_requests = parse_go_duration(h->value);
        } else if (status == 429 && cmx_slice_case_eq(h->name, "x-ratelimit-reset-tokens")) {
            reset_tokens = parse_go_duration(h->value);
        } else if (cmx_slice_case_eq(h->name, "x-ratelimit-remaining-requests")) {
            out_of_requests = cmx_slice_eq(h->value, "0");
        } else if (cmx_slice_case_eq(h->name, "x-ratelimit-remaining-tokens")) {
            out_of_tokens = cmx_slice_eq(h->value, "0");
        }
    }
    if (status == 429 && !a->retry_after_ms) {
        double hint = -1;
        if (out_of_requests && reset_requests > hint)
            hint = reset_requests;
        if (out_of_tokens && reset_tokens > hint)
            hint = reset_tokens;
        if (hint < 0) /* which limit ran out is not said: the sooner reset */
            hint = reset_requests >= 0 && (reset_tokens < 0 || reset_requests < reset_tokens)
                       ? reset_requests
                       : reset_tokens;
        if (hint > 0)
            a->retry_after_ms = (uint32_t)hint;
    }
    if (status >= 200 && status < 300)
        a->content_type_ok = a->stream ? strstr(a->content_type, "text/event-stream") != NULL
                                       : is_json_type(a->content_type);
}

/* True when the chunk carries a usage object ("usage":{...}, not null). */
static int has_usage_object(const char *data, size_t len)
{
    static const char key[] = "\"usage\":";
    const char *p = memmem(data, len, key, sizeof key - 1);
    if (!p)
        return 0;
    const char *end = data + len;
    for (p += sizeof key - 1; p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'); p++)
        ;
    return p < end && *p == '{';
}

/* The cheap check for chunks after the first: one JSON object, by its ends. */
static int looks_like_object(const char *data, size_t len)
{
    size_t i = 0, j = len;
    while (i < j && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    while (j > i && (data[j - 1] == ' ' || data[j - 1] == '\t' || data[j - 1] == '\n' ||
                     data[j - 1] == '\r'))
        j--;
    return j - i >= 2 && data[i] == '{' && data[j - 1] == '}';
}

/* A Responses event (data, its type tn bytes, 0 when it has none):
 * failures and the end are named by "type".  0 when it goes on to the
 * client (counted), 1 when the attempt stops (stream_err says why). */
static int judge_responses_event(openai_attempt *a, const char *data, size_t len, const char *type,
                                 size_t tn)
{
    if (CMX_SPAN_IS(type, tn, "error") || CMX_SPAN_IS(type, tn, "response.failed")) {
        int limited = memmem(data, len, CMX_LIT("rate_limit_exceeded")) != NULL;
        cmx_error_set(&a->stream_err, limited ? CMX_ERR_RATE_LIMITED : CMX_ERR_UNAVAILABLE,
                      "upstream sent %.*s in the stream (after %zu events)", (int)tn, type,
                      a->chunks);
        a->stream_err.cause = CMX_CAUSE_PROTOCOL;
        return 1;
    }
    int last =
        CMX_SPAN_IS(type, tn, "response.completed") || CMX_SPAN_IS(type, tn, "response.incomplete");
    cmx_usage u;
    int valid = tn > 0;
    if (valid && (a->chunks == 0 || last))
        valid = cmx_json_find_usage(data, len, a->arena, &u) >= 0;
    else if (valid)
        valid = looks_like_object(data, len);
    if (!valid) {
        cmx_error_set(&a->stream_err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream sent a stream event that is not a Responses event (after %zu "
                      "events)",
                      a->chunks);
        a->stream_err.cause = CMX_CAUSE_PROTOCOL;
        return 1;
    }
    if (last) {
        a->usage = u;
        a->done_seen = 1;
    }
    a->chunks++;
    return 0;
}

static int on_responses_event(openai_attempt *a, const cmx_sse_event *ev)
{
    char type[48];
    size_t tn = cmx_json_event_type(ev->data, ev->data_len, type, sizeof type);
    if (judge_responses_event(a, ev->data, ev->data_len, type, tn) != 0)
        return 1;
    a->sink.on_chunk(a->sink.ctx, ev->data, ev->data_len);
    return 0;
}

/* One upstream event.  The first chunk is validated in full: until it has
 * gone to the client the router can still fail over, so garbage must be
 * caught there.  Later chunks are checked by their shape, and parsed only
 * when they carry usage; full validation of every chunk would cost more than
 * the rest of the relay. */
static int on_sse_event(void *ctx, const cmx_sse_event *ev)
{
    openai_attempt *a = ctx;
    if (a->done_seen)
        return 0; /* anything after [DONE] is not part of the answer */
    if (a->responses)
        return on_responses_event(a, ev);
    if (CMX_SPAN_IS(ev->data, ev->data_len, "[DONE]")) {
        a->done_seen = 1;
        return 0;
    }
    int has_usage = 0;
    cmx_usage u;
    if (a->chunks == 0 || has_usage_object(ev->data, ev->data_len)) {
        has_usage = cmx_json_find_usage(ev->data, ev->data_len, a->arena, &u);
    } else if (!looks_like_object(ev->data, ev->data_len)) {
        has_usage = -1;
    }
    if (has_usage < 0) {
        cmx_error_set(&a->stream_err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream sent a stream chunk that is not valid JSON (after %zu chunks)",
                      a->chunks);
        a->stream_err.cause = CMX_CAUSE_PROTOCOL;
        return 1;
    }
    if (ev->data_len > 9 && memcmp(ev->data, CMX_LIT("{\"error\"")) == 0) {
        cmx_error_set(&a->stream_err, CMX_ERR_UNAVAILABLE,
                      "upstream sent an error event in the stream (after %zu chunks)", a->chunks);
        a->stream_err.cause = CMX_CAUSE_PROTOCOL;
        return 1;
    }
    if (has_usage == 1) {
        a->usage = u;
        if (a->strip_usage_chunk)
            return 0;
    }
    a->chunks++;
    a->sink.on_chunk(a->sink.ctx, ev->data, ev->data_len);
    return 0;
}

/* The SSE reader takes bytes of the stream (at_start: they begin it);
 * non-zero when the attempt stops (stream_err set). */
static int feed_reader(openai_attempt *a, const char *data, size_t len, int at_start)
{
    if (!a->sse_ready) {
        cmx_sse_parser_init(&a->sse, on_sse_event, a);
        a->sse.max_event_bytes = CMX_SSE_UPSTREAM_EVENT_MAX;
        if (!at_start)
            cmx_sse_parser_mid_stream(&a->sse);
        a->sse_ready = 1;
    }
    int rc = cmx_sse_feed(&a->sse, data, len);
    if (rc < 0)
        cmx_sse_upstream_event_refused(&a->stream_err);
    return rc;
}

/* A Responses stream passed on in runs (http/sse_relay.h). */
static cmx_sse_relay_verdict relay_judge(void *ctx, const cmx_sse_plain *ev)
{
    openai_attempt *a = ctx;
    size_t tn = ev->type_len < 48 ? ev->type_len : 0; /* as on_responses_event's */
    if (judge_responses_event(a, ev->data, ev->data_len, ev->type, tn) != 0)
        return CMX_SSE_RELAY_STOP;
    return a->done_seen ? CMX_SSE_RELAY_LAST : CMX_SSE_RELAY_PASS;
}

static void relay_first(void *ctx, const cmx_sse_plain *ev)
{
    openai_attempt *a = ctx;
    a->sink.on_chunk(a->sink.ctx, ev->data, ev->data_len);
}

static void relay_run(void *ctx, const char *sse, size_t len, size_t n)
{
    openai_attempt *a = ctx;
    a->sink.on_events(a->sink.ctx, sse, len, n);
}

static int relay_rest(void *ctx, const char *bytes, size_t len, int at_start)
{
    return feed_reader(ctx, bytes, len, at_start);
}

static const cmx_sse_relay_ops relay_ops = {relay_judge, relay_first, relay_run, relay_rest};

static void on_body(void *ctx, const char *data, size_t len)
{
    openai_attempt *a = ctx;
    int ok2xx = a->status >= 200 && a->status < 300;
    if (ok2xx && a->stream && a->content_type_ok) {
        int rc = a->relay ? cmx_sse_relay_feed(&a->relay_state, data, len, &relay_ops, a)
                          : feed_reader(a, data, len, 1);
        if (rc != 0) {
            if (rc < 0 && a->stream_err.kind == CMX_OK)
                cmx_sse_upstream_event_refused(&a->stream_err);
            cmx_upstream_cancel(a->call);
            cmx_error err = a->stream_err;
            finish(a, &err);
        }
        return;
    }
    cmx_error err;
    if (cmx_body_append_capped(&a->body, data, len, ok2xx, &err) != CMX_OK) {
        cmx_upstream_cancel(a->call);
        finish(a, &err);
    }
}

/* OpenAI's error codes that say more than the HTTP status (Azure's
 * content filter answers with one of them too). */
static const cmx_error_rule openai_rules[] = {
    {"context_length_exceeded", CMX_ERR_CONTEXT_WINDOW},
    {"content_filter", CMX_ERR_CONTENT_POLICY},
    {"content_policy_violation", CMX_ERR_CONTENT_POLICY},
    {NULL, CMX_OK},
};

/* An upstream error answer {"error":{"message","type","code"}} (or
 * {"error":"text"}) as the router's kinds. */
static void map_error_response(openai_attempt *a, cmx_error *err)
{
    json_t *root = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    const json_t *code = json_object_get(e, "code");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!msg && json_is_string(e))
        msg = json_string_value(e);
    cmx_provider_error pe = {
        .provider = a->cfg->name,
        .provider_type = a->cfg->type_name,
        .status = a->status,
        .type = json_string_value(code),
        .type_len = json_string_length(code),
        .message = msg,
        .rules = openai_rules,
        .retry_after_ms = a->retry_after_ms,
    };
    cmx_provider_error_set(&pe, err);
    json_decref(root);
}

static void on_complete(void *ctx, const cmx_error *uerr)
{
    openai_attempt *a = ctx;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        err = *uerr;
        if (a->stream && a->chunks > 0) {
            char m[sizeof err.message];
            snprintf(m, sizeof m, "upstream stream cut after %zu chunks: %.200s", a->chunks,
                     uerr->message);
            memcpy(err.message, m, sizeof m);
        }
        finish(a, &err);
        return;
    }
    if (a->status < 200 || a->status >= 300) {
        map_error_response(a, &err);
        finish(a, &err);
        return;
    }
    if (!a->content_type_ok) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream answered %d with content type '%s', expected %s", a->status,
                      a->content_type[0] ? a->content_type : "(none)",
                      a->stream ? "text/event-stream" : "application/json");
        err.cause = CMX_CAUSE_PROTOCOL;
        err.upstream_status = a->status;
        finish(a, &err);
        return;
    }
    if (a->stream) {
        if (!a->done_seen) {
            cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                          "upstream stream ended without %s after %zu chunks%s",
                          a->responses ? "response.completed" : "[DONE]", a->chunks,
                          cmx_sse_relay_partial(&a->relay_state) ||
                                  (a->sse_ready && cmx_sse_has_partial(&a->sse))
                              ? " (mid-event)"
                              : "");
            err.cause = CMX_CAUSE_PROTOCOL;
            finish(a, &err);
            return;
        }
        finish(a, NULL);
        return;
    }
    cmx_usage u;
    int has_usage =
        cmx_json_find_usage(a->body.data ? a->body.data : "", a->body.len, a->arena, &u);
    if (has_usage < 0) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream answered %d with a body that is not valid JSON (%zu bytes)",
                      a->status, a->body.len);
        err.cause = CMX_CAUSE_PROTOCOL;
        err.upstream_status = a->status;
        finish(a, &err);
        return;
    }
    if (has_usage == 1)
        a->usage = u;
    finish(a, NULL);
}

static const cmx_upstream_callbacks upstream_callbacks = {on_head, on_body, on_complete};

cmx_openai_wire_attempt *cmx_openai_wire_start(const cmx_openai_wire_request *req,
                                               const cmx_call *call, const cmx_attempt_sink *sink,
                                               cmx_error *err)
{
    openai_attempt *a = cmx_arena_calloc(call->arena, 1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->cfg = req->cfg;
    a->sink = *sink;
    a->arena = call->arena;
    a->stream = cmx_call_streams(call);
    a->responses = call->api == CMX_API_RESPONSES;
    a->relay = a->responses && a->stream && sink->on_events;
    a->relay_state.max_event_bytes = CMX_SSE_UPSTREAM_EVENT_MAX;
    cmx_usage_init(&a->usage);
    int ask_usage = a->stream && call->api == CMX_API_CHAT && !req->no_stream_usage &&
                    !call->scan->include_usage &&
                    call->scan->stream_options.end == call->scan->stream_options.start;
    a->strip_usage_chunk = ask_usage;

    size_t body_len = 0;
    const char *body = build_body(call, req->model, ask_usage, req->keep_extra_content, &body_len);
    if (!body) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* The gateway's request id goes along, so the provider's logs can be
     * matched with ours. */
    const char *headers = req->headers;
    size_t headers_len = req->headers_len;
    if (req->request_id_header && call->request_id) {
        char *h = cmx_arena_sprintf(call->arena, "%.*s%s: %s\r\n", (int)req->headers_len,
                                    req->headers, req->request_id_header, call->request_id);
        if (h) {
            headers = h;
            headers_len = strlen(h);
        }
    }
    const cmx_timeouts_config *t = &req->cfg->timeouts;
    cmx_upstream_request ureq = {
        .origin = req->origin,
        .tls_verify = req->cfg->tls_verify,
        .http2 = req->cfg->http2,
        .ca_file = req->cfg->ca_file,
        .method = "POST",
        .path = req->path,
        .headers = headers,
        .headers_len = headers_len,
        .body = body,
        .body_len = body_len,
        .timeouts = {t->connect_ms, t->first_byte_ms, t->idle_ms,
                     cmx_call_total_ms(call, t->total_ms)},
    };
    a->call = cmx_upstream_send(req->upstream, &ureq, &upstream_callbacks, a);
    if (!a->call) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (a->stream && call->client_backlog) {
        a->client_backlog = call->client_backlog;
        a->client_ctx = call->client_ctx;
        cmx_upstream_watch_backlog(a->call, client_backlog);
    }
    return a;
}

static int host_is(const char *host, const char *domain)
{
    size_t h = strlen(host), d = strlen(domain);
    return h >= d && strcasecmp(host + h - d, domain) == 0 &&
           (h == d || host[h - d - 1] == '.' || host[h - d - 1] == '-');
}

int cmx_openai_wire_is_google(const cmx_url *origin)
{
    return host_is(origin->host, "generativelanguage.googleapis.com") ||
           host_is(origin->host, "aiplatform.googleapis.com");
}

void cmx_openai_wire_cancel(cmx_openai_wire_attempt *a)
{
    cmx_upstream_cancel(a->call);
    attempt_release(a);
}
