/* vertex_request.c — an OpenAI chat request as a Gemini generateContent
 * request.
 *
 * Gemini has two roles, user and model, and turns made of parts: text,
 * inline data (images as base64 with a MIME type), function calls and
 * function responses.  System messages become systemInstruction; assistant
 * tool_calls become functionCall parts with the arguments parsed; tool
 * results become functionResponse parts of a user turn, which need the
 * function's name: OpenAI gives only the tool_call_id, so the name is looked
 * up in the earlier assistant turns.  Consecutive turns of the same role are
 * merged, as Gemini wants them alternating.
 *
 * Sampling parameters go into generationConfig; tools into
 * functionDeclarations, tool_choice into toolConfig; response_format into
 * responseMimeType and responseJsonSchema (strict schemas, with
 * additionalProperties false, as they are); reasoning_effort into
 * thinkingConfig, a thinkingLevel for Gemini 3 and a thinkingBudget for
 * Gemini 2.5, with the thoughts' summaries asked for (they come back as
 * reasoning_content).  cache_control is ignored: Gemini caches implicitly.  Parameters Gemini lacks
 * are refused with their name, or dropped when configured.  The OpenAI side
 * (content parts, data URLs, tools, tool_choice, stop, the 400s and their
 * wording) is read by translate_util.c, as for the other translating
 * providers; what is Gemini's own stays here.  The body is written in one
 * pass with the JSON writer, one function per group of fields, texts,
 * schemas and image data copied from the client's bytes as they are. */
#include "vertex.h"
#include "translate_portable.h"
#include "translate_util.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

typedef struct request {
    cmx_translate_ctx c;
    cmx_chat_fields f;
    const cmx_vertex_options *opt;
    int64_t max_tokens;
    const char *tool_choice; /* "auto", "required", "none", "function"; NULL: none */
    int tool_choice_name;
    cmx_response_format rf;
    cmx_effort effort;
} request;

#define TAKES                                                                                      \
    (CMX_CHAT_TAKES_COMMON | CMX_CHAT_BIT(CMX_CHAT_PARALLEL_TOOL_CALLS) |                          \
     CMX_CHAT_BIT(CMX_CHAT_N) | CMX_CHAT_BIT(CMX_CHAT_PRESENCE_PENALTY) |                          \
     CMX_CHAT_BIT(CMX_CHAT_FREQUENCY_PENALTY) | CMX_CHAT_BIT(CMX_CHAT_SEED) |                      \
     CMX_CHAT_BIT(CMX_CHAT_RESPONSE_FORMAT) | CMX_CHAT_BIT(CMX_CHAT_REASONING_EFFORT) |            \
     CMX_CHAT_BIT(CMX_CHAT_TOP_K))

/* ---- content ---------------------------------------------------------- */

/* {"<key>":{"mimeType":mime,"<uri_key>":value}} */
static void media_part(cmx_jw *w, const char *key, cmx_jw_str mime, const char *uri_key,
                       cmx_jw_str value)
{
    cmx_jw_object(w);
    cmx_jw_key(w, key, strlen(key));
    cmx_jw_object(w);
    CMX_JW_KEY(w, "mimeType");
    cmx_jw_str_value(w, mime);
    cmx_jw_key(w, uri_key, strlen(uri_key));
    cmx_jw_str_value(w, value);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

/* Vertex fetches Cloud Storage and public URLs itself; the type is a guess
 * from the extension, as Gemini requires one. */
static const char *guess_mime(cmx_jw_str url)
{
    const char *dot = NULL;
    for (size_t i = url.len; i-- > 0 && !dot;)
        if (url.s[i] == '.')
            dot = url.s + i;
    size_t ext = dot ? (size_t)(url.s + url.len - dot) : 0;
    return dot && CMX_SPAN_IS(dot, ext, ".png")    ? "image/png"
           : dot && CMX_SPAN_IS(dot, ext, ".gif")  ? "image/gif"
           : dot && CMX_SPAN_IS(dot, ext, ".webp") ? "image/webp"
                                                   : "image/jpeg";
}

static cmx_err image_part(cmx_translate_ctx *c, int part, size_t mi, size_t pi, int hint,
                          void *sink)
{
    (void)hint; /* Gemini caches implicitly */
    cmx_translate_image img;
    cmx_err e = cmx_translate_read_image(c, part, mi, pi, &img);
    if (e != CMX_OK)
        return e;
    if (img.is_data)
        media_part(sink, "inlineData", img.media, "data", img.data);
    else if (cmx_translate_image_is(&img, "gs://") || cmx_translate_image_is(&img, "https://"))
        media_part(sink, "fileData", cmx_jw_cstr(guess_mime(img.url)), "fileUri", img.url);
    else
        return cmx_translate_bad(
            c,
            "messages[%zu].content[%zu].image_url.url must be a base64 data URL, an https "
            "URL or a gs:// URI",
            mi, pi);
    return CMX_OK;
}

static const cmx_translate_part_writers part_writers = {cmx_translate_text_part, image_part};

/* The thought signature a tool call came back with (Google's
 * OpenAI-compatible form: extra_content.google.thought_signature), or -1. */
static int call_signature(const cmx_json_doc *doc, int call)
{
    int google = CMX_JSON_GET(doc, CMX_JSON_GET(doc, call, "extra_content"), "google");
    return CMX_JSON_GET(doc, google, "thought_signature");
}

/* A functionCall part; its thoughtSignature beside it, as Gemini gave it. */
static void function_call(cmx_jw *w, const cmx_json_doc *doc, int call, int id, int name,
                          const char *input, size_t input_len)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "functionCall");
    cmx_jw_object(w);
    cmx_translate_call_members(w, doc, NULL, id, name, "args", input, input_len);
    cmx_jw_end(w);
    int signature = call_signature(doc, call);
    if (signature >= 0)
        cmx_translate_string(w, doc, signature, "thoughtSignature");
    cmx_jw_end(w);
}

static cmx_err function_calls(cmx_translate_ctx *c, int calls, size_t mi, cmx_jw *parts)
{
    /* a signature that is not a string is the client's mistake, named */
    if (cmx_json_doc_type(c->doc, calls) == CMX_JSON_ARRAY) {
        size_t ti = 0;
        CMX_JSON_EACH(c->doc, calls, call)
        {
            int signature = call_signature(c->doc, call);
            if (signature >= 0 && cmx_json_doc_type(c->doc, signature) != CMX_JSON_STRING)
                return cmx_translate_bad(c,
                                         "messages[%zu].tool_calls[%zu].extra_content.google."
                                         "thought_signature must be a string",
                                         mi, ti);
            ti++;
        }
    }
    return cmx_translate_tool_calls(c, calls, mi, 0, function_call, parts);
}

/* Whether string tokens a and b hold the same text. */
static int same_text(cmx_translate_ctx *c, int a, int b)
{
    const char *sa, *sb;
    size_t la, lb;
    return cmx_translate_unescaped(c, a, &sa, &la) == CMX_OK &&
           cmx_translate_unescaped(c, b, &sb, &lb) == CMX_OK && la == lb && memcmp(sa, sb, la) == 0;
}

/* The function name (a string token) of an earlier assistant tool call with
 * this id (the latest one), or -1. */
static int tool_name_for(cmx_translate_ctx *c, int id, size_t before)
{
    const cmx_json_doc *doc = c->doc;
    int found = -1;
    size_t i = 0;
    CMX_JSON_EACH(doc, c->messages, m)
    {
        if (i++ >= before)
            break;
        int calls = cmx_json_doc_get_typed(doc, m, CMX_LIT("tool_calls"), CMX_JSON_ARRAY);
        if (calls < 0)
            continue;
        CMX_JSON_EACH(doc, calls, call)
        {
            int cid = cmx_json_doc_get_typed(doc, call, CMX_LIT("id"), CMX_JSON_STRING);
            int name = cmx_json_doc_get_typed(doc, CMX_JSON_GET(doc, call, "function"),
                                              CMX_LIT("name"), CMX_JSON_STRING);
            if (cid >= 0 && name >= 0 && same_text(c, cid, id))
                found = name;
        }
    }
    return found;
}

/* A tool result's text parts, joined (still escaped). */
static void join_text(void *sink, const cmx_translate_ctx *c, int text, int hint)
{
    (void)hint;
    cmx_jw_string_piece_escaped(sink, cmx_json_doc_ptr(c->doc, text),
                                cmx_json_doc_len(c->doc, text));
}

static const cmx_translate_part_writers join_writers = {join_text, NULL};

/* Gemini's response must be an object: a result that is a JSON object in a
 * string is passed as one; anything else is wrapped as {"content": text}. */
static cmx_err function_result(cmx_translate_ctx *c, int content, size_t mi, cmx_jw *w)
{
    const cmx_json_doc *doc = c->doc;
    if (content >= 0 && cmx_json_doc_type(doc, content) == CMX_JSON_STRING) {
        const char *text;
        size_t len;
        cmx_err e = cmx_translate_unescaped(c, content, &text, &len);
        if (e != CMX_OK)
            return e;
        cmx_json_doc parsed;
        int object = cmx_json_doc_parse(&parsed, text, len, c->arena, NULL) == CMX_OK &&
                     cmx_json_doc_type(&parsed, 0) == CMX_JSON_OBJECT;
        cmx_json_doc_release(&parsed);
        if (object) {
            cmx_jw_value(w, text, len);
            return CMX_OK;
        }
        cmx_jw_object(w);
        CMX_JW_KEY(w, "content");
        cmx_translate_string(w, doc, content, NULL);
        cmx_jw_end(w);
        return CMX_OK;
    }
    cmx_jw_object(w);
    CMX_JW_KEY(w, "content");
    cmx_jw_string_open(w);
    cmx_err e = cmx_translate_content(c, content, mi, 0, CMX_CACHE_NONE, &join_writers, w);
    cmx_jw_string_close(w);
    cmx_jw_end(w);
    return e;
}

static cmx_err function_response(cmx_translate_ctx *c, int m, size_t mi, int hint, cmx_jw *w)
{
    (void)hint;
    const cmx_json_doc *doc = c->doc;
    int id;
    cmx_err e = cmx_translate_tool_call_id(c, m, mi, &id);
    if (e != CMX_OK)
        return e;
    int name = tool_name_for(c, id, mi);
    if (name < 0)
        name = cmx_json_doc_get_typed(doc, m, CMX_LIT("name"), CMX_JSON_STRING);
    if (name < 0) {
        const char *shown;
        size_t shown_len;
        if ((e = cmx_translate_unescaped(c, id, &shown, &shown_len)) != CMX_OK)
            return e;
        return cmx_translate_bad(
            c,
            "messages[%zu]: tool_call_id '%.*s' matches no earlier assistant tool call "
            "(Gemini needs the function's name)",
            mi, (int)(shown_len > 60 ? 60 : shown_len), shown);
    }
    cmx_jw_object(w);
    CMX_JW_KEY(w, "functionResponse");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "name");
    cmx_translate_string(w, doc, name, NULL);
    CMX_JW_KEY(w, "response");
    e = function_result(c, CMX_JSON_GET(doc, m, "content"), mi, w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    return e;
}

static const cmx_translate_message_writers message_writers = {
    .parts = &part_writers,
    .system = NULL, /* systemInstruction's parts */
    .tool_calls = function_calls,
    .tool_result = function_response,
    .assistant_role = "model",
    .content_key = "parts",
};

/* ---- reading ------------------------------------------------------------ */

/* The parameters only Gemini has among the translated APIs. */
static cmx_err read_gemini_params(request *r)
{
    cmx_translate_ctx *c = &r->c;
    const int *at = r->f.at;
    int64_t n, seed;
    cmx_err e = cmx_translate_number(c, &r->f, CMX_CHAT_PRESENCE_PENALTY);
    if (e == CMX_OK)
        e = cmx_translate_number(c, &r->f, CMX_CHAT_FREQUENCY_PENALTY);
    if (e == CMX_OK && at[CMX_CHAT_SEED] >= 0 &&
        cmx_json_doc_int64(c->doc, at[CMX_CHAT_SEED], &seed))
        e = cmx_translate_bad(c, "'seed' must be an integer");
    if (e == CMX_OK && at[CMX_CHAT_N] >= 0) {
        if (cmx_json_doc_int64(c->doc, at[CMX_CHAT_N], &n) != 0 || n < 1)
            e = cmx_translate_bad(c, "'n' must be a positive integer");
        else if (n > 1)
            e = cmx_translate_unsupported(c, "n", at[CMX_CHAT_N]);
    }
    int parallel = at[CMX_CHAT_PARALLEL_TOOL_CALLS]; /* either value: Gemini decides */
    cmx_json_type pt = parallel >= 0 ? cmx_json_doc_type(c->doc, parallel) : CMX_JSON_TRUE;
    if (e == CMX_OK && pt != CMX_JSON_TRUE && pt != CMX_JSON_FALSE)
        e = cmx_translate_unsupported(c, "parallel_tool_calls", parallel);
    int64_t top_k = 0;
    if (e == CMX_OK)
        e = cmx_translate_positive_int(c, &r->f, CMX_CHAT_TOP_K, &top_k);
    if (e == CMX_OK)
        e = cmx_translate_stop_limits(c, at[CMX_CHAT_STOP], CMX_STOP_GEMINI);
    if (e == CMX_OK)
        e = cmx_translate_response_format(c, at[CMX_CHAT_RESPONSE_FORMAT], &r->rf);
    if (e == CMX_OK)
        e = cmx_translate_reasoning_effort(c, at[CMX_CHAT_REASONING_EFFORT], &r->effort);
    return e;
}

static cmx_err read_request(void *req)
{
    request *r = req;
    cmx_translate_ctx *c = &r->c;
    cmx_err e = cmx_translate_read_fields(c, TAKES, &r->f);
    if (e == CMX_OK)
        e = cmx_translate_read_sampling(c, &r->f, &r->max_tokens);
    if (e == CMX_OK)
        e = read_gemini_params(r);
    int choice = r->f.at[CMX_CHAT_TOOL_CHOICE];
    if (e == CMX_OK && choice >= 0) {
        r->tool_choice = cmx_translate_tool_choice(c->doc, choice, &r->tool_choice_name);
        if (!r->tool_choice)
            e = cmx_translate_bad_tool_choice(c, choice, 1);
    }
    return e;
}

/* ---- writing, one group of fields at a time ------------------------------ */

/* Gemini 3's thinkingLevel for an effort: Pro knows LOW and HIGH, Flash
 * MINIMAL, LOW, MEDIUM and HIGH too; none is the lowest (Gemini 3 cannot
 * stop thinking). */
static const char *thinking_level(const char *model, cmx_effort effort)
{
    int flash = model && strstr(model, "flash") != NULL;
    switch (effort) {
    case CMX_EFFORT_HIGH: return "HIGH";
    case CMX_EFFORT_MEDIUM: return flash ? "MEDIUM" : "HIGH";
    case CMX_EFFORT_LOW: return "LOW";
    default: return flash ? "MINIMAL" : "LOW";
    }
}

/* thinkingConfig: a level (Gemini 3 and `reasoning: effort`) or a budget
 * (Gemini 2.5), and the thoughts' summaries when the model is to think;
 * "none" is a budget of 0 (2.5 Pro cannot stop: its least, 128). */
static void write_thinking_config(const request *r, cmx_jw *w)
{
    int mode = r->opt->reasoning;
    if (r->effort == CMX_EFFORT_ABSENT || mode == CMX_REASONING_OFF)
        return;
    const char *model = r->opt->model;
    int level = mode == CMX_REASONING_EFFORT ||
                (mode == CMX_REASONING_AUTO && cmx_gemini_major(model) >= 3);
    CMX_JW_KEY(w, "thinkingConfig");
    cmx_jw_object(w);
    if (level) {
        const char *name = thinking_level(model, r->effort);
        CMX_JW_KEY(w, "thinkingLevel");
        cmx_jw_string(w, name, strlen(name));
    } else {
        int pro = model && strstr(model, "pro") != NULL;
        CMX_JW_KEY(w, "thinkingBudget");
        cmx_jw_int(w, r->effort >= CMX_EFFORT_MINIMAL
                          ? cmx_translate_thinking_budget(r->opt->reasoning_budgets, r->effort)
                      : pro ? 128
                            : 0);
    }
    if (r->effort >= CMX_EFFORT_MINIMAL) {
        CMX_JW_KEY(w, "includeThoughts");
        cmx_jw_bool(w, 1);
    }
    cmx_jw_end(w);
}

static void write_generation_config(const request *r, cmx_jw *w)
{
    const cmx_json_doc *doc = r->c.doc;
    const int *at = r->f.at;
    cmx_jw_mark none = cmx_jw_mark_here(w);
    CMX_JW_KEY(w, "generationConfig");
    cmx_jw_object(w);
    cmx_jw_mark empty = cmx_jw_mark_here(w);
    if (r->max_tokens) {
        CMX_JW_KEY(w, "maxOutputTokens");
        cmx_jw_int(w, r->max_tokens);
    }
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_TEMPERATURE], "temperature");
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_TOP_P], "topP");
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_PRESENCE_PENALTY], "presencePenalty");
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_FREQUENCY_PENALTY], "frequencyPenalty");
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_SEED], "seed");
    if (at[CMX_CHAT_STOP] >= 0) {
        CMX_JW_KEY(w, "stopSequences");
        cmx_translate_write_stop(w, doc, at[CMX_CHAT_STOP]);
    }
    cmx_translate_copy_member(w, doc, at[CMX_CHAT_TOP_K], "topK");
    if (r->rf.kind != CMX_FORMAT_TEXT) {
        CMX_JW_KEY(w, "responseMimeType");
        CMX_JW_LIT(w, "application/json");
        cmx_translate_copy_member(w, doc, r->rf.schema, "responseJsonSchema");
    }
    write_thinking_config(r, w);
    if (!cmx_jw_wrote_since(w, empty)) {
        cmx_jw_rewind(w, none);
        return;
    }
    cmx_jw_end(w);
}

static void function_declaration(cmx_jw *w, const cmx_translate_ctx *c, int name, int fn, int hint)
{
    (void)hint; /* Gemini caches implicitly */
    const cmx_json_doc *doc = c->doc;
    cmx_jw_object(w);
    cmx_translate_tool_head(w, doc, name, fn, 0);
    cmx_translate_copy_member(
        w, doc, cmx_json_doc_get_typed(doc, fn, CMX_LIT("parameters"), CMX_JSON_OBJECT),
        "parameters");
    cmx_jw_end(w);
}

/* tools: [{functionDeclarations}], left out when there are none. */
static cmx_err write_tools(request *r, cmx_jw *w)
{
    if (r->f.at[CMX_CHAT_TOOLS] < 0)
        return CMX_OK;
    cmx_jw_mark none = cmx_jw_mark_here(w);
    CMX_JW_KEY(w, "tools");
    cmx_jw_array(w);
    cmx_jw_object(w);
    CMX_JW_KEY(w, "functionDeclarations");
    cmx_jw_array(w);
    size_t n;
    cmx_err e = cmx_translate_tools(&r->c, r->f.at[CMX_CHAT_TOOLS], function_declaration, w, &n);
    cmx_jw_end(w);
    cmx_jw_end(w);
    cmx_jw_end(w);
    if (e == CMX_OK && n == 0)
        cmx_jw_rewind(w, none);
    return e;
}

static void write_tool_config(const request *r, cmx_jw *w)
{
    const char *kind = r->tool_choice;
    if (!kind)
        return;
    CMX_JW_KEY(w, "toolConfig");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "functionCallingConfig");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "mode");
    if (strcmp(kind, "function") == 0) {
        CMX_JW_LIT(w, "ANY");
        CMX_JW_KEY(w, "allowedFunctionNames");
        cmx_jw_array(w);
        cmx_translate_string(w, r->c.doc, r->tool_choice_name, NULL);
        cmx_jw_end(w);
    } else if (strcmp(kind, "auto") == 0) {
        CMX_JW_LIT(w, "AUTO");
    } else if (strcmp(kind, "required") == 0) {
        CMX_JW_LIT(w, "ANY");
    } else {
        CMX_JW_LIT(w, "NONE");
    }
    cmx_jw_end(w);
    cmx_jw_end(w);
}

static cmx_err write_contents(request *r, cmx_jw *w)
{
    char system_room[512]; /* a usual system prompt fits: no allocation */
    cmx_buf system;
    cmx_buf_init_spill(&system, system_room, sizeof system_room);
    cmx_err e = cmx_translate_turns_and_system(&r->c, r->f.at[CMX_CHAT_MESSAGES], &message_writers,
                                               "contents", w, &system);
    if (e == CMX_OK && system.len > 2) {
        CMX_JW_KEY(w, "systemInstruction");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "parts");
        cmx_jw_value(w, system.data, system.len);
        cmx_jw_end(w);
    }
    cmx_buf_free(&system);
    return e;
}

static cmx_err write_request(void *req, cmx_jw *w)
{
    request *r = req;
    cmx_jw_object(w);
    write_generation_config(r, w);
    cmx_err e = write_tools(r, w);
    if (e != CMX_OK)
        return e;
    write_tool_config(r, w);
    e = write_contents(r, w);
    cmx_jw_end(w);
    return e;
}

cmx_err cmx_vertex_translate_request(const cmx_translate_input *in, const cmx_vertex_options *opt,
                                     cmx_buf *out, cmx_error *err)
{
    request r = {.c = {err, opt->provider_name, "vertex", opt->drop_unsupported},
                 .opt = opt,
                 .tool_choice_name = -1};
    return cmx_translate_request(&r.c, in, read_request, write_request, out);
}

static int path_safe(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == '@'))
            return 0;
    return 1;
}

static cmx_err model_path(const char *prefix, const char *project, const char *location,
                          const char *model, const char *method, cmx_buf *out, cmx_error *err)
{
    if (!path_safe(model)) {
        cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                      "model '%.80s' is not a Vertex model id (letters, digits, '-', '_', '.', "
                      "'@')",
                      model ? model : "");
        if (err)
            err->status = 400;
        return CMX_ERR_BAD_REQUEST;
    }
    /* {prefix}/v1/projects/{project}/locations/{location}/publishers/google/
     * models/{model}:{method}, appended (once per request: no printf) */
    int failed = cmx_buf_append_str(out, prefix ? prefix : "");
    failed |= cmx_buf_append(out, CMX_LIT("/v1/projects/"));
    failed |= cmx_buf_append_str(out, project ? project : "");
    failed |= cmx_buf_append(out, CMX_LIT("/locations/"));
    failed |= cmx_buf_append_str(out, location ? location : "");
    failed |= cmx_buf_append(out, CMX_LIT("/publishers/google/models/"));
    failed |= cmx_buf_append_str(out, model);
    failed |= cmx_buf_append(out, CMX_LIT(":"));
    failed |= cmx_buf_append_str(out, method);
    if (failed)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

cmx_err cmx_vertex_model_path(const char *prefix, const char *project, const char *location,
                              const char *model, int stream, cmx_buf *out, cmx_error *err)
{
    return model_path(prefix, project, location, model,
                      stream ? "streamGenerateContent?alt=sse" : "generateContent", out, err);
}

cmx_err cmx_vertex_embed_path(const char *prefix, const char *project, const char *location,
                              const char *model, cmx_buf *out, cmx_error *err)
{
    return model_path(prefix, project, location, model, "predict", out, err);
}
