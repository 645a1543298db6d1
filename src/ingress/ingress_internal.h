/* ingress_internal.h — what the client APIs' converters share among
 * themselves (not for the gateway). */
#ifndef CMX_INGRESS_INTERNAL_H
#define CMX_INGRESS_INTERNAL_H

#include "core/buf.h"
#include "core/json_write.h"
#include "core/usage.h"
#include "http/json_doc.h"

/* Starts checking a client API's body: req and scan emptied, req->api set,
 * the body tokenized into req->doc (in the arena), scan->body its span, and
 * each top-level field of `names` found (f[i] its value token, -1 when
 * absent).  CMX_ERR_BAD_REQUEST for a body that is not a JSON object or
 * names a field twice. */
struct cmx_ingress_request;
cmx_err cmx_ingress_read_body(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                              struct cmx_ingress_request *req, cmx_request_scan *scan,
                              const char *const *names, size_t n, int *f, cmx_error *err);

/* A chat.completion's tokens (doc, in the arena or released by the
 * caller) with its first choice and that choice's message; CMX_OK, or
 * CMX_ERR_UPSTREAM_PROTOCOL when it is not one (doc released). */
cmx_err cmx_ingress_read_completion(cmx_json_doc *doc, const char *chat, size_t len,
                                    cmx_arena *arena, int *choice, int *message);

/* What a converter does with the parts of a chat stream chunk. */
typedef struct cmx_chunk_visitor {
    void (*begin)(void *ctx, const cmx_json_doc *d);              /* each chunk, first */
    void (*text)(void *ctx, const cmx_json_doc *d, int content);  /* a non-empty delta.content */
    void (*tool_call)(void *ctx, const cmx_json_doc *d, int tc);  /* each delta.tool_calls[] */
    void (*finish)(void *ctx, const cmx_json_doc *d, int reason); /* a finish_reason string */
} cmx_chunk_visitor;

/* Reads one chunk and hands its parts to the visitor in order (its usage,
 * when it has one, into *usage).  CMX_ERR_UPSTREAM_PROTOCOL with err set
 * when it is not a JSON object: nothing is handed on then. */
cmx_err cmx_ingress_visit_chunk(const char *json, size_t len, cmx_arena *arena,
                                const cmx_chunk_visitor *v, void *ctx, cmx_usage *usage,
                                cmx_error *err);

/* A Messages usage object from chat counts: the cached tokens as cache
 * reads, the rest of the prompt as input. */
void cmx_messages_write_usage(cmx_jw *w, const cmx_usage *u);

/* Responses: a usage object from chat counts. */
void cmx_responses_write_usage(cmx_jw *w, const cmx_usage *u);

/* What a response object says of itself before its "output". */
typedef struct cmx_responses_state {
    const char *status;            /* "in_progress", "completed", "incomplete", "failed" */
    const char *incomplete_reason; /* "max_output_tokens", "content_filter", or NULL */
    const char *error_code;        /* a failed response's error, or NULL */
    const char *error_message;
    const char *model; /* NULL: the request's */
    size_t model_len;
} cmx_responses_state;

/* Everything of a response object before its "output": id, status, the
 * request's settings repeated. */
struct cmx_responses_meta;
void cmx_responses_write_head(cmx_jw *w, const struct cmx_responses_meta *m,
                              const cmx_responses_state *st);

/* The Responses error code of a failure's kind. */
const char *cmx_responses_error_code(int kind);

#endif
