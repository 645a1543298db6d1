/* json_doc.h — one JSON text, tokenized and proven valid: the reader of
 * everything on the request path that is JSON.
 *
 * json_doc_parse.c cuts the bytes into tokens and checks them against
 * RFC 8259 in the same pass, so a parsed document is valid JSON.  The token
 * array is then a cheap read-only view: values are found by walking keys,
 * and every token knows the index just past its subtree, so skipping a large
 * value costs nothing.  A value is a token index; its bytes stay where they
 * are in the document, so a writer (core/json_write.h) can copy them
 * unchanged.
 *
 * The request scanner (json_scan.c), the usage reader (json_usage.c), the
 * translators (providers/) and the client APIs' checks and conversions
 * (ingress/) read documents through this header; they see token indices and
 * spans, never the token fields themselves. */
#ifndef CMX_HTTP_JSON_DOC_H
#define CMX_HTTP_JSON_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "http/json_scan.h"

/* Deeper nesting is rejected: no request the gateway serves needs it, and it
 * bounds the parser's stack of open containers. */
#define CMX_JSON_MAX_DEPTH 128

/* Tokens held inside the doc itself (on the caller's stack).  A typical 1 KB
 * chat request needs 30-60; bigger documents move to the arena. */
#define CMX_JSON_DOC_INLINE_TOKENS 96

/* One value of the document.  Strings span their inside (no quotes, escapes
 * as written); numbers and literals their text; containers their whole text,
 * brackets included. */
typedef struct cmx_json_tok {
    int32_t start;
    int32_t end;
    int32_t next;    /* index of the first token after this one's subtree */
    uint8_t type;    /* cmx_json_type */
    uint8_t escaped; /* strings: 1 when the inside holds escape sequences */
} cmx_json_tok;

typedef struct cmx_json_doc {
    const char *bytes;
    size_t len;
    cmx_json_tok *tok; /* in document order; tok[0] is the top-level value */
    int n;
    int heap; /* tok came from malloc (no arena given) */
    cmx_json_tok inline_tok[CMX_JSON_DOC_INLINE_TOKENS];
} cmx_json_doc;

/* Tokenizes and validates.  Token storage beyond the inline array comes from
 * `arena`, or from the heap when arena is NULL (then call
 * cmx_json_doc_release).  Errors are CMX_ERR_BAD_REQUEST with "invalid JSON
 * at byte N: ..." (N counts from 0), or CMX_ERR_NOMEM. */
cmx_err cmx_json_doc_parse(cmx_json_doc *doc, const char *bytes, size_t len, cmx_arena *arena,
                           cmx_error *err);
void cmx_json_doc_release(cmx_json_doc *doc);

/* A document over the tokens a scan kept (cmx_request_scan.tokens): no
 * tokenizing, no validation (they were done); release is a no-op. */
void cmx_json_doc_view(cmx_json_doc *doc, const char *bytes, size_t len, const void *tokens, int n);

static inline cmx_json_type cmx_json_doc_type(const cmx_json_doc *doc, int i)
{
    return (cmx_json_type)doc->tok[i].type;
}

/* Index of the first token after i's subtree. */
static inline int cmx_json_doc_next(const cmx_json_doc *doc, int i)
{
    return doc->tok[i].next;
}

/* The value's bytes; strings include their quotes. */
cmx_json_span cmx_json_doc_span(const cmx_json_doc *doc, int i);

/* The unescaped bytes of string token i: *out points into the document when
 * the string has no escapes, else into buf[0..cap).  Returns the length, or a
 * negative value as cmx_json_doc_unescape does. */
long cmx_json_doc_key(const cmx_json_doc *doc, int i, char *buf, size_t cap, const char **out);

/* True when string token i, unescaped, equals name[0..name_len). */
int cmx_json_doc_key_is(const cmx_json_doc *doc, int i, const char *name, size_t name_len);

/* Unescapes string token i into out[0..cap).  Returns the byte length, -1 when
 * it does not fit, -2 for a \u escape that is an unpaired surrogate. */
long cmx_json_doc_unescape(const cmx_json_doc *doc, int i, char *out, size_t cap);

/* The unescaped bytes of string token i: a pointer into the document when
 * the string has no escapes, else a copy in `arena` (NUL-terminated either
 * way only in the copy); *len gets the length.  NULL when out of memory. */
const char *cmx_json_doc_string(const cmx_json_doc *doc, int i, cmx_arena *arena, size_t *len);

/* Reads the "model" value at token v into out (its span and its name, as
 * the chat scan does: a non-empty string of at most 255 bytes without
 * control characters); v < 0 is "missing".  json_scan.c. */
cmx_err cmx_json_doc_read_model(const cmx_json_doc *doc, int v, cmx_request_scan *out,
                                cmx_error *err);

/* Reads number token i as an integer; -1 if it is not one or overflows. */
int cmx_json_doc_int64(const cmx_json_doc *doc, int i, int64_t *out);

/* ---- walking values ------------------------------------------------------ */

/* The bytes of token i as written: a string's inside (escapes kept, no
 * quotes), a number's or literal's text, a container's whole text. */
static inline const char *cmx_json_doc_ptr(const cmx_json_doc *doc, int i)
{
    return doc->bytes + doc->tok[i].start;
}
static inline size_t cmx_json_doc_len(const cmx_json_doc *doc, int i)
{
    return (size_t)(doc->tok[i].end - doc->tok[i].start);
}
/* 1 when string token i holds escape sequences (so its inside is not its
 * value byte for byte). */
static inline int cmx_json_doc_escaped(const cmx_json_doc *doc, int i)
{
    return doc->tok[i].escaped;
}

/* The elements of array token `arr` (or the keys of an object: then the
 * value of key k is k + 1, and the next key cmx_json_doc_next(doc, k + 1)). */
#define CMX_JSON_EACH(doc, arr, e)                                                                 \
    for (int e = (arr) + 1, e##_end_ = cmx_json_doc_next((doc), (arr)); e < e##_end_;              \
         e = cmx_json_doc_next((doc), e))
#define CMX_JSON_EACH_KEY(doc, obj, k)                                                             \
    for (int k = (obj) + 1, k##_end_ = cmx_json_doc_next((doc), (obj)); k < k##_end_;              \
         k = cmx_json_doc_next((doc), k + 1))

/* The value of key `name` when obj is an object holding it (the last one
 * when it repeats), else -1; obj may be -1. */
int cmx_json_doc_get(const cmx_json_doc *doc, int obj, const char *name, size_t name_len);
#define CMX_JSON_GET(doc, obj, lit) cmx_json_doc_get((doc), (obj), CMX_LIT(lit))
/* cmx_json_doc_get, and -1 unless the value has type t. */
int cmx_json_doc_get_typed(const cmx_json_doc *doc, int obj, const char *name, size_t name_len,
                           cmx_json_type t);
/* True when token i (may be -1) is a string whose value is name. */
int cmx_json_doc_string_is(const cmx_json_doc *doc, int i, const char *name, size_t name_len);
#define CMX_JSON_STRING_IS(doc, i, lit) cmx_json_doc_string_is((doc), (i), CMX_LIT(lit))
/* Elements of an array token. */
size_t cmx_json_doc_count(const cmx_json_doc *doc, int arr);
/* Reads number token i as a double; -1 unless it is a finite number. */
int cmx_json_doc_double(const cmx_json_doc *doc, int i, double *out);

/* Token index of the value of key `name` in object token obj, or -1.  When
 * the key repeats, the last one wins (as in most JSON parsers); *count, if not
 * NULL, gets how many times it occurred. */
int cmx_json_doc_member(const cmx_json_doc *doc, int obj, const char *name, size_t name_len,
                        int *count);

/* ---- a known shape, read without tokenizing -------------------------------- */

/* For a reader that recognises a document of one fixed shape byte by byte
 * (a stream's most frequent event, exactly as its service writes it) and
 * falls back to cmx_json_doc_parse for anything else: the string whose
 * content starts at s, just after its opening quote.  Returns the content's
 * length up to the closing quote when it is one cmx_json_doc_parse accepts
 * (clean UTF-8, valid escapes, no raw control characters), else -1 (also
 * when no closing quote comes before len). */
long cmx_json_string_content(const char *s, size_t len);

/* The length of the unsigned JSON integer at s ("0", or digits without a
 * leading zero) before len, or 0 when s does not start with one. */
size_t cmx_json_uint_length(const char *s, size_t len);

#endif
