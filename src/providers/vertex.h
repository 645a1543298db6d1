/* vertex.h — the Vertex AI Gemini translation, as pure functions.
 *
 * The vertex provider (vertex.c) moves bytes and holds the OAuth token;
 * these functions turn a canonical (OpenAI chat) request into a Gemini
 * generateContent request, a GenerateContentResponse into a chat.completion,
 * and the chunks of streamGenerateContent?alt=sse into chat.completion.chunk
 * JSONs, with no I/O and no clock, so tests/data/vertex/ can check each
 * direction on its own.
 *
 * What Gemini cannot do (n > 1, logprobs ...) is refused by name with a 400,
 * or dropped when the provider is configured to drop unsupported
 * parameters; it is never silently ignored otherwise. */
#ifndef CMX_PROVIDERS_VERTEX_H
#define CMX_PROVIDERS_VERTEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json_write.h"
#include "core/usage.h"
#include "http/json_doc.h"
#include "providers/chunk_emit.h"
#include "providers/translator.h"

typedef struct cmx_vertex_options {
    const char *provider_name; /* for messages: "provider 'gemini' (vertex)" */
    int drop_unsupported;      /* drop unsupported parameters instead of failing */
    const char *model;         /* the model id (in the URL), for what it supports; may be NULL */
    int reasoning;             /* CMX_REASONING_* */
    const uint32_t *reasoning_budgets;
} cmx_vertex_options;

/* OpenAI chat request body → Gemini GenerateContentRequest (appended to out).
 * The model goes into the URL, not the body.  CMX_ERR_BAD_REQUEST with a
 * message a client can act on when the request cannot be expressed. */
cmx_err cmx_vertex_translate_request(const cmx_translate_input *in, const cmx_vertex_options *opt,
                                     cmx_buf *out, cmx_error *err);

/* The request path under the endpoint:
 * /v1/projects/P/locations/L/publishers/google/models/M:generateContent, or
 * :streamGenerateContent?alt=sse. */
cmx_err cmx_vertex_model_path(const char *prefix, const char *project, const char *location,
                              const char *model, int stream, cmx_buf *out, cmx_error *err);

/* Embeddings go through the prediction API (text-embedding-005,
 * gemini-embedding-001): {model}:predict with one instance per input. */
cmx_err cmx_vertex_embed_path(const char *prefix, const char *project, const char *location,
                              const char *model, cmx_buf *out, cmx_error *err);
/* OpenAI embeddings request → {"instances":[{"content"}],"parameters"};
 * *base64 says whether the client asked for encoding_format "base64". */
cmx_err cmx_vertex_translate_embeddings_request(const char *body, size_t len,
                                                const cmx_vertex_options *opt, cmx_buf *out,
                                                int *base64, cmx_error *err);
/* {"predictions":[{"embeddings":{"values","statistics"}}]} → OpenAI's
 * embedding list (vectors as arrays, or with `base64` as the base64 of
 * little-endian float32s, as OpenAI sends them), token counts summed into
 * *usage (may be NULL). */
cmx_err cmx_vertex_translate_embeddings_response(const char *body, size_t len, const char *model,
                                                 int base64, cmx_buf *out, cmx_usage *usage,
                                                 cmx_error *err);

/* Claude on Vertex (vertex_claude.c): a target model whose name starts with
 * "claude" is Anthropic's, served at publishers/anthropic/models/M:rawPredict
 * (:streamRawPredict) with a Messages body that has no "model" and carries
 * "anthropic_version": "vertex-2023-10-16".  Its answers are Anthropic's
 * (anthropic.h translates them). */
int cmx_vertex_is_claude(const char *model);
cmx_err cmx_vertex_claude_path(const char *prefix, const char *project, const char *location,
                               const char *model, int stream, cmx_buf *out, cmx_error *err);
/* Where Claude on Vertex counts tokens (the model goes in the body):
 * publishers/anthropic/models/count-tokens:rawPredict.  `model` and
 * `stream` are not used; the signature is a road's. */
cmx_err cmx_vertex_claude_count_path(const char *prefix, const char *project, const char *location,
                                     const char *model, int stream, cmx_buf *out, cmx_error *err);

/* GenerateContentResponse JSON → chat.completion JSON (appended to out), the
 * token counts in *usage (may be NULL).  `model` names the answer when the
 * response has no modelVersion.  CMX_ERR_CONTENT_POLICY when the prompt was
 * blocked or the answer withheld for safety with nothing to show;
 * CMX_ERR_UPSTREAM_PROTOCOL when the body is not a response. */
cmx_err cmx_vertex_translate_response(const char *body, size_t len, int64_t created,
                                      const char *model, cmx_buf *out, cmx_usage *usage,
                                      cmx_error *err);

/* Gemini finishReason → OpenAI finish_reason (NULL for NULL or
 * FINISH_REASON_UNSPECIFIED). */
const char *cmx_vertex_finish_reason(const char *reason, size_t len);

/* What the whole answer and the stream read alike (vertex_response.c):
 * usageMetadata's counts (u may be -1), whether a part is answer text or a
 * thought's summary, and a function call's id, "call_<response id>_<n>" (escaped),
 * appended to out. */
void cmx_vertex_read_usage(const cmx_json_doc *doc, int u, cmx_usage *out);
int cmx_vertex_is_text_part(const cmx_json_doc *doc, int part);
int cmx_vertex_is_thought_part(const cmx_json_doc *doc, int part);
void cmx_vertex_call_id(cmx_buf *out, cmx_jw_str response_id, int n);

/* Google's error answer {"error":{"code","message","status"}} (or a list of
 * them) → the router's kind, with a message; `status` is the HTTP status. */
cmx_err cmx_vertex_error_kind(int status, const char *body, size_t len, const char *provider_name,
                              uint32_t retry_after_ms, cmx_error *err);

/* The stream translator: fed each SSE data payload (one
 * GenerateContentResponse) in order, it calls `emit` with each
 * chat.completion.chunk JSON. */
typedef void (*cmx_vertex_emit_fn)(void *ctx, const char *json, size_t len);

typedef struct cmx_vertex_stream {
    cmx_vertex_emit_fn emit;
    void *ctx;
    int include_usage; /* the client asked for the usage chunk */
    int64_t created;
    char id[160];
    char model[128];
    int started;      /* the role chunk went out */
    int finished;     /* a finishReason arrived: the answer is complete */
    int content_seen; /* text or tool calls were sent */
    int tool_calls;   /* the next tool_calls index */
    size_t events;
    cmx_usage usage;
    cmx_buf chunk;
    cmx_chunk_head head; /* the head every chunk repeats, kept in chunk */
} cmx_vertex_stream;

void cmx_vertex_stream_init(cmx_vertex_stream *s, int include_usage, int64_t created,
                            const char *model, cmx_vertex_emit_fn emit, void *ctx);
/* One `data:` payload.  CMX_OK; CMX_ERR_UPSTREAM_PROTOCOL for garbage;
 * CMX_ERR_CONTENT_POLICY for a blocked prompt or a safety stop before any
 * content; the error's kind for an error object in the stream. */
cmx_err cmx_vertex_stream_event(cmx_vertex_stream *s, const char *data, size_t len, cmx_error *err);
/* The upstream ended the stream: the usage chunk when asked, or
 * CMX_ERR_UPSTREAM_PROTOCOL when no finishReason ever came (a cut stream). */
cmx_err cmx_vertex_stream_end(cmx_vertex_stream *s, cmx_error *err);
void cmx_vertex_stream_usage(const cmx_vertex_stream *s, cmx_usage *out);
void cmx_vertex_stream_free(cmx_vertex_stream *s);

/* The translators the vertex provider chooses from (vertex_translator.c):
 * Gemini; Claude at publishers/anthropic; text embeddings. */
extern const cmx_translator_ops cmx_vertex_gemini_translator;
extern const cmx_translator_ops cmx_vertex_claude_translator;
extern const cmx_translator_ops cmx_vertex_embeddings_translator;

#endif
