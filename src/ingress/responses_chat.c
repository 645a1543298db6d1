/* responses_chat.c — an OpenAI Responses request as a chat completion, and
 * a chat.completion as a Responses response, for the targets that do not
 * speak the Responses API (anthropic, bedrock, vertex, mock).
 *
 * The request is written from the checked tokens (responses_check.c),
 * copying the client's bytes where the formats agree:
 *   - instructions become the first system message, a string input one
 *     user message;
 *   - message items become messages (input_text and output_text parts
 *     text parts, input_image parts image_url parts); an assistant message
 *     and the function_call items after it become one assistant message
 *     with tool_calls; function_call_output items become tool messages;
 *   - function tools become chat function tools, tool_choice the same
 *     choice, max_output_tokens max_tokens;
 *   - text.format json_schema (or json_object) becomes one more function
 *     tool, named after the schema, which the model must call (any tool,
 *     when the client gave tools of its own): its arguments are the JSON
 *     answer.  This works on every target, Claude included, whose chat
 *     translation has no JSON schemas of its own.
 * metadata, reasoning items and settings, include, truncation and
 * service_tier change nothing a chat model can use: dropped and named.
 * Hosted tools (web search, file search ...) and their items exist only on
 * OpenAI-format targets and are refused by name.
 *
 * The answer is written back as a response with the request's settings
 * repeated, as OpenAI does: the text as a message item (a call of the
 * schema tool as that text), other tool calls as function_call items, a
 * cut for length as status "incomplete" with reason max_output_tokens. */
#include "ingress/chat_write.h"
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

#define OPENAI_ONLY "send it to an openai or azure target"

typedef struct conv {
    const cmx_ingress_request *req;
    const cmx_json_doc *doc;
    cmx_jw *w;
    cmx_buf *dropped;
    cmx_error *err;
} conv;

static cmx_err refuse(conv *c, const char *what, int type_token, const char *why)
{
    char name[48];
    const char *shown = "";
    long n = type_token >= 0 ? cmx_json_doc_key(c->doc, type_token, name, sizeof name, &shown) : 0;
    return cmx_error_set(c->err, CMX_ERR_BAD_REQUEST, "%s '%.*s' %s", what, n < 0 ? 0 : (int)n,
                         n < 0 ? "" : shown, why);
}

/* A message item's content as chat content. */
static cmx_err write_content(conv *c, int content, const char *where)
{
    const cmx_json_doc *d = c->doc;
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_jd_put(c->w, d, content);
        return CMX_OK;
    }
    cmx_jw_array(c->w);
    CMX_JD_EACH_ELEMENT(d, content, p)
    {
        int t = CMX_JD_MEMBER(d, p, "type");
        if (CMX_JD_IS(d, t, "input_text") || CMX_JD_IS(d, t, "output_text")) {
            cmx_chat_text_part(c->w, d, CMX_JD_MEMBER(d, p, "text"));
        } else if (CMX_JD_IS(d, t, "refusal")) {
            cmx_chat_text_part(c->w, d, CMX_JD_MEMBER(d, p, "refusal"));
        } else if (CMX_JD_IS(d, t, "input_image") &&
                   cmx_jd_type(d, CMX_JD_MEMBER(d, p, "image_url")) == CMX_JSON_STRING) {
            cmx_chat_open_image(c->w);
            CMX_JD_PUT_MEMBER(c->w, "url", d, CMX_JD_MEMBER(d, p, "image_url"));
            int detail = CMX_JD_MEMBER(d, p, "detail");
            if (cmx_jd_type(d, detail) == CMX_JSON_STRING)
                CMX_JD_PUT_MEMBER(c->w, "detail", d, detail);
            cmx_jw_end(c->w);
            cmx_jw_end(c->w);
        } else {
            char what[64];
            snprintf(what, sizeof what, "%s: a content part", where);
            return refuse(c, what, t,
                          "has no chat completions form (file ids and files need an OpenAI "
                          "store); " OPENAI_ONLY);
        }
    }
    cmx_jw_end(c->w);
    return CMX_OK;
}

/* function_call items from `it` on, while they follow one another, as
 * tool_calls; returns the token after the last one taken. */
static int write_tool_calls(conv *c, int it, int end)
{
    const cmx_json_doc *d = c->doc;
    CMX_JW_KEY(c->w, "tool_calls");
    cmx_jw_array(c->w);
    while (it < end && CMX_JD_IS(d, CMX_JD_MEMBER(d, it, "type"), "function_call")) {
        cmx_chat_tool_call(c->w, d, CMX_JD_MEMBER(d, it, "call_id"), CMX_JD_MEMBER(d, it, "name"),
                           CMX_JD_MEMBER(d, it, "arguments"), 0);
        it = cmx_json_doc_next(d, it);
    }
    cmx_jw_end(c->w);
    return it;
}

static cmx_err write_items(conv *c, int input)
{
    const cmx_json_doc *d = c->doc;
    if (cmx_jd_type(d, input) == CMX_JSON_STRING) {
        cmx_chat_begin_message(c->w, CMX_JW_NAME("user"));
        CMX_JD_PUT_MEMBER(c->w, "content", d, input);
        cmx_jw_end(c->w);
        return CMX_OK;
    }
    int end = cmx_json_doc_next(d, input);
    size_t i = 0;
    char where[32];
    for (int it = input + 1; it < end; i++) {
        cmx_ingress_path(where, sizeof where, "input", (long)i);
        int type = CMX_JD_MEMBER(d, it, "type");
        int next = cmx_json_doc_next(d, it);
        if (type < 0 || CMX_JD_IS(d, type, "message")) {
            int role = CMX_JD_MEMBER(d, it, "role");
            cmx_chat_begin_message(c->w, cmx_jd_str(d, role));
            CMX_JW_KEY(c->w, "content");
            cmx_err rc = write_content(c, CMX_JD_MEMBER(d, it, "content"), where);
            if (rc != CMX_OK)
                return rc;
            /* an assistant turn's calls follow its message item */
            if (CMX_JD_IS(d, role, "assistant") && next < end &&
                CMX_JD_IS(d, CMX_JD_MEMBER(d, next, "type"), "function_call"))
                next = write_tool_calls(c, next, end);
            cmx_jw_end(c->w);
        } else if (CMX_JD_IS(d, type, "function_call")) {
            cmx_chat_begin_message(c->w, CMX_JW_NAME("assistant"));
            CMX_JW_KEY(c->w, "content");
            cmx_jw_null(c->w);
            next = write_tool_calls(c, it, end);
            cmx_jw_end(c->w);
        } else if (CMX_JD_IS(d, type, "function_call_output")) {
            int out = CMX_JD_MEMBER(d, it, "output");
            cmx_chat_begin_message(c->w, CMX_JW_NAME("tool"));
            CMX_JD_PUT_MEMBER(c->w, "tool_call_id", d, CMX_JD_MEMBER(d, it, "call_id"));
            CMX_JW_KEY(c->w, "content");
            if (cmx_jd_type(d, out) == CMX_JSON_STRING) {
                cmx_jd_put(c->w, d, out);
            } else {
                cmx_jw_string_open(c->w);
                CMX_JD_EACH_ELEMENT(d, out, p)
                {
                    int text = CMX_JD_MEMBER(d, p, "text");
                    if (cmx_jd_type(d, text) != CMX_JSON_STRING)
                        return refuse(c, "a function_call_output part", CMX_JD_MEMBER(d, p, "type"),
                                      "has no chat completions form; " OPENAI_ONLY);
                    cmx_jd_put_inner(c->w, d, text);
                }
                cmx_jw_string_close(c->w);
            }
            cmx_jw_end(c->w);
        } else if (CMX_JD_IS(d, type, "reasoning")) {
            cmx_ingress_note(c->dropped, "reasoning");
        } else {
            char what[64];
            snprintf(what, sizeof what, "%s: an item of type", where);
            return refuse(c, what, type, "has no chat completions form; " OPENAI_ONLY);
        }
        it = next;
    }
    return CMX_OK;
}

/* The client's function tools and, for a JSON answer, the schema tool;
 * tool_choice as chat says it. */
static cmx_err write_tools(conv *c, int tools, int choice, int text)
{
    const cmx_json_doc *d = c->doc;
    const cmx_ingress_request *req = c->req;
    int have_tools = cmx_jd_type(d, tools) == CMX_JSON_ARRAY && cmx_jd_count(d, tools) > 0;
    if (!have_tools && !req->schema_tool) {
        if (cmx_jd_type(d, choice) == CMX_JSON_STRING)
            CMX_JD_PUT_MEMBER(c->w, "tool_choice", d, choice);
        return CMX_OK;
    }
    CMX_JW_KEY(c->w, "tools");
    cmx_jw_array(c->w);
    if (have_tools) {
        CMX_JD_EACH_ELEMENT(d, tools, t)
        {
            int type = CMX_JD_MEMBER(d, t, "type");
            if (!CMX_JD_IS(d, type, "function"))
                return refuse(c, "a tool of type", type, "is hosted by OpenAI; " OPENAI_ONLY);
            cmx_chat_function_tool(c->w, d, CMX_JD_MEMBER(d, t, "name"),
                                   CMX_JD_MEMBER(d, t, "description"),
                                   CMX_JD_MEMBER(d, t, "parameters"));
        }
    }
    if (req->schema_tool) {
        int fmt = CMX_JD_MEMBER(d, text, "format");
        int schema = CMX_JD_MEMBER(d, fmt, "schema");
        int desc = CMX_JD_MEMBER(d, fmt, "description");
        cmx_chat_open_function(c->w, CMX_JW_RAW(req->schema_tool, req->schema_tool_len));
        CMX_JW_KEY(c->w, "description");
        if (cmx_jd_type(d, desc) == CMX_JSON_STRING)
            cmx_jd_put(c->w, d, desc);
        else
            CMX_JW_LIT(c->w, "Give the answer as this tool's input.");
        CMX_JW_KEY(c->w, "parameters");
        if (schema >= 0)
            cmx_jd_put(c->w, d, schema);
        else
            cmx_jw_value(c->w, CMX_LIT("{\"type\":\"object\"}"));
        cmx_jw_end(c->w);
        cmx_jw_end(c->w);
    }
    cmx_jw_end(c->w);
    CMX_JW_KEY(c->w, "tool_choice");
    if (req->schema_tool) {
        /* the answer comes as a call: of the schema tool, or of one of the
         * client's own when it gave some and did not forbid them */
        if (have_tools && !CMX_JD_IS(d, choice, "none")) {
            CMX_JW_LIT(c->w, "required");
        } else {
            cmx_chat_named_choice(c->w, CMX_JW_RAW(req->schema_tool, req->schema_tool_len));
        }
    } else if (cmx_jd_type(d, choice) == CMX_JSON_STRING) {
        cmx_jd_put(c->w, d, choice);
    } else if (cmx_jd_type(d, choice) == CMX_JSON_OBJECT) {
        int type = CMX_JD_MEMBER(d, choice, "type");
        if (!CMX_JD_IS(d, type, "function"))
            return refuse(c, "a tool_choice of type", type,
                          "has no chat completions form; " OPENAI_ONLY);
        cmx_chat_named_choice(c->w, cmx_jd_str(d, CMX_JD_MEMBER(d, choice, "name")));
    } else {
        CMX_JW_LIT(c->w, "auto");
    }
    return CMX_OK;
}

cmx_err cmx_responses_to_chat(const cmx_ingress_request *req, cmx_arena *arena, cmx_buf *out,
                              cmx_buf *dropped, cmx_error *err)
{
    (void)arena;
    const cmx_json_doc *d = req->doc;
    cmx_jw w;
    cmx_jw_init(&w, out);
    conv c = {req, d, &w, dropped, err};
    int model = -1, input = -1, instructions = -1, tools = -1, choice = -1, text = -1, stream = 0;
    cmx_chat_copies copied = {0};
    CMX_JD_EACH_KEY(d, 0, k)
    {
        int v = k + 1;
        char name[32];
        const char *key = "";
        size_t kn = cmx_jd_key_name(d, k, name, sizeof name, &key);
        int null = cmx_jd_type(d, v) == CMX_JSON_NULL;
#define KEY_IS(lit) CMX_SPAN_IS(key, kn, lit)
        const char *as = NULL;
        if (KEY_IS("model"))
            model = v;
        else if (KEY_IS("input"))
            input = v;
        else if (KEY_IS("instructions"))
            instructions = null ? -1 : v;
        else if (KEY_IS("tools"))
            tools = v;
        else if (KEY_IS("tool_choice"))
            choice = null ? -1 : v;
        else if (KEY_IS("text"))
            text = v;
        else if (KEY_IS("stream"))
            stream = cmx_jd_type(d, v) == CMX_JSON_TRUE;
        else if (KEY_IS("max_output_tokens"))
            as = null ? NULL : "max_tokens";
        else if (KEY_IS("temperature"))
            as = null ? NULL : "temperature";
        else if (KEY_IS("top_p"))
            as = null ? NULL : "top_p";
        else if (KEY_IS("parallel_tool_calls"))
            as = null ? NULL : "parallel_tool_calls";
        else if (KEY_IS("user"))
            as = null ? NULL : "user";
        else if (KEY_IS("store") || KEY_IS("previous_response_id") || KEY_IS("conversation") ||
                 KEY_IS("background"))
            ; /* checked: false or null, nothing to say */
        else if (KEY_IS("metadata") || KEY_IS("reasoning") || KEY_IS("include") ||
                 KEY_IS("truncation") || KEY_IS("service_tier") || KEY_IS("prompt_cache_key") ||
                 KEY_IS("safety_identifier")) {
            if (!null) {
                char field[32];
                snprintf(field, sizeof field, "%.*s", (int)kn, key);
                cmx_ingress_note(dropped, field);
            }
        } else {
            return cmx_chat_no_form(err, key, kn, OPENAI_ONLY);
        }
#undef KEY_IS
        if (as)
            cmx_chat_copy(&copied, v, as);
    }
    int have_tools = cmx_jd_type(d, tools) == CMX_JSON_ARRAY && cmx_jd_count(d, tools) > 0;
    /* parallel_tool_calls only means something with tools */
    cmx_chat_open_request(&w, d, model, &copied, have_tools ? NULL : "parallel_tool_calls", stream);
    cmx_err rc = write_tools(&c, tools, choice, text);
    if (rc != CMX_OK)
        return rc;
    CMX_JW_KEY(&w, "messages");
    cmx_jw_array(&w);
    if (instructions >= 0) {
        cmx_chat_begin_message(&w, CMX_JW_NAME("system"));
        CMX_JD_PUT_MEMBER(&w, "content", d, instructions);
        cmx_jw_end(&w);
    }
    rc = write_items(&c, input);
    if (rc != CMX_OK)
        return rc;
    cmx_jw_end(&w);
    cmx_jw_end(&w);
    return CMX_OK;
}

/* ---- the answer ---------------------------------------------------------- */

static int64_t count(int64_t v)
{
    return v > 0 ? v : 0;
}

void cmx_responses_write_usage(cmx_jw *w, const cmx_usage *u)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "input_tokens");
    cmx_jw_int(w, count(u->prompt_tokens));
    CMX_JW_KEY(w, "input_tokens_details");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "cached_tokens");
    cmx_jw_int(w, count(u->cached_tokens));
    cmx_jw_end(w);
    CMX_JW_KEY(w, "output_tokens");
    cmx_jw_int(w, count(u->completion_tokens));
    CMX_JW_KEY(w, "output_tokens_details");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "reasoning_tokens");
    cmx_jw_int(w, 0);
    cmx_jw_end(w);
    CMX_JW_KEY(w, "total_tokens");
    cmx_jw_int(w, u->total_tokens >= 0 ? u->total_tokens
                                       : count(u->prompt_tokens) + count(u->completion_tokens));
    cmx_jw_end(w);
}

/* A request field repeated in the response, or its default (JSON text). */
static void echo(cmx_jw *w, const cmx_json_doc *d, const char *name, const char *def)
{
    int v = cmx_json_doc_member(d, 0, name, strlen(name), NULL);
    cmx_jw_key(w, name, strlen(name));
    if (v >= 0 && cmx_jd_type(d, v) != CMX_JSON_NULL)
        cmx_jd_put(w, d, v);
    else
        cmx_jw_value(w, def, strlen(def));
}

static void put_cstr(cmx_jw *w, const char *s)
{
    cmx_jw_string(w, s, strlen(s));
}

/* Everything of a response object before its "output" (the object is left
 * open). */
void cmx_responses_write_head(cmx_jw *w, const cmx_responses_meta *m, const cmx_responses_state *st)
{
    const cmx_json_doc *d = m->req->doc;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "id");
    put_cstr(w, m->id);
    CMX_JW_KEY(w, "object");
    CMX_JW_LIT(w, "response");
    CMX_JW_KEY(w, "created_at");
    cmx_jw_int(w, m->created_at);
    CMX_JW_KEY(w, "status");
    put_cstr(w, st->status);
    CMX_JW_KEY(w, "background");
    cmx_jw_bool(w, 0);
    CMX_JW_KEY(w, "error");
    if (st->error_code) {
        cmx_jw_object(w);
        CMX_JW_KEY(w, "code");
        put_cstr(w, st->error_code);
        CMX_JW_KEY(w, "message");
        put_cstr(w, st->error_message ? st->error_message : st->error_code);
        cmx_jw_end(w);
    } else {
        cmx_jw_null(w);
    }
    CMX_JW_KEY(w, "incomplete_details");
    if (st->incomplete_reason) {
        cmx_jw_object(w);
        CMX_JW_KEY(w, "reason");
        put_cstr(w, st->incomplete_reason);
        cmx_jw_end(w);
    } else {
        cmx_jw_null(w);
    }
    echo(w, d, "instructions", "null");
    echo(w, d, "max_output_tokens", "null");
    echo(w, d, "metadata", "{}");
    CMX_JW_KEY(w, "model");
    if (st->model)
        cmx_jw_string(w, st->model, st->model_len);
    else
        cmx_jd_put(w, d, CMX_JD_MEMBER(d, 0, "model"));
    echo(w, d, "parallel_tool_calls", "true");
    CMX_JW_KEY(w, "previous_response_id");
    cmx_jw_null(w);
    CMX_JW_KEY(w, "reasoning");
    cmx_jw_null(w);
    CMX_JW_KEY(w, "store");
    cmx_jw_bool(w, 0);
    echo(w, d, "temperature", "1");
    echo(w, d, "text", "{\"format\":{\"type\":\"text\"}}");
    echo(w, d, "tool_choice", "\"auto\"");
    echo(w, d, "tools", "[]");
    echo(w, d, "top_p", "1");
    CMX_JW_KEY(w, "truncation");
    CMX_JW_LIT(w, "disabled");
    echo(w, d, "user", "null");
}

static int is_schema_call(const cmx_responses_meta *m, const cmx_json_doc *d, int name)
{
    return m->req->schema_tool &&
           cmx_jd_string_is(d, name, m->req->schema_tool, m->req->schema_tool_len);
}

cmx_err cmx_responses_from_chat(const cmx_responses_meta *m, const char *chat, size_t len,
                                cmx_arena *arena, cmx_buf *out, cmx_error *err)
{
    cmx_json_doc d;
    int choice, msg;
    if (cmx_ingress_read_completion(&d, chat, len, arena, &choice, &msg) != CMX_OK) {
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "the upstream answer is not a chat.completion");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    int fr = CMX_JD_MEMBER(&d, choice, "finish_reason");
    const char *reason = CMX_JD_IS(&d, fr, "length")           ? "max_output_tokens"
                         : CMX_JD_IS(&d, fr, "content_filter") ? "content_filter"
                                                               : NULL;
    cmx_jw w;
    cmx_jw_init(&w, out);
    cmx_responses_state st = {.status = reason ? "incomplete" : "completed",
                              .incomplete_reason = reason};
    cmx_responses_write_head(&w, m, &st);
    CMX_JW_KEY(&w, "output");
    cmx_jw_array(&w);
    /* the text: the message's content, or the schema tool's arguments */
    int text = CMX_JD_MEMBER(&d, msg, "content");
    if (!cmx_jd_non_empty_string(&d, text))
        text = -1;
    int calls = CMX_JD_MEMBER(&d, msg, "tool_calls");
    int has_calls = cmx_jd_type(&d, calls) == CMX_JSON_ARRAY;
    if (has_calls) {
        CMX_JD_EACH_ELEMENT(&d, calls, tc)
        {
            int fn = CMX_JD_MEMBER(&d, tc, "function");
            if (is_schema_call(m, &d, CMX_JD_MEMBER(&d, fn, "name")))
                text = CMX_JD_MEMBER(&d, fn, "arguments");
        }
    }
    if (text >= 0) {
        cmx_jw_object(&w);
        CMX_JW_KEY(&w, "type");
        CMX_JW_LIT(&w, "message");
        CMX_JW_KEY(&w, "id");
        cmx_jw_string_open(&w);
        cmx_jw_string_piece_escaped(&w, CMX_LIT("msg_"));
        cmx_jw_string_piece(&w, m->id, strlen(m->id));
        cmx_jw_string_close(&w);
        CMX_JW_KEY(&w, "status");
        CMX_JW_LIT(&w, "completed");
        CMX_JW_KEY(&w, "role");
        CMX_JW_LIT(&w, "assistant");
        CMX_JW_KEY(&w, "content");
        cmx_jw_array(&w);
        cmx_jw_object(&w);
        CMX_JW_KEY(&w, "type");
        CMX_JW_LIT(&w, "output_text");
        CMX_JD_PUT_MEMBER(&w, "text", &d, text);
        CMX_JW_KEY(&w, "annotations");
        cmx_jw_value(&w, CMX_LIT("[]"));
        CMX_JW_KEY(&w, "logprobs");
        cmx_jw_value(&w, CMX_LIT("[]"));
        cmx_jw_end(&w);
        cmx_jw_end(&w);
        cmx_jw_end(&w);
    }
    if (has_calls) {
        CMX_JD_EACH_ELEMENT(&d, calls, tc)
        {
            int fn = CMX_JD_MEMBER(&d, tc, "function");
            int name = CMX_JD_MEMBER(&d, fn, "name");
            int id = CMX_JD_MEMBER(&d, tc, "id");
            int args = CMX_JD_MEMBER(&d, fn, "arguments");
            if (cmx_jd_type(&d, name) != CMX_JSON_STRING || is_schema_call(m, &d, name))
                continue;
            int has_id = cmx_jd_type(&d, id) == CMX_JSON_STRING;
            cmx_jw_object(&w);
            CMX_JW_KEY(&w, "type");
            CMX_JW_LIT(&w, "function_call");
            CMX_JW_KEY(&w, "id");
            cmx_jw_string_open(&w);
            cmx_jw_string_piece_escaped(&w, CMX_LIT("fc_"));
            if (has_id)
                cmx_jd_put_inner(&w, &d, id);
            cmx_jw_string_close(&w);
            CMX_JW_KEY(&w, "call_id");
            if (has_id)
                cmx_jd_put(&w, &d, id);
            else
                CMX_JW_LIT(&w, "call_cmx");
            CMX_JD_PUT_MEMBER(&w, "name", &d, name);
            CMX_JW_KEY(&w, "arguments");
            if (cmx_jd_type(&d, args) == CMX_JSON_STRING)
                cmx_jd_put(&w, &d, args);
            else
                CMX_JW_LIT(&w, "{}");
            CMX_JW_KEY(&w, "status");
            CMX_JW_LIT(&w, "completed");
            cmx_jw_end(&w);
        }
    }
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "usage");
    cmx_usage u;
    cmx_jd_read_chat_usage(&d, CMX_JD_MEMBER(&d, 0, "usage"), &u);
    cmx_responses_write_usage(&w, &u);
    cmx_jw_end(&w);
    cmx_json_doc_release(&d);
    return CMX_OK;
}

const char *cmx_responses_error_code(int kind)
{
    return kind == CMX_ERR_RATE_LIMITED || kind == CMX_ERR_BUDGET ? "rate_limit_exceeded"
                                                                  : "server_error";
}
