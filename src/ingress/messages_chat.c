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
 * named, as are a text document's title, context and citations (the text
 * part has no place for them).  PDF documents, file references, Anthropic's server tools and
 * fields the chat form does not have are refused by name. */
#include "ingress/chat_write.h"
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include "core/error_json.h"

#include <stdio.h>
#include <string.h>

typedef struct conv {
    const cmx_json_doc *doc;
    cmx_jw *w;
    cmx_buf *dropped;
    cmx_error *err;
} conv;

#define CLAUDE_ONLY "send it to a Claude target (anthropic, or Claude on bedrock or vertex)"

/* ---- system ------------------------------------------------------------- */

static void write_system(conv *c, int v)
{
    const cmx_json_doc *d = c->doc;
    if (v < 0)
        return;
    cmx_chat_begin_message(c->w, CMX_JW_NAME("system"));
    CMX_JW_KEY(c->w, "content");
    if (cmx_jd_type(d, v) == CMX_JSON_STRING) {
        cmx_jd_put(c->w, d, v);
    } else {
        cmx_jw_array(c->w);
        CMX_JD_EACH_ELEMENT(d, v, b)
        {
            if (CMX_JD_MEMBER(d, b, "cache_control") >= 0)
                cmx_ingress_note(c->dropped, "cache_control");
            cmx_chat_text_part(c->w, d, CMX_JD_MEMBER(d, b, "text"));
        }
        cmx_jw_end(c->w);
    }
    cmx_jw_end(c->w);
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

/* An image block as an image_url part (a data: URL for a base64 source);
 * a file source has no chat form. */
static cmx_err image_part(conv *c, int b, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int src = CMX_JD_MEMBER(d, b, "source");
    int t = CMX_JD_MEMBER(d, src, "type");
    if (!CMX_JD_IS(d, t, "base64") && !CMX_JD_IS(d, t, "url"))
        return refuse_block(c, where, b,
                            "with a file source has no chat completions form; " CLAUDE_ONLY);
    cmx_chat_open_image(c->w);
    CMX_JW_KEY(c->w, "url");
    if (CMX_JD_IS(d, t, "base64")) {
        cmx_jw_string_open(c->w);
        cmx_jw_string_piece_escaped(c->w, CMX_LIT("data:"));
        cmx_jd_put_inner(c->w, d, CMX_JD_MEMBER(d, src, "media_type"));
        cmx_jw_string_piece_escaped(c->w, CMX_LIT(";base64,"));
        cmx_jd_put_inner(c->w, d, CMX_JD_MEMBER(d, src, "data"));
        cmx_jw_string_close(c->w);
    } else {
        cmx_jd_put(c->w, d, CMX_JD_MEMBER(d, src, "url"));
    }
    cmx_jw_end(c->w);
    cmx_jw_end(c->w);
    return CMX_OK;
}

/* A user turn's own content (not its tool results) as chat parts. */
static cmx_err user_part(conv *c, int b, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int t = CMX_JD_MEMBER(d, b, "type");
    if (CMX_JD_MEMBER(d, b, "cache_control") >= 0)
        cmx_ingress_note(c->dropped, "cache_control");
    if (CMX_JD_IS(d, t, "thinking") || CMX_JD_IS(d, t, "redacted_thinking")) {
        cmx_ingress_note(c->dropped, "thinking");
        return CMX_OK;
    }
    if (CMX_JD_IS(d, t, "text")) {
        cmx_chat_text_part(c->w, d, CMX_JD_MEMBER(d, b, "text"));
        return CMX_OK;
    }
    if (CMX_JD_IS(d, t, "image"))
        return image_part(c, b, where);
    if (CMX_JD_IS(d, t, "document")) {
        int src = CMX_JD_MEMBER(d, b, "source");
        if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, src, "type"), "text"))
            return refuse_block(c, where, b,
                                "other than plain text has no chat completions form; " CLAUDE_ONLY);
        /* the chat form has a text part, with no place for these */
        static const char *const unplaced[] = {"title", "context", "citations"};
        for (size_t i = 0; i < sizeof unplaced / sizeof unplaced[0]; i++)
            if (cmx_json_doc_member(d, b, unplaced[i], strlen(unplaced[i]), NULL) >= 0)
                cmx_ingress_note(c->dropped, unplaced[i]);
        cmx_chat_text_part(c->w, d, CMX_JD_MEMBER(d, src, "data"));
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
    cmx_chat_begin_message(c->w, CMX_JW_NAME("tool"));
    CMX_JD_PUT_MEMBER(c->w, "tool_call_id", d, CMX_JD_MEMBER(d, b, "tool_use_id"));
    CMX_JW_KEY(c->w, "content");
    cmx_jw_string_open(c->w);
    int content = CMX_JD_MEMBER(d, b, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_jd_put_inner(c->w, d, content);
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
                cmx_jw_string_piece_escaped(c->w, CMX_LIT("\\n"));
            cmx_jd_put_inner(c->w, d, CMX_JD_MEMBER(d, part, "text"));
            first = 0;
        }
    }
    cmx_jw_string_close(c->w);
    cmx_jw_end(c->w);
    return CMX_OK;
}

static cmx_err user_turn(conv *c, int m, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int content = CMX_JD_MEMBER(d, m, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_chat_begin_message(c->w, CMX_JW_NAME("user"));
        CMX_JD_PUT_MEMBER(c->w, "content", d, content);
        cmx_jw_end(c->w);
        return CMX_OK;
    }
    char at[128];
    size_t i = 0;
    int images = 0;
    CMX_JD_EACH_ELEMENT(d, content, b)
    {
        snprintf(at, sizeof at, "%s.content[%zu]", where, i++);
        if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_result"))
            continue;
        cmx_err rc = tool_message(c, b, at, &images);
        if (rc != CMX_OK)
            return rc;
    }
    /* the rest of the turn, and the tool results' images, as one user message */
    cmx_jw_mark mark = cmx_jw_mark_here(c->w);
    cmx_chat_begin_message(c->w, CMX_JW_NAME("user"));
    CMX_JW_KEY(c->w, "content");
    cmx_jw_array(c->w);
    cmx_jw_mark empty = cmx_jw_mark_here(c->w);
    i = 0;
    CMX_JD_EACH_ELEMENT(d, content, b)
    {
        snprintf(at, sizeof at, "%s.content[%zu]", where, i++);
        cmx_err rc = CMX_OK;
        if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_result")) {
            rc = user_part(c, b, at);
        } else if (images && cmx_jd_type(d, CMX_JD_MEMBER(d, b, "content")) == CMX_JSON_ARRAY) {
            CMX_JD_EACH_ELEMENT(d, CMX_JD_MEMBER(d, b, "content"), part)
            {
                if (CMX_JD_IS(d, CMX_JD_MEMBER(d, part, "type"), "image") &&
                    (rc = image_part(c, part, at)) != CMX_OK)
                    break;
            }
        }
        if (rc != CMX_OK)
            return rc;
    }
    if (!cmx_jw_wrote_since(c->w, empty)) { /* tool results or thinking only */
        cmx_jw_rewind(c->w, mark);
        return CMX_OK;
    }
    cmx_jw_end(c->w);
    cmx_jw_end(c->w);
    return CMX_OK;
}

static cmx_err assistant_turn(conv *c, int m, const char *where)
{
    const cmx_json_doc *d = c->doc;
    int content = CMX_JD_MEMBER(d, m, "content");
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_chat_begin_message(c->w, CMX_JW_NAME("assistant"));
        CMX_JD_PUT_MEMBER(c->w, "content", d, content);
        cmx_jw_end(c->w);
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
    cmx_chat_begin_message(c->w, CMX_JW_NAME("assistant"));
    CMX_JW_KEY(c->w, "content");
    if (texts) {
        cmx_jw_string_open(c->w);
        CMX_JD_EACH_ELEMENT(d, content, b)
        if (CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "text"))
            cmx_jd_put_inner(c->w, d, CMX_JD_MEMBER(d, b, "text"));
        cmx_jw_string_close(c->w);
    } else {
        cmx_jw_null(c->w);
    }
    if (calls) {
        CMX_JW_KEY(c->w, "tool_calls");
        cmx_jw_array(c->w);
        CMX_JD_EACH_ELEMENT(d, content, b)
        {
            if (CMX_JD_IS(d, CMX_JD_MEMBER(d, b, "type"), "tool_use"))
                cmx_chat_tool_call(c->w, d, CMX_JD_MEMBER(d, b, "id"), CMX_JD_MEMBER(d, b, "name"),
                                   CMX_JD_MEMBER(d, b, "input"), 1);
        }
        cmx_jw_end(c->w);
    }
    cmx_jw_end(c->w);
    return CMX_OK;
}

static cmx_err write_messages(conv *c, int msgs)
{
    const cmx_json_doc *d = c->doc;
    size_t i = 0;
    char where[48];
    CMX_JD_EACH_ELEMENT(d, msgs, m)
    {
        cmx_ingress_path(where, sizeof where, "messages", (long)i++);
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
    CMX_JW_KEY(c->w, "tools");
    cmx_jw_array(c->w);
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
        i++;
        if (CMX_JD_MEMBER(d, t, "cache_control") >= 0)
            cmx_ingress_note(c->dropped, "cache_control");
        cmx_chat_function_tool(c->w, d, CMX_JD_MEMBER(d, t, "name"),
                               CMX_JD_MEMBER(d, t, "description"),
                               CMX_JD_MEMBER(d, t, "input_schema"));
    }
    cmx_jw_end(c->w);
    if (choice < 0)
        return CMX_OK;
    int type = CMX_JD_MEMBER(d, choice, "type");
    CMX_JW_KEY(c->w, "tool_choice");
    if (CMX_JD_IS(d, type, "any")) {
        CMX_JW_LIT(c->w, "required");
    } else if (CMX_JD_IS(d, type, "none")) {
        CMX_JW_LIT(c->w, "none");
    } else if (CMX_JD_IS(d, type, "tool")) {
        cmx_chat_named_choice(c->w, cmx_jd_str(d, CMX_JD_MEMBER(d, choice, "name")));
    } else {
        CMX_JW_LIT(c->w, "auto");
    }
    if (cmx_jd_type(d, CMX_JD_MEMBER(d, choice, "disable_parallel_tool_use")) == CMX_JSON_TRUE) {
        CMX_JW_KEY(c->w, "parallel_tool_calls");
        cmx_jw_bool(c->w, 0);
    }
    return CMX_OK;
}

/* ---- the request --------------------------------------------------------- */

cmx_err cmx_messages_to_chat(const cmx_ingress_request *req, const char *anthropic_beta,
                             cmx_arena *arena, cmx_buf *out, cmx_buf *dropped, cmx_error *err)
{
    (void)arena;
    const cmx_json_doc *d = req->doc;
    cmx_jw w;
    cmx_jw_init(&w, out);
    conv c = {d, &w, dropped, err};
    if (req->api != CMX_API_MESSAGES)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "count_tokens has no chat completions form");
    if (anthropic_beta)
        cmx_ingress_note(dropped, "anthropic-beta");
    int model = -1, messages = -1, system = -1, tools = -1, choice = -1, stream = 0;
    /* fields copied as they are, in the client's order, under their chat names */
    cmx_chat_copies copied = {0};
    CMX_JD_EACH_KEY(d, 0, k)
    {
        int v = k + 1;
        char name[32];
        const char *key = "";
        size_t kn = cmx_jd_key_name(d, k, name, sizeof name, &key);
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
            cmx_ingress_note(dropped, "top_k");
        else if (KEY_IS("service_tier"))
            cmx_ingress_note(dropped, "service_tier");
        else if (KEY_IS("thinking")) {
            if (!CMX_JD_IS(d, CMX_JD_MEMBER(d, v, "type"), "disabled"))
                cmx_ingress_note(dropped, "thinking");
        } else if (KEY_IS("metadata")) {
            int user = CMX_JD_MEMBER(d, v, "user_id");
            if (cmx_jd_type(d, user) == CMX_JSON_STRING) {
                as = "user";
                v = user;
            }
        } else {
            return cmx_chat_no_form(err, key, kn, CLAUDE_ONLY);
        }
#undef KEY_IS
        if (as)
            cmx_chat_copy(&copied, v, as);
    }
    cmx_chat_open_request(&w, d, model, &copied, NULL, stream);
    if (tools >= 0 && cmx_jd_count(d, tools) > 0) {
        cmx_err rc = write_tools(&c, tools, choice);
        if (rc != CMX_OK)
            return rc;
    }
    CMX_JW_KEY(&w, "messages");
    cmx_jw_array(&w);
    write_system(&c, system);
    cmx_err rc = write_messages(&c, messages);
    if (rc != CMX_OK)
        return rc;
    cmx_jw_end(&w);
    cmx_jw_end(&w);
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

/* A tool call's arguments (a string holding JSON) as the tool_use input:
 * -1 when they are not a JSON object. */
static int write_input(cmx_jw *w, const cmx_json_doc *d, int args, cmx_arena *arena)
{
    size_t n = 0;
    const char *text =
        cmx_jd_type(d, args) == CMX_JSON_STRING ? cmx_json_doc_string(d, args, arena, &n) : NULL;
    size_t i = 0;
    while (text && i < n &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (!text || i == n) {
        cmx_jw_value(w, CMX_LIT("{}"));
        return 0;
    }
    cmx_json_doc parsed;
    int ok = cmx_json_doc_parse(&parsed, text, n, arena, NULL) == CMX_OK &&
             cmx_json_doc_type(&parsed, 0) == CMX_JSON_OBJECT;
    cmx_json_doc_release(&parsed);
    if (!ok)
        return -1;
    cmx_jw_value(w, text, n);
    return 0;
}

void cmx_messages_write_usage(cmx_jw *w, const cmx_usage *u)
{
    /* Anthropic's input_tokens leave out the cache reads and writes that
     * chat's prompt_tokens count */
    int64_t cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    int64_t written = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;
    int64_t prompt = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
    int64_t input = prompt - cached - written;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "input_tokens");
    cmx_jw_int(w, input > 0 ? input : 0);
    CMX_JW_KEY(w, "cache_creation_input_tokens");
    cmx_jw_int(w, written);
    CMX_JW_KEY(w, "cache_read_input_tokens");
    cmx_jw_int(w, cached);
    CMX_JW_KEY(w, "output_tokens");
    cmx_jw_int(w, u->completion_tokens > 0 ? u->completion_tokens : 0);
    cmx_jw_end(w);
}

static cmx_err not_a_completion(cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "%s", what);
    err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_messages_from_chat(const char *chat, size_t len, cmx_arena *arena, cmx_buf *out,
                               cmx_error *err)
{
    cmx_json_doc d;
    int choice, msg;
    if (cmx_ingress_read_completion(&d, chat, len, arena, &choice, &msg) != CMX_OK)
        return not_a_completion(err, "the upstream answer is not a chat.completion");
    cmx_jw w;
    cmx_jw_init(&w, out);
    int id = CMX_JD_MEMBER(&d, 0, "id");
    int model = CMX_JD_MEMBER(&d, 0, "model");
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "id");
    cmx_jw_string_open(&w);
    cmx_jw_string_piece_escaped(&w, CMX_LIT("msg_"));
    if (cmx_jd_type(&d, id) == CMX_JSON_STRING)
        cmx_jd_put_inner(&w, &d, id);
    cmx_jw_string_close(&w);
    CMX_JW_KEY(&w, "type");
    CMX_JW_LIT(&w, "message");
    CMX_JW_KEY(&w, "role");
    CMX_JW_LIT(&w, "assistant");
    CMX_JW_KEY(&w, "model");
    if (cmx_jd_type(&d, model) == CMX_JSON_STRING)
        cmx_jd_put(&w, &d, model);
    else
        CMX_JW_LIT(&w, "");
    CMX_JW_KEY(&w, "content");
    cmx_jw_array(&w);
    int content = CMX_JD_MEMBER(&d, msg, "content");
    if (cmx_jd_non_empty_string(&d, content)) {
        cmx_jw_object(&w);
        CMX_JW_KEY(&w, "type");
        CMX_JW_LIT(&w, "text");
        CMX_JD_PUT_MEMBER(&w, "text", &d, content);
        cmx_jw_end(&w);
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
            cmx_jw_object(&w);
            CMX_JW_KEY(&w, "type");
            CMX_JW_LIT(&w, "tool_use");
            CMX_JW_KEY(&w, "id");
            if (cmx_jd_type(&d, cid) == CMX_JSON_STRING)
                cmx_jd_put(&w, &d, cid);
            else
                CMX_JW_LIT(&w, "toolu_cmx");
            CMX_JD_PUT_MEMBER(&w, "name", &d, name);
            CMX_JW_KEY(&w, "input");
            if (write_input(&w, &d, CMX_JD_MEMBER(&d, fn, "arguments"), arena) != 0) {
                cmx_json_doc_release(&d);
                return not_a_completion(err,
                                        "the upstream's tool call arguments are not a JSON object");
            }
            cmx_jw_end(&w);
        }
    }
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "stop_reason");
    const char *reason = stop_reason(&d, CMX_JD_MEMBER(&d, choice, "finish_reason"));
    cmx_jw_string(&w, reason, strlen(reason));
    CMX_JW_KEY(&w, "stop_sequence");
    cmx_jw_null(&w);
    CMX_JW_KEY(&w, "usage");
    cmx_usage u;
    cmx_jd_read_chat_usage(&d, CMX_JD_MEMBER(&d, 0, "usage"), &u);
    cmx_messages_write_usage(&w, &u);
    cmx_jw_end(&w);
    cmx_json_doc_release(&d);
    return CMX_OK;
}

void cmx_messages_error_event(cmx_buf *b, cmx_err kind, const char *message)
{
    cmx_error_json_anthropic(b, kind, message);
}
