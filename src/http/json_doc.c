/* json_doc.c — strict JSON validation on top of the jsmn tokenizer.
 *
 * jsmn is fast and allocation-free but, even in strict mode, it accepts texts
 * RFC 8259 forbids: `01`, `tru`, `1.`, trailing commas, missing or doubled
 * separators (it simply skips ',' and ':'), raw control characters in
 * strings, several top-level values.  So the work is split in three:
 *
 *   1. a depth pre-pass: jsmn finds the bracket a '}' closes by walking up
 *      parent links, which is quadratic in the nesting depth; counting depth
 *      first (skipping strings with memchr) keeps a body of 1 MB of '['
 *      linear.  It only runs when the body holds more '{' and '[' bytes
 *      than the depth limit, which a word-at-a-time count tells cheaply;
 *   2. jsmn tokenizes (all of this file's jsmn code is static here);
 *   3. one walk over the tokens, in document order, re-derives the nesting
 *      from token positions alone (never from jsmn's size/parent bookkeeping,
 *      which goes astray on bad input) and checks the bytes between tokens
 *      hold exactly the separator the grammar wants, every primitive is a
 *      number or literal, and every string is clean UTF-8 with valid escapes.
 *
 * Since jsmn only skips whitespace, ',' and ':' between tokens and rejects any
 * other stray byte, checking those gaps is enough to make the result exact. */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "http/json_doc.h"
#include "core/str.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static cmx_err fail_at(cmx_error *err, size_t pos, const char *what)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON at byte %zu: %s", pos, what);
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static cmx_err fail_unexpected(cmx_error *err, const char *s, size_t pos)
{
    unsigned char c = (unsigned char)s[pos];
    if (c >= 0x21 && c < 0x7f)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON at byte %zu: unexpected '%c'",
                             pos, c);
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                         "invalid JSON at byte %zu: unexpected byte 0x%02x", pos, c);
}

/* ---- word-at-a-time helpers ------------------------------------------------ */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static uint64_t load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* High bit set in each byte of w that is zero (exact, no false positives). */
static uint64_t zero_bytes(uint64_t w)
{
    return ~(((w & ~HIGHS) + ~HIGHS) | w) & HIGHS;
}

/* Number of '{' and '[' bytes, strings included: an upper bound on depth
 * that costs a fraction of the exact count. ('{' and '[' differ only in
 * bit 0x20, and no other byte becomes '{' when that bit is set.) */
static size_t count_openers(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    size_t n = 0;
    for (; e - p >= 8; p += 8)
        n += (size_t)(((zero_bytes((load8(p) | (ONES * 0x20)) ^ (ONES * '{')) >> 7) * ONES) >> 56);
    for (; p < e; p++)
        n += (*p | 0x20) == '{';
    return n;
}

/* ---- 1. depth pre-pass ---------------------------------------------------- */

static cmx_err check_depth(const char *s, size_t len, cmx_error *err)
{
    int depth = 0;
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            /* Find the closing quote: one preceded by an even run of '\'. */
            size_t from = i + 1;
            for (;;) {
                const char *q = memchr(s + from, '"', len - from);
                if (!q)
                    return CMX_OK; /* unterminated: jsmn reports it */
                size_t k = (size_t)(q - s), b = k;
                while (b > i + 1 && s[b - 1] == '\\')
                    b--;
                from = k + 1;
                if (((k - b) & 1) == 0)
                    break;
            }
            i = from;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > CMX_JSON_MAX_DEPTH)
                return fail_at(err, i, "nesting deeper than 128 levels");
        } else if (c == '}' || c == ']') {
            depth--;
        }
        i++;
    }
    return CMX_OK;
}

/* ---- checks on single tokens ---------------------------------------------- */

static int valid_number(const char *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    } else {
        return 0;
    }
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit((unsigned char)p[i]))
            return 0;
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit((unsigned char)p[i]))
            return 0;
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    }
    return i == n;
}

static cmx_err check_primitive(const char *s, size_t start, size_t end, cmx_error *err)
{
    const char *p = s + start;
    size_t n = end - start;
    switch (p[0]) {
    case 't': return CMX_SPAN_IS(p, n, "true") ? CMX_OK : fail_at(err, start, "invalid literal");
    case 'f': return CMX_SPAN_IS(p, n, "false") ? CMX_OK : fail_at(err, start, "invalid literal");
    case 'n': return CMX_SPAN_IS(p, n, "null") ? CMX_OK : fail_at(err, start, "invalid literal");
    default:
        if (p[0] == '-' || is_digit((unsigned char)p[0]))
            return valid_number(p, n) ? CMX_OK : fail_at(err, start, "invalid number");
        return fail_unexpected(err, s, start);
    }
}

/* High bit set in (at least) each byte of w that needs a closer look inside
 * a string: a control byte, '\\' or a non-ASCII byte.  It may also flag a
 * byte right above a flagged one (a borrow), never a byte below. */
static uint64_t special_bytes(uint64_t w)
{
    uint64_t controls = (w - ONES * 0x20) & ~w & HIGHS;
    return (w & HIGHS) | controls | zero_bytes(w ^ (ONES * '\\'));
}

/* Bytes that need a closer look inside a string: control characters, the
 * escape character and anything non-ASCII. */
static const unsigned char string_special[256] = {
    [0x00 ... 0x1f] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence at p (before e), 0 if invalid: no
 * overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *e)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0) {
        need = 1;
    } else if (c < 0xf0) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c < 0xf5) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if ((size_t)(e - p) <= need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return need + 1;
}

/* s[start..end) is a string's content, without the quotes.  *escaped is set
 * when it holds an escape sequence. */
static cmx_err check_string(const char *s, size_t start, size_t end, size_t len, int *escaped,
                            cmx_error *err)
{
    const unsigned char *p = (const unsigned char *)s + start;
    const unsigned char *e = (const unsigned char *)s + end;
    const unsigned char *doc_end = (const unsigned char *)s + len;
    for (;;) {
        /* Skip plain text eight bytes at a time. */
        while (e - p >= 8 && !special_bytes(load8(p)))
            p += 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* The tail (or a short string) in one load too, when the document
         * has 8 bytes there; bytes past the string are masked off.  On a
         * little-endian load they sit above ours, and neither the borrows of
         * the control-byte test nor anything else flows downwards. */
        if (p == e)
            return CMX_OK;
        if (e - p < 8 && doc_end - p >= 8) {
            uint64_t mask = ~0ull >> (64 - 8 * (unsigned)(e - p));
            if (!(special_bytes(load8(p)) & mask))
                return CMX_OK;
        }
#endif
        while (p < e && !string_special[*p])
            p++;
        if (p >= e)
            return CMX_OK;
        size_t at = (size_t)((const char *)p - s);
        if (*p < 0x20)
            return fail_at(err, at, "unescaped control character in string");
        if (*p == '\\') {
            unsigned char c = p + 1 < e ? p[1] : 0;
            if (c == 'u') {
                if (e - p < 6 || hex_value(p[2]) < 0 || hex_value(p[3]) < 0 ||
                    hex_value(p[4]) < 0 || hex_value(p[5]) < 0)
                    return fail_at(err, at, "invalid \\u escape in string");
                p += 6;
            } else if (c && strchr("\"\\/bfnrt", c)) {
                p += 2;
            } else {
                return fail_at(err, at, "invalid escape in string");
            }
            *escaped = 1;
            continue;
        }
        size_t n = utf8_sequence(p, e);
        if (!n)
            return fail_at(err, at, "invalid UTF-8 in string");
        p += n;
    }
}

long cmx_json_string_content(const char *s, size_t len)
{
    size_t from = 0, end;
    for (;;) { /* the closing quote: one preceded by an even run of '\\' */
        const char *q = memchr(s + from, '"', len - from);
        if (!q)
            return -1;
        size_t k = (size_t)(q - s), b = k;
        while (b > 0 && s[b - 1] == '\\')
            b--;
        from = k + 1;
        if (((k - b) & 1) == 0) {
            end = k;
            break;
        }
    }
    int escaped = 0;
    return check_string(s, 0, end, len, &escaped, NULL) == CMX_OK ? (long)end : -1;
}

size_t cmx_json_uint_length(const char *s, size_t len)
{
    if (len == 0 || !is_digit((unsigned char)s[0]))
        return 0;
    if (s[0] == '0')
        return 1;
    size_t n = 1;
    while (n < len && is_digit((unsigned char)s[n]))
        n++;
    return n;
}

/* ---- 2. jsmn and its error positions -------------------------------------- */

/* jsmn says only "invalid" and where it stopped; say what a client can fix. */
static cmx_err explain_jsmn_invalid(const char *s, size_t len, size_t pos, const jsmntok_t *super,
                                    cmx_error *err)
{
    if (pos >= len)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON: unexpected end of input");
    unsigned char c = (unsigned char)s[pos];
    if (c == '"') {
        for (size_t p = pos + 1; p < len && s[p] != '"'; p++) {
            if (s[p] != '\\')
                continue;
            if (p + 1 < len && s[p + 1] == 'u')
                return fail_at(err, p, "invalid \\u escape in string");
            return fail_at(err, p, "invalid escape in string");
        }
        return fail_at(err, pos, "invalid string");
    }
    if (c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n' || c == '{' || c == '[') {
        /* A primitive with a stray byte inside, or a value where a key goes. */
        for (size_t p = pos + 1; c != '{' && c != '[' && p < len; p++) {
            unsigned char b = (unsigned char)s[p];
            if (is_ws(b) || b == ',' || b == ']' || b == '}')
                break;
            if (b < 0x20 || b >= 0x7f)
                return fail_unexpected(err, s, p);
        }
        if (super && super->type == JSMN_OBJECT) {
            /* Right after a key, the ':' is what is missing. */
            size_t b = pos;
            while (b > 0 && is_ws((unsigned char)s[b - 1]))
                b--;
            if (b > 0 && s[b - 1] == '"')
                return fail_at(err, pos, "expected ':' after object key");
            return fail_at(err, pos, "expected a string (object keys are strings)");
        }
        return fail_at(err, pos,
                       super && super->type == JSMN_STRING ? "expected ',' or '}'"
                                                           : "expected ',' or ']'");
    }
    return fail_unexpected(err, s, pos);
}

static cmx_err grow_tokens(cmx_json_doc *doc, cmx_arena *arena, unsigned *cap)
{
    unsigned ncap = *cap * 2;
    jsmntok_t *t;
    if (arena) {
        t = cmx_arena_alloc(arena, (size_t)ncap * sizeof *t);
    } else {
        t = malloc((size_t)ncap * sizeof *t);
    }
    if (!t)
        return CMX_ERR_NOMEM;
    memcpy(t, doc->tok, (size_t)*cap * sizeof *t);
    if (doc->heap)
        free(doc->tok);
    doc->heap = arena == NULL;
    doc->tok = t;
    *cap = ncap;
    return CMX_OK;
}

static cmx_err tokenize(cmx_json_doc *doc, cmx_arena *arena, cmx_error *err)
{
    jsmn_parser parser;
    unsigned cap = CMX_JSON_DOC_INLINE_TOKENS;
    jsmn_init(&parser);
    for (;;) {
        int r = jsmn_parse(&parser, doc->bytes, doc->len, doc->tok, cap);
        if (r >= 0)
            break;
        if (r == JSMN_ERROR_NOMEM) {
            /* jsmn resumes where it stopped once given more room. */
            if (grow_tokens(doc, arena, &cap) != CMX_OK)
                return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory scanning JSON");
            continue;
        }
        if (r == JSMN_ERROR_PART) {
            const char *nul = memchr(doc->bytes, '\0', doc->len);
            if (nul)
                return fail_at(err, (size_t)(nul - doc->bytes), "NUL byte");
            /* "[] 1": jsmn waits for a delimiter after the 1, but the text
             * was over after the first value. */
            if (parser.toknext > 0 && doc->tok[0].end >= 0) {
                size_t p = (size_t)doc->tok[0].end + (doc->tok[0].type == JSMN_STRING);
                while (p < doc->len && is_ws((unsigned char)doc->bytes[p]))
                    p++;
                return fail_at(err, p, "unexpected data after the JSON value");
            }
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON: unexpected end of input");
        }
        const jsmntok_t *super = parser.toksuper >= 0 ? &doc->tok[parser.toksuper] : NULL;
        return explain_jsmn_invalid(doc->bytes, doc->len, parser.pos, super, err);
    }
    doc->n = (int)parser.toknext;
    return CMX_OK;
}

/* ---- 3. the walk ---------------------------------------------------------- */

typedef struct frame {
    int tok;
    size_t end; /* one past the closing bracket */
    int is_object;
    int count; /* children so far; in objects keys and values both count */
} frame;

static size_t token_start(const jsmntok_t *t)
{
    return (size_t)t->start - (t->type == JSMN_STRING);
}

/* s[from..to) lies between two tokens; it may hold whitespace and `sep`
 * exactly once (sep 0: nothing). */
static cmx_err check_gap(const char *s, size_t from, size_t to, char sep, int is_object,
                         cmx_error *err)
{
    int seen = 0;
    for (size_t p = from; p < to; p++) {
        char c = s[p];
        if (is_ws((unsigned char)c))
            continue;
        if (c == sep && !seen) {
            seen = 1;
            continue;
        }
        return fail_unexpected(err, s, p);
    }
    if (sep && !seen) {
        if (sep == ':')
            return fail_at(err, to, "expected ':' after object key");
        return fail_at(err, to, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    return CMX_OK;
}

/* s[from..close) is the inside end of a container, before its bracket. */
static cmx_err check_close(const char *s, size_t from, size_t close, const frame *f, cmx_error *err)
{
    int after_key = f->is_object && (f->count & 1);
    for (size_t p = from; p < close; p++) {
        char c = s[p];
        if (is_ws((unsigned char)c))
            continue;
        if (c == ',' && f->count > 0 && !after_key)
            return fail_at(err, p, "trailing comma");
        if (c == ':' && after_key)
            return fail_at(err, close, "expected a value after ':'");
        return fail_unexpected(err, s, p);
    }
    if (after_key)
        return fail_at(err, close, "expected ':' after object key");
    return CMX_OK;
}

/* Checks a string or primitive and stores, for strings, whether it holds
 * escapes in jsmn's `parent` field (unused once the walk is done). */
static cmx_err check_token(const char *s, size_t len, jsmntok_t *t, cmx_error *err)
{
    if (t->type == JSMN_STRING) {
        int escaped = 0;
        cmx_err rc = check_string(s, (size_t)t->start, (size_t)t->end, len, &escaped, err);
        t->parent = escaped;
        return rc;
    }
    return check_primitive(s, (size_t)t->start, (size_t)t->end, err);
}

static cmx_err walk(cmx_json_doc *doc, cmx_error *err)
{
    const char *s = doc->bytes;
    jsmntok_t *t = doc->tok;
    int n = doc->n;
    frame stack[CMX_JSON_MAX_DEPTH];
    frame cur = {-1, 0, 0, 0}; /* the innermost open container, kept out of memory */
    int depth = 0;
    size_t pos = 0;
    int i = 0;
    cmx_err rc;

    if (n == 0)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON: unexpected end of input");
    for (;;) {
        if (depth > 0) {
            if (i >= n || (size_t)t[i].start >= cur.end) {
                size_t close = cur.end - 1;
                if ((pos != close || (cur.is_object && (cur.count & 1))) &&
                    (rc = check_close(s, pos, close, &cur, err)) != CMX_OK)
                    return rc;
                t[cur.tok].size = i;
                pos = cur.end;
                if (--depth > 0)
                    cur = stack[depth - 1];
                continue;
            }
            char sep = cur.count == 0 ? 0 : (cur.is_object && (cur.count & 1)) ? ':' : ',';
            size_t start = token_start(&t[i]);
            /* Fast path: the gap is exactly the separator, as in compact JSON. */
            if (!(sep ? start == pos + 1 && s[pos] == sep : start == pos) &&
                (rc = check_gap(s, pos, start, sep, cur.is_object, err)) != CMX_OK)
                return rc;
            if (cur.is_object && !(cur.count & 1) && t[i].type != JSMN_STRING)
                return fail_at(err, start, "expected a string (object keys are strings)");
            cur.count++;
        } else {
            if (i > 0)
                break;
            if ((rc = check_gap(s, 0, token_start(&t[0]), 0, 0, err)) != CMX_OK)
                return rc;
        }
        if (t[i].type == JSMN_OBJECT || t[i].type == JSMN_ARRAY) {
            if (depth == CMX_JSON_MAX_DEPTH)
                return fail_at(err, (size_t)t[i].start, "nesting deeper than 128 levels");
            if (depth > 0)
                stack[depth - 1] = cur;
            cur.tok = i;
            cur.end = (size_t)t[i].end;
            cur.is_object = t[i].type == JSMN_OBJECT;
            cur.count = 0;
            depth++;
            pos = (size_t)t[i].start + 1;
        } else {
            if ((rc = check_token(s, doc->len, &t[i], err)) != CMX_OK)
                return rc;
            t[i].size = i + 1;
            pos = (size_t)t[i].end + (t[i].type == JSMN_STRING);
        }
        i++;
    }
    if (i < n)
        return fail_at(err, token_start(&t[i]), "unexpected data after the JSON value");
    while (pos < doc->len && is_ws((unsigned char)s[pos]))
        pos++;
    if (pos < doc->len)
        return fail_at(err, pos, "unexpected data after the JSON value");
    return CMX_OK;
}

/* jsmn's strict mode wants a delimiter after a primitive, so it cannot parse
 * a bare top-level number or literal ("1", "true"); those are done here. */
static cmx_err parse_top_level_primitive(cmx_json_doc *doc, size_t start, cmx_error *err)
{
    const char *s = doc->bytes;
    size_t end = start;
    while (end < doc->len && !is_ws((unsigned char)s[end]) && !strchr(",:[]{}\"", s[end]))
        end++;
    if (end == start)
        return fail_unexpected(err, s, start);
    cmx_err rc = check_primitive(s, start, end, err);
    if (rc != CMX_OK)
        return rc;
    for (size_t p = end; p < doc->len; p++)
        if (!is_ws((unsigned char)s[p]))
            return fail_at(err, p, "unexpected data after the JSON value");
    doc->tok[0].type = JSMN_PRIMITIVE;
    doc->tok[0].start = (int)start;
    doc->tok[0].end = (int)end;
    doc->tok[0].size = 1;
    doc->tok[0].parent = -1;
    doc->n = 1;
    return CMX_OK;
}

cmx_err cmx_json_doc_parse(cmx_json_doc *doc, const char *bytes, size_t len, cmx_arena *arena,
                           cmx_error *err)
{
    doc->bytes = bytes;
    doc->len = len;
    doc->tok = doc->inline_tok;
    doc->n = 0;
    doc->heap = 0;
    if (len > INT_MAX)
        return cmx_error_set(err, CMX_ERR_TOO_LARGE, "JSON document too large to scan");

    size_t first = 0;
    while (first < len && is_ws((unsigned char)bytes[first]))
        first++;
    if (first == len)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             len ? "invalid JSON: unexpected end of input"
                                 : "invalid JSON: empty document");
    char c = bytes[first];
    if (c != '{' && c != '[' && c != '"')
        return parse_top_level_primitive(doc, first, err);

    cmx_err rc = CMX_OK;
    if (count_openers(bytes, len) > CMX_JSON_MAX_DEPTH)
        rc = check_depth(bytes, len, err);
    if (rc == CMX_OK)
        rc = tokenize(doc, arena, err);
    if (rc == CMX_OK)
        rc = walk(doc, err);
    return rc;
}

void cmx_json_doc_view(cmx_json_doc *doc, const char *bytes, size_t len, const void *tokens, int n)
{
    doc->bytes = bytes;
    doc->len = len;
    doc->tok = (jsmntok_t *)tokens; /* read only from here on */
    doc->n = n;
    doc->heap = 0;
}

void cmx_json_doc_release(cmx_json_doc *doc)
{
    if (doc->heap)
        free(doc->tok);
    doc->heap = 0;
    doc->tok = doc->inline_tok;
}

/* ---- reading a parsed document -------------------------------------------- */

cmx_json_type cmx_json_doc_type(const cmx_json_doc *doc, int i)
{
    const jsmntok_t *t = &doc->tok[i];
    switch (t->type) {
    case JSMN_OBJECT: return CMX_JSON_OBJECT;
    case JSMN_ARRAY: return CMX_JSON_ARRAY;
    case JSMN_STRING: return CMX_JSON_STRING;
    case JSMN_PRIMITIVE:
        switch (doc->bytes[t->start]) {
        case 't': return CMX_JSON_TRUE;
        case 'f': return CMX_JSON_FALSE;
        case 'n': return CMX_JSON_NULL;
        default: return CMX_JSON_NUMBER;
        }
    default: return CMX_JSON_ABSENT;
    }
}

cmx_json_span cmx_json_doc_span(const cmx_json_doc *doc, int i)
{
    const jsmntok_t *t = &doc->tok[i];
    int quoted = t->type == JSMN_STRING;
    cmx_json_span sp = {(size_t)t->start - quoted, (size_t)t->end + quoted};
    return sp;
}

static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hex_value((unsigned char)p[0]) << 12 | hex_value((unsigned char)p[1]) << 8 |
                      hex_value((unsigned char)p[2]) << 4 | hex_value((unsigned char)p[3]));
}

long cmx_json_doc_unescape(const cmx_json_doc *doc, int i, char *out, size_t cap)
{
    const char *p = doc->bytes + doc->tok[i].start;
    const char *e = doc->bytes + doc->tok[i].end;
    size_t n = 0;
    while (p < e) {
        if (*p != '\\') {
            if (n >= cap)
                return -1;
            out[n++] = *p++;
            continue;
        }
        if (n >= cap)
            return -1;
        char c = p[1];
        p += 2;
        switch (c) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            uint32_t cp = hex4(p);
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -2;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u')
                    return -2;
                uint32_t lo = hex4(p + 2);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return -2;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (n + need > cap)
                return -1;
            put_utf8(out, &n, cp);
            continue;
        }
        default: break; /* '"', '\\', '/' stand for themselves */
        }
        out[n++] = c;
    }
    return (long)n;
}

long cmx_json_doc_key(const cmx_json_doc *doc, int i, char *buf, size_t cap, const char **out)
{
    const jsmntok_t *t = &doc->tok[i];
    if (!t->parent) {
        *out = doc->bytes + t->start;
        return t->end - t->start;
    }
    *out = buf;
    return cmx_json_doc_unescape(doc, i, buf, cap);
}

const char *cmx_json_doc_string(const cmx_json_doc *doc, int i, cmx_arena *arena, size_t *len)
{
    const jsmntok_t *t = &doc->tok[i];
    size_t n = (size_t)(t->end - t->start);
    if (!t->parent) {
        *len = n;
        return doc->bytes + t->start;
    }
    /* unescaped, a string is never longer than its escaped form */
    char *out = cmx_arena_alloc(arena, n + 1);
    long got = out ? cmx_json_doc_unescape(doc, i, out, n) : -1;
    if (got < 0)
        return NULL;
    out[got] = '\0';
    *len = (size_t)got;
    return out;
}

int cmx_json_doc_key_is(const cmx_json_doc *doc, int i, const char *name, size_t name_len)
{
    const jsmntok_t *t = &doc->tok[i];
    const char *p = doc->bytes + t->start;
    size_t n = (size_t)(t->end - t->start);
    if (!t->parent)
        return n == name_len && memcmp(p, name, n) == 0;
    /* An escaped spelling ("mod\u0065l") is the same key to every other
     * parser, so it must be to us too. */
    char buf[64];
    long got = cmx_json_doc_unescape(doc, i, buf, sizeof buf);
    return got == (long)name_len && memcmp(buf, name, name_len) == 0;
}

int cmx_json_doc_int64(const cmx_json_doc *doc, int i, int64_t *out)
{
    const jsmntok_t *t = &doc->tok[i];
    if (t->type != JSMN_PRIMITIVE)
        return -1;
    const char *p = doc->bytes + t->start, *e = doc->bytes + t->end;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == e)
        return -1;
    uint64_t v = 0;
    for (; p < e; p++) {
        if (!is_digit((unsigned char)*p))
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int cmx_json_doc_member(const cmx_json_doc *doc, int obj, const char *name, size_t name_len,
                        int *count)
{
    int found = -1, seen = 0;
    int end = cmx_json_doc_next(doc, obj);
    for (int k = obj + 1; k < end; k = cmx_json_doc_next(doc, k + 1)) {
        if (cmx_json_doc_key_is(doc, k, name, name_len)) {
            found = k + 1;
            seen++;
        }
    }
    if (count)
        *count = seen;
    return found;
}

int cmx_json_doc_get(const cmx_json_doc *doc, int obj, const char *name, size_t name_len)
{
    if (obj < 0 || doc->tok[obj].type != JSMN_OBJECT)
        return -1;
    return cmx_json_doc_member(doc, obj, name, name_len, NULL);
}

int cmx_json_doc_get_typed(const cmx_json_doc *doc, int obj, const char *name, size_t name_len,
                           cmx_json_type t)
{
    int v = cmx_json_doc_get(doc, obj, name, name_len);
    return v >= 0 && cmx_json_doc_type(doc, v) == t ? v : -1;
}

int cmx_json_doc_string_is(const cmx_json_doc *doc, int i, const char *name, size_t name_len)
{
    return i >= 0 && doc->tok[i].type == JSMN_STRING && cmx_json_doc_key_is(doc, i, name, name_len);
}

size_t cmx_json_doc_count(const cmx_json_doc *doc, int arr)
{
    size_t n = 0;
    CMX_JSON_EACH(doc, arr, e)
    n++;
    return n;
}

int cmx_json_doc_double(const cmx_json_doc *doc, int i, double *out)
{
    if (cmx_json_doc_type(doc, i) != CMX_JSON_NUMBER)
        return -1;
    char tmp[320];
    size_t n = cmx_json_doc_len(doc, i);
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, cmx_json_doc_ptr(doc, i), n);
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}
