/* json_doc_parse.c — cmx_json_doc_parse: JSON bytes to tokens, proven valid
 * RFC 8259 in the same single pass.
 *
 * The parser is a loop over four places in the grammar (a value, an object
 * key, the ':' after a key, the ',' or closing bracket after a value) with a
 * stack of the open containers' token indices, so nesting costs no
 * recursion and is bounded by CMX_JSON_MAX_DEPTH.  Each token is written once,
 * in document order; a container's `next` (the index past its subtree) is
 * set when its bracket closes.
 *
 * Strings are most of a request's bytes, so their inside is skipped eight
 * bytes at a time: one word test finds the next '"', '\\', control byte or
 * non-ASCII byte, and only those bytes are looked at (escapes checked,
 * UTF-8 sequences validated: no overlongs, no surrogates, nothing above
 * U+10FFFF).
 *
 * Errors are "invalid JSON at byte N: <what>" at the first byte that cannot
 * continue a valid text.  Unquoted values are cut as a run of bytes up to
 * whitespace, ',', ']' or '}' and the run is then judged as a whole ("[1x]"
 * is an invalid number at the '1', "[1:2]" too).  A NUL byte inside a string
 * is named as such. */
#include "http/json_doc.h"
#include "core/str.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static cmx_err fail_at(cmx_error *err, size_t pos, const char *what)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON at byte %zu: %s", pos, what);
}

static cmx_err fail_end(cmx_error *err)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON: unexpected end of input");
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

/* A byte that cannot go on: a NUL is named, anything else quoted. */
static cmx_err fail_byte(cmx_error *err, const char *s, size_t pos)
{
    return s[pos] == '\0' ? fail_at(err, pos, "NUL byte") : fail_unexpected(err, s, pos);
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

/* High bit set in (at least) each byte of w that needs a closer look inside
 * a string: a control byte, '\\' or a non-ASCII byte.  It may also flag a
 * byte right above a flagged one (a borrow), never a byte below, so the
 * lowest flagged byte is always a real one. */
static uint64_t special_bytes(uint64_t w)
{
    uint64_t controls = (w - ONES * 0x20) & ~w & HIGHS;
    return (w & HIGHS) | controls | zero_bytes(w ^ (ONES * '\\'));
}

/* Index of the lowest flagged byte of a nonzero mask, in memory order. */
static size_t first_flagged(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    return (size_t)__builtin_clzll(m) >> 3;
#endif
}

/* ---- strings -------------------------------------------------------------- */

/* Bytes that end the plain run of a string's inside: the quote, the escape
 * character, control characters and anything non-ASCII. */
static const unsigned char string_stop[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

static const unsigned char hex_digit[256] = {
    ['0' ... '9'] = 1,
    ['a' ... 'f'] = 1,
    ['A' ... 'F'] = 1,
};

/* Length of the valid UTF-8 sequence at p (before e), 0 if invalid: no
 * overlongs, no surrogates, nothing above U+10FFFF.  *cut is set when the
 * bytes there are a valid start that the end of the text cuts off. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *e, int *cut)
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
    size_t have = (size_t)(e - p) - 1; /* bytes after the lead */
    if (have >= 1 && (p[1] < lo || p[1] > hi))
        return 0;
    for (size_t k = 2; k <= need && k <= have; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if (have < need) {
        *cut = 1;
        return 0;
    }
    return need + 1;
}

/* The string whose inside starts at s[from]: on success *close is the index
 * of its closing quote and *escaped says whether it holds escapes.  An
 * unterminated string is "unexpected end of input". */
static cmx_err scan_string(const char *s, size_t len, size_t from, size_t *close, int *escaped,
                           cmx_error *err)
{
    const unsigned char *p = (const unsigned char *)s + from;
    const unsigned char *e = (const unsigned char *)s + len;
    for (;;) {
        /* Plain text eight bytes at a time, while the document has them. */
        while (e - p >= 8) {
            uint64_t w = load8(p);
            uint64_t m = special_bytes(w) | zero_bytes(w ^ (ONES * '"'));
            if (m) {
                p += first_flagged(m);
                break;
            }
            p += 8;
        }
        while (p < e && !string_stop[*p])
            p++;
        if (p >= e)
            return fail_end(err);
        size_t at = (size_t)((const char *)p - s);
        unsigned char c = *p;
        if (c == '"') {
            *close = at;
            return CMX_OK;
        }
        if (c == '\\') {
            if (e - p < 2)
                return fail_end(err);
            unsigned char x = p[1];
            if (x == 'u') {
                for (size_t k = 2; k < 6; k++) {
                    if (p + k >= e)
                        return fail_end(err);
                    if (!hex_digit[p[k]])
                        return p[k] == '\0' ? fail_at(err, at + k, "NUL byte")
                                            : fail_at(err, at, "invalid \\u escape in string");
                }
                p += 6;
            } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' ||
                       x == 'r' || x == 't') {
                p += 2;
            } else {
                return fail_at(err, at, "invalid escape in string");
            }
            *escaped = 1;
            continue;
        }
        if (c < 0x20)
            return fail_at(err, at, c ? "unescaped control character in string" : "NUL byte");
        int cut = 0;
        size_t n = utf8_sequence(p, e, &cut);
        if (!n)
            return cut ? fail_end(err) : fail_at(err, at, "invalid UTF-8 in string");
        p += n;
    }
}

long cmx_json_string_content(const char *s, size_t len)
{
    size_t close;
    int escaped = 0;
    return scan_string(s, len, 0, &close, &escaped, NULL) == CMX_OK ? (long)close : -1;
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

/* ---- numbers and literals ------------------------------------------------- */

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

/* The type of the unquoted value s[start..end), or an error at its start. */
static cmx_err judge_primitive(const char *s, size_t start, size_t end, cmx_json_type *type,
                               cmx_error *err)
{
    const char *p = s + start;
    size_t n = end - start;
    switch (p[0]) {
    case 't':
        *type = CMX_JSON_TRUE;
        return CMX_SPAN_IS(p, n, "true") ? CMX_OK : fail_at(err, start, "invalid literal");
    case 'f':
        *type = CMX_JSON_FALSE;
        return CMX_SPAN_IS(p, n, "false") ? CMX_OK : fail_at(err, start, "invalid literal");
    case 'n':
        *type = CMX_JSON_NULL;
        return CMX_SPAN_IS(p, n, "null") ? CMX_OK : fail_at(err, start, "invalid literal");
    default:
        *type = CMX_JSON_NUMBER;
        if (p[0] == '-' || is_digit((unsigned char)p[0]))
            return valid_number(p, n) ? CMX_OK : fail_at(err, start, "invalid number");
        return fail_unexpected(err, s, start);
    }
}

/* Bytes of an unquoted value inside a container: up to whitespace, ',', ']'
 * or '}' (1), and bytes no unquoted value may hold (2). */
static const unsigned char run_class[256] = {
    [0x00 ... 0x08] = 2, ['\t'] = 1,          ['\n'] = 1,          [0x0b ... 0x0c] = 2,
    ['\r'] = 1,          [0x0e ... 0x1f] = 2, [' '] = 1,           [','] = 1,
    [']'] = 1,           ['}'] = 1,           [0x7f ... 0xff] = 2,
};

static int starts_primitive(unsigned char c)
{
    return c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n';
}

/* The run at s[from]: the index of its end (a delimiter or len), or of the
 * first byte no unquoted value may hold, with *bad set. */
static size_t primitive_run(const char *s, size_t len, size_t from, int *bad)
{
    size_t p = from;
    while (p < len && !run_class[(unsigned char)s[p]])
        p++;
    *bad = p < len && run_class[(unsigned char)s[p]] == 2;
    return p;
}

/* A value written where an object key goes (or where the ':' after one
 * goes): which of those is missing, after any byte of it that could never
 * be JSON. */
static cmx_err fail_not_a_key(const char *s, size_t len, size_t pos, int after_key, cmx_error *err)
{
    if (s[pos] != '{' && s[pos] != '[') {
        int bad;
        size_t p = primitive_run(s, len, pos + 1, &bad);
        if (bad)
            return fail_unexpected(err, s, p);
    }
    return fail_at(err, pos,
                   after_key ? "expected ':' after object key"
                             : "expected a string (object keys are strings)");
}

/* A second ',' at pos (the first at `comma`): when only commas and
 * whitespace stand before the container's closing bracket, the first comma is
 * the one to remove; otherwise the second is the stray one. */
static cmx_err fail_extra_comma(const char *s, size_t len, size_t pos, size_t comma, char closer,
                                cmx_error *err)
{
    size_t p = pos;
    while (p < len && (is_ws((unsigned char)s[p]) || s[p] == ','))
        p++;
    if (p >= len)
        return fail_end(err);
    if (s[p] == closer)
        return fail_at(err, comma, "trailing comma");
    return fail_unexpected(err, s, pos);
}

/* A bare top-level number or literal ("1", "true"): cut at whitespace or any
 * structural byte, and nothing but whitespace may follow. */
static cmx_err parse_top_level_primitive(cmx_json_doc *doc, size_t start, cmx_error *err)
{
    const char *s = doc->bytes;
    size_t end = start;
    while (end < doc->len && !is_ws((unsigned char)s[end]) && !strchr(",:[]{}\"", s[end]))
        end++;
    if (end == start)
        return fail_unexpected(err, s, start);
    cmx_json_type type;
    cmx_err rc = judge_primitive(s, start, end, &type, err);
    if (rc != CMX_OK)
        return rc;
    for (size_t p = end; p < doc->len; p++)
        if (!is_ws((unsigned char)s[p]))
            return fail_at(err, p, "unexpected data after the JSON value");
    doc->tok[0] = (cmx_json_tok){(int32_t)start, (int32_t)end, 1, (uint8_t)type, 0};
    doc->n = 1;
    return CMX_OK;
}

/* ---- the token array ------------------------------------------------------ */

static cmx_err grow_tokens(cmx_json_doc *doc, cmx_arena *arena, unsigned *cap)
{
    unsigned ncap = *cap * 2;
    cmx_json_tok *t =
        arena ? cmx_arena_alloc(arena, (size_t)ncap * sizeof *t) : malloc((size_t)ncap * sizeof *t);
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

/* ---- the grammar ---------------------------------------------------------- */

/* Token i is the string whose opening quote is at *pos; *pos moves past its
 * closing quote. */
static cmx_err string_token(cmx_json_doc *doc, int i, size_t *pos, cmx_error *err)
{
    size_t close;
    int escaped = 0;
    cmx_err rc = scan_string(doc->bytes, doc->len, *pos + 1, &close, &escaped, err);
    if (rc != CMX_OK)
        return rc;
    doc->tok[i] =
        (cmx_json_tok){(int32_t)*pos + 1, (int32_t)close, i + 1, CMX_JSON_STRING, (uint8_t)escaped};
    *pos = close + 1;
    return CMX_OK;
}

/* A document whose first byte (after whitespace) is '{', '[' or '"'. */
static cmx_err parse_text(cmx_json_doc *doc, size_t pos, cmx_arena *arena, cmx_error *err)
{
    const char *s = doc->bytes;
    const size_t len = doc->len;
    unsigned cap = CMX_JSON_DOC_INLINE_TOKENS;
    int open[CMX_JSON_MAX_DEPTH]; /* token indices of the open containers */
    int depth = 0, n = 0;
    size_t comma = 0;    /* where the last ',' was, for "trailing comma" */
    int after_comma = 0; /* the value or key being read follows a ',' */
    cmx_err rc;

#define SKIP_WS()                                                                                  \
    while (pos < len && is_ws((unsigned char)s[pos]))                                              \
    pos++
#define NEW_TOKEN()                                                                                \
    do {                                                                                           \
        if ((unsigned)n == cap && grow_tokens(doc, arena, &cap) != CMX_OK)                         \
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory scanning JSON");               \
    } while (0)

value:
    SKIP_WS();
    if (pos >= len)
        return fail_end(err);
    {
        unsigned char c = (unsigned char)s[pos];
        if (c == '"') {
            NEW_TOKEN();
            if ((rc = string_token(doc, n++, &pos, err)) != CMX_OK)
                return rc;
            goto after_value;
        }
        if (c == '{' || c == '[') {
            if (depth == CMX_JSON_MAX_DEPTH)
                return fail_at(err, pos, "nesting deeper than 128 levels");
            NEW_TOKEN();
            doc->tok[n] = (cmx_json_tok){(int32_t)pos, -1, -1,
                                         c == '{' ? CMX_JSON_OBJECT : CMX_JSON_ARRAY, 0};
            open[depth++] = n++;
            after_comma = 0;
            pos++;
            SKIP_WS();
            if (pos < len && s[pos] == (c == '{' ? '}' : ']'))
                goto close;
            if (c == '{')
                goto key;
            goto value;
        }
        if (starts_primitive(c)) {
            int bad;
            size_t end = primitive_run(s, len, pos, &bad);
            if (bad)
                return fail_byte(err, s, end);
            if (end >= len)
                return fail_end(err);
            cmx_json_type type;
            if ((rc = judge_primitive(s, pos, end, &type, err)) != CMX_OK)
                return rc;
            NEW_TOKEN();
            doc->tok[n] = (cmx_json_tok){(int32_t)pos, (int32_t)end, n + 1, (uint8_t)type, 0};
            n++;
            pos = end;
            goto after_value;
        }
        if (c == ',' && after_comma)
            return fail_extra_comma(s, len, pos, comma, ']', err);
        if (depth > 0 && (c == ']' || c == '}')) {
            int in_object = doc->tok[open[depth - 1]].type == CMX_JSON_OBJECT;
            if (c == (in_object ? '}' : ']'))
                return in_object ? fail_at(err, pos, "expected a value after ':'")
                                 : fail_at(err, comma, "trailing comma");
        }
        return fail_byte(err, s, pos);
    }

key:
    /* pos is at the first non-space byte after '{' or ','. */
    if (pos >= len)
        return fail_end(err);
    {
        unsigned char c = (unsigned char)s[pos];
        if (c == '"') {
            NEW_TOKEN();
            if ((rc = string_token(doc, n++, &pos, err)) != CMX_OK)
                return rc;
            SKIP_WS();
            if (pos < len && s[pos] == ':') {
                pos++;
                after_comma = 0;
                goto value;
            }
            if (pos >= len)
                return fail_end(err);
            c = (unsigned char)s[pos];
            if (c == '}' || c == '"')
                return fail_at(err, pos, "expected ':' after object key");
            if (c == '{' || c == '[' || starts_primitive(c))
                return fail_not_a_key(s, len, pos, 1, err);
            return fail_byte(err, s, pos);
        }
        if (c == '}')
            return fail_at(err, comma, "trailing comma");
        if (c == ',' && after_comma)
            return fail_extra_comma(s, len, pos, comma, '}', err);
        if (c == '{' || c == '[' || starts_primitive(c))
            return fail_not_a_key(s, len, pos, 0, err);
        return fail_byte(err, s, pos);
    }

after_value:
    if (depth == 0) {
        SKIP_WS();
        if (pos >= len) {
            doc->n = n;
            return CMX_OK;
        }
        unsigned char c = (unsigned char)s[pos];
        if (c == ']' || c == '}' || (c != '\0' && !starts_primitive(c) && !strchr("\"{[,:", c)))
            return fail_unexpected(err, s, pos);
        return fail_at(err, pos, "unexpected data after the JSON value");
    }
    SKIP_WS();
    if (pos >= len)
        return fail_end(err);
    {
        unsigned char c = (unsigned char)s[pos];
        int in_object = doc->tok[open[depth - 1]].type == CMX_JSON_OBJECT;
        if (c == ',') {
            comma = pos++;
            after_comma = 1;
            SKIP_WS();
            if (in_object)
                goto key;
            goto value;
        }
        if (c == (in_object ? '}' : ']'))
            goto close;
        if (c == '"' || c == '{' || c == '[' || starts_primitive(c))
            return fail_at(err, pos, in_object ? "expected ',' or '}'" : "expected ',' or ']'");
        return fail_byte(err, s, pos);
    }

close:
    /* s[pos] closes the innermost container. */
    {
        cmx_json_tok *t = &doc->tok[open[--depth]];
        t->end = (int32_t)pos + 1;
        t->next = n;
        pos++;
        goto after_value;
    }
#undef SKIP_WS
#undef NEW_TOKEN
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
        return len ? fail_end(err)
                   : cmx_error_set(err, CMX_ERR_BAD_REQUEST, "invalid JSON: empty document");
    char c = bytes[first];
    if (c != '{' && c != '[' && c != '"')
        return parse_top_level_primitive(doc, first, err);
    return parse_text(doc, first, arena, err);
}
