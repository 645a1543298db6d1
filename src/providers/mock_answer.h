/* mock_answer.h — what the mock provider answers, as a real OpenAI model
 * would shape it: `n` choices, a tool call when `tool_choice` requires one,
 * JSON content for `response_format` json_object / json_schema, and
 * embeddings of `dimensions` floats (or base64 little-endian float32s for
 * `encoding_format: "base64"`), deterministic for the same input.
 *
 * The request is read once (cmx_mock_plan_read, which answers the client's
 * mistakes with a 400 as OpenAI does); the writers then only format.  The
 * timing, failures and stream pacing stay in mock.c. */
#ifndef CMX_PROVIDERS_MOCK_ANSWER_H
#define CMX_PROVIDERS_MOCK_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/json_scan.h"

#define CMX_MOCK_DEFAULT_DIMENSIONS 8
#define CMX_MOCK_MAX_DIMENSIONS 4096
#define CMX_MOCK_MAX_CHOICES 128

typedef struct cmx_mock_plan {
    cmx_api api;
    const char *model;
    char id[48];
    long created;
    /* chat */
    unsigned n;           /* choices */
    char *content;        /* the text of every choice (heap) */
    char *tool_name;      /* a required tool call's function name, or NULL */
    char *tool_arguments; /* its arguments, a JSON object's text */
    char tool_call_id[32];
    /* embeddings */
    uint64_t *input_hashes; /* one per input: the vector's seed */
    size_t n_inputs;
    unsigned dimensions;
    int base64;
} cmx_mock_plan;

/* Reads what the answer depends on from the client's body.  `content` is
 * the configured reply text; `seq` makes the ids unique.  CMX_ERR_BAD_REQUEST
 * with OpenAI's kind of message for a value OpenAI refuses. */
cmx_err cmx_mock_plan_read(cmx_mock_plan *p, cmx_api api, const char *body, size_t len,
                           const char *model, const char *content, uint64_t seq, cmx_error *err);
void cmx_mock_plan_free(cmx_mock_plan *p);

/* Completion tokens of the whole answer (words of the content, or of the
 * tool call's arguments, times the choices). */
int64_t cmx_mock_completion_tokens(const cmx_mock_plan *p);

/* A whole chat.completion, with `usage_json` ("\"usage\":{...}") at the end. */
void cmx_mock_write_chat(const cmx_mock_plan *p, const char *usage_json, cmx_buf *out);
/* A whole embeddings list. */
cmx_err cmx_mock_write_embeddings(const cmx_mock_plan *p, int64_t prompt_tokens, cmx_buf *out,
                                  cmx_error *err);

/* Stream steps: 0 opens every choice (role), 1..n_chunks carry the content
 * (or the tool call's arguments) in n_chunks nearly equal pieces, n_chunks+1
 * finishes every choice.  Each step is one chat.completion.chunk per choice,
 * handed to emit; CMX_ERR_NOMEM (and nothing more emitted) when a chunk
 * could not be written whole. */
cmx_err cmx_mock_stream_step(const cmx_mock_plan *p, uint32_t step, uint32_t n_chunks,
                             void (*emit)(void *ctx, const char *json, size_t len), void *ctx);
/* The last chunk: no choices, the usage (for stream_options.include_usage). */
void cmx_mock_write_usage_chunk(const cmx_mock_plan *p, const char *usage_json, cmx_buf *out);

#endif
