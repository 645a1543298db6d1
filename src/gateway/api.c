/* api.c — the gateway's surface: which path does what, who may call it,
 * and the small endpoints (models, health).  Completions and embeddings go
 * on to completions.c; Anthropic's Messages API and OpenAI's Responses API
 * to client_api.c.  Each answers errors in its own API's shape from the
 * first byte on: a Messages client that is refused, or asks for a path
 * with the wrong method, gets Anthropic's error body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "client_api.h"
#include "completions.h"
#include "reply.h"
#include "core/error_json.h"
#include "core/str.h"

#define MAX_CLIENT_REQUEST_ID 128

typedef enum {
    EP_NONE,
    EP_CHAT,
    EP_EMBEDDINGS,
    EP_MESSAGES,
    EP_COUNT_TOKENS,
    EP_RESPONSES,
    EP_MODELS,
    EP_LIVE,
    EP_READY,
    EP_METRICS,
    EP_STATUS,
    EP_RELOAD,
    EP_ADMIN_API /* /admin/keys, /admin/teams, /admin/spend (governance) */
} endpoint;

static endpoint endpoint_of(cmx_slice path, const char **allowed)
{
    static const struct {
        const char *path;
        endpoint ep;
        const char *method;
    } table[] = {
        {"/v1/chat/completions", EP_CHAT, "POST"},
        {"/chat/completions", EP_CHAT, "POST"},
        {"/v1/embeddings", EP_EMBEDDINGS, "POST"},
        {"/embeddings", EP_EMBEDDINGS, "POST"},
        {"/v1/messages", EP_MESSAGES, "POST"},
        {"/v1/messages/count_tokens", EP_COUNT_TOKENS, "POST"},
        {"/v1/responses", EP_RESPONSES, "POST"},
        {"/responses", EP_RESPONSES, "POST"},
        {"/v1/models", EP_MODELS, "GET"},
        {"/models", EP_MODELS, "GET"},
        {"/health/live", EP_LIVE, "GET"},
        {"/health/ready", EP_READY, "GET"},
        {"/metrics", EP_METRICS, "GET"},
        {"/v1/status", EP_STATUS, "GET"},
        {"/admin/reload", EP_RELOAD, "POST"},
    };
    if (cmx_gov_admin_path(path.ptr, path.len)) {
        *allowed = NULL; /* each admin route says which methods it takes */
        return EP_ADMIN_API;
    }
    /* A trailing slash is the same endpoint, as clients are lax about it. */
    if (path.len > 1 && path.ptr[path.len - 1] == '/')
        path.len--;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (cmx_slice_eq(path, table[i].path)) {
            *allowed = table[i].method;
            return table[i].ep;
        }
    }
    return EP_NONE;
}

static int is_id_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == ':';
}

/* The client's x-request-id when it is a sane token, else a new one. */
static const char *request_id_for(cmx_worker *w, const cmx_http_request *req)
{
    const cmx_slice *given = cmx_http_header_get(req, "x-request-id");
    if (given && given->len > 0 && given->len <= MAX_CLIENT_REQUEST_ID) {
        size_t i = 0;
        while (i < given->len && is_id_char(given->ptr[i]))
            i++;
        if (i == given->len)
            return cmx_arena_strndup(req->arena, given->ptr, given->len);
    }
    /* "cmx-" + worker's random prefix, worker index and sequence, in hex:
     * unique per process, cheap to make. */
    static const char hex[] = "0123456789abcdef";
    char *id = cmx_arena_alloc(req->arena, 4 + 8 + 2 + 10 + 1);
    if (!id)
        return "cmx-unknown";
    memcpy(id, CMX_LIT("cmx-"));
    uint64_t parts[3] = {w->id_prefix, (uint64_t)(w->index & 0xff), ++w->request_seq};
    const int digits[3] = {8, 2, 10};
    char *p = id + 4;
    for (int k = 0; k < 3; k++)
        for (int d = digits[k] - 1; d >= 0; d--)
            *p++ = hex[(parts[k] >> (4 * d)) & 15];
    *p = '\0';
    return id;
}

/* Which client key the request carries: its index, AUTH_OFF when no keys are
 * configured, AUTH_REFUSED when it has none of them.  Anthropic's clients
 * send theirs as x-api-key (Claude Code with ANTHROPIC_API_KEY) or as a
 * bearer token (ANTHROPIC_AUTH_TOKEN): both count where they speak. */
#define AUTH_OFF SIZE_MAX
#define AUTH_REFUSED (SIZE_MAX - 1)
static size_t client_key_index(const cmx_server_config *sc, const cmx_http_request *req,
                               int anthropic)
{
    if (sc->n_api_keys == 0)
        return AUTH_OFF;
    cmx_slice token;
    long i = cmx_client_key(req, anthropic, &token)
                 ? cmx_key_match(token, sc->api_keys, sc->n_api_keys)
                 : -1;
    return i < 0 ? AUTH_REFUSED : (size_t)i;
}

static cmx_api api_of(endpoint ep)
{
    return ep == EP_MESSAGES       ? CMX_API_MESSAGES
           : ep == EP_COUNT_TOKENS ? CMX_API_COUNT_TOKENS
           : ep == EP_RESPONSES    ? CMX_API_RESPONSES
           : ep == EP_EMBEDDINGS   ? CMX_API_EMBEDDINGS
                                   : CMX_API_CHAT;
}

/* With governance on, every request needs a key: one of server.api_keys
 * (shared keys, no budget) or a virtual key.  Answers the refusal itself;
 * returns 0 then. */
static int authenticate_virtual_key(cmx_api_ctx *c, int anthropic)
{
    cmx_worker *w = c->worker;
    const cmx_server_config *sc = &c->cfg->server;
    cmx_slice token;
    if (!cmx_client_key(c->req, anthropic, &token)) {
        cmx_reply_error(c, 401, CMX_ERR_AUTH, NULL, "missing_api_key",
                        anthropic ? "missing API key: send 'x-api-key: <key>' or 'Authorization: "
                                    "Bearer <key>' with your cloudmux key"
                                  : "missing API key: send 'Authorization: Bearer <key>' with "
                                    "your cloudmux key",
                        NULL, "WWW-Authenticate: Bearer\r\n");
        return 0;
    }
    if (sc->n_api_keys) {
        long i = cmx_key_match(token, sc->api_keys, sc->n_api_keys);
        if (i >= 0) {
            if (sc->api_key_residency)
                c->key_residency = sc->api_key_residency[i];
            return 1;
        }
    }
    const char *code = NULL;
    cmx_error err;
    cmx_gov_key *key =
        cmx_gov_authenticate(w->gov, &w->gov_view, token.ptr, token.len, &code, &err);
    if (!key) {
        cmx_reply_error(c, err.status, err.kind, NULL, code, err.message, NULL,
                        err.status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
        return 0;
    }
    c->ticket.key = key;
    c->key_residency = key->residency;
    return 1;
}

/* Before there is a context to answer through: a 500 from the stack. */
static void answer_out_of_memory(cmx_http_exchange *ex)
{
    char mem[256];
    cmx_buf b;
    cmx_buf_init_fixed(&b, mem, sizeof mem);
    cmx_error_json(&b, &(cmx_error_body){.kind = CMX_ERR_NOMEM, .message = "out of memory"});
    cmx_http_respond(ex, 500, "application/json", NULL, b.data, b.len);
}

void cmx_api_error_writer(cmx_buf *b, cmx_slice path, int status, const char *code,
                          const char *message)
{
    cmx_err kind = status == 413   ? CMX_ERR_TOO_LARGE
                   : status == 408 ? CMX_ERR_TIMEOUT
                   : status >= 500 ? CMX_ERR_UNAVAILABLE
                                   : CMX_ERR_BAD_REQUEST;
    if (path.len >= CMX_LIT_LEN("/v1/messages") && CMX_STARTS_WITH(path.ptr, "/v1/messages")) {
        cmx_error_json_anthropic(b, kind, message);
        return;
    }
    cmx_error_json(b, &(cmx_error_body){
                          .kind = kind,
                          .type = status >= 500 ? "server_error" : "invalid_request_error",
                          .message = message,
                          .code = code,
                      });
}

void cmx_api_handle(cmx_http_exchange *ex, void *arg)
{
    cmx_worker *w = arg;
    const cmx_http_request *req = cmx_http_request_of(ex);
    cmx_api_ctx *c = cmx_arena_calloc(req->arena, 1, sizeof *c);
    if (!c) {
        answer_out_of_memory(ex);
        return;
    }
    c->worker = w;
    c->ex = ex;
    c->req = req;
    /* The request runs on this generation to its last byte, reloads or not. */
    c->wgen = w->current;
    c->cfg = c->wgen->gen->cfg;
    if (cmx_worker_gen_hold(c->wgen, req->arena) != 0) {
        answer_out_of_memory(ex);
        return;
    }
    c->request_id = request_id_for(w, req);
    cmx_metrics_request_begin(w->shard);
    c->in_flight = 1;

    const char *allowed = NULL;
    endpoint ep = endpoint_of(req->path, &allowed);
    c->api = api_of(ep);
    c->api_endpoint = ep == EP_CHAT || ep == EP_EMBEDDINGS || ep == EP_MESSAGES ||
                      ep == EP_COUNT_TOKENS || ep == EP_RESPONSES;
    /* Anthropic's clients name their API version on every call, /v1/models too */
    int anthropic = c->api == CMX_API_MESSAGES || c->api == CMX_API_COUNT_TOKENS ||
                    (ep == EP_MODELS && cmx_http_header_get(req, "anthropic-version"));
    if (ep == EP_NONE) {
        char *msg =
            cmx_arena_sprintf(req->arena, "unknown path '%.*s'",
                              (int)(req->path.len > 200 ? 200 : req->path.len), req->path.ptr);
        cmx_reply_error(c, 404, CMX_ERR_NOT_FOUND, NULL, "unknown_url", msg, NULL, NULL);
        return;
    }
    if (allowed && !cmx_slice_eq(req->method, allowed)) {
        char *msg = cmx_arena_sprintf(req->arena, "method %.*s not allowed on %.*s; use %s",
                                      (int)(req->method.len > 16 ? 16 : req->method.len),
                                      req->method.ptr, (int)req->path.len, req->path.ptr, allowed);
        char *allow = cmx_arena_sprintf(req->arena, "Allow: %s\r\n", allowed);
        cmx_reply_error(c, 405, CMX_ERR_METHOD, NULL, "method_not_allowed", msg, NULL, allow);
        return;
    }
    /* Probes come every few seconds from every orchestrator: not worth a line. */
    c->quiet = ep == EP_LIVE || ep == EP_READY;
    if (c->quiet) {
        c->in_flight = 0;
        cmx_metrics_request_end(w->shard);
    }
    switch (ep) {
    case EP_LIVE: cmx_reply_json(c, 200, NULL, CMX_LIT("{\"status\":\"ok\"}"), NULL); return;
    case EP_READY:
        if (atomic_load(&w->draining))
            cmx_reply_json(c, 503, NULL, CMX_LIT("{\"status\":\"draining\"}"), NULL);
        else
            cmx_reply_json(c, 200, NULL, CMX_LIT("{\"status\":\"ready\"}"), NULL);
        return;
    case EP_METRICS:
    case EP_STATUS:
    case EP_RELOAD:
    case EP_ADMIN_API:
        /* Operators' endpoints: admin keys, not the clients' api_keys. */
        cmx_admin_handle(c, ep == EP_METRICS  ? CMX_ADMIN_METRICS
                            : ep == EP_STATUS ? CMX_ADMIN_STATUS
                            : ep == EP_RELOAD ? CMX_ADMIN_RELOAD
                                              : CMX_ADMIN_GOVERNANCE);
        return;
    default: break;
    }
    if (w->gov && cmx_governance_keys_on(w->gov)) {
        if (!authenticate_virtual_key(c, anthropic))
            return;
    } else {
        size_t key = client_key_index(&c->cfg->server, req, anthropic);
        if (key == AUTH_REFUSED) {
            cmx_reply_error(c, 401, CMX_ERR_AUTH, NULL, "invalid_api_key",
                            anthropic ? "missing or invalid API key: send 'x-api-key: <key>' or "
                                        "'Authorization: Bearer <key>' with one of the keys in "
                                        "server.api_keys"
                                      : "missing or invalid API key: send 'Authorization: Bearer "
                                        "<key>' with one of the keys in server.api_keys",
                            NULL, "WWW-Authenticate: Bearer\r\n");
            return;
        }
        if (key != AUTH_OFF && c->cfg->server.api_key_residency)
            c->key_residency = c->cfg->server.api_key_residency[key];
    }
    if (ep == EP_MODELS) {
        if (anthropic)
            cmx_reply_json(c, 200, NULL, c->wgen->models_anthropic_json,
                           c->wgen->models_anthropic_json_len, NULL);
        else
            cmx_reply_json(c, 200, NULL, c->wgen->models_json, c->wgen->models_json_len, NULL);
        return;
    }
    /* Every authenticated call gets a ledger row, refusals included. */
    c->governed = w->gov && cmx_governance_keys_on(w->gov);
    if (c->api == CMX_API_CHAT || c->api == CMX_API_EMBEDDINGS)
        cmx_completions_handle(c, c->api);
    else
        cmx_client_api_handle(c);
}
