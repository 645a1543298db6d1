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
 * the others refused with their name (or dropped when configured to).
 *
 * The body is written in one pass with the JSON writer, one function per
 * group of fields (inferenceConfig, toolConfig, messages, system); text,
 * tool schemas and image bytes are copied from the client's body as they
 * are. */
#include "bedrock.h"
#include "translate_util.h"
#include "core/str.h"

#include <string.h>

typedef struct request {
    cmx_translate_ctx c;
    cmx_chat_fields f;
    int64_t max_tokens;
    const char *tool_choice; /* "auto", "required", "function"; NULL: none */
    int tool_choice_name;
} request;

#define TAKES                                                                                      \
    (CMX_CHAT_BIT(CMX_CHAT_MODEL) | CMX_CHAT_BIT(CMX_CHAT_MESSAGES) |                              \
     CMX_CHAT_BIT(CMX_CHAT_STREAM) | CMX_CHAT_BIT(CMX_CHAT_STREAM_OPTIONS) |                       \
     CMX_CHAT_BIT(CMX_CHAT_USER) | CMX_CHAT_BIT(CMX_CHAT_MAX_TOKENS) |                             \
     CMX_CHAT_BIT(CMX_CHAT_MAX_COMPLETION_TOKENS) | CMX_CHAT_BIT(CMX_CHAT_TEMPERATURE) |           \
     CMX_CHAT_BIT(CMX_CHAT_TOP_P) | CMX_CHAT_BIT(CMX_CHAT_STOP) | CMX_CHAT_BIT(CMX_CHAT_TOOLS) |   \
     CMX_CHAT_BIT(CMX_CHAT_TOOL_CHOICE))

/* ---- content ---------------------------------------------------------- */

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

static cmx_err image_block(cmx_translate_ctx *c, int part, size_t mi, size_t pi, void *sink)
{
    const char *url, *media, *data;
    size_t len, media_len, data_len;
    cmx_err e = cmx_translate_image_url(c, part, mi, pi, &url, &len);
    if (e != CMX_OK)
        return e;
    if (len < 5 || memcmp(url, CMX_LIT("data:")) != 0)
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: provider '%s' (bedrock) takes images as base64 "
            "data URLs only (data:image/png;base64,...), not links",
            mi, pi, cmx_translate_provider_name(c));
    if (cmx_translate_split_data_url(url, len, &media, &media_len, &data, &data_len) != 0)
        return cmx_translate_bad_data_url(c, mi, pi);
    const char *format = image_format(media, media_len);
    if (!format)
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: image type '%.*s' is not supported by provider "
            "'%s' (bedrock): use png, jpeg, gif or webp",
            mi, pi, (int)(media_len > 40 ? 40 : media_len), media, cmx_translate_provider_name(c));
    /* the data is the client's bytes themselves when the URL had no escapes */
    int plain = url >= c->doc->bytes && url < c->doc->bytes + c->doc->len;
    cmx_jw *w = sink;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "image");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "format");
    cmx_jw_string_escaped(w, format, strlen(format));
    CMX_JW_KEY(w, "source");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "bytes");
    cmx_jw_str_value(w, (cmx_jw_str){data, data_len, plain});
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {cmx_translate_text_part, image_block};

static void tool_use_block(cmx_jw *w, const cmx_json_doc *doc, int id, int name, const char *input,
                           size_t input_len)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolUse");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolUseId");
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, id), cmx_json_doc_len(doc, id));
    CMX_JW_KEY(w, "name");
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, name), cmx_json_doc_len(doc, name));
    CMX_JW_KEY(w, "input");
    cmx_jw_value(w, input, input_len);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static cmx_err tool_use_blocks(cmx_translate_ctx *c, int calls, size_t mi, cmx_jw *blocks)
{
    return cmx_translate_tool_calls(c, calls, mi, 1, tool_use_block, blocks);
}

static cmx_err tool_result_block(cmx_translate_ctx *c, int m, size_t mi, cmx_jw *w)
{
    int id;
    cmx_err e = cmx_translate_tool_call_id(c, m, mi, &id);
    if (e != CMX_OK)
        return e;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolResult");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolUseId");
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(c->doc, id), cmx_json_doc_len(c->doc, id));
    CMX_JW_KEY(w, "content");
    cmx_jw_array(w);
    cmx_jw_mark empty = cmx_jw_mark_here(w);
    e = cmx_translate_content(c, CMX_JSON_GET(c->doc, m, "content"), mi, 0, &part_writers, w);
    if (e != CMX_OK)
        return e;
    if (!cmx_jw_wrote_since(w, empty)) { /* Converse wants some content: say it was empty */
        cmx_jw_object(w);
        CMX_JW_KEY(w, "text");
        CMX_JW_LIT(w, "(empty)");
        cmx_jw_end(w);
    }
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    return CMX_OK;
}

/* System content is a list of text blocks in Converse. */
static cmx_err add_system(cmx_translate_ctx *c, int content, size_t mi, void *system)
{
    return cmx_translate_content(c, content, mi, 0, &part_writers, system);
}

static const cmx_translate_message_writers message_writers = {
    .parts = &part_writers,
    .system = add_system,
    .tool_calls = tool_use_blocks,
    .tool_result = tool_result_block,
    .assistant_role = "assistant",
    .content_key = "content",
};

/* ---- reading ------------------------------------------------------------ */

static cmx_err read_request(void *req)
{
    request *r = req;
    cmx_translate_ctx *c = &r->c;
    const cmx_chat_fields *f = &r->f;
    cmx_err e = cmx_translate_read_fields(c, TAKES, &r->f);
    if (e == CMX_OK)
        e = cmx_translate_read_sampling(c, f, &r->max_tokens);
    if (e == CMX_OK && f->at[CMX_CHAT_TOOLS] >= 0 &&
        cmx_json_doc_type(c->doc, f->at[CMX_CHAT_TOOLS]) != CMX_JSON_ARRAY)
        e = cmx_translate_bad(c, "'tools' must be an array");
    int choice = f->at[CMX_CHAT_TOOL_CHOICE];
    if (e != CMX_OK || choice < 0)
        return e;
    if (f->at[CMX_CHAT_TOOLS] < 0)
        return cmx_translate_bad(c, "'tool_choice' needs 'tools'");
    r->tool_choice = cmx_translate_tool_choice(c->doc, choice, &r->tool_choice_name);
    if (!r->tool_choice)
        return cmx_translate_bad_tool_choice(c, choice, 0);
    /* "none" has no Converse form: without tools the model could not answer a
     * conversation that holds tool calls, so it is refused, not faked. */
    if (strcmp(r->tool_choice, "none") == 0) {
        r->tool_choice = NULL;
        return cmx_translate_unsupported(c, "tool_choice", choice);
    }
    return CMX_OK;
}

/* ---- writing, one group of fields at a time ------------------------------ */

static void write_inference_config(const request *r, cmx_jw *w)
{
    const int *at = r->f.at;
    if (!r->max_tokens && at[CMX_CHAT_TEMPERATURE] < 0 && at[CMX_CHAT_TOP_P] < 0 &&
        at[CMX_CHAT_STOP] < 0)
        return;
    CMX_JW_KEY(w, "inferenceConfig");
    cmx_jw_object(w);
    if (r->max_tokens) {
        CMX_JW_KEY(w, "maxTokens");
        cmx_jw_int(w, r->max_tokens);
    }
    cmx_translate_copy_member(w, r->c.doc, at[CMX_CHAT_TEMPERATURE], "temperature");
    cmx_translate_copy_member(w, r->c.doc, at[CMX_CHAT_TOP_P], "topP");
    if (at[CMX_CHAT_STOP] >= 0) {
        CMX_JW_KEY(w, "stopSequences");
        cmx_translate_write_stop(w, r->c.doc, at[CMX_CHAT_STOP]);
    }
    cmx_jw_end(w);
}

static void tool_spec(cmx_jw *w, const cmx_json_doc *doc, int name, int fn)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolSpec");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "name");
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, name), cmx_json_doc_len(doc, name));
    int desc = cmx_json_doc_get_typed(doc, fn, CMX_LIT("description"), CMX_JSON_STRING);
    if (desc >= 0 && cmx_json_doc_len(doc, desc)) {
        CMX_JW_KEY(w, "description");
        cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, desc), cmx_json_doc_len(doc, desc));
    }
    CMX_JW_KEY(w, "inputSchema");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "json");
    cmx_translate_write_tool_schema(w, doc, fn);
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static void write_tool_choice(const request *r, cmx_jw *w)
{
    if (!r->tool_choice)
        return;
    CMX_JW_KEY(w, "toolChoice");
    cmx_jw_object(w);
    if (strcmp(r->tool_choice, "function") == 0) {
        CMX_JW_KEY(w, "tool");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "name");
        cmx_jw_string_escaped(w, cmx_json_doc_ptr(r->c.doc, r->tool_choice_name),
                              cmx_json_doc_len(r->c.doc, r->tool_choice_name));
        cmx_jw_end(w);
    } else { /* Converse says "any" for "required" */
        if (strcmp(r->tool_choice, "required") == 0)
            CMX_JW_KEY(w, "any");
        else
            CMX_JW_KEY(w, "auto");
        cmx_jw_object(w);
        cmx_jw_end(w);
    }
    cmx_jw_end(w);
}

/* toolConfig, left out when there are no tools. */
static cmx_err write_tool_config(request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_TOOLS] < 0)
        return CMX_OK;
    cmx_jw_mark none = cmx_jw_mark_here(w);
    CMX_JW_KEY(w, "toolConfig");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "tools");
    cmx_jw_array(w);
    size_t n;
    cmx_err e = cmx_translate_tools(&r->c, r->f.at[CMX_CHAT_TOOLS], tool_spec, w, &n);
    cmx_jw_end(w);
    write_tool_choice(r, w);
    cmx_jw_end(w);
    if (e == CMX_OK && n == 0)
        cmx_jw_rewind(w, none);
    return e;
}

static cmx_err write_messages(request *r, cmx_jw *w)
{
    cmx_buf system = CMX_BUF_INIT;
    cmx_jw sw;
    cmx_jw_init(&sw, &system);
    cmx_jw_array(&sw);
    size_t turns;
    CMX_JW_KEY(w, "messages");
    cmx_jw_array(w);
    cmx_err e =
        cmx_translate_messages(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers, w, &sw, &turns);
    cmx_jw_end(w);
    cmx_jw_end(&sw);
    if (e == CMX_OK && turns == 0)
        e = cmx_translate_bad(
            &r->c, "'messages' must hold at least one user or assistant message with content");
    if (e == CMX_OK && system.len > 2) {
        CMX_JW_KEY(w, "system");
        cmx_jw_value(w, system.data, system.len);
    }
    if (e == CMX_OK && cmx_buf_failed(&system))
        e = cmx_translate_nomem(&r->c);
    cmx_buf_free(&system);
    return e;
}

static cmx_err write_request(void *req, cmx_jw *w)
{
    request *r = req;
    cmx_jw_object(w);
    write_inference_config(r, w);
    cmx_err e = write_tool_config(r, w);
    if (e == CMX_OK)
        e = write_messages(r, w);
    cmx_jw_end(w);
    return e;
}

cmx_err cmx_bedrock_translate_request(const cmx_translate_input *in, const cmx_bedrock_options *opt,
                                      cmx_buf *out, cmx_error *err)
{
    request r = {.c = {err, opt->provider_name, "bedrock", opt->drop_unsupported},
                 .tool_choice_name = -1};
    return cmx_translate_request(&r.c, in, read_request, write_request, out);
}
