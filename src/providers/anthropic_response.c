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
#include "provider_error.h"
#include "translate_util.h"

#include <jansson.h>
#include <string.h>

const cmx_error_rule cmx_anthropic_error_rules[] = {
    {"overloaded_error", CMX_ERR_UNAVAILABLE},
    {"rate_limit_error", CMX_ERR_RATE_LIMITED},
    {NULL, CMX_OK},
};

const char *const cmx_anthropic_context_phrases[] = {"prompt is too long", NULL};

const char *cmx_anthropic_finish_reason(const char *stop_reason)
{
    /* end_turn, stop_sequence and pause_turn are "stop" */
    static const char *const content_filter[] = {"refusal", NULL};
    return cmx_translate_finish_reason(stop_reason, content_filter);
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    return cmx_translate_protocol_error(err, "anthropic", what);
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
    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(b, "text");
            cmx_translate_answer_text(&answer, json_string_value(t), json_string_length(t));
        } else if (strcmp(type, "tool_use") == 0) {
            cmx_translate_answer_tool_call(&answer, json_object_get(b, "id"),
                                           json_object_get(b, "name"), json_object_get(b, "input"));
        }
    }
    cmx_usage tokens;
    cmx_translate_usage(json_object_get(msg, "usage"), "input_tokens", "output_tokens",
                        "cache_read_input_tokens", "cache_creation_input_tokens", &tokens);
    const char *finish =
        cmx_anthropic_finish_reason(json_string_value(json_object_get(msg, "stop_reason")));
    cmx_err e = cmx_translate_answer_write(&answer, id, model, created, finish, &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_translate_answer_free(&answer);
    json_decref(msg);
    return e;
}
