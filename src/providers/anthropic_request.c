/* anthropic_request.c — an OpenAI chat request as an Anthropic Messages
 * request.
 *
 * The two formats say the same things in different places.  System messages
 * become the top-level `system`; tool results, which OpenAI sends as `tool`
 * messages, become `tool_result` blocks of a user message; assistant
 * `tool_calls` become `tool_use` blocks whose `input` is the parsed
 * arguments; images become base64 or URL image sources.  Anthropic wants
 * user and assistant turns to alternate, so consecutive messages that end up
 * with the same role are merged into one.
 *
 * Every top-level parameter is looked at: the ones Anthropic has are
 * translated, the ones it lacks are refused with their name (or dropped when
 * the provider is configured to), never passed on or ignored in silence. */
#include "anthropic.h"
#include "translate_util.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_TOKENS 4096

typedef cmx_translate_ctx req_ctx;

/* ---- content ---------------------------------------------------------- */

static void add_text_block(json_t *blocks, const char *text, size_t len)
{
    if (len == 0) /* Anthropic rejects empty text blocks */
        return;
    json_array_append_new(blocks, json_pack("{s:s,s:s%}", "type", "text", "text", text, len));
}

static cmx_err image_block(req_ctx *c, const json_t *part, size_t mi, size_t pi, json_t *blocks)
{
    const char *url = cmx_translate_image_url(part);
    if (!url)
        return cmx_translate_bad(c, "messages[%zu].content[%zu].image_url.url must be a string", mi,
                                 pi);
    json_t *source;
    if (CMX_STARTS_WITH(url, "data:")) {
        const char *media, *data;
        size_t media_len;
        if (cmx_translate_split_data_url(url, &media, &media_len, &data) != 0)
            return cmx_translate_bad_data_url(c, mi, pi);
        source = json_pack("{s:s,s:s%,s:s}", "type", "base64", "media_type", media, media_len,
                           "data", data);
    } else if (CMX_STARTS_WITH(url, "https://") || CMX_STARTS_WITH(url, "http://")) {
        source = json_pack("{s:s,s:s}", "type", "url", "url", url);
    } else {
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu].image_url.url must be an http(s) URL or a base64 "
            "data URL",
            mi, pi);
    }
    if (!source || json_array_append_new(
                       blocks, json_pack("{s:s,s:o}", "type", "image", "source", source)) != 0)
        return cmx_error_set(c->err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {add_text_block, image_block};

/* Content that may be a string or an array of parts, as blocks.  Images
 * only where `images` is set (user messages). */
static cmx_err content_blocks(req_ctx *c, const json_t *content, size_t mi, int images,
                              json_t *blocks)
{
    return cmx_translate_content(c, content, mi, images, &part_writers, blocks);
}

/* Plain text of a system message, parts joined. */
static cmx_err system_text(req_ctx *c, const json_t *content, size_t mi, cmx_buf *system)
{
    json_t *blocks = json_array();
    cmx_err e = content_blocks(c, content, mi, 0, blocks);
    size_t i;
    const json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const json_t *t = json_object_get(b, "text");
        if (system->len)
            cmx_buf_append(system, CMX_LIT("\n\n"));
        cmx_buf_append(system, json_string_value(t), json_string_length(t));
    }
    json_decref(blocks);
    return e;
}

static json_t *write_tool_use(const char *id, const char *name, json_t *input)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id, "name", name, "input",
                     input);
}

static cmx_err tool_use_blocks(req_ctx *c, const json_t *calls, size_t mi, json_t *blocks)
{
    return cmx_translate_tool_calls(c, calls, mi, write_tool_use, blocks);
}

static cmx_err tool_result_block(req_ctx *c, const json_t *m, size_t mi, json_t *blocks)
{
    const char *id = json_string_value(json_object_get(m, "tool_call_id"));
    if (!id)
        return cmx_translate_bad(c, "messages[%zu] (role tool) needs a 'tool_call_id'", mi);
    const json_t *content = json_object_get(m, "content");
    json_t *block = json_pack("{s:s,s:s}", "type", "tool_result", "tool_use_id", id);
    if (json_is_string(content)) {
        json_object_set(block, "content", (json_t *)content);
    } else {
        json_t *parts = json_array();
        cmx_err e = content_blocks(c, content, mi, 0, parts);
        if (e != CMX_OK) {
            json_decref(parts);
            json_decref(block);
            return e;
        }
        json_object_set_new(block, "content", parts);
    }
    json_array_append_new(blocks, block);
    return CMX_OK;
}

/* A turn that is one text block is written as a plain string, as people
 * write it and as the API's own examples do. */
static void collapse_single_text(json_t *out)
{
    size_t i;
    json_t *m;
    json_array_foreach(out, i, m)
    {
        json_t *blocks = json_object_get(m, "content");
        json_t *b = json_array_size(blocks) == 1 ? json_array_get(blocks, 0) : NULL;
        if (b && json_object_size(b) == 2 &&
            strcmp(json_string_value(json_object_get(b, "type")), "text") == 0)
            json_object_set(m, "content", json_object_get(b, "text"));
    }
}

static cmx_err add_system(cmx_translate_ctx *c, const json_t *content, size_t mi, void *system)
{
    return system_text(c, content, mi, system);
}

static const cmx_translate_message_writers message_writers = {
    &part_writers,
    add_system,
    tool_use_blocks,
    tool_result_block,
};

static cmx_err convert_messages(req_ctx *c, const json_t *msgs, json_t *out, cmx_buf *system)
{
    cmx_err e = cmx_translate_messages(c, msgs, &message_writers, out, system);
    if (e == CMX_OK)
        collapse_single_text(out);
    return e;
}

/* ---- tools ------------------------------------------------------------ */

static json_t *write_tool(const char *name, const json_t *fn)
{
    json_t *tool = json_pack("{s:s}", "name", name);
    const json_t *desc = json_object_get(fn, "description");
    if (json_is_string(desc))
        json_object_set(tool, "description", (json_t *)desc);
    json_object_set_new(tool, "input_schema", cmx_translate_tool_schema(fn));
    return tool;
}

static cmx_err convert_tool_choice(req_ctx *c, const json_t *v, json_t *req)
{
    const char *name;
    const char *kind = cmx_translate_tool_choice(v, &name);
    json_t *choice = NULL;
    if (name)
        choice = json_pack("{s:s,s:s}", "type", "tool", "name", name);
    else if (kind) /* Anthropic says "any" for "required" */
        choice = json_pack("{s:s}", "type", strcmp(kind, "required") == 0 ? "any" : kind);
    if (!choice)
        return cmx_translate_bad_tool_choice(c, v, 1);
    json_object_set_new(req, "tool_choice", choice);
    return CMX_OK;
}

/* ---- parameters ------------------------------------------------------- */

static cmx_err read_max_tokens(req_ctx *c, const char *key, const json_t *v, json_int_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return cmx_translate_bad(c, "'%s' must be a positive integer", key);
    *out = json_integer_value(v);
    return CMX_OK;
}

static cmx_err convert_stop(req_ctx *c, const json_t *v, json_t *req)
{
    json_t *list;
    cmx_err e = cmx_translate_stop_list(c, v, &list);
    if (e == CMX_OK)
        json_object_set_new(req, "stop_sequences", list);
    return e;
}

static cmx_err convert_params(req_ctx *c, const json_t *in, json_t *req, json_int_t *max_tokens,
                              json_int_t *max_completion_tokens, int *no_parallel)
{
    const char *key;
    const json_t *v;
    cmx_err e = CMX_OK;
    json_object_foreach((json_t *)in, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "messages") == 0 ||
            strcmp(key, "stream_options") == 0)
            continue; /* stream_options: the provider asks for usage itself */
        if (strcmp(key, "max_tokens") == 0)
            e = read_max_tokens(c, key, v, max_tokens);
        else if (strcmp(key, "max_completion_tokens") == 0)
            e = read_max_tokens(c, key, v, max_completion_tokens);
        else if (strcmp(key, "temperature") == 0 || strcmp(key, "top_p") == 0) {
            if (!json_is_number(v))
                e = cmx_translate_bad(c, "'%s' must be a number", key);
            else
                json_object_set(req, key, (json_t *)v);
        } else if (strcmp(key, "stream") == 0) {
            if (json_is_true(v))
                json_object_set(req, "stream", json_true());
        } else if (strcmp(key, "stop") == 0)
            e = convert_stop(c, v, req);
        else if (strcmp(key, "tools") == 0)
            e = cmx_translate_tools_into(c, v, write_tool, req, "tools");
        else if (strcmp(key, "tool_choice") == 0)
            e = convert_tool_choice(c, v, req);
        else if (strcmp(key, "parallel_tool_calls") == 0)
            *no_parallel = json_is_false(v);
        else if (strcmp(key, "user") == 0) {
            if (json_is_string(v))
                json_object_set_new(req, "metadata", json_pack("{s:O}", "user_id", v));
        } else if (!cmx_translate_is_harmless_default(key, v))
            e = cmx_translate_unsupported(c, key, v);
        if (e != CMX_OK)
            return e;
    }
    return CMX_OK;
}

cmx_err cmx_anthropic_translate_request(const char *body, size_t len,
                                        const cmx_anthropic_options *opt, cmx_buf *out,
                                        cmx_error *err)
{
    req_ctx c = {err, opt->provider_name, opt->provider_type ? opt->provider_type : "anthropic",
                 opt->drop_unsupported};
    json_error_t jerr;
    json_t *in = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        return cmx_translate_bad(&c, "the request body must be a JSON object");
    }
    const char *model = opt->model ? opt->model : json_string_value(json_object_get(in, "model"));
    json_t *req = json_object();
    json_t *messages = json_array();
    json_t *params = json_object();
    cmx_buf system = CMX_BUF_INIT;
    json_int_t max_tokens = 0, max_completion_tokens = 0;
    int no_parallel = 0;
    cmx_err e = model ? CMX_OK : cmx_translate_bad(&c, "missing required field 'model'");
    if (e == CMX_OK)
        e = convert_params(&c, in, params, &max_tokens, &max_completion_tokens, &no_parallel);
    if (e == CMX_OK)
        e = convert_messages(&c, json_object_get(in, "messages"), messages, &system);
    if (e == CMX_OK && cmx_buf_failed(&system))
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (e == CMX_OK) {
        json_int_t mt = max_completion_tokens     ? max_completion_tokens
                        : max_tokens              ? max_tokens
                        : opt->default_max_tokens ? opt->default_max_tokens
                                                  : DEFAULT_MAX_TOKENS;
        json_object_set_new(req, "model", json_string(model));
        json_object_set_new(req, "max_tokens", json_integer(mt));
        if (system.len)
            json_object_set_new(req, "system", json_stringn(system.data, system.len));
        json_object_set(req, "messages", messages);
        json_object_update(req, params);
        if (no_parallel && json_object_get(req, "tools")) {
            json_t *choice = json_object_get(req, "tool_choice");
            if (!choice) {
                choice = json_pack("{s:s}", "type", "auto");
                json_object_set_new(req, "tool_choice", choice);
            }
            const char *type = json_string_value(json_object_get(choice, "type"));
            if (strcmp(type, "none") != 0)
                json_object_set_new(choice, "disable_parallel_tool_use", json_true());
        }
        e = cmx_translate_write_json(req, JSON_COMPACT, out, err);
    }
    cmx_buf_free(&system);
    json_decref(params);
    json_decref(messages);
    json_decref(req);
    json_decref(in);
    return e;
}
