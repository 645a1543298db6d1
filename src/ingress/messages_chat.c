/* messages_chat.c — an Anthropic Messages request as a chat completion,
 * and a chat.completion as a Messages message, for the targets that do not
 * speak the Messages API (openai, azure, mock, Gemini, Converse).
 *
 * The request is written from the checked tokens (messages_check.c),
 * copying the client's bytes wherever the two formats agree: texts, tool
 * ids and names, schemas, numbers.  Where they differ:
 *   - system blocks become one system message;
 *   - a user turn's tool_result blocks become tool messages ahead of what
 *     else the turn says (chat wants them right after the assistant's
 *     calls), their images a user message after them;
 *   - an assistant turn's text blocks become its content, its tool_use
 *     blocks its tool_calls (the input as the arguments string);
 *   - images become image_url parts (a data: URL for base64 sources), text
 *     documents text parts;
 *   - tool_choice any → required, tool → a named function,
 *     disable_parallel_tool_use → parallel_tool_calls: false;
 *   - metadata.user_id → user, stop_sequences → stop.
 * thinking blocks and settings, top_k, cache_control and is_error have no
 * chat form and change nothing a chat model can use: they are dropped and
 * named.  PDF documents, file references, Anthropic's server tools and
 * fields the chat form does not have are refused by name. */
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include "core/error_json.h"

#include <stdio.h>
#include <string.h>

typedef struct conv {
    const cmx_json_doc *doc;
    cmx_buf *out;
    cmx_buf *dropped;
    cmx_error *err;
    cmx_arena *arena;
    int first_message; /* no message written yet (no comma needed) */
} conv;

#define CLAUDE_ONLY "send it to a Claude target (anthropic, or Claude on bedrock or vertex)"

static void begin_message(conv *c, const char *role)
{
    cmx_buf_append_str(c->out, c->first_message ? "{\"role\":\"" : ",{\"role\":\"");
    cmx_buf_append_str(c->out, role);
    cmx_buf_append(c->out, CMX_LIT("\""));
    c->first_message = 0;
}

/* ---- system ------------------------------------------------------------- */

static void write_system(conv *c, int v)
{
    const cmx_json_doc *d = c->doc;
    if (v < 0)
        return;
    begin_message(c, "system");
    cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
    if (cmx_jd_type(d, v) == CMX_JSON_STRING) {
        cmx_jw_copy(c->out, d, v);
    } else {
        cmx_buf_append(c->out, CMX_LIT("["));
        int first = 1;
        CMX_JD_EACH_ELEMENT(d, v, b)
        {
            if (CMX_JD_MEMBER(d, b, "cache_control") >= 0)
                cmx_ingress_note(c->dropped, "cache_control");
            cmx_buf_append_str(c->out, first ? "{\"type\":\"text\",\"text\":"
                                             : ",{\"type\":\"text\",\"text\":");
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, b, "text"));
            cmx_buf_append(c->out, CMX_LIT("}"));
            first = 0;
        }
        cmx_buf_append(c->out, CMX_LIT("]"));
    }
    cmx_buf_append(c->out, CMX_LIT("}"));
}

/* ---- content ------------------------------------------------------------ */

static cmx_err refuse_block(conv *c, const char *where, int b, const char *why)
{
    char name[48];
    const char *shown;
    long n = cmx_json_doc_key(c->doc, CMX_JD_MEMBER(c->doc, b, "type"), name, sizeof name, &shown);
    return cmx_error_set(c->err, CMX_ERR_BAD_REQUEST, "%s: a '%.*s' block %s", where,
                         n < 0 ? 0 : (int)n, n < 0 ? "" : shown, why);
}

/* An image block as an image_url part; *written 0 for a source chat cannot take. */
static cmx_err image_part(conv *c, int b, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int src = CMX_JD_MEMBER(d, b, "source");
    int t = CMX_JD_MEMBER(d, src, "type");
    cmx_buf_append(c->out, CMX_LIT("{\"type\":\"image_url\",\"image_url\":{\"url\":"));
    if (CMX_JD_IS(d, t, "base64")) {
        cmx_buf_append(c->out, CMX_LIT("\"data:"));
        cmx_jw_inner(c->out, d, CMX_JD_MEMBER(d, src, "media_type"));
        cmx_buf_append(c->out, CMX_LIT(";base64,"));
        cmx_jw_inner(c->out, d, CMX_JD_MEMBER(d, src, "data"));
        cmx_buf_append(c->out, CMX_LIT("\""));
    } else if (CMX_JD_IS(d, t, "url")) {
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, src, "url"));
    } else {
        return refuse_block(c, where, b,
                            "with a file source has no chat completions form; " CLAUDE_ONLY);
    }
    cmx_buf_append(c->out, CMX_LIT("}}"));
    return CMX_OK;
}

/* A user turn's own content (not its tool results) as chat parts. */
static cmx_err user_part(conv *c, int b, const char *where, int *first)
{
    const cmx_json_doc *d = c->doc;
    int t = CMX_JD_MEMBER(d, b, "type");
    if (CMX_JD_MEMBER(d, b, "cache_control") >= 0)
        cmx_ingress_note(c->dropped, "cache_control");
    if (CMX_JD_IS(d, t, "thinking") || CMX_JD_IS(d, t, "redacted_thinking")) {
        cmx_ingress_note(c->dropped, "thinking");
        return CMX_OK;
    }
    if (!*first)
        cmx_buf_append(c->out, CMX_LIT(","));
    *first = 0;
    if (CMX_JD_IS(d, t, "text")) {
        cmx_buf_append(c->out, CMX_LIT("{\"type\":\"text\",\"text\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, b, "text"));
        cmx_buf_append(c->out, CMX_LIT("}"));
        return CMX_OK;
    }
    if (CMX_JD_IS(d, t, "image"))
        return image_part(c, b, where);
    if (CMX_JD_IS(d, t, "document")) {
        int src = CMX_JD_MEMBER(d, b, "source");
        if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, src, "type"), "text"))
            return refuse_block(c, where, b,
                                "other than plain text has no chat completions form; " CLAUDE_ONLY);
        cmx_buf_append(c->out, CMX_LIT("{\"type\":\"text\",\"text\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, src, "data"));
        cmx_buf_append(c->out, CMX_LIT("}"));
        return CMX_OK;
    }
    return refuse_block(c, where, b, "has no chat completions form; " CLAUDE_ONLY);
}

/* A tool_result block as a tool message; its images are kept for a user
 * message after the tool messages (*images set when there are some). */
static cmx_err tool_message(conv *c, int b, const char *where, int *images)
{
    const cmx_json_doc *d = c->doc;
    if (CMX_JD_MEMBER(d, b, "is_error") >= 0)
        cmx_ingress_note(c->dropped, "is_error");
    if (CMX_JD_MEMBER(d, b, "cache_control") >= 0)
        cmx_ingress_note(c->dropped, "cache_control");
    begin_message(c, "tool");
    cmx_buf_append(c->out, CMX_LIT(",\"tool_call_id\":"));
    cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, b, "tool_use_id"));
    cmx_buf_append(c->out, CMX_LIT(",\"content\":\""));
    int content = CMX_JD_MEMBER(d, b, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_jw_inner(c->out, d, content);
    } else if (content >= 0) {
        int first = 1;
        CMX_JD_EACH_ELEMENT(d, content, part)
        {
            int t = CMX_JD_MEMBER(d, part, "type");
            if (CMX_JD_IS(d, t, "image")) {
                *images = 1;
                continue;
            }
            if (!CMX_JD_IS(d, t, "text"))
                return refuse_block(
                    c, where, part,
                    "inside a tool_result has no chat completions form; " CLAUDE_ONLY);
            if (!first)
                cmx_buf_append(c->out, CMX_LIT("\\n"));
            cmx_jw_inner(c->out, d, CMX_JD_MEMBER(d, part, "text"));
            first = 0;
        }
    }
    cmx_buf_append(c->out, CMX_LIT("\"}"));
    return CMX_OK;
}

static cmx_err user_turn(conv *c, int m, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int content = CMX_JD_MEMBER(d, m, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        begin_message(c, "user");
        cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
        cmx_jw_copy(c->out, d, content);
        cmx_buf_append(c->out, CMX_LIT("}"));
        return CMX_OK;
    }
    char at[128];
    size_t i = 0, others = 0;
    int images = 0;
    cmx_err rc = CMX_OK;
    CMX_JD_EACH_ELEMENT(d, content, b)
    {
        snprintf(at, sizeof at, "%s.content[%zu]", where, i++);
        if (CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_result"))
            rc = tool_message(c, b, at, &images);
        else
            others++;
        if (rc != CMX_OK)
            return rc;
    }
    if (!others && !images)
        return CMX_OK;
    size_t mark = c->out->len;
    begin_message(c, "user");
    cmx_buf_append(c->out, CMX_LIT(",\"content\":["));
    int first = 1;
    i = 0;
    CMX_JD_EACH_ELEMENT(d, content, b)
    {
        snprintf(at, sizeof at, "%s.content[%zu]", where, i++);
        if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_result")) {
            rc = user_part(c, b, at, &first);
        } else {
            int tc = CMX_JD_MEMBER(d, b, "content");
            if (cmx_jd_type(d, tc) != CMX_JSON_ARRAY)
                continue;
            CMX_JD_EACH_ELEMENT(d, tc, part)
            {
                if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, part, "type"), "image"))
                    continue;
                if (!first)
                    cmx_buf_append(c->out, CMX_LIT(","));
                first = 0;
                rc = image_part(c, part, at);
                if (rc != CMX_OK)
                    break;
            }
        }
        if (rc != CMX_OK)
            return rc;
    }
    if (first) {
        /* nothing but thinking: no user message at all */
        cmx_buf_truncate(c->out, mark);
        return CMX_OK;
    }
    cmx_buf_append(c->out, CMX_LIT("]}"));
    return CMX_OK;
}

static cmx_err assistant_turn(conv *c, int m, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int content = CMX_JD_MEMBER(d, m, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        begin_message(c, "assistant");
        cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
        cmx_jw_copy(c->out, d, content);
        cmx_buf_append(c->out, CMX_LIT("}"));
        return CMX_OK;
    }
    size_t texts = 0, calls = 0, i = 0;
    char at[128];
    CMX_JD_EACH_ELEMENT(d, content, b)
    {
        snprintf(at, sizeof at, "%s.content[%zu]", where, i++);
        int t = CMX_JD_MEMBER(d, b, "type");
        if (CMX_JD_IS(d, t, "text"))
            texts++;
        else if (CMX_JD_IS(d, t, "tool_use"))
            calls++;
        else if (CMX_JD_IS(d, t, "thinking") || CMX_JD_IS(d, t, "redacted_thinking"))
            cmx_ingress_note(c->dropped, "thinking");
        else
            return refuse_block(c, at, b, "has no chat completions form; " CLAUDE_ONLY);
    }
    if (!texts && !calls)
        return CMX_OK;
    begin_message(c, "assistant");
    cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
    if (texts) {
        cmx_buf_append(c->out, CMX_LIT("\""));
        CMX_JD_EACH_ELEMENT(d, content, b)
        if (CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "text"))
            cmx_jw_inner(c->out, d, CMX_JD_MEMBER(d, b, "text"));
        cmx_buf_append(c->out, CMX_LIT("\""));
    } else {
        cmx_buf_append(c->out, CMX_LIT("null"));
    }
    if (calls) {
        cmx_buf_append(c->out, CMX_LIT(",\"tool_calls\":["));
        int first = 1;
        CMX_JD_EACH_ELEMENT(d, content, b)
        {
            if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_use"))
                continue;
            cmx_buf_append_str(c->out, first ? "{\"id\":" : ",{\"id\":");
            first = 0;
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, b, "id"));
            cmx_buf_append(c->out, CMX_LIT(",\"type\":\"function\",\"function\":{\"name\":"));
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, b, "name"));
            cmx_buf_append(c->out, CMX_LIT(",\"arguments\":"));
            cmx_jw_copy_as_string(c->out, d, CMX_JD_MEMBER(d, b, "input"));
            cmx_buf_append(c->out, CMX_LIT("}}"));
        }
        cmx_buf_append(c->out, CMX_LIT("]"));
    }
    cmx_buf_append(c->out, CMX_LIT("}"));
    return CMX_OK;
}

static cmx_err write_messages(conv *c, int msgs)
{
    const cmx_json_doc *d = c->doc;
    size_t i = 0;
    char where[48];
    CMX_JD_EACH_ELEMENT(d, msgs, m)
    {
        snprintf(where, sizeof where, "messages[%zu]", i++);
        cmx_err rc = CMX_JD_IS(d, CMX_JD_MEMBER(d, m, "role"), "user")
                         ? user_turn(c, m, where)
                         : assistant_turn(c, m, where);
        if (rc != CMX_OK)
            return rc;
    }
    return CMX_OK;
}

/* ---- tools --------------------------------------------------------------- */

static cmx_err write_tools(conv *c, int tools, int choice)
{
    const cmx_json_doc *d = c->doc;
    cmx_buf_append(c->out, CMX_LIT(",\"tools\":["));
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(d, tools, t)
    {
        int type = CMX_JD_MEMBER(d, t, "type");
        if (type >= 0 && !CMX_JD_IS(d, type, "custom")) {
            char name[64];
            const char *shown;
            long n = cmx_json_doc_key(d, type, name, sizeof name, &shown);
            return cmx_error_set(c->err, CMX_ERR_BAD_REQUEST,
                                 "tools[%zu]: Anthropic's built-in tool type '%.*s' has no chat "
                                 "completions form; " CLAUDE_ONLY,
                                 i, n < 0 ? 0 : (int)n, n < 0 ? "" : shown);
        }
        if (CMX_JD_MEMBER(d, t, "cache_control") >= 0)
            cmx_ingress_note(c->dropped, "cache_control");
        cmx_buf_append_str(c->out, i++ ? ",{\"type\":\"function\",\"function\":{\"name\":"
                                       : "{\"type\":\"function\",\"function\":{\"name\":");
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, t, "name"));
        int desc = CMX_JD_MEMBER(d, t, "description");
        if (cmx_jd_type(d, desc) == CMX_JSON_STRING) {
            cmx_buf_append(c->out, CMX_LIT(",\"description\":"));
            cmx_jw_copy(c->out, d, desc);
        }
        cmx_buf_append(c->out, CMX_LIT(",\"parameters\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, t, "input_schema"));
        cmx_buf_append(c->out, CMX_LIT("}}"));
    }
    cmx_buf_append(c->out, CMX_LIT("]"));
    if (choice < 0)
        return CMX_OK;
    int type = CMX_JD_MEMBER(d, choice, "type");
    cmx_buf_append(c->out, CMX_LIT(",\"tool_choice\":"));
    if (CMX_JD_IS(d, type, "any")) {
        cmx_buf_append(c->out, CMX_LIT("\"required\""));
    } else if (CMX_JD_IS(d, type, "none")) {
        cmx_buf_append(c->out, CMX_LIT("\"none\""));
    } else if (CMX_JD_IS(d, type, "tool")) {
        cmx_buf_append(c->out, CMX_LIT("{\"type\":\"function\",\"function\":{\"name\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, choice, "name"));
        cmx_buf_append(c->out, CMX_LIT("}}"));
    } else {
        cmx_buf_append(c->out, CMX_LIT("\"auto\""));
    }
    if (cmx_jd_type(d, CMX_JD_MEMBER(d, choice, "disable_parallel_tool_use")) == CMX_JSON_TRUE)
        cmx_buf_append(c->out, CMX_LIT(",\"parallel_tool_calls\":false"));
    return CMX_OK;
}

/* ---- the request --------------------------------------------------------- */

cmx_err cmx_messages_to_chat(const cmx_ingress_request *req, const char *anthropic_beta,
                             cmx_arena *arena, cmx_buf *out, cmx_buf *dropped, cmx_error *err)
{
    const cmx_json_doc *d = req->doc;
    conv c = {d, out, dropped, err, arena, 1};
    if (req->api != CMX_API_MESSAGES)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "count_tokens has no chat completions form");
    if (anthropic_beta)
        cmx_ingress_note(c.dropped, "anthropic-beta");
    int model = -1, messages = -1, system = -1, tools = -1, choice = -1, stream = 0;
    /* fields copied as they are, in the client's order, under their chat names */
    int copied[8];
    const char *copied_as[8];
    size_t n_copied = 0;
    CMX_JD_EACH_KEY(d, 0, k)
    {
        int v = k + 1;
        char name[32];
        const char *key;
        long n = cmx_json_doc_key(d, k, name, sizeof name, &key);
        size_t kn = n < 0 ? 0 : (size_t)n;
#define KEY_IS(lit) CMX_SPAN_IS(key, kn, lit)
        const char *as = NULL;
        if (KEY_IS("model"))
            model = v;
        else if (KEY_IS("messages"))
            messages = v;
        else if (KEY_IS("system"))
            system = v;
        else if (KEY_IS("tools"))
            tools = v;
        else if (KEY_IS("tool_choice"))
            choice = v;
        else if (KEY_IS("stream"))
            stream = cmx_jd_type(d, v) == CMX_JSON_TRUE;
        else if (KEY_IS("max_tokens"))
            as = "max_tokens";
        else if (KEY_IS("temperature"))
            as = "temperature";
        else if (KEY_IS("top_p"))
            as = "top_p";
        else if (KEY_IS("stop_sequences"))
            as = "stop";
        else if (KEY_IS("top_k"))
            cmx_ingress_note(c.dropped, "top_k");
        else if (KEY_IS("service_tier"))
            cmx_ingress_note(c.dropped, "service_tier");
        else if (KEY_IS("thinking")) {
            if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, v, "type"), "disabled"))
                cmx_ingress_note(c.dropped, "thinking");
        } else if (KEY_IS("metadata")) {
            if (cmx_jd_type(d, CMX_JD_MEMBER(d, v, "user_id")) == CMX_JSON_STRING)
                as = "user";
        } else {
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "'%.*s' has no chat completions form; " CLAUDE_ONLY,
                                 (int)(kn > 60 ? 60 : kn), key);
        }
#undef KEY_IS
        if (as && n_copied < sizeof copied / sizeof copied[0]) {
            copied[n_copied] = v;
            copied_as[n_copied++] = as;
        }
    }
    cmx_buf_append(out, CMX_LIT("{\"model\":"));
    cmx_jw_copy(out, d, model);
    for (size_t i = 0; i < n_copied; i++) {
        cmx_buf_append(out, CMX_LIT(",\""));
        cmx_buf_append_str(out, copied_as[i]);
        cmx_buf_append(out, CMX_LIT("\":"));
        /* metadata gives its user_id */
        int v =
            strcmp(copied_as[i], "user") == 0 ? CMX_JD_MEMBER(d, copied[i], "user_id") : copied[i];
        cmx_jw_copy(out, d, v);
    }
    if (stream)
        cmx_buf_append(out,
                       CMX_LIT(",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
    if (tools >= 0 && cmx_jd_count(d, tools) > 0) {
        cmx_err rc = write_tools(&c, tools, choice);
        if (rc != CMX_OK)
            return rc;
    }
    cmx_buf_append(out, CMX_LIT(",\"messages\":["));
    write_system(&c, system);
    cmx_err rc = write_messages(&c, messages);
    if (rc != CMX_OK)
        return rc;
    cmx_buf_append(out, CMX_LIT("]}"));
    return CMX_OK;
}

/* ---- the answer ---------------------------------------------------------- */

static const char *stop_reason(const cmx_json_doc *d, int fr)
{
    if (CMX_JD_IS(d, fr, "length"))
        return "max_tokens";
    if (CMX_JD_IS(d, fr, "tool_calls") || CMX_JD_IS(d, fr, "function_call"))
        return "tool_use";
    if (CMX_JD_IS(d, fr, "content_filter"))
        return "refusal";
    return "end_turn";
}

/* A tool call's arguments (a string holding JSON) as the tool_use input. */
static int write_input(cmx_buf *out, const cmx_json_doc *d, int args, cmx_arena *arena)
{
    size_t n = 0;
    const char *text =
        cmx_jd_type(d, args) == CMX_JSON_STRING ? cmx_json_doc_string(d, args, arena, &n) : NULL;
    size_t i = 0;
    while (text && i < n &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (!text || i == n) {
        cmx_buf_append(out, CMX_LIT("{}"));
        return 0;
    }
    cmx_json_doc parsed;
    int ok = cmx_json_doc_parse(&parsed, text, n, arena, NULL) == CMX_OK &&
             cmx_json_doc_type(&parsed, 0) == CMX_JSON_OBJECT;
    cmx_json_doc_release(&parsed);
    if (!ok)
        return -1;
    cmx_buf_append(out, text, n);
    return 0;
}

void cmx_messages_write_usage(cmx_buf *out, const cmx_usage *u)
{
    int64_t cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    int64_t prompt = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
    cmx_buf_append(out, CMX_LIT("{\"input_tokens\":"));
    cmx_jw_int(out, prompt > cached ? prompt - cached : 0);
    cmx_buf_append(out, CMX_LIT(",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":"));
    cmx_jw_int(out, cached);
    cmx_buf_append(out, CMX_LIT(",\"output_tokens\":"));
    cmx_jw_int(out, u->completion_tokens > 0 ? u->completion_tokens : 0);
    cmx_buf_append(out, CMX_LIT("}"));
}

cmx_err cmx_messages_from_chat(const char *chat, size_t len, cmx_arena *arena, cmx_buf *out,
                               cmx_error *err)
{
    cmx_json_doc d;
    cmx_err rc = cmx_json_doc_parse(&d, chat, len, arena, NULL);
    int choice = -1, msg = -1;
    if (rc == CMX_OK && cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT) {
        int choices = CMX_JD_MEMBER(&d, 0, "choices");
        if (cmx_jd_type(&d, choices) == CMX_JSON_ARRAY &&
            cmx_json_doc_next(&d, choices) > choices + 1)
            choice = choices + 1;
        msg = choice >= 0 ? CMX_JD_MEMBER(&d, choice, "message") : -1;
    }
    if (cmx_jd_type(&d, msg) != CMX_JSON_OBJECT || rc != CMX_OK) {
        cmx_json_doc_release(&d);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "the upstream answer is not a chat.completion");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    int id = CMX_JD_MEMBER(&d, 0, "id");
    int model = CMX_JD_MEMBER(&d, 0, "model");
    cmx_buf_append(out, CMX_LIT("{\"id\":\"msg_"));
    if (cmx_jd_type(&d, id) == CMX_JSON_STRING)
        cmx_jw_inner(out, &d, id);
    cmx_buf_append(out, CMX_LIT("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"));
    if (cmx_jd_type(&d, model) == CMX_JSON_STRING)
        cmx_jw_copy(out, &d, model);
    else
        cmx_buf_append(out, CMX_LIT("\"\""));
    cmx_buf_append(out, CMX_LIT(",\"content\":["));
    int first = 1;
    int content = CMX_JD_MEMBER(&d, msg, "content");
    if (cmx_jd_type(&d, content) == CMX_JSON_STRING &&
        cmx_json_doc_span(&d, content).end - cmx_json_doc_span(&d, content).start > 2) {
        cmx_buf_append(out, CMX_LIT("{\"type\":\"text\",\"text\":"));
        cmx_jw_copy(out, &d, content);
        cmx_buf_append(out, CMX_LIT("}"));
        first = 0;
    }
    int calls = CMX_JD_MEMBER(&d, msg, "tool_calls");
    if (cmx_jd_type(&d, calls) == CMX_JSON_ARRAY) {
        CMX_JD_EACH_ELEMENT(&d, calls, tc)
        {
            int fn = CMX_JD_MEMBER(&d, tc, "function");
            int cid = CMX_JD_MEMBER(&d, tc, "id");
            int name = CMX_JD_MEMBER(&d, fn, "name");
            if (cmx_jd_type(&d, name) != CMX_JSON_STRING)
                continue;
            cmx_buf_append_str(out, first ? "{\"type\":\"tool_use\",\"id\":"
                                          : ",{\"type\":\"tool_use\",\"id\":");
            first = 0;
            if (cmx_jd_type(&d, cid) == CMX_JSON_STRING)
                cmx_jw_copy(out, &d, cid);
            else
                cmx_buf_append(out, CMX_LIT("\"toolu_cmx\""));
            cmx_buf_append(out, CMX_LIT(",\"name\":"));
            cmx_jw_copy(out, &d, name);
            cmx_buf_append(out, CMX_LIT(",\"input\":"));
            if (write_input(out, &d, CMX_JD_MEMBER(&d, fn, "arguments"), arena) != 0) {
                cmx_json_doc_release(&d);
                cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                              "the upstream's tool call arguments are not a JSON object");
                err->cause = CMX_CAUSE_PROTOCOL;
                return CMX_ERR_UPSTREAM_PROTOCOL;
            }
            cmx_buf_append(out, CMX_LIT("}"));
        }
    }
    cmx_buf_append(out, CMX_LIT("],\"stop_reason\":\""));
    cmx_buf_append_str(out, stop_reason(&d, CMX_JD_MEMBER(&d, choice, "finish_reason")));
    cmx_buf_append(out, CMX_LIT("\",\"stop_sequence\":null,\"usage\":"));
    cmx_usage u;
    cmx_jd_read_chat_usage(&d, CMX_JD_MEMBER(&d, 0, "usage"), &u);
    cmx_messages_write_usage(out, &u);
    cmx_buf_append(out, CMX_LIT("}"));
    cmx_json_doc_release(&d);
    return CMX_OK;
}

void cmx_messages_error_event(cmx_buf *b, cmx_err kind, const char *message)
{
    cmx_error_json_anthropic(b, kind, message);
}
