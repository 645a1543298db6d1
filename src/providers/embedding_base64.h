/* embedding_base64.h — an embedding vector in OpenAI's encoding_format
 * "base64": the vector's numbers as little-endian float32s, base64-encoded.
 *
 * Every provider that serves embeddings (vertex, bedrock ...) gets vectors
 * as JSON number arrays and must give the same bytes back when the client
 * asks for base64 (the official OpenAI clients do by default), so the
 * encoding lives here once. */
#ifndef CMX_PROVIDERS_EMBEDDING_BASE64_H
#define CMX_PROVIDERS_EMBEDDING_BASE64_H

#include <jansson.h>

/* A JSON array of numbers → a new JSON string holding base64 of their
 * little-endian float32s (padded); NULL when out of memory. */
json_t *cmx_embedding_base64(const json_t *values);

#endif
