/* config_read.c — typed reads from the YAML tree with located messages.
 *
 * Each reader states what it expected and what it got ("server.workers:
 * expected a positive integer or 'auto', got 'lots'") because that sentence
 * is usually the whole fix.  Unknown keys get the list of allowed ones and,
 * for a near miss, a suggestion: a typo must never be silently ignored. */
#include "config/config_internal.h"
#include "config/secret.h"
#include "config/values.h"
#include "core/residency_tag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_LEN 64

static void full_name(char *buf, size_t len, const char *path, const char *key)
{
    if (path && *path)
        snprintf(buf, len, "%s.%s", path, key);
    else
        snprintf(buf, len, "%s", key);
}

/* Levenshtein distance, capped: only small distances matter for suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

void cmx_cfg_unknown_key(cmx_cfg_ctx *ctx, const cmx_ynode *key_node, const char *path,
                         const char *const *allowed)
{
    char list[512] = "", hint[128] = "", show[SHOW_LEN];
    size_t used = 0, best = 3;
    for (size_t i = 0; allowed[i]; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
        size_t d = edit_distance(key_node->text, allowed[i]);
        if (d < best) {
            best = d;
            snprintf(hint, sizeof hint, "; did you mean '%s'?", allowed[i]);
        }
    }
    if (path && *path)
        cmx_cfg_error(ctx, key_node, "unknown key %s in %s (expected one of: %s)%s",
                      cmx_cfg_show(key_node, show, sizeof show), path, list, hint);
    else
        cmx_cfg_error(ctx, key_node, "unknown key %s at the top level (expected one of: %s)%s",
                      cmx_cfg_show(key_node, show, sizeof show), list, hint);
}

static int key_is_scalar(cmx_cfg_ctx *ctx, const cmx_ynode *key, const char *path)
{
    if (key->kind == CMX_YNODE_SCALAR && !key->is_null)
        return 1;
    cmx_cfg_error(ctx, key, "%s%skeys must be plain names, got %s", path ? path : "",
                  path && *path ? ": " : "", cmx_ynode_kind_name(key));
    return 0;
}

int cmx_cfg_is_first_name(const cmx_ynode *map, size_t i)
{
    const cmx_ynode *k = map->pairs[i].key;
    if (k->kind != CMX_YNODE_SCALAR || k->is_null)
        return 0;
    for (size_t j = 0; j < i; j++) {
        const cmx_ynode *o = map->pairs[j].key;
        if (o->kind == CMX_YNODE_SCALAR && o->len == k->len &&
            memcmp(o->text, k->text, k->len) == 0)
            return 0;
    }
    return 1;
}

static const cmx_ynode *first_with_name(const cmx_ynode *map, size_t i)
{
    const cmx_ynode *k = map->pairs[i].key;
    for (size_t j = 0; j < i; j++) {
        const cmx_ynode *o = map->pairs[j].key;
        if (o->kind == CMX_YNODE_SCALAR && o->len == k->len &&
            memcmp(o->text, k->text, k->len) == 0)
            return o;
    }
    return NULL;
}

int cmx_cfg_check_names(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path)
{
    int ok = 1;
    char show[SHOW_LEN];
    for (size_t i = 0; i < map->n_pairs; i++) {
        const cmx_ynode *k = map->pairs[i].key;
        if (!key_is_scalar(ctx, k, path)) {
            ok = 0;
            continue;
        }
        const cmx_ynode *first = first_with_name(map, i);
        if (first) {
            ok = 0;
            cmx_cfg_error(ctx, k, "duplicate key %s in %s (first defined at line %d)",
                          cmx_cfg_show(k, show, sizeof show),
                          path && *path ? path : "the top level", first->line);
        }
    }
    return ok;
}

int cmx_cfg_check_map(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path,
                      const char *const *allowed)
{
    if (!node)
        return 0;
    if (node->kind == CMX_YNODE_SCALAR && node->is_null)
        return 1;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "%s: expected a mapping, got %s", path, cmx_ynode_kind_name(node));
        return 0;
    }
    cmx_cfg_check_names(ctx, node, path);
    for (size_t i = 0; i < node->n_pairs; i++) {
        const cmx_ynode *k = node->pairs[i].key;
        if (k->kind != CMX_YNODE_SCALAR || k->is_null)
            continue; /* reported by cmx_cfg_check_names */
        size_t a = 0;
        while (allowed[a] && strcmp(allowed[a], k->text) != 0)
            a++;
        if (!allowed[a])
            cmx_cfg_unknown_key(ctx, k, path, allowed);
    }
    return 1;
}

/* The value node for `key`, or NULL.  Reports (and hides) a null or
 * non-scalar value when a scalar is needed. */
static const cmx_ynode *scalar_value(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                                     const char *key, const char *expected, cmx_cfg_read *rc)
{
    const cmx_ynode *v = cmx_ytree_get(map, key);
    *rc = CMX_CFG_ABSENT;
    if (!v)
        return NULL;
    if (v->kind != CMX_YNODE_SCALAR || v->is_null) {
        char name[256];
        full_name(name, sizeof name, path, key);
        cmx_cfg_error(ctx, v, "%s: expected %s, got %s", name, expected, cmx_ynode_kind_name(v));
        *rc = CMX_CFG_INVALID;
        return NULL;
    }
    return v;
}

static cmx_cfg_read bad_value(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path,
                              const char *key, const char *expected)
{
    char name[256], show[SHOW_LEN];
    full_name(name, sizeof name, path, key);
    cmx_cfg_error(ctx, v, "%s: expected %s, got %s", name, expected,
                  cmx_cfg_show(v, show, sizeof show));
    return CMX_CFG_INVALID;
}

cmx_cfg_read cmx_cfg_uint(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          uint64_t min, uint64_t max, uint64_t *out)
{
    char expected[96];
    if (max == UINT64_MAX)
        snprintf(expected, sizeof expected, "%s",
                 min == 0 ? "a non-negative integer" : "a positive integer");
    else
        snprintf(expected, sizeof expected, "an integer from %" PRIu64 " to %" PRIu64, min, max);
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, expected, &rc);
    if (!v)
        return rc;
    uint64_t n;
    if (cmx_parse_uint(v->text, &n) || n < min || n > max)
        return bad_value(ctx, v, path, key, expected);
    *out = n;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_size(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          uint64_t min, size_t *out)
{
    static const char expected[] = "a size in bytes such as 4MiB, 512KiB, 10MB or 65536";
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, expected, &rc);
    if (!v)
        return rc;
    uint64_t n;
    if (cmx_parse_size(v->text, &n) || n > SIZE_MAX)
        return bad_value(ctx, v, path, key, expected);
    if (n < min) {
        char name[256];
        full_name(name, sizeof name, path, key);
        cmx_cfg_error(ctx, v, "%s: expected a size of at least %" PRIu64 " byte%s, got %" PRIu64,
                      name, min, min == 1 ? "" : "s", n);
        return CMX_CFG_INVALID;
    }
    *out = (size_t)n;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_duration(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                              const char *key, int allow_zero, uint32_t *out)
{
    static const char expected[] =
        "a duration such as 500ms, 10s, 2m or 1h (or a number of milliseconds)";
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, expected, &rc);
    if (!v)
        return rc;
    uint64_t ms;
    if (cmx_parse_duration_ms(v->text, &ms))
        return bad_value(ctx, v, path, key, expected);
    char name[256], show[SHOW_LEN];
    full_name(name, sizeof name, path, key);
    if (ms > UINT32_MAX) {
        cmx_cfg_error(ctx, v, "%s: duration %s is too long (at most 49 days)", name,
                      cmx_cfg_show(v, show, sizeof show));
        return CMX_CFG_INVALID;
    }
    if (ms == 0 && !allow_zero) {
        cmx_cfg_error(ctx, v, "%s: expected a duration greater than zero, got %s", name,
                      cmx_cfg_show(v, show, sizeof show));
        return CMX_CFG_INVALID;
    }
    *out = (uint32_t)ms;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_bool(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          int *out)
{
    static const char expected[] = "true or false";
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, expected, &rc);
    if (!v)
        return rc;
    if (cmx_parse_bool(v->text, out))
        return bad_value(ctx, v, path, key, expected);
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_double(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                            const char *key, double min, double max, double *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "a number from %g to %g", min, max);
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, expected, &rc);
    if (!v)
        return rc;
    double d;
    if (cmx_parse_double(v->text, &d) || d < min || d > max)
        return bad_value(ctx, v, path, key, expected);
    *out = d;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_string(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                            const char *key, char **out)
{
    cmx_cfg_read rc;
    const cmx_ynode *v = scalar_value(ctx, map, path, key, "a string", &rc);
    if (!v)
        return rc;
    char *copy = cmx_cfg_strdup(ctx, v->text);
    if (!copy)
        return CMX_CFG_INVALID;
    free(*out);
    *out = copy;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_secret(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path, char **out)
{
    static const char expected[] = "a secret reference such as env:NAME or file:PATH";
    if (node->kind != CMX_YNODE_SCALAR || node->is_null) {
        cmx_cfg_error(ctx, node, "%s: expected %s, got %s", path, expected,
                      cmx_ynode_kind_name(node));
        return CMX_CFG_INVALID;
    }
    if (node->len == 0) {
        cmx_cfg_error(ctx, node, "%s: expected %s, got an empty string", path, expected);
        return CMX_CFG_INVALID;
    }
    char why[512];
    char *value = NULL;
    switch (cmx_secret_resolve(node->text, ctx->base_dir, &value, why, sizeof why)) {
    case CMX_SECRET_INLINE:
        cmx_cfg_warning(ctx, node, "secret written inline in %s; use env:NAME or file:PATH", path);
        break;
    case CMX_SECRET_RESOLVED: break;
    case CMX_SECRET_FAILED:
        cmx_cfg_error(ctx, node, "%s (referenced by %s)", why, path);
        return CMX_CFG_INVALID;
    }
    free(*out);
    *out = value;
    return CMX_CFG_SET;
}

cmx_cfg_read cmx_cfg_residency(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, char **out)
{
    cmx_cfg_read rc = cmx_cfg_string(ctx, map, path, "residency", out);
    if (rc == CMX_CFG_SET && !cmx_residency_tag_valid(*out, strlen(*out))) {
        cmx_cfg_error(ctx, cmx_ytree_get(map, "residency"),
                      "%s.residency: expected " CMX_RESIDENCY_TAG_SYNTAX
                      " (such as eu, us, eu-west), got '%.40s'",
                      path, *out);
        return CMX_CFG_INVALID;
    }
    return rc;
}

cmx_cfg_read cmx_cfg_url(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                         int no_userinfo, char **out)
{
    const cmx_ynode *u = cmx_ytree_get(map, key);
    if (!u)
        return CMX_CFG_ABSENT;
    int has_userinfo = u->kind == CMX_YNODE_SCALAR && !u->is_null && strchr(u->text, '@');
    if (u->kind != CMX_YNODE_SCALAR || u->is_null || cmx_check_http_url(u->text) != 0 ||
        (no_userinfo && has_userinfo)) {
        /* A URL with user:password@ is described, not shown. */
        char name[256], show[SHOW_LEN];
        full_name(name, sizeof name, path, key);
        cmx_cfg_error(ctx, u, "%s: expected an http:// or https:// URL with a host, got %s", name,
                      has_userinfo ? "an invalid URL" : cmx_cfg_show(u, show, sizeof show));
        return CMX_CFG_INVALID;
    }
    char *copy = cmx_cfg_strdup(ctx, u->text);
    if (!copy)
        return CMX_CFG_INVALID;
    /* Stored without trailing slashes so callers can append "/chat/completions". */
    size_t n = strlen(copy);
    while (n > 0 && copy[n - 1] == '/')
        copy[--n] = '\0';
    free(*out);
    *out = copy;
    return CMX_CFG_SET;
}

int cmx_cfg_require_together(cmx_cfg_ctx *ctx, const cmx_ynode *map, const cmx_ynode *at,
                             const char *path, const char *const *keys, const char *missing,
                             const char *why)
{
    int n = 0;
    for (; *keys; keys++)
        if (!cmx_ytree_get(map, *keys)) {
            cmx_cfg_error(ctx, at, "%s: %s '%s' (%s)", path, missing, *keys, why);
            n++;
        }
    return n;
}
