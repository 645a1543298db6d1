/* json_doc.c — reading a parsed document (json_doc.h): spans, keys,
 * unescaping, member lookup and number conversion over the token array that
 * json_doc_parse.c builds. */
#include "http/json_doc.h"
#include "core/str.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

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

void cmx_json_doc_view(cmx_json_doc *doc, const char *bytes, size_t len, const void *tokens, int n)
{
    doc->bytes = bytes;
    doc->len = len;
    doc->tok = (cmx_json_tok *)tokens; /* read only from here on */
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

cmx_json_span cmx_json_doc_span(const cmx_json_doc *doc, int i)
{
    const cmx_json_tok *t = &doc->tok[i];
    int quoted = t->type == CMX_JSON_STRING;
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
    const cmx_json_tok *t = &doc->tok[i];
    if (!t->escaped) {
        *out = doc->bytes + t->start;
        return t->end - t->start;
    }
    *out = buf;
    return cmx_json_doc_unescape(doc, i, buf, cap);
}

const char *cmx_json_doc_string(const cmx_json_doc *doc, int i, cmx_arena *arena, size_t *len)
{
    const cmx_json_tok *t = &doc->tok[i];
    size_t n = (size_t)(t->end - t->start);
    if (!t->escaped) {
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
    const cmx_json_tok *t = &doc->tok[i];
    const char *p = doc->bytes + t->start;
    size_t n = (size_t)(t->end - t->start);
    if (!t->escaped)
        return n == name_len && memcmp(p, name, n) == 0;
    /* An escaped spelling ("mod\u0065l") is the same key to every other
     * parser, so it must be to us too. */
    char buf[64];
    long got = cmx_json_doc_unescape(doc, i, buf, sizeof buf);
    return got == (long)name_len && memcmp(buf, name, name_len) == 0;
}

int cmx_json_doc_int64(const cmx_json_doc *doc, int i, int64_t *out)
{
    const cmx_json_tok *t = &doc->tok[i];
    if (t->type != CMX_JSON_NUMBER)
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
    if (obj < 0 || doc->tok[obj].type != CMX_JSON_OBJECT)
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
    return i >= 0 && doc->tok[i].type == CMX_JSON_STRING &&
           cmx_json_doc_key_is(doc, i, name, name_len);
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
