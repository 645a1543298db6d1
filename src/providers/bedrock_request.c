/* bedrock_request.c — an OpenAI chat request as a Bedrock Converse request.
 *
 * Converse says what OpenAI says with typed content blocks: system messages
 * become the top-level `system` list, every turn's content a list of
 * {text}, {image}, {toolUse} or {toolResult} blocks.  Tool results, which
 * OpenAI sends as `tool` messages, are blocks of a user turn; assistant
 * tool_calls are toolUse blocks whose input is the parsed arguments.
 * Converse wants user and assistant turns to alternate, so consecutive
 * messages that end up with the same role are merged into one.
 *
 * Images must travel as bytes (Converse has no URL source), so only base64
 * data URLs of the four formats it knows are taken.  The sampling
 * parameters go into inferenceConfig, tools into toolConfig.  Every
 * top-level parameter is looked at: the ones Converse has are translated,
 * the others refused with their name (or dropped when configured to). */
#include "bedrock.h"
#include "translate_util.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef cmx_translate_ctx req_ctx;

/* ---- content ---------------------------------------------------------- */

static void add_text_block(json_t *blocks, const char *text, size_t len)
{
    if (len == 0) /* Converse rejects blank text blocks */
        return;
    json_array_append_new(blocks, json_pack("{s:s%}", "text", text, len));
}

/* "image/png" → "png"; NULL for a type Converse does not take. */
static const char *image_format(const char *media, size_t len)
{
    static const struct {
        const char *media, *format;
    } known[] = {{"image/png", "png"},
                 {"image/jpeg", "jpeg"},
                 {"image/jpg", "jpeg"},
                 {"image/gif", "gif"},
                 {"image/webp", "webp"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].media) == len && strncmp(known[i].media, media, len) == 0)
            return known[i].format;
    return NULL;
}

static cmx_err image_block(req_ctx *c, const json_t *part, size_t mi, size_t pi, json_t *blocks)
{
    const char *url = cmx_translate_image_url(part);
    if (!url)
        return cmx_translate_bad(c, "messages[%zu].content[%zu].image_url.url must be a string", mi,
                                 pi);
    if (!CMX_STARTS_WITH(url, "data:"))
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: provider '%s' (bedrock) takes images as base64 "
            "data URLs only (data:image/png;base64,...), not links",
            mi, pi, cmx_translate_provider_name(c));
    const char *media, *data;
    size_t media_len;
    if (cmx_translate_split_data_url(url, &media, &media_len, &data) != 0)
        return cmx_translate_bad_data_url(c, mi, pi);
    const char *format = image_format(media, media_len);
    if (!format)
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: image type '%.*s' is not supported by provider "
            "'%s' (bedrock): use png, jpeg, gif or webp",
            mi, pi, (int)(media_len > 40 ? 40 : media_len), media, cmx_translate_provider_name(c));
    json_array_append_new(
        blocks, json_pack("{s:{s:s,s:{s:s}}}", "image", "format", format, "source", "bytes", data));
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

static json_t *write_tool_use(const char *id, const char *name, json_t *input)
{
    return json_pack("{s:{s:s,s:s,s:o}}", "toolUse", "toolUseId", id, "name", name, "input", input);
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
    json_t *parts = json_array();
    cmx_err e = content_blocks(c, json_object_get(m, "content"), mi, 0, parts);
    if (e != CMX_OK) {
        json_decref(parts);
        return e;
    }
    if (json_array_size(parts) == 0) /* Converse wants some content: say it was empty */
        json_array_append_new(parts, json_pack("{s:s}", "text", "(empty)"));
    json_array_append_new(
        blocks, json_pack("{s:{s:s,s:o}}", "toolResult", "toolUseId", id, "content", parts));
    return CMX_OK;
}

/* System content is a list of text blocks in Converse. */
static cmx_err add_system(cmx_translate_ctx *c, const json_t *content, size_t mi, void *system)
{
    json_t *blocks = json_array();
    cmx_err e = content_blocks(c, content, mi, 0, blocks);
    if (e == CMX_OK)
        json_array_extend(system, blocks);
    json_decref(blocks);
    return e;
}

static const cmx_translate_message_writers message_writers = {
    &part_writers,
    add_system,
    tool_use_blocks,
    tool_result_block,
};

static cmx_err convert_messages(req_ctx *c, const json_t *msgs, json_t *out, json_t *system)
{
    cmx_err e = cmx_translate_messages(c, msgs, &message_writers, out, system);
    if (e == CMX_OK && json_array_size(out) == 0)
        return cmx_translate_bad(
            c, "'messages' must hold at least one user or assistant message with content");
    return e;
}

/* ---- tools ------------------------------------------------------------ */

static json_t *write_tool(const char *name, const json_t *fn)
{
    json_t *spec = json_pack("{s:s}", "name", name);
    const json_t *desc = json_object_get(fn, "description");
    if (json_is_string(desc) && json_string_length(desc))
        json_object_set(spec, "description", (json_t *)desc);
    json_object_set_new(spec, "inputSchema",
                        json_pack("{s:o}", "json", cmx_translate_tool_schema(fn)));
    return json_pack("{s:o}", "toolSpec", spec);
}

/* "none" has no Converse form: without tools the model could not answer a
 * conversation that holds tool calls, so it is refused, not faked. */
static cmx_err convert_tool_choice(req_ctx *c, const json_t *v, json_t *tool_config)
{
    const char *name;
    const char *kind = cmx_translate_tool_choice(v, &name);
    json_t *choice = NULL;
    if (name)
        choice = json_pack("{s:{s:s}}", "tool", "name", name);
    else if (kind && strcmp(kind, "none") == 0)
        return cmx_translate_unsupported(c, "tool_choice", v);
    else if (kind) /* Converse says "any" for "required" */
        choice = json_pack("{s:{}}", strcmp(kind, "required") == 0 ? "any" : kind);
    if (!choice)
        return cmx_translate_bad_tool_choice(c, v, 0);
    json_object_set_new(tool_config, "toolChoice", choice);
    return CMX_OK;
}

/* ---- parameters ------------------------------------------------------- */

static cmx_err convert_stop(req_ctx *c, const json_t *v, json_t *inference)
{
    json_t *list;
    cmx_err e = cmx_translate_stop_list(c, v, &list);
    if (e == CMX_OK)
        json_object_set_new(inference, "stopSequences", list);
    return e;
}

static cmx_err convert_params(req_ctx *c, const json_t *in, json_t *inference, json_t *tool_config,
                              const json_t **tool_choice)
{
    const char *key;
    const json_t *v;
    cmx_err e = CMX_OK;
    json_int_t max_completion = 0;
    json_object_foreach((json_t *)in, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "messages") == 0 ||
            strcmp(key, "stream") == 0 || strcmp(key, "stream_options") == 0 ||
            strcmp(key, "user") == 0)
            continue; /* the URL says stream; usage always comes; user has no place */
        if (strcmp(key, "max_tokens") == 0 || strcmp(key, "max_completion_tokens") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                e = cmx_translate_bad(c, "'%s' must be a positive integer", key);
            else if (strcmp(key, "max_completion_tokens") == 0)
                max_completion = json_integer_value(v);
            else if (!max_completion)
                json_object_set(inference, "maxTokens", (json_t *)v);
        } else if (strcmp(key, "temperature") == 0 || strcmp(key, "top_p") == 0) {
            if (!json_is_number(v))
                e = cmx_translate_bad(c, "'%s' must be a number", key);
            else
                json_object_set(inference, key[0] == 't' && key[1] == 'e' ? "temperature" : "topP",
                                (json_t *)v);
        } else if (strcmp(key, "stop") == 0) {
            e = convert_stop(c, v, inference);
        } else if (strcmp(key, "tools") == 0) {
            e = cmx_translate_tools_into(c, v, write_tool, tool_config, "tools");
        } else if (strcmp(key, "tool_choice") == 0) {
            *tool_choice = v;
        } else if (!cmx_translate_is_harmless_default(key, v)) {
            e = cmx_translate_unsupported(c, key, v);
        }
        if (e != CMX_OK)
            return e;
    }
    if (max_completion)
        json_object_set_new(inference, "maxTokens", json_integer(max_completion));
    return CMX_OK;
}

cmx_err cmx_bedrock_translate_request(const char *body, size_t len, const cmx_bedrock_options *opt,
                                      cmx_buf *out, cmx_error *err)
{
    req_ctx c = {err, opt->provider_name, "bedrock", opt->drop_unsupported};
    json_t *in = json_loadb(body, len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return cmx_translate_bad(&c, "the request body must be a JSON object");
    }
    json_t *messages = json_array();
    json_t *system = json_array();
    json_t *inference = json_object();
    json_t *tool_config = json_object();
    const json_t *tool_choice = NULL;
    cmx_err e = convert_params(&c, in, inference, tool_config, &tool_choice);
    if (e == CMX_OK && tool_choice) {
        if (!json_object_get(tool_config, "tools"))
            e = cmx_translate_bad(&c, "'tool_choice' needs 'tools'");
        else
            e = convert_tool_choice(&c, tool_choice, tool_config);
    }
    if (e == CMX_OK)
        e = convert_messages(&c, json_object_get(in, "messages"), messages, system);
    if (e == CMX_OK) {
        json_t *req = json_pack("{s:O}", "messages", messages);
        if (json_array_size(system))
            json_object_set(req, "system", system);
        if (json_object_size(inference))
            json_object_set(req, "inferenceConfig", inference);
        if (json_array_size(json_object_get(tool_config, "tools")))
            json_object_set(req, "toolConfig", tool_config);
        e = cmx_translate_write_json(req, JSON_COMPACT, out, err);
        json_decref(req);
    }
    json_decref(tool_config);
    json_decref(inference);
    json_decref(system);
    json_decref(messages);
    json_decref(in);
    return e;
}
