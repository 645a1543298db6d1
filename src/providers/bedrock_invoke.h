/* bedrock_invoke.h — Bedrock's InvokeModel API in model-native bodies, as
 * pure functions: Anthropic Messages bodies for Claude (the alternative to
 * Converse chosen with the provider's `api: invoke`) and the embedding
 * models (Titan Text Embeddings, Cohere Embed), which only InvokeModel
 * serves.
 *
 * InvokeModel forwards the body to the model as it is, so for Claude the
 * body is Anthropic's own Messages request with the version in the body
 * ("anthropic_version": "bedrock-2023-05-31") and the model in the URL, and
 * the answer is an Anthropic message: the anthropic translators do the
 * work.  InvokeModelWithResponseStream wraps each Anthropic stream event in
 * an event-stream `chunk` event whose payload is {"bytes": base64(JSON)};
 * cmx_bedrock_invoke_stream_message unwraps it and feeds the anthropic
 * stream translator. */
#ifndef CMX_PROVIDERS_BEDROCK_INVOKE_H
#define CMX_PROVIDERS_BEDROCK_INVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "providers/anthropic.h"
#include "providers/bedrock.h"
#include "providers/eventstream.h"

/* 1 when a Bedrock model id names an Anthropic model: "anthropic.claude-..."
 * or an inference profile such as "us.anthropic.claude-...". */
int cmx_bedrock_is_anthropic(const char *model);

/* One InvokeModelWithResponseStream message: a `chunk` event is decoded and
 * handed to `s`; an exception message returns the kind it stands for (as in
 * Converse streams); anything else is CMX_ERR_UPSTREAM_PROTOCOL. */
cmx_err cmx_bedrock_invoke_stream_message(cmx_anthropic_stream *s,
                                          const cmx_eventstream_message *msg, cmx_error *err);

/* The embedding models InvokeModel serves. */
typedef enum cmx_bedrock_embed_family {
    CMX_BEDROCK_EMBED_NONE = 0,
    CMX_BEDROCK_EMBED_TITAN, /* amazon.titan-embed-text-v1 / -v2:0 */
    CMX_BEDROCK_EMBED_COHERE /* cohere.embed-english-v3, cohere.embed-multilingual-v3 ... */
} cmx_bedrock_embed_family;

cmx_bedrock_embed_family cmx_bedrock_embed_family_of(const char *model);

/* OpenAI embeddings request → the model's body.  Titan embeds one text per
 * request: a list of more than one input is refused with a 400 naming the
 * limit.  Titan takes `dimensions` (v2 only: 256, 512 or 1024) and
 * normalizes; Cohere takes texts with input_type "search_document".
 * *base64 says whether the client asked for encoding_format "base64". */
cmx_err cmx_bedrock_embed_request(cmx_bedrock_embed_family family, const char *body, size_t len,
                                  const cmx_bedrock_options *opt, cmx_buf *out, int *base64,
                                  cmx_error *err);

/* The model's answer → OpenAI's embedding list, vectors as arrays or with
 * `base64` as base64 of little-endian float32s.  Titan counts the input
 * tokens in the body (inputTextTokenCount); Cohere does not, so
 * `header_tokens` (the x-amzn-bedrock-input-token-count header, -1 when
 * absent) is used when the body has no count. */
cmx_err cmx_bedrock_embed_response(cmx_bedrock_embed_family family, const char *body, size_t len,
                                   const char *model, int base64, int64_t header_tokens,
                                   cmx_buf *out, cmx_usage *usage, cmx_error *err);

#endif
