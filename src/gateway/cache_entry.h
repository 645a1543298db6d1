/* cache_entry.h — what the response cache stores for one answer: the answer
 * in each form a later request may ask for, so that a hit is a byte copy
 * whichever way it is asked.
 *
 * An entry is a whole, successful answer: the JSON body a plain client gets
 * (a chat.completion, or an embeddings list) and, for chat, the SSE events
 * a streaming client gets ("data: <chat.completion.chunk>\n\n" each, usage-
 * only events left out, no [DONE]), plus one usage event made from the
 * stored counts, sent only to a client that asked for usage
 * (stream_options.include_usage).  Since `stream` is not part of the cache
 * key, either form may be asked for either way.  The form the answer came
 * in is stored as it came; the other is made once, when the entry is (a
 * stream assembled into one chat.completion, a body cut into one delta per
 * choice and a finish event per choice), with a JSON parser — never on a
 * hit.  When both forms do not fit under the cache's largest value, only the
 * one the answer came in is stored, and a hit in the other form converts it
 * then (the same conversion).
 *
 * Encoding (binary-safe): "CMX2 <prompt> <completion> <plen> <mlen> <jlen>
 * <slen> <ulen>\n", then the provider and model names, the JSON body, the
 * SSE events and the usage event.  A length of 0: that form is not
 * stored. */
#ifndef CMX_GATEWAY_CACHE_ENTRY_H
#define CMX_GATEWAY_CACHE_ENTRY_H

#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/usage.h"

typedef struct cmx_cache_entry {
    cmx_usage usage;
    const char *provider, *model; /* NUL-terminated copies in the entry's arena */
    const char *json;             /* these three point into the decoded value */
    size_t json_len;
    const char *sse;
    size_t sse_len;
    const char *usage_event;
    size_t usage_event_len;
} cmx_cache_entry;

/* A relayed stream chunk, kept for the entry: appends "data: <json>\n\n" to
 * events, unless it is a usage-only chunk (replaced on replay by the usage
 * event). */
void cmx_cache_append_chunk(cmx_buf *events, const char *json, size_t len);

/* Makes the entry of a whole answer, appended to out: payload is the JSON
 * body (is_stream 0) or the events kept with cmx_cache_append_chunk
 * (is_stream 1).  The entry is at most max_len bytes: the other form is
 * left out when both do not fit.  0 on success; -1 when not even the form
 * it came in fits, or out ran out of memory (nothing to store). */
int cmx_cache_entry_make(cmx_buf *out, int is_stream, const cmx_usage *usage, const char *provider,
                         const char *model, const char *payload, size_t payload_len,
                         size_t max_len);
/* 0 when value is a well-formed entry (names go to arena). */
int cmx_cache_entry_decode(const char *value, size_t len, cmx_arena *arena, cmx_cache_entry *e);

/* The answer as one JSON body: the stored bytes, or assembled from the
 * stored stream into scratch.  0 on success (*body, *len set). */
int cmx_cache_entry_body(const cmx_cache_entry *e, cmx_buf *scratch, const char **body,
                         size_t *len);
/* The answer as SSE events (no usage event, no [DONE]): the stored bytes,
 * or made from the stored body into scratch.  0 on success. */
int cmx_cache_entry_events(const cmx_cache_entry *e, cmx_buf *scratch, const char **events,
                           size_t *len);

#endif
