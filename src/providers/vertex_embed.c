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

#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    json_t *instances = json_array();
    size_t i;
    const json_t *text;
    json_array_foreach(r.texts, i, text)
        json_array_append_new(instances, json_pack("{s:O}", "content", text));
    json_t *req = json_pack("{s:o}", "instances", instances);
    if (r.dimensions)
        json_object_set_new(req, "parameters",
                            json_pack("{s:O}", "outputDimensionality", r.dimensions));
    e = cmx_translate_write_json(req, JSON_COMPACT, out, err);
    json_decref(req);
    cmx_embedding_request_free(&r);
    return e;
}

cmx_err cmx_vertex_translate_embeddings_response(const char *body, size_t len, const char *model,
                                                 int base64, cmx_buf *out, cmx_usage *usage,
                                                 cmx_error *err)
{
    json_t *r = json_loadb(body, len, 0, NULL);
    const json_t *preds = json_object_get(r, "predictions");
    if (!json_is_array(preds)) {
        json_decref(r);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "vertex answered 200 with a body that has no predictions");
        if (err)
            err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    json_t *data = json_array();
    json_int_t tokens = 0;
    size_t i;
    const json_t *p;
    cmx_err e = CMX_OK;
    json_array_foreach(preds, i, p)
    {
        const json_t *emb = json_object_get(p, "embeddings");
        const json_t *values = json_object_get(emb, "values");
        if (!json_is_array(values)) {
            cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                          "vertex answered 200 with predictions[%zu] without embeddings.values", i);
            if (err)
                err->cause = CMX_CAUSE_PROTOCOL;
            e = CMX_ERR_UPSTREAM_PROTOCOL;
            break;
        }
        tokens +=
            json_integer_value(json_object_get(json_object_get(emb, "statistics"), "token_count"));
        cmx_embedding_append(data, i, values, base64);
    }
    if (e == CMX_OK)
        e = cmx_embedding_write(data, model, tokens, out, usage, err);
    json_decref(data);
    json_decref(r);
    return e;
}
