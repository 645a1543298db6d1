/* config_governance.c — the `governance`, `keys`, `teams` and `audit`
 * sections: where keys, budgets and the ledger live, the virtual keys and
 * teams defined in the file (for GitOps), and the audit log.
 *
 * Keys and teams are mappings keyed by their id.  A key's secret is a secret
 * reference (`key: env:FRONTEND_KEY`), resolved here and never shown in a
 * message; two keys may not share a secret.  What a key may do (groups,
 * limits, budget) is only read here: governance/ turns it into the key
 * table the request path uses. */
#include "config/config_internal.h"
#include "core/residency_tag.h"
#include "config/secret.h"
#include "config/values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_STORE "sqlite:///var/lib/cloudmux/cloudmux.db"
#define MIN_SECRET_LEN 32
#define MAX_ID_LEN 64
#define DAY_MS 86400000ULL

static const char *const governance_keys[] = {"store",       "pepper", "warn_at", "poll",
                                              "budget_sync", "ledger", "replica", NULL};
static const char *const ledger_keys[] = {"batch_rows", "batch_interval", "queue_rows",
                                          "retention",  "on_failure",     NULL};
static const char *const budget_keys[] = {"usd", "period", "start", "warn_at", NULL};
static const char *const team_keys[] = {"name",   "models",   "rpm",  "tpm", "max_parallel",
                                        "budget", "disabled", "tags", NULL};
static const char *const key_keys[] = {"key",      "name",         "team",   "models",  "rpm",
                                       "tpm",      "max_parallel", "budget", "expires", "residency",
                                       "disabled", "tags",         NULL};
static const char *const audit_keys[] = {
    "file",     "hmac_key",    "fsync", "checkpoint_interval", "checkpoint_file",
    "requests", "rotate_size", NULL};

void cmx_cfg_governance_defaults(cmx_config *c)
{
    c->governance.warn_at = 0.8;
    c->governance.poll_ms = 250;
    c->governance.budget_sync_ms = 1000;
    c->governance.batch_rows = 2000;
    c->governance.batch_interval_ms = 100;
    c->governance.queue_rows = 16384;
    c->governance.retention_ms = 90 * DAY_MS;
    c->audit.checkpoint_interval_ms = 60000;
}

/* Ids name keys and teams in the ledger, reports and URLs. */
int cmx_cfg_valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

/* "90d", "36h", "0" (forever): a duration that may run to years. */
static void load_retention(cmx_cfg_ctx *ctx, const cmx_ynode *map)
{
    const cmx_ynode *v = cmx_ytree_get(map, "retention");
    if (!v)
        return;
    char show[64];
    uint64_t ms = 0, days;
    const char *t = v->kind == CMX_YNODE_SCALAR && !v->is_null ? v->text : NULL;
    size_t n = t ? strlen(t) : 0;
    int ok = 0;
    if (t && n > 1 && t[n - 1] == 'd') {
        char digits[24];
        if (n - 1 < sizeof digits) {
            memcpy(digits, t, n - 1);
            digits[n - 1] = '\0';
            ok = cmx_parse_uint(digits, &days) == 0 && days <= 100000;
            ms = days * DAY_MS;
        }
    } else if (t) {
        ok = cmx_parse_duration_ms(t, &ms) == 0;
    }
    if (!ok) {
        cmx_cfg_error(ctx, v,
                      "governance.ledger.retention: expected a duration such as 90d or 720h (0 "
                      "keeps raw rows forever), got %s",
                      cmx_cfg_show(v, show, sizeof show));
        return;
    }
    ctx->cfg->governance.retention_ms = ms;
}

static void load_ledger(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_governance_config *g = &ctx->cfg->governance;
    if (!cmx_cfg_check_map(ctx, node, "governance.ledger", ledger_keys))
        return;
    uint64_t n;
    if (cmx_cfg_uint(ctx, node, "governance.ledger", "batch_rows", 1, 10000, &n) == 1)
        g->batch_rows = (uint32_t)n;
    if (cmx_cfg_uint(ctx, node, "governance.ledger", "queue_rows", 16, 1000000, &n) == 1)
        g->queue_rows = (uint32_t)n;
    cmx_cfg_duration(ctx, node, "governance.ledger", "batch_interval", 0, &g->batch_interval_ms);
    load_retention(ctx, node);
    const cmx_ynode *v = cmx_ytree_get(node, "on_failure");
    if (v) {
        if (v->kind == CMX_YNODE_SCALAR && !v->is_null &&
            (strcmp(v->text, "open") == 0 || strcmp(v->text, "closed") == 0)) {
            g->fail_closed = strcmp(v->text, "closed") == 0;
        } else {
            char show[64];
            cmx_cfg_error(ctx, v,
                          "governance.ledger.on_failure: expected open (keep serving and count "
                          "the lost rows) or closed (refuse requests while the ledger cannot "
                          "write), got %s",
                          cmx_cfg_show(v, show, sizeof show));
        }
    }
}

/* A PostgreSQL URL may hold a password, so the store may be a secret
 * reference; written inline it is accepted, with a warning only when it
 * carries a password.  Messages never repeat it. */
static char *store_url(cmx_cfg_ctx *ctx, const cmx_ynode *v)
{
    if (v->kind != CMX_YNODE_SCALAR || v->is_null || v->len == 0) {
        cmx_cfg_error(ctx, v, "governance.store: expected sqlite:///PATH or postgres://...");
        return NULL;
    }
    char why[512];
    char *url = NULL;
    switch (cmx_secret_resolve(v->text, ctx->base_dir, &url, why, sizeof why)) {
    case CMX_SECRET_FAILED:
        cmx_cfg_error(ctx, v, "%s (referenced by governance.store)", why);
        return NULL;
    case CMX_SECRET_INLINE: {
        const char *at = strchr(url, '@'), *scheme = strstr(url, "://");
        const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
        if (at && colon && colon < at)
            cmx_cfg_warning(ctx, v,
                            "governance.store holds a password written inline; use env:NAME or "
                            "file:PATH");
        break;
    }
    case CMX_SECRET_RESOLVED: break;
    }
    return url;
}

static void load_store(cmx_cfg_ctx *ctx, const cmx_ynode *v)
{
    char *url = store_url(ctx, v);
    if (!url)
        return;
    int sqlite = strncmp(url, "sqlite://", 9) == 0 && url[9];
    int pg = strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
    if (!sqlite && !pg) {
        cmx_cfg_error(ctx, v,
                      "governance.store: expected sqlite:///PATH (a file) or "
                      "postgres://USER@HOST:PORT/DATABASE");
        free(url);
        return;
    }
    if (sqlite && url[9] != '/') {
        /* sqlite://relative/path: relative to the config file, like file: */
        char *abs = cmx_path_resolve(ctx->base_dir, url + 9);
        char *full = abs ? malloc(strlen(abs) + 10) : NULL;
        if (!full) {
            ctx->oom = 1;
            free(abs);
            free(url);
            return;
        }
        sprintf(full, "sqlite://%s", abs);
        free(abs);
        free(url);
        url = full;
    }
    free(ctx->cfg->governance.store);
    ctx->cfg->governance.store = url;
}

void cmx_cfg_load_governance(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_governance_config *g = &ctx->cfg->governance;
    if (!node)
        return;
    g->enabled = 1;
    if (!cmx_cfg_check_map(ctx, node, "governance", governance_keys))
        return;
    const cmx_ynode *v;
    if ((v = cmx_ytree_get(node, "store")))
        load_store(ctx, v);
    if ((v = cmx_ytree_get(node, "pepper")))
        cmx_cfg_secret(ctx, v, "governance.pepper", &g->pepper);
    cmx_cfg_double(ctx, node, "governance", "warn_at", 0, 1, &g->warn_at);
    cmx_cfg_duration(ctx, node, "governance", "poll", 1, &g->poll_ms);
    cmx_cfg_duration(ctx, node, "governance", "budget_sync", 0, &g->budget_sync_ms);
    if (cmx_cfg_string(ctx, node, "governance", "replica", &g->replica) == 1 &&
        !cmx_cfg_valid_id(g->replica))
        cmx_cfg_error(ctx, cmx_ytree_get(node, "replica"),
                      "governance.replica: expected 1 to 64 letters, digits, '-', '_' or '.'");
    if ((v = cmx_ytree_get(node, "ledger")))
        load_ledger(ctx, v);
}

/* ---- keys and teams -------------------------------------------------------- */

static void load_budget(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path,
                        cmx_budget_config *b)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s.budget", path);
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "%s: expected a mapping such as {usd: 100, period: monthly}, got %s", sub,
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_map(ctx, node, sub, budget_keys);
    b->set = 1;
    snprintf(b->period, sizeof b->period, "monthly");
    b->start_ms = 4 * (int64_t)DAY_MS;
    b->warn_at = ctx->cfg->governance.warn_at;
    if (cmx_cfg_double(ctx, node, sub, "usd", 0, 1e12, &b->usd) == 0)
        cmx_cfg_error(ctx, node, "%s: missing required key 'usd' (the cap in US dollars)", sub);
    cmx_cfg_double(ctx, node, sub, "warn_at", 0, 1, &b->warn_at);
    char *text = NULL;
    if (cmx_cfg_string(ctx, node, sub, "period", &text) == 1) {
        cmx_period_kind kind;
        uint32_t days;
        if (cmx_parse_budget_period(text, &kind, &days) == 0)
            snprintf(b->period, sizeof b->period, "%s", text);
        else
            cmx_cfg_error(ctx, cmx_ytree_get(node, "period"),
                          "%s.period: expected 1d, 7d, 30d (any number of days), monthly or "
                          "total, got '%.20s'",
                          sub, text);
    }
    free(text);
    text = NULL;
    if (cmx_cfg_string(ctx, node, sub, "start", &text) == 1) {
        int64_t ms;
        if (cmx_parse_time_ms(text, &ms) == 0 && ms % 3600000 == 0)
            b->start_ms = ms;
        else
            cmx_cfg_error(ctx, cmx_ytree_get(node, "start"),
                          "%s.start: expected a UTC time on the hour such as 2026-01-01 or "
                          "2026-01-01T08:00:00Z, got '%.40s'",
                          sub, text);
    }
    free(text);
}

static void load_string_list(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path, char ***out,
                             size_t *n)
{
    if (v->kind != CMX_YNODE_SEQ) {
        cmx_cfg_error(ctx, v, "%s: expected a list of model group names or globs, got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    if (!v->n_items)
        return;
    *out = calloc(v->n_items, sizeof **out);
    if (!*out) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n_items; i++) {
        const cmx_ynode *it = v->items[i];
        if (it->kind != CMX_YNODE_SCALAR || it->is_null || it->len == 0) {
            cmx_cfg_error(ctx, it, "%s[%zu]: expected a model group name or glob", path, i);
            continue;
        }
        (*out)[(*n)++] = cmx_cfg_strdup(ctx, it->text);
    }
}

static void load_tags(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path,
                      cmx_principal_config *p)
{
    if (v->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, v, "%s: expected a mapping of tag names to strings, got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    cmx_cfg_check_names(ctx, v, path);
    if (!v->n_pairs)
        return;
    p->tag_names = calloc(v->n_pairs, sizeof *p->tag_names);
    p->tag_values = calloc(v->n_pairs, sizeof *p->tag_values);
    if (!p->tag_names || !p->tag_values) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n_pairs; i++) {
        const cmx_ynode *k = v->pairs[i].key, *val = v->pairs[i].value;
        if (k->kind != CMX_YNODE_SCALAR || !cmx_cfg_is_first_name(v, i))
            continue;
        if (val->kind != CMX_YNODE_SCALAR || val->is_null) {
            cmx_cfg_error(ctx, val, "%s.%s: expected a string", path, k->text);
            continue;
        }
        p->tag_names[p->n_tags] = cmx_cfg_strdup(ctx, k->text);
        p->tag_values[p->n_tags++] = cmx_cfg_strdup(ctx, val->text);
    }
}

/* What keys and teams share. */
static void load_principal(cmx_cfg_ctx *ctx, const cmx_ynode *k, const cmx_ynode *v,
                           const char *path, cmx_principal_config *p)
{
    p->id = cmx_cfg_strdup(ctx, k->text);
    p->line = k->line;
    if (!cmx_cfg_valid_id(k->text))
        cmx_cfg_error(ctx, k, "%s: an id must be 1 to 64 letters, digits, '-', '_' or '.'", path);
    cmx_cfg_string(ctx, v, path, "name", &p->name);
    if (!p->name)
        p->name = cmx_cfg_strdup(ctx, k->text);
    uint64_t n;
    cmx_cfg_uint(ctx, v, path, "rpm", 0, UINT64_MAX, &p->rpm);
    cmx_cfg_uint(ctx, v, path, "tpm", 0, UINT64_MAX, &p->tpm);
    if (cmx_cfg_uint(ctx, v, path, "max_parallel", 0, 1000000, &n) == 1)
        p->max_parallel = (uint32_t)n;
    cmx_cfg_bool(ctx, v, path, "disabled", &p->disabled);
    const cmx_ynode *x;
    char sub[160];
    if ((x = cmx_ytree_get(v, "models"))) {
        snprintf(sub, sizeof sub, "%s.models", path);
        load_string_list(ctx, x, sub, &p->models, &p->n_models);
    }
    if ((x = cmx_ytree_get(v, "budget")))
        load_budget(ctx, x, path, &p->budget);
    if ((x = cmx_ytree_get(v, "tags"))) {
        snprintf(sub, sizeof sub, "%s.tags", path);
        load_tags(ctx, x, sub, p);
    }
}

/* keys: and teams: alike: a mapping of ids, each entry a mapping of
 * `allowed` keys, handed to load() with its path ("keys.ID"). */
typedef void (*entry_loader)(cmx_cfg_ctx *ctx, const cmx_ynode *k, const cmx_ynode *v,
                             const char *path);

static void load_section(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *section,
                         const char *what, const char *const *allowed, void **array,
                         size_t elem_size, entry_loader load)
{
    if (!node || (node->kind == CMX_YNODE_SCALAR && node->is_null))
        return;
    ctx->cfg->governance.enabled = 1;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "%s: expected a mapping of %s, got %s", section, what,
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_names(ctx, node, section);
    *array = calloc(node->n_pairs ? node->n_pairs : 1, elem_size);
    if (!*array) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < node->n_pairs; i++) {
        const cmx_ynode *k = node->pairs[i].key, *v = node->pairs[i].value;
        if (k->kind != CMX_YNODE_SCALAR || !cmx_cfg_is_first_name(node, i))
            continue;
        char path[96];
        snprintf(path, sizeof path, "%s.%.64s", section, k->text);
        if (cmx_cfg_check_map(ctx, v, path, allowed) && v->kind == CMX_YNODE_MAP)
            load(ctx, k, v, path);
    }
}

static void load_team(cmx_cfg_ctx *ctx, const cmx_ynode *k, const cmx_ynode *v, const char *path)
{
    load_principal(ctx, k, v, path, &ctx->cfg->teams[ctx->cfg->n_teams++]);
}

void cmx_cfg_load_teams(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    load_section(ctx, node, "teams", "team ids to teams", team_keys, (void **)&ctx->cfg->teams,
                 sizeof *ctx->cfg->teams, load_team);
}

static void load_key(cmx_cfg_ctx *ctx, const cmx_ynode *k, const cmx_ynode *v, const char *path,
                     cmx_vkey_config *key)
{
    load_principal(ctx, k, v, path, &key->p);
    const cmx_ynode *x = cmx_ytree_get(v, "key");
    char sub[160];
    snprintf(sub, sizeof sub, "%s.key", path);
    if (!x)
        cmx_cfg_error(ctx, v,
                      "%s: missing required key 'key' (the secret, as env:NAME or "
                      "file:PATH)",
                      path);
    else if (cmx_cfg_secret(ctx, x, sub, &key->secret) == 1 && strlen(key->secret) < MIN_SECRET_LEN)
        cmx_cfg_error(ctx, x,
                      "%s: the secret is %zu characters; a key must have at least %d (make one "
                      "with: openssl rand -base64 32)",
                      sub, strlen(key->secret), MIN_SECRET_LEN);
    if (cmx_cfg_string(ctx, v, path, "team", &key->team) == 1 && !cmx_cfg_valid_id(key->team))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "team"), "%s.team: expected a team id", path);
    if (cmx_cfg_string(ctx, v, path, "residency", &key->residency) == 1 &&
        !cmx_residency_tag_valid(key->residency, strlen(key->residency)))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "residency"),
                      "%s.residency: expected a region tag of 1 to 32 lower-case letters, "
                      "digits or '-'",
                      path);
    char *when = NULL;
    if (cmx_cfg_string(ctx, v, path, "expires", &when) == 1 &&
        cmx_parse_time_ms(when, &key->expires_ms) != 0)
        cmx_cfg_error(ctx, cmx_ytree_get(v, "expires"),
                      "%s.expires: expected a UTC time such as 2026-12-31 or "
                      "2026-12-31T23:59:59Z, got '%.40s'",
                      path, when);
    free(when);
}

/* A key, and no two keys with one secret. */
static void load_one_key(cmx_cfg_ctx *ctx, const cmx_ynode *k, const cmx_ynode *v, const char *path)
{
    cmx_config *c = ctx->cfg;
    cmx_vkey_config *key = &c->keys[c->n_keys++];
    load_key(ctx, k, v, path, key);
    for (size_t j = 0; key->secret && j + 1 < c->n_keys; j++)
        if (c->keys[j].secret && strcmp(c->keys[j].secret, key->secret) == 0)
            cmx_cfg_error(ctx, k, "%s: uses the same secret as keys.%s; every key needs its own",
                          path, c->keys[j].p.id);
}

void cmx_cfg_load_keys(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    load_section(ctx, node, "keys", "key ids to keys", key_keys, (void **)&ctx->cfg->keys,
                 sizeof *ctx->cfg->keys, load_one_key);
}

/* Keys may name teams of the store too, which only the gateway can see; a
 * plain group name that matches no group is most likely a typo. */
void cmx_cfg_check_governance(cmx_cfg_ctx *ctx)
{
    cmx_config *c = ctx->cfg;
    if (c->governance.enabled && !c->governance.store) {
        c->governance.store = cmx_cfg_strdup(ctx, DEFAULT_STORE);
    }
    for (size_t i = 0; i < c->n_keys + c->n_teams; i++) {
        const cmx_principal_config *p = i < c->n_keys ? &c->keys[i].p : &c->teams[i - c->n_keys];
        for (size_t m = 0; m < p->n_models; m++) {
            const char *name = p->models[m];
            if (!name || strpbrk(name, "*?"))
                continue;
            if (!cmx_config_find_model(c, name, strlen(name)))
                cmx_cfg_error_at(ctx, p->line, 1, "%s.%s.models: no model group is named '%.64s'",
                                 i < c->n_keys ? "keys" : "teams", p->id, name);
        }
    }
}

/* ---- audit ------------------------------------------------------------------ */

void cmx_cfg_load_audit(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    cmx_audit_config *a = &ctx->cfg->audit;
    if (!node || !cmx_cfg_check_map(ctx, node, "audit", audit_keys))
        return;
    char *name = NULL;
    if (cmx_cfg_string(ctx, node, "audit", "file", &name) == 1) {
        a->file = name[0] ? cmx_path_resolve(ctx->base_dir, name) : NULL;
        if (!name[0])
            cmx_cfg_error(ctx, cmx_ytree_get(node, "file"), "audit.file: expected a file name");
        else if (!a->file)
            ctx->oom = 1;
    } else if (node->kind == CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "audit: missing required key 'file' (where the log is written)");
    }
    free(name);
    name = NULL;
    if (cmx_cfg_string(ctx, node, "audit", "checkpoint_file", &name) == 1) {
        a->checkpoint_file = cmx_path_resolve(ctx->base_dir, name);
        if (!a->checkpoint_file)
            ctx->oom = 1;
    }
    free(name);
    const cmx_ynode *v;
    if ((v = cmx_ytree_get(node, "hmac_key")))
        cmx_cfg_secret(ctx, v, "audit.hmac_key", &a->hmac_key);
    cmx_cfg_duration(ctx, node, "audit", "checkpoint_interval", 1, &a->checkpoint_interval_ms);
    cmx_cfg_bool(ctx, node, "audit", "requests", &a->requests);
    cmx_cfg_size(ctx, node, "audit", "rotate_size", 4096, &a->rotate_bytes);
    if ((v = cmx_ytree_get(node, "fsync"))) {
        if (v->kind == CMX_YNODE_SCALAR && !v->is_null &&
            (strcmp(v->text, "always") == 0 || strcmp(v->text, "never") == 0)) {
            a->fsync =
                strcmp(v->text, "never") == 0 ? CMX_AUDIT_FSYNC_NEVER : CMX_AUDIT_FSYNC_ALWAYS;
        } else {
            char show[64];
            cmx_cfg_error(ctx, v, "audit.fsync: expected always or never, got %s",
                          cmx_cfg_show(v, show, sizeof show));
        }
    }
    if (a->file && !a->checkpoint_file) {
        a->checkpoint_file = malloc(strlen(a->file) + 6);
        if (a->checkpoint_file)
            sprintf(a->checkpoint_file, "%s.head", a->file);
        else
            ctx->oom = 1;
    }
}

/* ---- freeing ------------------------------------------------------------------ */

static void free_principal(cmx_principal_config *p)
{
    free(p->id);
    free(p->name);
    for (size_t i = 0; i < p->n_models; i++)
        free(p->models[i]);
    free(p->models);
    for (size_t i = 0; i < p->n_tags; i++) {
        free(p->tag_names[i]);
        free(p->tag_values[i]);
    }
    free(p->tag_names);
    free(p->tag_values);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void cmx_cfg_free_governance(cmx_config *c)
{
    free_secret(c->governance.store);
    free_secret(c->governance.pepper);
    free(c->governance.replica);
    for (size_t i = 0; i < c->n_keys; i++) {
        free_principal(&c->keys[i].p);
        free_secret(c->keys[i].secret);
        free(c->keys[i].team);
        free(c->keys[i].residency);
    }
    free(c->keys);
    for (size_t i = 0; i < c->n_teams; i++)
        free_principal(&c->teams[i]);
    free(c->teams);
    free(c->audit.file);
    free_secret(c->audit.hmac_key);
    free(c->audit.checkpoint_file);
}
