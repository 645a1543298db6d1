/* vertex.c — Gemini through Vertex AI.
 *
 * The provider moves bytes and judges them; the translation is in
 * vertex_request.c, vertex_response.c and vertex_stream.c (pure functions,
 * tested from tests/data/vertex/), the OAuth token in google_auth.c.  An
 * attempt first gets a token — at once when one is cached, else queued
 * behind the one fetch in flight — then POSTs
 * {endpoint}/v1/projects/P/locations/L/publishers/google/models/M:generateContent
 * (or :streamGenerateContent?alt=sse) with it as a Bearer token.
 *
 * A stream is complete only once a finishReason arrived; the role chunk is
 * held back until the next chunk so an upstream that fails right after its
 * first event can still fail over.  A request Gemini cannot take fails with
 * bad_request from the event loop right after start() returns.
 *
 * Embeddings go to the same endpoint's {model}:predict (vertex_embed.c);
 * Claude models to publishers/anthropic in Anthropic's format
 * (vertex_claude.c), translated by the anthropic translators. */
#include "provider.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic.h"
#include "providers/google_auth.h"
#include "providers/vertex.h"

#define MAX_RESPONSE_BYTES (64u << 20)
#define MAX_ERROR_BODY_BYTES (64u << 10)
#define MAX_STREAM_EVENT_BYTES (8u << 20)

typedef struct vertex_state {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    struct event_base *base;
    cmx_url url;
    cmx_google_auth *auth;
} vertex_state;

typedef struct vertex_attempt {
    vertex_state *state;
    cmx_upstream_call *call;
    cmx_google_token_wait wait;
    struct event *deferred;
    cmx_error deferred_err;
    cmx_attempt_sink sink;
    int stream;
    int embeddings; /* an embeddings call (:predict) */
    int base64;     /* ... whose vectors go back base64-encoded */
    int claude;     /* an Anthropic model: Messages format through rawPredict */
    cmx_anthropic_stream claude_tr;
    char model[128];
    int status;
    int content_type_ok;
    char content_type[64];
    uint32_t retry_after_ms;
    uint32_t total_ms;
    char *path;      /* in the arena */
    cmx_buf request; /* the translated body, until sent */
    cmx_buf body;
    cmx_buf held;
    int holding;
    cmx_sse_parser sse;
    int sse_ready;
    cmx_vertex_stream translator;
    int translator_ready;
    size_t chunks;
    cmx_error stream_err;
} vertex_attempt;

static cmx_err vertex_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                             cmx_error *err)
{
    vertex_state *s = calloc(1, sizeof *s);
    if (!s)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->upstream = env->upstream;
    s->base = env->base;
    if (cmx_url_parse(cfg->base_url ? cfg->base_url
                                    : "https://us-central1-aiplatform.googleapis.com",
                      &s->url, err) != CMX_OK) {
        free(s);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    cmx_google_auth_settings as = {
        .provider_name = cfg->name,
        .service_account_file = cfg->metadata_server ? NULL : cfg->service_account_file,
        .metadata_url = cfg->metadata_url,
        .tls_verify = cfg->tls_verify,
        .ca_file = cfg->ca_file,
        .connect_ms = cfg->timeouts.connect_ms,
        .total_ms = cfg->timeouts.first_byte_ms < 30000 ? cfg->timeouts.first_byte_ms : 30000,
    };
    if (cmx_google_auth_new(&as, env->base, env->upstream, &s->auth, err) != CMX_OK) {
        free(s);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    *out = s;
    return CMX_OK;
}

static void vertex_destroy(void *state)
{
    vertex_state *s = state;
    if (!s)
        return;
    cmx_google_auth_free(s->auth);
    free(s);
}

static void attempt_release(vertex_attempt *a)
{
    if (a->deferred) {
        event_free(a->deferred);
        a->deferred = NULL;
    }
    cmx_google_auth_cancel(a->state->auth, &a->wait);
    cmx_buf_free(&a->request);
    cmx_buf_free(&a->body);
    cmx_buf_free(&a->held);
    if (a->sse_ready)
        cmx_sse_parser_free(&a->sse);
    a->sse_ready = 0;
    if (a->translator_ready) {
        cmx_vertex_stream_free(&a->translator);
        if (a->claude)
            cmx_anthropic_stream_free(&a->claude_tr);
    }
    a->translator_ready = 0;
}

static void finish(vertex_attempt *a, const cmx_error *err, const cmx_usage *usage, cmx_buf *answer)
{
    cmx_attempt_sink sink = a->sink;
    cmx_usage u;
    if (usage)
        u = *usage;
    else if (a->translator_ready && a->claude)
        cmx_anthropic_stream_usage(&a->claude_tr, &u);
    else if (a->translator_ready)
        cmx_vertex_stream_usage(&a->translator, &u);
    else
        cmx_usage_init(&u);
    cmx_buf body = CMX_BUF_INIT;
    if (answer) {
        body = *answer;
        *answer = (cmx_buf)CMX_BUF_INIT;
    }
    attempt_release(a);
    int deliver = answer && (!err || err->kind == CMX_OK);
    sink.on_done(sink.ctx, err, &u, deliver ? (body.data ? body.data : "") : NULL,
                 deliver ? body.len : 0);
    cmx_buf_free(&body);
}

static void on_deferred(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd, (void)what;
    vertex_attempt *a = ctx;
    cmx_error err = a->deferred_err;
    finish(a, &err, NULL, NULL);
}

/* ---- upstream callbacks ----------------------------------------------- */

static double parse_seconds(cmx_slice v)
{
    char tmp[32];
    if (v.len == 0 || v.len >= sizeof tmp)
        return -1;
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    char *end;
    double x = strtod(tmp, &end);
    return end != tmp && *end == '\0' && x >= 0 && x < 86400000 ? x : -1;
}

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    vertex_attempt *a = ctx;
    a->status = status;
    for (size_t i = 0; i < n; i++) {
        const cmx_http_header *h = &headers[i];
        if (cmx_slice_case_eq(h->name, "content-type")) {
            size_t l = h->value.len < sizeof a->content_type - 1 ? h->value.len
                                                                 : sizeof a->content_type - 1;
            for (size_t k = 0; k < l; k++) {
                char c = h->value.ptr[k];
                a->content_type[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
            }
            a->content_type[l] = '\0';
        } else if (cmx_slice_case_eq(h->name, "retry-after")) {
            double secs = parse_seconds(h->value);
            if (secs > 0)
                a->retry_after_ms = (uint32_t)((secs > 86400 ? 86400 : secs) * 1000);
        }
    }
    if (status >= 200 && status < 300)
        a->content_type_ok = a->stream ? strstr(a->content_type, "text/event-stream") != NULL
                                       : strstr(a->content_type, "json") != NULL;
}

static void emit_chunk(void *ctx, const char *json, size_t len)
{
    vertex_attempt *a = ctx;
    if (a->chunks == 0 && !a->holding) {
        cmx_buf_reset(&a->held);
        cmx_buf_append(&a->held, json, len);
        a->holding = 1;
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

static void flush_held(vertex_attempt *a)
{
    if (a->holding) {
        a->holding = 0;
        a->chunks++;
        a->sink.on_chunk(a->sink.ctx, a->held.data, a->held.len);
    }
}

static int on_sse_event(void *ctx, const cmx_sse_event *ev)
{
    vertex_attempt *a = ctx;
    if (a->claude) {
        cmx_err rc = cmx_anthropic_stream_event(&a->claude_tr, ev->event, ev->event_len, ev->data,
                                                ev->data_len, &a->stream_err);
        return rc != CMX_OK;
    }
    if (ev->data_len == 0)
        return 0;
    cmx_err rc = cmx_vertex_stream_event(&a->translator, ev->data, ev->data_len, &a->stream_err);
    if (rc != CMX_OK && a->stream_err.kind == CMX_OK)
        a->stream_err.kind = rc;
    return rc != CMX_OK;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    vertex_attempt *a = ctx;
    int ok2xx = a->status >= 200 && a->status < 300;
    if (ok2xx && a->stream && a->content_type_ok) {
        if (!a->sse_ready) {
            cmx_sse_parser_init(&a->sse, on_sse_event, a);
            a->sse.max_event_bytes = MAX_STREAM_EVENT_BYTES;
            a->sse_ready = 1;
        }
        int rc = cmx_sse_feed(&a->sse, data, len);
        if (rc != 0) {
            if (rc < 0) {
                cmx_error_set(&a->stream_err, CMX_ERR_UPSTREAM_PROTOCOL,
                              "upstream stream event too large or out of memory");
                a->stream_err.cause = CMX_CAUSE_PROTOCOL;
            }
            cmx_upstream_cancel(a->call);
            cmx_error err = a->stream_err;
            finish(a, &err, NULL, NULL);
        }
        return;
    }
    size_t cap = ok2xx ? MAX_RESPONSE_BYTES : MAX_ERROR_BODY_BYTES;
    if (a->body.len + len > cap) {
        if (!ok2xx)
            return;
        cmx_upstream_cancel(a->call);
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL, "upstream response larger than %u bytes",
                      MAX_RESPONSE_BYTES);
        finish(a, &err, NULL, NULL);
        return;
    }
    cmx_buf_append(&a->body, data, len);
}

static void complete_stream(vertex_attempt *a)
{
    cmx_error err;
    cmx_error_clear(&err);
    if (a->claude && !a->claude_tr.stopped) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream stream ended without message_stop after %zu events",
                      a->claude_tr.events);
        err.cause = CMX_CAUSE_PROTOCOL;
        finish(a, &err, NULL, NULL);
        return;
    }
    if (!a->claude && cmx_vertex_stream_end(&a->translator, &err) != CMX_OK) {
        finish(a, &err, NULL, NULL);
        return;
    }
    flush_held(a);
    finish(a, NULL, NULL, NULL);
}

static void complete_whole(vertex_attempt *a, const char *model)
{
    cmx_error err;
    cmx_error_clear(&err);
    cmx_buf out = CMX_BUF_INIT;
    cmx_usage usage;
    cmx_usage_init(&usage);
    const char *b = a->body.data ? a->body.data : "";
    cmx_err rc = a->claude ? cmx_anthropic_translate_response(b, a->body.len, (int64_t)time(NULL),
                                                              &out, &usage, &err)
                 : a->embeddings
                     ? cmx_vertex_translate_embeddings_response(b, a->body.len, a->model, a->base64,
                                                                &out, &usage, &err)
                     : cmx_vertex_translate_response(b, a->body.len, (int64_t)time(NULL), model,
                                                     &out, &usage, &err);
    if (rc != CMX_OK) {
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
    vertex_attempt *a = ctx;
    a->call = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        err = *uerr;
        size_t events = a->claude ? a->claude_tr.events : a->translator.events;
        if (a->stream && events > 0) {
            char m[sizeof err.message];
            snprintf(m, sizeof m, "upstream stream cut after %zu events: %.200s", events,
                     uerr->message);
            memcpy(err.message, m, sizeof m);
        }
        finish(a, &err, NULL, NULL);
        return;
    }
    if (a->status < 200 || a->status >= 300) {
        if (a->status == 401)
            cmx_google_auth_invalidate(a->state->auth);
        cmx_vertex_error_kind(a->status, a->body.data, a->body.len, a->state->cfg->name, &err);
        err.retry_after_ms = a->retry_after_ms;
        finish(a, &err, NULL, NULL);
        return;
    }
    if (!a->content_type_ok) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream answered %d with content type '%s', expected %s", a->status,
                      a->content_type[0] ? a->content_type : "(none)",
                      a->stream ? "text/event-stream" : "application/json");
        err.cause = CMX_CAUSE_PROTOCOL;
        err.upstream_status = a->status;
        finish(a, &err, NULL, NULL);
        return;
    }
    if (a->stream)
        complete_stream(a);
    else
        complete_whole(a, a->translator.model[0] ? a->translator.model : NULL);
}

static const cmx_upstream_callbacks upstream_callbacks = {on_head, on_body, on_complete};

/* Sends the translated request with the token; 0, or -1 out of memory. */
static int send_request(vertex_attempt *a, const char *token)
{
    vertex_state *s = a->state;
    cmx_buf headers = CMX_BUF_INIT;
    cmx_buf_printf(&headers,
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "User-Agent: cloudmux\r\n",
                   token);
    const cmx_timeouts_config *t = &s->cfg->timeouts;
    cmx_upstream_request req = {
        .origin = &s->url,
        .tls_verify = s->cfg->tls_verify,
        .ca_file = s->cfg->ca_file,
        .method = "POST",
        .path = a->path,
        .headers = headers.data,
        .headers_len = headers.len,
        .body = a->request.data,
        .body_len = a->request.len,
        .timeouts = {t->connect_ms, t->first_byte_ms, t->idle_ms, a->total_ms},
    };
    a->call = headers.data ? cmx_upstream_send(s->upstream, &req, &upstream_callbacks, a) : NULL;
    if (headers.data)
        memset(headers.data, 0, headers.len);
    cmx_buf_free(&headers);
    cmx_buf_free(&a->request);
    return a->call ? 0 : -1;
}

static void on_token(void *ctx, const char *token, const cmx_error *terr)
{
    vertex_attempt *a = ctx;
    if (!token) {
        finish(a, terr, NULL, NULL);
        return;
    }
    if (send_request(a, token) != 0) {
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory");
        finish(a, &err, NULL, NULL);
    }
}

static void *fail_later(vertex_attempt *a, const cmx_error *why, cmx_error *err)
{
    a->deferred_err = *why;
    a->deferred = evtimer_new(a->state->base, on_deferred, a);
    struct timeval now = {0, 0};
    if (!a->deferred || evtimer_add(a->deferred, &now) != 0) {
        attempt_release(a);
        *err = *why;
        return NULL;
    }
    return a;
}

static void *vertex_start(void *state, const cmx_call *call, const cmx_target_config *target,
                          const cmx_attempt_sink *sink, cmx_error *err)
{
    vertex_state *s = state;
    vertex_attempt *a = cmx_arena_calloc(call->arena, 1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->state = s;
    a->sink = *sink;
    a->wait.done = on_token;
    a->wait.ctx = a;
    a->stream = call->api == CMX_API_CHAT && call->scan->stream;
    a->total_ms = cmx_call_total_ms(call, s->cfg->timeouts.total_ms);
    cmx_error why;
    cmx_error_clear(&why);
    cmx_vertex_options opt = {.provider_name = s->cfg->name,
                              .drop_unsupported = s->cfg->drop_unsupported_params ||
                                                  target->drop_unsupported_params};
    cmx_buf path = CMX_BUF_INIT;
    cmx_err rc;
    a->embeddings = call->api == CMX_API_EMBEDDINGS;
    snprintf(a->model, sizeof a->model, "%s", target->model ? target->model : "");
    if (a->embeddings) {
        rc = cmx_vertex_embed_path(s->url.path, s->cfg->project, s->cfg->location, target->model,
                                   &path, &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_translate_embeddings_request(call->body, call->body_len, &opt,
                                                         &a->request, &a->base64, &why);
    } else if (cmx_vertex_is_claude(target->model)) {
        a->claude = 1;
        rc = cmx_vertex_claude_path(s->url.path, s->cfg->project, s->cfg->location, target->model,
                                    a->stream, &path, &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_claude_request(call->body, call->body_len, &opt,
                                           s->cfg->default_max_tokens, &a->request, &why);
    } else {
        rc = cmx_vertex_model_path(s->url.path, s->cfg->project, s->cfg->location, target->model,
                                   a->stream, &path, &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_translate_request(call->body, call->body_len, &opt, &a->request, &why);
    }
    if (rc != CMX_OK) {
        cmx_buf_free(&path);
        return fail_later(a, &why, err);
    }
    a->path = cmx_arena_calloc(call->arena, 1, path.len + 1);
    if (a->path)
        memcpy(a->path, path.data, path.len);
    cmx_buf_free(&path);
    if (!a->path) {
        attempt_release(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cmx_vertex_stream_init(&a->translator, call->scan->include_usage, (int64_t)time(NULL),
                           target->model, emit_chunk, a);
    if (a->claude)
        cmx_anthropic_stream_init(&a->claude_tr, call->scan->include_usage, (int64_t)time(NULL),
                                  emit_chunk, a);
    a->translator_ready = 1;
    const char *token = NULL;
    int got = cmx_google_auth_token(s->auth, &a->wait, &token, &why);
    if (got < 0)
        return fail_later(a, &why, err);
    if (got == 1 && send_request(a, token) != 0) {
        attempt_release(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return a; /* got == 0: on_token sends it */
}

static void vertex_cancel(void *attempt)
{
    vertex_attempt *a = attempt;
    if (a->call)
        cmx_upstream_cancel(a->call);
    a->call = NULL;
    attempt_release(a);
}

const cmx_provider_vtable cmx_provider_vertex = {
    .type = "vertex",
    .create = vertex_create,
    .destroy = vertex_destroy,
    .start = vertex_start,
    .cancel = vertex_cancel,
};
