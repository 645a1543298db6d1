/* openai.c — the OpenAI API and every OpenAI-compatible server (vLLM,
 * Ollama, llama.cpp server, Azure's v1 surface with a key) by base_url.
 *
 * The canonical format is this provider's own, so nothing is translated:
 * openai_wire.c carries the bytes and judges the answer.  This file only
 * knows where requests go (base_url + /chat/completions or /embeddings) and
 * which headers carry the credentials. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "openai_wire.h"

typedef struct openai_state {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    cmx_url url;
    char *headers; /* Authorization, Content-Type, ... as one block */
    size_t headers_len;
    char *chat_path;
    char *embeddings_path;
} openai_state;

static cmx_err openai_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                             cmx_error *err)
{
    openai_state *s = calloc(1, sizeof *s);
    if (!s)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->upstream = env->upstream;
    if (cmx_url_parse(cfg->base_url, &s->url, err) != CMX_OK) {
        free(s);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    cmx_buf h = CMX_BUF_INIT;
    if (cfg->api_key)
        cmx_buf_printf(&h, "Authorization: Bearer %s\r\n", cfg->api_key);
    if (cfg->organization)
        cmx_buf_printf(&h, "OpenAI-Organization: %s\r\n", cfg->organization);
    cmx_buf_append_str(&h, "Content-Type: application/json\r\nUser-Agent: cloudmux\r\n");
    s->headers = h.data;
    s->headers_len = h.len;
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s/chat/completions", s->url.path);
    s->chat_path = p.data;
    cmx_buf e = CMX_BUF_INIT;
    cmx_buf_printf(&e, "%s/embeddings", s->url.path);
    s->embeddings_path = e.data;
    if (!s->headers || !s->chat_path || !s->embeddings_path) {
        free(s->headers);
        free(s->chat_path);
        free(s->embeddings_path);
        free(s);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CMX_OK;
}

static void openai_destroy(void *state)
{
    openai_state *s = state;
    if (!s)
        return;
    /* The key lives in this block: wipe it before giving the memory back. */
    memset(s->headers, 0, s->headers_len);
    free(s->headers);
    free(s->chat_path);
    free(s->embeddings_path);
    free(s);
}

static void *openai_start(void *state, const cmx_call *call, const cmx_target_config *target,
                          const cmx_attempt_sink *sink, cmx_error *err)
{
    openai_state *s = state;
    cmx_openai_wire_request req = {
        .cfg = s->cfg,
        .upstream = s->upstream,
        .origin = &s->url,
        .path = call->api == CMX_API_EMBEDDINGS ? s->embeddings_path : s->chat_path,
        .headers = s->headers,
        .headers_len = s->headers_len,
        .model = target->model,
        /* OpenAI takes the caller's own id of a request in this header. */
        .request_id_header = "X-Client-Request-Id",
    };
    return cmx_openai_wire_start(&req, call, sink, err);
}

static void openai_cancel(void *attempt)
{
    cmx_openai_wire_cancel(attempt);
}

static cmx_probe *openai_probe(void *state, const char *path, uint32_t timeout_ms,
                               void (*done)(void *ctx, const cmx_error *err), void *ctx)
{
    openai_state *s = state;
    return cmx_probe_http(s->upstream, &s->url, s->cfg->tls_verify, s->cfg->ca_file, path,
                          s->headers, s->headers_len, timeout_ms, done, ctx);
}

const cmx_provider_vtable cmx_provider_openai = {
    .type = "openai",
    .create = openai_create,
    .destroy = openai_destroy,
    .start = openai_start,
    .cancel = openai_cancel,
    .probe = openai_probe,
};
