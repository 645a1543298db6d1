/* cache.c — the response cache's part of a request; see cache.h. */
#include "gateway/cache.h"
#include "core/str.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/auth.h"
#include "gateway/cache_entry.h"
#include "router/residency.h"
#include "state/state.h"

static const char *const volatile_fields[] = {"stream", "stream_options", "user"};

/* Does the Cache-Control header carry this directive? */
static int cache_control_has(const cmx_http_request *req, const char *directive)
{
    const cmx_slice *v = cmx_http_header_get(req, "cache-control");
    if (!v)
        return 0;
    size_t n = strlen(directive);
    const char *p = v->ptr, *end = v->ptr + v->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t' && *p != '=')
            p++;
        if ((size_t)(p - tok) == n && strncasecmp(tok, directive, n) == 0)
            return 1;
        while (p < end && *p != ',')
            p++;
    }
    return 0;
}

static void hash_part(EVP_MD_CTX *md, const void *data, size_t len)
{
    /* Length-prefixed, so no two different inputs run together the same. */
    char n[24];
    int k = snprintf(n, sizeof n, "%zu:", len);
    EVP_DigestUpdate(md, n, (size_t)k);
    EVP_DigestUpdate(md, data, len);
}

/* SHA-256, looked up once per process rather than on every key. */
static EVP_MD *sha256;
static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static int make_key(cmx_api_ctx *c)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fetch_sha256);
    const cmx_http_request *req = c->req;
    size_t body_len;
    const char *body =
        cmx_json_strip_members(req->arena, req->body, req->body_len, volatile_fields, 3, &body_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!body || !md || !sha256 || EVP_DigestInit_ex2(md, sha256, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    const char *api = c->call.api == CMX_API_EMBEDDINGS ? "embeddings" : "chat";
    /* the bearer token is the unit of `scope: key` ("" without client keys) */
    cmx_slice scope = c->group->cache.scope_global ? (cmx_slice){"*", 1} : cmx_bearer_token(req);
    /* the region the route will keep to; a conflict is refused there */
    cmx_residency where;
    if (cmx_residency_decide(&c->call, c->group, &where, NULL) != CMX_OK) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    const char *residency = where.tag ? where.tag : "";
    hash_part(md, CMX_LIT("cloudmux-cache-v2")); /* the entry format */
    hash_part(md, c->group->name, strlen(c->group->name));
    hash_part(md, scope.ptr, scope.len);
    hash_part(md, residency, strlen(residency));
    hash_part(md, api, strlen(api));
    hash_part(md, body, body_len);
    unsigned char digest[32];
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(md, digest, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; ok && i < 32; i++) {
        c->cache_key[2 * i] = hex[digest[i] >> 4];
        c->cache_key[2 * i + 1] = hex[digest[i] & 15];
    }
    c->cache_key[64] = '\0';
    return ok ? 0 : -1;
}

/* Answers from the entry, in the form asked for: the stored bytes as they
 * are, or (an entry too big to hold both forms) converted now.  0 when it
 * was answered, -1 when the entry is unusable (then the request goes on as
 * a miss). */
static int answer_hit(cmx_api_ctx *c, const char *value, size_t len)
{
    cmx_cache_entry e;
    if (cmx_cache_entry_decode(value, len, c->req->arena, &e) != 0)
        return -1;
    cmx_buf scratch = CMX_BUF_INIT;
    const char *answer;
    size_t n;
    if ((c->stream ? cmx_cache_entry_events(&e, &scratch, &answer, &n)
                   : cmx_cache_entry_body(&e, &scratch, &answer, &n)) != 0) {
        cmx_buf_free(&scratch);
        return -1;
    }
    cmx_route_result r = {
        .group = c->group->name, .provider = e.provider, .model = e.model, .usage = e.usage};
    c->cache = 1 + CMX_CACHE_RESULT_HIT;
    if (c->stream) {
        cmx_http_stream_begin(c->ex, 200, "text/event-stream",
                              cmx_reply_headers(c, &r, "Cache-Control: no-cache\r\n"));
        cmx_http_stream_write(c->ex, answer, n);
        if (c->scan.include_usage)
            cmx_http_stream_write(c->ex, e.usage_event, e.usage_event_len);
        cmx_http_stream_write(c->ex, CMX_LIT("data: [DONE]\n\n"));
        cmx_reply_log(c, 200, &r, NULL);
        cmx_http_stream_end(c->ex);
    } else {
        cmx_reply_json(c, 200, NULL, answer, n, &r);
    }
    cmx_buf_free(&scratch);
    return 0;
}

typedef struct lookup {
    cmx_api_ctx *c;
    void (*route)(cmx_api_ctx *c);
    int in_call;  /* the answer came before cmx_state_cache_get returned: */
    int answered; /* it is kept here and acted on after the call */
    int found;
    char *value;
    size_t len;
} lookup;

/* A hit is answered, a miss routed; either may end the request. */
static void act(lookup *l, int found, const char *value, size_t len)
{
    cmx_api_ctx *c = l->c;
    if (found && answer_hit(c, value, len) == 0)
        return;
    c->cache = 1 + CMX_CACHE_RESULT_MISS;
    l->route(c);
}

static void on_found(void *ctx, cmx_state_verdict v, const char *value, size_t len)
{
    lookup *l = ctx;
    l->c->cache_op = 0;
    if (!l->in_call) {
        act(l, v == CMX_STATE_YES, value, len);
        return;
    }
    l->answered = 1;
    l->found =
        v == CMX_STATE_YES && (l->value = cmx_arena_strndup(l->c->req->arena, value, len)) != NULL;
    l->len = len;
}

int cmx_cache_lookup(cmx_api_ctx *c, void (*route)(cmx_api_ctx *c))
{
    const cmx_cache_settings *cs = &c->group->cache;
    if (!cs->enabled || make_key(c) != 0)
        return 0;
    c->cache_store = !cache_control_has(c->req, "no-store");
    if (cache_control_has(c->req, "no-cache")) {
        c->cache = 1 + CMX_CACHE_RESULT_BYPASS;
        return 0;
    }
    lookup *l = cmx_arena_calloc(c->req->arena, 1, sizeof *l);
    if (!l)
        return 0;
    l->c = c;
    l->route = route;
    l->in_call = 1;
    uint64_t op = cmx_state_cache_get(c->worker->state, c->cache_key, on_found, l);
    l->in_call = 0;
    if (l->answered)
        act(l, l->found, l->value, l->len);
    else
        c->cache_op = op;
    return 1;
}

void cmx_cache_cancel(cmx_api_ctx *c)
{
    if (c->cache_op) {
        cmx_state_cancel(c->worker->state, c->cache_op);
        c->cache_op = 0;
    }
}

/* The entry holds the answer in both forms (made here, once), so that no
 * hit has to convert it. */
static void store(cmx_api_ctx *c, int is_stream, const cmx_route_result *r, const char *payload,
                  size_t len)
{
    cmx_buf entry = CMX_BUF_INIT;
    cmx_state_worker *sw = c->worker->state;
    if (cmx_cache_entry_make(&entry, is_stream, &r->usage, r->provider, r->model, payload, len,
                             cmx_state_cache_max_value(cmx_state_of(sw))) == 0)
        cmx_state_cache_put(sw, c->cache_key, entry.data, entry.len, c->group->cache.ttl_ms);
    cmx_buf_free(&entry);
}

static int storing(const cmx_api_ctx *c)
{
    return c->cache && c->cache != 1 + CMX_CACHE_RESULT_HIT && c->cache_store;
}

void cmx_cache_keep_answer(cmx_api_ctx *c, const cmx_route_result *r, const char *body, size_t len)
{
    if (storing(c))
        store(c, 0, r, body, len);
}

static void free_capture(void *arg)
{
    cmx_buf_free(arg);
    free(arg);
}

void cmx_cache_keep_chunk(cmx_api_ctx *c, const char *json, size_t len)
{
    if (!storing(c))
        return;
    if (!c->cache_capture) {
        c->cache_capture = calloc(1, sizeof *c->cache_capture);
        if (!c->cache_capture ||
            cmx_arena_on_release(c->req->arena, free_capture, c->cache_capture) != 0) {
            free(c->cache_capture);
            c->cache_capture = NULL;
            c->cache_store = 0;
            return;
        }
    }
    /* Past the largest storable entry the rest is not kept. */
    if (c->cache_capture->len + len > cmx_state_cache_max_value(cmx_state_of(c->worker->state))) {
        c->cache_store = 0;
        return;
    }
    cmx_cache_append_chunk(c->cache_capture, json, len);
}

void cmx_cache_keep_stream(cmx_api_ctx *c, const cmx_route_result *r)
{
    if (storing(c) && c->cache_capture && c->cache_capture->data &&
        !cmx_buf_failed(c->cache_capture)) /* a chunk that did not fit: not kept */
        store(c, 1, r, c->cache_capture->data, c->cache_capture->len);
}
