/* embeddings.c — OpenAI embeddings requests read, answers and their base64
 * vectors written (see the header).
 *
 * The bytes are written little-endian by hand rather than copied from
 * memory, so the answer is the same on any host. */
#include "embeddings.h"
#include "translate_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static cmx_err bad(cmx_error *err, const char *msg)
{
    cmx_error_set(err, CMX_ERR_BAD_REQUEST, "%s", msg);
    if (err)
        err->status = 400;
    return CMX_ERR_BAD_REQUEST;
}

/* The inputs: a string, or a non-empty list of strings. */
static cmx_err read_input(cmx_embedding_request *r, int v, const char *name, const char *type,
                          cmx_error *err)
{
    const cmx_json_doc *doc = &r->doc;
    r->input = v;
    if (cmx_json_doc_type(doc, v) == CMX_JSON_STRING) {
        r->n_texts = 1;
        return CMX_OK;
    }
    if (cmx_json_doc_type(doc, v) != CMX_JSON_ARRAY || cmx_json_doc_next(doc, v) == v + 1)
        return bad(err, "'input' must be a string or a non-empty array of strings");
    size_t i = 0;
    CMX_JSON_EACH(doc, v, t)
    {
        if (cmx_json_doc_type(doc, t) != CMX_JSON_STRING) {
            cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                          "input[%zu]: provider '%s' (%s) takes text inputs only, not token arrays",
                          i, name, type);
            if (err)
                err->status = 400;
            return CMX_ERR_BAD_REQUEST;
        }
        i++;
    }
    r->n_texts = i;
    return CMX_OK;
}

static cmx_err read_field(cmx_embedding_request *r, int k, const char *name, const char *type,
                          int drop_unsupported, cmx_error *err)
{
    const cmx_json_doc *doc = &r->doc;
    int v = k + 1;
    int64_t n;
    if (cmx_json_doc_key_is(doc, k, CMX_LIT("input")))
        return read_input(r, v, name, type, err);
    if (cmx_json_doc_key_is(doc, k, CMX_LIT("dimensions"))) {
        if (cmx_json_doc_int64(doc, v, &n) != 0 || n < 1)
            return bad(err, "'dimensions' must be a positive integer");
        r->dimensions = v;
        return CMX_OK;
    }
    if (cmx_json_doc_key_is(doc, k, CMX_LIT("encoding_format"))) {
        if (CMX_JSON_STRING_IS(doc, v, "base64"))
            r->base64 = 1;
        else if (!CMX_JSON_STRING_IS(doc, v, "float") && !drop_unsupported)
            return bad(err, "'encoding_format' must be \"float\" or \"base64\"");
        return CMX_OK;
    }
    if (drop_unsupported)
        return CMX_OK;
    char key[44];
    const char *kp;
    long kl = cmx_json_doc_key(doc, k, key, sizeof key - 1, &kp);
    cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                  "parameter '%.*s' is not supported by provider '%s' (%s)",
                  (int)(kl < 0    ? 40
                        : kl > 40 ? 40
                                  : kl),
                  kl < 0 ? cmx_json_doc_ptr(doc, k) : kp, name, type);
    if (err)
        err->status = 400;
    return CMX_ERR_BAD_REQUEST;
}

cmx_err cmx_embedding_read_request(const char *body, size_t len, const char *name, const char *type,
                                   int drop_unsupported, cmx_embedding_request *out, cmx_error *err)
{
    out->input = out->dimensions = -1;
    out->n_texts = 0;
    out->base64 = 0;
    cmx_error perr;
    cmx_err e = cmx_json_doc_parse(&out->doc, body, len, NULL, &perr);
    if (e == CMX_ERR_NOMEM)
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    else if (e != CMX_OK || cmx_json_doc_type(&out->doc, 0) != CMX_JSON_OBJECT)
        e = bad(err, "the request body must be a JSON object");
    if (e == CMX_OK) {
        CMX_JSON_EACH_KEY(&out->doc, 0, k)
        {
            if (cmx_json_doc_type(&out->doc, k + 1) == CMX_JSON_NULL ||
                cmx_json_doc_key_is(&out->doc, k, CMX_LIT("model")) ||
                cmx_json_doc_key_is(&out->doc, k, CMX_LIT("user")))
                continue;
            if ((e = read_field(out, k, name, type, drop_unsupported, err)) != CMX_OK)
                break;
        }
    }
    if (e == CMX_OK && out->n_texts == 0)
        e = bad(err, "missing required field 'input'");
    if (e != CMX_OK)
        cmx_embedding_request_free(out);
    return e;
}

void cmx_embedding_request_free(cmx_embedding_request *r)
{
    cmx_json_doc_release(&r->doc);
}

void cmx_embedding_each_text(cmx_jw *w, const cmx_embedding_request *r,
                             void (*each)(cmx_jw *w, const char *escaped, size_t len))
{
    const cmx_json_doc *doc = &r->doc;
    if (cmx_json_doc_type(doc, r->input) == CMX_JSON_STRING) {
        each(w, cmx_json_doc_ptr(doc, r->input), cmx_json_doc_len(doc, r->input));
        return;
    }
    CMX_JSON_EACH(doc, r->input, t)
    each(w, cmx_json_doc_ptr(doc, t), cmx_json_doc_len(doc, t));
}

void cmx_embedding_write_texts(cmx_jw *w, const cmx_embedding_request *r)
{
    cmx_jw_array(w);
    cmx_embedding_each_text(w, r, cmx_jw_string_escaped);
    cmx_jw_end(w);
}

/* ---- answers ---------------------------------------------------------------- */

/* A vector of numbers as base64 of their little-endian float32s (padded). */
static void write_base64(cmx_jw *w, const cmx_json_doc *doc, int vector)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[3];
    size_t have = 0;
    char quad[4];
    cmx_jw_string_open(w);
    CMX_JSON_EACH(doc, vector, v)
    {
        double d = 0;
        if (cmx_json_doc_double(doc, v, &d) != 0)
            d = 0;
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        for (int k = 0; k < 4; k++) {
            raw[have++] = (unsigned char)(u >> (8 * k));
            if (have == 3) {
                uint32_t x = (uint32_t)raw[0] << 16 | (uint32_t)raw[1] << 8 | raw[2];
                quad[0] = abc[(x >> 18) & 63];
                quad[1] = abc[(x >> 12) & 63];
                quad[2] = abc[(x >> 6) & 63];
                quad[3] = abc[x & 63];
                cmx_jw_string_piece_escaped(w, quad, 4);
                have = 0;
            }
        }
    }
    if (have) {
        uint32_t x = (uint32_t)raw[0] << 16 | (have > 1 ? (uint32_t)raw[1] << 8 : 0);
        quad[0] = abc[(x >> 18) & 63];
        quad[1] = abc[(x >> 12) & 63];
        quad[2] = have > 1 ? abc[(x >> 6) & 63] : '=';
        quad[3] = '=';
        cmx_jw_string_piece_escaped(w, quad, 4);
    }
    cmx_jw_string_close(w);
}

void cmx_embedding_list_begin(cmx_embedding_list *l, cmx_buf *out, int base64)
{
    l->n = 0;
    l->base64 = base64;
    l->start = out->len;
    cmx_jw_init(&l->w, out);
    cmx_jw_object(&l->w);
    CMX_JW_KEY(&l->w, "object");
    CMX_JW_LIT(&l->w, "list");
    CMX_JW_KEY(&l->w, "data");
    cmx_jw_array(&l->w);
}

cmx_err cmx_embedding_list_add(cmx_embedding_list *l, const cmx_json_doc *doc, int vector,
                               const char *provider_type, cmx_error *err)
{
    if (vector < 0 || cmx_json_doc_type(doc, vector) != CMX_JSON_ARRAY)
        return cmx_translate_protocol_error(err, provider_type,
                                            "an embedding that is not a list of numbers");
    cmx_jw *w = &l->w;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "object");
    CMX_JW_LIT(w, "embedding");
    CMX_JW_KEY(w, "index");
    cmx_jw_int(w, (int64_t)l->n++);
    CMX_JW_KEY(w, "embedding");
    if (l->base64)
        write_base64(w, doc, vector);
    else
        cmx_jw_compact(w, cmx_json_doc_ptr(doc, vector), cmx_json_doc_len(doc, vector));
    cmx_jw_end(w);
    return CMX_OK;
}

cmx_err cmx_embedding_list_end(cmx_embedding_list *l, const char *model, int64_t tokens,
                               cmx_usage *usage, cmx_error *err)
{
    cmx_jw *w = &l->w;
    cmx_jw_end(w);
    CMX_JW_KEY(w, "model");
    cmx_jw_str_value(w, cmx_jw_cstr(model));
    CMX_JW_KEY(w, "usage");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "prompt_tokens");
    cmx_jw_int(w, tokens);
    CMX_JW_KEY(w, "total_tokens");
    cmx_jw_int(w, tokens);
    cmx_jw_end(w);
    cmx_jw_end(w);
    if (cmx_jw_failed(w)) {
        cmx_embedding_list_abandon(l);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    if (usage) {
        cmx_usage_init(usage);
        usage->prompt_tokens = tokens;
        usage->completion_tokens = 0;
        usage->total_tokens = tokens;
    }
    return CMX_OK;
}

void cmx_embedding_list_abandon(cmx_embedding_list *l)
{
    cmx_buf_truncate(l->w.out, l->start);
}
