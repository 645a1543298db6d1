/* anthropic_response.c — an Anthropic message as an OpenAI chat.completion.
 *
 * A message is a list of content blocks; a completion is one choice with a
 * text and a list of tool calls.  Text blocks are joined, tool_use blocks
 * become tool calls whose arguments are the input serialised back to a
 * string, and blocks OpenAI has no place for (thinking, server tools) are
 * left out.  Prompt tokens in OpenAI's sense include the cached ones, which
 * Anthropic counts apart, so the three input counts are added up and the
 * cache reads reported as prompt_tokens_details.cached_tokens. */
#include "anthropic.h"

#include <jansson.h>
#include <string.h>

const char *cmx_anthropic_finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return NULL;
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn and whatever comes next */
}

static int64_t count(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "anthropic answered 200 with %s", what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_anthropic_translate_response(const char *body, size_t len, int64_t created,
                                         cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    json_t *msg = json_loadb(body, len, 0, NULL);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return protocol(err, "a body that is not a JSON object");
    }
    const json_t *content = json_object_get(msg, "content");
    const char *id = json_string_value(json_object_get(msg, "id"));
    const char *model = json_string_value(json_object_get(msg, "model"));
    if (!json_is_array(content) || !id) {
        json_decref(msg);
        return protocol(err, "a body that is not a message (no id or content)");
    }
    cmx_buf text = CMX_BUF_INIT;
    int has_text = 0;
    json_t *calls = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(b, "text");
            cmx_buf_append(&text, json_string_value(t) ? json_string_value(t) : "",
                           json_string_length(t));
            has_text = 1;
        } else if (strcmp(type, "tool_use") == 0) {
            const json_t *input = json_object_get(b, "input");
            char *args = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_array_append_new(calls, json_pack("{s:O?,s:s,s:{s:O?,s:s}}", "id",
                                                   json_object_get(b, "id"), "type", "function",
                                                   "function", "name", json_object_get(b, "name"),
                                                   "arguments", args ? args : "{}"));
            free(args);
        }
    }
    const json_t *u = json_object_get(msg, "usage");
    cmx_usage tokens;
    cmx_usage_init(&tokens);
    int64_t cache_read = count(u, "cache_read_input_tokens");
    tokens.prompt_tokens =
        count(u, "input_tokens") + cache_read + count(u, "cache_creation_input_tokens");
    tokens.completion_tokens = count(u, "output_tokens");
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
        cmx_anthropic_finish_reason(json_string_value(json_object_get(msg, "stop_reason")));
    json_t *completion = json_pack(
        "{s:s,s:s,s:I,s:s?,s:[{s:i,s:o,s:n,s:s?}],s:{s:I,s:I,s:I,s:{s:I}}}", "id", id, "object",
        "chat.completion", "created", (json_int_t)created, "model", model, "choices", "index", 0,
        "message", message, "logprobs", "finish_reason", finish ? finish : "stop", "usage",
        "prompt_tokens", (json_int_t)tokens.prompt_tokens, "completion_tokens",
        (json_int_t)tokens.completion_tokens, "total_tokens", (json_int_t)tokens.total_tokens,
        "prompt_tokens_details", "cached_tokens", (json_int_t)cache_read);
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
    json_decref(msg);
    return e;
}
