/* config_models.c — the `models` section: each model group is the name a
 * client sends as "model" and the ordered list of targets (provider +
 * upstream model) the router may try for it.
 *
 * A group may be written in full (`name: {targets: [...]}`, which leaves room
 * for per-group settings) or short (`name: [...]`).  Targets are resolved to
 * their provider here, once, so the request path never looks a provider up
 * by name. */
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const group_keys[] = {"targets", NULL};
static const char *const target_keys[] = {"provider", "model", NULL};

static int valid_group_name(const cmx_ynode *k)
{
    if (k->len == 0 || k->len > 256)
        return 0;
    for (size_t i = 0; i < k->len; i++) {
        unsigned char c = (unsigned char)k->text[i];
        if (c <= ' ' || c == 0x7f)
            return 0;
    }
    return 1;
}

static void unknown_provider(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *path)
{
    const cmx_config *c = ctx->cfg;
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < c->n_providers; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                         c->providers[i].name ? c->providers[i].name : "?");
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    char show[64];
    if (c->n_providers)
        cmx_cfg_error(ctx, at, "%s.provider: unknown provider %s (defined providers: %s)", path,
                      cmx_cfg_show(at, show, sizeof show), list);
    else
        cmx_cfg_error(ctx, at,
                      "%s.provider: unknown provider %s (no providers are defined; add them "
                      "under 'providers')",
                      path, cmx_cfg_show(at, show, sizeof show));
}

static void load_target(cmx_cfg_ctx *ctx, cmx_target_config *t, const cmx_ynode *v,
                        const char *path, const char *group_name)
{
    if (v->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, v, "%s: expected a mapping with 'provider' and 'model', got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    cmx_cfg_check_map(ctx, v, path, target_keys);
    if (cmx_cfg_string(ctx, v, path, "provider", &t->provider_name) == 0)
        cmx_cfg_error(ctx, v, "%s: missing required key 'provider'", path);
    int has_model = cmx_cfg_string(ctx, v, path, "model", &t->model);
    if (!t->provider_name)
        return;
    t->provider = cmx_config_find_provider(ctx->cfg, t->provider_name);
    if (!t->provider) {
        unknown_provider(ctx, cmx_ytree_get(v, "provider"), path);
        return;
    }
    if (has_model == 0) {
        if (t->provider->type != CMX_PROVIDER_MOCK)
            cmx_cfg_error(ctx, v,
                          "%s: missing required key 'model' (the model name the %s "
                          "provider '%s' expects)",
                          path, t->provider->type_name ? t->provider->type_name : "",
                          t->provider_name);
        else
            t->model = cmx_cfg_strdup(ctx, group_name);
    }
}

static void load_group(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *name_node,
                       const cmx_ynode *v)
{
    char path[320], show[64];
    snprintf(path, sizeof path, "models.%s", name_node->text);
    g->name = cmx_cfg_strdup(ctx, name_node->text);
    g->line = name_node->line;
    if (!valid_group_name(name_node))
        cmx_cfg_error(ctx, name_node,
                      "invalid model group name %s (1 to 256 characters, no spaces or control "
                      "characters)",
                      cmx_cfg_show(name_node, show, sizeof show));

    const cmx_ynode *targets = v;
    if (v->kind == CMX_YNODE_MAP) {
        cmx_cfg_check_map(ctx, v, path, group_keys);
        targets = cmx_ytree_get(v, "targets");
        if (!targets) {
            cmx_cfg_error(ctx, name_node, "%s: missing required key 'targets'", path);
            return;
        }
        snprintf(path, sizeof path, "models.%s.targets", name_node->text);
    }
    if (targets->kind != CMX_YNODE_SEQ) {
        cmx_cfg_error(ctx, targets,
                      "%s: expected a list of targets ({provider: NAME, model: MODEL}), got %s",
                      path, cmx_ynode_kind_name(targets));
        return;
    }
    if (!targets->n_items) {
        cmx_cfg_error(ctx, targets, "%s: expected at least one target, got an empty list", path);
        return;
    }
    g->targets = calloc(targets->n_items, sizeof *g->targets);
    if (!g->targets) {
        ctx->oom = 1;
        return;
    }
    g->n_targets = targets->n_items;
    for (size_t i = 0; i < targets->n_items; i++) {
        char tpath[352];
        snprintf(tpath, sizeof tpath, "%s[%zu]", path, i);
        load_target(ctx, &g->targets[i], targets->items[i], tpath, name_node->text);
    }
}

void cmx_cfg_load_models(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    if (!node || (node->kind == CMX_YNODE_SCALAR && node->is_null))
        return;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "models: expected a mapping of model group name to targets, got %s",
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_names(ctx, node, "models");
    if (!node->n_pairs)
        return;
    cmx_config *c = ctx->cfg;
    c->models = calloc(node->n_pairs, sizeof *c->models);
    if (!c->models) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < node->n_pairs; i++) {
        if (!cmx_cfg_is_first_name(node, i))
            continue;
        load_group(ctx, &c->models[c->n_models++], node->pairs[i].key, node->pairs[i].value);
    }
}
