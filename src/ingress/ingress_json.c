/* ingress_json.c — reading tokens and writing JSON for the client APIs'
 * converters; see ingress_json.h. */
#include "ingress/ingress_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/usage.h"

int cmx_jd_string_is(const cmx_json_doc *doc, int i, const char *s, size_t n)
{
    return i >= 0 && cmx_json_doc_type(doc, i) == CMX_JSON_STRING &&
           cmx_json_doc_key_is(doc, i, s, n);
}

cmx_json_type cmx_jd_type(const cmx_json_doc *doc, int i)
{
    return i < 0 ? CMX_JSON_ABSENT : cmx_json_doc_type(doc, i);
}

size_t cmx_jd_count(const cmx_json_doc *doc, int arr)
{
    size_t n = 0;
    CMX_JD_EACH_ELEMENT(doc, arr, e)
    n++;
    return n;
}

void cmx_jw_copy(cmx_buf *b, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_buf_append(b, doc->bytes + sp.start, sp.end - sp.start);
}

void cmx_jw_copy_as_string(cmx_buf *b, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_jw_str(b, doc->bytes + sp.start, sp.end - sp.start);
}

void cmx_jw_inner(cmx_buf *b, const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    cmx_buf_append(b, doc->bytes + sp.start + 1, sp.end - sp.start - 2);
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

void cmx_jw_str(cmx_buf *b, const char *s, size_t n)
{
    cmx_buf_append(b, CMX_LIT("\""));
    cmx_buf_append_json_escaped(b, s, n);
    cmx_buf_append(b, CMX_LIT("\""));
}

void cmx_jw_cstr(cmx_buf *b, const char *s)
{
    if (s)
        cmx_jw_str(b, s, strlen(s));
    else
        cmx_buf_append(b, CMX_LIT("null"));
}

void cmx_jw_int(cmx_buf *b, int64_t v)
{
    char n[24];
    int k = snprintf(n, sizeof n, "%" PRId64, v);
    cmx_buf_append(b, n, (size_t)k);
}

static void read_count(const cmx_json_doc *doc, int obj, const char *name, size_t len, int64_t *dst)
{
    int v = obj >= 0 ? cmx_json_doc_member(doc, obj, name, len, NULL) : -1;
    int64_t n;
    if (v >= 0 && cmx_json_doc_int64(doc, v, &n) == 0 && n >= 0)
        *dst = n;
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
