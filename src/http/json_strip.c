/* json_strip.c — a JSON object without some of its members: at the top
 * level, for the response cache's key (the request minus the fields that do
 * not change the answer: stream, stream_options, user), and at any depth,
 * for an OpenAI-compatible upstream that refuses the gateway's own request
 * vocabulary (cache_control, thinking_blocks).  The kept members are copied
 * byte for byte, joined by single commas.
 *
 * For the top level the body has been validated before (json_scan.c), so
 * the members are found by a plain scan that only skips strings and nested
 * brackets — no tokens, several times cheaper than a parse.  A key written
 * with escapes, or anything the scan does not expect, goes to the full parse
 * instead, which compares keys unescaped and gives the same result.  The
 * deep strip is rare (only bodies that mention those keys) and parses. */
#include <string.h>

#include "core/str.h"
#include "http/json_doc.h"
#include "http/json_scan.h"

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at an opening quote: the byte after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* p at a value: the byte after it, or NULL. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

static int is_named(const char *key, size_t len, const char *const *names, size_t n_names)
{
    for (size_t i = 0; i < n_names; i++)
        if (strlen(names[i]) == len && memcmp(key, names[i], len) == 0)
            return 1;
    return 0;
}

/* The scan; -1 when it meets what it does not expect (n is then garbage). */
static int strip_by_scan(const char *body, size_t len, const char *const *names, size_t n_names,
                         char *out, size_t *out_len)
{
    const char *p = skip_space(body, body + len), *end = body + len;
    if (p == end || *p != '{')
        return -1;
    size_t n = 0;
    out[n++] = '{';
    p = skip_space(p + 1, end);
    if (p < end && *p == '}') {
        out[n++] = '}';
        *out_len = n;
        return 0;
    }
    for (;;) {
        if (p == end || *p != '"')
            return -1;
        const char *key = p, *key_end = skip_string(p, end);
        if (!key_end || memchr(key, '\\', (size_t)(key_end - key)))
            return -1;
        p = skip_space(key_end, end);
        if (p == end || *p != ':')
            return -1;
        const char *value_end = skip_value(skip_space(p + 1, end), end);
        if (!value_end)
            return -1;
        if (!is_named(key + 1, (size_t)(key_end - key - 2), names, n_names)) {
            if (n > 1)
                out[n++] = ',';
            memcpy(out + n, key, (size_t)(value_end - key));
            n += (size_t)(value_end - key);
        }
        p = skip_space(value_end, end);
        if (p < end && *p == ',') {
            p = skip_space(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            break;
        return -1;
    }
    out[n++] = '}';
    *out_len = n;
    return 0;
}

/* The same with a full parse (keys compared unescaped). */
static int strip_by_parse(cmx_arena *arena, const char *body, size_t len, const char *const *names,
                          size_t n_names, char *out, size_t *out_len)
{
    cmx_json_doc doc;
    cmx_error err;
    if (cmx_json_doc_parse(&doc, body, len, arena, &err) != CMX_OK ||
        cmx_json_doc_type(&doc, 0) != CMX_JSON_OBJECT)
        return -1;
    size_t n = 0;
    out[n++] = '{';
    int end = cmx_json_doc_next(&doc, 0);
    for (int k = 1; k < end; k = cmx_json_doc_next(&doc, k + 1)) {
        int drop = 0;
        for (size_t i = 0; i < n_names && !drop; i++)
            drop = cmx_json_doc_key_is(&doc, k, names[i], strlen(names[i]));
        if (drop)
            continue;
        cmx_json_span key = cmx_json_doc_span(&doc, k);
        cmx_json_span value = cmx_json_doc_span(&doc, k + 1);
        if (n > 1)
            out[n++] = ',';
        memcpy(out + n, body + key.start, value.end - key.start);
        n += value.end - key.start;
    }
    out[n++] = '}';
    *out_len = n;
    return 0;
}

char *cmx_json_strip_members(cmx_arena *arena, const char *body, size_t len,
                             const char *const *names, size_t n_names, size_t *out_len)
{
    char *out = cmx_arena_alloc(arena, len + 2);
    if (!out)
        return NULL;
    if (strip_by_scan(body, len, names, n_names, out, out_len) == 0 ||
        strip_by_parse(arena, body, len, names, n_names, out, out_len) == 0)
        return out;
    return NULL;
}

/* Whether member key k holds a JSON Schema (a function tool's
 * `parameters`, a response format's `schema`): inside one, a key is a
 * property's name chosen by the application, never request vocabulary. */
static int holds_schema(const cmx_json_doc *doc, int k)
{
    return cmx_json_doc_key_is(doc, k, CMX_LIT("parameters")) ||
           cmx_json_doc_key_is(doc, k, CMX_LIT("schema"));
}

/* Copies value i of doc into out at *n, without the members named in
 * names at any depth (JSON Schemas copied as they are, names == NULL);
 * returns the token after it. */
static int copy_without(const cmx_json_doc *doc, int i, const char *const *names, size_t n_names,
                        char *out, size_t *n)
{
    cmx_json_type t = cmx_json_doc_type(doc, i);
    if (t != CMX_JSON_OBJECT && t != CMX_JSON_ARRAY) {
        cmx_json_span sp = cmx_json_doc_span(doc, i);
        memcpy(out + *n, doc->bytes + sp.start, sp.end - sp.start);
        *n += sp.end - sp.start;
        return cmx_json_doc_next(doc, i);
    }
    out[(*n)++] = t == CMX_JSON_OBJECT ? '{' : '[';
    int end = cmx_json_doc_next(doc, i), first = 1;
    for (int k = i + 1; k < end;) {
        if (t == CMX_JSON_OBJECT) {
            int drop = 0;
            for (size_t j = 0; j < n_names && !drop; j++)
                drop = cmx_json_doc_key_is(doc, k, names[j], strlen(names[j]));
            if (drop) {
                k = cmx_json_doc_next(doc, k + 1);
                continue;
            }
            if (!first)
                out[(*n)++] = ',';
            cmx_json_span key = cmx_json_doc_span(doc, k);
            memcpy(out + *n, doc->bytes + key.start, key.end - key.start);
            *n += key.end - key.start;
            out[(*n)++] = ':';
            int keep = holds_schema(doc, k);
            k = copy_without(doc, k + 1, keep ? NULL : names, keep ? 0 : n_names, out, n);
        } else {
            if (!first)
                out[(*n)++] = ',';
            k = copy_without(doc, k, names, n_names, out, n);
        }
        first = 0;
    }
    out[(*n)++] = t == CMX_JSON_OBJECT ? '}' : ']';
    return end;
}

char *cmx_json_strip_keys(cmx_arena *arena, const char *body, size_t len, const char *const *names,
                          size_t n_names, size_t *out_len)
{
    cmx_json_doc doc;
    cmx_error err;
    if (cmx_json_doc_parse(&doc, body, len, arena, &err) != CMX_OK)
        return NULL;
    char *out = cmx_arena_alloc(arena, len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    copy_without(&doc, 0, names, n_names, out, &n);
    out[n] = '\0';
    *out_len = n;
    return out;
}

int cmx_json_mentions_key(const char *body, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *us = strchr(key, '_');
    if (!us || !body)
        return 0;
    size_t at = (size_t)(us - key); /* the key's '_', rarer in a body than '"' */
    for (const char *p = body, *end = body + len; (p = memchr(p, '_', (size_t)(end - p))); p++) {
        const char *q = p - at - 1; /* the opening quote */
        if (q >= body && q + klen + 2 <= end && q[0] == '"' && q[klen + 1] == '"' &&
            memcmp(q + 1, key, klen) == 0)
            return 1;
    }
    return 0;
}
