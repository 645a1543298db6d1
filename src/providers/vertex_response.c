/* vertex_response.c — a Gemini GenerateContentResponse as an OpenAI
 * chat.completion, and Google's error answers as the router's kinds.
 *
 * Only the first candidate counts (cloudmux asks for one).  Its text parts
 * are joined (thought parts left out), its functionCall parts become tool
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
#include <stdio.h>
#include <string.h>

const char *cmx_vertex_finish_reason(const char *reason)
{
    if (!reason || strcmp(reason, "FINISH_REASON_UNSPECIFIED") == 0)
        return NULL;
    if (strcmp(reason, "MAX_TOKENS") == 0)
        return "length";
    if (strcmp(reason, "SAFETY") == 0 || strcmp(reason, "RECITATION") == 0 ||
        strcmp(reason, "BLOCKLIST") == 0 || strcmp(reason, "PROHIBITED_CONTENT") == 0 ||
        strcmp(reason, "SPII") == 0 || strcmp(reason, "IMAGE_SAFETY") == 0)
        return "content_filter";
    return "stop"; /* STOP, OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL ... */
}

static int64_t count(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void read_usage(const json_t *u, cmx_usage *out)
{
    cmx_usage_init(out);
    out->prompt_tokens = count(u, "promptTokenCount");
    /* thinking tokens are output the client pays for */
    out->completion_tokens = count(u, "candidatesTokenCount") + count(u, "thoughtsTokenCount");
    out->total_tokens = json_is_integer(json_object_get(u, "totalTokenCount"))
                            ? count(u, "totalTokenCount")
                            : out->prompt_tokens + out->completion_tokens;
    out->cached_tokens = count(u, "cachedContentTokenCount");
}

static cmx_err protocol(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "vertex answered 200 with %s", what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

static cmx_err refused(cmx_error *err, const char *what, const char *reason)
{
    cmx_error_set(err, CMX_ERR_CONTENT_POLICY, "vertex refused the content: %s (%.60s)", what,
                  reason);
    if (err)
        err->status = 400;
    return CMX_ERR_CONTENT_POLICY;
}

cmx_err cmx_vertex_translate_response(const char *body, size_t len, int64_t created,
                                      const char *model, cmx_buf *out, cmx_usage *usage,
                                      cmx_error *err)
{
    json_t *r = json_loadb(body, len, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        return protocol(err, "a body that is not a JSON object");
    }
    const json_t *cands = json_object_get(r, "candidates");
    const char *block =
        json_string_value(json_object_get(json_object_get(r, "promptFeedback"), "blockReason"));
    if (block && json_array_size(cands) == 0) {
        cmx_err e = refused(err, "the prompt was blocked", block);
        json_decref(r);
        return e;
    }
    const json_t *cand = json_array_get(cands, 0);
    if (!json_is_object(cand)) {
        json_decref(r);
        return protocol(err, "a response without candidates");
    }
    const char *reason = json_string_value(json_object_get(cand, "finishReason"));
    const char *finish = cmx_vertex_finish_reason(reason);
    const char *rid = json_string_value(json_object_get(r, "responseId"));
    const json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");

    cmx_translate_answer answer;
    cmx_translate_answer_init(&answer);
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        const json_t *t = json_object_get(p, "text");
        const json_t *fc = json_object_get(p, "functionCall");
        if (json_is_string(t) && !json_is_true(json_object_get(p, "thought"))) {
            cmx_translate_answer_text(&answer, json_string_value(t), json_string_length(t));
        } else if (json_is_object(fc)) {
            char id[200];
            snprintf(id, sizeof id, "call_%.150s_%zu", rid ? rid : "vertex",
                     json_array_size(answer.calls));
            json_t *idv = json_string(id);
            if (idv) /* an id cut inside a UTF-8 sequence: the call is left out, as before */
                cmx_translate_answer_tool_call(&answer, idv, json_object_get(fc, "name"),
                                               json_object_get(fc, "args"));
            json_decref(idv);
        }
    }
    if (!answer.has_text && json_array_size(answer.calls) == 0 && finish &&
        strcmp(finish, "content_filter") == 0) {
        cmx_err e = refused(err, "the answer was withheld", reason);
        cmx_translate_answer_free(&answer);
        json_decref(r);
        return e;
    }
    if (json_array_size(answer.calls) && (!finish || strcmp(finish, "stop") == 0))
        finish = "tool_calls";

    cmx_usage tokens;
    read_usage(json_object_get(r, "usageMetadata"), &tokens);
    const char *mv = json_string_value(json_object_get(r, "modelVersion"));
    char cid[200];
    snprintf(cid, sizeof cid, "chatcmpl-%.150s", rid ? rid : "vertex");
    cmx_err e = cmx_translate_answer_write(&answer, cid, mv ? mv : (model ? model : ""), created,
                                           finish, &tokens, out, err);
    if (usage && e == CMX_OK)
        *usage = tokens;
    cmx_translate_answer_free(&answer);
    json_decref(r);
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
