/* embeddings.h — OpenAI's embeddings API on both sides, once for every
 * provider that translates embeddings (vertex, bedrock ...): the request
 * read and checked (inputs, dimensions, encoding_format, what else a
 * provider cannot take), and the answer written — the list of {object,
 * index, embedding} items, the usage, and the vector in OpenAI's
 * encoding_format "base64" (little-endian float32s, base64-encoded), which
 * the official OpenAI clients ask for by default. */
#ifndef CMX_PROVIDERS_EMBEDDINGS_H
#define CMX_PROVIDERS_EMBEDDINGS_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"

/* An embeddings request as a provider needs it. */
typedef struct cmx_embedding_request {
    json_t *body;             /* the parsed request (owned) */
    json_t *texts;            /* the inputs, each a JSON string (owned) */
    const json_t *dimensions; /* a positive integer, or NULL */
    int base64;               /* encoding_format "base64" */
} cmx_embedding_request;

/* Reads an embeddings request: `input` as a string or a non-empty list of
 * strings (token arrays are refused, naming the provider), `dimensions`,
 * `encoding_format` ("float" or "base64"), and any other field refused as
 * unsupported unless drop_unsupported.  CMX_ERR_BAD_REQUEST (status 400)
 * with a message naming provider `name` of `type`. */
cmx_err cmx_embedding_read_request(const char *body, size_t len, const char *name, const char *type,
                                   int drop_unsupported, cmx_embedding_request *out,
                                   cmx_error *err);
void cmx_embedding_request_free(cmx_embedding_request *r);

/* A JSON array of numbers → a new JSON string holding base64 of their
 * little-endian float32s (padded); NULL when out of memory. */
json_t *cmx_embedding_base64(const json_t *values);

/* Appends item i ({"object":"embedding","index":i,"embedding":...}) to the
 * `data` array: the vector as given, or base64 when asked. */
void cmx_embedding_append(json_t *data, size_t i, const json_t *vector, int base64);

/* Writes the whole answer ({"object":"list","data",...,"model","usage"}) to
 * out, and the usage (prompt = total = tokens) to *usage when not NULL. */
cmx_err cmx_embedding_write(const json_t *data, const char *model, int64_t tokens, cmx_buf *out,
                            cmx_usage *usage, cmx_error *err);

#endif
