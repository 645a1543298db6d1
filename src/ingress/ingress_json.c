/* ingress_json.c — reading tokens and writing JSON for the client APIs'
 * converters; see ingress_json.h. */
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

#include "core/usage.h"
#include "ingress/ingress_internal.h"

int cmx_jd_string_is(const cmx_json_doc *doc, int i, const char *s, size_t n)
{
    return i >= 0 && cmx_json_doc_type(doc, i) == CMX_JSON_STRING &&
           cmx_json_doc_key_is(doc, i, s, n);
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

cmx_err cmx_ingress_read_chunk(cmx_json_doc *doc, const char *json, size_t len, cmx_arena *arena,
                               cmx_error *err)
{
    if (cmx_json_doc_parse(doc, json, len, arena, NULL) == CMX_OK &&
        cmx_json_doc_type(doc, 0) == CMX_JSON_OBJECT)
        return CMX_OK;
    cmx_json_doc_release(doc);
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "a stream chunk is not a JSON object");
    err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
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
    if (cmx_jd_type(doc, d) == CMX_JSON_OBJECT)
        read_count(doc, d, CMX_LIT("cached_tokens"), &out->cached_tokens);
}
