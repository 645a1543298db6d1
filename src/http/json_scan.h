/* json_scan.h — the request hot path's JSON work, without a DOM.
 *
 * The body is tokenized and validated in one pass (http/json_doc.h), so the
 * result is a full RFC 8259 validation: every
 * primitive is a valid number, true, false or null; no leading zeros, no
 * trailing commas, separators exactly where the grammar puts them, no raw
 * control characters in strings, valid escapes.  On the way it finds the
 * top-level fields the gateway routes on and records where their values sit
 * in the original bytes, so the upstream model name can be spliced in without
 * re-serialising anything.
 *
 * Upstream answers are read the same way: cmx_json_find_usage() finds the
 * "usage" object's token counts by scanning, never building a tree. */
#ifndef CMX_HTTP_JSON_SCAN_H
#define CMX_HTTP_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/usage.h"

/* A value's place in the original bytes: [start, end). For strings the span
 * includes the quotes. start == end == 0 when absent. */
typedef struct cmx_json_span {
    size_t start;
    size_t end;
} cmx_json_span;

typedef enum {
    CMX_JSON_ABSENT = 0,
    CMX_JSON_STRING,
    CMX_JSON_NUMBER,
    CMX_JSON_TRUE,
    CMX_JSON_FALSE,
    CMX_JSON_NULL,
    CMX_JSON_OBJECT,
    CMX_JSON_ARRAY
} cmx_json_type;

typedef struct cmx_request_scan {
    cmx_json_span model;          /* the "model" string value, quotes included */
    char model_name[256];         /* unescaped model name, NUL-terminated */
    int stream;                   /* "stream": true */
    int include_usage;            /* "stream_options": {"include_usage": true} */
    cmx_json_span stream_options; /* whole stream_options value if present */
    cmx_json_span body;           /* the top-level object */
    size_t n_messages;            /* chat: messages array length */
    /* The body's tokens as http/json_doc.h reads them, kept in the arena so
     * a translator reads the body without tokenizing it again; NULL when no
     * arena was given.  They describe `scanned`, len bytes, and nothing
     * else. */
    const void *tokens;
    int n_tokens;
    const char *scanned;
    size_t scanned_len;
} cmx_request_scan;

/* Validates a chat-completions or embeddings body and fills `out`.
 * On failure returns CMX_ERR_BAD_REQUEST with a message a client can act on:
 * "invalid JSON at byte 17: ...", "'messages' must be an array",
 * "messages[2] has no 'role'", "missing required field 'model'",
 * "'input' is required" ...  Token storage comes from `arena`. */
cmx_err cmx_json_scan_request(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                              cmx_request_scan *out, cmx_error *err);

/* Validates that bytes are one JSON value (any type); same strictness. */
cmx_err cmx_json_validate(const char *bytes, size_t len, cmx_arena *arena, cmx_error *err);

/* The top-level object of body without the members named in names[0..n):
 * kept members copied byte for byte in order, joined by ','.  body is JSON
 * validated before (cmx_json_scan_request).  NULL when it is not an object
 * (or out of memory).  json_strip.c. */
char *cmx_json_strip_members(cmx_arena *arena, const char *body, size_t len,
                             const char *const *names, size_t n_names, size_t *out_len);

/* Whether body holds the quoted string "<key>" anywhere (a key, or a value
 * that says it): a quick test before a walk, found by the key's '_' (key
 * must have one), so most bodies are passed over at memchr's speed. */
int cmx_json_mentions_key(const char *body, size_t len, const char *key);

/* body without the members named in names[0..n) wherever they are (in any
 * object, at any depth, except inside the JSON Schemas held by `parameters`
 * and `schema` members, where keys are an application's property names),
 * the rest copied byte for byte (whitespace between tokens dropped);
 * NUL-terminated.  NULL when body is not JSON (or out of
 * memory).  json_strip.c. */
char *cmx_json_strip_keys(cmx_arena *arena, const char *body, size_t len, const char *const *names,
                          size_t n_names, size_t *out_len);

/* Writes body with the value at `span` replaced by the JSON string `value`
 * (escaped as needed) into a new arena buffer; *out_len gets the length. */
char *cmx_json_splice_string(cmx_arena *arena, const char *body, size_t len, cmx_json_span span,
                             const char *value, size_t *out_len);

/* Finds a top-level "usage" object in a JSON document (a response body or one
 * stream chunk), or the one inside a top-level "response" (a Responses
 * stream event), and reads its counts (chat's names or the Responses API's).  Returns 1 if found, 0
 * if absent or null, -1 if the document is not valid JSON. */
int cmx_json_find_usage(const char *bytes, size_t len, cmx_arena *arena, cmx_usage *out);

/* The "type" of one stream event's JSON (an Anthropic Messages or OpenAI
 * Responses event) into out (cap bytes, NUL-terminated): its length, or 0
 * when the event has no string "type" that fits or is not JSON.  Fast when
 * "type" comes first, as both APIs write it.  json_event.c. */
size_t cmx_json_event_type(const char *json, size_t len, char *out, size_t cap);

#endif
