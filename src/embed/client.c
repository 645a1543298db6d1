/* client.c — the embeddable API of include/cloudmux.h.
 *
 * A client is a one-thread gateway without the HTTP server: its own event
 * loop, upstream pools and router over one config snapshot.  A call scans the
 * body like the server does, runs the route, and drives the loop until the
 * route's single sink call has arrived. */
#include "cloudmux.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "gateway/reply.h"
#include "governance/pricing.h"
#include "router/group_state.h"
#include "router/router.h"

struct cmx_client {
    cmx_config *cfg;
    struct event_base *base;
    struct evdns_base *dns;
    cmx_upstream *upstream;
    cmx_router_shared *shared;
    cmx_router *router;
    cmx_arena *arena;
};

typedef struct call_state {
    cmx_client *client;
    cmx_result *out;
    cmx_chunk_fn on_chunk;
    void *user;
    int done;
    cmx_err kind; /* how the call ended: CMX_OK or the failure's kind */
} call_state;

/* Appends one line to the caller's error buffer. */
static void errbuf_put(char *errbuf, size_t len, const char *msg)
{
    if (!errbuf || !len)
        return;
    size_t used = strlen(errbuf);
    if (used + 1 < len)
        snprintf(errbuf + used, len - used, "%s%s", used ? "\n" : "", msg);
}

cmx_err cmx_client_open(const char *config_path, cmx_client **out, char *errbuf, size_t errbuf_len)
{
    if (errbuf && errbuf_len)
        errbuf[0] = '\0';
    *out = NULL;
    cmx_config_diag diag = {0};
    cmx_config *cfg = cmx_config_load_priced(config_path, &diag);
    for (size_t i = 0; i < diag.n_errors; i++)
        errbuf_put(errbuf, errbuf_len, diag.errors[i]);
    cmx_config_diag_free(&diag);
    if (!cfg)
        return CMX_ERR_CONFIG;

    cmx_client *c = calloc(1, sizeof *c);
    cmx_error err;
    cmx_error_clear(&err);
    if (!c) {
        cmx_config_unref(cfg);
        errbuf_put(errbuf, errbuf_len, "out of memory");
        return CMX_ERR_NOMEM;
    }
    c->cfg = cfg;
    c->base = event_base_new();
    c->dns = c->base ? evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS) : NULL;
    if (c->base && !c->dns)
        c->dns = evdns_base_new(c->base, 0);
    cmx_upstream_settings us;
    cmx_upstream_settings_from_config(&cfg->upstream, &us);
    c->upstream = c->base ? cmx_upstream_new(c->base, c->dns, &us) : NULL;
    c->arena = cmx_arena_new(16384);
    c->shared = cmx_router_shared_new(cfg, &err);
    if (c->upstream && c->arena && c->shared) {
        cmx_worker_env env = {c->base, c->upstream};
        c->router = cmx_router_new(cfg, c->shared, &env, &err);
    }
    if (!c->router) {
        errbuf_put(errbuf, errbuf_len, err.message[0] ? err.message : "cannot set up the client");
        cmx_client_close(c);
        return err.kind != CMX_OK ? err.kind : CMX_ERR_INTERNAL;
    }
    *out = c;
    return CMX_OK;
}

static void copy_result(call_state *s, const cmx_route_result *r)
{
    cmx_result *o = s->out;
    o->attempts = (unsigned)r->attempts;
    snprintf(o->provider, sizeof o->provider, "%s", r->provider ? r->provider : "");
    snprintf(o->model, sizeof o->model, "%s", r->model ? r->model : "");
    o->prompt_tokens = r->usage.prompt_tokens;
    o->completion_tokens = r->usage.completion_tokens;
    o->total_tokens = r->usage.total_tokens;
}

static void set_body(cmx_result *o, const char *body, size_t len)
{
    o->body = malloc(len + 1);
    if (!o->body)
        return;
    memcpy(o->body, body, len);
    o->body[len] = '\0';
    o->body_len = len;
}

static void finish(call_state *s, cmx_err kind)
{
    s->done = 1;
    s->kind = kind;
    event_base_loopbreak(s->client->base);
}

static void set_error(cmx_result *o, int status, cmx_err kind, const char *code,
                      const char *message, const cmx_route_result *r)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_reply_error_json(&b, CMX_API_CHAT, kind, NULL, code, message, r);
    o->status = status ? status : cmx_err_http_status(kind);
    o->body = b.data;
    o->body_len = b.len;
}

static void on_response(void *ctx, const cmx_route_result *r, const char *body, size_t len)
{
    call_state *s = ctx;
    copy_result(s, r);
    s->out->status = 200;
    set_body(s->out, body, len);
    finish(s, s->out->body ? CMX_OK : CMX_ERR_NOMEM);
}

static void on_stream_start(void *ctx, const cmx_route_result *r)
{
    copy_result(ctx, r);
}

static void on_stream_chunk(void *ctx, const char *json, size_t len)
{
    call_state *s = ctx;
    if (s->on_chunk)
        s->on_chunk(s->user, json, len);
}

static void on_stream_end(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    call_state *s = ctx;
    copy_result(s, r);
    if (err) {
        set_error(s->out, 502, err->kind, "upstream_stream_cut", err->message, NULL);
        finish(s, err->kind);
        return;
    }
    s->out->status = 200;
    finish(s, CMX_OK);
}

static void on_failure(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    call_state *s = ctx;
    copy_result(s, r);
    set_error(s->out, err->status, err->kind, NULL, err->message, r);
    finish(s, err->kind != CMX_OK ? err->kind : CMX_ERR_INTERNAL);
}

static cmx_err run_call(cmx_client *c, cmx_api api, const char *json, size_t len,
                        cmx_chunk_fn on_chunk, void *user, cmx_result *out)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = out->total_tokens = -1;
    cmx_arena_reset(c->arena);
    cmx_request_scan *scan = cmx_arena_calloc(c->arena, 1, sizeof *scan);
    cmx_call *call = cmx_arena_calloc(c->arena, 1, sizeof *call);
    char *body = cmx_arena_strndup(c->arena, json, len);
    if (!scan || !call || !body) {
        set_error(out, 500, CMX_ERR_NOMEM, NULL, "out of memory", NULL);
        return CMX_ERR_NOMEM;
    }
    cmx_error err;
    cmx_error_clear(&err);
    if (cmx_json_scan_request(api, body, len, c->arena, scan, &err) != CMX_OK) {
        set_error(out, 400, CMX_ERR_BAD_REQUEST, "invalid_request", err.message, NULL);
        return CMX_ERR_BAD_REQUEST;
    }
    const cmx_model_group *g =
        cmx_config_find_model(c->cfg, scan->model_name, strlen(scan->model_name));
    if (!g) {
        char msg[320];
        snprintf(msg, sizeof msg, "model '%.200s' not found", scan->model_name);
        set_error(out, 404, CMX_ERR_NOT_FOUND, "model_not_found", msg, NULL);
        return CMX_ERR_NOT_FOUND;
    }
    *call = (cmx_call){.api = api,
                       .body = body,
                       .body_len = len,
                       .scan = scan,
                       .arena = c->arena,
                       .request_id = "embedded"};
    call_state s = {c, out, on_chunk, user, 0, CMX_OK};
    cmx_route_sink sink = {
        on_response, on_stream_start, on_stream_chunk, on_stream_end, on_failure, &s, NULL};
    cmx_route_start(c->router, g, call, &sink);
    while (!s.done)
        event_base_loop(c->base, EVLOOP_ONCE);
    return s.kind;
}

cmx_err cmx_client_chat(cmx_client *c, const char *json, size_t len, cmx_chunk_fn on_chunk,
                        void *user, cmx_result *out)
{
    return run_call(c, CMX_API_CHAT, json, len, on_chunk, user, out);
}

cmx_err cmx_client_embeddings(cmx_client *c, const char *json, size_t len, cmx_result *out)
{
    return run_call(c, CMX_API_EMBEDDINGS, json, len, NULL, NULL, out);
}

void cmx_result_free(cmx_result *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

void cmx_client_close(cmx_client *c)
{
    if (!c)
        return;
    cmx_router_free(c->router);
    cmx_router_shared_free(c->shared);
    if (c->upstream)
        cmx_upstream_free(c->upstream);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    if (c->base)
        event_base_free(c->base);
    cmx_arena_free(c->arena);
    cmx_config_unref(c->cfg);
    free(c);
}
