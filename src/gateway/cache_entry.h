/* cache_entry.h — what the response cache stores for one answer, and how a
 * stored answer is given back in the form the new request asks for.
 *
 * An entry is a whole, successful answer: either the JSON body of a
 * non-streamed answer or the chunks of a completed stream, with the usage
 * and the provider and model that answered.  Since `stream` is not part of
 * the cache key, either form may be asked for either way: a stored body is
 * replayed to a streaming client as chat.completion.chunk events, and a
 * stored stream is assembled into one chat.completion for a plain client.
 * Usage-only chunks are never replayed as stored; a client that asked for
 * usage (stream_options.include_usage) gets one made from the stored counts.
 *
 * Encoding (binary-safe): "CMX1 <j|s> <prompt> <completion> <plen> <mlen>\n"
 * then provider and model bytes, then the body, or for a stream each chunk
 * as "<len>\n<bytes>". */
#ifndef CMX_GATEWAY_CACHE_ENTRY_H
#define CMX_GATEWAY_CACHE_ENTRY_H

#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/usage.h"

typedef struct cmx_cache_entry {
    int is_stream;
    cmx_usage usage;
    const char *provider, *model; /* NUL-terminated copies in the entry's arena */
    const char *payload;          /* into the decoded value */
    size_t payload_len;
} cmx_cache_entry;

/* out is appended to.  chunks: the stream's chunk JSONs, each "<len>\n<bytes>"
 * already (cmx_cache_append_chunk), or the body. */
void cmx_cache_entry_encode(cmx_buf *out, int is_stream, const cmx_usage *usage,
                            const char *provider, const char *model, const char *payload,
                            size_t payload_len);
/* Appends one chunk to a stream's payload. */
void cmx_cache_append_chunk(cmx_buf *payload, const char *json, size_t len);
/* 0 when value is a well-formed entry (strings go to arena). */
int cmx_cache_entry_decode(const char *value, size_t len, cmx_arena *arena, cmx_cache_entry *e);

/* The answer as one JSON body (a stored stream is assembled); 0 on success. */
int cmx_cache_entry_as_json(const cmx_cache_entry *e, cmx_buf *out);

typedef void (*cmx_cache_chunk_fn)(void *ctx, const char *json, size_t len);
/* The answer as stream chunks, in order, without [DONE]; a usage chunk last
 * when include_usage.  0 on success (nothing emitted when the entry is
 * damaged). */
int cmx_cache_entry_as_chunks(const cmx_cache_entry *e, int include_usage, cmx_cache_chunk_fn fn,
                              void *ctx);

#endif
