/* azure.c — Azure OpenAI: the OpenAI wire format at Azure's URLs, with an
 * api-key or an Entra ID token.
 *
 * Everything about the bytes is openai_wire.c's; this file knows the two URL
 * styles — /openai/deployments/{deployment}/...?api-version=V, where the
 * target's model is the deployment name and the body is sent as the client
 * wrote it, and /openai/v1/..., where the model goes in the body — and the
 * credentials.  With a key the header block is built once; with Entra ID an
 * attempt first asks azure_auth.c for a token and, when none is cached, waits
 * in its queue instead of failing.  Azure's content-filter refusal (400, code
 * "content_filter") maps to content_policy in the shared error mapping; a 200
 * whose choice ended with finish_reason "content_filter" is an answer and
 * passes through as is.  The Responses API goes to the v1 surface
 * (/openai/v1/responses, the deployment as the body's model) whichever style
 * the provider uses for chat. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "azure_auth.h"
#include "core/buf.h"
#include "openai_wire.h"
#include "core/wipe.h"
#include "core/url_encode.h"
#include "providers/azure_config.h"

#define COMMON_HEADERS "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n"

typedef struct azure_state {
    cmx_service svc;      /* first: what every service provider holds */
    cmx_azure_auth *auth; /* NULL with an api-key */
    char *key_headers;    /* api-key + common headers, with a key */
    size_t key_headers_len;
    char *v1_chat_path;
    char *v1_embeddings_path;
    char *v1_responses_path;
} azure_state;

typedef struct azure_attempt {
    azure_state *state;
    cmx_call call; /* a copy: the caller's may not outlive start() */
    const char *path;
    const char *model; /* spliced into the body, or NULL */
    cmx_attempt_sink sink;
    int no_stream_usage;
    cmx_azure_token_waiter waiter;
    cmx_openai_wire_attempt *wire;
    char *token; /* the bearer token sent, to forget it on a 401 */
} azure_attempt;

static void azure_destroy(void *state)
{
    azure_state *s = state;
    if (!s)
        return;
    cmx_azure_auth_free(s->auth);
    cmx_free_wiped(s->key_headers, s->key_headers_len);
    free(s->v1_chat_path);
    free(s->v1_embeddings_path);
    free(s->v1_responses_path);
    free(s);
}

static cmx_err azure_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                            cmx_error *err)
{
    azure_state *s = cmx_service_new(sizeof *s, cfg, env, err);
    if (!s)
        return err ? err->kind : CMX_ERR_NOMEM;
    cmx_buf c = CMX_BUF_INIT, e = CMX_BUF_INIT, r = CMX_BUF_INIT;
    cmx_buf_printf(&c, "%s/openai/v1/chat/completions", s->svc.url.path);
    cmx_buf_printf(&e, "%s/openai/v1/embeddings", s->svc.url.path);
    cmx_buf_printf(&r, "%s/openai/v1/responses", s->svc.url.path);
    s->v1_chat_path = c.data;
    s->v1_embeddings_path = e.data;
    s->v1_responses_path = r.data;
    int ok = !cmx_buf_failed(&c) && !cmx_buf_failed(&e) && !cmx_buf_failed(&r);
    const cmx_azure_settings *az = cmx_azure_settings_of(cfg);
    if (ok && az->auth == CMX_AZURE_AUTH_API_KEY) {
        cmx_buf h;
        cmx_buf_init_secret(&h);
        cmx_buf_printf(&h, "api-key: %s\r\n" COMMON_HEADERS, az->api_key ? az->api_key : "");
        s->key_headers = h.data;
        s->key_headers_len = h.len;
        ok = !cmx_buf_failed(&h);
    } else if (ok) {
        s->auth = cmx_azure_auth_new(cfg, env->upstream, NULL, err);
        if (!s->auth) {
            azure_destroy(s);
            return err ? err->kind : CMX_ERR_CONFIG;
        }
    }
    if (!ok) {
        azure_destroy(s);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CMX_OK;
}

/* The deployments-style path, in the request's arena. */
static const char *deployment_path(azure_state *s, const cmx_call *call, const char *deployment)
{
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s/openai/deployments/", s->svc.url.path);
    cmx_url_encode_str(&p, deployment);
    cmx_buf_printf(&p, "/%s?api-version=%s",
                   call->api == CMX_API_EMBEDDINGS ? "embeddings" : "chat/completions",
                   cmx_azure_settings_of(s->svc.cfg)->api_version);
    char *out = cmx_buf_failed(&p) ? NULL : cmx_arena_alloc(call->arena, p.len + 1);
    if (out)
        memcpy(out, p.data, p.len + 1);
    cmx_buf_free(&p);
    return out;
}

static void relay_chunk(void *ctx, const char *json, size_t len)
{
    azure_attempt *a = ctx;
    a->sink.on_chunk(a->sink.ctx, json, len);
}

static void relay_events(void *ctx, const char *sse, size_t len, size_t n)
{
    azure_attempt *a = ctx;
    a->sink.on_events(a->sink.ctx, sse, len, n);
}

/* A 401 to a token we still hold means it is no good any more: forget it
 * before the attempt (and its memory) is gone. */
static void relay_done(void *ctx, const cmx_error *err, const cmx_usage *usage, const char *body,
                       size_t len)
{
    azure_attempt *a = ctx;
    if (err && err->kind == CMX_ERR_PROVIDER_AUTH && err->upstream_status == 401)
        cmx_azure_auth_invalidate(a->state->auth, a->token);
    cmx_attempt_sink sink = a->sink;
    sink.on_done(sink.ctx, err, usage, body, len);
}

static void relay_upstream_id(void *ctx, const char *id, size_t len)
{
    azure_attempt *a = ctx;
    if (a->sink.on_upstream_id)
        a->sink.on_upstream_id(a->sink.ctx, id, len);
}

static cmx_openai_wire_attempt *send_with(azure_attempt *a, const char *headers, size_t len,
                                          cmx_error *err)
{
    cmx_attempt_sink relay = {relay_chunk, relay_done, a, relay_upstream_id,
                              a->sink.on_events ? relay_events : NULL};
    cmx_openai_wire_request req = {
        .cfg = a->state->svc.cfg,
        .upstream = a->state->svc.upstream,
        .origin = &a->state->svc.url,
        .path = a->path,
        .headers = headers,
        .headers_len = len,
        .model = a->model,
        .no_stream_usage = a->no_stream_usage,
        /* Azure's client request id header, echoed in its logs. */
        .request_id_header = "x-ms-client-request-id",
    };
    return cmx_openai_wire_start(&req, &a->call, a->token ? &relay : &a->sink, err);
}

/* The attempt with a bearer token; the header block lives in the arena. */
static cmx_openai_wire_attempt *send_with_token(azure_attempt *a, const char *token, cmx_error *err)
{
    static const char pre[] = "Authorization: Bearer ";
    static const char post[] = "\r\n" COMMON_HEADERS;
    size_t tl = strlen(token);
    size_t len = sizeof pre - 1 + tl + sizeof post - 1;
    char *h = cmx_arena_alloc(a->call.arena, len + 1);
    if (!h) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(h, pre, sizeof pre - 1);
    memcpy(h + sizeof pre - 1, token, tl);
    memcpy(h + sizeof pre - 1 + tl, post, sizeof post);
    a->token = cmx_arena_alloc(a->call.arena, tl + 1);
    if (!a->token) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(a->token, token, tl + 1);
    return send_with(a, h, len, err);
}

/* A queued attempt's token arrived (or the fetch failed). */
static void on_token(void *ctx, const char *token, const cmx_error *terr)
{
    azure_attempt *a = ctx;
    cmx_error err;
    cmx_error_clear(&err);
    if (token)
        a->wire = send_with_token(a, token, &err);
    else
        err = *terr;
    if (a->wire)
        return;
    cmx_usage usage;
    cmx_usage_init(&usage);
    cmx_attempt_sink sink = a->sink;
    sink.on_done(sink.ctx, &err, &usage, NULL, 0);
}

static void *azure_start(void *state, const cmx_call *call, const cmx_target_config *target,
                         const cmx_attempt_sink *sink, cmx_error *err)
{
    azure_state *s = state;
    const cmx_azure_settings *az = cmx_azure_settings_of(s->svc.cfg);
    if (!az->url_style_v1 && (!target->model || !*target->model)) {
        cmx_error_set(err, CMX_ERR_CONFIG,
                      "provider '%s': an azure target needs model (the deployment name)",
                      s->svc.cfg->name);
        return NULL;
    }
    azure_attempt *a = cmx_arena_calloc(call->arena, 1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->state = s;
    a->call = *call;
    a->sink = *sink;
    if (call->api == CMX_API_RESPONSES) {
        /* the Responses API is served on the v1 surface only, the
         * deployment named in the body */
        a->path = s->v1_responses_path;
        a->model = target->model;
    } else if (az->url_style_v1) {
        a->path = call->api == CMX_API_EMBEDDINGS ? s->v1_embeddings_path : s->v1_chat_path;
        a->model = target->model;
    } else {
        a->path = deployment_path(s, call, target->model);
        /* stream_options came with 2024-09-01-preview; older versions answer
         * 400 to it, so streams there go without the usage chunk. */
        const char *v = az->api_version;
        a->no_stream_usage = v && strcmp(v, "2024-09-01") < 0;
        if (!a->path) {
            cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    if (!s->auth) {
        a->wire = send_with(a, s->key_headers, s->key_headers_len, err);
        return a->wire ? a : NULL;
    }
    const char *token = NULL;
    a->waiter.on_token = on_token;
    a->waiter.ctx = a;
    cmx_progress got = cmx_azure_auth_token(s->auth, &a->waiter, &token, err);
    if (got == CMX_FAILED)
        return NULL;
    if (got == CMX_READY) {
        a->wire = send_with_token(a, token, err);
        return a->wire ? a : NULL;
    }
    return a; /* queued: on_token continues */
}

static void azure_cancel(void *attempt)
{
    azure_attempt *a = attempt;
    if (a->wire)
        cmx_openai_wire_cancel(a->wire);
    else if (a->state->auth)
        cmx_azure_auth_cancel(a->state->auth, &a->waiter);
}

const cmx_provider_vtable cmx_provider_azure = {
    .type = "azure",
    .schema = &cmx_azure_schema,
    .create = azure_create,
    .destroy = azure_destroy,
    .serves = cmx_openai_serves,
    .start = azure_start,
    .cancel = azure_cancel,
};
