/* translate_util.h — the pieces of OpenAI-chat translation that every
 * translating provider (anthropic, bedrock ...) needs in the same form.
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
 * Functions over jansson values: no I/O, no clock, no global state. */
#ifndef CMX_PROVIDERS_TRANSLATE_UTIL_H
#define CMX_PROVIDERS_TRANSLATE_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"

/* What a request translation reports its errors with. */
typedef struct cmx_translate_ctx {
    cmx_error *err;
    const char *provider_name; /* the configured name, for messages */
    const char *provider_type; /* "anthropic", "bedrock": in messages and the default name */
    int drop_unsupported;      /* drop unsupported parameters instead of failing */
} cmx_translate_ctx;

/* Appends v serialised (json_dumps `flags`) to out; CMX_ERR_NOMEM with err
 * set when it cannot (v may be NULL: a failed json_pack). */
cmx_err cmx_translate_write_json(const json_t *v, size_t flags, cmx_buf *out, cmx_error *err);

/* The name for messages: the configured one, else the provider type. */
const char *cmx_translate_provider_name(const cmx_translate_ctx *c);

/* Sets a 400 bad_request error; returns CMX_ERR_BAD_REQUEST. */
cmx_err cmx_translate_bad(cmx_translate_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The value as a client wrote it, shortened to fit `len` for a message. */
void cmx_translate_show_value(const json_t *v, char *out, size_t len);

/* An unsupported parameter: the 400 naming it, its value and the provider,
 * or CMX_OK when the provider is configured to drop such parameters. */
cmx_err cmx_translate_unsupported(cmx_translate_ctx *c, const char *name, const json_t *v);

/* Parameters whose OpenAI default every translated API shares: sending the
 * default is fine, anything else is unsupported. */
int cmx_translate_is_harmless_default(const char *key, const json_t *v);

/* 'stop' as a list: a string or an array of strings; a 400 otherwise.
 * *list is a new reference on success. */
cmx_err cmx_translate_stop_list(cmx_translate_ctx *c, const json_t *v, json_t **list);

/* A function tool in the provider's form, from its name and its OpenAI
 * `function` object (description and parameters are the provider's to
 * read).  Returns a new reference. */
typedef json_t *(*cmx_translate_tool_writer)(const char *name, const json_t *function);

/* OpenAI 'tools' appended to `out` through `write`: only function tools
 * with a name are taken, anything else is a 400 naming it. */
cmx_err cmx_translate_tools(cmx_translate_ctx *c, const json_t *tools,
                            cmx_translate_tool_writer write, json_t *out);

/* cmx_translate_tools into a new array set as parent[key]. */
cmx_err cmx_translate_tools_into(cmx_translate_ctx *c, const json_t *tools,
                                 cmx_translate_tool_writer write, json_t *parent, const char *key);

/* The 400 for a 'tool_choice' that is none of what the provider takes
 * ("none" listed when it takes it). */
cmx_err cmx_translate_bad_tool_choice(cmx_translate_ctx *c, const json_t *v, int takes_none);

/* What an OpenAI 'tool_choice' asks for: "auto", "required", "none", or
 * "function" with *function set to the function's name; NULL when it is
 * none of those (the caller's 400 names what it takes). */
const char *cmx_translate_tool_choice(const json_t *v, const char **function);

/* A function's parameters as a JSON schema: the parameters themselves, or
 * an empty object schema when it takes none.  Returns a new reference. */
json_t *cmx_translate_tool_schema(const json_t *function);

/* An upstream stop reason as an OpenAI finish_reason: NULL for NULL,
 * "length" for max_tokens and model_context_window_exceeded, "tool_calls"
 * for tool_use, "content_filter" for the reasons listed in content_filter
 * (NULL-terminated), "stop" for anything else (end_turn, stop_sequence and
 * whatever comes next). */
const char *cmx_translate_finish_reason(const char *stop_reason, const char *const *content_filter);

/* The URL of an image_url content part (string or {url}); NULL if absent. */
const char *cmx_translate_image_url(const json_t *part);

/* "data:image/png;base64,AAAA" → media type and data; 0 on success, -1 when
 * the URL is not a base64 data URL. */
int cmx_translate_split_data_url(const char *url, const char **media, size_t *media_len,
                                 const char **data);

/* The 400 for a data URL that split_data_url refused, at messages[mi].content[pi]. */
cmx_err cmx_translate_bad_data_url(cmx_translate_ctx *c, size_t mi, size_t pi);

/* A tool call in the provider's form from its id, function name and
 * arguments parsed into an object (the reference to `input` is taken).
 * Returns a new reference. */
typedef json_t *(*cmx_translate_tool_call_writer)(const char *id, const char *name, json_t *input);

/* An assistant message's tool_calls (absent or null: none) appended to
 * `blocks` through `write`.  Each needs an id and a function name; its
 * arguments are a JSON object in a string (empty: an empty object).  A 400
 * naming messages[mi].tool_calls[ti] when malformed. */
cmx_err cmx_translate_tool_calls(cmx_translate_ctx *c, const json_t *calls, size_t mi,
                                 cmx_translate_tool_call_writer write, json_t *blocks);

/* How a provider writes the content parts it takes. */
typedef struct cmx_translate_part_writers {
    /* A text part (or the whole content when it is a string). */
    void (*text)(json_t *blocks, const char *text, size_t len);
    /* An image_url part, at messages[mi].content[pi]. */
    cmx_err (*image)(cmx_translate_ctx *c, const json_t *part, size_t mi, size_t pi,
                     json_t *blocks);
} cmx_translate_part_writers;

/* The content of messages[mi] (a string, an array of parts, or null) as
 * blocks appended to `blocks`.  Text and refusal parts are text; image_url
 * parts are taken only where `images` is set (user messages); anything else
 * is a 400 naming the part type and the provider. */
cmx_err cmx_translate_content(cmx_translate_ctx *c, const json_t *content, size_t mi, int images,
                              const cmx_translate_part_writers *w, json_t *blocks);

/* How a provider writes the messages: their content parts, and the parts
 * that have no common shape. */
typedef struct cmx_translate_message_writers {
    const cmx_translate_part_writers *parts;
    /* The content of a system or developer message, added to `system`. */
    cmx_err (*system)(cmx_translate_ctx *c, const json_t *content, size_t mi, void *system);
    /* An assistant message's tool_calls (may be NULL or null) as blocks. */
    cmx_err (*tool_calls)(cmx_translate_ctx *c, const json_t *calls, size_t mi, json_t *blocks);
    /* A tool message (its result) as blocks. */
    cmx_err (*tool_result)(cmx_translate_ctx *c, const json_t *m, size_t mi, json_t *blocks);
} cmx_translate_message_writers;

/* OpenAI 'messages' as alternating user and assistant turns appended to
 * `out`: system and developer messages go to w->system, tool results are
 * user turns, turns with no content are left out (the translated APIs
 * reject them), and consecutive turns of one role are merged. */
cmx_err cmx_translate_messages(cmx_translate_ctx *c, const json_t *msgs,
                               const cmx_translate_message_writers *w, json_t *out, void *system);

/* Appends a turn {role, content: blocks} to `out`, merged into the previous
 * one when the role repeats (the translated APIs want roles to alternate).
 * Takes the reference to `blocks`. */
void cmx_translate_append_turn(json_t *out, const char *role, json_t *blocks);

/* Token counts under the given keys of an upstream usage object; the prompt
 * counts the cache reads and writes too (cache_write_key may be NULL). */
void cmx_translate_usage(const json_t *u, const char *input_key, const char *output_key,
                         const char *cache_read_key, const char *cache_write_key, cmx_usage *out);

/* The error for a 2xx answer that is not what the API promised: an
 * upstream_protocol error "<provider_type> answered 200 with <what>". */
cmx_err cmx_translate_protocol_error(cmx_error *err, const char *provider_type, const char *what);

/* A chat.completion's one message, gathered from the upstream's content
 * blocks in order: the text parts joined, and the tool calls. */
typedef struct cmx_translate_answer {
    cmx_buf text;
    int has_text; /* a text block came (even an empty one) */
    json_t *calls;
} cmx_translate_answer;

void cmx_translate_answer_init(cmx_translate_answer *a);
void cmx_translate_answer_text(cmx_translate_answer *a, const char *text, size_t len);
/* A tool call from the upstream's id, name and input (the arguments are
 * the input as compact JSON; none: "{}"). */
void cmx_translate_answer_tool_call(cmx_translate_answer *a, const json_t *id, const json_t *name,
                                    const json_t *input);
/* The whole chat.completion appended to out: content is the text when a
 * text block came or there are no calls, null otherwise.  `model` may be
 * NULL (written as null); a NULL finish_reason is written as "stop". */
cmx_err cmx_translate_answer_write(const cmx_translate_answer *a, const char *id, const char *model,
                                   int64_t created, const char *finish_reason,
                                   const cmx_usage *tokens, cmx_buf *out, cmx_error *err);
void cmx_translate_answer_free(cmx_translate_answer *a);

#endif
