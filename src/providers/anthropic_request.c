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
 * The portable fields (translate_portable.h) take Claude's strongest form:
 * response_format json_schema becomes output_config.format where the model
 * has structured outputs, else a forced tool whose input is the answer;
 * json_object becomes an instruction (Claude has no schema-free JSON mode);
 * reasoning_effort becomes extended thinking with a budget, or adaptive
 * thinking with output_config.effort on the models that have it, within
 * Anthropic's rules (no temperature but 1, no top_k, top_p from 0.95, no
 * forced tool: a forced tool wins and thinking is left out); cache_control
 * and the thinking blocks a conversation sends back are Anthropic's own.
 *
 * The body is written in one pass with the JSON writer, one function per
 * group of fields (model, max_tokens, sampling, stop, tools, tool_choice,
 * metadata, thinking, output_config, stream, messages, system); text, tool
 * schemas and image data are copied from the client's bytes as they are. */
#include "anthropic.h"
#include "translate_portable.h"
#include "translate_util.h"
#include "core/str.h"

#include <string.h>

#define DEFAULT_MAX_TOKENS 4096

/* What the request asks for, read and checked before anything is written. */
typedef struct request {
    cmx_translate_ctx c;
    cmx_chat_fields f;
    const cmx_anthropic_options *opt;
    const char *model;       /* the target's model, for what it supports ("" when unknown) */
    char model_buf[128];     /* ... the client's, when the target keeps it */
    int64_t max_tokens;      /* max_completion_tokens, else max_tokens; 0: none */
    const char *tool_choice; /* "auto", "required", "none", "function"; NULL: none */
    int tool_choice_name;    /* the function's name (a string token) */
    cmx_response_format rf;
    int native_format;  /* json_schema as output_config.format */
    char json_tool[65]; /* ... or as this forced tool; "" when neither */
    cmx_effort effort;
    cmx_claude_thinking thinking;
} request;

#define TAKES                                                                                      \
    (CMX_CHAT_TAKES_COMMON | CMX_CHAT_BIT(CMX_CHAT_PARALLEL_TOOL_CALLS) |                          \
     CMX_CHAT_BIT(CMX_CHAT_RESPONSE_FORMAT) | CMX_CHAT_BIT(CMX_CHAT_REASONING_EFFORT) |            \
     CMX_CHAT_BIT(CMX_CHAT_TOP_K))

/* ---- content ---------------------------------------------------------- */

static void text_block(void *sink, const cmx_translate_ctx *c, int text, int hint)
{
    cmx_jw *w = sink;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "text");
    CMX_JW_KEY(w, "text");
    cmx_translate_string(w, c->doc, text, NULL);
    cmx_translate_write_cache_control(w, c, hint);
    cmx_jw_end(w);
}

/* {"type":"image","source":{"type":"base64"|"url",...}} */
static void image(cmx_jw *w, const cmx_translate_ctx *c, const cmx_translate_image *img, int hint)
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
    cmx_translate_write_cache_control(w, c, hint);
    cmx_jw_end(w);
}

static cmx_err image_block(cmx_translate_ctx *c, int part, size_t mi, size_t pi, int hint,
                           void *sink)
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
    image(sink, c, &img, hint);
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {text_block, image_block};

/* The system prompt: its text parts joined by a blank line (still
 * escaped), and the same as text blocks, which are sent instead when one
 * of them carries a cache hint. */
typedef struct system_sink {
    const cmx_translate_ctx *c;
    cmx_buf joined;
    cmx_buf blocks;
    cmx_jw bw;
    int may_hint; /* the request may mark a system part: the blocks are kept */
    int hinted;
} system_sink;

static void system_text(void *sink, const cmx_translate_ctx *c, int text, int hint)
{
    system_sink *s = sink;
    if (s->joined.len)
        cmx_buf_append(&s->joined, CMX_LIT("\\n\\n"));
    cmx_buf_append(&s->joined, cmx_json_doc_ptr(c->doc, text), cmx_json_doc_len(c->doc, text));
    if (s->may_hint)
        text_block(&s->bw, c, text, hint);
    s->hinted |= hint != CMX_CACHE_NONE;
}

static const cmx_translate_part_writers system_writers = {system_text, NULL};

static cmx_err add_system(cmx_translate_ctx *c, int content, size_t mi, int hint, void *system)
{
    return cmx_translate_content(c, content, mi, 0, hint, &system_writers, system);
}

/* A thinking block the conversation sends back, as Anthropic gave it. */
static void thinking_block(cmx_jw *w, const cmx_json_doc *doc, int redacted, int text, int sig,
                           int data)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (redacted) {
        CMX_JW_LIT(w, "redacted_thinking");
        cmx_translate_string(w, doc, data, "data");
    } else {
        CMX_JW_LIT(w, "thinking");
        cmx_translate_string(w, doc, text, "thinking");
        cmx_translate_string(w, doc, sig, "signature");
    }
    cmx_jw_end(w);
}

static cmx_err thinking_blocks(cmx_translate_ctx *c, int m, size_t mi, cmx_jw *blocks)
{
    return cmx_translate_thinking_blocks(c, m, mi, thinking_block, blocks);
}

static void tool_use_block(cmx_jw *w, const cmx_json_doc *doc, int call, int id, int name,
                           const char *input, size_t input_len)
{
    (void)call;
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

static cmx_err tool_result_block(cmx_translate_ctx *c, int m, size_t mi, int hint, cmx_jw *w)
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
        if ((e = cmx_translate_content(c, content, mi, 0, CMX_CACHE_NONE, &part_writers, w)) !=
            CMX_OK)
            return e;
        cmx_jw_end(w);
    }
    cmx_translate_write_cache_control(w, c, hint);
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
    .thinking = thinking_blocks,
    .assistant_role = "assistant",
    .content_key = "content",
    .turn_done = collapse_single_text,
};

/* ---- reading ------------------------------------------------------------ */

/* What response_format becomes: output_config.format where the model has
 * structured outputs (or the target says so), else a forced tool. */
static void plan_format(request *r)
{
    if (r->rf.kind != CMX_FORMAT_JSON_SCHEMA)
        return;
    int mode = r->opt->structured_output;
    r->native_format = mode == CMX_STRUCTURED_OUTPUT_NATIVE ||
                       (mode == CMX_STRUCTURED_OUTPUT_AUTO &&
                        cmx_claude_has_structured_outputs(r->model, r->opt->on_vertex));
    if (!r->native_format)
        cmx_translate_answer_tool_name(&r->c, &r->rf, r->f.at[CMX_CHAT_TOOLS], r->json_tool);
}

/* What reasoning_effort becomes.  A forced tool (the client's, or the one
 * carrying the structured answer) leaves no room for thinking: Anthropic
 * refuses both together, and the answer's shape is the contract. */
static void plan_thinking(request *r)
{
    int forced = r->json_tool[0] || (r->tool_choice && (strcmp(r->tool_choice, "required") == 0 ||
                                                        strcmp(r->tool_choice, "function") == 0));
    cmx_claude_plan_thinking(&r->thinking, r->effort, r->opt->reasoning, r->opt->reasoning_budgets,
                             r->model, forced);
}

static cmx_err read_request(void *req)
{
    request *r = req;
    cmx_translate_ctx *c = &r->c;
    const cmx_chat_fields *f = &r->f;
    cmx_err e = cmx_translate_read_fields(c, TAKES, &r->f);
    if (e == CMX_OK)
        e = cmx_translate_read_sampling(c, f, &r->max_tokens);
    if (e == CMX_OK)
        e = cmx_translate_stop_limits(c, f->at[CMX_CHAT_STOP], CMX_STOP_ANTHROPIC);
    int64_t top_k = 0;
    if (e == CMX_OK)
        e = cmx_translate_positive_int(c, f, CMX_CHAT_TOP_K, &top_k);
    int choice = f->at[CMX_CHAT_TOOL_CHOICE];
    if (e == CMX_OK && choice >= 0) {
        r->tool_choice = cmx_translate_tool_choice(c->doc, choice, &r->tool_choice_name);
        if (!r->tool_choice)
            e = cmx_translate_bad_tool_choice(c, choice, 1);
    }
    if (e == CMX_OK)
        e = cmx_translate_response_format(c, f->at[CMX_CHAT_RESPONSE_FORMAT], &r->rf);
    if (e == CMX_OK)
        e = cmx_translate_reasoning_effort(c, f->at[CMX_CHAT_REASONING_EFFORT], &r->effort);
    int model = f->at[CMX_CHAT_MODEL];
    if (e == CMX_OK && !r->opt->model && !r->opt->body_version &&
        (model < 0 || cmx_json_doc_type(c->doc, model) != CMX_JSON_STRING))
        e = cmx_translate_bad(c, "missing required field 'model'");
    if (e != CMX_OK)
        return e;
    if (!*r->model && model >= 0) { /* the client's model names what the target supports */
        size_t n = cmx_json_doc_len(c->doc, model);
        if (!cmx_json_doc_escaped(c->doc, model) && n < sizeof r->model_buf) {
            memcpy(r->model_buf, cmx_json_doc_ptr(c->doc, model), n);
            r->model_buf[n] = '\0';
        } else {
            cmx_translate_copy_string(r->model_buf, sizeof r->model_buf, c->doc, model);
        }
        r->model = r->model_buf;
    }
    plan_format(r);
    plan_thinking(r);
    if (r->opt->plan) {
        memcpy(r->opt->plan->json_tool, r->json_tool, sizeof r->json_tool);
        r->opt->plan->json_object = r->rf.kind == CMX_FORMAT_JSON_OBJECT;
    }
    return CMX_OK;
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

/* max_tokens; with a thinking budget it must be more than the budget, so a
 * max_tokens that leaves no room gets the budget added to it. */
static void write_max_tokens(const request *r, cmx_jw *w)
{
    int64_t max = r->max_tokens                ? r->max_tokens
                  : r->opt->default_max_tokens ? r->opt->default_max_tokens
                                               : DEFAULT_MAX_TOKENS;
    if (r->thinking.budget && max <= (int64_t)r->thinking.budget)
        max += r->thinking.budget;
    CMX_JW_KEY(w, "max_tokens");
    cmx_jw_int(w, max);
}

/* temperature, top_p and top_k; while thinking, Anthropic takes temperature
 * 1 only, top_p from 0.95 and no top_k, so the others are left out. */
static void write_sampling(const request *r, cmx_jw *w)
{
    const cmx_json_doc *doc = r->c.doc;
    int temperature = r->f.at[CMX_CHAT_TEMPERATURE], top_p = r->f.at[CMX_CHAT_TOP_P];
    cmx_claude_sampling(doc, &r->thinking, &temperature, &top_p);
    cmx_translate_copy_member(w, doc, temperature, "temperature");
    cmx_translate_copy_member(w, doc, top_p, "top_p");
    if (!cmx_claude_thinks(&r->thinking))
        cmx_translate_copy_member(w, doc, r->f.at[CMX_CHAT_TOP_K], "top_k");
}

static void write_stop(const request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_STOP] < 0)
        return;
    CMX_JW_KEY(w, "stop_sequences");
    cmx_translate_write_stop(w, r->c.doc, r->f.at[CMX_CHAT_STOP]);
}

static void tool(cmx_jw *w, const cmx_translate_ctx *c, int name, int fn, int hint)
{
    cmx_jw_object(w);
    cmx_translate_tool_head(w, c->doc, name, fn, 0);
    CMX_JW_KEY(w, "input_schema");
    cmx_translate_write_tool_schema(w, c->doc, fn);
    cmx_translate_write_cache_control(w, c, hint);
    cmx_jw_end(w);
}

/* The forced tool whose input is the structured answer. */
static void json_tool(const request *r, cmx_jw *w)
{
    const cmx_json_doc *doc = r->c.doc;
    cmx_jw_object(w);
    cmx_translate_answer_tool_head(w, doc, &r->rf, r->json_tool);
    CMX_JW_KEY(w, "input_schema");
    cmx_jw_value(w, cmx_json_doc_ptr(doc, r->rf.schema), cmx_json_doc_len(doc, r->rf.schema));
    cmx_jw_end(w);
}

static cmx_err write_tools(request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_TOOLS] < 0 && !r->json_tool[0])
        return CMX_OK;
    CMX_JW_KEY(w, "tools");
    cmx_jw_array(w);
    cmx_err e = r->f.at[CMX_CHAT_TOOLS] >= 0
                    ? cmx_translate_tools(&r->c, r->f.at[CMX_CHAT_TOOLS], tool, w, NULL)
                    : CMX_OK;
    if (r->json_tool[0])
        json_tool(r, w);
    cmx_jw_end(w);
    return e;
}

/* The tool_choice that makes the structured answer come as the json tool
 * while the client's own tools stay callable: "any" (a tool must be
 * called: the client's, or the answer) unless the client allowed none of
 * its own or named one. */
static const char *json_tool_choice(const request *r, int *named_json)
{
    *named_json = 0;
    const char *kind = r->tool_choice;
    if (kind && strcmp(kind, "function") == 0)
        return kind;
    if (r->f.at[CMX_CHAT_TOOLS] >= 0 && (!kind || strcmp(kind, "none") != 0))
        return "required";
    *named_json = 1;
    return "function";
}

/* tool_choice, and parallel_tool_calls: false as Anthropic's
 * disable_parallel_tool_use, which lives inside tool_choice (so "auto" is
 * written for it when the client chose nothing). */
static void write_tool_choice(const request *r, cmx_jw *w)
{
    int parallel = r->f.at[CMX_CHAT_PARALLEL_TOOL_CALLS];
    int no_parallel = parallel >= 0 && cmx_json_doc_type(r->c.doc, parallel) == CMX_JSON_FALSE &&
                      r->f.at[CMX_CHAT_TOOLS] >= 0;
    int named_json = 0;
    const char *kind = r->json_tool[0]  ? json_tool_choice(r, &named_json)
                       : r->tool_choice ? r->tool_choice
                       : no_parallel    ? "auto"
                                        : NULL;
    if (!kind)
        return;
    CMX_JW_KEY(w, "tool_choice");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (named_json) {
        CMX_JW_LIT(w, "tool");
        CMX_JW_KEY(w, "name");
        cmx_jw_string(w, r->json_tool, strlen(r->json_tool));
    } else if (r->tool_choice_name >= 0 && strcmp(kind, "function") == 0) {
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

/* output_config: the structured answer's schema, and the effort. */
static void write_output_config(const request *r, cmx_jw *w)
{
    if (!r->native_format && !r->thinking.adaptive)
        return;
    CMX_JW_KEY(w, "output_config");
    cmx_jw_object(w);
    if (r->native_format) {
        CMX_JW_KEY(w, "format");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "type");
        CMX_JW_LIT(w, "json_schema");
        CMX_JW_KEY(w, "schema");
        cmx_jw_value(w, cmx_json_doc_ptr(r->c.doc, r->rf.schema),
                     cmx_json_doc_len(r->c.doc, r->rf.schema));
        cmx_jw_end(w);
    }
    if (r->thinking.adaptive) {
        CMX_JW_KEY(w, "effort");
        cmx_jw_string(w, r->thinking.effort, strlen(r->thinking.effort));
    }
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

/* "system": the joined text, or the blocks when one carries a cache hint;
 * json_object's instruction comes last. */
static void write_system(const request *r, system_sink *s, cmx_jw *w)
{
    const char *instruction =
        r->rf.kind == CMX_FORMAT_JSON_OBJECT ? cmx_translate_json_object_instruction : NULL;
    if (!s->joined.len && !instruction)
        return;
    CMX_JW_KEY(w, "system");
    if (s->hinted) {
        if (instruction) {
            cmx_jw_object(&s->bw);
            CMX_JW_KEY(&s->bw, "type");
            CMX_JW_LIT(&s->bw, "text");
            CMX_JW_KEY(&s->bw, "text");
            cmx_jw_string(&s->bw, instruction, strlen(instruction));
            cmx_jw_end(&s->bw);
        }
        cmx_jw_end(&s->bw);
        cmx_jw_value(w, s->blocks.data, s->blocks.len);
        return;
    }
    cmx_jw_string_open(w);
    cmx_jw_string_piece_escaped(w, s->joined.data ? s->joined.data : "", s->joined.len);
    if (instruction && s->joined.len)
        cmx_jw_string_piece_escaped(w, CMX_LIT("\\n\\n"));
    if (instruction)
        cmx_jw_string_piece(w, instruction, strlen(instruction));
    cmx_jw_string_close(w);
}

static cmx_err write_messages(request *r, cmx_jw *w)
{
    system_sink system = {
        .c = &r->c,
        .may_hint = r->c.has_cache_hints || (r->c.cache_prompt & CMX_CACHE_PROMPT_SYSTEM),
    };
    char joined_room[512], blocks_room[512]; /* a usual system prompt fits: no allocation */
    cmx_buf_init_spill(&system.joined, joined_room, sizeof joined_room);
    cmx_buf_init_spill(&system.blocks, blocks_room, sizeof blocks_room);
    cmx_jw_init(&system.bw, &system.blocks);
    cmx_jw_array(&system.bw);
    size_t turns;
    CMX_JW_KEY(w, "messages");
    cmx_jw_array(w);
    cmx_err e = cmx_translate_messages(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers, w,
                                       &system, &turns);
    cmx_jw_end(w);
    if (e == CMX_OK)
        write_system(r, &system, w);
    if (e == CMX_OK && (cmx_buf_failed(&system.joined) || cmx_buf_failed(&system.blocks)))
        e = cmx_translate_nomem(&r->c);
    cmx_buf_free(&system.joined);
    cmx_buf_free(&system.blocks);
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
    cmx_claude_write_thinking(w, &r->thinking);
    write_output_config(r, w);
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
    r.c.cache_prompt = opt->cache_prompt;
    r.model = opt->target_model ? opt->target_model : opt->model ? opt->model : "";
    if (opt->plan)
        *opt->plan = (cmx_answer_plan){{0}, 0};
    return cmx_translate_request(&r.c, in, read_request, write_request, out);
}
