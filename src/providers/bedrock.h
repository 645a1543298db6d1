/* bedrock.h — the AWS Bedrock Runtime Converse API translation, as pure
 * functions.
 *
 * The bedrock provider (bedrock.c) signs and moves bytes; these functions
 * turn them from one format into the other with no I/O and no clock, so the
 * data-driven tests under tests/data/bedrock/ check each direction on its
 * own: an OpenAI chat request body into a Converse request body, a Converse
 * response into a chat.completion, and ConverseStream's event-stream
 * messages (already unframed by eventstream.h) into chat.completion.chunk
 * JSONs, one message at a time.
 *
 * Converse is one format for every model on Bedrock (Claude, Llama, Mistral,
 * Nova ...), so nothing here depends on the model.  What Converse cannot do
 * is refused by name (a 400 naming the parameter and the provider), or
 * dropped when the provider is configured to drop unsupported parameters. */
#ifndef CMX_PROVIDERS_BEDROCK_H
#define CMX_PROVIDERS_BEDROCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "providers/chunk_emit.h"
#include "providers/provider_error.h"
#include "providers/translate_portable.h"
#include "providers/translator.h"
#include "providers/eventstream.h"

typedef struct cmx_bedrock_options {
    const char *provider_name; /* for messages: "provider 'aws' (bedrock)" */
    int drop_unsupported;      /* drop unsupported parameters instead of failing */
    const char *model;         /* the model id (in the URL), for what it supports; may be NULL */
    int structured_output;     /* CMX_STRUCTURED_OUTPUT_* */
    int reasoning;             /* CMX_REASONING_* */
    const uint32_t *reasoning_budgets;
    unsigned cache_prompt; /* CMX_CACHE_PROMPT_* */
    cmx_answer_plan *plan; /* filled for the answer, or NULL */
} cmx_bedrock_options;

/* OpenAI chat request body → Converse request body (appended to out).  The
 * model is not in the body (it is in the URL).  CMX_ERR_BAD_REQUEST with a
 * message a client can act on when the request uses something Converse
 * cannot do or is malformed. */
cmx_err cmx_bedrock_translate_request(const cmx_translate_input *in, const cmx_bedrock_options *opt,
                                      cmx_buf *out, cmx_error *err);

/* Converse response JSON → chat.completion JSON (appended to out), with the
 * token counts in *usage (may be NULL).  Converse answers carry neither an
 * id nor a model: the caller passes both, and `created`.
 * CMX_ERR_UPSTREAM_PROTOCOL when the body is not a Converse answer. */
cmx_err cmx_bedrock_translate_response(const char *body, size_t len, const char *id,
                                       const char *model, int64_t created,
                                       const cmx_answer_plan *plan, cmx_buf *out, cmx_usage *usage,
                                       cmx_error *err);

/* Maps a Converse stopReason to an OpenAI finish_reason (NULL for NULL). */
const char *cmx_bedrock_finish_reason(const char *stop_reason);
const char *cmx_bedrock_finish_reason_of(const char *stop_reason, size_t len);

/* AWS's exception types as the router's kinds, and how a validation error
 * says the prompt is too long (provider_error.h). */
extern const cmx_error_rule cmx_bedrock_error_rules[];
extern const char *const cmx_bedrock_context_phrases[];
/* The length of an error type without a ":http://..." suffix. */
size_t cmx_bedrock_error_type_len(const char *type, size_t type_len);

/* Maps an AWS error or exception type ("ThrottlingException",
 * "throttlingException", with or without a ":http://..." suffix) and its
 * message onto the router's kinds; `fallback` when the type says nothing. */
cmx_err cmx_bedrock_error_kind(const char *type, size_t type_len, const char *message,
                               cmx_err fallback);

/* The stream translator: fed ConverseStream's messages in order, it calls
 * `emit` with each chat.completion.chunk JSON to send to the client. */
typedef void (*cmx_bedrock_emit_fn)(void *ctx, const char *json, size_t len);

typedef struct cmx_bedrock_stream {
    cmx_bedrock_emit_fn emit;
    void *ctx;
    int include_usage; /* the client asked for the usage chunk */
    int64_t created;
    char id[128];
    char model[256];
    int started;                 /* messageStart seen */
    int stopped;                 /* messageStop seen: the answer is complete */
    int usage_sent;              /* the usage chunk went out */
    int have_usage;              /* a metadata event came */
    long tool_block;             /* contentBlockIndex of the open toolUse block, -1 when none */
    int json_block;              /* ... which is the forced tool of a structured answer */
    int tool_calls;              /* toolUse blocks so far (the next tool_calls index) */
    const cmx_answer_plan *plan; /* what the request asked of the answer (may be NULL) */
    int reasoning_open;          /* a reasoningContent block is open */
    int redacted;                /* ... it is redacted */
    cmx_buf thinking;            /* its text, escaped */
    cmx_buf signature;           /* its signature, or the redacted content */
    size_t events;               /* messages handled, for messages */
    size_t unparsed;             /* ... of which read without the parser (for tests) */
    int64_t input_tokens, output_tokens, cache_read, cache_write, cache_write_1h;
    cmx_buf chunk;       /* scratch for the chunk being built */
    cmx_chunk_head head; /* the head every chunk repeats, kept in chunk */
} cmx_bedrock_stream;

void cmx_bedrock_stream_init(cmx_bedrock_stream *s, const char *id, const char *model,
                             int include_usage, int64_t created, cmx_bedrock_emit_fn emit,
                             void *ctx);
/* One event-stream message.  Returns CMX_OK, CMX_ERR_UPSTREAM_PROTOCOL for
 * garbage, or for an exception message the kind it stands for
 * (throttlingException → rate_limited, modelStreamErrorException and
 * serviceUnavailableException → unavailable ...). */
cmx_err cmx_bedrock_stream_message(cmx_bedrock_stream *s, const cmx_eventstream_message *msg,
                                   cmx_error *err);
/* The stream ended cleanly: sends the usage chunk if it was asked for and no
 * metadata event brought it.  Call only when s->stopped.  CMX_ERR_NOMEM when
 * the chunk could not be written. */
cmx_err cmx_bedrock_stream_finish(cmx_bedrock_stream *s, cmx_error *err);
/* The usage counted so far. */
void cmx_bedrock_stream_usage(const cmx_bedrock_stream *s, cmx_usage *out);
/* Whether an event-stream message is an `exception` or `error` message (the
 * stream failing upstream, after `events` events): 1 with *kind and err
 * set, else 0.  Converse and InvokeModel streams fail alike. */
int cmx_bedrock_stream_exception(const cmx_eventstream_message *msg, size_t events, cmx_err *kind,
                                 cmx_error *err);
void cmx_bedrock_stream_free(cmx_bedrock_stream *s);

/* The translators the bedrock provider chooses from (bedrock_translator.c):
 * Converse; Claude through InvokeModel; Titan and Cohere embeddings. */
extern const cmx_translator_ops cmx_bedrock_converse_translator;
extern const cmx_translator_ops cmx_bedrock_invoke_translator;
extern const cmx_translator_ops cmx_bedrock_embeddings_translator;

#endif
