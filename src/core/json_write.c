/* json_write.c — the tree-free JSON writer (see json_write.h).
 *
 * The only state is a bit per open container: whether it holds a value yet
 * (so the next one gets a comma) and whether it is an object.  Everything
 * is appended to the cmx_buf, whose sticky failure makes every later append
 * a no-op; nothing here checks a result. */
#include "json_write.h"

#include <stdio.h>
#include <string.h>

void cmx_jw_init(cmx_jw *w, cmx_buf *out)
{
    *w = (cmx_jw){.out = out};
}

static void put(cmx_jw *w, const char *s, size_t len)
{
    cmx_buf *b = w->out;
    if (b->len + len < b->cap && !b->failed) { /* room already: no call into buf.c */
        memcpy(b->data + b->len, s, len);
        b->len += len;
        b->data[b->len] = '\0';
        return;
    }
    cmx_buf_append(b, s, len);
}

static void put_char(cmx_jw *w, char c)
{
    cmx_buf *b = w->out;
    if (b->len + 1 < b->cap && !b->failed) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return;
    }
    cmx_buf_append(b, &c, 1);
}

/* What goes before a value: a comma when its container holds one already. */
static void before_value(cmx_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth == 0)
        return;
    uint64_t bit = 1ull << (w->depth - 1);
    if (w->more & bit)
        put_char(w, ',');
    w->more |= bit;
}

static void open(cmx_jw *w, char bracket, int object)
{
    before_value(w);
    if (w->depth == CMX_JW_MAX_DEPTH) {
        w->out->failed = 1;
        return;
    }
    uint64_t bit = 1ull << w->depth;
    w->more &= ~bit;
    w->objects = object ? w->objects | bit : w->objects & ~bit;
    w->depth++;
    put_char(w, bracket);
}

void cmx_jw_object(cmx_jw *w)
{
    open(w, '{', 1);
}

void cmx_jw_array(cmx_jw *w)
{
    open(w, '[', 0);
}

void cmx_jw_end(cmx_jw *w)
{
    if (w->depth == 0) {
        w->out->failed = 1; /* a bracket closed that was never opened */
        return;
    }
    w->depth--;
    w->after_key = 0;
    put_char(w, (w->objects >> w->depth) & 1 ? '}' : ']');
}

void cmx_jw_key(cmx_jw *w, const char *key, size_t len)
{
    before_value(w);
    put_char(w, '"');
    put(w, key, len);
    put(w, "\":", 2);
    w->after_key = 1;
}

void cmx_jw_key_quoted(cmx_jw *w, const char *quoted, size_t len)
{
    before_value(w);
    put(w, quoted, len);
    w->after_key = 1;
}

void cmx_jw_string(cmx_jw *w, const char *s, size_t len)
{
    before_value(w);
    put_char(w, '"');
    cmx_buf_append_json_escaped(w->out, s, len);
    put_char(w, '"');
}

void cmx_jw_string_escaped(cmx_jw *w, const char *s, size_t len)
{
    before_value(w);
    put_char(w, '"');
    put(w, s, len);
    put_char(w, '"');
}

void cmx_jw_value(cmx_jw *w, const char *json, size_t len)
{
    before_value(w);
    put(w, json, len);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* End of the string that starts after the quote at s[i] (the index of its
 * closing quote). */
static size_t string_end(const char *s, size_t len, size_t i)
{
    while (i < len) {
        const char *q = memchr(s + i, '"', len - i);
        if (!q)
            return len;
        size_t at = (size_t)(q - s);
        size_t slashes = 0;
        while (at - slashes > i && s[at - slashes - 1] == '\\')
            slashes++;
        if (slashes % 2 == 0)
            return at;
        i = at + 1;
    }
    return len;
}

/* Calls put(w, run) for each run of json[0..len) between whitespace that
 * is not inside a string: the compact text, in pieces. */
static void each_compact_run(cmx_jw *w, const char *json, size_t len,
                             void (*put_run)(cmx_jw *w, const char *s, size_t n))
{
    size_t i = 0;
    while (i < len) {
        while (i < len && is_ws(json[i]))
            i++;
        size_t run = i;
        while (run < len && !is_ws(json[run])) {
            if (json[run] == '"')
                run = string_end(json, len, run + 1);
            run++;
        }
        if (run > len)
            run = len;
        if (run > i)
            put_run(w, json + i, run - i);
        i = run;
    }
}

void cmx_jw_compact(cmx_jw *w, const char *json, size_t len)
{
    before_value(w);
    each_compact_run(w, json, len, put);
}

/* A run of a valid JSON document's text escaped for the inside of a
 * string: such text holds no control characters, so only quotes and
 * backslashes need it. */
static void put_quoted_text(cmx_jw *w, const char *text, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && text[run] != '"' && text[run] != '\\')
            run++;
        put(w, text + i, run - i);
        if (run < n)
            put(w, text[run] == '"' ? "\\\"" : "\\\\", 2);
        i = run + 1;
    }
}

void cmx_jw_json_as_string(cmx_jw *w, const char *json, size_t len)
{
    before_value(w);
    put_char(w, '"');
    each_compact_run(w, json, len, put_quoted_text);
    put_char(w, '"');
}

void cmx_jw_int(cmx_jw *w, int64_t v)
{
    char tmp[CMX_DEC_MAX];
    cmx_jw_value(w, tmp, cmx_dec_i64(tmp, v));
}

void cmx_jw_bool(cmx_jw *w, int v)
{
    if (v)
        cmx_jw_value(w, CMX_LIT("true"));
    else
        cmx_jw_value(w, CMX_LIT("false"));
}

void cmx_jw_null(cmx_jw *w)
{
    cmx_jw_value(w, CMX_LIT("null"));
}

cmx_jw_str cmx_jw_cstr(const char *s)
{
    return CMX_JW_RAW(s ? s : "", s ? strlen(s) : 0);
}

void cmx_jw_str_value(cmx_jw *w, cmx_jw_str s)
{
    if (s.escaped)
        cmx_jw_string_escaped(w, s.s, s.len);
    else
        cmx_jw_string(w, s.s, s.len);
}

void cmx_jw_string_open(cmx_jw *w)
{
    before_value(w);
    put_char(w, '"');
}

void cmx_jw_string_piece(cmx_jw *w, const char *s, size_t len)
{
    cmx_buf_append_json_escaped(w->out, s, len);
}

void cmx_jw_string_piece_escaped(cmx_jw *w, const char *s, size_t len)
{
    put(w, s, len);
}

void cmx_jw_string_close(cmx_jw *w)
{
    put_char(w, '"');
}

cmx_jw_mark cmx_jw_mark_here(const cmx_jw *w)
{
    return (cmx_jw_mark){w->out->len, w->more, w->objects, w->depth, w->after_key};
}

void cmx_jw_rewind(cmx_jw *w, cmx_jw_mark m)
{
    if (cmx_buf_failed(w->out))
        return;
    if (m.len < w->out->len) {
        w->out->len = m.len;
        w->out->data[m.len] = '\0';
    }
    w->more = m.more;
    w->objects = m.objects;
    w->depth = m.depth;
    w->after_key = m.after_key;
}
