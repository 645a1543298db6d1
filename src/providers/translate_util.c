/* translate_util.c — the OpenAI-side reading and writing shared by the
 * translating providers (see translate_util.h).
 *
 * Everything here is about the OpenAI format only; what a provider's own
 * format looks like stays in its *_request.c and *_response.c.  The error
 * messages are part of the gateway's contract with clients: every
 * translating provider words them the same way, with its type in brackets. */
#include "translate_util.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cmx_translate_provider_name(const cmx_translate_ctx *c)
{
    return c->provider_name ? c->provider_name : c->provider_type;
}

cmx_err cmx_translate_bad(cmx_translate_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmx_error_vset(c->err, CMX_ERR_BAD_REQUEST, fmt, ap);
    va_end(ap);
    if (c->err)
        c->err->status = 400;
    return CMX_ERR_BAD_REQUEST;
}

void cmx_translate_show_value(const json_t *v, char *out, size_t len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(out, len, "?");
        return;
    }
    if (strlen(s) >= len && len > 4)
        snprintf(out, len, "%.*s...", (int)(len - 4), s);
    else
        snprintf(out, len, "%s", s);
    free(s);
}

cmx_err cmx_translate_unsupported(cmx_translate_ctx *c, const char *name, const json_t *v)
{
    if (c->drop_unsupported)
        return CMX_OK;
    char shown[48];
    cmx_translate_show_value(v, shown, sizeof shown);
    return cmx_translate_bad(c, "parameter '%s' (%s) is not supported by provider '%s' (%s)", name,
                             shown, cmx_translate_provider_name(c), c->provider_type);
}

int cmx_translate_is_harmless_default(const char *key, const json_t *v)
{
    if (strcmp(key, "n") == 0)
        return json_is_integer(v) && json_integer_value(v) == 1;
    if (strcmp(key, "logprobs") == 0 || strcmp(key, "store") == 0)
        return json_is_false(v);
    if (strcmp(key, "parallel_tool_calls") == 0) /* the APIs may call several at once */
        return json_is_true(v);
    if (strcmp(key, "presence_penalty") == 0 || strcmp(key, "frequency_penalty") == 0)
        return json_is_number(v) && json_number_value(v) == 0.0;
    if (strcmp(key, "logit_bias") == 0)
        return json_is_object(v) && json_object_size(v) == 0;
    if (strcmp(key, "response_format") == 0) {
        const char *t = json_string_value(json_object_get(v, "type"));
        return t && strcmp(t, "text") == 0;
    }
    return 0;
}

cmx_err cmx_translate_stop_list(cmx_translate_ctx *c, const json_t *v, json_t **list)
{
    if (json_is_string(v)) {
        *list = json_pack("[O]", v);
        return CMX_OK;
    }
    if (!json_is_array(v))
        return cmx_translate_bad(c, "'stop' must be a string or an array of strings");
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s))
            return cmx_translate_bad(c, "'stop' must be a string or an array of strings");
    }
    *list = json_incref((json_t *)v);
    return CMX_OK;
}

cmx_err cmx_translate_tools(cmx_translate_ctx *c, const json_t *tools,
                            cmx_translate_tool_writer write, json_t *out)
{
    if (!json_is_array(tools))
        return cmx_translate_bad(c, "'tools' must be an array");
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        const json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!type || strcmp(type, "function") != 0)
            return cmx_translate_bad(
                c, "tools[%zu]: tool type '%.40s' is not supported by provider '%s' (%s)", i,
                type ? type : "(none)", cmx_translate_provider_name(c), c->provider_type);
        if (!name)
            return cmx_translate_bad(c, "tools[%zu].function.name must be a string", i);
        json_array_append_new(out, write(name, fn));
    }
    return CMX_OK;
}

cmx_err cmx_translate_tools_into(cmx_translate_ctx *c, const json_t *tools,
                                 cmx_translate_tool_writer write, json_t *parent, const char *key)
{
    if (!json_is_array(tools))
        return cmx_translate_bad(c, "'tools' must be an array");
    json_t *out = json_array();
    json_object_set_new(parent, key, out);
    return cmx_translate_tools(c, tools, write, out);
}

cmx_err cmx_translate_bad_tool_choice(cmx_translate_ctx *c, const json_t *v, int takes_none)
{
    char shown[48];
    cmx_translate_show_value(v, shown, sizeof shown);
    return cmx_translate_bad(c,
                             "'tool_choice' (%s) must be \"auto\", \"required\"%s or "
                             "{\"type\":\"function\",\"function\":{\"name\":...}}",
                             shown, takes_none ? ", \"none\"" : "");
}

const char *cmx_translate_tool_choice(const json_t *v, const char **function)
{
    *function = NULL;
    if (json_is_string(v)) {
        static const char *const kinds[] = {"auto", "required", "none"};
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(json_string_value(v), kinds[i]) == 0)
                return kinds[i];
    } else if (json_is_object(v)) {
        *function = json_string_value(json_object_get(json_object_get(v, "function"), "name"));
        if (*function)
            return "function";
    }
    return NULL;
}

json_t *cmx_translate_tool_schema(const json_t *function)
{
    const json_t *params = json_object_get(function, "parameters");
    if (json_is_object(params))
        return json_incref((json_t *)params);
    return json_pack("{s:s,s:{}}", "type", "object", "properties");
}

const char *cmx_translate_finish_reason(const char *stop_reason, const char *const *content_filter)
{
    if (!stop_reason)
        return NULL;
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    for (size_t i = 0; content_filter && content_filter[i]; i++)
        if (strcmp(stop_reason, content_filter[i]) == 0)
            return "content_filter";
    return "stop";
}

const char *cmx_translate_image_url(const json_t *part)
{
    const json_t *iu = json_object_get(part, "image_url");
    return json_is_string(iu) ? json_string_value(iu)
                              : json_string_value(json_object_get(iu, "url"));
}

int cmx_translate_split_data_url(const char *url, const char **media, size_t *media_len,
                                 const char **data)
{
    if (!CMX_STARTS_WITH(url, "data:"))
        return -1;
    const char *p = url + CMX_LIT_LEN("data:");
    const char *semi = strchr(p, ';');
    const char *comma = strchr(p, ',');
    if (!semi || !comma || semi > comma || !CMX_STARTS_WITH(semi, ";base64,"))
        return -1;
    *media = p;
    *media_len = (size_t)(semi - p);
    *data = comma + 1;
    return 0;
}

cmx_err cmx_translate_bad_data_url(cmx_translate_ctx *c, size_t mi, size_t pi)
{
    return cmx_translate_bad(c,
                             "messages[%zu].content[%zu].image_url.url: a data URL must be "
                             "data:<media type>;base64,<data>",
                             mi, pi);
}

/* One tool call taken apart: id, function name, and the arguments parsed
 * into an object (*input, a new reference). */
static cmx_err tool_call(cmx_translate_ctx *c, const json_t *call, size_t mi, size_t ti,
                         const char **id, const char **name, json_t **input)
{
    const json_t *fn = json_object_get(call, "function");
    const json_t *args = json_object_get(fn, "arguments");
    *id = json_string_value(json_object_get(call, "id"));
    *name = json_string_value(json_object_get(fn, "name"));
    if (!*id || !*name)
        return cmx_translate_bad(
            c, "messages[%zu].tool_calls[%zu] needs an 'id' and a 'function.name'", mi, ti);
    if (!args || json_is_null(args) || (json_is_string(args) && !json_string_length(args))) {
        *input = json_object();
    } else if (json_is_string(args)) {
        *input = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        if (!json_is_object(*input)) {
            json_decref(*input);
            *input = NULL;
            return cmx_translate_bad(c,
                                     "messages[%zu].tool_calls[%zu].function.arguments must be a "
                                     "JSON object in a string",
                                     mi, ti);
        }
    } else if (json_is_object(args)) {
        *input = json_incref((json_t *)args);
    } else {
        return cmx_translate_bad(
            c, "messages[%zu].tool_calls[%zu].function.arguments must be a string", mi, ti);
    }
    return CMX_OK;
}

cmx_err cmx_translate_content(cmx_translate_ctx *c, const json_t *content, size_t mi, int images,
                              const cmx_translate_part_writers *w, json_t *blocks)
{
    if (!content || json_is_null(content))
        return CMX_OK;
    if (json_is_string(content)) {
        w->text(blocks, json_string_value(content), json_string_length(content));
        return CMX_OK;
    }
    if (!json_is_array(content))
        return cmx_translate_bad(c, "messages[%zu].content must be a string or an array of parts",
                                 mi);
    size_t pi;
    const json_t *part;
    json_array_foreach(content, pi, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type)
            return cmx_translate_bad(c, "messages[%zu].content[%zu] has no 'type'", mi, pi);
        if (strcmp(type, "text") == 0 || strcmp(type, "refusal") == 0) {
            const json_t *t = json_object_get(part, type);
            if (!json_is_string(t))
                return cmx_translate_bad(c, "messages[%zu].content[%zu].%s must be a string", mi,
                                         pi, type);
            w->text(blocks, json_string_value(t), json_string_length(t));
        } else if (images && strcmp(type, "image_url") == 0) {
            cmx_err e = w->image(c, part, mi, pi, blocks);
            if (e != CMX_OK)
                return e;
        } else {
            return cmx_translate_bad(c,
                                     "messages[%zu].content[%zu]: content part type '%.40s' is "
                                     "not supported by provider '%s' (%s)",
                                     mi, pi, type, cmx_translate_provider_name(c),
                                     c->provider_type);
        }
    }
    return CMX_OK;
}

cmx_err cmx_translate_tool_calls(cmx_translate_ctx *c, const json_t *calls, size_t mi,
                                 cmx_translate_tool_call_writer write, json_t *blocks)
{
    if (!calls || json_is_null(calls))
        return CMX_OK;
    if (!json_is_array(calls))
        return cmx_translate_bad(c, "messages[%zu].tool_calls must be an array", mi);
    size_t ti;
    const json_t *call;
    json_array_foreach(calls, ti, call)
    {
        const char *id, *name;
        json_t *input;
        cmx_err e = tool_call(c, call, mi, ti, &id, &name, &input);
        if (e != CMX_OK)
            return e;
        json_array_append_new(blocks, write(id, name, input));
    }
    return CMX_OK;
}

void cmx_translate_append_turn(json_t *out, const char *role, json_t *blocks)
{
    size_t n = json_array_size(out);
    json_t *last = n ? json_array_get(out, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0) {
        json_array_extend(json_object_get(last, "content"), blocks);
        json_decref(blocks);
        return;
    }
    json_array_append_new(out, json_pack("{s:s,s:o}", "role", role, "content", blocks));
}

static int64_t count(const json_t *usage, const char *key)
{
    const json_t *v = key ? json_object_get(usage, key) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

void cmx_translate_usage(const json_t *u, const char *input_key, const char *output_key,
                         const char *cache_read_key, const char *cache_write_key, cmx_usage *out)
{
    cmx_usage_init(out);
    int64_t cache_read = count(u, cache_read_key);
    out->prompt_tokens = count(u, input_key) + cache_read + count(u, cache_write_key);
    out->completion_tokens = count(u, output_key);
    out->total_tokens = out->prompt_tokens + out->completion_tokens;
    out->cached_tokens = cache_read;
}

cmx_err cmx_translate_protocol_error(cmx_error *err, const char *provider_type, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "%s answered 200 with %s", provider_type, what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_translate_write_json(const json_t *v, size_t flags, cmx_buf *out, cmx_error *err)
{
    char *s = v ? json_dumps(v, flags) : NULL;
    cmx_err e = !s || cmx_buf_append_str(out, s) != 0
                    ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory")
                    : CMX_OK;
    free(s);
    return e;
}

void cmx_translate_answer_init(cmx_translate_answer *a)
{
    a->text = (cmx_buf)CMX_BUF_INIT;
    a->has_text = 0;
    a->calls = json_array();
}

void cmx_translate_answer_text(cmx_translate_answer *a, const char *text, size_t len)
{
    cmx_buf_append(&a->text, text ? text : "", len);
    a->has_text = 1;
}

void cmx_translate_answer_tool_call(cmx_translate_answer *a, const json_t *id, const json_t *name,
                                    const json_t *input)
{
    char *args = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_array_append_new(a->calls,
                          json_pack("{s:O?,s:s,s:{s:O?,s:s}}", "id", id, "type", "function",
                                    "function", "name", name, "arguments", args ? args : "{}"));
    free(args);
}

cmx_err cmx_translate_answer_write(const cmx_translate_answer *a, const char *id, const char *model,
                                   int64_t created, const char *finish_reason,
                                   const cmx_usage *tokens, cmx_buf *out, cmx_error *err)
{
    if (cmx_buf_failed(&a->text))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    json_t *message = json_pack("{s:s}", "role", "assistant");
    if (a->has_text || json_array_size(a->calls) == 0)
        json_object_set_new(message, "content",
                            json_stringn(a->text.data ? a->text.data : "", a->text.len));
    else
        json_object_set_new(message, "content", json_null());
    if (json_array_size(a->calls))
        json_object_set(message, "tool_calls", a->calls);
    json_object_set_new(message, "refusal", json_null());
    json_t *completion = json_pack(
        "{s:s,s:s,s:I,s:s?,s:[{s:i,s:o,s:n,s:s}],s:{s:I,s:I,s:I,s:{s:I}}}", "id", id, "object",
        "chat.completion", "created", (json_int_t)created, "model", model, "choices", "index", 0,
        "message", message, "logprobs", "finish_reason", finish_reason ? finish_reason : "stop",
        "usage", "prompt_tokens", (json_int_t)tokens->prompt_tokens, "completion_tokens",
        (json_int_t)tokens->completion_tokens, "total_tokens", (json_int_t)tokens->total_tokens,
        "prompt_tokens_details", "cached_tokens", (json_int_t)tokens->cached_tokens);
    cmx_err e = CMX_OK;
    e = cmx_translate_write_json(completion, JSON_COMPACT, out, err);
    json_decref(completion);
    return e;
}

void cmx_translate_answer_free(cmx_translate_answer *a)
{
    cmx_buf_free(&a->text);
    json_decref(a->calls);
    a->calls = NULL;
}

cmx_err cmx_translate_messages(cmx_translate_ctx *c, const json_t *msgs,
                               const cmx_translate_message_writers *w, json_t *out, void *system)
{
    if (!json_is_array(msgs))
        return cmx_translate_bad(c, "'messages' must be an array");
    size_t mi;
    const json_t *m;
    json_array_foreach(msgs, mi, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role)
            return cmx_translate_bad(c, "messages[%zu] has no 'role'", mi);
        const json_t *content = json_object_get(m, "content");
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            cmx_err e = w->system(c, content, mi, system);
            if (e != CMX_OK)
                return e;
            continue;
        }
        json_t *blocks = json_array();
        cmx_err e;
        const char *turn = "user";
        if (strcmp(role, "user") == 0) {
            e = cmx_translate_content(c, content, mi, 1, w->parts, blocks);
        } else if (strcmp(role, "assistant") == 0) {
            turn = "assistant";
            e = cmx_translate_content(c, content, mi, 0, w->parts, blocks);
            if (e == CMX_OK)
                e = w->tool_calls(c, json_object_get(m, "tool_calls"), mi, blocks);
        } else if (strcmp(role, "tool") == 0) {
            e = w->tool_result(c, m, mi, blocks);
        } else {
            e = cmx_translate_bad(
                c, "messages[%zu]: role '%.40s' is not supported by provider '%s' (%s)", mi, role,
                cmx_translate_provider_name(c), c->provider_type);
        }
        if (e != CMX_OK) {
            json_decref(blocks);
            return e;
        }
        if (json_array_size(blocks) == 0) {
            json_decref(blocks);
            continue;
        }
        cmx_translate_append_turn(out, turn, blocks);
    }
    return CMX_OK;
}
