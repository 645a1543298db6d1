/* config_providers.c — the `providers` section: named connections to a
 * model API, each of one type, read through the type's key table.
 *
 * Nothing here knows a provider by name.  The type picks the module's
 * schema (config_module.h); its table says which keys exist, what each
 * holds and where it goes, and this file does the rest for every provider
 * alike: unknown keys (with "did you mean"), a key that belongs to another
 * type ("only valid for mock providers", a misunderstanding worth an error
 * of its own rather than a silently unused value), typed values with
 * located messages, env:/file: secrets, defaults, required keys, and the
 * settings every provider shares (timeouts, health_check, residency, TLS).
 * The module's `finish` hook then checks what only it understands. */
#include "config/config_internal.h"
#include "config/secret.h"
#include "config/values.h"
#include "core/wipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `http2:` values, in the order of cmx_http2_mode (http/upstream.h checks). */
const char *const cmx_http2_choices[] = {"off", "auto", "on", NULL};

#define MAX_KEYS 64 /* keys of one type, for the "expected one of" list */

static const char *const timeout_keys[] = {"connect", "first_byte", "idle", "total", NULL};
static const char *const health_keys[] = {
    "interval", "timeout", "path", "unhealthy_threshold", "healthy_threshold", NULL};

/* A provider whose type is unknown still gets its shared sections checked. */
static const cmx_config_key shared_keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    CMX_KEY_HEALTH_CHECK_ENTRY,
    CMX_KEY_RESIDENCY_ENTRY,
    {NULL},
};

/* ---- the registry's types ------------------------------------------- */

static const cmx_provider_schema *schema_named(const char *type)
{
    const cmx_provider_schema *s;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)); i++)
        if (strcmp(s->type, type) == 0)
            return s;
    return NULL;
}

static const cmx_config_key *key_named(const cmx_config_key *keys, const char *name)
{
    for (const cmx_config_key *k = keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* "a, b, c or d" from a NULL-terminated list of n names. */
static void or_list(const char *const *names, size_t n, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t j = 0; j < n; j++) {
        const char *sep = j == 0 ? "" : j + 1 == n ? " or " : ", ";
        int w = snprintf(out + used, len - used, "%s%s", sep, names[j]);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

/* "openai, anthropic, bedrock, azure, vertex or mock" */
static void type_list(char *out, size_t len)
{
    const char *names[MAX_KEYS];
    size_t n = 0;
    const cmx_provider_schema *s;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)) && n < MAX_KEYS; i++)
        names[n++] = s->type;
    or_list(names, n, out, len);
}

/* "openai, anthropic or azure": the types a key belongs to, for messages. */
static void owners_of(const char *key, char *out, size_t len)
{
    const char *names[MAX_KEYS];
    size_t n = 0;
    const cmx_provider_schema *s;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)) && n < MAX_KEYS; i++)
        if (key_named(s->keys, key))
            names[n++] = s->type;
    or_list(names, n, out, len);
}

/* "type" and the keys of one table (or of every table), NULL-terminated. */
static void allowed_keys(const cmx_provider_schema *only, const char **out)
{
    size_t n = 0;
    out[n++] = "type";
    const cmx_provider_schema *s;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)); i++) {
        if (only && s != only)
            continue;
        for (const cmx_config_key *k = s->keys; k->name && n < MAX_KEYS - 1; k++) {
            size_t j = 0;
            while (j < n && strcmp(out[j], k->name) != 0)
                j++;
            if (j == n)
                out[n++] = k->name;
        }
    }
    out[n] = NULL;
}

/* ---- reading ---------------------------------------------------------- */

static int valid_provider_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* Reads `type`: the module's schema, or NULL (missing or unknown). */
static const cmx_provider_schema *read_type(cmx_cfg_ctx *ctx, const cmx_ynode *name_node,
                                            const cmx_ynode *v, const char *path)
{
    const cmx_ynode *t = cmx_ytree_get(v, "type");
    char show[64], types[256];
    type_list(types, sizeof types);
    if (!t) {
        cmx_cfg_error(ctx, name_node, "%s: missing required key 'type' (%s)", path, types);
        return NULL;
    }
    const cmx_provider_schema *s =
        t->kind == CMX_YNODE_SCALAR && !t->is_null ? schema_named(t->text) : NULL;
    if (!s)
        cmx_cfg_error(ctx, t, "%s.type: expected %s, got %s", path, types,
                      cmx_cfg_show(t, show, sizeof show));
    return s;
}

static int key_named_in(const char *const *names, const char *name)
{
    for (size_t i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static void check_keys(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path,
                       const cmx_provider_schema *schema)
{
    const char *own[MAX_KEYS], *all[MAX_KEYS];
    allowed_keys(schema, own);
    allowed_keys(NULL, all);
    cmx_cfg_check_names(ctx, v, path);
    for (size_t i = 0; i < v->n_pairs; i++) {
        const cmx_ynode *k = v->pairs[i].key;
        if (k->kind != CMX_YNODE_SCALAR || k->is_null || strcmp(k->text, "type") == 0)
            continue;
        if (!schema) { /* type unknown: any type's key is plausible */
            if (!key_named_in(all, k->text))
                cmx_cfg_unknown_key(ctx, k, path, all);
            continue;
        }
        if (key_named(schema->keys, k->text))
            continue;
        if (key_named_in(all, k->text)) {
            char owners[128];
            owners_of(k->text, owners, sizeof owners);
            cmx_cfg_error(ctx, k, "%s: key '%s' is only valid for %s providers (this one is %s)",
                          path, k->text, owners, schema->type);
        } else {
            cmx_cfg_unknown_key(ctx, k, path, own);
        }
    }
}

static void load_timeouts(cmx_cfg_ctx *ctx, cmx_timeouts_config *t, const cmx_ynode *node,
                          const char *sub)
{
    if (!cmx_cfg_check_map(ctx, node, sub, timeout_keys))
        return;
    cmx_cfg_duration(ctx, node, sub, "connect", 0, &t->connect_ms);
    cmx_cfg_duration(ctx, node, sub, "first_byte", 0, &t->first_byte_ms);
    cmx_cfg_duration(ctx, node, sub, "idle", 0, &t->idle_ms);
    cmx_cfg_duration(ctx, node, sub, "total", 0, &t->total_ms);
}

static void load_health_check(cmx_cfg_ctx *ctx, cmx_health_check_config *h, const cmx_ynode *node,
                              const char *sub)
{
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "%s: expected a mapping, got %s", sub, cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_map(ctx, node, sub, health_keys);
    h->enabled = 1;
    cmx_cfg_duration(ctx, node, sub, "interval", 0, &h->interval_ms);
    cmx_cfg_duration(ctx, node, sub, "timeout", 0, &h->timeout_ms);
    if (cmx_cfg_string(ctx, node, sub, "path", &h->path) == CMX_CFG_SET && h->path[0] != '/')
        cmx_cfg_error(ctx, cmx_ytree_get(node, "path"),
                      "%s.path: expected a path starting with '/'", sub);
    uint64_t n;
    if (cmx_cfg_uint(ctx, node, sub, "unhealthy_threshold", 1, 1000, &n) == CMX_CFG_SET)
        h->unhealthy_threshold = (uint32_t)n;
    if (cmx_cfg_uint(ctx, node, sub, "healthy_threshold", 1, 1000, &n) == CMX_CFG_SET)
        h->healthy_threshold = (uint32_t)n;
    if (!h->path)
        h->path = cmx_cfg_strdup(ctx, "/models");
}

static void *field_of(cmx_provider_config *p, const cmx_config_key *k)
{
    char *base = k->flags & CMX_KEY_SHARED ? (char *)p : (char *)p->settings;
    return base ? base + k->offset : NULL;
}

/* A key's default, parsed as a value of its type would be. */
static void apply_default(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_config_key *k)
{
    void *f = field_of(p, k);
    if (!k->def || !f)
        return;
    uint64_t u;
    switch (k->type) {
    case CMX_KEY_STRING:
    case CMX_KEY_URL: *(char **)f = cmx_cfg_strdup(ctx, k->def); break;
    case CMX_KEY_BOOL: cmx_parse_bool(k->def, (int *)f); break;
    case CMX_KEY_UINT:
        if (cmx_parse_uint(k->def, &u) == 0)
            *(uint32_t *)f = (uint32_t)u;
        break;
    case CMX_KEY_UINT64: cmx_parse_uint(k->def, (uint64_t *)f); break;
    case CMX_KEY_DOUBLE: cmx_parse_double(k->def, (double *)f); break;
    case CMX_KEY_DURATION:
        if (cmx_parse_duration_ms(k->def, &u) == 0)
            *(uint32_t *)f = (uint32_t)u;
        break;
    case CMX_KEY_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(k->choices[i], k->def) == 0)
                *(int *)f = i;
        break;
    default: break;
    }
}

static void read_enum(cmx_cfg_ctx *ctx, const cmx_config_key *k, const cmx_ynode *node,
                      const char *full, int *out)
{
    size_t n = 0;
    while (k->choices[n])
        n++;
    for (size_t i = 0; i < n; i++)
        if (node->kind == CMX_YNODE_SCALAR && !node->is_null &&
            strcmp(node->text, k->choices[i]) == 0) {
            *out = (int)i;
            return;
        }
    char list[256], show[64];
    or_list(k->choices, n, list, sizeof list);
    cmx_cfg_error(ctx, node, "%s: expected %s, got %s", full, list,
                  cmx_cfg_show(node, show, sizeof show));
}

static void read_file(cmx_cfg_ctx *ctx, const cmx_config_key *k, const cmx_ynode *v,
                      const char *path, char **out)
{
    char *name = NULL;
    if (cmx_cfg_string(ctx, v, path, k->name, &name) != CMX_CFG_SET)
        return;
    char *full = cmx_path_resolve(ctx->base_dir, name);
    free(name);
    if (!full) {
        ctx->oom = 1;
        return;
    }
    if (access(full, R_OK) != 0)
        cmx_cfg_error(ctx, cmx_ytree_get(v, k->name), "%s.%s: cannot read '%s': %s", path, k->name,
                      full, strerror(errno));
    free(*out);
    *out = full;
}

/* One key of the table, present at `node` in the provider's mapping v. */
static void read_key(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_config_key *k,
                     const cmx_ynode *v, const cmx_ynode *node, const char *path)
{
    char full[256];
    snprintf(full, sizeof full, "%s.%s", path, k->name);
    void *f = field_of(p, k);
    uint64_t u;
    int b = 0;
    switch (k->type) {
    case CMX_KEY_STRING:
        if (cmx_cfg_string(ctx, v, path, k->name, (char **)f) == CMX_CFG_SET && k->check &&
            !k->check(*(char **)f))
            cmx_cfg_error(ctx, node, "%s: expected %s, got '%.40s'", full, k->expected,
                          *(char **)f);
        break;
    case CMX_KEY_SECRET: cmx_cfg_secret(ctx, node, full, (char **)f); break;
    case CMX_KEY_BOOL:
        if (cmx_cfg_bool(ctx, v, path, k->name, &b) == CMX_CFG_SET) {
            *(int *)f = b;
            if (!b && (k->flags & CMX_KEY_WARN_FALSE))
                cmx_cfg_warning(ctx, node, "%s is false: %s", full, k->expected);
        }
        break;
    case CMX_KEY_UINT:
        if (cmx_cfg_uint(ctx, v, path, k->name, (uint64_t)k->min, (uint64_t)k->max, &u) ==
            CMX_CFG_SET)
            *(uint32_t *)f = (uint32_t)u;
        break;
    case CMX_KEY_UINT64:
        cmx_cfg_uint(ctx, v, path, k->name, (uint64_t)k->min,
                     k->max >= 1.8e19 ? UINT64_MAX : (uint64_t)k->max, (uint64_t *)f);
        break;
    case CMX_KEY_DOUBLE: cmx_cfg_double(ctx, v, path, k->name, k->min, k->max, (double *)f); break;
    case CMX_KEY_DURATION:
        cmx_cfg_duration(ctx, v, path, k->name, k->min < 1, (uint32_t *)f);
        break;
    case CMX_KEY_URL:
        cmx_cfg_url(ctx, v, path, k->name, (k->flags & CMX_KEY_NO_USERINFO) != 0, (char **)f);
        break;
    case CMX_KEY_FILE: read_file(ctx, k, v, path, (char **)f); break;
    case CMX_KEY_ENUM: read_enum(ctx, k, node, full, (int *)f); break;
    case CMX_KEY_SECTION: k->load(ctx, p, node, full); break;
    case CMX_KEY_TIMEOUTS: load_timeouts(ctx, &p->timeouts, node, full); break;
    case CMX_KEY_HEALTH_CHECK: load_health_check(ctx, &p->health, node, full); break;
    case CMX_KEY_RESIDENCY: cmx_cfg_residency(ctx, v, path, &p->residency); break;
    }
}

/* Every key of a table: the default, then the value if present. */
static void read_keys(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_config_key *keys,
                      const cmx_ynode *name_node, const cmx_ynode *v, const char *path)
{
    for (const cmx_config_key *k = keys; k->name; k++) {
        apply_default(ctx, p, k);
        const cmx_ynode *node = cmx_ytree_get(v, k->name);
        if (node)
            read_key(ctx, p, k, v, node, path);
        else if (k->flags & CMX_KEY_REQUIRED)
            cmx_cfg_error(ctx, name_node, "%s: missing required key '%s' (%s)", path, k->name,
                          k->hint ? k->hint : "see docs/config.md");
    }
}

void cmx_cfg_free_provider_settings(cmx_provider_config *p)
{
    if (!p->schema || !p->settings)
        return;
    if (p->schema->release)
        p->schema->release(p);
    for (const cmx_config_key *k = p->schema->keys; k->name; k++) {
        if (k->flags & CMX_KEY_SHARED)
            continue; /* the shared fields are config's to free */
        char **f = (char **)field_of(p, k);
        if (k->type == CMX_KEY_SECRET)
            cmx_free_secret(*f);
        else if (k->type == CMX_KEY_STRING || k->type == CMX_KEY_URL || k->type == CMX_KEY_FILE)
            free(*f);
    }
    cmx_free_wiped(p->settings, p->schema->settings_size);
    p->settings = NULL;
}

static void set_shared_defaults(cmx_provider_config *p)
{
    p->tls_verify = 1;
    p->timeouts = (cmx_timeouts_config){
        .connect_ms = 5000, .first_byte_ms = 60000, .idle_ms = 30000, .total_ms = 600000};
    p->health = (cmx_health_check_config){0, 15000, 5000, NULL, 2, 1};
}

/* A provider entry that is not a mapping is most often a mistake of
 * indentation: a provider's settings written at the level of its name.
 * Says so when the names around look like settings. */
static int indentation_mistake(cmx_cfg_ctx *ctx, const cmx_ynode *providers, size_t i,
                               const char *path)
{
    const cmx_ynode *name_node = providers->pairs[i].key;
    const cmx_ynode *v = providers->pairs[i].value;
    const char *all[MAX_KEYS];
    allowed_keys(NULL, all);
    if (key_named_in(all, name_node->text)) {
        cmx_cfg_error(ctx, name_node,
                      "%s: '%s' is a provider setting, not a provider name; check the "
                      "indentation of the provider above it (its settings must be indented "
                      "below its name)",
                      path, name_node->text);
        return 1;
    }
    const cmx_ynode *next = i + 1 < providers->n_pairs ? providers->pairs[i + 1].key : NULL;
    if (v->is_null && next && next->kind == CMX_YNODE_SCALAR && key_named_in(all, next->text)) {
        cmx_cfg_error(ctx, name_node,
                      "%s: expected a mapping with at least 'type', got nothing; check the "
                      "indentation of the lines below '%s' (its settings must be indented below "
                      "its name)",
                      path, name_node->text);
        return 1;
    }
    return 0;
}

static void load_provider(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *providers,
                          size_t index)
{
    const cmx_ynode *name_node = providers->pairs[index].key;
    const cmx_ynode *v = providers->pairs[index].value;
    char path[160], show[64];
    snprintf(path, sizeof path, "providers.%s", name_node->text);
    set_shared_defaults(p);
    p->name = cmx_cfg_strdup(ctx, name_node->text);
    p->line = name_node->line;
    if (!valid_provider_name(name_node->text))
        cmx_cfg_error(ctx, name_node,
                      "invalid provider name %s (use 1 to 64 letters, digits, '-', '_' or '.')",
                      cmx_cfg_show(name_node, show, sizeof show));
    if (v->kind != CMX_YNODE_MAP) {
        if (indentation_mistake(ctx, providers, index, path))
            return;
        /* An empty value has no useful position of its own: blame the name. */
        cmx_cfg_error(ctx, v->is_null ? name_node : v,
                      "%s: expected a mapping with at least 'type', got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    const cmx_provider_schema *schema = read_type(ctx, name_node, v, path);
    check_keys(ctx, v, path, schema);
    if (!schema) {
        read_keys(ctx, p, shared_keys, name_node, v, path);
        return;
    }
    p->schema = schema;
    p->type_name = schema->type;
    if (schema->settings_size && !(p->settings = calloc(1, schema->settings_size))) {
        ctx->oom = 1;
        return;
    }
    read_keys(ctx, p, schema->keys, name_node, v, path);
    if (schema->finish)
        schema->finish(ctx, p, name_node, v, path);
}

void cmx_cfg_load_providers(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    if (!node || (node->kind == CMX_YNODE_SCALAR && node->is_null))
        return;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "providers: expected a mapping of provider name to settings, got %s",
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_names(ctx, node, "providers");
    if (!node->n_pairs)
        return;
    cmx_config *c = ctx->cfg;
    c->providers = calloc(node->n_pairs, sizeof *c->providers);
    if (!c->providers) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < node->n_pairs; i++) {
        if (!cmx_cfg_is_first_name(node, i))
            continue; /* duplicates and odd keys were reported above */
        load_provider(ctx, &c->providers[c->n_providers++], node, i);
    }
}
