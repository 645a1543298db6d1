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

static void titan_text(cmx_jw *w, const char *text, size_t len)
{
    CMX_JW_KEY(w, "inputText");
    cmx_jw_string_escaped(w, text, len);
}

/* Titan embeds one text per call; OpenAI's vectors are unit length, which
 * Titan v2 makes them when asked. */
static cmx_err titan_request(const cmx_embedding_request *r, const char *name, cmx_jw *w,
                             cmx_error *err)
{
    if (r->n_texts > 1) {
        cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                      "provider '%s' (bedrock): Titan embeddings take one input per request, got "
                      "%zu; send them one at a time",
                      name, r->n_texts);
        return CMX_ERR_BAD_REQUEST;
    }
    cmx_jw_object(w);
    cmx_embedding_each_text(w, r, titan_text);
    cmx_translate_copy_member(w, &r->doc, r->dimensions, "dimensions");
    CMX_JW_KEY(w, "normalize");
    cmx_jw_bool(w, 1);
    cmx_jw_end(w);
    return CMX_OK;
}

static cmx_err cohere_request(const cmx_embedding_request *r, const char *name,
                              int drop_unsupported, cmx_jw *w, cmx_error *err)
{
    if (r->dimensions >= 0 && !drop_unsupported) {
        cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                      "parameter 'dimensions' is not supported by Cohere Embed on provider '%s' "
                      "(bedrock)",
                      name);
        return CMX_ERR_BAD_REQUEST;
    }
    cmx_jw_object(w);
    CMX_JW_KEY(w, "texts");
    cmx_embedding_write_texts(w, r);
    CMX_JW_KEY(w, "input_type");
    CMX_JW_LIT(w, "search_document");
    cmx_jw_end(w);
    return CMX_OK;
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
    size_t start = out->len;
    cmx_jw w;
    cmx_jw_init(&w, out);
    if (family == CMX_BEDROCK_EMBED_TITAN)
        e = titan_request(&r, name, &w, err);
    else if (family == CMX_BEDROCK_EMBED_COHERE)
        e = cohere_request(&r, name, opt->drop_unsupported, &w, err);
    else
        e = cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                          "provider '%s' (bedrock): not an embedding model this provider knows",
                          name);
    if (e == CMX_OK && cmx_buf_failed(out))
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (e != CMX_OK)
        cmx_buf_truncate(out, start);
    cmx_embedding_request_free(&r);
    return e;
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    return cmx_translate_protocol_error(err, "bedrock", what);
}

/* The answer's vectors into the list: Titan's one "embedding", Cohere's
 * "embeddings" (a list, or {"float": list} when asked with embedding_types). */
static cmx_err add_vectors(cmx_bedrock_embed_family family, const cmx_json_doc *doc,
                           cmx_embedding_list *list, cmx_error *err)
{
    if (family == CMX_BEDROCK_EMBED_TITAN) {
        int emb = cmx_json_doc_get_typed(doc, 0, CMX_LIT("embedding"), CMX_JSON_ARRAY);
        if (emb < 0)
            return protocol(err, "a body that has no \"embedding\" array");
        return cmx_embedding_list_add(list, doc, emb, "bedrock", err);
    }
    int embs = CMX_JSON_GET(doc, 0, "embeddings");
    if (cmx_json_doc_type(doc, embs) == CMX_JSON_OBJECT)
        embs = CMX_JSON_GET(doc, embs, "float");
    if (embs < 0 || cmx_json_doc_type(doc, embs) != CMX_JSON_ARRAY)
        return protocol(err, "a body that has no \"embeddings\" list");
    CMX_JSON_EACH(doc, embs, v)
    {
        cmx_err e = cmx_embedding_list_add(list, doc, v, "bedrock", err);
        if (e != CMX_OK)
            return e;
    }
    return CMX_OK;
}

cmx_err cmx_bedrock_embed_response(cmx_bedrock_embed_family family, const char *body, size_t len,
                                   const char *model, int base64, int64_t header_tokens,
                                   cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    cmx_json_doc doc;
    int object = cmx_json_doc_parse(&doc, body, len, NULL, NULL) == CMX_OK &&
                 cmx_json_doc_type(&doc, 0) == CMX_JSON_OBJECT;
    int64_t tokens = header_tokens > 0 ? header_tokens : 0;
    if (object && family == CMX_BEDROCK_EMBED_TITAN)
        tokens = cmx_translate_count(&doc, 0, "inputTextTokenCount", tokens);
    cmx_embedding_list list;
    cmx_embedding_list_begin(&list, out, base64);
    cmx_err e = object ? add_vectors(family, &doc, &list, err)
                       : protocol(err, family == CMX_BEDROCK_EMBED_TITAN
                                           ? "a body that has no \"embedding\" array"
                                           : "a body that has no \"embeddings\" list");
    if (e == CMX_OK)
        e = cmx_embedding_list_end(&list, model, tokens, usage, err);
    else
        cmx_embedding_list_abandon(&list);
    cmx_json_doc_release(&doc);
    return e;
}
