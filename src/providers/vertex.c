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
 * A stream is complete only once a finishReason arrived.  The attempt's
 * plumbing (the role chunk held back until the next chunk so an upstream
 * that fails right after its first event can still fail over, body caps,
 * content types, the one outcome for the sink) is shared with the other
 * translating providers in translating_attempt.c; what is Vertex's own is
 * the token wait before sending and the mapping of Google's errors.  A
 * request Gemini cannot take fails with bad_request from the event loop
 * right after start() returns.
 *
 * Embeddings go to the same endpoint's {model}:predict (vertex_embed.c);
 * Claude models to publishers/anthropic in Anthropic's format
 * (vertex_claude.c), translated by the anthropic translators. */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic.h"
#include "providers/google_auth.h"
#include "providers/translating_attempt.h"
#include "providers/vertex.h"
#include "core/wipe.h"
#include "providers/vertex_config.h"

typedef struct vertex_state {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    struct event_base *base;
    cmx_url url;
    cmx_google_auth *auth;
} vertex_state;

typedef struct vertex_attempt {
    cmx_translating_attempt base; /* first: the shared plumbing */
    vertex_state *state;
    cmx_google_token_wait wait;
    int embeddings; /* an embeddings call (:predict) */
    int base64;     /* ... whose vectors go back base64-encoded */
    int claude;     /* an Anthropic model: Messages format through rawPredict */
    cmx_anthropic_stream claude_tr;
    char model[128];
    uint32_t total_ms;
    char *path; /* in the arena */
    cmx_sse_parser sse;
    int sse_ready;
    cmx_vertex_stream translator;
    int translator_ready;
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
    const cmx_vertex_settings *vs = cmx_vertex_settings_of(cfg);
    cmx_google_auth_settings as = {
        .provider_name = cfg->name,
        .service_account_file = vs->metadata_server ? NULL : vs->service_account_file,
        .metadata_url = vs->metadata_url,
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

/* ---- the attempt's provider part (see translating_attempt.h) -------- */

static void attempt_release(cmx_translating_attempt *base)
{
    vertex_attempt *a = (vertex_attempt *)base;
    cmx_google_auth_cancel(a->state->auth, &a->wait);
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

static void stream_usage(const cmx_translating_attempt *base, cmx_usage *u)
{
    const vertex_attempt *a = (const vertex_attempt *)base;
    if (a->translator_ready && a->claude)
        cmx_anthropic_stream_usage(&a->claude_tr, u);
    else if (a->translator_ready)
        cmx_vertex_stream_usage(&a->translator, u);
    else
        cmx_usage_init(u);
}

static size_t stream_events(const cmx_translating_attempt *base)
{
    const vertex_attempt *a = (const vertex_attempt *)base;
    return a->claude ? a->claude_tr.events : a->translator.events;
}

static int on_sse_event(void *ctx, const cmx_sse_event *ev)
{
    vertex_attempt *a = ctx;
    cmx_error *stream_err = &a->base.stream_err;
    if (a->claude) {
        cmx_err rc = cmx_anthropic_stream_event(&a->claude_tr, ev->event, ev->event_len, ev->data,
                                                ev->data_len, stream_err);
        return rc != CMX_OK;
    }
    if (ev->data_len == 0)
        return 0;
    cmx_err rc = cmx_vertex_stream_event(&a->translator, ev->data, ev->data_len, stream_err);
    if (rc != CMX_OK && stream_err->kind == CMX_OK)
        stream_err->kind = rc;
    return rc != CMX_OK;
}

static int feed_stream(cmx_translating_attempt *base, const char *data, size_t len)
{
    vertex_attempt *a = (vertex_attempt *)base;
    return cmx_translating_feed_sse(base, &a->sse, &a->sse_ready, on_sse_event, a, data, len);
}

/* A Gemini stream is whole once a finishReason came; Claude's once
 * message_stop did. */
static cmx_err end_stream(cmx_translating_attempt *base, cmx_error *err)
{
    vertex_attempt *a = (vertex_attempt *)base;
    if (!a->claude)
        return cmx_vertex_stream_end(&a->translator, err);
    if (a->claude_tr.stopped)
        return CMX_OK;
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "upstream stream ended without message_stop after %zu events",
                  a->claude_tr.events);
    err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

static cmx_err translate_response(cmx_translating_attempt *base, const char *body, size_t len,
                                  cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    vertex_attempt *a = (vertex_attempt *)base;
    if (a->claude)
        return cmx_anthropic_translate_response(body, len, (int64_t)time(NULL), out, usage, err);
    if (a->embeddings)
        return cmx_vertex_translate_embeddings_response(body, len, a->model, a->base64, out, usage,
                                                        err);
    return cmx_vertex_translate_response(body, len, (int64_t)time(NULL),
                                         a->translator.model[0] ? a->translator.model : NULL, out,
                                         usage, err);
}

/* Google's error answer as the router's kinds; a 401 also drops the cached
 * token, which the service no longer takes. */
static void map_error(cmx_translating_attempt *base, cmx_error *err)
{
    vertex_attempt *a = (vertex_attempt *)base;
    if (base->status == 401)
        cmx_google_auth_invalidate(a->state->auth);
    cmx_vertex_error_kind(base->status, base->body.data, base->body.len, a->state->cfg->name,
                          base->retry_after_ms, err);
}

static const cmx_translating_ops vertex_ops = {
    .stream_content_type = "text/event-stream",
    .feed_stream = feed_stream,
    .end_stream = end_stream,
    .stream_events = stream_events,
    .translate_response = translate_response,
    .map_error = map_error,
    .stream_usage = stream_usage,
    .release = attempt_release,
    .header = cmx_translating_retry_after,
};

/* Sends the translated request with the token; the attempt, or NULL with
 * err set (out of memory) and the attempt not released. */
static void *send_request(vertex_attempt *a, const char *token, cmx_error *err)
{
    vertex_state *s = a->state;
    cmx_buf headers;
    cmx_buf_init_secret(&headers);
    cmx_buf_printf(&headers,
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "User-Agent: cloudmux\r\n",
                   token);
    if (cmx_buf_failed(&headers)) {
        cmx_buf_free(&headers);
        cmx_buf_free(&a->base.request);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    void *sent = cmx_translating_send_timed(&a->base, s->upstream, s->cfg, &s->url, a->total_ms,
                                            a->path, headers.data, headers.len, err);
    cmx_buf_free(&headers); /* a secret buffer: the token is wiped */
    return sent;
}

static void on_token(void *ctx, const char *token, const cmx_error *terr)
{
    vertex_attempt *a = ctx;
    if (!token) {
        cmx_translating_fail(&a->base, terr);
        return;
    }
    cmx_error err;
    if (!send_request(a, token, &err))
        cmx_translating_fail(&a->base, &err);
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
    cmx_translating_init(&a->base, &vertex_ops, s->base, sink,
                         call->api == CMX_API_CHAT && call->scan->stream);
    a->wait.done = on_token;
    a->wait.ctx = a;
    a->total_ms = cmx_call_total_ms(call, s->cfg->timeouts.total_ms);
    cmx_error why;
    cmx_error_clear(&why);
    const cmx_vertex_settings *vs = cmx_vertex_settings_of(s->cfg);
    cmx_vertex_options opt = {.provider_name = s->cfg->name,
                              .drop_unsupported =
                                  vs->drop_unsupported_params || target->drop_unsupported_params};
    cmx_buf path = CMX_BUF_INIT;
    cmx_err rc;
    a->embeddings = call->api == CMX_API_EMBEDDINGS;
    snprintf(a->model, sizeof a->model, "%s", target->model ? target->model : "");
    if (a->embeddings) {
        rc = cmx_vertex_embed_path(s->url.path, vs->project, vs->location, target->model, &path,
                                   &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_translate_embeddings_request(call->body, call->body_len, &opt,
                                                         &a->base.request, &a->base64, &why);
    } else if (cmx_vertex_is_claude(target->model)) {
        a->claude = 1;
        rc = cmx_vertex_claude_path(s->url.path, vs->project, vs->location, target->model,
                                    a->base.stream, &path, &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_claude_request(call->body, call->body_len, &opt, 0, &a->base.request,
                                           &why);
    } else {
        rc = cmx_vertex_model_path(s->url.path, vs->project, vs->location, target->model,
                                   a->base.stream, &path, &why);
        if (rc == CMX_OK)
            rc = cmx_vertex_translate_request(call->body, call->body_len, &opt, &a->base.request,
                                              &why);
    }
    if (rc != CMX_OK) {
        cmx_buf_free(&path);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    a->path = cmx_buf_failed(&path) ? NULL : cmx_arena_calloc(call->arena, 1, path.len + 1);
    if (a->path)
        memcpy(a->path, path.data, path.len);
    cmx_buf_free(&path);
    if (!a->path) {
        cmx_translating_cancel(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cmx_vertex_stream_init(&a->translator, call->scan->include_usage, (int64_t)time(NULL),
                           target->model, cmx_translating_emit_chunk, &a->base);
    if (a->claude)
        cmx_anthropic_stream_init(&a->claude_tr, call->scan->include_usage, (int64_t)time(NULL),
                                  cmx_translating_emit_chunk, &a->base);
    a->translator_ready = 1;
    const char *token = NULL;
    cmx_progress got = cmx_google_auth_token(s->auth, &a->wait, &token, &why);
    if (got == CMX_FAILED)
        return cmx_translating_fail_later(&a->base, &why, err);
    if (got == CMX_READY && !send_request(a, token, err)) {
        cmx_translating_cancel(a);
        return NULL;
    }
    return a; /* CMX_PENDING: on_token sends it */
}

const cmx_provider_vtable cmx_provider_vertex = {
    .type = "vertex",
    .schema = &cmx_vertex_schema,
    .create = vertex_create,
    .destroy = vertex_destroy,
    .start = vertex_start,
    .cancel = cmx_translating_cancel,
};
