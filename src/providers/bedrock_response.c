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

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *cmx_bedrock_finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return NULL;
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "guardrail_intervened") == 0 ||
        strcmp(stop_reason, "content_filtered") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence and whatever comes next */
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

static int64_t count(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "bedrock answered 200 with %s", what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
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
    cmx_buf text = CMX_BUF_INIT;
    int has_text = 0;
    json_t *calls = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const json_t *t = json_object_get(b, "text");
        const json_t *use = json_object_get(b, "toolUse");
        if (json_is_string(t)) {
            cmx_buf_append(&text, json_string_value(t), json_string_length(t));
            has_text = 1;
        } else if (json_is_object(use)) {
            const json_t *input = json_object_get(use, "input");
            char *args = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_array_append_new(
                calls, json_pack("{s:O?,s:s,s:{s:O?,s:s}}", "id", json_object_get(use, "toolUseId"),
                                 "type", "function", "function", "name",
                                 json_object_get(use, "name"), "arguments", args ? args : "{}"));
            free(args);
        }
    }
    const json_t *u = json_object_get(doc, "usage");
    cmx_usage tokens;
    cmx_usage_init(&tokens);
    int64_t cache_read = count(u, "cacheReadInputTokens");
    tokens.prompt_tokens = count(u, "inputTokens") + cache_read + count(u, "cacheWriteInputTokens");
    tokens.completion_tokens = count(u, "outputTokens");
    tokens.total_tokens = tokens.prompt_tokens + tokens.completion_tokens;
    tokens.cached_tokens = cache_read;

    json_t *message = json_pack("{s:s}", "role", "assistant");
    if (has_text || json_array_size(calls) == 0)
        json_object_set_new(message, "content", json_stringn(text.data ? text.data : "", text.len));
    else
        json_object_set_new(message, "content", json_null());
    if (json_array_size(calls))
        json_object_set(message, "tool_calls", calls);
    json_object_set_new(message, "refusal", json_null());
    const char *finish =
        cmx_bedrock_finish_reason(json_string_value(json_object_get(doc, "stopReason")));
    json_t *completion = json_pack(
        "{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:{s:I,s:I,s:I,s:{s:I}}}", "id", id ? id : "",
        "object", "chat.completion", "created", (json_int_t)created, "model", model ? model : "",
        "choices", "index", 0, "message", message, "logprobs", "finish_reason",
        finish ? finish : "stop", "usage", "prompt_tokens", (json_int_t)tokens.prompt_tokens,
        "completion_tokens", (json_int_t)tokens.completion_tokens, "total_tokens",
        (json_int_t)tokens.total_tokens, "prompt_tokens_details", "cached_tokens",
        (json_int_t)cache_read);
    cmx_err e = CMX_OK;
    char *s = completion ? json_dumps(completion, JSON_COMPACT) : NULL;
    if (!s || cmx_buf_append_str(out, s) != 0)
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    free(s);
    if (usage && e == CMX_OK)
        *usage = tokens;
    json_decref(completion);
    json_decref(calls);
    cmx_buf_free(&text);
    json_decref(doc);
    return e;
}
