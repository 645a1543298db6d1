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
#include "embedding_out.h"

#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static cmx_err bad(cmx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cmx_err bad(cmx_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmx_error_vset(err, CMX_ERR_BAD_REQUEST, fmt, ap);
    va_end(ap);
    if (err)
        err->status = 400;
    return CMX_ERR_BAD_REQUEST;
}

static cmx_err add_instances(const json_t *input, json_t *instances, const char *name,
                             cmx_error *err)
{
    if (json_is_string(input)) {
        json_array_append_new(instances, json_pack("{s:O}", "content", input));
        return CMX_OK;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return bad(err, "'input' must be a string or a non-empty array of strings");
    size_t i;
    const json_t *v;
    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v))
            return bad(err,
                       "input[%zu]: provider '%s' (vertex) takes text inputs only, not token "
                       "arrays",
                       i, name);
        json_array_append_new(instances, json_pack("{s:O}", "content", v));
    }
    return CMX_OK;
}

cmx_err cmx_vertex_translate_embeddings_request(const char *body, size_t len,
                                                const cmx_vertex_options *opt, cmx_buf *out,
                                                int *base64, cmx_error *err)
{
    *base64 = 0;
    const char *name = opt->provider_name ? opt->provider_name : "vertex";
    json_t *in = json_loadb(body, len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return bad(err, "the request body must be a JSON object");
    }
    json_t *instances = json_array();
    json_t *params = json_object();
    cmx_err e = CMX_OK;
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "user") == 0)
            continue;
        if (strcmp(key, "input") == 0)
            e = add_instances(v, instances, name, err);
        else if (strcmp(key, "dimensions") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                e = bad(err, "'dimensions' must be a positive integer");
            else
                json_object_set(params, "outputDimensionality", v);
        } else if (strcmp(key, "encoding_format") == 0) {
            const char *f = json_string_value(v);
            if (f && strcmp(f, "base64") == 0)
                *base64 = 1;
            else if ((!f || strcmp(f, "float") != 0) && !opt->drop_unsupported)
                e = bad(err, "'encoding_format' must be \"float\" or \"base64\"");
        } else if (!opt->drop_unsupported)
            e = bad(err, "parameter '%.40s' is not supported by provider '%s' (vertex)", key, name);
        if (e != CMX_OK)
            break;
    }
    if (e == CMX_OK && json_array_size(instances) == 0)
        e = bad(err, "missing required field 'input'");
    if (e == CMX_OK) {
        json_t *req = json_pack("{s:O}", "instances", instances);
        if (json_object_size(params))
            json_object_set(req, "parameters", params);
        char *s = json_dumps(req, JSON_COMPACT);
        if (!s || cmx_buf_append_str(out, s) != 0)
            e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        free(s);
        json_decref(req);
    }
    json_decref(params);
    json_decref(instances);
    json_decref(in);
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
