/* bedrock_embed.c — OpenAI embeddings through InvokeModel for Titan Text
 * Embeddings and Cohere Embed.
 *
 * Each family has its own body.  Titan embeds one text per call
 * ({"inputText", "dimensions", "normalize"} → {"embedding",
 * "inputTextTokenCount"}), so a request with several inputs is refused with
 * a 400 rather than fanned out into several signed calls that could fail
 * half-way.  Cohere takes a list ({"texts", "input_type"} → {"embeddings":
 * [[...]]}) and counts no tokens in its body; Bedrock's
 * x-amzn-bedrock-input-token-count header does.  encoding_format "base64"
 * (what the official openai clients ask for by default) is done here, as
 * OpenAI does it: little-endian float32s, base64-encoded. */
#include "bedrock_invoke.h"
#include "embeddings.h"
#include "core/str.h"
#include "translate_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cmx_bedrock_embed_family cmx_bedrock_embed_family_of(const char *model)
{
    if (!model)
        return CMX_BEDROCK_EMBED_NONE;
    if (CMX_STARTS_WITH(model, "amazon.titan-embed-text"))
        return CMX_BEDROCK_EMBED_TITAN;
    if (CMX_STARTS_WITH(model, "cohere.embed"))
        return CMX_BEDROCK_EMBED_COHERE;
    return CMX_BEDROCK_EMBED_NONE;
}

cmx_err cmx_bedrock_embed_request(cmx_bedrock_embed_family family, const char *body, size_t len,
                                  const cmx_bedrock_options *opt, cmx_buf *out, int *base64,
                                  cmx_error *err)
{
    *base64 = 0;
    const char *name = opt->provider_name ? opt->provider_name : "bedrock";
    cmx_embedding_request r;
    cmx_err e =
        cmx_embedding_read_request(body, len, name, "bedrock", opt->drop_unsupported, &r, err);
    if (e != CMX_OK)
        return e;
    *base64 = r.base64;
    json_t *req = NULL;
    if (family == CMX_BEDROCK_EMBED_TITAN) {
        if (json_array_size(r.texts) > 1)
            e = cmx_error_set(
                err, CMX_ERR_BAD_REQUEST,
                "provider '%s' (bedrock): Titan embeddings take one input per request, got "
                "%zu; send them one at a time",
                name, json_array_size(r.texts));
        else {
            req = json_pack("{s:O}", "inputText", json_array_get(r.texts, 0));
            /* OpenAI's vectors are unit length; Titan v2 makes them so when asked */
            if (r.dimensions)
                json_object_set(req, "dimensions", (json_t *)r.dimensions);
            json_object_set_new(req, "normalize", json_true());
        }
    } else if (family == CMX_BEDROCK_EMBED_COHERE) {
        if (r.dimensions && !opt->drop_unsupported)
            e = cmx_error_set(
                err, CMX_ERR_BAD_REQUEST,
                "parameter 'dimensions' is not supported by Cohere Embed on provider '%s' "
                "(bedrock)",
                name);
        else
            req = json_pack("{s:O,s:s}", "texts", r.texts, "input_type", "search_document");
    } else {
        e = cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                          "provider '%s' (bedrock): not an embedding model this provider knows",
                          name);
    }
    if (e == CMX_OK)
        e = cmx_translate_write_json(req, JSON_COMPACT, out, err);
    json_decref(req);
    cmx_embedding_request_free(&r);
    return e;
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "bedrock answered 200 with %s", what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_bedrock_embed_response(cmx_bedrock_embed_family family, const char *body, size_t len,
                                   const char *model, int base64, int64_t header_tokens,
                                   cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    json_t *r = json_loadb(body, len, 0, NULL);
    json_t *vectors = json_array();
    json_int_t tokens = header_tokens > 0 ? header_tokens : 0;
    cmx_err e = CMX_OK;
    if (family == CMX_BEDROCK_EMBED_TITAN) {
        const json_t *emb = json_object_get(r, "embedding");
        if (!json_is_array(emb))
            e = protocol(err, "a body that has no \"embedding\" array");
        else
            json_array_append(vectors, (json_t *)emb);
        const json_t *count = json_object_get(r, "inputTextTokenCount");
        if (json_is_integer(count))
            tokens = json_integer_value(count);
    } else {
        const json_t *embs = json_object_get(r, "embeddings");
        if (json_is_object(embs)) /* asked with embedding_types: {"float": [...]} */
            embs = json_object_get(embs, "float");
        if (!json_is_array(embs))
            e = protocol(err, "a body that has no \"embeddings\" list");
        else
            json_array_extend(vectors, (json_t *)embs);
    }
    size_t i;
    const json_t *vec;
    json_t *data = json_array();
    json_array_foreach(vectors, i, vec)
    {
        if (e != CMX_OK)
            break;
        if (!json_is_array(vec)) {
            e = protocol(err, "an embedding that is not a list of numbers");
            break;
        }
        cmx_embedding_append(data, i, vec, base64);
    }
    if (e == CMX_OK)
        e = cmx_embedding_write(data, model, tokens, out, usage, err);
    json_decref(data);
    json_decref(vectors);
    json_decref(r);
    return e;
}
