/* translate_portable.c — reading the portable request fields on the OpenAI
 * side (see translate_portable.h), and what the gateway knows about models
 * to pick each field's native form.
 *
 * The model facts are from the providers' documentation: Claude's
 * structured outputs (output_config.format) are generally available on the
 * Claude API and Bedrock from the 4.5 models on, on Vertex from 4.6;
 * Claude's effort setting (output_config.effort) with adaptive thinking
 * from 4.6 (4.7 takes no budget_tokens any more); Gemini 3 takes a
 * thinkingLevel, Gemini 2.5 a thinkingBudget.  A target's
 * `structured_output:` and `reasoning:` settle what a name cannot. */
#include "translate_portable.h"
#include "core/str.h"
#include "http/json_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- response_format ------------------------------------------------------ */

/* The 400 "'<name>' (<value as sent>) <what it must be>". */
static cmx_err bad_value(cmx_translate_ctx *c, const char *name, int v, const char *must)
{
    char shown[48];
    cmx_translate_show_value(c->doc, v, shown, sizeof shown);
    return cmx_translate_bad(c, "'%s' (%s) %s", name, shown, must);
}

cmx_err cmx_translate_response_format(cmx_translate_ctx *c, int v, cmx_response_format *rf)
{
    const cmx_json_doc *doc = c->doc;
    *rf = (cmx_response_format){CMX_FORMAT_TEXT, -1, -1, -1, 0};
    if (v < 0)
        return CMX_OK;
    int type = CMX_JSON_GET(doc, v, "type");
    if (CMX_JSON_STRING_IS(doc, type, "text"))
        return CMX_OK;
    if (CMX_JSON_STRING_IS(doc, type, "json_object")) {
        rf->kind = CMX_FORMAT_JSON_OBJECT;
        return CMX_OK;
    }
    if (!CMX_JSON_STRING_IS(doc, type, "json_schema"))
        return bad_value(c, "response_format", v,
                         "must have a 'type' of \"text\", \"json_object\" or \"json_schema\"");
    int js = CMX_JSON_GET(doc, v, "json_schema");
    rf->kind = CMX_FORMAT_JSON_SCHEMA;
    rf->schema = cmx_json_doc_get_typed(doc, js, CMX_LIT("schema"), CMX_JSON_OBJECT);
    rf->name = cmx_json_doc_get_typed(doc, js, CMX_LIT("name"), CMX_JSON_STRING);
    rf->description = cmx_json_doc_get_typed(doc, js, CMX_LIT("description"), CMX_JSON_STRING);
    rf->strict = cmx_json_doc_type(doc, CMX_JSON_GET(doc, js, "strict")) == CMX_JSON_TRUE;
    if (rf->schema < 0)
        return cmx_translate_bad(c, "'response_format.json_schema.schema' must be a JSON schema "
                                    "object");
    return CMX_OK;
}

/* A name every translated API takes for a tool: ^[a-zA-Z0-9_-]{1,64}$. */
static int tool_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

void cmx_translate_answer_tool_name(cmx_translate_ctx *c, const cmx_response_format *rf, int tools,
                                    char out[65])
{
    const cmx_json_doc *doc = c->doc;
    snprintf(out, 65, "json_answer");
    if (rf->name < 0 || cmx_json_doc_escaped(doc, rf->name))
        return;
    const char *name = cmx_json_doc_ptr(doc, rf->name);
    size_t n = cmx_json_doc_len(doc, rf->name);
    if (!tool_name_ok(name, n))
        return;
    if (cmx_json_doc_type(doc, tools) == CMX_JSON_ARRAY) {
        CMX_JSON_EACH(doc, tools, t)
        {
            int tn = cmx_json_doc_get_typed(doc, CMX_JSON_GET(doc, t, "function"), CMX_LIT("name"),
                                            CMX_JSON_STRING);
            if (cmx_json_doc_string_is(doc, tn, name, n))
                return; /* the client's own tool: its calls must stay tool calls */
        }
    }
    memcpy(out, name, n);
    out[n] = '\0';
}

void cmx_translate_answer_tool_head(cmx_jw *w, const cmx_json_doc *doc,
                                    const cmx_response_format *rf, const char *name)
{
    CMX_JW_KEY(w, "name");
    cmx_jw_string(w, name, strlen(name));
    CMX_JW_KEY(w, "description");
    if (rf->description >= 0)
        cmx_translate_string(w, doc, rf->description, NULL);
    else
        CMX_JW_LIT(w, "Give the answer as this tool's input, which follows the required JSON "
                      "schema.");
}

const char cmx_translate_json_object_instruction[] =
    "Answer with one JSON object and nothing else: no prose before or after it, no code fence.";

/* ---- reasoning_effort -------------------------------------------------------- */

static const char *const effort_names[] = {"minimal", "low", "medium", "high"};
static const uint32_t default_budgets[] = {1024, 2048, 8192, 24576};

cmx_err cmx_translate_reasoning_effort(cmx_translate_ctx *c, int v, cmx_effort *effort)
{
    const cmx_json_doc *doc = c->doc;
    *effort = CMX_EFFORT_ABSENT;
    if (v < 0)
        return CMX_OK;
    if (CMX_JSON_STRING_IS(doc, v, "none")) {
        *effort = CMX_EFFORT_NONE;
        return CMX_OK;
    }
    for (int i = 0; i < (int)(sizeof effort_names / sizeof effort_names[0]); i++)
        if (cmx_json_doc_string_is(doc, v, effort_names[i], strlen(effort_names[i]))) {
            *effort = (cmx_effort)i;
            return CMX_OK;
        }
    return bad_value(c, "reasoning_effort", v,
                     "must be \"none\", \"minimal\", \"low\", \"medium\" or \"high\"");
}

uint32_t cmx_translate_thinking_budget(const uint32_t *overrides, cmx_effort effort)
{
    if (effort < CMX_EFFORT_MINIMAL)
        return 0;
    return overrides && overrides[effort] ? overrides[effort] : default_budgets[effort];
}

const char *cmx_effort_name(cmx_effort effort)
{
    return effort >= CMX_EFFORT_MINIMAL ? effort_names[effort] : "none";
}

/* ---- Claude's thinking ------------------------------------------------------- */

void cmx_claude_plan_thinking(cmx_claude_thinking *t, cmx_effort effort, int mode,
                              const uint32_t *budgets, const char *model, int forced)
{
    *t = (cmx_claude_thinking){0, 0, NULL};
    if (effort < CMX_EFFORT_MINIMAL || mode == CMX_REASONING_OFF || forced)
        return;
    t->adaptive = mode == CMX_REASONING_EFFORT ||
                  (mode == CMX_REASONING_AUTO && cmx_claude_has_effort(model));
    if (t->adaptive) /* minimal has no Claude level of its own */
        t->effort = effort == CMX_EFFORT_MINIMAL ? "low" : cmx_effort_name(effort);
    else
        t->budget = cmx_translate_thinking_budget(budgets, effort);
}

void cmx_claude_write_thinking(cmx_jw *w, const cmx_claude_thinking *t)
{
    if (!cmx_claude_thinks(t))
        return;
    CMX_JW_KEY(w, "thinking");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (t->adaptive) {
        CMX_JW_LIT(w, "adaptive");
    } else {
        CMX_JW_LIT(w, "enabled");
        CMX_JW_KEY(w, "budget_tokens");
        cmx_jw_int(w, t->budget);
    }
    cmx_jw_end(w);
}

void cmx_claude_sampling(const cmx_json_doc *doc, const cmx_claude_thinking *t, int *temperature,
                         int *top_p)
{
    double d;
    if (!cmx_claude_thinks(t))
        return;
    if (*temperature >= 0 && !(cmx_json_doc_double(doc, *temperature, &d) == 0 && d == 1.0))
        *temperature = -1;
    if (*top_p >= 0 && !(cmx_json_doc_double(doc, *top_p, &d) == 0 && d >= 0.95))
        *top_p = -1;
}

/* ---- models ------------------------------------------------------------------ */

/* A one- or two-digit number at *p (a date or a longer number is not a
 * version), advancing *p past it; -1 when there is none. */
static int small_number(const char **p)
{
    const char *s = *p;
    int n = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 3) {
        n = n * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 2 || (*s >= '0' && *s <= '9'))
        return -1;
    *p = s;
    return n;
}

/* "<major>[-<minor>]" at p as major*10+minor; a date after the major is no
 * minor ("4-20250514" is 4.0); 0 when p holds no version. */
static int version_at(const char *p)
{
    int major = small_number(&p);
    if (major < 0)
        return 0;
    int minor = 0;
    const char *q = p + 1;
    if (*p == '-' && (minor = small_number(&q)) < 0)
        minor = 0;
    return major * 10 + (minor > 9 ? 9 : minor);
}

int cmx_claude_version(const char *model)
{
    const char *p = model ? strstr(model, "claude-") : NULL;
    if (!p)
        return 0;
    p += CMX_LIT_LEN("claude-");
    /* claude-opus-4-6, claude-sonnet-4-20250514, claude-haiku-4-5@2025... */
    static const char *const families[] = {"opus-", "sonnet-", "haiku-"};
    for (size_t i = 0; i < 3; i++)
        if (strncmp(p, families[i], strlen(families[i])) == 0)
            return version_at(p + strlen(families[i]));
    return version_at(p); /* claude-3-7-sonnet-..., claude-3-5-haiku-... */
}

int cmx_claude_has_structured_outputs(const char *model, int on_vertex)
{
    return cmx_claude_version(model) >= (on_vertex ? 46 : 45);
}

int cmx_claude_has_effort(const char *model)
{
    return cmx_claude_version(model) >= 46;
}

int cmx_gemini_major(const char *model)
{
    const char *p = model ? strstr(model, "gemini-") : NULL;
    if (!p)
        return 0;
    p += CMX_LIT_LEN("gemini-");
    int major = small_number(&p);
    return major < 0 ? 0 : major;
}

/* ---- stop sequences ------------------------------------------------------------ */

/* Each API's documented limits; where a provider documents none, none is
 * imposed (the service's own answer then speaks).
 *
 * - OpenAI Chat Completions, `stop`: "Up to 4 sequences where the API will
 *   stop generating further tokens" (platform.openai.com API reference,
 *   "Create chat completion"; help.openai.com "How do I use stop sequences").
 * - Anthropic Messages, `stop_sequences`: an array of strings, no count or
 *   length limit in the API reference; Claude on Bedrock InvokeModel and on
 *   Vertex documents none either.
 * - Bedrock Converse / ConverseStream, InferenceConfiguration.stopSequences:
 *   "Array Members: Minimum number of 0 items. Maximum number of 2500 items.
 *   Length Constraints: Minimum length of 1." (Amazon Bedrock API
 *   Reference, API_runtime_InferenceConfiguration).  The 4-item limit is
 *   the Agents runtime's InferenceConfiguration, not Converse's.
 * - Gemini, GenerationConfig.stopSequences: "The set of character sequences
 *   (up to 5) that will stop output generation" (Gemini API reference,
 *   GenerationConfig; Vertex AI's content generation parameters: at most
 *   5). */
static const cmx_stop_limits stop_limits[] = {
    [CMX_STOP_OPENAI] = {"stop", 4, 0},
    [CMX_STOP_ANTHROPIC] = {"stop_sequences", 0, 0},
    [CMX_STOP_CONVERSE] = {"inferenceConfig.stopSequences", 2500, 1},
    [CMX_STOP_GEMINI] = {"generationConfig.stopSequences", 5, 0},
};

const cmx_stop_limits *cmx_stop_limits_of(cmx_stop_api api)
{
    return &stop_limits[api];
}

cmx_err cmx_translate_stop_limits(cmx_translate_ctx *c, int v, cmx_stop_api api)
{
    const cmx_stop_limits *l = &stop_limits[api];
    if (v < 0 || (!l->max_items && !l->nonempty))
        return CMX_OK;
    const cmx_json_doc *doc = c->doc;
    int list = cmx_json_doc_type(doc, v) == CMX_JSON_ARRAY;
    size_t n = list ? cmx_json_doc_count(doc, v) : 1;
    if (l->max_items && n > l->max_items)
        return cmx_translate_bad(c,
                                 "'stop' holds %zu sequences; provider '%s' (%s) takes at most %zu "
                                 "in %s",
                                 n, cmx_translate_provider_name(c), c->provider_type, l->max_items,
                                 l->field);
    if (!l->nonempty)
        return CMX_OK;
    char where[32] = "";
    if (!list && cmx_json_doc_len(doc, v) == 0) {
        snprintf(where, sizeof where, "'stop'");
    } else if (list) {
        size_t i = 0;
        CMX_JSON_EACH(doc, v, s)
        {
            if (!where[0] && cmx_json_doc_len(doc, s) == 0)
                snprintf(where, sizeof where, "'stop[%zu]'", i);
            i++;
        }
    }
    if (!where[0])
        return CMX_OK;
    return cmx_translate_bad(c,
                             "%s is empty; provider '%s' (%s) takes stop sequences of at least one "
                             "character in %s",
                             where, cmx_translate_provider_name(c), c->provider_type, l->field);
}

/* ---- cache_control ------------------------------------------------------------- */

cmx_err cmx_translate_read_cache_hint(cmx_translate_ctx *c, int obj, const char *list, size_t i,
                                      size_t j, int *hint)
{
    const cmx_json_doc *doc = c->doc;
    *hint = CMX_CACHE_NONE;
    int cc = obj >= 0 && cmx_json_doc_type(doc, obj) == CMX_JSON_OBJECT
                 ? CMX_JSON_GET(doc, obj, "cache_control")
                 : -1;
    if (cc < 0 || cmx_json_doc_type(doc, cc) == CMX_JSON_NULL)
        return CMX_OK;
    int type = CMX_JSON_GET(doc, cc, "type");
    int ttl = CMX_JSON_GET(doc, cc, "ttl");
    int ok = cmx_json_doc_type(doc, cc) == CMX_JSON_OBJECT &&
             CMX_JSON_STRING_IS(doc, type, "ephemeral") &&
             (ttl < 0 || CMX_JSON_STRING_IS(doc, ttl, "5m") || CMX_JSON_STRING_IS(doc, ttl, "1h"));
    CMX_JSON_EACH_KEY(doc, cc, k)
    ok &=
        cmx_json_doc_key_is(doc, k, CMX_LIT("type")) || cmx_json_doc_key_is(doc, k, CMX_LIT("ttl"));
    char what[64];
    if (!ok && j == SIZE_MAX)
        snprintf(what, sizeof what, "%s[%zu]", list, i);
    else if (!ok)
        snprintf(what, sizeof what, "%s[%zu].content[%zu]", list, i, j);
    if (!ok)
        return cmx_translate_bad(c,
                                 "%s.cache_control must be {\"type\":\"ephemeral\"}, with an "
                                 "optional \"ttl\" of \"5m\" or \"1h\"",
                                 what);
    *hint = cc;
    return CMX_OK;
}

int cmx_translate_has_cache_hints(const cmx_translate_ctx *c)
{
    return cmx_json_mentions_key(c->doc->bytes, c->doc->len, "cache_control");
}

int cmx_translate_cache_ttl(const cmx_translate_ctx *c, int hint)
{
    return hint >= 0 ? cmx_json_doc_get_typed(c->doc, hint, CMX_LIT("ttl"), CMX_JSON_STRING) : -1;
}

int64_t cmx_anthropic_cache_1h(const cmx_json_doc *doc, int u, int64_t otherwise)
{
    int detail = cmx_json_doc_get_typed(doc, u, CMX_LIT("cache_creation"), CMX_JSON_OBJECT);
    return detail < 0 ? otherwise
                      : cmx_translate_count(doc, detail, "ephemeral_1h_input_tokens", otherwise);
}

int64_t cmx_converse_cache_1h(const cmx_json_doc *doc, int u, int64_t otherwise)
{
    int details = cmx_json_doc_get_typed(doc, u, CMX_LIT("cacheDetails"), CMX_JSON_ARRAY);
    if (details < 0)
        return otherwise;
    int64_t hour = 0;
    CMX_JSON_EACH(doc, details, d)
    if (CMX_JSON_STRING_IS(doc, CMX_JSON_GET(doc, d, "ttl"), "1h"))
        hour += cmx_translate_count(doc, d, "inputTokens", 0);
    return hour;
}

void cmx_translate_write_cache_control(cmx_jw *w, const cmx_translate_ctx *c, int hint)
{
    if (hint == CMX_CACHE_NONE)
        return;
    CMX_JW_KEY(w, "cache_control");
    if (hint >= 0)
        cmx_jw_value(w, cmx_json_doc_ptr(c->doc, hint), cmx_json_doc_len(c->doc, hint));
    else
        cmx_jw_value(w, CMX_LIT("{\"type\":\"ephemeral\"}"));
}

/* ---- thinking sent back ---------------------------------------------------------- */

cmx_err cmx_translate_thinking_blocks(cmx_translate_ctx *c, int m, size_t mi,
                                      cmx_translate_thinking_writer write, cmx_jw *w)
{
    const cmx_json_doc *doc = c->doc;
    int blocks = CMX_JSON_GET(doc, m, "thinking_blocks");
    cmx_json_type t = blocks < 0 ? CMX_JSON_NULL : cmx_json_doc_type(doc, blocks);
    if (t == CMX_JSON_NULL)
        return CMX_OK;
    if (t != CMX_JSON_ARRAY)
        return cmx_translate_bad(c, "messages[%zu].thinking_blocks must be an array", mi);
    size_t bi = 0;
    CMX_JSON_EACH(doc, blocks, b)
    {
        int type = CMX_JSON_GET(doc, b, "type");
        int text = cmx_json_doc_get_typed(doc, b, CMX_LIT("thinking"), CMX_JSON_STRING);
        int sig = cmx_json_doc_get_typed(doc, b, CMX_LIT("signature"), CMX_JSON_STRING);
        int data = cmx_json_doc_get_typed(doc, b, CMX_LIT("data"), CMX_JSON_STRING);
        if (CMX_JSON_STRING_IS(doc, type, "thinking") && text >= 0 && sig >= 0)
            write(w, doc, 0, text, sig, -1);
        else if (CMX_JSON_STRING_IS(doc, type, "redacted_thinking") && data >= 0)
            write(w, doc, 1, -1, -1, data);
        else
            return cmx_translate_bad(c,
                                     "messages[%zu].thinking_blocks[%zu] must be "
                                     "{\"type\":\"thinking\",\"thinking\",\"signature\"} or "
                                     "{\"type\":\"redacted_thinking\",\"data\"}, as the answer "
                                     "gave it",
                                     mi, bi);
        bi++;
    }
    return CMX_OK;
}
