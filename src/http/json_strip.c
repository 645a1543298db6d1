/* json_strip.c — a JSON object without some of its members: at the top
 * level, for the response cache's key (the request minus the fields that do
 * not change the answer: stream, stream_options, user), and at any depth,
 * for an OpenAI-compatible upstream that refuses the gateway's own request
 * vocabulary (cache_control, thinking_blocks).  The kept members are copied
 * byte for byte, joined by single commas. */
#include <string.h>

#include "http/json_doc.h"
#include "http/json_scan.h"

char *cmx_json_strip_members(cmx_arena *arena, const char *body, size_t len,
                             const char *const *names, size_t n_names, size_t *out_len)
{
    cmx_json_doc doc;
    cmx_error err;
    if (cmx_json_doc_parse(&doc, body, len, arena, &err) != CMX_OK ||
        cmx_json_doc_type(&doc, 0) != CMX_JSON_OBJECT)
        return NULL;
    char *out = cmx_arena_alloc(arena, len + 2);
    if (!out)
        return NULL;
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
    return out;
}

/* Copies value i of doc into out at *n, without the members named in
 * names at any depth; returns the token after it. */
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
            k = copy_without(doc, k + 1, names, n_names, out, n);
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
