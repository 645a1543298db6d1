/* openai.c — the OpenAI API and every OpenAI-compatible server (vLLM,
 * Ollama, llama.cpp server, Azure's v1 surface with a key) by base_url.
 *
 * The canonical format is this provider's own, so nothing is translated:
 * openai_wire.c carries the bytes and judges the answer.  This file only
 * knows where requests go (base_url + /chat/completions, /embeddings or
 * /responses: OpenAI's Responses API is passed through too) and which
 * headers carry the credentials. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/wipe.h"
#include "openai_wire.h"
#include "providers/openai_config.h"

typedef struct openai_state {
    cmx_service svc; /* first: what every service provider holds */
    char *headers;   /* Authorization, Content-Type, ... as one block */
    size_t headers_len;
    char *chat_path;
    char *embeddings_path;
    char *responses_path;
} openai_state;

static void openai_destroy(void *state)
{
    openai_state *s = state;
    if (!s)
        return;
    /* The key lives in this block. */
    cmx_free_wiped(s->headers, s->headers_len);
    free(s->chat_path);
    free(s->embeddings_path);
    free(s->responses_path);
    free(s);
}

static cmx_err openai_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                             cmx_error *err)
{
    openai_state *s = cmx_service_new(sizeof *s, cfg, env, err);
    if (!s)
        return err ? err->kind : CMX_ERR_NOMEM;
    const cmx_openai_settings *st = cmx_openai_settings_of(cfg);
    cmx_buf h;
    cmx_buf_init_secret(&h);
    if (st->api_key)
        cmx_buf_printf(&h, "Authorization: Bearer %s\r\n", st->api_key);
    if (st->organization)
        cmx_buf_printf(&h, "OpenAI-Organization: %s\r\n", st->organization);
    cmx_buf_append_str(&h, "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n");
    s->headers = h.data;
    s->headers_len = h.len;
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s/chat/completions", s->svc.url.path);
    s->chat_path = p.data;
    cmx_buf e = CMX_BUF_INIT, r = CMX_BUF_INIT;
    cmx_buf_printf(&e, "%s/embeddings", s->svc.url.path);
    cmx_buf_printf(&r, "%s/responses", s->svc.url.path);
    s->embeddings_path = e.data;
    s->responses_path = r.data;
    if (cmx_buf_failed(&h) || cmx_buf_failed(&p) || cmx_buf_failed(&e) || cmx_buf_failed(&r)) {
        openai_destroy(s);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CMX_OK;
}

static void *openai_start(void *state, const cmx_call *call, const cmx_target_config *target,
                          const cmx_attempt_sink *sink, cmx_error *err)
{
    openai_state *s = state;
    cmx_openai_wire_request req = {
        .cfg = s->svc.cfg,
        .upstream = s->svc.upstream,
        .origin = &s->svc.url,
        .path = call->api == CMX_API_EMBEDDINGS  ? s->embeddings_path
                : call->api == CMX_API_RESPONSES ? s->responses_path
                                                 : s->chat_path,
        .headers = s->headers,
        .headers_len = s->headers_len,
        .model = target->model,
        /* OpenAI takes the caller's own id of a request in this header. */
        .request_id_header = "X-Client-Request-Id",
        .keep_extra_content = cmx_openai_wire_is_google(&s->svc.url),
    };
    return cmx_openai_wire_start(&req, call, sink, err);
}

/* Anthropic's Messages API has no place here: it comes as a chat completion. */
int cmx_openai_serves(void *state, const cmx_target_config *target, cmx_api api)
{
    (void)state;
    (void)target;
    return api == CMX_API_RESPONSES;
}

static void openai_cancel(void *attempt)
{
    cmx_openai_wire_cancel(attempt);
}

static cmx_probe *openai_probe(void *state, const char *path, uint32_t timeout_ms,
                               void (*done)(void *ctx, const cmx_error *err), void *ctx)
{
    openai_state *s = state;
    return cmx_probe_http(s->svc.upstream, &s->svc.url, s->svc.cfg->tls_verify, s->svc.cfg->http2,
                          s->svc.cfg->ca_file, path, s->headers, s->headers_len, timeout_ms, done,
                          ctx);
}

const cmx_provider_vtable cmx_provider_openai = {
    .type = "openai",
    .schema = &cmx_openai_schema,
    .create = openai_create,
    .destroy = openai_destroy,
    .serves = cmx_openai_serves,
    .start = openai_start,
    .cancel = openai_cancel,
    .probe = openai_probe,
};
