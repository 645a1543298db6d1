/* anthropic.h — the Anthropic Messages API translation, as pure functions.
 *
 * The anthropic provider (anthropic.c) moves bytes; these functions turn
 * them from one format into the other, with no I/O and no clock, so the
 * data-driven tests under tests/data/anthropic/ can check each direction on
 * its own: a canonical (OpenAI chat) request body into a Messages request,
 * a Messages response into a chat.completion, and a Messages event stream
 * into chat.completion.chunk JSONs, one event at a time.
 *
 * What Anthropic cannot do is refused by name (a 400 naming the parameter
 * and the provider), or dropped when the provider is configured to drop
 * unsupported parameters; it is never silently ignored otherwise. */
#ifndef CMX_PROVIDERS_ANTHROPIC_H
#define CMX_PROVIDERS_ANTHROPIC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "providers/chunk_emit.h"
#include "providers/provider_error.h"
#include "providers/translate_portable.h"
#include "providers/translator.h"

typedef struct cmx_anthropic_options {
    const char *provider_name;   /* for messages: "provider 'claude' (anthropic)" */
    const char *provider_type;   /* ... and the type named there; NULL: "anthropic" */
    const char *model;           /* upstream model; NULL keeps the client's */
    const char *target_model;    /* the model the target names (even when the URL carries
                                    it), for what it supports; NULL: model */
    int on_vertex;               /* Claude on Vertex (its own list of supported features) */
    const char *body_version;    /* Claude behind another cloud: no "model" (the URL names
                                    it) and this "anthropic_version" in the body */
    uint32_t default_max_tokens; /* when the client sends none; 0 means 4096 */
    int drop_unsupported;        /* drop unsupported parameters instead of failing */
    int structured_output;       /* CMX_STRUCTURED_OUTPUT_* */
    int reasoning;               /* CMX_REASONING_* */
    const uint32_t *reasoning_budgets;
    unsigned cache_prompt; /* CMX_CACHE_PROMPT_* */
    cmx_answer_plan *plan; /* filled for the answer, or NULL */
} cmx_anthropic_options;

/* OpenAI chat request body → Anthropic Messages request body (appended to
 * out).  CMX_ERR_BAD_REQUEST with a message a client can act on when the
 * request uses something Anthropic cannot do or is malformed; nothing is
 * appended then. */
cmx_err cmx_anthropic_translate_request(const cmx_translate_input *in,
                                        const cmx_anthropic_options *opt, cmx_buf *out,
                                        cmx_error *err);

/* Anthropic message JSON → chat.completion JSON (appended to out), with the
 * token counts in *usage (may be NULL).  `created` is the Unix time to put in
 * the answer; `plan` (may be NULL) what the request asked of it.
 * CMX_ERR_UPSTREAM_PROTOCOL when the body is not a message (or not the JSON
 * object json_object asked for). */
cmx_err cmx_anthropic_translate_response(const char *body, size_t len, int64_t created,
                                         const cmx_answer_plan *plan, cmx_buf *out,
                                         cmx_usage *usage, cmx_error *err);

/* Anthropic's error types that say more than the HTTP status, and the
 * wording of its context-window refusal (provider_error.h); shared by every
 * road to Claude. */
extern const cmx_error_rule cmx_anthropic_error_rules[];
extern const char *const cmx_anthropic_context_phrases[];

/* Maps an Anthropic stop_reason to an OpenAI finish_reason (NULL for NULL). */
const char *cmx_anthropic_finish_reason(const char *stop_reason, size_t len);

/* The stream translator: fed the upstream's SSE events in order, it calls
 * `emit` with each chat.completion.chunk JSON to send to the client. */
typedef void (*cmx_anthropic_emit_fn)(void *ctx, const char *json, size_t len);

typedef struct cmx_anthropic_stream {
    cmx_anthropic_emit_fn emit;
    void *ctx;
    int include_usage; /* the client asked for the usage chunk */
    int64_t created;
    char id[128];
    char model[128];
    const cmx_answer_plan *plan; /* what the request asked of the answer (may be NULL) */
    int started;                 /* message_start seen */
    int stopped;                 /* message_stop seen: the answer is complete */
    long block_index;            /* the open content block, -1 when none */
    int block_is_tool;           /* ... and whether it is a tool_use block */
    int block_is_json;  /* ... the forced tool of a structured answer: its input is content */
    int block_thinking; /* ... a thinking (1) or redacted_thinking (2) block */
    cmx_buf thinking;   /* the open thinking block's text, escaped */
    cmx_buf signature;  /* ... its signature, or the redacted block's data */
    int tool_calls;     /* tool_use blocks so far (the next tool_calls index) */
    size_t events;      /* events handled, for messages */
    cmx_usage usage;
    int64_t input_tokens, cache_read, cache_creation, cache_creation_1h, output_tokens;
    cmx_buf chunk;       /* scratch for the chunk being built */
    cmx_chunk_head head; /* the head every chunk repeats, kept in chunk */
} cmx_anthropic_stream;

void cmx_anthropic_stream_init(cmx_anthropic_stream *s, int include_usage, int64_t created,
                               cmx_anthropic_emit_fn emit, void *ctx);
/* One SSE event (`event` may be empty; the data's "type" decides).  Returns
 * CMX_OK, CMX_ERR_UPSTREAM_PROTOCOL for garbage, or for an `error` event the
 * kind it stands for (overloaded → unavailable, rate limit → rate_limited). */
cmx_err cmx_anthropic_stream_event(cmx_anthropic_stream *s, const char *event, size_t event_len,
                                   const char *data, size_t data_len, cmx_error *err);
/* The usage counted so far (complete once the stream has stopped). */
void cmx_anthropic_stream_usage(const cmx_anthropic_stream *s, cmx_usage *out);
void cmx_anthropic_stream_free(cmx_anthropic_stream *s);

/* ---- as a translator (anthropic_translator.c) --------------------------- */

/* The Messages API's translator, over SSE. */
extern const cmx_translator_ops cmx_anthropic_translator;

/* Its state and steps, which the other roads to Claude (Bedrock's
 * InvokeModel, Vertex's rawPredict) reuse: their answers and streams are
 * Anthropic's own. */
typedef struct cmx_claude_state {
    cmx_translate_params p;
    cmx_answer_plan plan; /* what the request asked of the answer */
    cmx_anthropic_stream stream;
    cmx_sse_framing sse;
    cmx_error *feed_err; /* during a feed: where the stream's error goes */
} cmx_claude_state;

cmx_err cmx_claude_init(void *t, const cmx_translate_params *p, cmx_error *err);
/* The Messages body for Claude behind another cloud: without "model" (the
 * URL names it) and with that cloud's "anthropic_version" in the body;
 * messages name the provider as `provider_type`. */
cmx_err cmx_claude_cloud_request(void *t, const cmx_translate_input *in, const char *provider_type,
                                 const char *version, cmx_buf *out, cmx_error *err);
cmx_err cmx_claude_read_answer(void *t, const char *body, size_t len, cmx_buf *out,
                               cmx_usage *usage, cmx_error *err);
cmx_err cmx_claude_feed_sse(void *t, const char *data, size_t len, cmx_error *err);
cmx_err cmx_claude_end(void *t, cmx_error *err);
size_t cmx_claude_events(const void *t);
void cmx_claude_usage(const void *t, cmx_usage *u);
void cmx_claude_release(void *t);

/* The ops of a road to Claude whose stream is Anthropic's SSE: only the
 * name and the request writer differ (anthropic, vertex_claude). */
#define CMX_CLAUDE_SSE_TRANSLATOR(NAME, WRITE_REQUEST)                                             \
    {                                                                                              \
        .name = NAME, .api = CMX_API_CHAT, .stream_content_type = "text/event-stream",             \
        .state_size = sizeof(cmx_claude_state), .init = cmx_claude_init,                           \
        .write_request = WRITE_REQUEST, .read_answer = cmx_claude_read_answer,                     \
        .feed = cmx_claude_feed_sse, .end = cmx_claude_end, .events = cmx_claude_events,           \
        .usage = cmx_claude_usage, .release = cmx_claude_release,                                  \
    }

#endif
