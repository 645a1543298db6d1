/* translate_portable.h — the OpenAI request fields that every provider says
 * in its own way and that applications rely on across a failover:
 * structured outputs (response_format), reasoning (reasoning_effort, and
 * the thinking a conversation sends back on its assistant messages), and
 * prompt-cache hints (cache_control on content parts, messages and tools).
 *
 * This is the OpenAI side of them, read once and checked the same way for
 * every translating provider (the wording of the 400s is the gateway's
 * contract), with the facts about models that decide which native form a
 * target gets.  What each provider writes stays in its *_request.c; what it
 * answers comes back through translate_util's answer builder and
 * chunk_emit.c (reasoning_content, thinking_blocks).
 *
 * The chat-level vocabulary (docs/providers.md, "Portable requests"):
 *
 *   response.message.reasoning_content   the model's thinking, as text
 *   response.message.thinking_blocks     [{"type":"thinking","thinking","signature"},
 *                                          {"type":"redacted_thinking","data"}], in order
 *   stream delta.reasoning_content       pieces of that text
 *   stream delta.thinking_blocks         one block, whole, when it closed
 *   request assistant .thinking_blocks   sent back as they came: restored first in
 *                                        the assistant turn
 *   request cache_control                {"type":"ephemeral"[,"ttl":"5m"|"1h"]} on a
 *                                        content part, a message or a tool
 *
 * No I/O, no global state. */
#ifndef CMX_PROVIDERS_TRANSLATE_PORTABLE_H
#define CMX_PROVIDERS_TRANSLATE_PORTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "providers/translate_util.h"

/* ---- response_format ------------------------------------------------------ */

typedef enum cmx_format_kind {
    CMX_FORMAT_TEXT = 0, /* none, or {"type":"text"} */
    CMX_FORMAT_JSON_OBJECT,
    CMX_FORMAT_JSON_SCHEMA,
} cmx_format_kind;

typedef struct cmx_response_format {
    cmx_format_kind kind;
    int schema;      /* json_schema.schema, an object token (-1: none) */
    int name;        /* json_schema.name, a string token (-1: none) */
    int description; /* json_schema.description, a string token (-1: none) */
    int strict;      /* json_schema.strict is true */
} cmx_response_format;

/* response_format (token v, -1: absent) read and checked: a 400 for a type
 * other than text, json_object and json_schema, or a json_schema without a
 * schema object. */
cmx_err cmx_translate_response_format(cmx_translate_ctx *c, int v, cmx_response_format *rf);

/* The name of the tool that carries a structured answer where a forced tool
 * stands in for native structured output: the schema's name when it is a
 * valid tool name and none of the client's tools has it, else
 * "json_answer".  Written (raw, NUL-terminated) into out[0..64]. */
void cmx_translate_answer_tool_name(cmx_translate_ctx *c, const cmx_response_format *rf, int tools,
                                    char out[65]);

/* The instruction given to a model asked for json_object with no schema
 * (no native form for it on Claude or Converse), a JSON string's inside. */
extern const char cmx_translate_json_object_instruction[];

/* What a request asked of its answer, which the answer and stream
 * translators need to give it back in OpenAI's shape. */
typedef struct cmx_answer_plan {
    char json_tool[65]; /* the forced tool that carries a structured answer; "" when none */
    int json_object;    /* json_object without a schema: the answer must be one JSON object */
} cmx_answer_plan;

/* ---- reasoning_effort -------------------------------------------------------- */

/* reasoning_effort: none (-1 when absent too), or a level that thinks. */
typedef enum cmx_effort {
    CMX_EFFORT_ABSENT = -2,
    CMX_EFFORT_NONE = -1,
    CMX_EFFORT_MINIMAL = 0,
    CMX_EFFORT_LOW,
    CMX_EFFORT_MEDIUM,
    CMX_EFFORT_HIGH,
} cmx_effort;

/* reasoning_effort (token v, -1: absent) read: a 400 for anything but
 * "none", "minimal", "low", "medium" or "high". */
cmx_err cmx_translate_reasoning_effort(cmx_translate_ctx *c, int v, cmx_effort *effort);

/* The thinking budget in tokens of a level: the target's override, else
 * 1024, 2048, 8192, 24576 for minimal, low, medium, high. */
uint32_t cmx_translate_thinking_budget(const uint32_t *overrides, cmx_effort effort);

/* The level's name: "minimal", "low", "medium", "high". */
const char *cmx_effort_name(cmx_effort effort);

/* The name and description members of the forced tool that carries a
 * structured answer (its schema is the provider's to write). */
void cmx_translate_answer_tool_head(cmx_jw *w, const cmx_json_doc *doc,
                                    const cmx_response_format *rf, const char *name);

/* ---- Claude's thinking, wherever Claude runs ----------------------------------- */

/* What reasoning_effort becomes for Claude: a budget, or adaptive thinking
 * with an effort level; neither when it does not think. */
typedef struct cmx_claude_thinking {
    uint32_t budget;    /* budget_tokens; 0: no budgeted thinking */
    int adaptive;       /* {"type":"adaptive"} with output_config.effort */
    const char *effort; /* that level: "low", "medium", "high" */
} cmx_claude_thinking;

/* Plans it from the effort, the target's `reasoning:` mode and budgets and
 * the model; `forced` (a tool_choice that forces a tool) leaves thinking
 * out, as Claude refuses both together. */
void cmx_claude_plan_thinking(cmx_claude_thinking *t, cmx_effort effort, int mode,
                              const uint32_t *budgets, const char *model, int forced);
static inline int cmx_claude_thinks(const cmx_claude_thinking *t)
{
    return t->budget || t->adaptive;
}
/* "thinking": {"type":"enabled","budget_tokens"} or {"type":"adaptive"}. */
void cmx_claude_write_thinking(cmx_jw *w, const cmx_claude_thinking *t);
/* The sampling Claude takes while thinking: temperature 1 only, top_p from
 * 0.95; the tokens of what may be sent (-1: left out). */
void cmx_claude_sampling(const cmx_json_doc *doc, const cmx_claude_thinking *t, int *temperature,
                         int *top_p);

/* ---- models ------------------------------------------------------------------ */

/* The family version of a Claude model id, wherever it runs ("claude-opus-4-6",
 * "claude-sonnet-4-5-20250929", "us.anthropic.claude-haiku-4-5-...-v1:0",
 * "claude-sonnet-4@20250514", "claude-3-7-sonnet-..."): major*10+minor (46,
 * 45, 40, 37), or 0 when the id names no Claude model. */
int cmx_claude_version(const char *model);

/* Whether a Claude model takes output_config.format (Anthropic and Bedrock:
 * 4.5 and later; Vertex: 4.6 and later), and output_config.effort with
 * adaptive thinking (4.6 and later). */
int cmx_claude_has_structured_outputs(const char *model, int on_vertex);
int cmx_claude_has_effort(const char *model);

/* The major version of a Gemini model id ("gemini-3-pro" → 3,
 * "gemini-2.5-flash" → 2), 0 when unknown. */
int cmx_gemini_major(const char *model);

/* ---- stop sequences ------------------------------------------------------------ */

/* The APIs that take stop sequences, each with its documented limits. */
typedef enum cmx_stop_api {
    CMX_STOP_OPENAI = 0, /* Chat Completions' stop (the mock follows it) */
    CMX_STOP_ANTHROPIC,  /* Claude's stop_sequences, on every road to Claude */
    CMX_STOP_CONVERSE,   /* Bedrock Converse's inferenceConfig.stopSequences */
    CMX_STOP_GEMINI,     /* Gemini's generationConfig.stopSequences */
} cmx_stop_api;

typedef struct cmx_stop_limits {
    const char *field; /* where the API takes them, for messages */
    size_t max_items;  /* sequences at most; 0: no documented limit */
    int nonempty;      /* each sequence at least one character long */
} cmx_stop_limits;

/* The API's limits (the table and its sources: translate_portable.c). */
const cmx_stop_limits *cmx_stop_limits_of(cmx_stop_api api);

/* 'stop' (token v, -1: absent; its shape checked before by
 * cmx_translate_check_stop) against the API's limits: the 400 naming the
 * field, the target and the limit it is past. */
cmx_err cmx_translate_stop_limits(cmx_translate_ctx *c, int v, cmx_stop_api api);

/* ---- cache_control ------------------------------------------------------------- */

/* A cache hint, for a writer: the client's cache_control (a token), the
 * gateway's own mark (cache_prompt: an ephemeral hint without ttl), or none. */
#define CMX_CACHE_NONE (-1)
#define CMX_CACHE_AUTO (-2)

/* The cache_control member of `obj` (a content part, a message, a tool),
 * checked: *hint is its token, or CMX_CACHE_NONE (at once, without a look,
 * when the body names no cache_control).  The 400 names obj as
 * "<list>[i]" or "<list>[i].content[j]" (j SIZE_MAX: none). */
cmx_err cmx_translate_read_cache_hint(cmx_translate_ctx *c, int obj, const char *list, size_t i,
                                      size_t j, int *hint);
static inline cmx_err cmx_translate_cache_hint(cmx_translate_ctx *c, int obj, const char *list,
                                               size_t i, size_t j, int *hint)
{
    *hint = CMX_CACHE_NONE;
    return c->has_cache_hints ? cmx_translate_read_cache_hint(c, obj, list, i, j, hint) : CMX_OK;
}

/* Whether the request carries any cache_control of its own (then the
 * group's cache_prompt marks nothing). */
int cmx_translate_has_cache_hints(const cmx_translate_ctx *c);

/* The hint's ttl as a string token (-1: none or the gateway's own mark). */
int cmx_translate_cache_ttl(const cmx_translate_ctx *c, int hint);

/* Prompt-cache writes made for one hour in an answer's usage object u (the
 * rest of the writes are the 5-minute default): Anthropic's
 * cache_creation.ephemeral_1h_input_tokens, Converse's cacheDetails entry
 * with ttl "1h"; `otherwise` when the object does not say. */
int64_t cmx_anthropic_cache_1h(const cmx_json_doc *doc, int u, int64_t otherwise);
int64_t cmx_converse_cache_1h(const cmx_json_doc *doc, int u, int64_t otherwise);

/* "cache_control": the hint, as Anthropic writes it (the client's object
 * copied, or {"type":"ephemeral"}); nothing for CMX_CACHE_NONE. */
void cmx_translate_write_cache_control(cmx_jw *w, const cmx_translate_ctx *c, int hint);

/* ---- thinking sent back ---------------------------------------------------------- */

/* How a provider writes a thinking block an assistant message sends back:
 * `type` is "thinking" (text and signature string tokens) or
 * "redacted_thinking" (data a string token, text and signature -1). */
typedef void (*cmx_translate_thinking_writer)(cmx_jw *w, const cmx_json_doc *doc, int redacted,
                                              int text, int signature, int data);

/* messages[mi].thinking_blocks (m is the message; absent or null: none)
 * written through `write`; a 400 naming the block when it is not one of
 * the two shapes. */
cmx_err cmx_translate_thinking_blocks(cmx_translate_ctx *c, int m, size_t mi,
                                      cmx_translate_thinking_writer write, cmx_jw *w);

#endif
