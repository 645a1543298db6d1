/* ingress.h — the client APIs beside OpenAI's chat completions: Anthropic's
 * Messages API (with its count_tokens) and OpenAI's Responses API, as pure
 * functions over bytes.
 *
 * A request of either API is checked once, without a tree: its body is
 * tokenized (http/json_doc.h), every field the API defines is checked for
 * its type and shape, and the fields the gateway routes on are found
 * (model, stream).  A target that speaks the API itself gets the body as it
 * came (the providers splice what their road changes); any other target
 * gets it as a chat completion, written here from the tokens, and its
 * answer — a whole chat.completion or a stream of chunks — is written back
 * here in the client's API: a Messages message and its events (exactly one
 * message_start, content blocks as they arrive, tool input as
 * input_json_delta, message_delta, message_stop), or a Responses response
 * and its events (response.created ... response.completed, or
 * response.incomplete when the answer was cut for length).  A failure after
 * the first byte ends a stream with the API's own error event and without
 * its end event.
 *
 * What the chat form cannot say is refused with a 400 naming the field, or,
 * where dropping it changes nothing a client relies on (top_k, thinking,
 * cache_control, anthropic-beta), dropped and named in a note the gateway
 * returns as x-cloudmux-dropped.  No I/O, no clock, no global state: the
 * gateway passes times and ids in. */
#ifndef CMX_INGRESS_H
#define CMX_INGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "http/json_doc.h"
#include "http/json_scan.h"

/* One stream event for the client: its name and its JSON. */
typedef void (*cmx_ingress_emit_fn)(void *ctx, const char *event, const char *json, size_t len);

/* A checked client API request: its tokens (in the request's arena, valid
 * as long as it) and what the checks found. */
typedef struct cmx_ingress_request {
    cmx_api api;
    const cmx_json_doc *doc;
    /* Responses: text.format asks for JSON (a json_schema, or
     * json_object), which the chat road gets as a tool of this name (the
     * schema's, or "json_object") whose arguments are the answer's text
     * (NULL when it asks for text). */
    const char *schema_tool;
    size_t schema_tool_len;
    int store_given; /* Responses: the body says "store" */
} cmx_ingress_request;

/* ---- Anthropic's Messages API (messages_check.c, messages_chat.c) ------- */

/* Checks a Messages body (api CMX_API_MESSAGES) or a count_tokens body
 * (CMX_API_COUNT_TOKENS: no max_tokens, no stream) and fills the scan.
 * CMX_ERR_BAD_REQUEST with a message naming the field:
 * "messages[1].content[0]: unknown block type 'foo'",
 * "'max_tokens' must be an integer of at least 1" ... */
cmx_err cmx_messages_check(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                           cmx_ingress_request *req, cmx_request_scan *scan, cmx_error *err);

/* The Messages request as a chat completion (appended to out), streaming
 * with the usage chunk when the request streams.  Dropped fields are
 * appended to `dropped` (", "-separated names). */
cmx_err cmx_messages_to_chat(const cmx_ingress_request *req, const char *anthropic_beta,
                             cmx_arena *arena, cmx_buf *out, cmx_buf *dropped, cmx_error *err);

/* A chat.completion as a Messages message (appended to out).
 * CMX_ERR_UPSTREAM_PROTOCOL when it is not a chat.completion. */
cmx_err cmx_messages_from_chat(const char *chat, size_t len, cmx_arena *arena, cmx_buf *out,
                               cmx_error *err);

/* The data of Anthropic's stream `error` event. */
void cmx_messages_error_event(cmx_buf *b, cmx_err kind, const char *message);

/* chat.completion.chunk JSONs in, Messages events out (messages_stream.c). */
typedef struct cmx_messages_stream {
    cmx_ingress_emit_fn emit;
    void *ctx;
    cmx_arena *arena;
    cmx_buf event;      /* the event being written */
    int started;        /* message_start went out */
    int open_block;     /* the index of the open content block, -1 when none */
    int open_is_tool;   /* ... and whether it is a tool_use block */
    int blocks;         /* content blocks so far (the next index) */
    int tool_block[64]; /* chat tool_calls index → its block, -1 when not seen */
    char stop_reason[24];
    cmx_usage usage;
    int lost; /* an event could not be written (out of memory): none goes out after it */
} cmx_messages_stream;

void cmx_messages_stream_init(cmx_messages_stream *s, cmx_arena *arena, cmx_ingress_emit_fn emit,
                              void *ctx);
/* One chunk: CMX_OK, CMX_ERR_UPSTREAM_PROTOCOL for one that is not a
 * chunk (nothing was emitted for it), or CMX_ERR_NOMEM when an event could
 * not be written (the stream cannot go on whole). */
cmx_err cmx_messages_stream_chunk(cmx_messages_stream *s, const char *json, size_t len,
                                  cmx_error *err);
/* The chat stream completed: the open block is closed and message_delta
 * (stop reason, usage) and message_stop go out.  CMX_ERR_NOMEM as above. */
cmx_err cmx_messages_stream_end(cmx_messages_stream *s, cmx_error *err);
void cmx_messages_stream_free(cmx_messages_stream *s);

/* ---- OpenAI's Responses API (responses_check.c, responses_chat.c) ------- */

/* Checks a Responses body and fills the scan.  store: true,
 * previous_response_id, conversation and background are refused (cloudmux
 * keeps no state); CMX_ERR_BAD_REQUEST names the field otherwise. */
cmx_err cmx_responses_check(const char *body, size_t len, cmx_arena *arena,
                            cmx_ingress_request *req, cmx_request_scan *scan, cmx_error *err);

/* The body as it goes to a Responses upstream (openai, azure): with
 * "store": false when the client did not say (cloudmux keeps no state, so
 * nothing is left stored upstream either; OpenAI's default is to store),
 * the scan's spans moved to match.  The body itself when it says; NULL when
 * out of memory. */
const char *cmx_responses_stateless_body(const cmx_ingress_request *req, const char *body,
                                         size_t len, cmx_request_scan *scan, cmx_arena *arena,
                                         size_t *out_len);

/* The Responses request as a chat completion (appended to out). */
cmx_err cmx_responses_to_chat(const cmx_ingress_request *req, cmx_arena *arena, cmx_buf *out,
                              cmx_buf *dropped, cmx_error *err);

/* What a response repeats of its request, and who it is. */
typedef struct cmx_responses_meta {
    const cmx_ingress_request *req;
    const char *id; /* "resp_..." */
    int64_t created_at;
} cmx_responses_meta;

/* A chat.completion as a Responses response (appended to out). */
cmx_err cmx_responses_from_chat(const cmx_responses_meta *m, const char *chat, size_t len,
                                cmx_arena *arena, cmx_buf *out, cmx_error *err);

/* chat.completion.chunk JSONs in, Responses events out (responses_stream.c). */
typedef struct cmx_responses_item {
    int kind;          /* 1 message, 2 function call */
    int chat_index;    /* a function call's chat tool_calls index */
    int as_text;       /* a call of the schema tool: its arguments are the text */
    cmx_buf text;      /* the text, or the arguments */
    char id[72];       /* the item's id */
    char call_id[128]; /* a function call's call_id */
    char name[128];    /* ... and its function */
    int done;
} cmx_responses_item;

typedef struct cmx_responses_stream {
    cmx_responses_meta meta;
    cmx_ingress_emit_fn emit;
    void *ctx;
    cmx_buf event;
    int64_t seq; /* the next sequence_number */
    int started;
    cmx_responses_item items[32]; /* [0, n_items) in use, the rest not even cleared */
    int n_items;
    int open_item; /* the item deltas go to, -1 */
    char finish_reason[24];
    cmx_usage usage;
    int lost; /* an event could not be written: none goes out after it */
} cmx_responses_stream;

void cmx_responses_stream_init(cmx_responses_stream *s, const cmx_responses_meta *m,
                               cmx_ingress_emit_fn emit, void *ctx);
/* response.created and response.in_progress, before the first chunk. */
void cmx_responses_stream_begin(cmx_responses_stream *s);
cmx_err cmx_responses_stream_chunk(cmx_responses_stream *s, const char *json, size_t len,
                                   cmx_error *err);
/* The chat stream completed: the open items' done events, then
 * response.completed, or response.incomplete when cut for length.
 * CMX_ERR_NOMEM when an event could not be written. */
cmx_err cmx_responses_stream_end(cmx_responses_stream *s, cmx_error *err);
/* The stream failed after its first byte: `error` and response.failed. */
void cmx_responses_stream_fail(cmx_responses_stream *s, cmx_err kind, const char *message);
void cmx_responses_stream_free(cmx_responses_stream *s);

/* The failure of a Responses stream that was passed through from an
 * upstream: `error` and a response.failed naming response_id (may be
 * NULL), numbered from seq. */
void cmx_responses_fail_events(cmx_ingress_emit_fn emit, void *ctx, int64_t seq,
                               const char *response_id, cmx_err kind, const char *message);

#endif
