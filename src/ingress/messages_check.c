/* messages_check.c — checking an Anthropic Messages body (or a
 * count_tokens body) before it goes anywhere.
 *
 * The body is tokenized once; then every field the Messages API defines is
 * checked for its type and shape, and every content block for a type the
 * API knows and the fields that type needs.  A top-level field the API
 * does not define yet is let through: a Claude target judges it, and the
 * chat form refuses it by name (messages_chat.c).  The routing fields go
 * into the scan as for chat: the model's span (so a provider can splice its
 * own) and stream. */
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

typedef struct check {
    const cmx_json_doc *doc;
    cmx_error *err;
    char where[96]; /* "messages[2].content[1]" */
} check;

/* A 400 naming what is wrong. */
#define bad(c, ...) cmx_error_set((c)->err, CMX_ERR_BAD_REQUEST, __VA_ARGS__)

static int is_type(const check *c, int v, cmx_json_type t)
{
    return cmx_jd_type(c->doc, v) == t;
}

/* The length of c->where (always below its size). */
static size_t where_len(const check *c)
{
    return strnlen(c->where, sizeof c->where - 1);
}

/* Writes `name` (and "[index]" when index >= 0) into c->where from byte
 * `at` on. */
static void where_at(check *c, size_t at, const char *name, long index)
{
    if (at < sizeof c->where)
        cmx_ingress_path(c->where + at, sizeof c->where - at, name, index);
}

/* A required string member `name` of object o (at c->where). */
static cmx_err need_string(check *c, int o, const char *name, size_t n)
{
    int v = cmx_json_doc_member(c->doc, o, name, n, NULL);
    if (!is_type(c, v, CMX_JSON_STRING))
        return bad(c, "%s.%s must be a string", c->where, name);
    return CMX_OK;
}

static cmx_err optional_bool(check *c, int o, const char *name, size_t n)
{
    int v = cmx_json_doc_member(c->doc, o, name, n, NULL);
    if (v >= 0 && !is_type(c, v, CMX_JSON_TRUE) && !is_type(c, v, CMX_JSON_FALSE))
        return bad(c, "%s.%s must be a boolean", c->where, name);
    return CMX_OK;
}

static cmx_err check_source(check *c, int block, int document)
{
    int src = CMX_JD_MEMBER(c->doc, block, "source");
    if (!is_type(c, src, CMX_JSON_OBJECT))
        return bad(c, "%s.source must be an object", c->where);
    int t = CMX_JD_MEMBER(c->doc, src, "type");
    size_t at = where_len(c);
    where_at(c, at, ".source", -1);
    cmx_err rc;
    if (CMX_JD_IS(c->doc, t, "base64")) {
        rc = need_string(c, src, CMX_LIT("media_type"));
        if (rc == CMX_OK)
            rc = need_string(c, src, CMX_LIT("data"));
    } else if (CMX_JD_IS(c->doc, t, "url")) {
        rc = need_string(c, src, CMX_LIT("url"));
    } else if (CMX_JD_IS(c->doc, t, "file")) {
        rc = need_string(c, src, CMX_LIT("file_id"));
    } else if (document && CMX_JD_IS(c->doc, t, "text")) {
        rc = need_string(c, src, CMX_LIT("data"));
    } else if (document && CMX_JD_IS(c->doc, t, "content")) {
        int content = CMX_JD_MEMBER(c->doc, src, "content");
        rc = is_type(c, content, CMX_JSON_STRING) || is_type(c, content, CMX_JSON_ARRAY)
                 ? CMX_OK
                 : bad(c, "%s.content must be a string or an array", c->where);
    } else {
        rc = bad(c, "%s.type must be one of %s", c->where,
                 document ? "'base64', 'text', 'url', 'content', 'file'"
                          : "'base64', 'url', 'file'");
    }
    c->where[at] = '\0';
    return rc;
}

static cmx_err check_blocks(check *c, int arr, int depth);

/* The block types a Messages request may carry, with what each needs. */
static cmx_err check_block(check *c, int b, int depth)
{
    if (!is_type(c, b, CMX_JSON_OBJECT))
        return bad(c, "%s must be an object", c->where);
    int t = CMX_JD_MEMBER(c->doc, b, "type");
    if (!is_type(c, t, CMX_JSON_STRING))
        return bad(c, "%s has no string 'type'", c->where);
    const cmx_json_doc *d = c->doc;
    if (CMX_JD_IS(d, t, "text"))
        return need_string(c, b, CMX_LIT("text"));
    if (CMX_JD_IS(d, t, "image"))
        return check_source(c, b, 0);
    if (CMX_JD_IS(d, t, "document"))
        return check_source(c, b, 1);
    if (CMX_JD_IS(d, t, "tool_use") || CMX_JD_IS(d, t, "server_tool_use") ||
        CMX_JD_IS(d, t, "mcp_tool_use")) {
        cmx_err rc = need_string(c, b, CMX_LIT("id"));
        if (rc == CMX_OK)
            rc = need_string(c, b, CMX_LIT("name"));
        if (rc == CMX_OK && !is_type(c, CMX_JD_MEMBER(d, b, "input"), CMX_JSON_OBJECT))
            rc = bad(c, "%s.input must be an object", c->where);
        return rc;
    }
    if (CMX_JD_IS(d, t, "tool_result")) {
        cmx_err rc = need_string(c, b, CMX_LIT("tool_use_id"));
        if (rc == CMX_OK)
            rc = optional_bool(c, b, CMX_LIT("is_error"));
        int content = CMX_JD_MEMBER(d, b, "content");
        if (rc == CMX_OK && content >= 0 && !is_type(c, content, CMX_JSON_STRING)) {
            if (!is_type(c, content, CMX_JSON_ARRAY))
                return bad(c, "%s.content must be a string or an array of blocks", c->where);
            if (depth > 0)
                return bad(c, "%s: a tool_result inside a tool_result", c->where);
            size_t at = where_len(c);
            where_at(c, at, ".content", -1);
            rc = check_blocks(c, content, depth + 1);
            c->where[at] = '\0';
        }
        return rc;
    }
    if (CMX_JD_IS(d, t, "thinking")) {
        cmx_err rc = need_string(c, b, CMX_LIT("thinking"));
        return rc == CMX_OK ? need_string(c, b, CMX_LIT("signature")) : rc;
    }
    if (CMX_JD_IS(d, t, "redacted_thinking"))
        return need_string(c, b, CMX_LIT("data"));
    /* blocks of Anthropic's server tools, passed to Claude as they are */
    static const char *const server_blocks[] = {
        "search_result",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_result",
        "container_upload",
        "tool_search_tool_result",
    };
    for (size_t i = 0; i < sizeof server_blocks / sizeof server_blocks[0]; i++)
        if (cmx_jd_string_is(d, t, server_blocks[i], strlen(server_blocks[i])))
            return CMX_OK;
    char name[64];
    const char *shown;
    long n = cmx_json_doc_key(d, t, name, sizeof name, &shown);
    return bad(c, "%s: unknown block type '%.*s'", c->where, n < 0 ? 3 : (int)(n > 60 ? 60 : n),
               n < 0 ? "..." : shown);
}

static cmx_err check_blocks(check *c, int arr, int depth)
{
    size_t at = where_len(c), i = 0;
    cmx_err rc = CMX_OK;
    CMX_JD_EACH_ELEMENT(c->doc, arr, b)
    {
        where_at(c, at, "", (long)i++);
        rc = check_block(c, b, depth);
        c->where[at] = '\0';
        if (rc != CMX_OK)
            break;
    }
    return rc;
}

static cmx_err check_messages(check *c, int v)
{
    if (v < 0)
        return bad(c, "missing required field 'messages'");
    if (!is_type(c, v, CMX_JSON_ARRAY))
        return bad(c, "'messages' must be an array");
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(c->doc, v, m)
    {
        where_at(c, 0, "messages", (long)i++);
        if (!is_type(c, m, CMX_JSON_OBJECT))
            return bad(c, "%s must be an object", c->where);
        int role = CMX_JD_MEMBER(c->doc, m, "role");
        if (!CMX_JD_IS(c->doc, role, "user") && !CMX_JD_IS(c->doc, role, "assistant"))
            return bad(c, "%s.role must be 'user' or 'assistant'", c->where);
        int content = CMX_JD_MEMBER(c->doc, m, "content");
        if (is_type(c, content, CMX_JSON_STRING))
            continue;
        if (!is_type(c, content, CMX_JSON_ARRAY))
            return bad(c, "%s.content must be a string or an array of blocks", c->where);
        where_at(c, where_len(c), ".content", -1);
        cmx_err rc = check_blocks(c, content, 0);
        if (rc != CMX_OK)
            return rc;
    }
    if (i == 0)
        return bad(c, "'messages' must contain at least one message");
    return CMX_OK;
}

static cmx_err check_system(check *c, int v)
{
    if (v < 0 || is_type(c, v, CMX_JSON_STRING))
        return CMX_OK;
    if (!is_type(c, v, CMX_JSON_ARRAY))
        return bad(c, "'system' must be a string or an array of text blocks");
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(c->doc, v, b)
    {
        where_at(c, 0, "system", (long)i++);
        if (!is_type(c, b, CMX_JSON_OBJECT) ||
            !CMX_JD_IS(c->doc, CMX_JD_MEMBER(c->doc, b, "type"), "text"))
            return bad(c, "%s must be a text block", c->where);
        cmx_err rc = need_string(c, b, CMX_LIT("text"));
        if (rc != CMX_OK)
            return rc;
    }
    return CMX_OK;
}

static cmx_err check_tools(check *c, int v)
{
    if (v < 0)
        return CMX_OK;
    if (!is_type(c, v, CMX_JSON_ARRAY))
        return bad(c, "'tools' must be an array");
    size_t i = 0;
    CMX_JD_EACH_ELEMENT(c->doc, v, t)
    {
        where_at(c, 0, "tools", (long)i++);
        if (!is_type(c, t, CMX_JSON_OBJECT))
            return bad(c, "%s must be an object", c->where);
        cmx_err rc = need_string(c, t, CMX_LIT("name"));
        if (rc != CMX_OK)
            return rc;
        int type = CMX_JD_MEMBER(c->doc, t, "type");
        if (type >= 0 && !is_type(c, type, CMX_JSON_STRING))
            return bad(c, "%s.type must be a string", c->where);
        /* a custom tool (no type, or "custom") describes its input */
        if ((type < 0 || CMX_JD_IS(c->doc, type, "custom")) &&
            !is_type(c, CMX_JD_MEMBER(c->doc, t, "input_schema"), CMX_JSON_OBJECT))
            return bad(c, "%s.input_schema must be an object (a JSON schema)", c->where);
    }
    return CMX_OK;
}

static cmx_err check_tool_choice(check *c, int v)
{
    if (v < 0)
        return CMX_OK;
    where_at(c, 0, "tool_choice", -1);
    if (!is_type(c, v, CMX_JSON_OBJECT))
        return bad(c, "'tool_choice' must be an object");
    int t = CMX_JD_MEMBER(c->doc, v, "type");
    if (CMX_JD_IS(c->doc, t, "tool")) {
        cmx_err rc = need_string(c, v, CMX_LIT("name"));
        if (rc != CMX_OK)
            return rc;
    } else if (!CMX_JD_IS(c->doc, t, "auto") && !CMX_JD_IS(c->doc, t, "any") &&
               !CMX_JD_IS(c->doc, t, "none")) {
        return bad(c, "tool_choice.type must be 'auto', 'any', 'tool' or 'none'");
    }
    return optional_bool(c, v, CMX_LIT("disable_parallel_tool_use"));
}

static cmx_err check_thinking(check *c, int v)
{
    if (v < 0)
        return CMX_OK;
    where_at(c, 0, "thinking", -1);
    if (!is_type(c, v, CMX_JSON_OBJECT))
        return bad(c, "'thinking' must be an object");
    int t = CMX_JD_MEMBER(c->doc, v, "type");
    if (CMX_JD_IS(c->doc, t, "enabled")) {
        int64_t n;
        int budget = CMX_JD_MEMBER(c->doc, v, "budget_tokens");
        if (budget < 0 || cmx_json_doc_int64(c->doc, budget, &n) != 0 || n < 1)
            return bad(c, "thinking.budget_tokens must be a positive integer");
        return CMX_OK;
    }
    if (CMX_JD_IS(c->doc, t, "disabled") || CMX_JD_IS(c->doc, t, "adaptive"))
        return CMX_OK;
    return bad(c, "thinking.type must be 'enabled', 'disabled' or 'adaptive'");
}

/* The scalar fields: their types. */
static cmx_err check_scalars(check *c, cmx_api api, const int *f, cmx_request_scan *scan)
{
    enum { MAX_TOKENS, STREAM, TEMPERATURE, TOP_P, TOP_K, STOP, METADATA };
    int64_t n;
    if (api == CMX_API_MESSAGES) {
        if (f[MAX_TOKENS] < 0)
            return bad(c, "missing required field 'max_tokens'");
        if (cmx_json_doc_int64(c->doc, f[MAX_TOKENS], &n) != 0 || n < 1)
            return bad(c, "'max_tokens' must be an integer of at least 1");
    }
    if (f[STREAM] >= 0) {
        if (!is_type(c, f[STREAM], CMX_JSON_TRUE) && !is_type(c, f[STREAM], CMX_JSON_FALSE))
            return bad(c, "'stream' must be a boolean");
        scan->stream = api == CMX_API_MESSAGES && is_type(c, f[STREAM], CMX_JSON_TRUE);
    }
    if (f[TEMPERATURE] >= 0 && !is_type(c, f[TEMPERATURE], CMX_JSON_NUMBER))
        return bad(c, "'temperature' must be a number");
    if (f[TOP_P] >= 0 && !is_type(c, f[TOP_P], CMX_JSON_NUMBER))
        return bad(c, "'top_p' must be a number");
    if (f[TOP_K] >= 0 && cmx_json_doc_int64(c->doc, f[TOP_K], &n) != 0)
        return bad(c, "'top_k' must be an integer");
    if (f[STOP] >= 0) {
        if (!is_type(c, f[STOP], CMX_JSON_ARRAY))
            return bad(c, "'stop_sequences' must be an array of strings");
        CMX_JD_EACH_ELEMENT(c->doc, f[STOP], s)
        if (!is_type(c, s, CMX_JSON_STRING))
            return bad(c, "'stop_sequences' must be an array of strings");
    }
    if (f[METADATA] >= 0) {
        if (!is_type(c, f[METADATA], CMX_JSON_OBJECT))
            return bad(c, "'metadata' must be an object");
        int u = CMX_JD_MEMBER(c->doc, f[METADATA], "user_id");
        if (u >= 0 && !is_type(c, u, CMX_JSON_STRING) && !is_type(c, u, CMX_JSON_NULL))
            return bad(c, "metadata.user_id must be a string");
    }
    return CMX_OK;
}

cmx_err cmx_messages_check(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                           cmx_ingress_request *req, cmx_request_scan *scan, cmx_error *err)
{
    static const char *const names[] = {
        "max_tokens",     "stream",      "temperature", "top_p",    "top_k",
        "stop_sequences", "metadata",    "model",       "messages", "system",
        "tools",          "tool_choice", "thinking"};
    enum { N = sizeof names / sizeof names[0], MODEL = 7, MESSAGES, SYSTEM, TOOLS, CHOICE, THINK };
    int f[N];
    cmx_err rc = cmx_ingress_read_body(api, body, len, arena, req, scan, names, N, f, err);
    if (rc != CMX_OK)
        return rc;
    const cmx_json_doc *doc = req->doc;
    check c = {.doc = doc, .err = err};
    rc = cmx_json_doc_read_model(doc, f[MODEL], scan, err);
    if (rc == CMX_OK)
        rc = check_scalars(&c, api, f, scan);
    if (rc == CMX_OK)
        rc = check_system(&c, f[SYSTEM]);
    if (rc == CMX_OK)
        rc = check_messages(&c, f[MESSAGES]);
    if (rc == CMX_OK)
        rc = check_tools(&c, f[TOOLS]);
    if (rc == CMX_OK)
        rc = check_tool_choice(&c, f[CHOICE]);
    if (rc == CMX_OK)
        rc = check_thinking(&c, f[THINK]);
    if (rc == CMX_OK)
        scan->n_messages = cmx_jd_count(doc, f[MESSAGES]);
    return rc;
}
