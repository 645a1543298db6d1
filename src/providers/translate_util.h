/* translate_util.h — the pieces of OpenAI-chat translation that every
 * translating provider (anthropic, bedrock, vertex) needs in the same form.
 *
 * A translating provider reads an OpenAI chat request and writes its own
 * service's format, then reads that service's answer and writes a
 * chat.completion.  The formats differ, but the reading of the OpenAI side
 * does not: how a refused parameter is named in a 400, which parameter
 * values are harmless defaults, how messages, content parts, tools,
 * tool_choice and tool calls are walked and checked, how a data URL is taken
 * apart, how consecutive turns of one role merge, and how the final
 * chat.completion, its finish reason and its usage are written.  Those live
 * here, once, so a client sees the same messages whichever provider serves
 * it; the provider passes small writers for the shapes that are its own.
 *
 * Without a tree: the request is tokenized once (http/json_doc.h) and read
 * by token index; the provider's body is written with core/json_write.h,
 * copying what passes unchanged (message text, tool schemas, base64 image
 * data) as the client wrote it, escapes and all.  Answers are read the same
 * way.  No I/O, no clock, no global state. */
#ifndef CMX_PROVIDERS_TRANSLATE_UTIL_H
#define CMX_PROVIDERS_TRANSLATE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json_write.h"
#include "core/usage.h"
#include "http/json_doc.h"
#include "providers/translator.h"

/* What a request translation reads and reports its errors with. */
typedef struct cmx_translate_ctx {
    cmx_error *err;
    const char *provider_name; /* the configured name, for messages */
    const char *provider_type; /* "anthropic", "bedrock": in messages and the default name */
    int drop_unsupported;      /* drop unsupported parameters instead of failing */
    cmx_json_doc *doc;         /* the request, tokenized (cmx_translate_begin) */
    cmx_arena *arena;          /* unescaped copies of strings; the caller's or own_arena */
    cmx_arena *own_arena;
    int messages; /* the messages array token, once cmx_translate_messages started */
    /* Where the gateway marks the prompt for caching itself (the group's
     * cache_prompt, CMX_CACHE_PROMPT_* bits); cmx_translate_messages clears it
     * when the request carries cache_control of its own. */
    unsigned cache_prompt;
    int has_cache_hints; /* the body may hold cache_control (0: no lookups) */
} cmx_translate_ctx;

/* Tokenizes the request into `doc` (owned by the caller, released by
 * cmx_translate_end) and checks it is a JSON object whose strings a service
 * can take (no unpaired surrogate, no NUL).  400 otherwise. */
cmx_err cmx_translate_begin(cmx_translate_ctx *c, cmx_json_doc *doc, const cmx_translate_input *in);
void cmx_translate_end(cmx_translate_ctx *c);

/* The name for messages: the configured one, else the provider type. */
const char *cmx_translate_provider_name(const cmx_translate_ctx *c);

/* Sets a 400 bad_request error; returns CMX_ERR_BAD_REQUEST. */
cmx_err cmx_translate_bad(cmx_translate_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
cmx_err cmx_translate_nomem(cmx_translate_ctx *c);

/* The value of token v as a client wrote it, compact, shortened to fit
 * `len`, for a message. */
void cmx_translate_show_value(const cmx_json_doc *doc, int v, char *out, size_t len);

/* String token i unescaped: *s points into the document when it has no
 * escapes, else at a copy in the context's arena. */
cmx_err cmx_translate_unescaped(cmx_translate_ctx *c, int i, const char **s, size_t *len);

/* ---- top-level fields ------------------------------------------------------ */

/* The OpenAI chat fields any translator reads. */
typedef enum cmx_chat_field {
    CMX_CHAT_MODEL,
    CMX_CHAT_MESSAGES,
    CMX_CHAT_STREAM,
    CMX_CHAT_STREAM_OPTIONS,
    CMX_CHAT_USER,
    CMX_CHAT_MAX_TOKENS,
    CMX_CHAT_MAX_COMPLETION_TOKENS,
    CMX_CHAT_TEMPERATURE,
    CMX_CHAT_TOP_P,
    CMX_CHAT_STOP,
    CMX_CHAT_TOOLS,
    CMX_CHAT_TOOL_CHOICE,
    CMX_CHAT_PARALLEL_TOOL_CALLS,
    CMX_CHAT_N,
    CMX_CHAT_LOGPROBS,
    CMX_CHAT_STORE,
    CMX_CHAT_PRESENCE_PENALTY,
    CMX_CHAT_FREQUENCY_PENALTY,
    CMX_CHAT_LOGIT_BIAS,
    CMX_CHAT_RESPONSE_FORMAT,
    CMX_CHAT_SEED,
    CMX_CHAT_REASONING_EFFORT,
    CMX_CHAT_TOP_K,
    CMX_CHAT_FIELD_COUNT
} cmx_chat_field;

#define CMX_CHAT_BIT(f) (1u << (f))

/* What every translated API takes: the routing fields, the stream switches,
 * user, max tokens, sampling, stop and tools. */
#define CMX_CHAT_TAKES_COMMON                                                                      \
    (CMX_CHAT_BIT(CMX_CHAT_MODEL) | CMX_CHAT_BIT(CMX_CHAT_MESSAGES) |                              \
     CMX_CHAT_BIT(CMX_CHAT_STREAM) | CMX_CHAT_BIT(CMX_CHAT_STREAM_OPTIONS) |                       \
     CMX_CHAT_BIT(CMX_CHAT_USER) | CMX_CHAT_BIT(CMX_CHAT_MAX_TOKENS) |                             \
     CMX_CHAT_BIT(CMX_CHAT_MAX_COMPLETION_TOKENS) | CMX_CHAT_BIT(CMX_CHAT_TEMPERATURE) |           \
     CMX_CHAT_BIT(CMX_CHAT_TOP_P) | CMX_CHAT_BIT(CMX_CHAT_STOP) | CMX_CHAT_BIT(CMX_CHAT_TOOLS) |   \
     CMX_CHAT_BIT(CMX_CHAT_TOOL_CHOICE))

/* Where each field's value sits: a token index, -1 when absent or null. */
typedef struct cmx_chat_fields {
    int at[CMX_CHAT_FIELD_COUNT];
} cmx_chat_fields;

/* One pass over the request's top-level members: the fields in `takes`
 * (CMX_CHAT_BIT()s) are recorded (the last one when a key repeats, as in
 * most JSON parsers); null means unset; any other member is fine when it
 * holds its harmless OpenAI default (n 1, logprobs false, ...), else
 * unsupported: a 400 naming it, or dropped when configured to. */
cmx_err cmx_translate_read_fields(cmx_translate_ctx *c, uint32_t takes, cmx_chat_fields *f);

/* The field's name, for messages. */
const char *cmx_chat_field_name(cmx_chat_field f);

/* An unsupported parameter: the 400 naming it, its value and the provider,
 * or CMX_OK when the provider is configured to drop such parameters. */
cmx_err cmx_translate_unsupported(cmx_translate_ctx *c, const char *name, int v);

/* Field f, when present, as a positive integer ("'max_tokens' must be a
 * positive integer"); *out is left alone when absent. */
cmx_err cmx_translate_positive_int(cmx_translate_ctx *c, const cmx_chat_fields *f,
                                   cmx_chat_field which, int64_t *out);
/* Field f, when present, a finite number ("'temperature' must be a number"). */
cmx_err cmx_translate_number(cmx_translate_ctx *c, const cmx_chat_fields *f, cmx_chat_field which);
/* The max_completion_tokens or else max_tokens the client sent (both
 * checked), 0 when neither. */
cmx_err cmx_translate_max_tokens(cmx_translate_ctx *c, const cmx_chat_fields *f, int64_t *out);

/* The fields every translated API has, checked: max_tokens (*max_tokens
 * as cmx_translate_max_tokens), temperature, top_p, stop. */
cmx_err cmx_translate_read_sampling(cmx_translate_ctx *c, const cmx_chat_fields *f,
                                    int64_t *max_tokens);

/* Member `key` with value token v copied as the client wrote it; nothing
 * when v is -1. */
void cmx_translate_copy_member(cmx_jw *w, const cmx_json_doc *doc, int v, const char *key);

/* 'stop' checked: a string or an array of strings. */
cmx_err cmx_translate_check_stop(cmx_translate_ctx *c, int v);
/* ... and written as a list. */
void cmx_translate_write_stop(cmx_jw *w, const cmx_json_doc *doc, int v);

/* A whole request translation: tokenizes in->body (cmx_translate_begin),
 * then read(req) checks what it asks for and write(req, w) writes the body
 * at the end of out; on any failure nothing stays in out.  `req` starts
 * with its cmx_translate_ctx, which c points at. */
cmx_err cmx_translate_request(cmx_translate_ctx *c, const cmx_translate_input *in,
                              cmx_err (*read)(void *req), cmx_err (*write)(void *req, cmx_jw *w),
                              cmx_buf *out);

/* String token v written as the client wrote it; as the member `key` when
 * key is not NULL, and nothing then when v is -1. */
void cmx_translate_string(cmx_jw *w, const cmx_json_doc *doc, int v, const char *key);

/* ---- tools -------------------------------------------------------------- */

/* A function tool in the provider's form, from its name (a string token)
 * and its OpenAI `function` object (description and parameters are the
 * provider's to read), with its cache hint (translate_portable.h:
 * CMX_CACHE_NONE, CMX_CACHE_AUTO or the tool's cache_control token). */
typedef void (*cmx_translate_tool_writer)(cmx_jw *w, const cmx_translate_ctx *c, int name,
                                          int function, int hint);

/* OpenAI 'tools' written as array elements through `write` (the array is
 * the caller's): only function tools with a name are taken, anything else
 * is a 400 naming it.  A tool's cache_control is checked and handed on; with
 * cache_prompt's tools mark the last tool gets CMX_CACHE_AUTO.  *count gets
 * how many were written (may be NULL). */
cmx_err cmx_translate_tools(cmx_translate_ctx *c, int tools, cmx_translate_tool_writer write,
                            cmx_jw *w, size_t *count);

/* A function's "name" and "description" members (an empty description left
 * out when `skip_empty` is set), copied from the request. */
void cmx_translate_tool_head(cmx_jw *w, const cmx_json_doc *doc, int name, int function,
                             int skip_empty);

/* A tool call's members: "<id_key>": id (when id_key is set), "name" and
 * "<input_key>": the arguments object. */
void cmx_translate_call_members(cmx_jw *w, const cmx_json_doc *doc, const char *id_key, int id,
                                int name, const char *input_key, const char *input, size_t len);

/* The 400 for a 'tool_choice' that is none of what the provider takes
 * ("none" listed when it takes it). */
cmx_err cmx_translate_bad_tool_choice(cmx_translate_ctx *c, int v, int takes_none);

/* What an OpenAI 'tool_choice' asks for: "auto", "required", "none", or
 * "function" with *function set to the function's name (a string token);
 * NULL when it is none of those (the caller's 400 names what it takes). */
const char *cmx_translate_tool_choice(const cmx_json_doc *doc, int v, int *function);

/* A function's parameters as a JSON schema: the parameters themselves, or
 * an empty object schema when it takes none. */
void cmx_translate_write_tool_schema(cmx_jw *w, const cmx_json_doc *doc, int function);

/* ---- messages ----------------------------------------------------------- */

/* How a provider writes the content parts it takes.  `sink` is the
 * caller's: a writer with an array open, or a buffer being joined. */
typedef struct cmx_translate_part_writers {
    /* A text part (or the whole content when it is a string): a string
     * token, never empty, and its cache hint (translate_portable.h). */
    void (*text)(void *sink, const cmx_translate_ctx *c, int text, int hint);
    /* An image_url part, at messages[mi].content[pi], and its cache hint. */
    cmx_err (*image)(cmx_translate_ctx *c, int part, size_t mi, size_t pi, int hint, void *sink);
} cmx_translate_part_writers;

/* A text part written {"text": ...} (Converse's and Gemini's shape);
 * sink is a cmx_jw; the hint is not written. */
void cmx_translate_text_part(void *sink, const cmx_translate_ctx *c, int text, int hint);

/* The content of messages[mi] (a string, an array of parts, null or -1)
 * through `w`.  Text and refusal parts are text; image_url parts are taken
 * only where `images` is set (user messages); anything else is a 400 naming
 * the part type and the provider.  Empty texts are left out (the
 * translated APIs reject them).  Each part's cache_control is checked and
 * handed to its writer; `hint` (the message's own, or CMX_CACHE_NONE) goes
 * to the last part. */
cmx_err cmx_translate_content(cmx_translate_ctx *c, int content, size_t mi, int images, int hint,
                              const cmx_translate_part_writers *w, void *sink);

/* An image_url content part: its URL (string or {url}), and for a data URL
 * its media type and data.  Each is the client's bytes as written when the
 * URL had no escapes (escaped = 1: copied as they are), else unescaped. */
typedef struct cmx_translate_image {
    cmx_jw_str url;
    int is_data; /* a base64 data URL: media and data are set */
    cmx_jw_str media, data;
} cmx_translate_image;

/* Reads messages[mi].content[pi]'s image: a 400 naming the part when it has
 * no URL, or when a data: URL is not data:<media type>;base64,<data>. */
cmx_err cmx_translate_read_image(cmx_translate_ctx *c, int part, size_t mi, size_t pi,
                                 cmx_translate_image *img);
/* Whether the image's URL starts with `prefix` ("https://", "gs://"). */
int cmx_translate_image_is(const cmx_translate_image *img, const char *prefix);

/* "data:image/png;base64,AAAA" → media type and data; 0 on success, -1 when
 * the URL is not a base64 data URL. */
int cmx_translate_split_data_url(const char *url, size_t len, const char **media, size_t *media_len,
                                 const char **data, size_t *data_len);

/* The 400 for a data URL that split_data_url refused, at messages[mi].content[pi]. */
cmx_err cmx_translate_bad_data_url(cmx_translate_ctx *c, size_t mi, size_t pi);

/* A tool call in the provider's form from its id and function name (string
 * tokens; id is -1 where the provider needs none) and its arguments as a
 * JSON object's text; `call` is the client's tool call object, for what a
 * provider reads beside those (Gemini's thought signature). */
typedef void (*cmx_translate_tool_call_writer)(cmx_jw *w, const cmx_json_doc *doc, int call, int id,
                                               int name, const char *input, size_t input_len);

/* An assistant message's tool_calls (-1 or null: none) written through
 * `write`.  Each needs a function name and, when `needs_id`, an id; its
 * arguments are a JSON object in a string (empty: an empty object).  A 400
 * naming messages[mi].tool_calls[ti] when malformed. */
cmx_err cmx_translate_tool_calls(cmx_translate_ctx *c, int calls, size_t mi, int needs_id,
                                 cmx_translate_tool_call_writer write, cmx_jw *w);

/* A tool message's tool_call_id (a string token), or the 400 for its lack. */
cmx_err cmx_translate_tool_call_id(cmx_translate_ctx *c, int m, size_t mi, int *id);

/* How a provider writes the messages: their content parts, and the parts
 * that have no common shape. */
typedef struct cmx_translate_message_writers {
    const cmx_translate_part_writers *parts;
    /* The content of a system or developer message (with the message's
     * cache hint), added to `system`; NULL: its parts are written through
     * `parts` into `system`, a cmx_jw with an array open. */
    cmx_err (*system)(cmx_translate_ctx *c, int content, size_t mi, int hint, void *system);
    /* An assistant message's tool_calls (may be -1 or null) as blocks. */
    cmx_err (*tool_calls)(cmx_translate_ctx *c, int calls, size_t mi, cmx_jw *blocks);
    /* A tool message (its result) as blocks; hint is the message's cache
     * hint. */
    cmx_err (*tool_result)(cmx_translate_ctx *c, int m, size_t mi, int hint, cmx_jw *blocks);
    /* Optional: an assistant message's thinking_blocks, written before its
     * content (NULL: the provider takes none back, they are left out). */
    cmx_err (*thinking)(cmx_translate_ctx *c, int m, size_t mi, cmx_jw *blocks);
    const char *assistant_role; /* "assistant"; Gemini's "model" */
    const char *content_key;    /* "content"; Gemini's "parts" */
    /* Optional: a turn was finished, its content array at out[content_at..]. */
    void (*turn_done)(cmx_buf *out, size_t content_at);
} cmx_translate_message_writers;

/* OpenAI 'messages' (token msgs) as alternating user and assistant turns,
 * each {role, <content_key>: [blocks]}, written as elements of the array
 * open in `out`: system and developer messages go to w->system, tool results
 * are user turns, turns with no content are left out (the translated APIs
 * reject them), and consecutive turns of one role are merged.  A message's
 * cache_control is its last part's; with cache_prompt (and no cache_control
 * in the request) the last system message and the last user message get
 * the gateway's mark.  *turns gets how many were written. */
cmx_err cmx_translate_messages(cmx_translate_ctx *c, int msgs,
                               const cmx_translate_message_writers *w, cmx_jw *out, void *system,
                               size_t *turns);

/* The messages as the member "<key>": [turns] of the object open in `out`,
 * the system and developer messages' parts gathered aside as a JSON array
 * of blocks into `system` (its text: "[...]"), and the 400 when no turn has
 * content (Converse and Gemini refuse that). */
cmx_err cmx_translate_turns_and_system(cmx_translate_ctx *c, int msgs,
                                       const cmx_translate_message_writers *w, const char *key,
                                       cmx_jw *out, cmx_buf *system);

/* ---- answers -------------------------------------------------------------- */

/* An upstream stop reason as an OpenAI finish_reason: NULL for NULL,
 * "length" for max_tokens and model_context_window_exceeded, "tool_calls"
 * for tool_use, "content_filter" for the reasons listed in content_filter
 * (NULL-terminated), "stop" for anything else (end_turn, stop_sequence and
 * whatever comes next). */
const char *cmx_translate_finish_reason(const char *stop_reason, size_t len,
                                        const char *const *content_filter);

/* Token counts under the given keys of an upstream usage object (token u,
 * may be -1); the prompt counts the cache reads and writes too, and the
 * writes are also cache_write_tokens (cache_write_key may be NULL). */
void cmx_translate_usage(const cmx_json_doc *doc, int u, const char *input_key,
                         const char *output_key, const char *cache_read_key,
                         const char *cache_write_key, cmx_usage *out);
/* A non-negative integer member of an object, or `otherwise`. */
int64_t cmx_translate_count(const cmx_json_doc *doc, int obj, const char *key, int64_t otherwise);

/* The error for a 2xx answer that is not what the API promised: an
 * upstream_protocol error "<provider_type> answered 200 with <what>". */
cmx_err cmx_translate_protocol_error(cmx_error *err, const char *provider_type, const char *what);

/* Tokenizes an upstream answer; the upstream_protocol error "answered 200
 * with a body that is not a JSON object" when it is not one. */
cmx_err cmx_translate_read_body(cmx_json_doc *doc, const char *body, size_t len,
                                const char *provider_type, cmx_error *err);

/* A chat.completion's one message, gathered from the upstream's content
 * blocks in order: the text parts joined, the tool calls, the reasoning
 * (its text joined, and its blocks as the conversation must send them
 * back), and a structured answer that came as a tool's input. */
typedef struct cmx_translate_answer {
    cmx_buf text; /* the joined text, JSON-escaped */
    int has_text; /* a text block came (even an empty one) */
    cmx_buf calls;
    size_t n_calls;
    cmx_buf reasoning; /* reasoning_content, JSON-escaped */
    int has_reasoning;
    cmx_buf thinking; /* thinking_blocks' elements, comma-separated */
    size_t n_thinking;
    cmx_buf json; /* the structured answer as a JSON string (quotes and all); wins over text */
    char text_room[256]; /* text's storage while a usual answer fits (cmx_buf_init_spill) */
} cmx_translate_answer;

/* Readies an answer where it stays: text starts in the answer's own room,
 * so the answer is never copied by value once initialised. */
void cmx_translate_answer_init(cmx_translate_answer *a);
/* A text block: a string token's inside (escapes kept). */
void cmx_translate_answer_text(cmx_translate_answer *a, const cmx_json_doc *doc, int text);
/* A tool call from the upstream's id and name and its input (a JSON value
 * token, -1: "{}"), the arguments being the input's compact text. */
void cmx_translate_answer_tool_call(cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str name,
                                    const cmx_json_doc *doc, int input);
/* The same with a thought signature the call must be sent back with
 * (Gemini's; empty: none), written as Google's OpenAI-compatible API does:
 * "extra_content":{"google":{"thought_signature":...}} on the call. */
void cmx_translate_answer_signed_tool_call(cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str name,
                                           const cmx_json_doc *doc, int input,
                                           cmx_jw_str signature);
/* That member, in an open tool call object (nothing for an empty signature). */
void cmx_translate_write_call_signature(cmx_jw *w, cmx_jw_str signature);
/* A piece of the model's reasoning text. */
void cmx_translate_answer_reasoning(cmx_translate_answer *a, cmx_jw_str text);
/* A thinking block to give back as it came: {"type":"thinking","thinking",
 * "signature"} (its text also joins reasoning_content; without a signature
 * the text alone), or, redacted, {"type":"redacted_thinking","data"} (value
 * is the data). */
void cmx_translate_answer_thinking(cmx_translate_answer *a, int redacted, cmx_jw_str text,
                                   cmx_jw_str value);
/* One element of thinking_blocks, as answers and stream chunks write it. */
void cmx_translate_write_thinking_block(cmx_jw *w, int redacted, cmx_jw_str text, cmx_jw_str value);
/* The structured answer a forced tool carried: the input value (token
 * input, -1: {}) becomes the message's content, as compact text. */
void cmx_translate_answer_json(cmx_translate_answer *a, const cmx_json_doc *doc, int input);
/* For json_object without a schema: the text must be one JSON object (a
 * code fence around it is taken off); CMX_ERR_UPSTREAM_PROTOCOL otherwise,
 * so the router tries again or elsewhere. */
cmx_err cmx_translate_answer_require_object(cmx_translate_answer *a, const char *provider_type,
                                            cmx_error *err);
/* The whole chat.completion appended to out: content is the structured
 * answer when one came, else the text when a text block came or there are
 * no calls, null otherwise; reasoning_content and thinking_blocks when the
 * model reasoned.  A NULL finish_reason is written as "stop", and
 * "tool_calls" with no call left (only the structured answer's) as
 * "stop". */
cmx_err cmx_translate_answer_write(const cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str model,
                                   int64_t created, const char *finish_reason,
                                   const cmx_usage *tokens, cmx_buf *out, cmx_error *err);
void cmx_translate_answer_free(cmx_translate_answer *a);

/* String token v (may be -1) unescaped into dst[0..cap), cut to fit at a
 * character boundary; "" when it is no string. */
void cmx_translate_copy_string(char *dst, size_t cap, const cmx_json_doc *doc, int v);

/* OpenAI's usage object with the counts as given. */
void cmx_translate_write_usage(cmx_jw *w, const cmx_usage *u);

/* A string member of an upstream object as a writer's string (empty when
 * absent). */
cmx_jw_str cmx_translate_str(const cmx_json_doc *doc, int obj, const char *key);

#endif
