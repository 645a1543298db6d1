/* bedrock_response.c — a Converse answer as an OpenAI chat.completion, and
 * AWS error types as the router's kinds.
 *
 * The answer is output.message, a list of content blocks: text blocks are
 * joined, toolUse blocks become tool calls whose arguments are the input
 * serialised back to a string (the forced tool of a structured answer: its
 * input is the content), reasoningContent blocks become reasoning_content
 * and thinking_blocks (signatures kept), and blocks OpenAI has no place for
 * (citations) are left out.  Converse counts cached input
 * apart from inputTokens, as Anthropic does, so prompt_tokens adds the cache
 * reads and writes back in and reports the reads as cached_tokens. */
#include "bedrock.h"
#include "provider_error.h"
#include "translate_util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *cmx_bedrock_finish_reason_of(const char *stop_reason, size_t len)
{
    static const char *const content_filter[] = {"guardrail_intervened", "content_filtered", NULL};
    return cmx_translate_finish_reason(stop_reason, len, content_filter);
}

const char *cmx_bedrock_finish_reason(const char *stop_reason)
{
    return cmx_bedrock_finish_reason_of(stop_reason, stop_reason ? strlen(stop_reason) : 0);
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

/* A reasoningContent block into the answer. */
static void read_reasoning(const cmx_json_doc *doc, int rc, cmx_translate_answer *answer)
{
    int text = cmx_json_doc_get_typed(doc, rc, CMX_LIT("reasoningText"), CMX_JSON_OBJECT);
    int redacted = cmx_json_doc_get_typed(doc, rc, CMX_LIT("redactedContent"), CMX_JSON_STRING);
    if (text >= 0)
        cmx_translate_answer_thinking(answer, 0, cmx_translate_str(doc, text, "text"),
                                      cmx_translate_str(doc, text, "signature"));
    else if (redacted >= 0)
        cmx_translate_answer_thinking(answer, 1, CMX_JW_ESC("", 0),
                                      cmx_translate_str(doc, rc, "redactedContent"));
}

/* output.message.content's blocks into the answer. */
static void read_blocks(const cmx_json_doc *doc, int content, const cmx_answer_plan *plan,
                        cmx_translate_answer *answer)
{
    CMX_JSON_EACH(doc, content, b)
    {
        int t = cmx_json_doc_get_typed(doc, b, CMX_LIT("text"), CMX_JSON_STRING);
        int use = cmx_json_doc_get_typed(doc, b, CMX_LIT("toolUse"), CMX_JSON_OBJECT);
        int rc = cmx_json_doc_get_typed(doc, b, CMX_LIT("reasoningContent"), CMX_JSON_OBJECT);
        if (t >= 0)
            cmx_translate_answer_text(answer, doc, t);
        else if (rc >= 0)
            read_reasoning(doc, rc, answer);
        else if (use >= 0 && plan && plan->json_tool[0] &&
                 cmx_json_doc_string_is(doc, CMX_JSON_GET(doc, use, "name"), plan->json_tool,
                                        strlen(plan->json_tool)))
            cmx_translate_answer_json(answer, doc, CMX_JSON_GET(doc, use, "input"));
        else if (use >= 0)
            cmx_translate_answer_tool_call(answer, cmx_translate_str(doc, use, "toolUseId"),
                                           cmx_translate_str(doc, use, "name"), doc,
                                           CMX_JSON_GET(doc, use, "input"));
    }
}

cmx_err cmx_bedrock_translate_response(const char *body, size_t len, const char *id,
                                       const char *model, int64_t created,
                                       const cmx_answer_plan *plan, cmx_buf *out, cmx_usage *usage,
                                       cmx_error *err)
{
    cmx_json_doc doc;
    cmx_err e = cmx_translate_read_body(&doc, body, len, "bedrock", err);
    int content = e == CMX_OK
                      ? cmx_json_doc_get_typed(
                            &doc, CMX_JSON_GET(&doc, CMX_JSON_GET(&doc, 0, "output"), "message"),
                            CMX_LIT("content"), CMX_JSON_ARRAY)
                      : -1;
    if (e == CMX_OK && content < 0)
        e = cmx_translate_protocol_error(
            err, "bedrock", "a body that is not a Converse answer (no output.message.content)");
    if (e != CMX_OK) {
        cmx_json_doc_release(&doc);
        return e;
    }
    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    read_blocks(&doc, content, plan, &answer);
    cmx_usage tokens;
    int u = CMX_JSON_GET(&doc, 0, "usage");
    cmx_translate_usage(&doc, u, "inputTokens", "outputTokens", "cacheReadInputTokens",
                        "cacheWriteInputTokens", &tokens);
    tokens.cache_write_1h_tokens = cmx_converse_cache_1h(&doc, u, -1);
    int stop = cmx_json_doc_get_typed(&doc, 0, CMX_LIT("stopReason"), CMX_JSON_STRING);
    const char *finish = stop < 0 ? NULL
                                  : cmx_bedrock_finish_reason_of(cmx_json_doc_ptr(&doc, stop),
                                                                 cmx_json_doc_len(&doc, stop));
    if (plan && plan->json_object && (!finish || strcmp(finish, "stop") == 0))
        e = cmx_translate_answer_require_object(&answer, "bedrock", err);
    if (e == CMX_OK)
        e = cmx_translate_answer_write(&answer, cmx_jw_cstr(id), cmx_jw_cstr(model), created,
                                       finish, &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_translate_answer_free(&answer);
    cmx_json_doc_release(&doc);
    return e;
}
