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
 * The attempt's plumbing (the held-back first chunk, body caps, content
 * types, the one outcome for the sink) is shared with the other translating
 * providers in translating_attempt.c; thanks to it an upstream that fails
 * right after message_start (an overloaded_error before any text) can still
 * fail over: nothing has reached the client yet.
 *
 * A request Anthropic cannot take (n=2, logprobs ...) fails the attempt with
 * bad_request, reported from the event loop right after start() returns, as
 * any other upstream answer would be.
 *
 * A client that speaks the Messages API itself (POST /v1/messages and its
 * count_tokens) is served without a translation (claude_messages.h): its
 * body goes on with the target's model spliced in, with its own
 * anthropic-version and anthropic-beta headers, and Anthropic's answer and
 * events go back as they came. */
#include "provider.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/wipe.h"
#include "http/sse.h"
#include "providers/anthropic.h"
#include "providers/claude_messages.h"
#include "providers/provider_error.h"
#include "providers/translating_attempt.h"
#include "core/str.h"
#include "providers/anthropic_config.h"

typedef struct anthropic_state {
    cmx_service svc; /* first: what every service provider holds */
    char *headers;   /* x-api-key, anthropic-version, Content-Type as one block */
    size_t headers_len;
    char *key_header; /* the x-api-key line alone ("" without a key), for the Messages API */
    size_t key_header_len;
    char *messages_path;
    char *count_path;
} anthropic_state;

typedef struct anthropic_attempt {
    cmx_translating_attempt base; /* first: the shared plumbing */
    anthropic_state *state;
} anthropic_attempt;

static void anthropic_destroy(void *state)
{
    anthropic_state *s = state;
    if (!s)
        return;
    /* The key lives in this block. */
    cmx_free_wiped(s->headers, s->headers_len);
    cmx_free_wiped(s->key_header, s->key_header_len);
    free(s->messages_path);
    free(s->count_path);
    free(s);
}

static cmx_err anthropic_create(const cmx_provider_config *cfg, const cmx_worker_env *env,
                                void **out, cmx_error *err)
{
    anthropic_state *s = cmx_service_new(sizeof *s, cfg, env, err);
    if (!s)
        return err ? err->kind : CMX_ERR_NOMEM;
    const cmx_anthropic_settings *st = cmx_anthropic_settings_of(cfg);
    cmx_buf h, k;
    cmx_buf_init_secret(&h);
    cmx_buf_init_secret(&k);
    if (st->api_key) {
        cmx_buf_printf(&h, "x-api-key: %s\r\n", st->api_key);
        cmx_buf_printf(&k, "x-api-key: %s\r\n", st->api_key);
    }
    s->key_header = k.data;
    s->key_header_len = k.len;
    cmx_buf_printf(&h, "anthropic-version: %s\r\n", st->anthropic_version);
    cmx_buf_append_str(&h, "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n");
    s->headers = h.data;
    s->headers_len = h.len;
    /* base_url is the API root; one that already ends in /v1 is taken as meant. */
    size_t plen = strlen(s->svc.url.path);
    int has_v1 = CMX_ENDS_WITH(s->svc.url.path, plen, "/v1");
    cmx_buf p = CMX_BUF_INIT, c = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s%s", s->svc.url.path, has_v1 ? "/messages" : "/v1/messages");
    cmx_buf_printf(&c, "%s%s", s->svc.url.path,
                   has_v1 ? "/messages/count_tokens" : "/v1/messages/count_tokens");
    s->messages_path = p.data;
    s->count_path = c.data;
    if (cmx_buf_failed(&h) || cmx_buf_failed(&k) || cmx_buf_failed(&p) || cmx_buf_failed(&c)) {
        anthropic_destroy(s);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CMX_OK;
}

/* ---- the attempt's provider part (see translating_attempt.h) -------- */

/* Anthropic's error answer {"type":"error","error":{"type","message"}}. */
static void map_error_response(cmx_translating_attempt *base, cmx_error *err)
{
    anthropic_attempt *a = (anthropic_attempt *)base;
    json_t *root = json_loadb(base->body.data ? base->body.data : "", base->body.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const json_t *type = json_object_get(e, "type");
    cmx_provider_error pe = {
        .provider = a->state->svc.cfg->name,
        .provider_type = "anthropic",
        .status = base->status,
        .type = json_string_value(type),
        .type_len = json_string_length(type),
        .message = json_string_value(json_object_get(e, "message")),
        .rules = cmx_anthropic_error_rules,
        .context_phrases = cmx_anthropic_context_phrases,
        .retry_after_ms = base->retry_after_ms,
    };
    cmx_provider_error_set(&pe, err);
    json_decref(root);
}

static const cmx_translating_ops anthropic_ops = {
    .map_error = map_error_response,
    .header = cmx_translating_retry_after,
};

/* A Messages API call: the client's own anthropic-version (the format it
 * speaks) and anthropic-beta go along. */
static void *send_messages(anthropic_attempt *a, const cmx_call *call, cmx_error *err)
{
    anthropic_state *s = a->state;
    const char *version = call->anthropic_version
                              ? call->anthropic_version
                              : cmx_anthropic_settings_of(s->svc.cfg)->anthropic_version;
    cmx_buf h;
    cmx_buf_init_secret(&h);
    cmx_buf_append(&h, s->key_header, s->key_header_len);
    cmx_buf_printf(&h, "anthropic-version: %s\r\n", version);
    if (call->anthropic_beta)
        cmx_buf_printf(&h, "anthropic-beta: %s\r\n", call->anthropic_beta);
    cmx_buf_append_str(&h, "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n");
    if (cmx_buf_failed(&h)) {
        cmx_buf_free(&h);
        cmx_translating_cancel(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    void *sent = cmx_translating_send(
        &a->base, s->svc.upstream, s->svc.cfg, &s->svc.url, call,
        call->api == CMX_API_COUNT_TOKENS ? s->count_path : s->messages_path, h.data, h.len, err);
    cmx_buf_free(&h); /* a secret buffer: the key is wiped */
    return sent;
}

static int anthropic_serves(void *state, const cmx_target_config *target, cmx_api api)
{
    (void)state;
    (void)target;
    return api == CMX_API_MESSAGES || api == CMX_API_COUNT_TOKENS;
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
    cmx_translating_init(&a->base, &anthropic_ops, s->svc.base, sink, cmx_call_streams(call));
    cmx_error why;
    cmx_error_clear(&why);
    if (call->api == CMX_API_EMBEDDINGS || call->api == CMX_API_RESPONSES) {
        cmx_error_set(&why, CMX_ERR_BAD_REQUEST,
                      "provider '%s' (anthropic) offers chat completions and the Messages API, not "
                      "%s",
                      s->svc.cfg->name, cmx_api_name(call->api));
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    const cmx_anthropic_settings *st = cmx_anthropic_settings_of(s->svc.cfg);
    cmx_translate_params p = {
        .provider_name = s->svc.cfg->name,
        .model = target->model,
        .default_max_tokens = st->default_max_tokens,
        .drop_unsupported = st->drop_unsupported_params || target->drop_unsupported_params,
    };
    cmx_translate_params_of_target(&p, target);
    const cmx_translator_ops *tr =
        call->api == CMX_API_MESSAGES       ? &cmx_anthropic_messages_translator
        : call->api == CMX_API_COUNT_TOKENS ? &cmx_anthropic_count_translator
                                            : &cmx_anthropic_translator;
    if (cmx_translating_translate(&a->base, tr, call, &p, &why) != CMX_OK)
        return cmx_translating_fail_later(&a->base, &why, err);
    if (call->api == CMX_API_CHAT)
        return cmx_translating_send(&a->base, s->svc.upstream, s->svc.cfg, &s->svc.url, call,
                                    s->messages_path, s->headers, s->headers_len, err);
    return send_messages(a, call, err);
}

static cmx_probe *anthropic_probe(void *state, const char *path, uint32_t timeout_ms,
                                  void (*done)(void *ctx, const cmx_error *err), void *ctx)
{
    anthropic_state *s = state;
    return cmx_probe_http(s->svc.upstream, &s->svc.url, s->svc.cfg->tls_verify, s->svc.cfg->http2,
                          s->svc.cfg->ca_file, path, s->headers, s->headers_len, timeout_ms, done,
                          ctx);
}

const cmx_provider_vtable cmx_provider_anthropic = {
    .type = "anthropic",
    .schema = &cmx_anthropic_schema,
    .translators = (const cmx_translator_ops *const[]){&cmx_anthropic_translator,
                                                       &cmx_anthropic_messages_translator,
                                                       &cmx_anthropic_count_translator, NULL},
    .create = anthropic_create,
    .destroy = anthropic_destroy,
    .serves = anthropic_serves,
    .start = anthropic_start,
    .cancel = cmx_translating_cancel,
    .probe = anthropic_probe,
};
