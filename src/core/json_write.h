/* json_write.h — JSON written straight into a cmx_buf, without a tree.
 *
 * A writer appends values, keys and brackets in order and puts the commas
 * and colons itself, so a translation can be written as a run of small
 * functions (one per group of fields), each appending its members to the
 * object that is open, without knowing what came before it.  Values taken
 * from another JSON text are copied as bytes: a string's inside with its
 * escapes as they were (cmx_jw_string_escaped), or a whole value as it was
 * written (cmx_jw_value); only what must change is written anew.
 *
 * The writer never checks each append: the cmx_buf it writes into keeps
 * its sticky failure flag (buf.h), so whoever hands the bytes on checks
 * cmx_jw_failed() (or cmx_buf_failed()) once.  Nesting deeper than
 * CMX_JW_MAX_DEPTH fails the buffer too.
 *
 * Keys given to cmx_jw_key are written as they are: names the code spells
 * (CMX_JW_KEY(w, "max_tokens")), or a key's inside copied from another
 * document with its escapes.
 *
 * A mark (cmx_jw_mark) saves the writer's place; cmx_jw_rewind goes back to
 * it, dropping what was written since (an empty turn left out, say). */
#ifndef CMX_CORE_JSON_WRITE_H
#define CMX_CORE_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

#define CMX_JW_MAX_DEPTH 64

typedef struct cmx_jw {
    cmx_buf *out;
    uint64_t more;    /* bit d: the container at depth d already holds a value */
    uint64_t objects; /* bit d: the container at depth d is an object */
    int depth;        /* open containers */
    int after_key;    /* a key was written: its value comes next, with no comma */
} cmx_jw;

/* Starts writing at the end of out (what is there stays). */
void cmx_jw_init(cmx_jw *w, cmx_buf *out);

static inline int cmx_jw_failed(const cmx_jw *w)
{
    return cmx_buf_failed(w->out);
}

/* ---- containers ---------------------------------------------------------- */

void cmx_jw_object(cmx_jw *w); /* '{' */
void cmx_jw_array(cmx_jw *w);  /* '[' */
void cmx_jw_end(cmx_jw *w);    /* '}' or ']', whichever is open */

/* A member's key, written as it is: a name without characters that need
 * escaping, or the inside of a JSON string with its escapes. */
void cmx_jw_key(cmx_jw *w, const char *key, size_t len);
/* A literal key: its quotes and colon are part of the literal, so the key
 * is one copy. */
void cmx_jw_key_quoted(cmx_jw *w, const char *quoted, size_t len);
#define CMX_JW_KEY(w, lit) cmx_jw_key_quoted((w), CMX_LIT("\"" lit "\":"))

/* ---- values ---------------------------------------------------------------- */

/* A string from raw bytes, escaped as RFC 8259 asks. */
void cmx_jw_string(cmx_jw *w, const char *s, size_t len);
/* A literal needing no escapes, written with its quotes as one copy. */
#define CMX_JW_LIT(w, lit) cmx_jw_value((w), CMX_LIT("\"" lit "\""))
/* A string whose bytes are already the inside of a JSON string (a span of
 * another document between its quotes): copied as they are. */
void cmx_jw_string_escaped(cmx_jw *w, const char *s, size_t len);
/* A whole JSON value copied as it is written (number, literal, string with
 * its quotes, object, array). */
void cmx_jw_value(cmx_jw *w, const char *json, size_t len);
/* A valid JSON value without the whitespace between its tokens (the form
 * compact serialisers write). */
void cmx_jw_compact(cmx_jw *w, const char *json, size_t len);
/* A valid JSON value as a string holding its compact text: what OpenAI's
 * tool-call "arguments" are. */
void cmx_jw_json_as_string(cmx_jw *w, const char *json, size_t len);
void cmx_jw_int(cmx_jw *w, int64_t v);
void cmx_jw_bool(cmx_jw *w, int v);
void cmx_jw_null(cmx_jw *w);

/* A string's bytes, either raw (escaped when written) or already the
 * inside of a JSON string (copied), for code that takes both. */
typedef struct cmx_jw_str {
    const char *s;
    size_t len;
    int escaped;
} cmx_jw_str;
#define CMX_JW_RAW(str, n) ((cmx_jw_str){(str), (n), 0})
#define CMX_JW_ESC(str, n) ((cmx_jw_str){(str), (n), 1})
cmx_jw_str cmx_jw_cstr(const char *s); /* raw; NULL as "" */
void cmx_jw_str_value(cmx_jw *w, cmx_jw_str s);

/* A string written in pieces: open, any number of pieces, close. */
void cmx_jw_string_open(cmx_jw *w);
void cmx_jw_string_piece(cmx_jw *w, const char *s, size_t len);         /* escaped here */
void cmx_jw_string_piece_escaped(cmx_jw *w, const char *s, size_t len); /* copied */
void cmx_jw_string_close(cmx_jw *w);

/* ---- marks ----------------------------------------------------------------- */

typedef struct cmx_jw_mark {
    size_t len;
    uint64_t more, objects;
    int depth, after_key;
} cmx_jw_mark;

cmx_jw_mark cmx_jw_mark_here(const cmx_jw *w);
/* Back to the mark: the bytes since are dropped (a failed buffer stays
 * failed: what failed is not undone). */
void cmx_jw_rewind(cmx_jw *w, cmx_jw_mark m);
/* Whether anything was written since the mark. */
static inline int cmx_jw_wrote_since(const cmx_jw *w, cmx_jw_mark m)
{
    return w->out->len != m.len;
}

#endif
