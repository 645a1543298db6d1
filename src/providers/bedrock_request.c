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
 * The portable fields (translate_portable.h): response_format json_schema
 * becomes Converse's outputConfig.textFormat where the model has structured
 * outputs (Claude 4.5 and later; `structured_output: native` for others),
 * else a forced tool; json_object an instruction in the system prompt;
 * reasoning_effort Claude's thinking in additionalModelRequestFields (other
 * models have no common form: refused by name); cache_control a cachePoint
 * block after what it marks; the thinking a conversation sends back
 * reasoningContent blocks; top_k Claude's top_k.
 *
 * The body is written in one pass with the JSON writer, one function per
 * group of fields (inferenceConfig, additionalModelRequestFields,
 * outputConfig, toolConfig, messages, system); text, tool schemas and image
 * bytes are copied from the client's body as they are. */
#include "bedrock.h"
#include "bedrock_invoke.h"
#include "translate_portable.h"
#include "translate_util.h"
#include "core/str.h"

#include <string.h>

typedef struct request {
    cmx_translate_ctx c;
    cmx_chat_fields f;
    const cmx_bedrock_options *opt;
    int claude; /* the model is Anthropic's: its own fields go in additionalModelRequestFields */
    int64_t max_tokens;
    const char *tool_choice; /* "auto", "required", "function"; NULL: none */
    int tool_choice_name;
    cmx_response_format rf;
    int native_format;  /* json_schema as outputConfig.textFormat */
    char json_tool[65]; /* the forced tool of a structured answer, or the schema's name */
    cmx_effort effort;
    cmx_claude_thinking thinking;
} request;

#define TAKES                                                                                      \
    (CMX_CHAT_TAKES_COMMON | CMX_CHAT_BIT(CMX_CHAT_RESPONSE_FORMAT) |                              \
     CMX_CHAT_BIT(CMX_CHAT_REASONING_EFFORT) | CMX_CHAT_BIT(CMX_CHAT_TOP_K))

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

/* {"cachePoint":{"type":"default"[,"ttl"]}} after what a hint marks. */
static void cache_point(cmx_jw *w, const cmx_translate_ctx *c, int hint)
{
    if (hint == CMX_CACHE_NONE)
        return;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "cachePoint");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "default");
    cmx_translate_copy_member(w, c->doc, cmx_translate_cache_ttl(c, hint), "ttl");
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static void text_block(void *sink, const cmx_translate_ctx *c, int text, int hint)
{
    cmx_translate_text_part(sink, c, text, hint);
    cache_point(sink, c, hint);
}

static cmx_err image_block(cmx_translate_ctx *c, int part, size_t mi, size_t pi, int hint,
                           void *sink)
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
    cache_point(w, c, hint);
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {text_block, image_block};

/* A thinking block sent back: {"reasoningContent":{"reasoningText":{text,
 * signature}}} or {"reasoningContent":{"redactedContent":data}}. */
static void reasoning_block(cmx_jw *w, const cmx_json_doc *doc, int redacted, int text, int sig,
                            int data)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "reasoningContent");
    cmx_jw_object(w);
    if (redacted) {
        cmx_translate_string(w, doc, data, "redactedContent");
    } else {
        CMX_JW_KEY(w, "reasoningText");
        cmx_jw_object(w);
        cmx_translate_string(w, doc, text, "text");
        cmx_translate_string(w, doc, sig, "signature");
        cmx_jw_end(w);
    }
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static cmx_err reasoning_blocks(cmx_translate_ctx *c, int m, size_t mi, cmx_jw *blocks)
{
    return cmx_translate_thinking_blocks(c, m, mi, reasoning_block, blocks);
}

static void tool_use_block(cmx_jw *w, const cmx_json_doc *doc, int call, int id, int name,
                           const char *input, size_t input_len)
{
    (void)call;
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

static cmx_err tool_result_block(cmx_translate_ctx *c, int m, size_t mi, int hint, cmx_jw *w)
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
    e = cmx_translate_content(c, CMX_JSON_GET(c->doc, m, "content"), mi, 0, CMX_CACHE_NONE,
                              &part_writers, w);
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
    cache_point(w, c, hint);
    return CMX_OK;
}

static const cmx_translate_message_writers message_writers = {
    .parts = &part_writers,
    .system = NULL, /* a list of text blocks in Converse */
    .tool_calls = tool_use_blocks,
    .tool_result = tool_result_block,
    .thinking = reasoning_blocks,
    .assistant_role = "assistant",
    .content_key = "content",
};

/* ---- reading ------------------------------------------------------------ */

/* response_format: Converse's native textFormat where the model has it (or
 * the target says so), else a forced tool; json_object has no native form. */
static void plan_format(request *r)
{
    if (r->rf.kind != CMX_FORMAT_JSON_SCHEMA)
        return;
    int mode = r->opt->structured_output;
    r->native_format =
        mode == CMX_STRUCTURED_OUTPUT_NATIVE ||
        (mode == CMX_STRUCTURED_OUTPUT_AUTO && cmx_claude_has_structured_outputs(r->opt->model, 0));
    cmx_translate_answer_tool_name(&r->c, &r->rf, r->f.at[CMX_CHAT_TOOLS], r->json_tool);
    if (r->native_format)
        return; /* the name is the schema's, the tool is not needed */
    if (r->opt->plan)
        memcpy(r->opt->plan->json_tool, r->json_tool, sizeof r->json_tool);
}

/* reasoning_effort: Claude's thinking (as on Anthropic's API, with the same
 * rules), nothing for "none"; other models' reasoning has no common form. */
static cmx_err plan_thinking(request *r)
{
    int mode = r->opt->reasoning;
    if (r->effort < CMX_EFFORT_MINIMAL || mode == CMX_REASONING_OFF)
        return CMX_OK;
    if (!r->claude)
        return cmx_translate_unsupported(&r->c, "reasoning_effort",
                                         r->f.at[CMX_CHAT_REASONING_EFFORT]);
    /* Claude refuses thinking with a forced tool: the tool wins */
    int forced = (r->json_tool[0] && !r->native_format) ||
                 (r->tool_choice && (strcmp(r->tool_choice, "required") == 0 ||
                                     strcmp(r->tool_choice, "function") == 0));
    cmx_claude_plan_thinking(&r->thinking, r->effort, mode, r->opt->reasoning_budgets,
                             r->opt->model, forced);
    return CMX_OK;
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
        e = cmx_translate_stop_limits(c, f->at[CMX_CHAT_STOP], CMX_STOP_CONVERSE);
    int64_t top_k = 0;
    if (e == CMX_OK)
        e = cmx_translate_positive_int(c, f, CMX_CHAT_TOP_K, &top_k);
    if (e == CMX_OK && top_k && !r->claude) {
        e = cmx_translate_unsupported(c, "top_k", f->at[CMX_CHAT_TOP_K]);
        r->f.at[CMX_CHAT_TOP_K] = -1; /* dropped, when it was not refused */
    }
    if (e == CMX_OK && f->at[CMX_CHAT_TOOLS] >= 0 &&
        cmx_json_doc_type(c->doc, f->at[CMX_CHAT_TOOLS]) != CMX_JSON_ARRAY)
        e = cmx_translate_bad(c, "'tools' must be an array");
    if (e == CMX_OK)
        e = cmx_translate_response_format(c, f->at[CMX_CHAT_RESPONSE_FORMAT], &r->rf);
    if (e == CMX_OK)
        e = cmx_translate_reasoning_effort(c, f->at[CMX_CHAT_REASONING_EFFORT], &r->effort);
    int choice = f->at[CMX_CHAT_TOOL_CHOICE];
    if (e == CMX_OK && choice >= 0) {
        if (f->at[CMX_CHAT_TOOLS] < 0)
            return cmx_translate_bad(c, "'tool_choice' needs 'tools'");
        r->tool_choice = cmx_translate_tool_choice(c->doc, choice, &r->tool_choice_name);
        if (!r->tool_choice)
            return cmx_translate_bad_tool_choice(c, choice, 0);
        /* "none" has no Converse form: without tools the model could not answer a
         * conversation that holds tool calls, so it is refused, not faked. */
        if (strcmp(r->tool_choice, "none") == 0) {
            r->tool_choice = NULL;
            e = cmx_translate_unsupported(c, "tool_choice", choice);
        }
    }
    if (e != CMX_OK)
        return e;
    plan_format(r);
    if (r->opt->plan)
        r->opt->plan->json_object = r->rf.kind == CMX_FORMAT_JSON_OBJECT;
    return plan_thinking(r);
}

/* ---- writing, one group of fields at a time ------------------------------ */

/* inferenceConfig; while Claude thinks, temperature 1 only and top_p from
 * 0.95 (the others are left out), and maxTokens leaves room for the budget. */
static void write_inference_config(const request *r, cmx_jw *w)
{
    const cmx_json_doc *doc = r->c.doc;
    const int *at = r->f.at;
    int temperature = at[CMX_CHAT_TEMPERATURE], top_p = at[CMX_CHAT_TOP_P];
    cmx_claude_sampling(doc, &r->thinking, &temperature, &top_p);
    uint32_t budget = r->thinking.budget;
    int64_t max = r->max_tokens;
    if (budget && max <= (int64_t)budget)
        max = (max ? max : 4096) + budget;
    if (!max && temperature < 0 && top_p < 0 && at[CMX_CHAT_STOP] < 0)
        return;
    CMX_JW_KEY(w, "inferenceConfig");
    cmx_jw_object(w);
    if (max) {
        CMX_JW_KEY(w, "maxTokens");
        cmx_jw_int(w, max);
    }
    cmx_translate_copy_member(w, doc, temperature, "temperature");
    cmx_translate_copy_member(w, doc, top_p, "topP");
    if (at[CMX_CHAT_STOP] >= 0) {
        CMX_JW_KEY(w, "stopSequences");
        cmx_translate_write_stop(w, doc, at[CMX_CHAT_STOP]);
    }
    cmx_jw_end(w);
}

/* The model's own fields: Claude's thinking (and effort) and top_k. */
static void write_additional_fields(const request *r, cmx_jw *w)
{
    int thinks = cmx_claude_thinks(&r->thinking);
    int top_k = thinks ? -1 : r->f.at[CMX_CHAT_TOP_K];
    if (!thinks && top_k < 0)
        return;
    CMX_JW_KEY(w, "additionalModelRequestFields");
    cmx_jw_object(w);
    cmx_claude_write_thinking(w, &r->thinking);
    if (r->thinking.adaptive) {
        CMX_JW_KEY(w, "output_config");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "effort");
        cmx_jw_string(w, r->thinking.effort, strlen(r->thinking.effort));
        cmx_jw_end(w);
    }
    cmx_translate_copy_member(w, r->c.doc, top_k, "top_k");
    cmx_jw_end(w);
}

/* outputConfig.textFormat: the schema as a JSON string, as Converse wants. */
static void write_output_config(const request *r, cmx_jw *w)
{
    if (!r->native_format)
        return;
    const cmx_json_doc *doc = r->c.doc;
    CMX_JW_KEY(w, "outputConfig");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "textFormat");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "json_schema");
    CMX_JW_KEY(w, "structure");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "jsonSchema");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "schema");
    cmx_jw_json_as_string(w, cmx_json_doc_ptr(doc, r->rf.schema),
                          cmx_json_doc_len(doc, r->rf.schema));
    CMX_JW_KEY(w, "name");
    cmx_jw_string(w, r->json_tool, strlen(r->json_tool));
    cmx_translate_string(w, doc, r->rf.description, "description");
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static void tool_spec(cmx_jw *w, const cmx_translate_ctx *c, int name, int fn, int hint)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolSpec");
    cmx_jw_object(w);
    cmx_translate_tool_head(w, c->doc, name, fn, 1);
    CMX_JW_KEY(w, "inputSchema");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "json");
    cmx_translate_write_tool_schema(w, c->doc, fn);
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    cache_point(w, c, hint);
}

/* The forced tool whose input is the structured answer. */
static void json_tool_spec(const request *r, cmx_jw *w)
{
    const cmx_json_doc *doc = r->c.doc;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "toolSpec");
    cmx_jw_object(w);
    cmx_translate_answer_tool_head(w, doc, &r->rf, r->json_tool);
    CMX_JW_KEY(w, "inputSchema");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "json");
    cmx_jw_value(w, cmx_json_doc_ptr(doc, r->rf.schema), cmx_json_doc_len(doc, r->rf.schema));
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static void write_tool_choice(const request *r, int json_tool, cmx_jw *w)
{
    const char *kind = r->tool_choice;
    int named_json = 0;
    if (json_tool && !(kind && strcmp(kind, "function") == 0)) {
        /* the answer as the json tool, the client's own tools still callable */
        named_json = r->f.at[CMX_CHAT_TOOLS] < 0;
        kind = named_json ? "function" : "required";
    }
    if (!kind)
        return;
    CMX_JW_KEY(w, "toolChoice");
    cmx_jw_object(w);
    if (strcmp(kind, "function") == 0) {
        CMX_JW_KEY(w, "tool");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "name");
        if (named_json)
            cmx_jw_string(w, r->json_tool, strlen(r->json_tool));
        else
            cmx_translate_string(w, r->c.doc, r->tool_choice_name, NULL);
        cmx_jw_end(w);
    } else { /* Converse says "any" for "required" */
        if (strcmp(kind, "required") == 0)
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
    int json_tool = r->json_tool[0] && !r->native_format;
    if (r->f.at[CMX_CHAT_TOOLS] < 0 && !json_tool)
        return CMX_OK;
    cmx_jw_mark none = cmx_jw_mark_here(w);
    CMX_JW_KEY(w, "toolConfig");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "tools");
    cmx_jw_array(w);
    size_t n = 0;
    cmx_err e = r->f.at[CMX_CHAT_TOOLS] >= 0
                    ? cmx_translate_tools(&r->c, r->f.at[CMX_CHAT_TOOLS], tool_spec, w, &n)
                    : CMX_OK;
    if (json_tool)
        json_tool_spec(r, w);
    cmx_jw_end(w);
    write_tool_choice(r, json_tool, w);
    cmx_jw_end(w);
    if (e == CMX_OK && n == 0 && !json_tool)
        cmx_jw_rewind(w, none);
    return e;
}

static cmx_err write_messages(request *r, cmx_jw *w)
{
    char system_room[512]; /* a usual system prompt fits: no allocation */
    cmx_buf system;
    cmx_buf_init_spill(&system, system_room, sizeof system_room);
    cmx_err e = cmx_translate_turns_and_system(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers,
                                               "messages", w, &system);
    int instruction = r->rf.kind == CMX_FORMAT_JSON_OBJECT;
    if (e == CMX_OK && (system.len > 2 || instruction)) {
        CMX_JW_KEY(w, "system");
        cmx_jw_array(w);
        if (system.len > 2)
            cmx_jw_value(w, system.data + 1, system.len - 2);
        if (instruction) {
            cmx_jw_object(w);
            CMX_JW_KEY(w, "text");
            cmx_jw_string(w, cmx_translate_json_object_instruction,
                          strlen(cmx_translate_json_object_instruction));
            cmx_jw_end(w);
        }
        cmx_jw_end(w);
    }
    cmx_buf_free(&system);
    return e;
}

static cmx_err write_request(void *req, cmx_jw *w)
{
    request *r = req;
    cmx_jw_object(w);
    write_inference_config(r, w);
    write_additional_fields(r, w);
    write_output_config(r, w);
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
                 .opt = opt,
                 .claude = cmx_claude_version(opt->model) > 0,
                 .tool_choice_name = -1};
    r.c.cache_prompt = opt->cache_prompt;
    if (opt->plan)
        *opt->plan = (cmx_answer_plan){{0}, 0};
    return cmx_translate_request(&r.c, in, read_request, write_request, out);
}
