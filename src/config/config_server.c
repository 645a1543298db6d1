/* config_server.c — the `server` and `upstream` sections: how the gateway
 * listens and limits its clients, and how it pools connections to providers.
 * Defaults live in cmx_cfg_set_defaults (config_load.c); this file only
 * overrides what the file sets. */
#include "config/config_internal.h"
#include "config/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const server_keys[] = {
    "listen",   "workers",    "max_body_bytes", "max_header_bytes", "max_headers", "timeouts",
    "api_keys", "admin_keys", "access_log",     "shutdown",         NULL};
static const char *const server_timeout_keys[] = {"header", "body", "keepalive", "write", NULL};
static const char *const server_shutdown_keys[] = {"drain_delay", "grace", NULL};
static const char *const upstream_keys[] = {"max_idle_per_origin",
                                            "max_conns_per_origin",
                                            "idle_expiry",
                                            "queue_timeout",
                                            "http2_ping_interval",
                                            "https_proxy",
                                            "http_proxy",
                                            "no_proxy",
                                            NULL};

#define MAX_WORKERS 1024

static void load_listen(cmx_cfg_ctx *ctx, cmx_server_config *s, const cmx_ynode *v)
{
    static const char expected[] = "an address such as 127.0.0.1:4000, [::1]:4000 or :4000";
    char show[64], host[256];
    int port;
    if (v->kind != CMX_YNODE_SCALAR || v->is_null) {
        cmx_cfg_error(ctx, v, "server.listen: expected %s, got %s", expected,
                      cmx_ynode_kind_name(v));
        return;
    }
    if (cmx_parse_listen(v->text, host, sizeof host, &port)) {
        cmx_cfg_error(ctx, v, "server.listen: expected %s, got %s", expected,
                      cmx_cfg_show(v, show, sizeof show));
        return;
    }
    char *copy = cmx_cfg_strdup(ctx, host);
    if (!copy)
        return;
    free(s->listen_host);
    s->listen_host = copy;
    s->listen_port = port;
    s->listen_configured = 1;
}

static void load_workers(cmx_cfg_ctx *ctx, cmx_server_config *s, const cmx_ynode *v)
{
    char show[64];
    uint64_t n;
    if (v->kind == CMX_YNODE_SCALAR && strcmp(v->text, "auto") == 0)
        return; /* the default already is the CPU count */
    if (v->kind == CMX_YNODE_SCALAR && !v->is_null && cmx_parse_uint(v->text, &n) == 0 && n >= 1 &&
        n <= MAX_WORKERS) {
        s->workers = (int)n;
        return;
    }
    cmx_cfg_error(ctx, v,
                  "server.workers: expected a positive integer (at most %d) or 'auto', got %s",
                  MAX_WORKERS, cmx_cfg_show(v, show, sizeof show));
}

static const char *const api_key_entry_keys[] = {"key", "residency", NULL};

/* A list of secrets (server.api_keys, server.admin_keys): each item a secret
 * reference resolved like a provider's api_key.  A client key may also be a
 * mapping {key: SECRET, residency: TAG} that ties its requests to a region;
 * `residencies` is NULL for lists that do not allow it. */
static void load_key_list(cmx_cfg_ctx *ctx, const char *key, const cmx_ynode *v, char ***keys,
                          size_t *n_keys, char ***residencies)
{
    if (v->kind == CMX_YNODE_SCALAR && v->is_null)
        return; /* `api_keys:` with nothing: the list stays empty */
    if (v->kind != CMX_YNODE_SEQ) {
        cmx_cfg_error(ctx, v,
                      "server.%s: expected a list of secret references such as "
                      "env:NAME or file:PATH, got %s",
                      key,
                      v->kind == CMX_YNODE_SCALAR ? "a single value (write it as a list item)"
                                                  : cmx_ynode_kind_name(v));
        return;
    }
    if (!v->n_items)
        return;
    *keys = calloc(v->n_items, sizeof **keys);
    if (residencies)
        *residencies = calloc(v->n_items, sizeof **residencies);
    if (!*keys || (residencies && !*residencies)) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n_items; i++) {
        char path[64];
        snprintf(path, sizeof path, "server.%s[%zu]", key, i);
        const cmx_ynode *item = v->items[i];
        char *residency = NULL;
        if (residencies && item->kind == CMX_YNODE_MAP) {
            cmx_cfg_check_map(ctx, item, path, api_key_entry_keys);
            cmx_cfg_residency(ctx, item, path, &residency);
            item = cmx_ytree_get(item, "key");
            if (!item) {
                cmx_cfg_error(ctx, v->items[i], "%s: missing required key 'key'", path);
                free(residency);
                continue;
            }
            snprintf(path, sizeof path, "server.%s[%zu].key", key, i);
        }
        char *secret = NULL;
        if (cmx_cfg_secret(ctx, item, path, &secret) == CMX_CFG_SET) {
            if (residencies)
                (*residencies)[*n_keys] = residency;
            (*keys)[(*n_keys)++] = secret;
        } else {
            free(residency);
        }
    }
}

void cmx_cfg_load_server(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_server_config *s = &ctx->cfg->server;
    if (!cmx_cfg_check_map(ctx, node, "server", server_keys))
        return;
    const cmx_ynode *v;
    if ((v = cmx_ytree_get(node, "listen")))
        load_listen(ctx, s, v);
    if ((v = cmx_ytree_get(node, "workers")))
        load_workers(ctx, s, v);
    cmx_cfg_size(ctx, node, "server", "max_body_bytes", 1, &s->max_body_bytes);
    cmx_cfg_size(ctx, node, "server", "max_header_bytes", 1, &s->max_header_bytes);
    uint64_t n;
    if (cmx_cfg_uint(ctx, node, "server", "max_headers", 1, 100000, &n) == CMX_CFG_SET)
        s->max_headers = (size_t)n;
    cmx_cfg_bool(ctx, node, "server", "access_log", &s->access_log);
    if ((v = cmx_ytree_get(node, "api_keys")))
        load_key_list(ctx, "api_keys", v, &s->api_keys, &s->n_api_keys, &s->api_key_residency);
    if ((v = cmx_ytree_get(node, "admin_keys")))
        load_key_list(ctx, "admin_keys", v, &s->admin_keys, &s->n_admin_keys, NULL);

    const cmx_ynode *t = cmx_ytree_get(node, "timeouts");
    if (cmx_cfg_check_map(ctx, t, "server.timeouts", server_timeout_keys)) {
        cmx_cfg_duration(ctx, t, "server.timeouts", "header", 0, &s->header_timeout_ms);
        cmx_cfg_duration(ctx, t, "server.timeouts", "body", 0, &s->body_timeout_ms);
        cmx_cfg_duration(ctx, t, "server.timeouts", "keepalive", 0, &s->keepalive_timeout_ms);
        cmx_cfg_duration(ctx, t, "server.timeouts", "write", 0, &s->write_timeout_ms);
    }
    const cmx_ynode *sd = cmx_ytree_get(node, "shutdown");
    if (cmx_cfg_check_map(ctx, sd, "server.shutdown", server_shutdown_keys)) {
        cmx_cfg_duration(ctx, sd, "server.shutdown", "drain_delay", 1, &s->shutdown_drain_delay_ms);
        cmx_cfg_duration(ctx, sd, "server.shutdown", "grace", 1, &s->shutdown_grace_ms);
    }
}

/* Proxy URLs may carry user:password@, so a bad one is described, not shown. */
static void load_proxy(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *key, char **out)
{
    const cmx_ynode *v = cmx_ytree_get(node, key);
    if (!v)
        return;
    if (v->kind != CMX_YNODE_SCALAR || v->is_null ||
        (v->len > 0 && cmx_check_http_url(v->text) != 0)) {
        cmx_cfg_error(ctx, v,
                      "upstream.%s: expected a proxy URL such as http://proxy.internal:3128 "
                      "(or \"\" for no proxy)%s",
                      key, v->kind == CMX_YNODE_SCALAR && !v->is_null ? "" : ", got nothing");
        return;
    }
    char *copy = cmx_cfg_strdup(ctx, v->text);
    if (copy) {
        free(*out);
        *out = copy;
    }
}

void cmx_cfg_load_upstream(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_upstream_config *u = &ctx->cfg->upstream;
    if (!cmx_cfg_check_map(ctx, node, "upstream", upstream_keys))
        return;
    uint64_t n;
    if (cmx_cfg_uint(ctx, node, "upstream", "max_idle_per_origin", 0, 1000000, &n) == CMX_CFG_SET)
        u->max_idle_per_origin = (size_t)n;
    if (cmx_cfg_uint(ctx, node, "upstream", "max_conns_per_origin", 1, 1000000, &n) == CMX_CFG_SET)
        u->max_conns_per_origin = (size_t)n;
    cmx_cfg_duration(ctx, node, "upstream", "idle_expiry", 0, &u->idle_expiry_ms);
    cmx_cfg_duration(ctx, node, "upstream", "queue_timeout", 1, &u->queue_timeout_ms);
    cmx_cfg_duration(ctx, node, "upstream", "http2_ping_interval", 1, &u->http2_ping_interval_ms);
    load_proxy(ctx, node, "https_proxy", &u->https_proxy);
    load_proxy(ctx, node, "http_proxy", &u->http_proxy);
    cmx_cfg_string(ctx, node, "upstream", "no_proxy", &u->no_proxy);
}
