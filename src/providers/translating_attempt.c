/* translating_attempt.c — the attempt plumbing shared by the translating
 * providers (see translating_attempt.h).
 *
 * The attempt lives in the request's arena, which the sink may release from
 * inside on_done: finish() is the one way out, and nothing of the attempt is
 * touched after it. */
#include "translating_attempt.h"
#include "upstream_answer.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void cmx_translating_init(cmx_translating_attempt *a, const cmx_translating_ops *ops,
                          struct event_base *base, const cmx_attempt_sink *sink, int stream)
{
    a->ops = ops;
    a->base = base;
    a->sink = *sink;
    a->stream = stream;
}

static void release(cmx_translating_attempt *a)
{
    if (a->deferred) {
        event_free(a->deferred);
        a->deferred = NULL;
    }
    cmx_buf_free(&a->request);
    cmx_buf_free(&a->body);
    cmx_buf_free(&a->held);
    cmx_translator_close(&a->tr);
    a->tr.ops = NULL;
    if (a->ops->release)
        a->ops->release(a);
}

/* The usage the stream's translator counted, or none. */
static void stream_usage(const cmx_translating_attempt *a, cmx_usage *u)
{
    if (a->tr.ops && a->tr.ops->usage)
        a->tr.ops->usage(a->tr.state, u);
    else
        cmx_usage_init(u);
}

/* Reports the outcome; `answer` (a whole canonical answer) is taken over. */
static void finish(cmx_translating_attempt *a, const cmx_error *err, const cmx_usage *usage,
                   cmx_buf *answer)
{
    cmx_attempt_sink sink = a->sink;
    cmx_usage u;
    if (usage)
        u = *usage;
    else
        stream_usage(a, &u);
    cmx_buf body = CMX_BUF_INIT;
    if (answer) {
        body = *answer;
        *answer = (cmx_buf)CMX_BUF_INIT;
    }
    release(a);
    int deliver = answer && (!err || err->kind == CMX_OK);
    sink.on_done(sink.ctx, err, &u, deliver ? (body.data ? body.data : "") : NULL,
                 deliver ? body.len : 0);
    cmx_buf_free(&body);
}

static void on_deferred(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    cmx_translating_attempt *a = ctx;
    cmx_error err = a->deferred_err;
    finish(a, &err, NULL, NULL);
}

void *cmx_translating_fail_later(cmx_translating_attempt *a, const cmx_error *why, cmx_error *err)
{
    a->deferred_err = *why;
    a->deferred = evtimer_new(a->base, on_deferred, a);
    struct timeval now = {0, 0};
    if (!a->deferred || evtimer_add(a->deferred, &now) != 0) {
        release(a);
        *err = *why;
        return NULL;
    }
    return a;
}

void cmx_translating_fail(cmx_translating_attempt *a, const cmx_error *why)
{
    finish(a, why, NULL, NULL);
}

/* ---- the translation ------------------------------------------------- */

/* The translator's emit: holds the first chunk back until a second exists,
 * then hands chunks to the sink. */
static void emit_chunk(void *ctx, const char *json, size_t len);
static void emit_events(void *ctx, const char *sse, size_t len, size_t n);

cmx_err cmx_translating_translate(cmx_translating_attempt *a, const cmx_translator_ops *tr,
                                  const cmx_call *call, const cmx_translate_params *p,
                                  cmx_error *err)
{
    if (tr->api != call->api || (a->stream && !tr->stream_content_type))
        return cmx_error_set(err, CMX_ERR_INTERNAL, "translator '%s' cannot serve this call",
                             tr->name);
    cmx_translate_params params = *p;
    params.created = (int64_t)time(NULL);
    params.include_usage = call->scan->include_usage;
    params.emit = emit_chunk;
    params.emit_ctx = a;
    params.emit_events = a->sink.on_events ? emit_events : NULL;
    cmx_err rc = cmx_translator_open(&a->tr, tr, call->arena, &params, err);
    if (rc != CMX_OK)
        return rc;
    cmx_translate_input in = {call->body, call->body_len, call->scan, call->arena,
                              call->anthropic_beta};
    /* About the client's size: grown once rather than doubled up to it. */
    cmx_buf_reserve(&a->request, call->body_len + 256);
    rc = tr->write_request(a->tr.state, &in, &a->request, err);
    if (rc == CMX_OK && cmx_buf_failed(&a->request))
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while translating the request");
    return rc;
}

/* ---- upstream callbacks ----------------------------------------------- */

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    cmx_translating_attempt *a = ctx;
    a->status = status;
    for (size_t i = 0; i < n; i++) {
        const cmx_http_header *h = &headers[i];
        if (cmx_slice_case_eq(h->name, "content-type")) {
            cmx_header_copy_lower(a->content_type, sizeof a->content_type, h->value);
            continue;
        }
        if (a->tr.ops->header)
            a->tr.ops->header(a->tr.state, h);
        if (!a->upstream_id_seen && a->sink.on_upstream_id && cmx_header_is_request_id(h->name)) {
            a->upstream_id_seen = 1;
            a->sink.on_upstream_id(a->sink.ctx, h->value.ptr,
                                   h->value.len < CMX_MAX_UPSTREAM_ID ? h->value.len
                                                                      : CMX_MAX_UPSTREAM_ID);
        }
        if (a->ops->header)
            a->ops->header(a, h);
    }
    if (status >= 200 && status < 300)
        a->content_type_ok = a->stream
                                 ? strstr(a->content_type, a->tr.ops->stream_content_type) != NULL
                                 : strstr(a->content_type, "json") != NULL;
}

/* The held chunk could not be copied: the stream cannot go on whole. */
static int held_lost(cmx_translating_attempt *a)
{
    if (!cmx_buf_failed(&a->held))
        return 0;
    if (a->stream_err.kind == CMX_OK)
        cmx_error_set(&a->stream_err, CMX_ERR_NOMEM, "out of memory while holding a stream chunk");
    return 1;
}

static void emit_chunk(void *ctx, const char *json, size_t len)
{
    cmx_translating_attempt *a = ctx;
    if (held_lost(a))
        return;
    if (a->chunks == 0 && !a->holding) {
        cmx_buf_reset(&a->held);
        a->holding = cmx_buf_append(&a->held, json, len) == 0;
        held_lost(a);
        return;
    }
    if (a->holding) {
        a->holding = 0;
        a->chunks++;
        a->sink.on_chunk(a->sink.ctx, a->held.data, a->held.len);
    }
    a->chunks++;
    a->sink.on_chunk(a->sink.ctx, json, len);
}

static void flush_held(cmx_translating_attempt *a)
{
    if (a->holding) {
        a->holding = 0;
        a->chunks++;
        a->sink.on_chunk(a->sink.ctx, a->held.data, a->held.len);
    }
}

/* A run of events goes on as it is, after the held first one. */
static void emit_events(void *ctx, const char *sse, size_t len, size_t n)
{
    cmx_translating_attempt *a = ctx;
    if (held_lost(a))
        return;
    flush_held(a);
    a->chunks += n;
    a->sink.on_events(a->sink.ctx, sse, len, n);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    cmx_translating_attempt *a = ctx;
    int ok2xx = a->status >= 200 && a->status < 300;
    if (ok2xx && a->stream && a->content_type_ok) {
        cmx_error_clear(&a->stream_err);
        if (a->tr.ops->feed(a->tr.state, data, len, &a->stream_err) != CMX_OK || held_lost(a)) {
            cmx_upstream_cancel(a->call);
            cmx_error err = a->stream_err;
            finish(a, &err, NULL, NULL);
        }
        return;
    }
    cmx_error err;
    if (cmx_body_append_capped(&a->body, data, len, ok2xx, &err) != CMX_OK) {
        cmx_upstream_cancel(a->call);
        finish(a, &err, NULL, NULL);
    }
}

static void complete_stream(cmx_translating_attempt *a)
{
    cmx_error err;
    cmx_error_clear(&err);
    if (a->tr.ops->end(a->tr.state, &err) != CMX_OK) {
        finish(a, &err, NULL, NULL);
        return;
    }
    if (held_lost(a)) {
        err = a->stream_err;
        finish(a, &err, NULL, NULL);
        return;
    }
    flush_held(a);
    finish(a, NULL, NULL, NULL);
}

static void complete_whole(cmx_translating_attempt *a)
{
    cmx_error err;
    cmx_error_clear(&err);
    cmx_buf out = CMX_BUF_INIT;
    cmx_buf_reserve(&out, a->body.len + 256); /* about the answer's size, as above */
    cmx_usage usage;
    cmx_usage_init(&usage);
    cmx_err rc = a->tr.ops->read_answer(a->tr.state, a->body.data ? a->body.data : "", a->body.len,
                                        &out, &usage, &err);
    if (rc == CMX_OK && cmx_buf_failed(&out))
        rc = cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory while translating the answer");
    if (rc != CMX_OK) {
        /* A refusal for content is the model's verdict, not the HTTP answer's. */
        if (err.kind != CMX_ERR_CONTENT_POLICY)
            err.upstream_status = a->status;
        cmx_buf_free(&out);
        finish(a, &err, NULL, NULL);
        return;
    }
    finish(a, NULL, &usage, &out);
    cmx_buf_free(&out);
}

static void on_complete(void *ctx, const cmx_error *uerr)
{
    cmx_translating_attempt *a = ctx;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        err = *uerr;
        size_t events = a->stream ? a->tr.ops->events(a->tr.state) : 0;
        if (events > 0) {
            char m[sizeof err.message];
            snprintf(m, sizeof m, "upstream stream cut after %zu events: %.200s", events,
                     uerr->message);
            memcpy(err.message, m, sizeof m);
        }
        finish(a, &err, NULL, NULL);
        return;
    }
    if (a->status < 200 || a->status >= 300) {
        a->ops->map_error(a, &err);
        finish(a, &err, NULL, NULL);
        return;
    }
    if (!a->content_type_ok) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream answered %d with content type '%s', expected %s", a->status,
                      a->content_type[0] ? a->content_type : "(none)",
                      a->stream ? a->tr.ops->stream_content_type : "application/json");
        err.cause = CMX_CAUSE_PROTOCOL;
        err.upstream_status = a->status;
        finish(a, &err, NULL, NULL);
        return;
    }
    if (a->stream)
        complete_stream(a);
    else
        complete_whole(a);
}

static const cmx_upstream_callbacks upstream_callbacks = {on_head, on_body, on_complete};

static size_t client_backlog(void *ctx)
{
    cmx_translating_attempt *a = ctx;
    return a->client_backlog(a->client_ctx);
}

void *cmx_translating_send_timed(cmx_translating_attempt *a, cmx_upstream *upstream,
                                 const cmx_provider_config *cfg, const cmx_url *origin,
                                 uint32_t total_ms, const char *path, const char *headers,
                                 size_t headers_len, cmx_error *err)
{
    if (cmx_buf_failed(&a->request)) {
        cmx_buf_free(&a->request);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while translating the request");
        return NULL;
    }
    const cmx_timeouts_config *t = &cfg->timeouts;
    cmx_upstream_request req = {
        .origin = origin,
        .tls_verify = cfg->tls_verify,
        .http2 = cfg->http2,
        .ca_file = cfg->ca_file,
        .method = "POST",
        .path = path,
        .headers = headers,
        .headers_len = headers_len,
        .body = a->request.data,
        .body_len = a->request.len,
        .timeouts = {t->connect_ms, t->first_byte_ms, t->idle_ms, total_ms},
    };
    a->call = cmx_upstream_send(upstream, &req, &upstream_callbacks, a);
    /* The client copied the request: the translated body is not needed now. */
    cmx_buf_free(&a->request);
    if (!a->call) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (a->stream && a->client_backlog)
        cmx_upstream_watch_backlog(a->call, client_backlog);
    return a;
}

void *cmx_translating_send(cmx_translating_attempt *a, cmx_upstream *upstream,
                           const cmx_provider_config *cfg, const cmx_url *origin,
                           const cmx_call *call, const char *path, const char *headers,
                           size_t headers_len, cmx_error *err)
{
    a->client_backlog = call->client_backlog;
    a->client_ctx = call->client_ctx;
    if (!cmx_translating_send_timed(a, upstream, cfg, origin,
                                    cmx_call_total_ms(call, cfg->timeouts.total_ms), path, headers,
                                    headers_len, err)) {
        release(a);
        return NULL;
    }
    return a;
}

void cmx_translating_retry_after(cmx_translating_attempt *a, const cmx_http_header *h)
{
    if (cmx_slice_case_eq(h->name, "retry-after")) {
        int64_t ms = cmx_header_retry_after_ms(h->value);
        if (ms >= 0)
            a->retry_after_ms = (uint32_t)ms;
    }
}

void cmx_translating_cancel(void *attempt)
{
    cmx_translating_attempt *a = attempt;
    if (a->call)
        cmx_upstream_cancel(a->call);
    release(a);
}
