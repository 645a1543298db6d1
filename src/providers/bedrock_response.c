/* bedrock_response.c — a Converse answer as an OpenAI chat.completion, and
 * AWS error types as the router's kinds.
 *
 * The answer is output.message, a list of content blocks: text blocks are
 * joined, toolUse blocks become tool calls whose arguments are the input
 * serialised back to a string, and blocks OpenAI has no place for
 * (reasoningContent, citations) are left out.  Converse counts cached input
 * apart from inputTokens, as Anthropic does, so prompt_tokens adds the cache
 * reads and writes back in and reports the reads as cached_tokens. */
#include "bedrock.h"
#include "provider_error.h"
#include "translate_util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *cmx_bedrock_finish_reason(const char *stop_reason)
{
    static const char *const content_filter[] = {"guardrail_intervened", "content_filtered", NULL};
    return cmx_translate_finish_reason(stop_reason, content_filter);
}

/* AWS's exception names, in headers (x-amzn-ErrorType), bodies (__type)
 * and stream exception messages alike. */
const cmx_error_rule cmx_bedrock_error_rules[] = {
    {"ThrottlingException", CMX_ERR_RATE_LIMITED},
    {"ServiceQuotaExceededException", CMX_ERR_RATE_LIMITED},
    {"ServiceUnavailableException", CMX_ERR_UNAVAILABLE},
    {"ModelNotReadyException", CMX_ERR_UNAVAILABLE},
    {"ModelStreamErrorException", CMX_ERR_UNAVAILABLE},
    {"InternalServerException", CMX_ERR_UNAVAILABLE},
    {"ModelTimeoutException", CMX_ERR_UNAVAILABLE},
    {"ModelErrorException", CMX_ERR_UNAVAILABLE},
    {"AccessDeniedException", CMX_ERR_PROVIDER_AUTH},
    {"UnrecognizedClientException", CMX_ERR_PROVIDER_AUTH},
    {"InvalidSignatureException", CMX_ERR_PROVIDER_AUTH},
    {"ExpiredTokenException", CMX_ERR_PROVIDER_AUTH},
    {"IncompleteSignatureException", CMX_ERR_PROVIDER_AUTH},
    {"MissingAuthenticationTokenException", CMX_ERR_PROVIDER_AUTH},
    {"ValidationException", CMX_ERR_BAD_REQUEST},
    {"ResourceNotFoundException", CMX_ERR_BAD_REQUEST},
    {NULL, CMX_OK},
};

/* How a ValidationException says the prompt is over the model's window. */
const char *const cmx_bedrock_context_phrases[] = {"too long", "too many tokens", "context window",
                                                   "maximum context length", NULL};

size_t cmx_bedrock_error_type_len(const char *type, size_t type_len)
{
    /* x-amzn-ErrorType may carry ":http://internal.amazon.com/..." after the name */
    const char *colon = type && type_len ? memchr(type, ':', type_len) : NULL;
    return colon ? (size_t)(colon - type) : type ? type_len : 0;
}

cmx_err cmx_bedrock_error_kind(const char *type, size_t type_len, const char *message,
                               cmx_err fallback)
{
    cmx_provider_error pe = {
        .type = type,
        .type_len = cmx_bedrock_error_type_len(type, type_len),
        .message = message,
        .rules = cmx_bedrock_error_rules,
        .context_phrases = cmx_bedrock_context_phrases,
    };
    return cmx_provider_error_kind(&pe, fallback);
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    return cmx_translate_protocol_error(err, "bedrock", what);
}

cmx_err cmx_bedrock_translate_response(const char *body, size_t len, const char *id,
                                       const char *model, int64_t created, cmx_buf *out,
                                       cmx_usage *usage, cmx_error *err)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return protocol(err, "a body that is not a JSON object");
    }
    const json_t *content =
        json_object_get(json_object_get(json_object_get(doc, "output"), "message"), "content");
    if (!json_is_array(content)) {
        json_decref(doc);
        return protocol(err, "a body that is not a Converse answer (no output.message.content)");
    }
    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const json_t *t = json_object_get(b, "text");
        const json_t *use = json_object_get(b, "toolUse");
        if (json_is_string(t)) {
            cmx_translate_answer_text(&answer, json_string_value(t), json_string_length(t));
        } else if (json_is_object(use)) {
            cmx_translate_answer_tool_call(&answer, json_object_get(use, "toolUseId"),
                                           json_object_get(use, "name"),
                                           json_object_get(use, "input"));
        }
    }
    cmx_usage tokens;
    cmx_translate_usage(json_object_get(doc, "usage"), "inputTokens", "outputTokens",
                        "cacheReadInputTokens", "cacheWriteInputTokens", &tokens);
    const char *finish =
        cmx_bedrock_finish_reason(json_string_value(json_object_get(doc, "stopReason")));
    cmx_err e = cmx_translate_answer_write(&answer, id ? id : "", model ? model : "", created,
                                           finish, &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_translate_answer_free(&answer);
    json_decref(doc);
    return e;
}
