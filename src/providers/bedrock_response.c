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

static int type_is(const char *type, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len == n && strncasecmp(type, name, n) == 0;
}

cmx_err cmx_bedrock_error_kind(const char *type, size_t type_len, const char *message,
                               cmx_err fallback)
{
    if (!type)
        type_len = 0;
    /* x-amzn-ErrorType may carry ":http://internal.amazon.com/..." after the name */
    const char *colon = type_len ? memchr(type, ':', type_len) : NULL;
    if (colon)
        type_len = (size_t)(colon - type);
    if (type_is(type, type_len, "ThrottlingException") ||
        type_is(type, type_len, "ServiceQuotaExceededException"))
        return CMX_ERR_RATE_LIMITED;
    if (type_is(type, type_len, "ServiceUnavailableException") ||
        type_is(type, type_len, "ModelNotReadyException") ||
        type_is(type, type_len, "ModelStreamErrorException") ||
        type_is(type, type_len, "InternalServerException") ||
        type_is(type, type_len, "ModelTimeoutException") ||
        type_is(type, type_len, "ModelErrorException"))
        return CMX_ERR_UNAVAILABLE;
    if (type_is(type, type_len, "AccessDeniedException") ||
        type_is(type, type_len, "UnrecognizedClientException") ||
        type_is(type, type_len, "InvalidSignatureException") ||
        type_is(type, type_len, "ExpiredTokenException") ||
        type_is(type, type_len, "IncompleteSignatureException") ||
        type_is(type, type_len, "MissingAuthenticationTokenException"))
        return CMX_ERR_PROVIDER_AUTH;
    if (type_is(type, type_len, "ValidationException")) {
        if (message && (strcasestr(message, "too long") || strcasestr(message, "too many tokens") ||
                        strcasestr(message, "context window") ||
                        strcasestr(message, "maximum context length")))
            return CMX_ERR_CONTEXT_WINDOW;
        return CMX_ERR_BAD_REQUEST;
    }
    if (type_is(type, type_len, "ResourceNotFoundException"))
        return CMX_ERR_BAD_REQUEST;
    return fallback;
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
