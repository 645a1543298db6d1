/* anthropic.c — Claude through the Anthropic Messages API.
 *
 * The provider moves bytes and judges them; the translation between the
 * canonical OpenAI format and Anthropic's is in anthropic_request.c,
 * anthropic_response.c and anthropic_stream.c (pure functions, tested on
 * their own from tests/data/anthropic/).  What this file adds: the request
 * (POST {base_url}/v1/messages with x-api-key and anthropic-version), the
 * mapping of Anthropic's error answers onto the router's kinds, and the rules
 * that keep a broken stream from passing as a whole one — a stream is
 * complete only after message_stop, and an `error` event ends the attempt.
 *
 * A stream's first chunk (the role) is held back until the next one, so an
 * upstream that fails right after message_start (an overloaded_error before
 * any text) can still fail over: nothing has reached the client yet.
 *
 * A request Anthropic cannot take (n=2, logprobs ...) fails the attempt with
 * bad_request, reported from the event loop right after start() returns, as
 * any other upstream answer would be. */
#include "provider.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic.h"

#define MAX_RESPONSE_BYTES (64u << 20)
#define MAX_ERROR_BODY_BYTES (64u << 10)
#define MAX_STREAM_EVENT_BYTES (8u << 20)

typedef struct anthropic_state {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    struct event_base *base;
    cmx_url url;
    char *headers; /* x-api-key, anthropic-version, Content-Type as one block */
    size_t headers_len;
    char *messages_path;
} anthropic_state;

typedef struct anthropic_attempt {
    anthropic_state *state;
    cmx_upstream_call *call;
    struct event *deferred; /* reports a failure found before sending */
    cmx_error deferred_err;
    cmx_attempt_sink sink;
    int stream;
    int status;
    int content_type_ok;
    char content_type[64];
    uint32_t retry_after_ms;
    cmx_buf request; /* the translated body */
    cmx_buf body;    /* whole answer (non-stream) or error body */
    cmx_buf held;    /* the first stream chunk, until a second one comes */
    int holding;
    cmx_sse_parser sse;
    int sse_ready;
    cmx_anthropic_stream translator;
    int translator_ready;
    size_t chunks; /* chunks handed to the sink */
    cmx_error stream_err;
} anthropic_attempt;

static cmx_err anthropic_create(const cmx_provider_config *cfg, const cmx_worker_env *env,
                                void **out, cmx_error *err)
{
    anthropic_state *s = calloc(1, sizeof *s);
    if (!s)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->upstream = env->upstream;
    s->base = env->base;
    if (cmx_url_parse(cfg->base_url ? cfg->base_url : "https://api.anthropic.com", &s->url, err) !=
        CMX_OK) {
        free(s);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    cmx_buf h = CMX_BUF_INIT;
    if (cfg->api_key)
        cmx_buf_printf(&h, "x-api-key: %s\r\n", cfg->api_key);
    cmx_buf_printf(&h, "anthropic-version: %s\r\n",
                   cfg->anthropic_version ? cfg->anthropic_version : "2023-06-01");
    cmx_buf_append_str(&h, "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n");
    s->headers = h.data;
    s->headers_len = h.len;
    /* base_url is the API root; one that already ends in /v1 is taken as meant. */
    size_t plen = strlen(s->url.path);
    int has_v1 = plen >= 3 && strcmp(s->url.path + plen - 3, "/v1") == 0;
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s%s", s->url.path, has_v1 ? "/messages" : "/v1/messages");
    s->messages_path = p.data;
    if (!s->headers || !s->messages_path) {
        free(s->headers);
        free(s->messages_path);
        free(s);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CMX_OK;
}

static void anthropic_destroy(void *state)
{
    anthropic_state *s = state;
    if (!s)
        return;
    /* The key lives in this block: wipe it before giving the memory back. */
    memset(s->headers, 0, s->headers_len);
    free(s->headers);
    free(s->messages_path);
    free(s);
}

static void attempt_release(anthropic_attempt *a)
{
    if (a->deferred) {
        event_free(a->deferred);
        a->deferred = NULL;
    }
    cmx_buf_free(&a->request);
    cmx_buf_free(&a->body);
    cmx_buf_free(&a->held);
    if (a->sse_ready)
        cmx_sse_parser_free(&a->sse);
    a->sse_ready = 0;
    if (a->translator_ready)
        cmx_anthropic_stream_free(&a->translator);
    a->translator_ready = 0;
}

static void usage_of(anthropic_attempt *a, cmx_usage *u)
{
    if (a->translator_ready)
        cmx_anthropic_stream_usage(&a->translator, u);
    else
        cmx_usage_init(u);
}

/* Reports the outcome.  The attempt lives in the request's arena, which the
 * sink may release from inside on_done: nothing of it is touched after. */
static void finish(anthropic_attempt *a, const cmx_error *err, const cmx_usage *usage,
                   cmx_buf *answer)
{
    cmx_attempt_sink sink = a->sink;
    cmx_usage u;
    if (usage)
        u = *usage;
    else
        usage_of(a, &u);
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
    anthropic_attempt *a = ctx;
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
    while (*end == ' ')
        end++;
    return end != tmp && *end == '\0' && x >= 0 && x < 86400000 ? x : -1;
}

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    anthropic_attempt *a = ctx;
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
            double secs = parse_seconds(h->value); /* the HTTP-date form is ignored */
            if (secs > 0)
                a->retry_after_ms = (uint32_t)((secs > 86400 ? 86400 : secs) * 1000);
        }
    }
    if (status >= 200 && status < 300)
        a->content_type_ok = a->stream ? strstr(a->content_type, "text/event-stream") != NULL
                                       : strstr(a->content_type, "json") != NULL;
}

/* A translated chunk.  The first is held until a second exists (see top). */
static void emit_chunk(void *ctx, const char *json, size_t len)
{
    anthropic_attempt *a = ctx;
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

static void flush_held(anthropic_attempt *a)
{
    if (a->holding) {
        a->holding = 0;
        a->chunks++;
        a->sink.on_chunk(a->sink.ctx, a->held.data, a->held.len);
    }
}

static int on_sse_event(void *ctx, const cmx_sse_event *ev)
{
    anthropic_attempt *a = ctx;
    cmx_err rc = cmx_anthropic_stream_event(&a->translator, ev->event, ev->event_len, ev->data,
                                            ev->data_len, &a->stream_err);
    return rc != CMX_OK;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    anthropic_attempt *a = ctx;
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
            return; /* the start of an error body is enough to explain it */
        cmx_upstream_cancel(a->call);
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL, "upstream response larger than %u bytes",
                      MAX_RESPONSE_BYTES);
        finish(a, &err, NULL, NULL);
        return;
    }
    cmx_buf_append(&a->body, data, len);
}

/* Anthropic's error answer {"type":"error","error":{"type","message"}} as
 * the router's kinds.  The error type refines what the status says. */
static void map_error_response(anthropic_attempt *a, cmx_error *err)
{
    cmx_err kind = cmx_err_from_http_status(a->status);
    const char *name = a->state->cfg->name;
    json_t *root = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (type && strcmp(type, "overloaded_error") == 0)
        kind = CMX_ERR_UNAVAILABLE;
    else if (type && strcmp(type, "rate_limit_error") == 0)
        kind = CMX_ERR_RATE_LIMITED;
    if (kind == CMX_ERR_BAD_REQUEST && msg && strstr(msg, "prompt is too long"))
        kind = CMX_ERR_CONTEXT_WINDOW;
    if (kind == CMX_ERR_PROVIDER_AUTH) {
        /* Upstream messages about keys may echo part of the key: say less. */
        cmx_error_set(err, kind, "provider '%s' rejected the credentials (HTTP %d%s%s)", name,
                      a->status, type ? ", " : "", type ? type : "");
    } else if (msg) {
        cmx_error_set(err, kind, "provider '%s' answered %d: %s: %.160s", name, a->status,
                      type ? type : "error", msg);
    } else {
        cmx_error_set(err, kind, "provider '%s' answered %d", name, a->status);
    }
    json_decref(root);
    err->cause = CMX_CAUSE_HTTP_STATUS;
    err->upstream_status = a->status;
    err->retry_after_ms = a->retry_after_ms;
}

static void complete_stream(anthropic_attempt *a)
{
    cmx_error err;
    if (!a->translator.stopped) {
        cmx_error_set(&err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream stream ended without message_stop after %zu events%s",
                      a->translator.events,
                      a->sse_ready && cmx_sse_has_partial(&a->sse) ? " (mid-event)" : "");
        err.cause = CMX_CAUSE_PROTOCOL;
        finish(a, &err, NULL, NULL);
        return;
    }
    flush_held(a);
    finish(a, NULL, NULL, NULL);
}

static void complete_whole(anthropic_attempt *a)
{
    cmx_error err;
    cmx_error_clear(&err);
    cmx_buf out = CMX_BUF_INIT;
    cmx_usage usage;
    cmx_usage_init(&usage);
    if (cmx_anthropic_translate_response(a->body.data ? a->body.data : "", a->body.len,
                                         (int64_t)time(NULL), &out, &usage, &err) != CMX_OK) {
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
    anthropic_attempt *a = ctx;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        err = *uerr;
        if (a->stream && a->translator.events > 0) {
            char m[sizeof err.message];
            snprintf(m, sizeof m, "upstream stream cut after %zu events: %.200s",
                     a->translator.events, uerr->message);
            memcpy(err.message, m, sizeof m);
        }
        finish(a, &err, NULL, NULL);
        return;
    }
    if (a->status < 200 || a->status >= 300) {
        map_error_response(a, &err);
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
        complete_whole(a);
}

static const cmx_upstream_callbacks upstream_callbacks = {on_head, on_body, on_complete};

/* Fails the attempt from the event loop (no sink callback may run inside
 * start); returns the attempt, or NULL when even that is impossible. */
static void *fail_later(anthropic_attempt *a, const cmx_error *why, cmx_error *err)
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

static void *anthropic_start(void *state, const cmx_call *call, const cmx_target_config *target,
                             const cmx_attempt_sink *sink, cmx_error *err)
{
    anthropic_state *s = state;
    anthropic_attempt *a = cmx_arena_calloc(call->arena, 1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->state = s;
    a->sink = *sink;
    a->stream = call->api == CMX_API_CHAT && call->scan->stream;
    cmx_error why;
    cmx_error_clear(&why);
    if (call->api != CMX_API_CHAT) {
        cmx_error_set(&why, CMX_ERR_BAD_REQUEST,
                      "provider '%s' (anthropic) offers chat completions only, not embeddings",
                      s->cfg->name);
        return fail_later(a, &why, err);
    }
    cmx_anthropic_options opt = {
        .provider_name = s->cfg->name,
        .model = target->model,
        .default_max_tokens = s->cfg->default_max_tokens,
        .drop_unsupported = s->cfg->drop_unsupported_params || target->drop_unsupported_params,
    };
    if (cmx_anthropic_translate_request(call->body, call->body_len, &opt, &a->request, &why) !=
        CMX_OK)
        return fail_later(a, &why, err);
    if (a->stream) {
        cmx_anthropic_stream_init(&a->translator, call->scan->include_usage, (int64_t)time(NULL),
                                  emit_chunk, a);
        a->translator_ready = 1;
    }
    const cmx_timeouts_config *t = &s->cfg->timeouts;
    cmx_upstream_request req = {
        .origin = &s->url,
        .tls_verify = s->cfg->tls_verify,
        .ca_file = s->cfg->ca_file,
        .method = "POST",
        .path = s->messages_path,
        .headers = s->headers,
        .headers_len = s->headers_len,
        .body = a->request.data,
        .body_len = a->request.len,
        .timeouts = {t->connect_ms, t->first_byte_ms, t->idle_ms,
                     cmx_call_total_ms(call, t->total_ms)},
    };
    a->call = cmx_upstream_send(s->upstream, &req, &upstream_callbacks, a);
    /* The client copied the request: the translated body is not needed now. */
    cmx_buf_free(&a->request);
    if (!a->call) {
        attempt_release(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return a;
}

static void anthropic_cancel(void *attempt)
{
    anthropic_attempt *a = attempt;
    if (a->call)
        cmx_upstream_cancel(a->call);
    attempt_release(a);
}

static cmx_probe *anthropic_probe(void *state, const char *path, uint32_t timeout_ms,
                              void (*done)(void *ctx, const cmx_error *err), void *ctx)
{
    anthropic_state *s = state;
    return cmx_probe_http(s->upstream, &s->url, s->cfg->tls_verify, s->cfg->ca_file, path,
                          s->headers, s->headers_len, timeout_ms, done, ctx);
}

const cmx_provider_vtable cmx_provider_anthropic = {
    .type = "anthropic",
    .create = anthropic_create,
    .destroy = anthropic_destroy,
    .start = anthropic_start,
    .cancel = anthropic_cancel,
    .probe = anthropic_probe,
};
