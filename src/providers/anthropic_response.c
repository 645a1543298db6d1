/* anthropic_response.c — an Anthropic message as an OpenAI chat.completion.
 *
 * A message is a list of content blocks; a completion is one choice with a
 * text and a list of tool calls.  Text blocks are joined, tool_use blocks
 * become tool calls whose arguments are the input serialised back to a
 * string, except the forced tool that carried a structured answer, whose
 * input is the content; thinking and redacted_thinking blocks become
 * reasoning_content and thinking_blocks (signatures kept, so the
 * conversation can send them back); blocks OpenAI has no place for (server
 * tools) are left out.  Prompt tokens in OpenAI's sense include the cached ones, which
 * Anthropic counts apart, so the three input counts are added up and the
 * cache reads reported as prompt_tokens_details.cached_tokens.
 *
 * The message is read by token scan and the completion written with the
 * JSON writer: the texts are copied as Anthropic escaped them. */
#include "anthropic.h"
#include "provider_error.h"
#include "translate_util.h"

#include <string.h>

const cmx_error_rule cmx_anthropic_error_rules[] = {
    {"overloaded_error", CMX_ERR_UNAVAILABLE},
    {"rate_limit_error", CMX_ERR_RATE_LIMITED},
    {NULL, CMX_OK},
};

const char *const cmx_anthropic_context_phrases[] = {"prompt is too long", NULL};

const char *cmx_anthropic_finish_reason(const char *stop_reason, size_t len)
{
    /* end_turn, stop_sequence and pause_turn are "stop" */
    static const char *const content_filter[] = {"refusal", NULL};
    return cmx_translate_finish_reason(stop_reason, len, content_filter);
}

/* Whether a tool_use block is the forced tool of a structured answer. */
static int is_json_tool(const cmx_json_doc *doc, int block, const cmx_answer_plan *plan)
{
    return plan && plan->json_tool[0] &&
           cmx_json_doc_string_is(doc, CMX_JSON_GET(doc, block, "name"), plan->json_tool,
                                  strlen(plan->json_tool));
}

/* The message's content blocks into the answer. */
static void read_blocks(const cmx_json_doc *doc, int content, const cmx_answer_plan *plan,
                        cmx_translate_answer *answer)
{
    CMX_JSON_EACH(doc, content, b)
    {
        int type = cmx_json_doc_get_typed(doc, b, CMX_LIT("type"), CMX_JSON_STRING);
        if (CMX_JSON_STRING_IS(doc, type, "text")) {
            int t = cmx_json_doc_get_typed(doc, b, CMX_LIT("text"), CMX_JSON_STRING);
            if (t >= 0)
                cmx_translate_answer_text(answer, doc, t);
            else
                answer->has_text = 1;
        } else if (CMX_JSON_STRING_IS(doc, type, "tool_use") && is_json_tool(doc, b, plan)) {
            cmx_translate_answer_json(answer, doc, CMX_JSON_GET(doc, b, "input"));
        } else if (CMX_JSON_STRING_IS(doc, type, "tool_use")) {
            cmx_translate_answer_tool_call(answer, cmx_translate_str(doc, b, "id"),
                                           cmx_translate_str(doc, b, "name"), doc,
                                           CMX_JSON_GET(doc, b, "input"));
        } else if (CMX_JSON_STRING_IS(doc, type, "thinking")) {
            cmx_translate_answer_thinking(answer, 0, cmx_translate_str(doc, b, "thinking"),
                                          cmx_translate_str(doc, b, "signature"));
        } else if (CMX_JSON_STRING_IS(doc, type, "redacted_thinking")) {
            cmx_translate_answer_thinking(answer, 1, CMX_JW_ESC("", 0),
                                          cmx_translate_str(doc, b, "data"));
        }
    }
}

cmx_err cmx_anthropic_translate_response(const char *body, size_t len, int64_t created,
                                         const cmx_answer_plan *plan, cmx_buf *out,
                                         cmx_usage *usage, cmx_error *err)
{
    cmx_json_doc doc;
    cmx_err e = cmx_translate_read_body(&doc, body, len, "anthropic", err);
    int content =
        e == CMX_OK ? cmx_json_doc_get_typed(&doc, 0, CMX_LIT("content"), CMX_JSON_ARRAY) : -1;
    int id = e == CMX_OK ? cmx_json_doc_get_typed(&doc, 0, CMX_LIT("id"), CMX_JSON_STRING) : -1;
    if (e == CMX_OK && (content < 0 || id < 0))
        e = cmx_translate_protocol_error(err, "anthropic",
                                         "a body that is not a message (no id or content)");
    if (e != CMX_OK) {
        cmx_json_doc_release(&doc);
        return e;
    }
    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    read_blocks(&doc, content, plan, &answer);
    cmx_usage tokens;
    int u = CMX_JSON_GET(&doc, 0, "usage");
    cmx_translate_usage(&doc, u, "input_tokens", "output_tokens", "cache_read_input_tokens",
                        "cache_creation_input_tokens", &tokens);
    tokens.cache_write_1h_tokens = cmx_anthropic_cache_1h(&doc, u, -1);
    int stop = cmx_json_doc_get_typed(&doc, 0, CMX_LIT("stop_reason"), CMX_JSON_STRING);
    const char *finish = stop < 0 ? NULL
                                  : cmx_anthropic_finish_reason(cmx_json_doc_ptr(&doc, stop),
                                                                cmx_json_doc_len(&doc, stop));
    int model = cmx_json_doc_get_typed(&doc, 0, CMX_LIT("model"), CMX_JSON_STRING);
    /* a cut answer is what it is (finish_reason "length"); a whole one must be the object */
    if (plan && plan->json_object && (!finish || strcmp(finish, "stop") == 0))
        e = cmx_translate_answer_require_object(&answer, "anthropic", err);
    if (e == CMX_OK)
        e = cmx_translate_answer_write(
            &answer, CMX_JW_ESC(cmx_json_doc_ptr(&doc, id), cmx_json_doc_len(&doc, id)),
            model < 0 ? CMX_JW_ESC(NULL, 0)
                      : CMX_JW_ESC(cmx_json_doc_ptr(&doc, model), cmx_json_doc_len(&doc, model)),
            created, finish, &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_translate_answer_free(&answer);
    cmx_json_doc_release(&doc);
    return e;
}
