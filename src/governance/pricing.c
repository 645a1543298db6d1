/* pricing.c — the price list: parse it, find a model's price in it, and
 * turn a request's token counts into dollars.
 *
 * The list is YAML read through the config module's position-keeping tree
 * (config/yaml_tree.h) rather than straight from libyaml events: a list is
 * edited by hand whenever a provider changes a price, and "pricing.yaml:41:7:
 * 'output' must be a number" is worth more than a faster parser for a file
 * read once per config load.  The first mistake stops the parse; a list is
 * short enough that one fix-and-retry round per mistake is fine. */
#include "governance/pricing.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"
#include "config/yaml_tree.h"
#include "core/str.h"
#include "config/config_module.h"

#define PRICING_FILE_MAX (4 * 1024 * 1024)

static const char *const entry_keys[] = {"provider",     "model",       "input",          "output",
                                         "cached_input", "cache_write", "cache_write_1h", "as_of",
                                         "source",       NULL};
/* The provider types a price list may name: every registered provider
 * that calls a real service (their model names differ per cloud, so each
 * gets its own entries).  "openai, anthropic, ... or vertex" into out. */
static int priced_type(const char *type, char *list, size_t len)
{
    const cmx_provider_schema *s;
    size_t used = 0, n = 0;
    int found = 0;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)); i++)
        n += !s->unpriced;
    list[0] = '\0';
    for (size_t i = 0, k = 0; (s = cmx_provider_schema_at(i)); i++) {
        if (s->unpriced)
            continue;
        found |= strcmp(s->type, type) == 0;
        int w = snprintf(list + used, len - used, "%s%s",
                         k == 0       ? ""
                         : k + 1 == n ? " or "
                                      : ", ",
                         s->type);
        if (w > 0 && (size_t)w < len - used)
            used += (size_t)w;
        k++;
    }
    return found;
}

typedef struct parse_ctx {
    const char *name;
    cmx_error *err;
} parse_ctx;

static int fail_at(parse_ctx *pc, const cmx_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(parse_ctx *pc, const cmx_ynode *at, const char *fmt, ...)
{
    char body[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (at)
        cmx_error_set(pc->err, CMX_ERR_CONFIG, "%s:%d:%d: %s", pc->name, at->line, at->col, body);
    else
        cmx_error_set(pc->err, CMX_ERR_CONFIG, "%s: %s", pc->name, body);
    return -1;
}

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int get_string(parse_ctx *pc, const cmx_ynode *map, const char *key, int required,
                      char **out)
{
    const cmx_ynode *v = cmx_ytree_get(map, key);
    if (!v) {
        if (required)
            return fail_at(pc, map, "missing required key '%s'", key);
        return 0;
    }
    if (v->kind != CMX_YNODE_SCALAR || v->is_null || !v->len)
        return fail_at(pc, v, "'%s' must be a non-empty string", key);
    *out = strdup(v->text);
    if (!*out)
        return fail_at(pc, NULL, "out of memory");
    return 1;
}

static int get_price(parse_ctx *pc, const cmx_ynode *map, const char *key, int required,
                     double *out)
{
    const cmx_ynode *v = cmx_ytree_get(map, key);
    if (!v) {
        if (required)
            return fail_at(pc, map, "missing required key '%s' (USD per 1M tokens)", key);
        return 0;
    }
    double d;
    if (v->kind != CMX_YNODE_SCALAR || v->is_null || cmx_parse_double(v->text, &d) != 0 || d < 0 ||
        d > 1e6)
        return fail_at(pc, v, "'%s' must be a number of USD per 1M tokens, from 0 to 1000000", key);
    *out = d;
    return 1;
}

/* YYYY-MM-DD, loosely: a date a person can check against the source. */
static int is_date(const char *s)
{
    static const char shape[] = "dddd-dd-dd";
    if (strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
            return 0;
    return 1;
}

static int parse_entry(parse_ctx *pc, const cmx_ynode *v, cmx_price_entry *e)
{
    if (v->kind != CMX_YNODE_MAP)
        return fail_at(pc, v,
                       "expected a price entry {provider, model, input, output, cached_input, "
                       "cache_write, cache_write_1h, as_of, source}, got %s",
                       cmx_ynode_kind_name(v));
    for (size_t i = 0; i < v->n_pairs; i++) {
        const cmx_ynode *k = v->pairs[i].key;
        if (k->kind != CMX_YNODE_SCALAR || !in_list(k->text, entry_keys))
            return fail_at(pc, k,
                           "unknown key %s%s%s (expected provider, model, input, output, "
                           "cached_input, cache_write, cache_write_1h, as_of, source)",
                           k->kind == CMX_YNODE_SCALAR ? "'" : "",
                           k->kind == CMX_YNODE_SCALAR ? k->text : cmx_ynode_kind_name(k),
                           k->kind == CMX_YNODE_SCALAR ? "'" : "");
        for (size_t j = 0; j < i; j++)
            if (v->pairs[j].key->kind == CMX_YNODE_SCALAR &&
                strcmp(v->pairs[j].key->text, k->text) == 0)
                return fail_at(pc, k, "duplicate key '%s'", k->text);
    }
    e->line = v->line;
    if (get_string(pc, v, "provider", 1, &e->provider) < 0 ||
        get_string(pc, v, "model", 1, &e->model) < 0 ||
        get_string(pc, v, "as_of", 1, &e->as_of) < 0 ||
        get_string(pc, v, "source", 1, &e->source) < 0)
        return -1;
    char types[256];
    if (!priced_type(e->provider, types, sizeof types))
        return fail_at(pc, cmx_ytree_get(v, "provider"),
                       "unknown provider type '%.64s' (expected %s)", e->provider, types);
    if (!is_date(e->as_of))
        return fail_at(pc, cmx_ytree_get(v, "as_of"), "'as_of' must be a date YYYY-MM-DD");
    /* Embedding models have no output tokens; output then defaults to 0. */
    cmx_target_price *price = &e->price;
    if (get_price(pc, v, "input", 1, &price->input) < 0 ||
        get_price(pc, v, "output", 0, &price->output) < 0)
        return -1;
    /* each checked as it is read: the first bad one is the one named */
    int cached, write, write_1h;
    if ((cached = get_price(pc, v, "cached_input", 0, &price->cached_input)) < 0 ||
        (write = get_price(pc, v, "cache_write", 0, &price->cache_write)) < 0 ||
        (write_1h = get_price(pc, v, "cache_write_1h", 0, &price->cache_write_1h)) < 0)
        return -1;
    cmx_price_defaults(price, cached, write, write_1h);
    price->known = 1;
    return 0;
}

static void free_entry(cmx_price_entry *e)
{
    free(e->provider);
    free(e->model);
    free(e->as_of);
    free(e->source);
}

void cmx_pricing_free(cmx_pricing *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_entries; i++)
        free_entry(&p->entries[i]);
    free(p->entries);
    free(p->path);
    free(p);
}

static int parse_tree(parse_ctx *pc, const cmx_ynode *root, cmx_pricing *p)
{
    if (!root || root->kind != CMX_YNODE_SEQ)
        return fail_at(pc, root,
                       "expected a list of price entries (- {provider: openai, model: gpt-4o, "
                       "input: 2.5, output: 10, as_of: 2025-01-01, source: ...}), got %s",
                       root ? cmx_ynode_kind_name(root) : "an empty document");
    p->entries = calloc(root->n_items ? root->n_items : 1, sizeof *p->entries);
    if (!p->entries)
        return fail_at(pc, NULL, "out of memory");
    for (size_t i = 0; i < root->n_items; i++) {
        cmx_price_entry *e = &p->entries[p->n_entries++];
        if (parse_entry(pc, root->items[i], e) != 0)
            return -1;
        for (size_t j = 0; j + 1 < p->n_entries; j++)
            if (strcmp(p->entries[j].provider, e->provider) == 0 &&
                strcmp(p->entries[j].model, e->model) == 0)
                return fail_at(pc, root->items[i],
                               "duplicate price for %s model '%.64s' (first at line %d)",
                               e->provider, e->model, p->entries[j].line);
    }
    return 0;
}

cmx_err cmx_pricing_parse(const char *yaml, size_t len, const char *name, cmx_pricing **out,
                          cmx_error *err)
{
    *out = NULL;
    parse_ctx pc = {name ? name : "<pricing>", err};
    cmx_ytree tree;
    cmx_ytree_error yerr;
    if (cmx_ytree_parse(yaml, len, &tree, &yerr) != 0) {
        if (yerr.line > 0)
            cmx_error_set(err, CMX_ERR_CONFIG, "%s:%d:%d: %s", pc.name, yerr.line, yerr.col,
                          yerr.message);
        else
            cmx_error_set(err, CMX_ERR_CONFIG, "%s: %s", pc.name, yerr.message);
        return CMX_ERR_CONFIG;
    }
    cmx_pricing *p = calloc(1, sizeof *p);
    int rc = p ? parse_tree(&pc, tree.root, p) : fail_at(&pc, NULL, "out of memory");
    cmx_ytree_free(&tree);
    if (rc == 0) {
        p->path = strdup(pc.name);
        if (!p->path)
            rc = fail_at(&pc, NULL, "out of memory");
    }
    if (rc != 0) {
        cmx_pricing_free(p);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    *out = p;
    return CMX_OK;
}

cmx_err cmx_pricing_load(const char *path, cmx_pricing **out, cmx_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return cmx_error_set(err, CMX_ERR_IO, "%s: cannot open the price list: %s", path,
                             strerror(errno));
    }
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - n, f);
        if (n < cap || cap >= PRICING_FILE_MAX)
            break;
        char *grown = realloc(text, cap * 2);
        if (!grown) {
            free(text);
            text = NULL;
            break;
        }
        text = grown;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!text || failed || n == cap) {
        cmx_error_set(err, CMX_ERR_IO, "%s: cannot read the price list: %s", path,
                      !text    ? "out of memory"
                      : failed ? "read error"
                               : "larger than 4 MiB");
        free(text);
        return CMX_ERR_IO;
    }
    cmx_err rc = cmx_pricing_parse(text, n, path, out, err);
    free(text);
    return rc;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Length of s[0..n) without a trailing date: -YYYY-MM-DD, -YYYYMMDD, @YYYYMMDD. */
static size_t strip_date(const char *s, size_t n)
{
    if (n > 11 && s[n - 11] == '-' && s[n - 6] == '-' && s[n - 3] == '-' &&
        all_digits(s + n - 10, 4) && all_digits(s + n - 5, 2) && all_digits(s + n - 2, 2))
        return n - 11;
    if (n > 9 && (s[n - 9] == '-' || s[n - 9] == '@') && all_digits(s + n - 8, 8))
        return n - 9;
    return n;
}

size_t cmx_pricing_model_base(const char *model)
{
    size_t n = strlen(model);
    if (n > CMX_LIT_LEN("-latest") && CMX_ENDS_WITH(model, n, "-latest"))
        return n - CMX_LIT_LEN("-latest");
    /* Bedrock: anthropic.claude-sonnet-4-20250514-v1:0 */
    size_t v = n;
    while (v > 0 && ((model[v - 1] >= '0' && model[v - 1] <= '9') || model[v - 1] == ':'))
        v--;
    if (v < n && v > 2 && model[v - 1] == 'v' && model[v - 2] == '-' && model[v] != ':' &&
        model[n - 1] != ':') {
        size_t before = v - 2;
        return strip_date(model, before);
    }
    return strip_date(model, n);
}

static const cmx_price_entry *find(const cmx_pricing *p, const char *type, const char *model,
                                   size_t len)
{
    for (size_t i = 0; i < p->n_entries; i++) {
        const cmx_price_entry *e = &p->entries[i];
        if (strcmp(e->provider, type) == 0 && strlen(e->model) == len &&
            memcmp(e->model, model, len) == 0)
            return e;
    }
    return NULL;
}

const cmx_price_entry *cmx_pricing_lookup(const cmx_pricing *p, const char *provider_type,
                                          const char *model)
{
    if (!p || !provider_type || !model)
        return NULL;
    size_t len = strlen(model);
    const cmx_price_entry *e = find(p, provider_type, model, len);
    if (e)
        return e;
    size_t base = cmx_pricing_model_base(model);
    return base < len && base > 0 ? find(p, provider_type, model, base) : NULL;
}

size_t cmx_pricing_apply(const cmx_pricing *p, cmx_config *c)
{
    size_t priced = 0;
    for (size_t g = 0; g < c->n_models; g++) {
        cmx_model_group *group = &c->models[g];
        for (size_t i = 0; i < group->n_targets; i++) {
            cmx_target_config *t = &group->targets[i];
            if (!t->price.from_config) {
                const cmx_price_entry *e =
                    t->provider ? cmx_pricing_lookup(p, t->provider->type_name,
                                                     t->model ? t->model : group->name)
                                : NULL;
                t->price = e ? e->price : (cmx_target_price){0};
            }
            priced += t->price.known != 0;
        }
    }
    return priced;
}

double cmx_price_cost(const cmx_target_price *price, const cmx_usage *u)
{
    if (!price || !price->known || !u || (u->prompt_tokens < 0 && u->completion_tokens < 0))
        return -1;
    double prompt = u->prompt_tokens > 0 ? (double)u->prompt_tokens : 0;
    double completion = u->completion_tokens > 0 ? (double)u->completion_tokens : 0;
    double cached = u->cached_tokens > 0 ? (double)u->cached_tokens : 0;
    double written = u->cache_write_tokens > 0 ? (double)u->cache_write_tokens : 0;
    double hour = u->cache_write_1h_tokens > 0 ? (double)u->cache_write_1h_tokens : 0;
    /* counts past what was sent are not billed twice: reads and writes are
     * parts of the prompt, one-hour writes a part of the writes */
    if (cached > prompt)
        cached = prompt;
    if (written > prompt - cached)
        written = prompt - cached;
    if (hour > written)
        hour = written;
    return ((prompt - cached - written) * price->input + cached * price->cached_input +
            (written - hour) * price->cache_write + hour * price->cache_write_1h +
            completion * price->output) /
           1e6;
}

double cmx_price_estimate(const cmx_target_price *price, uint64_t prompt_tokens)
{
    if (!price || !price->known)
        return -1;
    return (double)prompt_tokens * (price->input + price->output) / 1e6;
}

size_t cmx_cost_format(double usd, char *buf, size_t len)
{
    if (!(usd >= 0) || usd > 1e9 || len < 2)
        return 0;
    /* In units of 1e-10 USD, as an integer: exact digits, no printf. */
    unsigned long long units = (unsigned long long)llround(usd * 1e10);
    unsigned long long whole = units / 10000000000ULL, frac = units % 10000000000ULL;
    char tmp[40];
    size_t n = 0;
    char digits[24];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    while (nd)
        tmp[n++] = digits[--nd];
    if (frac) {
        tmp[n++] = '.';
        char f[10];
        for (int i = 9; i >= 0; i--) {
            f[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        int last = 9;
        while (f[last] == '0')
            last--;
        for (int i = 0; i <= last; i++)
            tmp[n++] = f[i];
    }
    if (n + 1 > len)
        return 0;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}
