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
#include "embedding_out.h"
#include "core/str.h"

#include <jansson.h>
#include <stdarg.h>
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

/* The inputs as a list of strings (a lone string becomes a list of one). */
static cmx_err collect_texts(const json_t *input, json_t *texts, const char *name, cmx_error *err)
{
    if (json_is_string(input))
        return json_array_append(texts, (json_t *)input) == 0
                   ? CMX_OK
                   : cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (!json_is_array(input) || json_array_size(input) == 0)
        return bad(err, "'input' must be a string or a non-empty array of strings");
    size_t i;
    const json_t *v;
    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v))
            return bad(err,
                       "input[%zu]: provider '%s' (bedrock) takes text inputs only, not token "
                       "arrays",
                       i, name);
        json_array_append(texts, (json_t *)v);
    }
    return CMX_OK;
}

cmx_err cmx_bedrock_embed_request(cmx_bedrock_embed_family family, const char *body, size_t len,
                                  const cmx_bedrock_options *opt, cmx_buf *out, int *base64,
                                  cmx_error *err)
{
    *base64 = 0;
    const char *name = opt->provider_name ? opt->provider_name : "bedrock";
    json_t *in = json_loadb(body, len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return bad(err, "the request body must be a JSON object");
    }
    json_t *texts = json_array();
    const json_t *dims = NULL;
    cmx_err e = CMX_OK;
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "user") == 0)
            continue;
        if (strcmp(key, "input") == 0)
            e = collect_texts(v, texts, name, err);
        else if (strcmp(key, "dimensions") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                e = bad(err, "'dimensions' must be a positive integer");
            else
                dims = v;
        } else if (strcmp(key, "encoding_format") == 0) {
            const char *f = json_string_value(v);
            if (f && strcmp(f, "base64") == 0)
                *base64 = 1;
            else if ((!f || strcmp(f, "float") != 0) && !opt->drop_unsupported)
                e = bad(err, "'encoding_format' must be \"float\" or \"base64\"");
        } else if (!opt->drop_unsupported)
            e = bad(err, "parameter '%.40s' is not supported by provider '%s' (bedrock)", key,
                    name);
        if (e != CMX_OK)
            break;
    }
    if (e == CMX_OK && json_array_size(texts) == 0)
        e = bad(err, "missing required field 'input'");
    json_t *req = NULL;
    if (e == CMX_OK && family == CMX_BEDROCK_EMBED_TITAN) {
        if (json_array_size(texts) > 1)
            e = bad(err,
                    "provider '%s' (bedrock): Titan embeddings take one input per request, got "
                    "%zu; send them one at a time",
                    name, json_array_size(texts));
        else {
            req = json_pack("{s:O}", "inputText", json_array_get(texts, 0));
            /* OpenAI's vectors are unit length; Titan v2 makes them so when asked */
            if (dims)
                json_object_set(req, "dimensions", (json_t *)dims);
            json_object_set_new(req, "normalize", json_true());
        }
    } else if (e == CMX_OK && family == CMX_BEDROCK_EMBED_COHERE) {
        if (dims && !opt->drop_unsupported)
            e = bad(err,
                    "parameter 'dimensions' is not supported by Cohere Embed on provider '%s' "
                    "(bedrock)",
                    name);
        else
            req = json_pack("{s:O,s:s}", "texts", texts, "input_type", "search_document");
    } else if (e == CMX_OK) {
        e = bad(err, "provider '%s' (bedrock): not an embedding model this provider knows", name);
    }
    if (e == CMX_OK) {
        char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (!s || cmx_buf_append_str(out, s) != 0)
            e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        free(s);
    }
    json_decref(req);
    json_decref(texts);
    json_decref(in);
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
