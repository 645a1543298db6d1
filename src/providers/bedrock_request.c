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

#define TAKES CMX_CHAT_TAKES_COMMON

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
    cmx_translate_image img;
    cmx_err e = cmx_translate_read_image(c, part, mi, pi, &img);
    if (e != CMX_OK)
        return e;
    if (!img.is_data)
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: provider '%s' (bedrock) takes images as base64 "
            "data URLs only (data:image/png;base64,...), not links",
            mi, pi, cmx_translate_provider_name(c));
    const char *format = image_format(img.media.s, img.media.len);
    if (!format)
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu]: image type '%.*s' is not supported by provider "
            "'%s' (bedrock): use png, jpeg, gif or webp",
            mi, pi, (int)(img.media.len > 40 ? 40 : img.media.len), img.media.s,
            cmx_translate_provider_name(c));
    cmx_jw *w = sink;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "image");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "format");
    cmx_jw_string_escaped(w, format, strlen(format));
    CMX_JW_KEY(w, "source");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "bytes");
    cmx_jw_str_value(w, img.data);
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
    cmx_translate_call_members(w, doc, "toolUseId", id, name, "input", input, input_len);
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
    cmx_translate_string(w, c->doc, id, NULL);
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

static const cmx_translate_message_writers message_writers = {
    .parts = &part_writers,
    .system = NULL, /* a list of text blocks in Converse */
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
    cmx_translate_tool_head(w, doc, name, fn, 1);
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
        cmx_translate_string(w, r->c.doc, r->tool_choice_name, NULL);
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
    cmx_err e = cmx_translate_turns_and_system(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers,
                                               "messages", w, &system);
    if (e == CMX_OK && system.len > 2) {
        CMX_JW_KEY(w, "system");
        cmx_jw_value(w, system.data, system.len);
    }
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
