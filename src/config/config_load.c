/* config_load.c — the entry points: read the file, build the YAML tree,
 * apply defaults, load each section, and hand back either a complete
 * snapshot or every error found.
 *
 * The snapshot is filled in place while the sections are read, even when
 * errors have been found, so one run reports everything; if anything was
 * wrong it is destroyed before returning, through the same free routine a
 * good snapshot uses, so error paths cannot leak. */
#include "config/config_internal.h"
#include "config/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config is a few kilobytes; this only stops someone pointing at a log. */
#define CONFIG_FILE_MAX (16 * 1024 * 1024)

static const char *const top_keys[] = {"server",  "upstream", "providers",  "models",
                                       "pricing", "state",    "governance", "keys",
                                       "teams",   "audit",    NULL};
static const char *const pricing_keys[] = {"file", NULL};

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

void cmx_cfg_set_defaults(cmx_cfg_ctx *ctx, cmx_config *c)
{
    cmx_server_config *s = &c->server;
    s->listen_host = cmx_cfg_strdup(ctx, "127.0.0.1");
    s->listen_port = 4000;
    s->workers = cpu_count();
    s->max_body_bytes = 4 * 1024 * 1024;
    s->max_header_bytes = 16 * 1024;
    s->max_headers = 100;
    s->header_timeout_ms = 10000;
    s->body_timeout_ms = 30000;
    s->keepalive_timeout_ms = 75000;
    s->write_timeout_ms = 60000;
    s->access_log = 1;
    s->shutdown_drain_delay_ms = 5000;
    s->shutdown_grace_ms = 30000;
    cmx_upstream_config *u = &c->upstream;
    u->max_idle_per_origin = 32;
    u->max_conns_per_origin = 256;
    u->idle_expiry_ms = 60000;
    u->queue_timeout_ms = 2000;
    u->http2_ping_interval_ms = 30000;
    cmx_state_config *st = &c->state;
    st->key_prefix = cmx_cfg_strdup(ctx, "cmx:");
    st->timeout_ms = 5;
    st->tls_verify = 1;
    st->cache_max_bytes = 64 * 1024 * 1024;
    cmx_cfg_governance_defaults(c);
}

/* `pricing: {file: PATH}`.  Only the name is kept here: the list itself is
 * read by governance/pricing.c after load, and a missing one is a warning
 * there, so `cloudmux check` does not fail over a price list. */
static void load_pricing(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    if (!node || (node->kind == CMX_YNODE_SCALAR && node->is_null))
        return;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "pricing: expected a mapping with the key 'file', got %s",
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_map(ctx, node, "pricing", pricing_keys);
    char *name = NULL;
    if (cmx_cfg_string(ctx, node, "pricing", "file", &name) != CMX_CFG_SET)
        return;
    if (!name[0]) {
        cmx_cfg_error(ctx, cmx_ytree_get(node, "file"), "pricing.file: expected a file name");
        free(name);
        return;
    }
    ctx->cfg->pricing.file = cmx_path_resolve(ctx->base_dir, name);
    if (!ctx->cfg->pricing.file)
        ctx->oom = 1;
    free(name);
}

/* Directory of a path, for resolving relative references ("." if none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void load_sections(cmx_cfg_ctx *ctx, const cmx_ynode *root)
{
    if (!root) {
        cmx_cfg_error_at(ctx, 0, 0,
                         "the configuration is empty (expected a mapping with the keys server, "
                         "upstream, providers, models, pricing)");
        return;
    }
    if (root->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, root,
                      "expected a mapping with the keys server, upstream, providers, models, "
                      "pricing at the top level, got %s",
                      cmx_ynode_kind_name(root));
        return;
    }
    cmx_cfg_check_map(ctx, root, "", top_keys);
    cmx_cfg_load_server(ctx, cmx_ytree_get(root, "server"));
    cmx_cfg_load_upstream(ctx, cmx_ytree_get(root, "upstream"));
    /* Providers first: targets in models are resolved against them. */
    cmx_cfg_load_providers(ctx, cmx_ytree_get(root, "providers"));
    cmx_cfg_load_models(ctx, cmx_ytree_get(root, "models"));
    load_pricing(ctx, cmx_ytree_get(root, "pricing"));
    cmx_cfg_load_state(ctx, cmx_ytree_get(root, "state"));
    /* governance first: its warn_at is the default of every budget. */
    cmx_cfg_load_governance(ctx, cmx_ytree_get(root, "governance"));
    cmx_cfg_load_teams(ctx, cmx_ytree_get(root, "teams"));
    cmx_cfg_load_keys(ctx, cmx_ytree_get(root, "keys"));
    cmx_cfg_load_audit(ctx, cmx_ytree_get(root, "audit"));
    cmx_cfg_check_governance(ctx);
    if (ctx->cfg->n_models == 0 && ctx->errors.n == 0)
        cmx_cfg_warning(ctx, root,
                        "no model groups are defined under 'models'; every request will be "
                        "answered with 404");
}

static cmx_config *load(const char *yaml, size_t len, const char *name, cmx_config_diag *diag)
{
    cmx_config_diag scratch;
    if (!diag)
        diag = &scratch;
    memset(diag, 0, sizeof *diag);
    if (!name)
        name = "<config>";

    cmx_cfg_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.file = name;
    char *base_dir = dir_of(name);
    ctx.base_dir = base_dir;

    cmx_ytree tree;
    cmx_ytree_error yerr;
    cmx_config *c = NULL;
    if (!base_dir) {
        ctx.oom = 1;
    } else if (cmx_ytree_parse(yaml, len, &tree, &yerr) != 0) {
        cmx_cfg_error_at(&ctx, yerr.line, yerr.col, "%s", yerr.message);
    } else {
        c = calloc(1, sizeof *c);
        if (c) {
            atomic_init(&c->refs, 1);
            ctx.cfg = c;
            c->path = cmx_cfg_strdup(&ctx, name);
            cmx_cfg_set_defaults(&ctx, c);
            load_sections(&ctx, tree.root);
        } else {
            ctx.oom = 1;
        }
        cmx_ytree_free(&tree);
    }
    if (c && !ctx.oom && ctx.errors.n == 0 && cmx_cfg_build_index(c) != 0)
        ctx.oom = 1;
    if (ctx.oom)
        cmx_cfg_error_at(&ctx, 0, 0, "out of memory while loading the configuration");
    if (ctx.errors.n > 0 && c) {
        cmx_cfg_destroy(c);
        c = NULL;
    }
    cmx_cfg_flush(&ctx, diag);
    free(base_dir);
    if (diag == &scratch)
        cmx_config_diag_free(&scratch);
    return c;
}

cmx_config *cmx_config_load_string(const char *yaml, size_t len, const char *name,
                                   cmx_config_diag *diag)
{
    return load(yaml, len, name, diag);
}

/* The one error for a file that cannot be read at all. */
static cmx_config *file_error(const char *path, cmx_config_diag *diag, const char *what,
                              const char *detail)
{
    cmx_cfg_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.file = path;
    cmx_cfg_error_at(&ctx, 0, 0, "%s the configuration file: %s", what, detail);
    if (diag) {
        memset(diag, 0, sizeof *diag);
        cmx_cfg_flush(&ctx, diag);
    } else {
        cmx_cfg_msgs_free(&ctx.errors);
    }
    return NULL;
}

/* Reads the whole stream (a file, or a pipe such as /dev/stdin) growing the
 * buffer as needed.  Returns the bytes or NULL with *why set. */
static char *read_all(FILE *f, size_t *len, const char **why)
{
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - n, f);
        if (ferror(f)) {
            *why = strerror(errno);
            break;
        }
        if (n < cap) {
            *len = n;
            return text;
        }
        if (cap > CONFIG_FILE_MAX) {
            *why = "larger than 16 MiB";
            break;
        }
        char *grown = realloc(text, cap * 2);
        if (!grown)
            break;
        text = grown;
        cap *= 2;
    }
    if (!text || !*why)
        *why = "out of memory";
    free(text);
    return NULL;
}

cmx_config *cmx_config_load(const char *path, cmx_config_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return file_error(path, diag, "cannot open", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return file_error(path, diag, "cannot read", "it is a directory");
    }
    size_t len = 0;
    const char *why = NULL;
    char *text = read_all(f, &len, &why);
    fclose(f);
    if (!text)
        return file_error(path, diag, "cannot read", why);
    cmx_config *c = load(text, len, path, diag);
    free(text);
    return c;
}
