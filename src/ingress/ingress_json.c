/* ingress_json.c — reading tokens and writing JSON for the client APIs'
 * converters; see ingress_json.h. */
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

#include "core/usage.h"
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"

int cmx_jd_string_is(const cmx_json_doc *doc, int i, const char *s, size_t n)
{
    return i >= 0 && cmx_json_doc_type(doc, i) == CMX_JSON_STRING &&
           cmx_json_doc_key_is(doc, i, s, n);
}

size_t cmx_jd_key_name(const cmx_json_doc *doc, int k, char *buf, size_t cap, const char **key)
{
    long n = cmx_json_doc_key(doc, k, buf, cap, key);
    return n < 0 ? 0 : (size_t)n;
}

cmx_json_type cmx_jd_type(const cmx_json_doc *doc, int i)
{
    return i < 0 ? CMX_JSON_ABSENT : cmx_json_doc_type(doc, i);
}

int cmx_jd_non_empty_string(const cmx_json_doc *doc, int i)
{
    if (cmx_jd_type(doc, i) != CMX_JSON_STRING)
        return 0;
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    return sp.end - sp.start > 2;
}

size_t cmx_jd_count(const cmx_json_doc *doc, int arr)
{
    size_t n = 0;
    CMX_JD_EACH_ELEMENT(doc, arr, e)
    n++;
    return n;
}

void cmx_jd_put(cmx_jw *w, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_jw_value(w, doc->bytes + sp.start, sp.end - sp.start);
}

void cmx_jd_put_inner(cmx_jw *w, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_jw_string_piece_escaped(w, doc->bytes + sp.start + 1, sp.end - sp.start - 2);
}

void cmx_jd_put_as_string(cmx_jw *w, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_jw_json_as_string(w, doc->bytes + sp.start, sp.end - sp.start);
}

void cmx_jd_put_member(cmx_jw *w, const char *key, size_t key_len, const cmx_json_doc *doc, int i)
{
    if (i < 0)
        return;
    cmx_jw_key(w, key, key_len);
    cmx_jd_put(w, doc, i);
}

void cmx_ingress_path(char *out, size_t cap, const char *name, long index)
{
    if (cap == 0)
        return;
    char digits[24];
    size_t k = 0;
    if (index >= 0) {
        do
            digits[k++] = (char)('0' + index % 10);
        while ((index /= 10) > 0);
    }
    size_t n = strlen(name);
    size_t room = cap - 1;
    size_t tail = k ? k + 2 : 0;
    if (tail > room)
        tail = 0, k = 0;
    if (n > room - tail)
        n = room - tail;
    memcpy(out, name, n);
    if (k) {
        out[n++] = '[';
        while (k)
            out[n++] = digits[--k];
        out[n++] = ']';
    }
    out[n] = '\0';
}

void cmx_ingress_note(cmx_buf *list, const char *what)
{
    const char *have = list->data ? list->data : "";
    size_t n = strlen(what);
    for (const char *p = strstr(have, what); p; p = strstr(p + 1, what))
        if ((p == have || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return;
    if (list->len)
        cmx_buf_append(list, CMX_LIT(", "));
    cmx_buf_append_str(list, what);
}

static void read_count(const cmx_json_doc *doc, int obj, const char *name, size_t len, int64_t *dst)
{
    int v = obj >= 0 ? cmx_json_doc_member(doc, obj, name, len, NULL) : -1;
    int64_t n;
    if (v >= 0 && cmx_json_doc_int64(doc, v, &n) == 0 && n >= 0)
        *dst = n;
}

cmx_err cmx_ingress_read_body(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                              cmx_ingress_request *req, cmx_request_scan *scan,
                              const char *const *names, size_t n, int *f, cmx_error *err)
{
    memset(scan, 0, sizeof *scan);
    memset(req, 0, sizeof *req);
    req->api = api;
    cmx_json_doc *doc = cmx_arena_alloc(arena, sizeof *doc);
    if (!doc)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    cmx_err rc = cmx_json_doc_parse(doc, body, len, arena, err);
    if (rc != CMX_OK)
        return rc;
    req->doc = doc;
    if (cmx_json_doc_type(doc, 0) != CMX_JSON_OBJECT)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "request body must be a JSON object");
    scan->body = cmx_json_doc_span(doc, 0);
    size_t lens[32];
    for (size_t i = 0; i < n; i++) {
        f[i] = -1;
        lens[i] = i < 32 ? strlen(names[i]) : 0;
    }
    CMX_JD_EACH_KEY(doc, 0, k)
    {
        /* a key without escapes is compared as it is written */
        cmx_json_span sp = cmx_json_doc_span(doc, k);
        const char *raw = doc->bytes + sp.start + 1;
        size_t raw_len = sp.end - sp.start - 2;
        int escaped = memchr(raw, '\\', raw_len) != NULL;
        for (size_t i = 0; i < n && i < 32; i++) {
            if (escaped ? !cmx_json_doc_key_is(doc, k, names[i], lens[i])
                        : raw_len != lens[i] || memcmp(raw, names[i], raw_len) != 0)
                continue;
            if (f[i] >= 0)
                return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "duplicate field '%s'", names[i]);
            f[i] = k + 1;
            break; /* the names differ: a key is at most one of them */
        }
    }
    return CMX_OK;
}

cmx_err cmx_ingress_read_completion(cmx_json_doc *doc, const char *chat, size_t len,
                                    cmx_arena *arena, int *choice, int *message)
{
    *choice = *message = -1;
    if (cmx_json_doc_parse(doc, chat, len, arena, NULL) == CMX_OK &&
        cmx_json_doc_type(doc, 0) == CMX_JSON_OBJECT) {
        int choices = CMX_JD_MEMBER(doc, 0, "choices");
        if (cmx_jd_type(doc, choices) == CMX_JSON_ARRAY &&
            cmx_json_doc_next(doc, choices) > choices + 1) {
            *choice = choices + 1;
            *message = CMX_JD_MEMBER(doc, *choice, "message");
        }
    }
    if (cmx_jd_type(doc, *message) == CMX_JSON_OBJECT)
        return CMX_OK;
    cmx_json_doc_release(doc);
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_ingress_visit_chunk(const char *json, size_t len, cmx_arena *arena,
                                const cmx_chunk_visitor *v, void *ctx, cmx_usage *usage,
                                cmx_error *err)
{
    cmx_json_doc doc;
    const cmx_json_doc *d = &doc;
    if (cmx_json_doc_parse(&doc, json, len, arena, NULL) != CMX_OK ||
        cmx_json_doc_type(d, 0) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&doc);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "a stream chunk is not a JSON object");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    v->begin(ctx, d);
    int u = CMX_JD_MEMBER(d, 0, "usage");
    if (cmx_jd_type(d, u) == CMX_JSON_OBJECT)
        cmx_jd_read_chat_usage(d, u, usage);
    int choices = CMX_JD_MEMBER(d, 0, "choices");
    if (cmx_jd_type(d, choices) == CMX_JSON_ARRAY) {
        CMX_JD_EACH_ELEMENT(d, choices, ch)
        {
            int delta = CMX_JD_MEMBER(d, ch, "delta");
            int content = delta >= 0 ? CMX_JD_MEMBER(d, delta, "content") : -1;
            if (cmx_jd_non_empty_string(d, content))
                v->text(ctx, d, content);
            int calls = delta >= 0 ? CMX_JD_MEMBER(d, delta, "tool_calls") : -1;
            if (cmx_jd_type(d, calls) == CMX_JSON_ARRAY) {
                CMX_JD_EACH_ELEMENT(d, calls, tc)
                v->tool_call(ctx, d, tc);
            }
            int fr = CMX_JD_MEMBER(d, ch, "finish_reason");
            if (cmx_jd_type(d, fr) == CMX_JSON_STRING)
                v->finish(ctx, d, fr);
        }
    }
    cmx_json_doc_release(&doc);
    return CMX_OK;
}

void cmx_jd_read_chat_usage(const cmx_json_doc *doc, int u, cmx_usage *out)
{
    cmx_usage_init(out);
    if (cmx_jd_type(doc, u) != CMX_JSON_OBJECT)
        return;
    read_count(doc, u, CMX_LIT("prompt_tokens"), &out->prompt_tokens);
    read_count(doc, u, CMX_LIT("completion_tokens"), &out->completion_tokens);
    read_count(doc, u, CMX_LIT("total_tokens"), &out->total_tokens);
    int d = CMX_JD_MEMBER(doc, u, "prompt_tokens_details");
    if (cmx_jd_type(doc, d) == CMX_JSON_OBJECT) {
        read_count(doc, d, CMX_LIT("cached_tokens"), &out->cached_tokens);
        read_count(doc, d, CMX_LIT("cache_write_tokens"), &out->cache_write_tokens);
    }
}
