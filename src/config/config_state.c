/* config_state.c — the `state` section: where the replicas of a fleet keep
 * what they share (state/state.h).  Without it the state is in-process.
 * The URL is checked here, with the same parser the connection uses, so a
 * typo is a config error with its line, not a log line at run time. */
#include "config/config_internal.h"
#include "config/redis_url.h"
#include "config/secret.h"

#include <stdlib.h>
#include <string.h>

static const char *const state_keys[] = {"redis", "cache_max_bytes", NULL};
static const char *const redis_keys[] = {"url",         "password",   "key_prefix", "timeout",
                                         "fail_closed", "tls_verify", "ca_file",    NULL};

#define MAX_TIMEOUT_MS 10000

static void load_redis(cmx_cfg_ctx *ctx, cmx_state_config *st, const cmx_ynode *r)
{
    static const char path[] = "state.redis";
    if (r->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, r, "%s: expected a mapping with at least 'url', got %s", path,
                      cmx_ynode_kind_name(r));
        return;
    }
    cmx_cfg_check_map(ctx, r, path, redis_keys);
    const cmx_ynode *url = cmx_ytree_get(r, "url");
    if (!url) {
        cmx_cfg_error(ctx, r, "%s: missing required key 'url' (redis://HOST:PORT/DB)", path);
    } else if (cmx_cfg_string(ctx, r, path, "url", &st->redis_url) == 1) {
        cmx_redis_url u;
        char why[200];
        if (cmx_parse_redis_url(st->redis_url, &u, why, sizeof why) != 0)
            cmx_cfg_error(ctx, url, "%s.url: %s", path, why); /* never echoes a password */
        else
            cmx_redis_url_free(&u);
    }
    const cmx_ynode *pw = cmx_ytree_get(r, "password");
    if (pw)
        cmx_cfg_secret(ctx, pw, "state.redis.password", &st->redis_password);
    const cmx_ynode *prefix = cmx_ytree_get(r, "key_prefix");
    if (cmx_cfg_string(ctx, r, path, "key_prefix", &st->key_prefix) == 1 &&
        strlen(st->key_prefix) > 64)
        cmx_cfg_error(ctx, prefix, "%s.key_prefix: at most 64 characters", path);
    const cmx_ynode *t = cmx_ytree_get(r, "timeout");
    if (cmx_cfg_duration(ctx, r, path, "timeout", 0, &st->timeout_ms) == 1 &&
        st->timeout_ms > MAX_TIMEOUT_MS)
        cmx_cfg_error(ctx, t,
                      "%s.timeout: at most 10s (it bounds how long a request may wait on Redis)",
                      path);
    cmx_cfg_bool(ctx, r, path, "fail_closed", &st->fail_closed);
    cmx_cfg_bool(ctx, r, path, "tls_verify", &st->tls_verify);
    char *ca = NULL;
    if (cmx_cfg_string(ctx, r, path, "ca_file", &ca) == 1) {
        free(st->ca_file);
        st->ca_file = cmx_path_resolve(ctx->base_dir, ca);
        if (!st->ca_file)
            ctx->oom = 1;
    }
    free(ca);
}

void cmx_cfg_load_state(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_state_config *st = &ctx->cfg->state;
    if (!node || !cmx_cfg_check_map(ctx, node, "state", state_keys))
        return;
    cmx_cfg_size(ctx, node, "state", "cache_max_bytes", 0, &st->cache_max_bytes);
    const cmx_ynode *r = cmx_ytree_get(node, "redis");
    if (r && !(r->kind == CMX_YNODE_SCALAR && r->is_null))
        load_redis(ctx, st, r);
}
