/* responses_check.c — checking an OpenAI Responses body before it goes
 * anywhere.
 *
 * cloudmux serves the Responses API without state: a request must carry
 * its whole conversation in `input`.  So what would need a stored response
 * (store: true, previous_response_id, conversation, background, an
 * item_reference) is refused with a 400 that says why; everything else the
 * API defines is checked for its type and shape, the input items for a
 * type the API knows.  Fields the API adds later pass to OpenAI-format
 * targets as they are and are refused by name on the chat road
 * (responses_chat.c). */
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

#define STATELESS "cloudmux keeps no conversation state: send the whole conversation in 'input'"

/* A 400 naming what is wrong. */
#define bad(err, ...) cmx_error_set((err), CMX_ERR_BAD_REQUEST, __VA_ARGS__)

static int is_null(const cmx_json_doc *d, int v)
{
    return cmx_jd_type(d, v) == CMX_JSON_NULL;
}

static int is_bool(const cmx_json_doc *d, int v)
{
    cmx_json_type t = cmx_jd_type(d, v);
    return t == CMX_JSON_TRUE || t == CMX_JSON_FALSE;
}

static cmx_err check_parts(const cmx_json_doc *d, int content, const char *where, cmx_error *err)
{
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(d, content, p)
    {
        int t = cmx_jd_type(d, p) == CMX_JSON_OBJECT ? CMX_JD_MEMBER(d, p, "type") : -1;
        if (CMX_JD_IS(d, t, "input_text") || CMX_JD_IS(d, t, "output_text")) {
            if (cmx_jd_type(d, CMX_JD_MEMBER(d, p, "text")) != CMX_JSON_STRING)
                return bad(err, "%s.content[%zu].text must be a string", where, i);
        } else if (CMX_JD_IS(d, t, "input_image")) {
            int url = CMX_JD_MEMBER(d, p, "image_url");
            int file = CMX_JD_MEMBER(d, p, "file_id");
            if (cmx_jd_type(d, url) != CMX_JSON_STRING && cmx_jd_type(d, file) != CMX_JSON_STRING)
                return bad(err, "%s.content[%zu] needs an image_url or a file_id", where, i);
        } else if (CMX_JD_IS(d, t, "refusal")) {
            if (cmx_jd_type(d, CMX_JD_MEMBER(d, p, "refusal")) != CMX_JSON_STRING)
                return bad(err, "%s.content[%zu].refusal must be a string", where, i);
        } else if (!CMX_JD_IS(d, t, "input_file") && !CMX_JD_IS(d, t, "input_audio")) {
            return bad(err, "%s.content[%zu] is not a content part the Responses API knows", where,
                       i);
        }
        i++;
    }
    return CMX_OK;
}

/* The input item types the Responses API knows beside messages and
 * function calls; they pass to OpenAI-format targets as they are. */
static const char *const other_items[] = {
    "reasoning",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
};

static cmx_err check_item(const cmx_json_doc *d, int it, size_t i, cmx_error *err)
{
    char where[32];
    cmx_ingress_path(where, sizeof where, "input", (long)i);
    if (cmx_jd_type(d, it) != CMX_JSON_OBJECT)
        return bad(err, "%s must be an object", where);
    int type = CMX_JD_MEMBER(d, it, "type");
    int role = CMX_JD_MEMBER(d, it, "role");
    if (type >= 0 && cmx_jd_type(d, type) != CMX_JSON_STRING)
        return bad(err, "%s.type must be a string", where);
    if (type < 0 || CMX_JD_IS(d, type, "message")) {
        if (!CMX_JD_IS(d, role, "user") && !CMX_JD_IS(d, role, "assistant") &&
            !CMX_JD_IS(d, role, "system") && !CMX_JD_IS(d, role, "developer"))
            return bad(err, "%s.role must be 'user', 'assistant', 'system' or 'developer'", where);
        int content = CMX_JD_MEMBER(d, it, "content");
        if (cmx_jd_type(d, content) == CMX_JSON_STRING)
            return CMX_OK;
        if (cmx_jd_type(d, content) != CMX_JSON_ARRAY)
            return bad(err, "%s.content must be a string or an array of content parts", where);
        return check_parts(d, content, where, err);
    }
    if (CMX_JD_IS(d, type, "function_call")) {
        if (cmx_jd_type(d, CMX_JD_MEMBER(d, it, "call_id")) != CMX_JSON_STRING ||
            cmx_jd_type(d, CMX_JD_MEMBER(d, it, "name")) != CMX_JSON_STRING ||
            cmx_jd_type(d, CMX_JD_MEMBER(d, it, "arguments")) != CMX_JSON_STRING)
            return bad(err, "%s: a function_call needs string call_id, name and arguments", where);
        return CMX_OK;
    }
    if (CMX_JD_IS(d, type, "function_call_output")) {
        int out = CMX_JD_MEMBER(d, it, "output");
        if (cmx_jd_type(d, CMX_JD_MEMBER(d, it, "call_id")) != CMX_JSON_STRING)
            return bad(err, "%s.call_id must be a string", where);
        if (cmx_jd_type(d, out) == CMX_JSON_ARRAY)
            return check_parts(d, out, where, err);
        if (cmx_jd_type(d, out) != CMX_JSON_STRING)
            return bad(err, "%s.output must be a string or an array of content parts", where);
        return CMX_OK;
    }
    if (CMX_JD_IS(d, type, "item_reference"))
        return bad(err, "%s: an item_reference points at a stored item; " STATELESS, where);
    for (size_t k = 0; k < sizeof other_items / sizeof other_items[0]; k++)
        if (cmx_jd_string_is(d, type, other_items[k], strlen(other_items[k])))
            return CMX_OK;
    char name[48];
    const char *shown;
    long n = cmx_json_doc_key(d, type, name, sizeof name, &shown);
    return bad(err, "%s: unknown item type '%.*s'", where, n < 0 ? 0 : (int)n, n < 0 ? "" : shown);
}

static cmx_err check_input(const cmx_json_doc *d, int v, cmx_error *err)
{
    if (v < 0)
        return bad(err, "missing required field 'input'");
    if (cmx_jd_type(d, v) == CMX_JSON_STRING)
        return CMX_OK;
    if (cmx_jd_type(d, v) != CMX_JSON_ARRAY)
        return bad(err, "'input' must be a string or an array of input items");
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(d, v, it)
    {
        cmx_err rc = check_item(d, it, i++, err);
        if (rc != CMX_OK)
            return rc;
    }
    if (i == 0)
        return bad(err, "'input' must not be empty");
    return CMX_OK;
}

static cmx_err check_tools(const cmx_json_doc *d, int v, cmx_error *err)
{
    if (v < 0 || is_null(d, v))
        return CMX_OK;
    if (cmx_jd_type(d, v) != CMX_JSON_ARRAY)
        return bad(err, "'tools' must be an array");
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(d, v, t)
    {
        int type = cmx_jd_type(d, t) == CMX_JSON_OBJECT ? CMX_JD_MEMBER(d, t, "type") : -1;
        if (cmx_jd_type(d, type) != CMX_JSON_STRING)
            return bad(err, "tools[%zu] must be an object with a string 'type'", i);
        if (CMX_JD_IS(d, type, "function")) {
            int params = CMX_JD_MEMBER(d, t, "parameters");
            if (cmx_jd_type(d, CMX_JD_MEMBER(d, t, "name")) != CMX_JSON_STRING)
                return bad(err, "tools[%zu].name must be a string", i);
            if (params >= 0 && !is_null(d, params) && cmx_jd_type(d, params) != CMX_JSON_OBJECT)
                return bad(err, "tools[%zu].parameters must be an object (a JSON schema)", i);
        }
        i++;
    }
    return CMX_OK;
}

static cmx_err check_tool_choice(const cmx_json_doc *d, int v, cmx_error *err)
{
    if (v < 0 || is_null(d, v))
        return CMX_OK;
    if (cmx_jd_type(d, v) == CMX_JSON_STRING) {
        if (CMX_JD_IS(d, v, "auto") || CMX_JD_IS(d, v, "none") || CMX_JD_IS(d, v, "required"))
            return CMX_OK;
        return bad(err, "'tool_choice' must be 'auto', 'none', 'required' or an object");
    }
    int type = cmx_jd_type(d, v) == CMX_JSON_OBJECT ? CMX_JD_MEMBER(d, v, "type") : -1;
    if (cmx_jd_type(d, type) != CMX_JSON_STRING)
        return bad(err, "'tool_choice' must be 'auto', 'none', 'required' or an object");
    if (CMX_JD_IS(d, type, "function") &&
        cmx_jd_type(d, CMX_JD_MEMBER(d, v, "name")) != CMX_JSON_STRING)
        return bad(err, "tool_choice.name must be a string");
    return CMX_OK;
}

static cmx_err check_text(const cmx_json_doc *d, int v, cmx_ingress_request *req, cmx_error *err)
{
    if (v < 0 || is_null(d, v))
        return CMX_OK;
    if (cmx_jd_type(d, v) != CMX_JSON_OBJECT)
        return bad(err, "'text' must be an object");
    int f = CMX_JD_MEMBER(d, v, "format");
    if (f < 0 || is_null(d, f))
        return CMX_OK;
    int type = cmx_jd_type(d, f) == CMX_JSON_OBJECT ? CMX_JD_MEMBER(d, f, "type") : -1;
    if (CMX_JD_IS(d, type, "text") || CMX_JD_IS(d, type, "json_object"))
        return CMX_OK;
    if (!CMX_JD_IS(d, type, "json_schema"))
        return bad(err, "text.format.type must be 'text', 'json_schema' or 'json_object'");
    int name = CMX_JD_MEMBER(d, f, "name");
    if (cmx_jd_type(d, name) != CMX_JSON_STRING)
        return bad(err, "text.format.name must be a string");
    if (cmx_jd_type(d, CMX_JD_MEMBER(d, f, "schema")) != CMX_JSON_OBJECT)
        return bad(err, "text.format.schema must be an object (a JSON schema)");
    return CMX_OK;
}

cmx_err cmx_responses_check(const char *body, size_t len, cmx_arena *arena,
                            cmx_ingress_request *req, cmx_request_scan *scan, cmx_error *err)
{
    static const char *const names[] = {"model",
                                        "input",
                                        "stream",
                                        "store",
                                        "previous_response_id",
                                        "conversation",
                                        "background",
                                        "instructions",
                                        "tools",
                                        "tool_choice",
                                        "text",
                                        "max_output_tokens",
                                        "temperature",
                                        "top_p",
                                        "parallel_tool_calls",
                                        "metadata"};
    enum {
        MODEL,
        INPUT,
        STREAM,
        STORE,
        PREVIOUS,
        CONVERSATION,
        BACKGROUND,
        INSTRUCTIONS,
        TOOLS,
        CHOICE,
        TEXT,
        MAX_OUTPUT,
        TEMPERATURE,
        TOP_P,
        PARALLEL,
        METADATA,
        N
    };
    int f[N];
    cmx_err rc =
        cmx_ingress_read_body(CMX_API_RESPONSES, body, len, arena, req, scan, names, N, f, err);
    if (rc != CMX_OK)
        return rc;
    const cmx_json_doc *d = req->doc;
    rc = cmx_json_doc_read_model(d, f[MODEL], scan, err);
    if (rc != CMX_OK)
        return rc;
    if (f[STORE] >= 0) {
        req->store_given = 1;
        if (cmx_jd_type(d, f[STORE]) == CMX_JSON_TRUE)
            return bad(err,
                       "'store': true is not supported: " STATELESS " and set 'store' to false");
        if (!is_bool(d, f[STORE]) && !is_null(d, f[STORE]))
            return bad(err, "'store' must be a boolean");
    }
    if (f[PREVIOUS] >= 0 && !is_null(d, f[PREVIOUS]))
        return bad(err, "'previous_response_id' is not supported: " STATELESS);
    if (f[CONVERSATION] >= 0 && !is_null(d, f[CONVERSATION]))
        return bad(err, "'conversation' is not supported: " STATELESS);
    if (cmx_jd_type(d, f[BACKGROUND]) == CMX_JSON_TRUE)
        return bad(err, "'background': true is not supported: cloudmux answers while connected");
    if (f[STREAM] >= 0) {
        if (!is_bool(d, f[STREAM]) && !is_null(d, f[STREAM]))
            return bad(err, "'stream' must be a boolean");
        scan->stream = cmx_jd_type(d, f[STREAM]) == CMX_JSON_TRUE;
    }
    int64_t n;
    if (f[MAX_OUTPUT] >= 0 && !is_null(d, f[MAX_OUTPUT]) &&
        (cmx_json_doc_int64(d, f[MAX_OUTPUT], &n) != 0 || n < 1))
        return bad(err, "'max_output_tokens' must be an integer of at least 1");
    static const int numbers[] = {TEMPERATURE, TOP_P};
    for (size_t i = 0; i < 2; i++)
        if (f[numbers[i]] >= 0 && !is_null(d, f[numbers[i]]) &&
            cmx_jd_type(d, f[numbers[i]]) != CMX_JSON_NUMBER)
            return bad(err, "'%s' must be a number", names[numbers[i]]);
    if (f[PARALLEL] >= 0 && !is_bool(d, f[PARALLEL]) && !is_null(d, f[PARALLEL]))
        return bad(err, "'parallel_tool_calls' must be a boolean");
    if (f[METADATA] >= 0 && !is_null(d, f[METADATA]) &&
        cmx_jd_type(d, f[METADATA]) != CMX_JSON_OBJECT)
        return bad(err, "'metadata' must be an object");
    if (f[INSTRUCTIONS] >= 0 && !is_null(d, f[INSTRUCTIONS]) &&
        cmx_jd_type(d, f[INSTRUCTIONS]) != CMX_JSON_STRING)
        return bad(err, "'instructions' must be a string");
    rc = check_input(d, f[INPUT], err);
    if (rc == CMX_OK)
        rc = check_tools(d, f[TOOLS], err);
    if (rc == CMX_OK)
        rc = check_tool_choice(d, f[CHOICE], err);
    if (rc == CMX_OK)
        rc = check_text(d, f[TEXT], req, err);
    if (rc == CMX_OK && f[TEXT] >= 0 && !is_null(d, f[TEXT])) {
        int fmt = CMX_JD_MEMBER(d, f[TEXT], "format");
        int type = fmt >= 0 ? CMX_JD_MEMBER(d, fmt, "type") : -1;
        if (CMX_JD_IS(d, type, "json_schema")) {
            req->schema_tool =
                cmx_json_doc_string(d, CMX_JD_MEMBER(d, fmt, "name"), arena, &req->schema_tool_len);
            if (!req->schema_tool)
                return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        } else if (CMX_JD_IS(d, type, "json_object")) {
            req->schema_tool = "json_object";
            req->schema_tool_len = CMX_LIT_LEN("json_object");
        }
    }
    return rc;
}

const char *cmx_responses_stateless_body(const cmx_ingress_request *req, const char *body,
                                         size_t len, cmx_request_scan *scan, cmx_arena *arena,
                                         size_t *out_len)
{
    *out_len = len;
    if (req->store_given)
        return body;
    static const char insert[] = "\"store\":false,";
    size_t k = sizeof insert - 1;
    size_t at = scan->body.start + 1; /* just inside the top-level '{' */
    char *out = cmx_arena_alloc(arena, len + k + 1);
    if (!out)
        return NULL;
    memcpy(out, body, at);
    memcpy(out + at, insert, k);
    memcpy(out + at + k, body + at, len - at);
    out[len + k] = '\0';
    /* every span after the insertion moves by its length */
    scan->model.start += k;
    scan->model.end += k;
    scan->body.end += k;
    *out_len = len + k;
    return out;
}
