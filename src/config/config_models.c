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
#include <stdint.h>
#include <string.h>

static const char *const group_keys[] = {"targets",
                                         "strategy",
                                         "num_retries",
                                         "timeout",
                                         "retry",
                                         "breaker",
                                         "residency",
                                         "drop_unsupported_params",
                                         "cache_prompt",
                                         "fallbacks",
                                         "context_window_fallbacks",
                                         "content_policy_fallbacks",
                                         "shadow",
                                         "cascade",
                                         "cache",
                                         NULL};
static const char *const cache_keys[] = {"enabled", "ttl", "scope", NULL};
static const char *const cascade_keys[] = {"min_length", "refusal_prefixes", "max_escalations",
                                           "max_cost_usd", NULL};
static const char *const shadow_keys[] = {"provider", "model", "percent", NULL};
static const char *const fallback_keys[CMX_FALLBACK__COUNT] = {
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks"};
static const char *const target_keys[] = {
    "provider",          "model", "weight", "rpm", "tpm", "price", "structured_output", "reasoning",
    "reasoning_budgets", NULL};
static const char *const structured_output_names[] = {CMX_STRUCTURED_OUTPUT_NAMES, NULL};
static const char *const reasoning_names[] = {CMX_REASONING_NAMES, NULL};
static const char *const reasoning_level_names[] = {CMX_REASONING_LEVEL_NAMES, NULL};
static const char *const cache_prompt_names[] = {"system", "tools", "last_user", NULL};
static const char *const price_keys[] = {"input",       "output",         "cached_input",
                                         "cache_write", "cache_write_1h", NULL};

static const char *const retry_keys[] = {"base",           "cap",         "max_retry_after",
                                         "budget_percent", "min_retries", NULL};
static const char *const breaker_keys[] = {"enabled",      "consecutive_failures", "error_rate",
                                           "window",       "min_requests",         "cooldown",
                                           "max_cooldown", "half_open_probes",     NULL};
static const char *const strategy_names[] = {CMX_STRATEGY_NAMES, NULL};

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

/* `price: {input, output, cached_input, cache_write, cache_write_1h}` in USD
 * per 1M tokens.  It wins over the price list, and is how a self-hosted
 * model gets a price (often 0). */
static void load_price(cmx_cfg_ctx *ctx, cmx_target_config *t, const cmx_ynode *v, const char *path)
{
    const cmx_ynode *p = cmx_ytree_get(v, "price");
    if (!p)
        return;
    char sub[384];
    snprintf(sub, sizeof sub, "%s.price", path);
    if (p->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, p,
                      "%s: expected a mapping {input, output, cached_input, cache_write, "
                      "cache_write_1h} in USD per 1M tokens, got %s",
                      sub, cmx_ynode_kind_name(p));
        return;
    }
    cmx_cfg_check_map(ctx, p, sub, price_keys);
    cmx_target_price price = {0};
    int in = cmx_cfg_double(ctx, p, sub, "input", 0, 1e6, &price.input);
    int out = cmx_cfg_double(ctx, p, sub, "output", 0, 1e6, &price.output);
    int cached = cmx_cfg_double(ctx, p, sub, "cached_input", 0, 1e6, &price.cached_input);
    int write = cmx_cfg_double(ctx, p, sub, "cache_write", 0, 1e6, &price.cache_write);
    int write_1h = cmx_cfg_double(ctx, p, sub, "cache_write_1h", 0, 1e6, &price.cache_write_1h);
    if (in == 0)
        cmx_cfg_error(ctx, p, "%s: missing required key 'input' (USD per 1M tokens)", sub);
    if (out == 0)
        cmx_cfg_error(ctx, p, "%s: missing required key 'output' (USD per 1M tokens)", sub);
    if (in != 1 || out != 1 || cached == -1 || write == -1 || write_1h == -1)
        return;
    cmx_price_defaults(&price, cached == 1, write == 1, write_1h == 1);
    price.known = 1;
    price.from_config = 1;
    t->price = price;
}

void cmx_price_defaults(cmx_target_price *p, int has_cached, int has_write, int has_write_1h)
{
    if (!has_cached)
        p->cached_input = p->input;
    if (!has_write)
        p->cache_write = p->input;
    if (!has_write_1h)
        p->cache_write_1h = p->cache_write;
}

static void uint32_key(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                       uint64_t min, uint64_t max, uint32_t *out);

/* A scalar that must be one of `names`: its index in *out, left alone when
 * absent. */
static void choice_key(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                       const char *const *names, int *out)
{
    const cmx_ynode *v = cmx_ytree_get(map, key);
    if (!v)
        return;
    for (int i = 0; names[i]; i++)
        if (v->kind == CMX_YNODE_SCALAR && !v->is_null && strcmp(v->text, names[i]) == 0) {
            *out = i;
            return;
        }
    char show[64], list[160] = "";
    for (size_t i = 0, used = 0; names[i]; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    cmx_cfg_error(ctx, v, "%s.%s: expected one of %s, got %s", path, key, list,
                  cmx_cfg_show(v, show, sizeof show));
}

/* How response_format and reasoning_effort reach a target. */
static void load_portable(cmx_cfg_ctx *ctx, cmx_target_config *t, const cmx_ynode *v,
                          const char *path)
{
    choice_key(ctx, v, path, "structured_output", structured_output_names, &t->structured_output);
    choice_key(ctx, v, path, "reasoning", reasoning_names, &t->reasoning);
    const cmx_ynode *b = cmx_ytree_get(v, "reasoning_budgets");
    if (!b)
        return;
    char sub[384];
    snprintf(sub, sizeof sub, "%s.reasoning_budgets", path);
    if (b->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, b,
                      "%s: expected a mapping of minimal, low, medium, high to tokens, got %s", sub,
                      cmx_ynode_kind_name(b));
        return;
    }
    cmx_cfg_check_map(ctx, b, sub, reasoning_level_names);
    for (int i = 0; i < CMX_REASONING_LEVELS; i++)
        uint32_key(ctx, b, sub, reasoning_level_names[i], 1, 1000000, &t->reasoning_budgets[i]);
}

/* `cache_prompt: system | tools | last_user`, or a list of them, or off. */
static void load_cache_prompt(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *v,
                              const char *path)
{
    const cmx_ynode *c = cmx_ytree_get(v, "cache_prompt");
    if (!c || (c->kind == CMX_YNODE_SCALAR && !c->is_null &&
               (strcmp(c->text, "off") == 0 || strcmp(c->text, "false") == 0)))
        return;
    const cmx_ynode *const *items = c->kind == CMX_YNODE_SEQ ? c->items : &c;
    size_t n = c->kind == CMX_YNODE_SEQ ? c->n_items : 1;
    for (size_t i = 0; i < n; i++) {
        const cmx_ynode *item = items[i];
        unsigned bit = 0;
        for (unsigned k = 0; cache_prompt_names[k] && item->kind == CMX_YNODE_SCALAR; k++)
            if (!item->is_null && strcmp(item->text, cache_prompt_names[k]) == 0)
                bit = 1u << k;
        char show[64];
        if (!bit)
            cmx_cfg_error(ctx, item,
                          "%s.cache_prompt: expected system, tools, last_user (or a list of "
                          "them) or off, got %s",
                          path, cmx_cfg_show(item, show, sizeof show));
        g->cache_prompt |= bit;
    }
}

/* A target, or a shadow target: `allowed` says which keys it may have. */
static void load_target(cmx_cfg_ctx *ctx, cmx_target_config *t, const cmx_ynode *v,
                        const char *path, const char *group_name, const char *const *allowed)
{
    if (v->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, v, "%s: expected a mapping with 'provider' and 'model', got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    cmx_cfg_check_map(ctx, v, path, allowed);
    uint64_t weight = 1;
    cmx_cfg_uint(ctx, v, path, "weight", 1, 1000000, &weight);
    t->weight = (uint32_t)weight;
    cmx_cfg_uint(ctx, v, path, "rpm", 0, UINT32_MAX, &t->rpm);
    cmx_cfg_uint(ctx, v, path, "tpm", 0, UINT64_MAX / 2, &t->tpm);
    load_price(ctx, t, v, path);
    load_portable(ctx, t, v, path);
    if (cmx_cfg_string(ctx, v, path, "provider", &t->provider_name) == CMX_CFG_ABSENT)
        cmx_cfg_error(ctx, v, "%s: missing required key 'provider'", path);
    cmx_cfg_read has_model = cmx_cfg_string(ctx, v, path, "model", &t->model);
    if (!t->provider_name)
        return;
    t->provider = cmx_config_find_provider(ctx->cfg, t->provider_name);
    if (!t->provider) {
        unknown_provider(ctx, cmx_ytree_get(v, "provider"), path);
        return;
    }
    if (has_model == CMX_CFG_ABSENT) {
        /* A provider without a valid type was reported already. */
        if (t->provider->schema && !t->provider->schema->model_optional)
            cmx_cfg_error(ctx, v,
                          "%s: missing required key 'model' (the model name the %s "
                          "provider '%s' expects)",
                          path, t->provider->type_name, t->provider_name);
        else if (t->provider->type_name)
            t->model = cmx_cfg_strdup(ctx, group_name);
    }
}

static void uint32_key(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                       uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t v;
    if (cmx_cfg_uint(ctx, map, path, key, min, max, &v) == CMX_CFG_SET)
        *out = (uint32_t)v;
}

static void load_fallback_names(cmx_cfg_ctx *ctx, cmx_fallback_list *fl, const cmx_ynode *list,
                                const char *path, const char *key)
{
    if (!list)
        return;
    if (list->kind != CMX_YNODE_SEQ) {
        cmx_cfg_error(ctx, list, "%s.%s: expected a list of model group names, got %s", path, key,
                      cmx_ynode_kind_name(list));
        return;
    }
    fl->names = calloc(list->n_items ? list->n_items : 1, sizeof *fl->names);
    fl->groups = calloc(list->n_items ? list->n_items : 1, sizeof *fl->groups);
    if (!fl->names || !fl->groups) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < list->n_items; i++) {
        const cmx_ynode *item = list->items[i];
        if (item->kind != CMX_YNODE_SCALAR || item->is_null) {
            cmx_cfg_error(ctx, item, "%s.%s[%zu]: expected a model group name, got %s", path, key,
                          i, cmx_ynode_kind_name(item));
            continue;
        }
        fl->names[fl->n++] = cmx_cfg_strdup(ctx, item->text);
    }
}

static void load_strategy(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *v,
                          const char *path)
{
    if (cmx_cfg_string(ctx, v, path, "strategy", &g->strategy) != CMX_CFG_SET)
        return;
    int known = 0;
    for (size_t i = 0; strategy_names[i]; i++)
        known |= strcmp(g->strategy, strategy_names[i]) == 0;
    if (!known)
        cmx_cfg_error(ctx, cmx_ytree_get(v, "strategy"),
                      "%s.strategy: unknown strategy '%.64s' (expected one of: priority, "
                      "round-robin, weighted, random, least-busy, least-latency, cheapest, "
                      "cascade)",
                      path, g->strategy);
}

/* A section of a group that must be a mapping: its node, or NULL (absent,
 * or reported as not a mapping).  Writes its dotted name into sub. */
static const cmx_ynode *section(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path,
                                const char *key, const char *expected, char *sub, size_t len)
{
    const cmx_ynode *n = cmx_ytree_get(v, key);
    if (!n)
        return NULL;
    snprintf(sub, len, "%s.%s", path, key);
    if (n->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, n, "%s: expected %s, got %s", sub, expected, cmx_ynode_kind_name(n));
        return NULL;
    }
    return n;
}

/* `cascade:` the check of an answer before the cascade strategy takes it. */
static void load_cascade(cmx_cfg_ctx *ctx, cmx_cascade_config *c, const cmx_ynode *v,
                         const char *path)
{
    char sub[352];
    const cmx_ynode *cc = section(ctx, v, path, "cascade", "a mapping", sub, sizeof sub);
    if (!cc)
        return;
    cmx_cfg_check_map(ctx, cc, sub, cascade_keys);
    uint32_key(ctx, cc, sub, "min_length", 0, 1000000, &c->min_length);
    uint32_key(ctx, cc, sub, "max_escalations", 0, 64, &c->max_escalations);
    cmx_cfg_double(ctx, cc, sub, "max_cost_usd", 0, 1e6, &c->max_cost_usd);
    const cmx_ynode *rp = cmx_ytree_get(cc, "refusal_prefixes");
    if (rp && rp->kind != CMX_YNODE_SEQ) {
        cmx_cfg_error(ctx, rp, "%s.refusal_prefixes: expected a list of strings, got %s", sub,
                      cmx_ynode_kind_name(rp));
        return;
    }
    if (!rp || !rp->n_items)
        return;
    c->refusal_prefixes = calloc(rp->n_items, sizeof *c->refusal_prefixes);
    if (!c->refusal_prefixes) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < rp->n_items; i++)
        if (rp->items[i]->kind == CMX_YNODE_SCALAR && !rp->items[i]->is_null)
            c->refusal_prefixes[c->n_refusal_prefixes++] = cmx_cfg_strdup(ctx, rp->items[i]->text);
}

/* `shadow:` a standby target mirrored to. */
static void load_shadow(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *v, const char *path)
{
    char sub[352];
    const cmx_ynode *sh = section(ctx, v, path, "shadow",
                                  "a mapping with provider, model and percent", sub, sizeof sub);
    if (!sh)
        return;
    if ((g->shadow = calloc(1, sizeof *g->shadow)) == NULL) {
        ctx->oom = 1;
        return;
    }
    load_target(ctx, g->shadow, sh, sub, g->name, shadow_keys);
    g->shadow->drop_unsupported_params = g->drop_unsupported_params;
    g->shadow->cache_prompt = g->cache_prompt;
    g->shadow_percent = 100;
    cmx_cfg_double(ctx, sh, sub, "percent", 0, 100, &g->shadow_percent);
}

/* `retry:` backoff and the retry budget. */
static void load_retry(cmx_cfg_ctx *ctx, cmx_retry_settings *rs, const cmx_ynode *v,
                       const char *path)
{
    char sub[352];
    const cmx_ynode *r = section(ctx, v, path, "retry", "a mapping", sub, sizeof sub);
    if (!r)
        return;
    cmx_cfg_check_map(ctx, r, sub, retry_keys);
    cmx_cfg_duration(ctx, r, sub, "base", 0, &rs->base_ms);
    cmx_cfg_duration(ctx, r, sub, "cap", 0, &rs->cap_ms);
    cmx_cfg_duration(ctx, r, sub, "max_retry_after", 1, &rs->max_retry_after_ms);
    uint32_key(ctx, r, sub, "budget_percent", 0, 100, &rs->budget_percent);
    uint32_key(ctx, r, sub, "min_retries", 0, 1000000, &rs->min_retries);
}

/* `breaker:` a mapping of settings, or false. */
static void load_breaker(cmx_cfg_ctx *ctx, cmx_breaker_settings *bs, const cmx_ynode *v,
                         const char *path)
{
    const cmx_ynode *b = cmx_ytree_get(v, "breaker");
    if (b && b->kind == CMX_YNODE_SCALAR && !b->is_null &&
        (strcmp(b->text, "false") == 0 || strcmp(b->text, "off") == 0)) {
        bs->enabled = 0;
        return;
    }
    char sub[352];
    if (!(b = section(ctx, v, path, "breaker", "a mapping or false", sub, sizeof sub)))
        return;
    cmx_cfg_check_map(ctx, b, sub, breaker_keys);
    cmx_cfg_bool(ctx, b, sub, "enabled", &bs->enabled);
    uint32_key(ctx, b, sub, "consecutive_failures", 0, 1000000, &bs->consecutive_failures);
    uint32_key(ctx, b, sub, "error_rate", 0, 100, &bs->error_rate_percent);
    cmx_cfg_duration(ctx, b, sub, "window", 0, &bs->window_ms);
    uint32_key(ctx, b, sub, "min_requests", 1, 1000000, &bs->min_requests);
    cmx_cfg_duration(ctx, b, sub, "cooldown", 0, &bs->cooldown_ms);
    cmx_cfg_duration(ctx, b, sub, "max_cooldown", 0, &bs->max_cooldown_ms);
    uint32_key(ctx, b, sub, "half_open_probes", 1, 1000, &bs->half_open_probes);
}

/* `cache: {ttl: 10m, scope: key | global}`, or false. */
static void load_cache(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *c, const char *path)
{
    char sub[352], show[64];
    snprintf(sub, sizeof sub, "%s.cache", path);
    cmx_cache_settings *cs = &g->cache;
    if (c->kind == CMX_YNODE_SCALAR && !c->is_null &&
        (strcmp(c->text, "false") == 0 || strcmp(c->text, "off") == 0))
        return;
    if (c->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, c, "%s: expected a mapping such as {ttl: 10m, scope: key}, got %s", sub,
                      cmx_ynode_kind_name(c));
        return;
    }
    cmx_cfg_check_map(ctx, c, sub, cache_keys);
    cs->enabled = 1;
    cmx_cfg_bool(ctx, c, sub, "enabled", &cs->enabled);
    cmx_cfg_duration(ctx, c, sub, "ttl", 0, &cs->ttl_ms);
    const cmx_ynode *scope = cmx_ytree_get(c, "scope");
    if (scope) {
        if (scope->kind == CMX_YNODE_SCALAR && strcmp(scope->text, "global") == 0)
            cs->scope_global = 1;
        else if (!(scope->kind == CMX_YNODE_SCALAR && strcmp(scope->text, "key") == 0))
            cmx_cfg_error(ctx, scope, "%s.scope: expected key or global, got %s", sub,
                          cmx_cfg_show(scope, show, sizeof show));
    }
}

/* Routing settings of a group written in full form. */
static void load_routing(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *v, const char *path)
{
    load_strategy(ctx, g, v, path);
    uint32_key(ctx, v, path, "num_retries", 0, 10, &g->num_retries);
    cmx_cfg_duration(ctx, v, path, "timeout", 0, &g->timeout_ms);
    cmx_cfg_residency(ctx, v, path, &g->residency);
    cmx_cfg_bool(ctx, v, path, "drop_unsupported_params", &g->drop_unsupported_params);
    load_cache_prompt(ctx, g, v, path);
    for (int k = 0; k < CMX_FALLBACK__COUNT; k++)
        load_fallback_names(ctx, &g->fallbacks[k], cmx_ytree_get(v, fallback_keys[k]), path,
                            fallback_keys[k]);
    load_cascade(ctx, &g->cascade, v, path);
    load_shadow(ctx, g, v, path);
    load_retry(ctx, &g->retry, v, path);
    const cmx_ynode *cache = cmx_ytree_get(v, "cache");
    if (cache)
        load_cache(ctx, g, cache, path);
    load_breaker(ctx, &g->breaker, v, path);
}

static void set_group_defaults(cmx_cfg_ctx *ctx, cmx_model_group *g)
{
    g->strategy = cmx_cfg_strdup(ctx, "priority");
    g->num_retries = 0;
    g->timeout_ms = 600000;
    g->retry = (cmx_retry_settings){100, 5000, 30000, 20, 10};
    g->breaker = (cmx_breaker_settings){1, 5, 50, 30000, 20, 30000, 300000, 1};
    g->cascade.min_length = 1;
    g->cascade.max_escalations = 2;
    g->cache.ttl_ms = 600000;
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

    set_group_defaults(ctx, g);
    const cmx_ynode *targets = v;
    if (v->kind == CMX_YNODE_MAP) {
        cmx_cfg_check_map(ctx, v, path, group_keys);
        load_routing(ctx, g, v, path);
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
    if (targets->n_items > 64) {
        cmx_cfg_error(ctx, targets, "%s: at most 64 targets per group, got %zu", path,
                      targets->n_items);
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
        load_target(ctx, &g->targets[i], targets->items[i], tpath, name_node->text, target_keys);
        /* Copied onto the target: providers get the target with every call, so
         * the group's choice reaches them without a change to cmx_call. */
        g->targets[i].drop_unsupported_params = g->drop_unsupported_params;
        g->targets[i].cache_prompt = g->cache_prompt;
    }
}

/* Fallback names → groups, each reported where it was written. */
static void resolve_fallbacks(cmx_cfg_ctx *ctx, cmx_model_group *g, const cmx_ynode *group_node)
{
    for (int k = 0; k < CMX_FALLBACK__COUNT; k++) {
        cmx_fallback_list *fl = &g->fallbacks[k];
        const cmx_ynode *list =
            group_node->kind == CMX_YNODE_MAP ? cmx_ytree_get(group_node, fallback_keys[k]) : NULL;
        for (size_t i = 0; i < fl->n; i++) {
            const cmx_ynode *at = list && i < list->n_items ? list->items[i] : group_node;
            const cmx_model_group *to =
                cmx_config_find_model(ctx->cfg, fl->names[i], strlen(fl->names[i]));
            if (!to)
                cmx_cfg_error(ctx, at, "models.%s.%s: unknown model group '%.64s'", g->name,
                              fallback_keys[k], fl->names[i]);
            else if (to == g)
                cmx_cfg_error(ctx, at, "models.%s.%s: a group cannot fall back to itself", g->name,
                              fallback_keys[k]);
            fl->groups[i] = to;
        }
    }
}

/* Depth-first search over every fallback edge; a group met again on the
 * current path closes a loop.  state: 0 new, 1 on the path, 2 done. */
static int find_loop(const cmx_config *c, size_t i, unsigned char *state, size_t *path,
                     size_t depth, size_t *loop_len)
{
    state[i] = 1;
    path[depth] = i;
    const cmx_model_group *g = &c->models[i];
    for (int k = 0; k < CMX_FALLBACK__COUNT; k++) {
        for (size_t f = 0; f < g->fallbacks[k].n; f++) {
            const cmx_model_group *to = g->fallbacks[k].groups[f];
            if (!to || to == g)
                continue;
            size_t j = (size_t)(to - c->models);
            if (state[j] == 1) {
                size_t start = 0;
                while (path[start] != j)
                    start++;
                memmove(path, path + start, (depth + 1 - start) * sizeof *path);
                *loop_len = depth + 1 - start;
                return 1;
            }
            if (state[j] == 0 && find_loop(c, j, state, path, depth + 1, loop_len))
                return 1;
        }
    }
    state[i] = 2;
    return 0;
}

static void check_fallback_loops(cmx_cfg_ctx *ctx, const cmx_ynode *models_node)
{
    const cmx_config *c = ctx->cfg;
    unsigned char *state = calloc(c->n_models ? c->n_models : 1, 1);
    size_t *path = calloc(c->n_models ? c->n_models : 1, sizeof *path);
    if (!state || !path) {
        ctx->oom = 1;
        free(state);
        free(path);
        return;
    }
    size_t loop_len = 0;
    for (size_t i = 0; i < c->n_models && !loop_len; i++)
        if (state[i] == 0)
            find_loop(c, i, state, path, 0, &loop_len);
    if (loop_len) {
        char chain[512] = "";
        size_t used = 0;
        for (size_t i = 0; i <= loop_len; i++) {
            const char *name = c->models[path[i % loop_len]].name;
            int w = snprintf(chain + used, sizeof chain - used, "%s%s", i ? " -> " : "", name);
            if (w > 0 && (size_t)w < sizeof chain - used)
                used += (size_t)w;
        }
        const cmx_ynode *at = cmx_ytree_get(models_node, c->models[path[0]].name);
        cmx_cfg_error(ctx, at ? at : models_node, "models: fallbacks form a loop: %s", chain);
    }
    free(state);
    free(path);
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
    for (size_t i = 0, g = 0; i < node->n_pairs; i++)
        if (cmx_cfg_is_first_name(node, i))
            resolve_fallbacks(ctx, &c->models[g++], node->pairs[i].value);
    check_fallback_loops(ctx, node);
}
