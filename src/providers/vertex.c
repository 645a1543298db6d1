/* vertex.c — Gemini, Claude and embeddings through Vertex AI.
 *
 * The provider moves bytes and judges them; the translation is one of
 * three translators (vertex_translator.c), chosen once per attempt with
 * the path it is served at: Gemini at
 * {endpoint}/v1/projects/P/locations/L/publishers/google/models/M:generateContent
 * (or :streamGenerateContent?alt=sse), Claude models at
 * publishers/anthropic/models/M:rawPredict (:streamRawPredict), and
 * embeddings at the same endpoint's {model}:predict.  The OAuth token is
 * google_auth.c's: an attempt first gets one — at once when one is cached,
 * else queued behind the one fetch in flight — then POSTs with it as a
 * Bearer token.
 *
 * The attempt's plumbing (the first chunk held back until the next so an
 * upstream that fails right after its first event can still fail over, body
 * caps, content types, the one outcome for the sink) is shared with the
 * other translating providers in translating_attempt.c; what is Vertex's
 * own is the token wait before sending and the mapping of Google's errors.
 * A request the model cannot take fails with bad_request from the event
 * loop right after start() returns.
 *
 * A client that speaks Anthropic's Messages API reaches Claude on Vertex
 * without a translation (claude_messages.h): its body with Vertex's
 * anthropic_version at rawPredict / streamRawPredict and its count_tokens
 * at count-tokens:rawPredict, both with the anthropic-beta names Vertex
 * takes as the header.  Gemini
 * gets the Messages call as a chat completion. */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic_beta.h"
#include "providers/anthropic.h"
#include "providers/claude_messages.h"
#include "providers/google_auth.h"
#include "providers/translating_attempt.h"
#include "providers/vertex.h"
#include "core/wipe.h"
#include "providers/vertex_config.h"

typedef struct vertex_state {
    cmx_service svc; /* first: what every service provider holds */
    cmx_google_auth *auth;
} vertex_state;

/* A road to a model: a translator and the path it is served at. */
typedef struct vertex_road {
    const cmx_translator_ops *translator;
    cmx_err (*path)(const char *prefix, const char *project, const char *location,
                    const char *model, int stream, cmx_buf *out, cmx_error *err);
} vertex_road;

static cmx_err embed_path(const char *prefix, const char *project, const char *location,
                          const char *model, int stream, cmx_buf *out, cmx_error *err)
{
    (void)stream;
    return cmx_vertex_embed_path(prefix, project, location, model, out, err);
}

static const vertex_road gemini_road = {&cmx_vertex_gemini_translator, cmx_vertex_model_path};
static const vertex_road claude_road = {&cmx_vertex_claude_translator, cmx_vertex_claude_path};
static const vertex_road embeddings_road = {&cmx_vertex_embeddings_translator, embed_path};
static const vertex_road messages_road = {&cmx_vertex_messages_translator, cmx_vertex_claude_path};
static const vertex_road count_road = {&cmx_vertex_count_translator, cmx_vertex_claude_count_path};

typedef struct vertex_attempt {
    cmx_translating_attempt base; /* first: the shared plumbing */
    vertex_state *state;
    cmx_google_token_wait wait;
    uint32_t total_ms;
    char *path;                 /* in the arena */
    const char *anthropic_beta; /* a Messages or count call's header, filtered */
} vertex_attempt;

static cmx_err vertex_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                             cmx_error *err)
{
    vertex_state *s = cmx_service_new(sizeof *s, cfg, env, err);
    if (!s)
        return err ? err->kind : CMX_ERR_NOMEM;
    const cmx_vertex_settings *vs = cmx_vertex_settings_of(cfg);
    cmx_google_auth_settings as = {
        .provider_name = cfg->name,
        .service_account_file = vs->metadata_server ? NULL : vs->service_account_file,
        .metadata_url = vs->metadata_url,
        .tls_verify = cfg->tls_verify,
        .http2 = cmx_http2_for_side_requests(cfg->http2),
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
}

/* Google's error answer as the router's kinds; a 401 also drops the cached
 * token, which the service no longer takes. */
static void map_error(cmx_translating_attempt *base, cmx_error *err)
{
    vertex_attempt *a = (vertex_attempt *)base;
    if (base->status == 401)
        cmx_google_auth_invalidate(a->state->auth);
    cmx_vertex_error_kind(base->status, base->body.data, base->body.len, a->state->svc.cfg->name,
                          base->retry_after_ms, err);
}

static const cmx_translating_ops vertex_ops = {
    .map_error = map_error,
    .header = cmx_translating_retry_after,
    .release = attempt_release,
};

/* Sends the translated request with the token; the attempt, or NULL with
 * err set (out of memory) and the attempt not released. */
static void *send_request(vertex_attempt *a, const char *token, cmx_error *err)
{
    vertex_state *s = a->state;
    cmx_buf headers;
    cmx_buf_init_secret(&headers);
    /* Appended, not printed: once per request, and sized at once, since a
     * secret buffer that grows is copied and wiped. */
    static const char rest[] = "\r\nContent-Type: application/json\r\nUser-Agent: cloudmux\r\n";
    size_t token_len = strlen(token);
    cmx_buf_reserve(&headers, CMX_LIT_LEN("Authorization: Bearer ") + token_len + sizeof rest);
    cmx_buf_append(&headers, CMX_LIT("Authorization: Bearer "));
    cmx_buf_append(&headers, token, token_len);
    cmx_buf_append(&headers, rest, sizeof rest - 1);
    if (a->anthropic_beta)
        cmx_buf_printf(&headers, "anthropic-beta: %s\r\n", a->anthropic_beta);
    if (cmx_buf_failed(&headers)) {
        cmx_buf_free(&headers);
        cmx_buf_free(&a->base.request);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    void *sent = cmx_translating_send_timed(&a->base, s->svc.upstream, s->svc.cfg, &s->svc.url,
                                            a->total_ms, a->path, headers.data, headers.len, err);
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

/* The road for this call: embeddings, a Claude model, or Gemini. */
static const vertex_road *road_for(const cmx_call *call, const char *model)
{
    if (call->api == CMX_API_EMBEDDINGS)
        return &embeddings_road;
    if (call->api == CMX_API_MESSAGES)
        return &messages_road;
    if (call->api == CMX_API_COUNT_TOKENS)
        return &count_road;
    return cmx_vertex_is_claude(model) ? &claude_road : &gemini_road;
}

/* The names of a Messages (or count) call's anthropic-beta header Claude on Vertex
 * takes, as the header's value in the arena; NULL when none (or out of
 * memory: the request then goes without them). */
static const char *betas_taken(const char *beta, const char *allowed, cmx_arena *arena)
{
    if (!beta)
        return NULL;
    cmx_buf kept = CMX_BUF_INIT;
    cmx_anthropic_beta_filter(beta, allowed, &kept, NULL);
    const char *out =
        kept.len && !cmx_buf_failed(&kept) ? cmx_arena_strndup(arena, kept.data, kept.len) : NULL;
    cmx_buf_free(&kept);
    return out;
}

/* The translated request and its path; CMX_OK or why it cannot go. */
static cmx_err prepare(vertex_attempt *a, const cmx_call *call, const cmx_target_config *target,
                       cmx_error *why)
{
    vertex_state *s = a->state;
    const cmx_vertex_settings *vs = cmx_vertex_settings_of(s->svc.cfg);
    if (call->api == CMX_API_RESPONSES)
        return cmx_error_set(why, CMX_ERR_BAD_REQUEST,
                             "provider '%s' (vertex) does not serve the Responses API itself",
                             s->svc.cfg->name);
    const vertex_road *road = road_for(call, target->model);
    a->anthropic_beta = call->api == CMX_API_MESSAGES || call->api == CMX_API_COUNT_TOKENS
                            ? betas_taken(call->anthropic_beta, vs->anthropic_betas, call->arena)
                            : NULL;
    char path_room[256]; /* a usual path fits: no allocation */
    cmx_buf path;
    cmx_buf_init_spill(&path, path_room, sizeof path_room);
    cmx_err rc = road->path(s->svc.url.path, vs->project, vs->location, target->model,
                            a->base.stream, &path, why);
    if (rc == CMX_OK && cmx_buf_failed(&path))
        rc = cmx_error_set(why, CMX_ERR_NOMEM, "out of memory");
    if (rc == CMX_OK && !(a->path = cmx_arena_strndup(call->arena, path.data, path.len)))
        rc = cmx_error_set(why, CMX_ERR_NOMEM, "out of memory");
    cmx_buf_free(&path);
    if (rc != CMX_OK)
        return rc;
    cmx_translate_params p = {
        .provider_name = s->svc.cfg->name,
        .model = target->model ? target->model : "",
        .drop_unsupported = vs->drop_unsupported_params || target->drop_unsupported_params,
    };
    cmx_translate_params_of_target(&p, target);
    return cmx_translating_translate(&a->base, road->translator, call, &p, why);
}

/* Claude speaks the Messages API on Vertex; Gemini does not. */
static int vertex_serves(void *state, const cmx_target_config *target, cmx_api api)
{
    (void)state;
    return (api == CMX_API_MESSAGES || api == CMX_API_COUNT_TOKENS) &&
           cmx_vertex_is_claude(target->model);
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
    cmx_translating_init(&a->base, &vertex_ops, s->svc.base, sink, cmx_call_streams(call));
    a->wait.done = on_token;
    a->wait.ctx = a;
    a->total_ms = cmx_call_total_ms(call, s->svc.cfg->timeouts.total_ms);
    cmx_error why;
    cmx_error_clear(&why);
    if (prepare(a, call, target, &why) != CMX_OK)
        return cmx_translating_fail_later(&a->base, &why, err);
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
    .translators = (const cmx_translator_ops *const[]){&cmx_vertex_gemini_translator,
                                                       &cmx_vertex_claude_translator,
                                                       &cmx_vertex_embeddings_translator,
                                                       &cmx_vertex_messages_translator,
                                                       &cmx_vertex_count_translator, NULL},
    .create = vertex_create,
    .destroy = vertex_destroy,
    .serves = vertex_serves,
    .start = vertex_start,
    .cancel = cmx_translating_cancel,
};
