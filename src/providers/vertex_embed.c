/* vertex_embed.c — OpenAI embeddings through Vertex's prediction API.
 *
 * An embeddings request is one list of inputs; Vertex's :predict takes one
 * instance per input ({"content": text}) and answers one prediction each,
 * in order, with the vector and the tokens it counted.  `dimensions` becomes
 * parameters.outputDimensionality.  encoding_format "base64" (what the
 * official openai clients ask for by default) is done here: the vector as
 * little-endian float32s, base64-encoded.  Token arrays (pre-tokenised
 * input) have no Vertex form and are refused. */
#include "vertex.h"
#include "embeddings.h"
#include "translate_util.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void instance(cmx_jw *w, const char *text, size_t len)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "content");
    cmx_jw_string_escaped(w, text, len);
    cmx_jw_end(w);
}

cmx_err cmx_vertex_translate_embeddings_request(const char *body, size_t len,
                                                const cmx_vertex_options *opt, cmx_buf *out,
                                                int *base64, cmx_error *err)
{
    *base64 = 0;
    const char *name = opt->provider_name ? opt->provider_name : "vertex";
    cmx_embedding_request r;
    cmx_err e =
        cmx_embedding_read_request(body, len, name, "vertex", opt->drop_unsupported, &r, err);
    if (e != CMX_OK)
        return e;
    *base64 = r.base64;
    size_t start = out->len;
    cmx_jw w;
    cmx_jw_init(&w, out);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "instances");
    cmx_jw_array(&w);
    cmx_embedding_each_text(&w, &r, instance);
    cmx_jw_end(&w);
    if (r.dimensions >= 0) {
        CMX_JW_KEY(&w, "parameters");
        cmx_jw_object(&w);
        cmx_translate_copy_member(&w, &r.doc, r.dimensions, "outputDimensionality");
        cmx_jw_end(&w);
    }
    cmx_jw_end(&w);
    if (cmx_buf_failed(out)) {
        cmx_buf_truncate(out, start);
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    cmx_embedding_request_free(&r);
    return e;
}

static cmx_err no_values(cmx_error *err, size_t i)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "vertex answered 200 with predictions[%zu] without embeddings.values", i);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_vertex_translate_embeddings_response(const char *body, size_t len, const char *model,
                                                 int base64, cmx_buf *out, cmx_usage *usage,
                                                 cmx_error *err)
{
    cmx_json_doc doc;
    int preds = cmx_json_doc_parse(&doc, body, len, NULL, NULL) == CMX_OK
                    ? cmx_json_doc_get_typed(&doc, 0, CMX_LIT("predictions"), CMX_JSON_ARRAY)
                    : -1;
    if (preds < 0) {
        cmx_json_doc_release(&doc);
        return cmx_translate_protocol_error(err, "vertex", "a body that has no predictions");
    }
    cmx_embedding_list list;
    cmx_embedding_list_begin(&list, out, base64);
    int64_t tokens = 0;
    size_t i = 0;
    cmx_err e = CMX_OK;
    CMX_JSON_EACH(&doc, preds, p)
    {
        int emb = CMX_JSON_GET(&doc, p, "embeddings");
        int values = cmx_json_doc_get_typed(&doc, emb, CMX_LIT("values"), CMX_JSON_ARRAY);
        if (values < 0) {
            e = no_values(err, i);
            break;
        }
        tokens +=
            cmx_translate_count(&doc, CMX_JSON_GET(&doc, emb, "statistics"), "token_count", 0);
        cmx_embedding_list_add(&list, &doc, values, "vertex", err);
        i++;
    }
    if (e == CMX_OK)
        e = cmx_embedding_list_end(&list, model, tokens, usage, err);
    else
        cmx_embedding_list_abandon(&list);
    cmx_json_doc_release(&doc);
    return e;
}
