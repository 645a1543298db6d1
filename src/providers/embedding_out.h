/* embedding_out.h — the OpenAI embeddings answer, built once for every
 * provider that translates embeddings (vertex, bedrock ...): the list of
 * {object, index, embedding} items, the usage, and the vector in OpenAI's
 * encoding_format "base64" (little-endian float32s, base64-encoded), which
 * the official OpenAI clients ask for by default. */
#ifndef CMX_PROVIDERS_EMBEDDING_OUT_H
#define CMX_PROVIDERS_EMBEDDING_OUT_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"

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
