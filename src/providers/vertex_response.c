/* vertex_response.c — a Gemini GenerateContentResponse as an OpenAI
 * chat.completion, and Google's error answers as the router's kinds.
 *
 * Only the first candidate counts (cloudmux asks for one).  Its text parts
 * are joined, its thought parts (the summaries of the model's thinking,
 * when asked for) are reasoning_content, its functionCall parts become tool
 * calls whose id is made from the response id and the call's position, so
 * the same answer always gets the same ids.  A prompt Gemini blocked, or an
 * answer stopped for safety before any content, is a content_policy error
 * rather than an empty success: the client would otherwise take silence for
 * an answer.  A safety stop after some content is a finish_reason of
 * content_filter, as OpenAI reports it.  The chat.completion itself is
 * written by translate_util's answer builder, as for the other translating
 * providers. */
#include "vertex.h"
#include "provider_error.h"
#include "translate_util.h"

#include <jansson.h>

#include "core/str.h"
#include <stdio.h>
#include <string.h>

const char *cmx_vertex_finish_reason(const char *reason, size_t len)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    if (!reason || CMX_SPAN_IS(reason, len, "FINISH_REASON_UNSPECIFIED"))
        return NULL;
    if (CMX_SPAN_IS(reason, len, "MAX_TOKENS"))
        return "length";
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
        if (strlen(filtered[i]) == len && memcmp(reason, filtered[i], len) == 0)
            return "content_filter";
    return "stop"; /* STOP, OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL ... */
}

void cmx_vertex_read_usage(const cmx_json_doc *doc, int u, cmx_usage *out)
{
    cmx_usage_init(out);
    out->prompt_tokens = cmx_translate_count(doc, u, "promptTokenCount", 0);
    /* thinking tokens are output the client pays for */
    int64_t thoughts = cmx_translate_count(doc, u, "thoughtsTokenCount", -1);
    out->completion_tokens =
        cmx_translate_count(doc, u, "candidatesTokenCount", 0) + (thoughts > 0 ? thoughts : 0);
    out->reasoning_tokens = thoughts;
    out->total_tokens =
        cmx_translate_count(doc, u, "totalTokenCount", out->prompt_tokens + out->completion_tokens);
    out->cached_tokens = cmx_translate_count(doc, u, "cachedContentTokenCount", 0);
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    return cmx_translate_protocol_error(err, "vertex", what);
}

static cmx_err refused(cmx_error *err, const char *what, const cmx_json_doc *doc, int reason)
{
    cmx_error_set(err, CMX_ERR_CONTENT_POLICY, "vertex refused the content: %s (%.*s)", what,
                  (int)(cmx_json_doc_len(doc, reason) > 60 ? 60 : cmx_json_doc_len(doc, reason)),
                  cmx_json_doc_ptr(doc, reason));
    if (err)
        err->status = 400;
    return CMX_ERR_CONTENT_POLICY;
}

void cmx_vertex_call_id(cmx_buf *out, cmx_jw_str response_id, int n)
{
    cmx_buf_append_str(out, "call_");
    if (response_id.escaped)
        cmx_buf_append(out, response_id.s, response_id.len);
    else
        cmx_buf_append_json_escaped(out, response_id.s, response_id.len);
    cmx_buf_printf(out, "_%d", n);
}

int cmx_vertex_is_text_part(const cmx_json_doc *doc, int part)
{
    return cmx_json_doc_get_typed(doc, part, CMX_LIT("text"), CMX_JSON_STRING) >= 0 &&
           cmx_json_doc_type(doc, CMX_JSON_GET(doc, part, "thought")) != CMX_JSON_TRUE;
}

int cmx_vertex_is_thought_part(const cmx_json_doc *doc, int part)
{
    return cmx_json_doc_get_typed(doc, part, CMX_LIT("text"), CMX_JSON_STRING) >= 0 &&
           cmx_json_doc_type(doc, CMX_JSON_GET(doc, part, "thought")) == CMX_JSON_TRUE;
}

/* The first candidate's parts into the answer; tool calls get ids made of
 * the response id and their position. */
static void read_parts(const cmx_json_doc *doc, int parts, cmx_jw_str rid,
                       cmx_translate_answer *answer)
{
    cmx_buf id = CMX_BUF_INIT;
    CMX_JSON_EACH(doc, parts, p)
    {
        int fc = cmx_json_doc_get_typed(doc, p, CMX_LIT("functionCall"), CMX_JSON_OBJECT);
        if (cmx_vertex_is_text_part(doc, p)) {
            cmx_translate_answer_text(answer, doc, CMX_JSON_GET(doc, p, "text"));
        } else if (cmx_vertex_is_thought_part(doc, p)) {
            cmx_translate_answer_reasoning(answer, cmx_translate_str(doc, p, "text"));
        } else if (fc >= 0) {
            cmx_buf_reset(&id);
            cmx_vertex_call_id(&id, rid, (int)answer->n_calls);
            cmx_translate_answer_signed_tool_call(
                answer, CMX_JW_ESC(id.data ? id.data : "", id.len),
                cmx_translate_str(doc, fc, "name"), doc, CMX_JSON_GET(doc, fc, "args"),
                cmx_translate_str(doc, p, "thoughtSignature"));
        }
    }
    if (cmx_buf_failed(&id))
        answer->calls.failed = 1;
    cmx_buf_free(&id);
}

static cmx_err write_answer(const cmx_json_doc *doc, int cand, int64_t created, const char *model,
                            cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    int reason = cmx_json_doc_get_typed(doc, cand, CMX_LIT("finishReason"), CMX_JSON_STRING);
    const char *finish = reason < 0 ? NULL
                                    : cmx_vertex_finish_reason(cmx_json_doc_ptr(doc, reason),
                                                               cmx_json_doc_len(doc, reason));
    cmx_jw_str rid = cmx_translate_str(doc, 0, "responseId");
    if (!rid.len)
        rid = CMX_JW_ESC("vertex", 6);
    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    read_parts(doc, CMX_JSON_GET(doc, CMX_JSON_GET(doc, cand, "content"), "parts"), rid, &answer);
    if (!answer.has_text && answer.n_calls == 0 && finish &&
        strcmp(finish, "content_filter") == 0) {
        cmx_translate_answer_free(&answer);
        return refused(err, "the answer was withheld", doc, reason);
    }
    if (answer.n_calls && (!finish || strcmp(finish, "stop") == 0))
        finish = "tool_calls";
    cmx_usage tokens;
    cmx_vertex_read_usage(doc, CMX_JSON_GET(doc, 0, "usageMetadata"), &tokens);
    cmx_jw_str mv = cmx_translate_str(doc, 0, "modelVersion");
    cmx_buf cid = CMX_BUF_INIT;
    cmx_buf_append_str(&cid, "chatcmpl-");
    cmx_buf_append(&cid, rid.s, rid.len);
    cmx_err e = cmx_buf_failed(&cid)
                    ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory")
                    : cmx_translate_answer_write(&answer, CMX_JW_ESC(cid.data, cid.len),
                                                 mv.len ? mv : cmx_jw_cstr(model), created, finish,
                                                 &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_buf_free(&cid);
    cmx_translate_answer_free(&answer);
    return e;
}

cmx_err cmx_vertex_translate_response(const char *body, size_t len, int64_t created,
                                      const char *model, cmx_buf *out, cmx_usage *usage,
                                      cmx_error *err)
{
    cmx_json_doc doc;
    cmx_err e = cmx_translate_read_body(&doc, body, len, "vertex", err);
    if (e != CMX_OK) {
        cmx_json_doc_release(&doc);
        return e;
    }
    int cands = CMX_JSON_GET(&doc, 0, "candidates");
    int block = cmx_json_doc_get_typed(&doc, CMX_JSON_GET(&doc, 0, "promptFeedback"),
                                       CMX_LIT("blockReason"), CMX_JSON_STRING);
    int cand = cmx_json_doc_type(&doc, cands) == CMX_JSON_ARRAY &&
                       cands + 1 < cmx_json_doc_next(&doc, cands)
                   ? cands + 1
                   : -1;
    if (block >= 0 && cand < 0)
        e = refused(err, "the prompt was blocked", &doc, block);
    else if (cand < 0 || cmx_json_doc_type(&doc, cand) != CMX_JSON_OBJECT)
        e = protocol(err, "a response without candidates");
    else
        e = write_answer(&doc, cand, created, model, out, usage, err);
    cmx_json_doc_release(&doc);
    return e;
}

/* Google's canonical error statuses that say more than the HTTP status;
 * Claude on Vertex answers with Anthropic's error types instead. */
static const cmx_error_rule google_rules[] = {
    {"RESOURCE_EXHAUSTED", CMX_ERR_RATE_LIMITED},
    {"UNAVAILABLE", CMX_ERR_UNAVAILABLE},
    {"UNAUTHENTICATED", CMX_ERR_PROVIDER_AUTH},
    {"PERMISSION_DENIED", CMX_ERR_PROVIDER_AUTH},
    {"overloaded_error", CMX_ERR_UNAVAILABLE},
    {"rate_limit_error", CMX_ERR_RATE_LIMITED},
    {NULL, CMX_OK},
};

static const char *const token_limit_phrases[] = {"exceeds the maximum number of tokens",
                                                  "input token count",
                                                  "context window",
                                                  "too many tokens",
                                                  "prompt is too long",
                                                  NULL};

cmx_err cmx_vertex_error_kind(int status, const char *body, size_t len, const char *provider_name,
                              uint32_t retry_after_ms, cmx_error *err)
{
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    const json_t *obj = json_is_array(root) ? json_array_get(root, 0) : root;
    const json_t *e = json_object_get(obj, "error");
    const char *type = json_string_value(json_object_get(e, "status"));
    if (!type) /* Claude's errors */
        type = json_string_value(json_object_get(e, "type"));
    cmx_provider_error pe = {
        .provider = provider_name ? provider_name : "vertex",
        .provider_type = "vertex",
        .status = status,
        .type = type,
        .type_len = type ? strlen(type) : 0,
        .message = json_string_value(json_object_get(e, "message")),
        .rules = google_rules,
        .context_phrases = token_limit_phrases,
        .retry_after_ms = retry_after_ms,
    };
    cmx_err kind = cmx_provider_error_set(&pe, err);
    json_decref(root);
    return kind;
}
