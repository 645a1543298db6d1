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
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

#define OPENAI_ONLY "send it to an openai or azure target"

typedef struct conv {
    const cmx_ingress_request *req;
    const cmx_json_doc *doc;
    cmx_buf *out;
    cmx_buf *dropped;
    cmx_error *err;
    int first_message;
} conv;

static cmx_err refuse(conv *c, const char *what, int type_token, const char *why)
{
    char name[48];
    const char *shown = "";
    long n = type_token >= 0 ? cmx_json_doc_key(c->doc, type_token, name, sizeof name, &shown) : 0;
    return cmx_error_set(c->err, CMX_ERR_BAD_REQUEST, "%s '%.*s' %s", what, n < 0 ? 0 : (int)n,
                         n < 0 ? "" : shown, why);
}

static void begin_message(conv *c, const char *role, size_t role_len)
{
    cmx_buf_append_str(c->out, c->first_message ? "{\"role\":\"" : ",{\"role\":\"");
    cmx_buf_append(c->out, role, role_len);
    cmx_buf_append(c->out, CMX_LIT("\""));
    c->first_message = 0;
}

/* A message item's content as chat content. */
static cmx_err write_content(conv *c, int content, const char *where)
{
    const cmx_json_doc *d = c->doc;
    if (cmx_jd_type(d, content) == CMX_JSON_STRING) {
        cmx_jw_copy(c->out, d, content);
        return CMX_OK;
    }
    cmx_buf_append(c->out, CMX_LIT("["));
    int first = 1;
    CMX_JD_EACH_ELEMENT(d, content, p)
    {
        int t = CMX_JD_MEMBER(d, p, "type");
        cmx_buf_append_str(c->out, first ? "" : ",");
        first = 0;
        if (CMX_JD_IS(d, t, "input_text") || CMX_JD_IS(d, t, "output_text")) {
            cmx_buf_append(c->out, CMX_LIT("{\"type\":\"text\",\"text\":"));
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, p, "text"));
            cmx_buf_append(c->out, CMX_LIT("}"));
        } else if (CMX_JD_IS(d, t, "refusal")) {
            cmx_buf_append(c->out, CMX_LIT("{\"type\":\"text\",\"text\":"));
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, p, "refusal"));
            cmx_buf_append(c->out, CMX_LIT("}"));
        } else if (CMX_JD_IS(d, t, "input_image") &&
                   cmx_jd_type(d, CMX_JD_MEMBER(d, p, "image_url")) == CMX_JSON_STRING) {
            cmx_buf_append(c->out, CMX_LIT("{\"type\":\"image_url\",\"image_url\":{\"url\":"));
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, p, "image_url"));
            int detail = CMX_JD_MEMBER(d, p, "detail");
            if (cmx_jd_type(d, detail) == CMX_JSON_STRING) {
                cmx_buf_append(c->out, CMX_LIT(",\"detail\":"));
                cmx_jw_copy(c->out, d, detail);
            }
            cmx_buf_append(c->out, CMX_LIT("}}"));
        } else {
            char what[64];
            snprintf(what, sizeof what, "%s: a content part", where);
            return refuse(c, what, t,
                          "has no chat completions form (file ids and files need an OpenAI "
                          "store); " OPENAI_ONLY);
        }
    }
    cmx_buf_append(c->out, CMX_LIT("]"));
    return CMX_OK;
}

/* function_call items from `it` on, while they follow one another, as
 * tool_calls; returns the token after the last one taken. */
static int write_tool_calls(conv *c, int it, int end)
{
    const cmx_json_doc *d = c->doc;
    cmx_buf_append(c->out, CMX_LIT(",\"tool_calls\":["));
    int first = 1;
    while (it < end && CMX_JD_IS(d, CMX_JD_MEMBER(d, it, "type"), "function_call")) {
        cmx_buf_append_str(c->out, first ? "{\"id\":" : ",{\"id\":");
        first = 0;
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, it, "call_id"));
        cmx_buf_append(c->out, CMX_LIT(",\"type\":\"function\",\"function\":{\"name\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, it, "name"));
        cmx_buf_append(c->out, CMX_LIT(",\"arguments\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, it, "arguments"));
        cmx_buf_append(c->out, CMX_LIT("}}"));
        it = cmx_json_doc_next(d, it);
    }
    cmx_buf_append(c->out, CMX_LIT("]"));
    return it;
}

static cmx_err write_items(conv *c, int input)
{
    const cmx_json_doc *d = c->doc;
    if (cmx_jd_type(d, input) == CMX_JSON_STRING) {
        begin_message(c, CMX_LIT("user"));
        cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
        cmx_jw_copy(c->out, d, input);
        cmx_buf_append(c->out, CMX_LIT("}"));
        return CMX_OK;
    }
    int end = cmx_json_doc_next(d, input);
    size_t i = 0;
    char where[32];
    for (int it = input + 1; it < end; i++) {
        snprintf(where, sizeof where, "input[%zu]", i);
        int type = CMX_JD_MEMBER(d, it, "type");
        int next = cmx_json_doc_next(d, it);
        if (type < 0 || CMX_JD_IS(d, type, "message")) {
            int role = CMX_JD_MEMBER(d, it, "role");
            cmx_json_span rs = cmx_json_doc_span(d, role);
            begin_message(c, d->bytes + rs.start + 1, rs.end - rs.start - 2);
            cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
            cmx_err rc = write_content(c, CMX_JD_MEMBER(d, it, "content"), where);
            if (rc != CMX_OK)
                return rc;
            /* an assistant turn's calls follow its message item */
            if (CMX_JD_IS(d, role, "assistant") && next < end &&
                CMX_JD_IS(d, CMX_JD_MEMBER(d, next, "type"), "function_call"))
                next = write_tool_calls(c, next, end);
            cmx_buf_append(c->out, CMX_LIT("}"));
        } else if (CMX_JD_IS(d, type, "function_call")) {
            begin_message(c, CMX_LIT("assistant"));
            cmx_buf_append(c->out, CMX_LIT(",\"content\":null"));
            next = write_tool_calls(c, it, end);
            cmx_buf_append(c->out, CMX_LIT("}"));
        } else if (CMX_JD_IS(d, type, "function_call_output")) {
            int out = CMX_JD_MEMBER(d, it, "output");
            begin_message(c, CMX_LIT("tool"));
            cmx_buf_append(c->out, CMX_LIT(",\"tool_call_id\":"));
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, it, "call_id"));
            cmx_buf_append(c->out, CMX_LIT(",\"content\":"));
            if (cmx_jd_type(d, out) == CMX_JSON_STRING) {
                cmx_jw_copy(c->out, d, out);
            } else {
                cmx_buf_append(c->out, CMX_LIT("\""));
                CMX_JD_EACH_ELEMENT(d, out, p)
                {
                    int text = CMX_JD_MEMBER(d, p, "text");
                    if (cmx_jd_type(d, text) != CMX_JSON_STRING)
                        return refuse(c, "a function_call_output part", CMX_JD_MEMBER(d, p, "type"),
                                      "has no chat completions form; " OPENAI_ONLY);
                    cmx_jw_inner(c->out, d, text);
                }
                cmx_buf_append(c->out, CMX_LIT("\""));
            }
            cmx_buf_append(c->out, CMX_LIT("}"));
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
    size_t n = 0;
    int have_tools = cmx_jd_type(d, tools) == CMX_JSON_ARRAY && cmx_jd_count(d, tools) > 0;
    if (!have_tools && !req->schema_tool) {
        if (choice >= 0 && cmx_jd_type(d, choice) == CMX_JSON_STRING) {
            cmx_buf_append(c->out, CMX_LIT(",\"tool_choice\":"));
            cmx_jw_copy(c->out, d, choice);
        }
        return CMX_OK;
    }
    cmx_buf_append(c->out, CMX_LIT(",\"tools\":["));
    if (have_tools) {
        CMX_JD_EACH_ELEMENT(d, tools, t)
        {
            int type = CMX_JD_MEMBER(d, t, "type");
            if (!CMX_JD_IS(d, type, "function"))
                return refuse(c, "a tool of type", type, "is hosted by OpenAI; " OPENAI_ONLY);
            cmx_buf_append_str(c->out, n++ ? ",{\"type\":\"function\",\"function\":{\"name\":"
                                           : "{\"type\":\"function\",\"function\":{\"name\":");
            cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, t, "name"));
            int desc = CMX_JD_MEMBER(d, t, "description");
            if (cmx_jd_type(d, desc) == CMX_JSON_STRING) {
                cmx_buf_append(c->out, CMX_LIT(",\"description\":"));
                cmx_jw_copy(c->out, d, desc);
            }
            int params = CMX_JD_MEMBER(d, t, "parameters");
            if (cmx_jd_type(d, params) == CMX_JSON_OBJECT) {
                cmx_buf_append(c->out, CMX_LIT(",\"parameters\":"));
                cmx_jw_copy(c->out, d, params);
            }
            cmx_buf_append(c->out, CMX_LIT("}}"));
        }
    }
    if (req->schema_tool) {
        int fmt = CMX_JD_MEMBER(d, text, "format");
        int schema = CMX_JD_MEMBER(d, fmt, "schema");
        int desc = CMX_JD_MEMBER(d, fmt, "description");
        cmx_buf_append_str(c->out, n++ ? ",{\"type\":\"function\",\"function\":{\"name\":"
                                       : "{\"type\":\"function\",\"function\":{\"name\":");
        cmx_jw_str(c->out, req->schema_tool, req->schema_tool_len);
        cmx_buf_append(c->out, CMX_LIT(",\"description\":"));
        if (cmx_jd_type(d, desc) == CMX_JSON_STRING)
            cmx_jw_copy(c->out, d, desc);
        else
            cmx_buf_append(c->out, CMX_LIT("\"Give the answer as this tool's input.\""));
        cmx_buf_append(c->out, CMX_LIT(",\"parameters\":"));
        if (schema >= 0)
            cmx_jw_copy(c->out, d, schema);
        else
            cmx_buf_append(c->out, CMX_LIT("{\"type\":\"object\"}"));
        cmx_buf_append(c->out, CMX_LIT("}}"));
    }
    cmx_buf_append(c->out, CMX_LIT("],\"tool_choice\":"));
    if (req->schema_tool) {
        /* the answer comes as a call: of the schema tool, or of one of the
         * client's own when it gave some and did not forbid them */
        if (have_tools && !CMX_JD_IS(d, choice, "none")) {
            cmx_buf_append(c->out, CMX_LIT("\"required\""));
        } else {
            cmx_buf_append(c->out, CMX_LIT("{\"type\":\"function\",\"function\":{\"name\":"));
            cmx_jw_str(c->out, req->schema_tool, req->schema_tool_len);
            cmx_buf_append(c->out, CMX_LIT("}}"));
        }
    } else if (cmx_jd_type(d, choice) == CMX_JSON_STRING) {
        cmx_jw_copy(c->out, d, choice);
    } else if (cmx_jd_type(d, choice) == CMX_JSON_OBJECT) {
        int type = CMX_JD_MEMBER(d, choice, "type");
        if (!CMX_JD_IS(d, type, "function"))
            return refuse(c, "a tool_choice of type", type,
                          "has no chat completions form; " OPENAI_ONLY);
        cmx_buf_append(c->out, CMX_LIT("{\"type\":\"function\",\"function\":{\"name\":"));
        cmx_jw_copy(c->out, d, CMX_JD_MEMBER(d, choice, "name"));
        cmx_buf_append(c->out, CMX_LIT("}}"));
    } else {
        cmx_buf_append(c->out, CMX_LIT("\"auto\""));
    }
    return CMX_OK;
}

cmx_err cmx_responses_to_chat(const cmx_ingress_request *req, cmx_arena *arena, cmx_buf *out,
                              cmx_buf *dropped, cmx_error *err)
{
    (void)arena;
    const cmx_json_doc *d = req->doc;
    conv c = {req, d, out, dropped, err, 1};
    int model = -1, input = -1, instructions = -1, tools = -1, choice = -1, text = -1, stream = 0;
    int copied[6];
    const char *copied_as[6];
    size_t n_copied = 0;
    CMX_JD_EACH_KEY(d, 0, k)
    {
        int v = k + 1;
        char name[32];
        const char *key;
        long n = cmx_json_doc_key(d, k, name, sizeof name, &key);
        size_t kn = n < 0 ? 0 : (size_t)n;
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
                cmx_ingress_note(c.dropped, field);
            }
        } else {
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "'%.*s' has no chat completions form; " OPENAI_ONLY,
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
        /* parallel_tool_calls only means something with tools */
        if (strcmp(copied_as[i], "parallel_tool_calls") == 0 &&
            !(cmx_jd_type(d, tools) == CMX_JSON_ARRAY && cmx_jd_count(d, tools) > 0))
            continue;
        cmx_buf_append(out, CMX_LIT(",\""));
        cmx_buf_append_str(out, copied_as[i]);
        cmx_buf_append(out, CMX_LIT("\":"));
        cmx_jw_copy(out, d, copied[i]);
    }
    if (stream)
        cmx_buf_append(out,
                       CMX_LIT(",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
    cmx_err rc = write_tools(&c, tools, choice, text);
    if (rc != CMX_OK)
        return rc;
    cmx_buf_append(out, CMX_LIT(",\"messages\":["));
    if (instructions >= 0) {
        begin_message(&c, CMX_LIT("system"));
        cmx_buf_append(out, CMX_LIT(",\"content\":"));
        cmx_jw_copy(out, d, instructions);
        cmx_buf_append(out, CMX_LIT("}"));
    }
    rc = write_items(&c, input);
    if (rc != CMX_OK)
        return rc;
    cmx_buf_append(out, CMX_LIT("]}"));
    return CMX_OK;
}

/* ---- the answer ---------------------------------------------------------- */

static int64_t count(int64_t v)
{
    return v > 0 ? v : 0;
}

void cmx_responses_write_usage(cmx_buf *out, const cmx_usage *u)
{
    cmx_buf_append(out, CMX_LIT("{\"input_tokens\":"));
    cmx_jw_int(out, count(u->prompt_tokens));
    cmx_buf_append(out, CMX_LIT(",\"input_tokens_details\":{\"cached_tokens\":"));
    cmx_jw_int(out, count(u->cached_tokens));
    cmx_buf_append(out, CMX_LIT("},\"output_tokens\":"));
    cmx_jw_int(out, count(u->completion_tokens));
    cmx_buf_append(out, CMX_LIT(",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                                "\"total_tokens\":"));
    cmx_jw_int(out, u->total_tokens >= 0 ? u->total_tokens
                                         : count(u->prompt_tokens) + count(u->completion_tokens));
    cmx_buf_append(out, CMX_LIT("}"));
}

/* A request field repeated in the response, or its default. */
static void echo(cmx_buf *out, const cmx_json_doc *d, const char *name, const char *def)
{
    int v = cmx_json_doc_member(d, 0, name, strlen(name), NULL);
    cmx_buf_append(out, CMX_LIT(",\""));
    cmx_buf_append_str(out, name);
    cmx_buf_append(out, CMX_LIT("\":"));
    if (v >= 0 && cmx_jd_type(d, v) != CMX_JSON_NULL)
        cmx_jw_copy(out, d, v);
    else
        cmx_buf_append_str(out, def);
}

/* Everything of a response object up to (not including) "output". */
void cmx_responses_write_head(cmx_buf *out, const cmx_responses_meta *m,
                              const cmx_responses_state *st)
{
    const cmx_json_doc *d = m->req->doc;
    cmx_buf_append(out, CMX_LIT("{\"id\":"));
    cmx_jw_cstr(out, m->id);
    cmx_buf_append(out, CMX_LIT(",\"object\":\"response\",\"created_at\":"));
    cmx_jw_int(out, m->created_at);
    cmx_buf_append(out, CMX_LIT(",\"status\":\""));
    cmx_buf_append_str(out, st->status);
    cmx_buf_append(out, CMX_LIT("\",\"background\":false,\"error\":"));
    if (st->error_code) {
        cmx_buf_append(out, CMX_LIT("{\"code\":"));
        cmx_jw_cstr(out, st->error_code);
        cmx_buf_append(out, CMX_LIT(",\"message\":"));
        cmx_jw_cstr(out, st->error_message ? st->error_message : st->error_code);
        cmx_buf_append(out, CMX_LIT("}"));
    } else {
        cmx_buf_append(out, CMX_LIT("null"));
    }
    cmx_buf_append(out, CMX_LIT(",\"incomplete_details\":"));
    if (st->incomplete_reason) {
        cmx_buf_append(out, CMX_LIT("{\"reason\":\""));
        cmx_buf_append_str(out, st->incomplete_reason);
        cmx_buf_append(out, CMX_LIT("\"}"));
    } else {
        cmx_buf_append(out, CMX_LIT("null"));
    }
    echo(out, d, "instructions", "null");
    echo(out, d, "max_output_tokens", "null");
    echo(out, d, "metadata", "{}");
    cmx_buf_append(out, CMX_LIT(",\"model\":"));
    if (st->model)
        cmx_jw_str(out, st->model, st->model_len);
    else
        cmx_jw_copy(out, d, CMX_JD_MEMBER(d, 0, "model"));
    echo(out, d, "parallel_tool_calls", "true");
    cmx_buf_append(out,
                   CMX_LIT(",\"previous_response_id\":null,\"reasoning\":null,\"store\":false"));
    echo(out, d, "temperature", "1");
    echo(out, d, "text", "{\"format\":{\"type\":\"text\"}}");
    echo(out, d, "tool_choice", "\"auto\"");
    echo(out, d, "tools", "[]");
    echo(out, d, "top_p", "1");
    cmx_buf_append(out, CMX_LIT(",\"truncation\":\"disabled\""));
    echo(out, d, "user", "null");
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
    cmx_err rc = cmx_json_doc_parse(&d, chat, len, arena, NULL);
    int choice = -1, msg = -1;
    if (rc == CMX_OK && cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT) {
        int choices = CMX_JD_MEMBER(&d, 0, "choices");
        if (cmx_jd_type(&d, choices) == CMX_JSON_ARRAY &&
            cmx_json_doc_next(&d, choices) > choices + 1)
            choice = choices + 1;
        msg = choice >= 0 ? CMX_JD_MEMBER(&d, choice, "message") : -1;
    }
    if (rc != CMX_OK || cmx_jd_type(&d, msg) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&d);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "the upstream answer is not a chat.completion");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    int fr = CMX_JD_MEMBER(&d, choice, "finish_reason");
    const char *reason = CMX_JD_IS(&d, fr, "length")           ? "max_output_tokens"
                         : CMX_JD_IS(&d, fr, "content_filter") ? "content_filter"
                                                               : NULL;
    cmx_responses_state st = {.status = reason ? "incomplete" : "completed",
                              .incomplete_reason = reason};
    cmx_responses_write_head(out, m, &st);
    cmx_buf_append(out, CMX_LIT(",\"output\":["));
    /* the text: the message's content, or the schema tool's arguments */
    int text = CMX_JD_MEMBER(&d, msg, "content");
    if (!(cmx_jd_type(&d, text) == CMX_JSON_STRING &&
          cmx_json_doc_span(&d, text).end - cmx_json_doc_span(&d, text).start > 2))
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
    int first = 1;
    if (text >= 0) {
        cmx_buf_append(out, CMX_LIT("{\"type\":\"message\",\"id\":\"msg_"));
        cmx_buf_append_str(out, m->id);
        cmx_buf_append(out, CMX_LIT("\",\"status\":\"completed\",\"role\":\"assistant\","
                                    "\"content\":[{\"type\":\"output_text\",\"text\":"));
        cmx_jw_copy(out, &d, text);
        cmx_buf_append(out, CMX_LIT(",\"annotations\":[],\"logprobs\":[]}]}"));
        first = 0;
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
            cmx_buf_append_str(out, first ? "{\"type\":\"function_call\",\"id\":\"fc_"
                                          : ",{\"type\":\"function_call\",\"id\":\"fc_");
            first = 0;
            if (cmx_jd_type(&d, id) == CMX_JSON_STRING)
                cmx_jw_inner(out, &d, id);
            cmx_buf_append(out, CMX_LIT("\",\"call_id\":"));
            if (cmx_jd_type(&d, id) == CMX_JSON_STRING)
                cmx_jw_copy(out, &d, id);
            else
                cmx_buf_append(out, CMX_LIT("\"call_cmx\""));
            cmx_buf_append(out, CMX_LIT(",\"name\":"));
            cmx_jw_copy(out, &d, name);
            cmx_buf_append(out, CMX_LIT(",\"arguments\":"));
            if (cmx_jd_type(&d, args) == CMX_JSON_STRING)
                cmx_jw_copy(out, &d, args);
            else
                cmx_buf_append(out, CMX_LIT("\"{}\""));
            cmx_buf_append(out, CMX_LIT(",\"status\":\"completed\"}"));
        }
    }
    cmx_buf_append(out, CMX_LIT("],\"usage\":"));
    cmx_usage u;
    cmx_jd_read_chat_usage(&d, CMX_JD_MEMBER(&d, 0, "usage"), &u);
    cmx_responses_write_usage(out, &u);
    cmx_buf_append(out, CMX_LIT("}"));
    cmx_json_doc_release(&d);
    return CMX_OK;
}

const char *cmx_responses_error_code(int kind)
{
    return kind == CMX_ERR_RATE_LIMITED || kind == CMX_ERR_BUDGET ? "rate_limit_exceeded"
                                                                  : "server_error";
}
