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
 * the provider is configured to), never passed on or ignored in silence.
 *
 * The body is written in one pass with the JSON writer, one function per
 * group of fields (model, max_tokens, sampling, stop, tools, tool_choice,
 * metadata, stream, messages, system); text, tool schemas and image data
 * are copied from the client's bytes as they are. */
#include "anthropic.h"
#include "translate_util.h"
#include "core/str.h"

#include <string.h>

#define DEFAULT_MAX_TOKENS 4096

/* What the request asks for, read and checked before anything is written. */
typedef struct request {
    cmx_translate_ctx c;
    cmx_chat_fields f;
    const cmx_anthropic_options *opt;
    int64_t max_tokens;      /* max_completion_tokens, else max_tokens; 0: none */
    const char *tool_choice; /* "auto", "required", "none", "function"; NULL: none */
    int tool_choice_name;    /* the function's name (a string token) */
} request;

#define TAKES (CMX_CHAT_TAKES_COMMON | CMX_CHAT_BIT(CMX_CHAT_PARALLEL_TOOL_CALLS))

/* ---- content ---------------------------------------------------------- */

static void text_block(void *sink, const cmx_json_doc *doc, int text)
{
    cmx_jw *w = sink;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "text");
    CMX_JW_KEY(w, "text");
    cmx_translate_string(w, doc, text, NULL);
    cmx_jw_end(w);
}

/* {"type":"image","source":{"type":"base64"|"url",...}} */
static void image(cmx_jw *w, const cmx_translate_image *img)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "image");
    CMX_JW_KEY(w, "source");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (img->is_data) {
        CMX_JW_LIT(w, "base64");
        CMX_JW_KEY(w, "media_type");
        cmx_jw_str_value(w, img->media);
        CMX_JW_KEY(w, "data");
        cmx_jw_str_value(w, img->data);
    } else {
        CMX_JW_LIT(w, "url");
        CMX_JW_KEY(w, "url");
        cmx_jw_str_value(w, img->url);
    }
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static cmx_err image_block(cmx_translate_ctx *c, int part, size_t mi, size_t pi, void *sink)
{
    cmx_translate_image img;
    cmx_err e = cmx_translate_read_image(c, part, mi, pi, &img);
    if (e != CMX_OK)
        return e;
    if (!img.is_data && !cmx_translate_image_is(&img, "https://") &&
        !cmx_translate_image_is(&img, "http://"))
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu].image_url.url must be an http(s) URL or a base64 "
            "data URL",
            mi, pi);
    image(sink, &img);
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {text_block, image_block};

/* A system message's text parts, joined by a blank line (still escaped). */
static void system_text(void *sink, const cmx_json_doc *doc, int text)
{
    cmx_buf *system = sink;
    if (system->len)
        cmx_buf_append(system, CMX_LIT("\\n\\n"));
    cmx_buf_append(system, cmx_json_doc_ptr(doc, text), cmx_json_doc_len(doc, text));
}

static const cmx_translate_part_writers system_writers = {system_text, NULL};

static cmx_err add_system(cmx_translate_ctx *c, int content, size_t mi, void *system)
{
    return cmx_translate_content(c, content, mi, 0, &system_writers, system);
}

static void tool_use_block(cmx_jw *w, const cmx_json_doc *doc, int id, int name, const char *input,
                           size_t input_len)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "tool_use");
    cmx_translate_call_members(w, doc, "id", id, name, "input", input, input_len);
    cmx_jw_end(w);
}

static cmx_err tool_use_blocks(cmx_translate_ctx *c, int calls, size_t mi, cmx_jw *blocks)
{
    return cmx_translate_tool_calls(c, calls, mi, 1, tool_use_block, blocks);
}

static cmx_err tool_result_block(cmx_translate_ctx *c, int m, size_t mi, cmx_jw *w)
{
    const cmx_json_doc *doc = c->doc;
    int id;
    cmx_err e = cmx_translate_tool_call_id(c, m, mi, &id);
    if (e != CMX_OK)
        return e;
    int content = CMX_JSON_GET(doc, m, "content");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "tool_result");
    CMX_JW_KEY(w, "tool_use_id");
    cmx_translate_string(w, doc, id, NULL);
    CMX_JW_KEY(w, "content");
    if (content >= 0 && cmx_json_doc_type(doc, content) == CMX_JSON_STRING) {
        cmx_translate_string(w, doc, content, NULL);
    } else {
        cmx_jw_array(w);
        if ((e = cmx_translate_content(c, content, mi, 0, &part_writers, w)) != CMX_OK)
            return e;
        cmx_jw_end(w);
    }
    cmx_jw_end(w);
    return CMX_OK;
}

/* A turn that is one text block is written as a plain string, as people
 * write it and as the API's own examples do: [{"type":"text","text":"…"}]
 * at out[at..] becomes "…". */
static void collapse_single_text(cmx_buf *out, size_t at)
{
    static const char head[] = "[{\"type\":\"text\",\"text\":\"";
    size_t n = out->len - at, h = sizeof head - 1;
    const char *s = out->data + at;
    if (n < h + 3 || memcmp(s, head, h) != 0 || memcmp(s + n - 3, "\"}]", 3) != 0)
        return;
    /* one string up to the end: one block (a quote inside is escaped, so
     * it follows an odd run of backslashes) */
    for (const char *q = s + h; (q = memchr(q, '"', (size_t)(s + n - 3 - q)));) {
        size_t slashes = 0;
        while (s[q - s - 1 - (long)slashes] == '\\')
            slashes++;
        if (slashes % 2 == 0)
            return;
        q++;
    }
    memmove(out->data + at, s + h - 1, n - h - 1);
    out->len = at + n - h - 1;
    out->data[out->len] = '\0';
}

static const cmx_translate_message_writers message_writers = {
    .parts = &part_writers,
    .system = add_system,
    .tool_calls = tool_use_blocks,
    .tool_result = tool_result_block,
    .assistant_role = "assistant",
    .content_key = "content",
    .turn_done = collapse_single_text,
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
    int choice = f->at[CMX_CHAT_TOOL_CHOICE];
    if (e == CMX_OK && choice >= 0) {
        r->tool_choice = cmx_translate_tool_choice(c->doc, choice, &r->tool_choice_name);
        if (!r->tool_choice)
            e = cmx_translate_bad_tool_choice(c, choice, 1);
    }
    int model = f->at[CMX_CHAT_MODEL];
    if (e == CMX_OK && !r->opt->model && !r->opt->body_version &&
        (model < 0 || cmx_json_doc_type(c->doc, model) != CMX_JSON_STRING))
        e = cmx_translate_bad(c, "missing required field 'model'");
    return e;
}

/* ---- writing, one group of fields at a time ------------------------------ */

static void write_model(const request *r, cmx_jw *w)
{
    if (r->opt->body_version) { /* the URL names the model; the version goes in the body */
        CMX_JW_KEY(w, "anthropic_version");
        cmx_jw_string(w, r->opt->body_version, strlen(r->opt->body_version));
        return;
    }
    CMX_JW_KEY(w, "model");
    if (r->opt->model) {
        cmx_jw_string(w, r->opt->model, strlen(r->opt->model));
    } else {
        int model = r->f.at[CMX_CHAT_MODEL];
        cmx_translate_string(w, r->c.doc, model, NULL);
    }
}

static void write_max_tokens(const request *r, cmx_jw *w)
{
    CMX_JW_KEY(w, "max_tokens");
    cmx_jw_int(w, r->max_tokens                ? r->max_tokens
                  : r->opt->default_max_tokens ? r->opt->default_max_tokens
                                               : DEFAULT_MAX_TOKENS);
}

static void write_sampling(const request *r, cmx_jw *w)
{
    cmx_translate_copy_member(w, r->c.doc, r->f.at[CMX_CHAT_TEMPERATURE], "temperature");
    cmx_translate_copy_member(w, r->c.doc, r->f.at[CMX_CHAT_TOP_P], "top_p");
}

static void write_stop(const request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_STOP] < 0)
        return;
    CMX_JW_KEY(w, "stop_sequences");
    cmx_translate_write_stop(w, r->c.doc, r->f.at[CMX_CHAT_STOP]);
}

static void tool(cmx_jw *w, const cmx_json_doc *doc, int name, int fn)
{
    cmx_jw_object(w);
    cmx_translate_tool_head(w, doc, name, fn, 0);
    CMX_JW_KEY(w, "input_schema");
    cmx_translate_write_tool_schema(w, doc, fn);
    cmx_jw_end(w);
}

static cmx_err write_tools(request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_TOOLS] < 0)
        return CMX_OK;
    CMX_JW_KEY(w, "tools");
    cmx_jw_array(w);
    cmx_err e = cmx_translate_tools(&r->c, r->f.at[CMX_CHAT_TOOLS], tool, w, NULL);
    cmx_jw_end(w);
    return e;
}

/* tool_choice, and parallel_tool_calls: false as Anthropic's
 * disable_parallel_tool_use, which lives inside tool_choice (so "auto" is
 * written for it when the client chose nothing). */
static void write_tool_choice(const request *r, cmx_jw *w)
{
    int parallel = r->f.at[CMX_CHAT_PARALLEL_TOOL_CALLS];
    int no_parallel = parallel >= 0 && cmx_json_doc_type(r->c.doc, parallel) == CMX_JSON_FALSE &&
                      r->f.at[CMX_CHAT_TOOLS] >= 0;
    const char *kind = r->tool_choice ? r->tool_choice : no_parallel ? "auto" : NULL;
    if (!kind)
        return;
    CMX_JW_KEY(w, "tool_choice");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (r->tool_choice_name >= 0 && strcmp(kind, "function") == 0) {
        CMX_JW_LIT(w, "tool");
        CMX_JW_KEY(w, "name");
        cmx_translate_string(w, r->c.doc, r->tool_choice_name, NULL);
    } else if (strcmp(kind, "required") == 0) { /* Anthropic says "any" for "required" */
        CMX_JW_LIT(w, "any");
    } else {
        cmx_jw_string_escaped(w, kind, strlen(kind));
    }
    if (no_parallel && strcmp(kind, "none") != 0) {
        CMX_JW_KEY(w, "disable_parallel_tool_use");
        cmx_jw_bool(w, 1);
    }
    cmx_jw_end(w);
}

static void write_metadata(const request *r, cmx_jw *w)
{
    int user = r->f.at[CMX_CHAT_USER];
    if (user < 0 || cmx_json_doc_type(r->c.doc, user) != CMX_JSON_STRING)
        return;
    CMX_JW_KEY(w, "metadata");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "user_id");
    cmx_translate_string(w, r->c.doc, user, NULL);
    cmx_jw_end(w);
}

static void write_stream(const request *r, cmx_jw *w)
{
    int stream = r->f.at[CMX_CHAT_STREAM];
    if (stream >= 0 && cmx_json_doc_type(r->c.doc, stream) == CMX_JSON_TRUE) {
        CMX_JW_KEY(w, "stream");
        cmx_jw_bool(w, 1);
    }
}

static cmx_err write_messages(request *r, cmx_jw *w)
{
    cmx_buf system = CMX_BUF_INIT;
    size_t turns;
    CMX_JW_KEY(w, "messages");
    cmx_jw_array(w);
    cmx_err e = cmx_translate_messages(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers, w,
                                       &system, &turns);
    cmx_jw_end(w);
    if (e == CMX_OK && system.len) {
        CMX_JW_KEY(w, "system");
        cmx_jw_string_escaped(w, system.data, system.len);
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
    write_model(r, w);
    write_max_tokens(r, w);
    write_sampling(r, w);
    write_stop(r, w);
    cmx_err e = write_tools(r, w);
    if (e != CMX_OK)
        return e;
    write_tool_choice(r, w);
    write_metadata(r, w);
    write_stream(r, w);
    e = write_messages(r, w);
    cmx_jw_end(w);
    return e;
}

cmx_err cmx_anthropic_translate_request(const cmx_translate_input *in,
                                        const cmx_anthropic_options *opt, cmx_buf *out,
                                        cmx_error *err)
{
    request r = {.c = {err, opt->provider_name,
                       opt->provider_type ? opt->provider_type : "anthropic",
                       opt->drop_unsupported},
                 .opt = opt,
                 .tool_choice_name = -1};
    return cmx_translate_request(&r.c, in, read_request, write_request, out);
}
