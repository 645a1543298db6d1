/* usage_estimate.h — what a cut stream produced, when its usage never came.
 *
 * A stream that ends early (the upstream cut it, or the client left) is
 * charged for what was produced.  The provider's own count arrives in the
 * last chunk, which a cut stream lacks; so the characters of content and
 * tool-call arguments relayed are counted on the way, and turned into
 * tokens at about four characters a token, the prompt likewise from the
 * request body.  The ledger marks such rows as estimated. */
#ifndef CMX_GOVERNANCE_USAGE_ESTIMATE_H
#define CMX_GOVERNANCE_USAGE_ESTIMATE_H

#include <stddef.h>
#include <stdint.h>

#include "http/json_scan.h"

/* Characters inside "content" and "arguments" strings of one chunk. */
size_t cmx_chunk_text_chars(const char *json, size_t len);

/* Characters inside the string values of every field `name` (quotes
 * included, e.g. "\"text\"") in json, searched for with memmem. */
size_t cmx_field_text_chars(const char *json, size_t len, const char *name, size_t name_len);

/* The same for an event of Anthropic's Messages stream or OpenAI's
 * Responses stream (`type` its type): the text, thinking and tool input of
 * its deltas; the events that repeat a whole text at the end count 0. */
size_t cmx_event_delta_chars(const char *type, const char *json, size_t len);

/* Fills whatever the usage lacks; returns 1 when something was estimated. */
int cmx_usage_estimate(cmx_usage *u, size_t request_bytes, uint64_t produced_chars);

#endif
