/* translate_util.c — the OpenAI-side reading and writing shared by the
 * translating providers (see translate_util.h).
 *
 * Everything here is about the OpenAI format only; what a provider's own
 * format looks like stays in its *_request.c and *_response.c.  The error
 * messages are part of the gateway's contract with clients: every
 * translating provider words them the same way, with its type in brackets.
 *
 * Values are token indices into the request's cmx_json_doc; a missing
 * value is -1, and the document's getters take -1 as "nothing there", so a
 * chain of lookups needs no checks in between. */
#include "translate_util.h"
#include "translate_portable.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cmx_translate_provider_name(const cmx_translate_ctx *c)
{
    return c->provider_name ? c->provider_name : c->provider_type;
}

cmx_err cmx_translate_bad(cmx_translate_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmx_error_vset(c->err, CMX_ERR_BAD_REQUEST, fmt, ap);
    va_end(ap);
    if (c->err)
        c->err->status = 400;
    return CMX_ERR_BAD_REQUEST;
}

cmx_err cmx_translate_nomem(cmx_translate_ctx *c)
{
    return cmx_error_set(c->err, CMX_ERR_NOMEM, "out of memory");
}

/* ---- the request document ------------------------------------------------- */

/* Byte offset of the first \u escape in s[0..n) that a service cannot take
 * (an unpaired surrogate, or U+0000), or -1. */
static long bad_unicode_escape(const char *s, size_t n)
{
    for (const char *p = s, *e = s + n; (p = memchr(p, '\\', (size_t)(e - p)));) {
        if (p[1] != 'u') {
            p += 2;
            continue;
        }
        unsigned cp = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
            return p - s;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo = e - p >= 12 && p[6] == '\\' && p[7] == 'u'
                              ? (unsigned)strtoul((char[5]){p[8], p[9], p[10], p[11], 0}, NULL, 16)
                              : 0;
            if (lo < 0xdc00 || lo > 0xdfff)
                return p - s;
            p += 6;
        }
        p += 6;
    }
    return -1;
}

static cmx_err check_request(cmx_translate_ctx *c, const cmx_json_doc *doc);

cmx_err cmx_translate_begin(cmx_translate_ctx *c, cmx_json_doc *doc, const cmx_translate_input *in)
{
    c->doc = doc;
    c->arena = in->arena;
    c->own_arena = NULL;
    c->messages = -1;
    const cmx_request_scan *scan = in->scan;
    if (scan && scan->tokens && scan->scanned == in->body && scan->scanned_len == in->len) {
        /* the gateway tokenized and validated these very bytes already */
        cmx_json_doc_view(doc, in->body, in->len, scan->tokens, scan->n_tokens);
        return check_request(c, doc);
    }
    cmx_error perr;
    cmx_error_clear(&perr);
    cmx_err rc = cmx_json_doc_parse(doc, in->body, in->len, in->arena, &perr);
    if (rc == CMX_ERR_NOMEM)
        return cmx_translate_nomem(c);
    if (rc != CMX_OK)
        return cmx_translate_bad(c, "%s", perr.message);
    return check_request(c, doc);
}

/* An object, whose strings a service can take. */
static cmx_err check_request(cmx_translate_ctx *c, const cmx_json_doc *doc)
{
    if (cmx_json_doc_type(doc, 0) != CMX_JSON_OBJECT)
        return cmx_translate_bad(c, "the request body must be a JSON object");
    /* JSON lets a \u escape name half a surrogate pair, or NUL; the
     * services' parsers refuse both, so the client hears it from us. */
    for (int i = 0; i < doc->n; i++) {
        if (!cmx_json_doc_escaped(doc, i) || cmx_json_doc_type(doc, i) != CMX_JSON_STRING)
            continue;
        long at = bad_unicode_escape(cmx_json_doc_ptr(doc, i), cmx_json_doc_len(doc, i));
        if (at >= 0)
            return cmx_translate_bad(c,
                                     "invalid JSON at byte %ld: a \\u escape that is no character "
                                     "(an unpaired surrogate or \\u0000)",
                                     (long)(cmx_json_doc_ptr(doc, i) - doc->bytes) + at);
    }
    return CMX_OK;
}

void cmx_translate_end(cmx_translate_ctx *c)
{
    if (c->doc)
        cmx_json_doc_release(c->doc);
    if (c->own_arena)
        cmx_arena_free(c->own_arena);
    c->own_arena = NULL;
    c->doc = NULL;
}

cmx_err cmx_translate_unescaped(cmx_translate_ctx *c, int i, const char **s, size_t *len)
{
    const cmx_json_doc *doc = c->doc;
    size_t n = cmx_json_doc_len(doc, i);
    if (!cmx_json_doc_escaped(doc, i)) {
        *s = cmx_json_doc_ptr(doc, i);
        *len = n;
        return CMX_OK;
    }
    if (!c->arena)
        c->arena = c->own_arena = cmx_arena_new(n + 64);
    char *out = c->arena ? cmx_arena_alloc(c->arena, n + 1) : NULL;
    if (!out)
        return cmx_translate_nomem(c);
    long got = cmx_json_doc_unescape(doc, i, out, n);
    if (got < 0) /* begin() refused bad escapes: not reached */
        return cmx_translate_bad(c, "a string holds an invalid \\u escape");
    out[got] = '\0';
    *s = out;
    *len = (size_t)got;
    return CMX_OK;
}

void cmx_translate_show_value(const cmx_json_doc *doc, int v, char *out, size_t len)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_compact(&w, cmx_json_doc_ptr(doc, v) - (cmx_json_doc_type(doc, v) == CMX_JSON_STRING),
                   cmx_json_doc_span(doc, v).end - cmx_json_doc_span(doc, v).start);
    if (cmx_buf_failed(&b))
        snprintf(out, len, "?");
    else if (b.len >= len && len > 4)
        snprintf(out, len, "%.*s...", (int)(len - 4), b.data);
    else
        snprintf(out, len, "%s", b.data);
    cmx_buf_free(&b);
}

/* ---- top-level fields ------------------------------------------------------ */

static const char *const field_names[CMX_CHAT_FIELD_COUNT] = {
    [CMX_CHAT_MODEL] = "model",
    [CMX_CHAT_MESSAGES] = "messages",
    [CMX_CHAT_STREAM] = "stream",
    [CMX_CHAT_STREAM_OPTIONS] = "stream_options",
    [CMX_CHAT_USER] = "user",
    [CMX_CHAT_MAX_TOKENS] = "max_tokens",
    [CMX_CHAT_MAX_COMPLETION_TOKENS] = "max_completion_tokens",
    [CMX_CHAT_TEMPERATURE] = "temperature",
    [CMX_CHAT_TOP_P] = "top_p",
    [CMX_CHAT_STOP] = "stop",
    [CMX_CHAT_TOOLS] = "tools",
    [CMX_CHAT_TOOL_CHOICE] = "tool_choice",
    [CMX_CHAT_PARALLEL_TOOL_CALLS] = "parallel_tool_calls",
    [CMX_CHAT_N] = "n",
    [CMX_CHAT_LOGPROBS] = "logprobs",
    [CMX_CHAT_STORE] = "store",
    [CMX_CHAT_PRESENCE_PENALTY] = "presence_penalty",
    [CMX_CHAT_FREQUENCY_PENALTY] = "frequency_penalty",
    [CMX_CHAT_LOGIT_BIAS] = "logit_bias",
    [CMX_CHAT_RESPONSE_FORMAT] = "response_format",
    [CMX_CHAT_SEED] = "seed",
    [CMX_CHAT_REASONING_EFFORT] = "reasoning_effort",
    [CMX_CHAT_TOP_K] = "top_k",
};

const char *cmx_chat_field_name(cmx_chat_field f)
{
    return field_names[f];
}

static int field_of(const char *key, size_t len)
{
    for (int f = 0; f < CMX_CHAT_FIELD_COUNT; f++)
        if (strlen(field_names[f]) == len && memcmp(field_names[f], key, len) == 0)
            return f;
    return -1;
}

/* Parameters whose OpenAI default every translated API shares: sending the
 * default is fine, anything else is unsupported. */
static int is_harmless_default(const cmx_json_doc *doc, int f, int v)
{
    cmx_json_type t = cmx_json_doc_type(doc, v);
    int64_t i;
    double d;
    switch (f) {
    case CMX_CHAT_N: return cmx_json_doc_int64(doc, v, &i) == 0 && i == 1;
    case CMX_CHAT_LOGPROBS:
    case CMX_CHAT_STORE: return t == CMX_JSON_FALSE;
    case CMX_CHAT_PARALLEL_TOOL_CALLS: return t == CMX_JSON_TRUE; /* the APIs may call several */
    case CMX_CHAT_PRESENCE_PENALTY:
    case CMX_CHAT_FREQUENCY_PENALTY: return cmx_json_doc_double(doc, v, &d) == 0 && d == 0.0;
    case CMX_CHAT_LOGIT_BIAS: return t == CMX_JSON_OBJECT && cmx_json_doc_next(doc, v) == v + 1;
    case CMX_CHAT_RESPONSE_FORMAT:
        return CMX_JSON_STRING_IS(doc, CMX_JSON_GET(doc, v, "type"), "text");
    default: return 0;
    }
}

cmx_err cmx_translate_unsupported(cmx_translate_ctx *c, const char *name, int v)
{
    if (c->drop_unsupported)
        return CMX_OK;
    char shown[48];
    cmx_translate_show_value(c->doc, v, shown, sizeof shown);
    return cmx_translate_bad(c, "parameter '%s' (%s) is not supported by provider '%s' (%s)", name,
                             shown, cmx_translate_provider_name(c), c->provider_type);
}

cmx_err cmx_translate_read_fields(cmx_translate_ctx *c, uint32_t takes, cmx_chat_fields *f)
{
    const cmx_json_doc *doc = c->doc;
    for (int i = 0; i < CMX_CHAT_FIELD_COUNT; i++)
        f->at[i] = -1;
    CMX_JSON_EACH_KEY(doc, 0, k)
    {
        int v = k + 1;
        if (cmx_json_doc_type(doc, v) == CMX_JSON_NULL)
            continue;
        char buf[64];
        const char *key;
        long len = cmx_json_doc_key(doc, k, buf, sizeof buf - 1, &key);
        int which = len >= 0 ? field_of(key, (size_t)len) : -1;
        if (which >= 0 && (takes & CMX_CHAT_BIT(which))) {
            f->at[which] = v;
            continue;
        }
        if (which >= 0 && is_harmless_default(doc, which, v))
            continue;
        char name[64];
        if (len < 0) /* too long to unescape here: as written, cut */
            snprintf(name, sizeof name, "%.*s...", 40, cmx_json_doc_ptr(doc, k));
        else
            snprintf(name, sizeof name, "%.*s", (int)len, key);
        cmx_err e = cmx_translate_unsupported(c, name, v);
        if (e != CMX_OK)
            return e;
    }
    return CMX_OK;
}

cmx_err cmx_translate_positive_int(cmx_translate_ctx *c, const cmx_chat_fields *f,
                                   cmx_chat_field which, int64_t *out)
{
    int v = f->at[which];
    if (v < 0)
        return CMX_OK;
    int64_t n;
    if (cmx_json_doc_int64(c->doc, v, &n) != 0 || n < 1)
        return cmx_translate_bad(c, "'%s' must be a positive integer", field_names[which]);
    *out = n;
    return CMX_OK;
}

cmx_err cmx_translate_number(cmx_translate_ctx *c, const cmx_chat_fields *f, cmx_chat_field which)
{
    double d;
    if (f->at[which] >= 0 && cmx_json_doc_double(c->doc, f->at[which], &d) != 0)
        return cmx_translate_bad(c, "'%s' must be a number", field_names[which]);
    return CMX_OK;
}

cmx_err cmx_translate_max_tokens(cmx_translate_ctx *c, const cmx_chat_fields *f, int64_t *out)
{
    int64_t max = 0, max_completion = 0;
    cmx_err e = cmx_translate_positive_int(c, f, CMX_CHAT_MAX_TOKENS, &max);
    if (e == CMX_OK)
        e = cmx_translate_positive_int(c, f, CMX_CHAT_MAX_COMPLETION_TOKENS, &max_completion);
    *out = max_completion ? max_completion : max;
    return e;
}

cmx_err cmx_translate_read_sampling(cmx_translate_ctx *c, const cmx_chat_fields *f,
                                    int64_t *max_tokens)
{
    cmx_err e = cmx_translate_max_tokens(c, f, max_tokens);
    if (e == CMX_OK)
        e = cmx_translate_number(c, f, CMX_CHAT_TEMPERATURE);
    if (e == CMX_OK)
        e = cmx_translate_number(c, f, CMX_CHAT_TOP_P);
    if (e == CMX_OK && f->at[CMX_CHAT_STOP] >= 0)
        e = cmx_translate_check_stop(c, f->at[CMX_CHAT_STOP]);
    return e;
}

void cmx_translate_copy_member(cmx_jw *w, const cmx_json_doc *doc, int v, const char *key)
{
    if (v < 0)
        return;
    cmx_json_span sp = cmx_json_doc_span(doc, v);
    cmx_jw_key(w, key, strlen(key));
    cmx_jw_value(w, doc->bytes + sp.start, sp.end - sp.start);
}

cmx_err cmx_translate_request(cmx_translate_ctx *c, const cmx_translate_input *in,
                              cmx_err (*read)(void *req), cmx_err (*write)(void *req, cmx_jw *w),
                              cmx_buf *out)
{
    cmx_json_doc doc;
    size_t start = out->len;
    cmx_err e = cmx_translate_begin(c, &doc, in);
    /* One quick search: most requests carry no cache marks, and then no
     * part is looked at; when the client marked something, its marks win
     * over the group's cache_prompt. */
    c->has_cache_hints = e == CMX_OK && cmx_translate_has_cache_hints(c);
    if (c->has_cache_hints)
        c->cache_prompt = 0;
    if (e == CMX_OK)
        e = read(c);
    if (e == CMX_OK) {
        cmx_jw w;
        cmx_jw_init(&w, out);
        e = write(c, &w);
        if (e == CMX_OK && cmx_buf_failed(out))
            e = cmx_translate_nomem(c);
    }
    if (e != CMX_OK)
        cmx_buf_truncate(out, start);
    cmx_translate_end(c);
    return e;
}

cmx_err cmx_translate_check_stop(cmx_translate_ctx *c, int v)
{
    const cmx_json_doc *doc = c->doc;
    cmx_json_type t = cmx_json_doc_type(doc, v);
    if (t == CMX_JSON_STRING)
        return CMX_OK;
    if (t == CMX_JSON_ARRAY) {
        int all_strings = 1;
        CMX_JSON_EACH(doc, v, s)
        all_strings &= cmx_json_doc_type(doc, s) == CMX_JSON_STRING;
        if (all_strings)
            return CMX_OK;
    }
    return cmx_translate_bad(c, "'stop' must be a string or an array of strings");
}

void cmx_translate_write_stop(cmx_jw *w, const cmx_json_doc *doc, int v)
{
    cmx_json_span sp = cmx_json_doc_span(doc, v);
    if (cmx_json_doc_type(doc, v) == CMX_JSON_ARRAY) {
        cmx_jw_value(w, doc->bytes + sp.start, sp.end - sp.start);
        return;
    }
    cmx_jw_array(w);
    cmx_jw_value(w, doc->bytes + sp.start, sp.end - sp.start);
    cmx_jw_end(w);
}

void cmx_translate_string(cmx_jw *w, const cmx_json_doc *doc, int v, const char *key)
{
    if (key) {
        if (v < 0)
            return;
        cmx_jw_key(w, key, strlen(key));
    }
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, v), cmx_json_doc_len(doc, v));
}

/* ---- tools -------------------------------------------------------------- */

cmx_err cmx_translate_tools(cmx_translate_ctx *c, int tools, cmx_translate_tool_writer write,
                            cmx_jw *w, size_t *count)
{
    const cmx_json_doc *doc = c->doc;
    if (cmx_json_doc_type(doc, tools) != CMX_JSON_ARRAY)
        return cmx_translate_bad(c, "'tools' must be an array");
    size_t i = 0;
    int end = cmx_json_doc_next(doc, tools);
    CMX_JSON_EACH(doc, tools, t)
    {
        int type = CMX_JSON_GET(doc, t, "type");
        int fn = CMX_JSON_GET(doc, t, "function");
        int name = cmx_json_doc_get_typed(doc, fn, CMX_LIT("name"), CMX_JSON_STRING);
        if (!CMX_JSON_STRING_IS(doc, type, "function")) {
            const char *shown = "(none)";
            size_t shown_len = CMX_LIT_LEN("(none)");
            if (cmx_json_doc_type(doc, type) == CMX_JSON_STRING &&
                cmx_translate_unescaped(c, type, &shown, &shown_len) != CMX_OK)
                return CMX_ERR_NOMEM;
            return cmx_translate_bad(
                c, "tools[%zu]: tool type '%.*s' is not supported by provider '%s' (%s)", i,
                (int)(shown_len > 40 ? 40 : shown_len), shown, cmx_translate_provider_name(c),
                c->provider_type);
        }
        if (name < 0)
            return cmx_translate_bad(c, "tools[%zu].function.name must be a string", i);
        int hint;
        cmx_err e = cmx_translate_cache_hint(c, t, "tools", i, SIZE_MAX, &hint);
        if (e != CMX_OK)
            return e;
        if (hint == CMX_CACHE_NONE && cmx_json_doc_next(doc, t) == end &&
            (c->cache_prompt & CMX_CACHE_PROMPT_TOOLS))
            hint = CMX_CACHE_AUTO; /* the last tool */
        write(w, c, name, fn, hint);
        i++;
    }
    if (count)
        *count = i;
    return CMX_OK;
}

void cmx_translate_tool_head(cmx_jw *w, const cmx_json_doc *doc, int name, int function,
                             int skip_empty)
{
    cmx_translate_string(w, doc, name, "name");
    int desc = cmx_json_doc_get_typed(doc, function, CMX_LIT("description"), CMX_JSON_STRING);
    if (desc >= 0 && (!skip_empty || cmx_json_doc_len(doc, desc)))
        cmx_translate_string(w, doc, desc, "description");
}

void cmx_translate_call_members(cmx_jw *w, const cmx_json_doc *doc, const char *id_key, int id,
                                int name, const char *input_key, const char *input, size_t len)
{
    if (id_key)
        cmx_translate_string(w, doc, id, id_key);
    cmx_translate_string(w, doc, name, "name");
    cmx_jw_key(w, input_key, strlen(input_key));
    cmx_jw_value(w, input, len);
}

cmx_err cmx_translate_bad_tool_choice(cmx_translate_ctx *c, int v, int takes_none)
{
    char shown[48];
    cmx_translate_show_value(c->doc, v, shown, sizeof shown);
    return cmx_translate_bad(c,
                             "'tool_choice' (%s) must be \"auto\", \"required\"%s or "
                             "{\"type\":\"function\",\"function\":{\"name\":...}}",
                             shown, takes_none ? ", \"none\"" : "");
}

const char *cmx_translate_tool_choice(const cmx_json_doc *doc, int v, int *function)
{
    *function = -1;
    if (cmx_json_doc_type(doc, v) == CMX_JSON_STRING) {
        static const char *const kinds[] = {"auto", "required", "none"};
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (cmx_json_doc_string_is(doc, v, kinds[i], strlen(kinds[i])))
                return kinds[i];
    } else {
        *function = cmx_json_doc_get_typed(doc, CMX_JSON_GET(doc, v, "function"), CMX_LIT("name"),
                                           CMX_JSON_STRING);
        if (*function >= 0)
            return "function";
    }
    return NULL;
}

void cmx_translate_write_tool_schema(cmx_jw *w, const cmx_json_doc *doc, int function)
{
    int params = cmx_json_doc_get_typed(doc, function, CMX_LIT("parameters"), CMX_JSON_OBJECT);
    if (params >= 0) {
        cmx_jw_value(w, cmx_json_doc_ptr(doc, params), cmx_json_doc_len(doc, params));
        return;
    }
    cmx_jw_value(w, CMX_LIT("{\"type\":\"object\",\"properties\":{}}"));
}

/* ---- content -------------------------------------------------------------- */

cmx_err cmx_translate_read_image(cmx_translate_ctx *c, int part, size_t mi, size_t pi,
                                 cmx_translate_image *img)
{
    const cmx_json_doc *doc = c->doc;
    int iu = CMX_JSON_GET(doc, part, "image_url");
    if (cmx_json_doc_type(doc, iu) != CMX_JSON_STRING)
        iu = cmx_json_doc_get_typed(doc, iu, CMX_LIT("url"), CMX_JSON_STRING);
    if (iu < 0)
        return cmx_translate_bad(c, "messages[%zu].content[%zu].image_url.url must be a string", mi,
                                 pi);
    const char *url;
    size_t len;
    cmx_err e = cmx_translate_unescaped(c, iu, &url, &len);
    if (e != CMX_OK)
        return e;
    /* the client's bytes themselves when the URL had no escapes */
    int as_written = !cmx_json_doc_escaped(doc, iu);
    *img = (cmx_translate_image){.url = {url, len, as_written}};
    if (!cmx_translate_image_is(img, "data:"))
        return CMX_OK;
    const char *media, *data;
    size_t media_len, data_len;
    if (cmx_translate_split_data_url(url, len, &media, &media_len, &data, &data_len) != 0)
        return cmx_translate_bad_data_url(c, mi, pi);
    img->is_data = 1;
    img->media = (cmx_jw_str){media, media_len, as_written};
    img->data = (cmx_jw_str){data, data_len, as_written};
    return CMX_OK;
}

int cmx_translate_image_is(const cmx_translate_image *img, const char *prefix)
{
    size_t n = strlen(prefix);
    return img->url.len >= n && memcmp(img->url.s, prefix, n) == 0;
}

int cmx_translate_split_data_url(const char *url, size_t len, const char **media, size_t *media_len,
                                 const char **data, size_t *data_len)
{
    if (len < CMX_LIT_LEN("data:") || memcmp(url, CMX_LIT("data:")) != 0)
        return -1;
    const char *p = url + CMX_LIT_LEN("data:"), *end = url + len;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!semi || !comma || semi > comma || (size_t)(end - semi) < CMX_LIT_LEN(";base64,") ||
        memcmp(semi, CMX_LIT(";base64,")) != 0)
        return -1;
    *media = p;
    *media_len = (size_t)(semi - p);
    *data = comma + 1;
    *data_len = (size_t)(end - comma - 1);
    return 0;
}

cmx_err cmx_translate_bad_data_url(cmx_translate_ctx *c, size_t mi, size_t pi)
{
    return cmx_translate_bad(c,
                             "messages[%zu].content[%zu].image_url.url: a data URL must be "
                             "data:<media type>;base64,<data>",
                             mi, pi);
}

void cmx_translate_text_part(void *sink, const cmx_translate_ctx *c, int text, int hint)
{
    (void)hint;
    const cmx_json_doc *doc = c->doc;
    cmx_jw *w = sink;
    cmx_jw_object(w);
    CMX_JW_KEY(w, "text");
    cmx_jw_string_escaped(w, cmx_json_doc_ptr(doc, text), cmx_json_doc_len(doc, text));
    cmx_jw_end(w);
}

static void text_if_any(const cmx_translate_part_writers *w, void *sink, const cmx_translate_ctx *c,
                        int text, int hint)
{
    if (cmx_json_doc_len(c->doc, text) > 0) /* the translated APIs reject empty texts */
        w->text(sink, c, text, hint);
}

cmx_err cmx_translate_content(cmx_translate_ctx *c, int content, size_t mi, int images, int hint,
                              const cmx_translate_part_writers *w, void *sink)
{
    const cmx_json_doc *doc = c->doc;
    cmx_json_type t = content < 0 ? CMX_JSON_NULL : cmx_json_doc_type(doc, content);
    if (t == CMX_JSON_NULL)
        return CMX_OK;
    if (t == CMX_JSON_STRING) {
        text_if_any(w, sink, c, content, hint);
        return CMX_OK;
    }
    if (t != CMX_JSON_ARRAY)
        return cmx_translate_bad(c, "messages[%zu].content must be a string or an array of parts",
                                 mi);
    size_t pi = 0;
    int end = cmx_json_doc_next(doc, content);
    CMX_JSON_EACH(doc, content, part)
    {
        int part_hint;
        cmx_err he = cmx_translate_cache_hint(c, part, "messages", mi, pi, &part_hint);
        if (he != CMX_OK)
            return he;
        if (part_hint == CMX_CACHE_NONE && cmx_json_doc_next(doc, part) == end)
            part_hint = hint; /* the message's own goes to its last part */
        int type = cmx_json_doc_get_typed(doc, part, CMX_LIT("type"), CMX_JSON_STRING);
        const char *name;
        size_t name_len;
        if (type < 0)
            return cmx_translate_bad(c, "messages[%zu].content[%zu] has no 'type'", mi, pi);
        if (cmx_translate_unescaped(c, type, &name, &name_len) != CMX_OK)
            return CMX_ERR_NOMEM;
        if (CMX_SPAN_IS(name, name_len, "text") || CMX_SPAN_IS(name, name_len, "refusal")) {
            int text = cmx_json_doc_get_typed(doc, part, name, name_len, CMX_JSON_STRING);
            if (text < 0)
                return cmx_translate_bad(c, "messages[%zu].content[%zu].%.*s must be a string", mi,
                                         pi, (int)name_len, name);
            text_if_any(w, sink, c, text, part_hint);
        } else if (images && CMX_SPAN_IS(name, name_len, "image_url")) {
            cmx_err e = w->image(c, part, mi, pi, part_hint, sink);
            if (e != CMX_OK)
                return e;
        } else {
            return cmx_translate_bad(c,
                                     "messages[%zu].content[%zu]: content part type '%.*s' is "
                                     "not supported by provider '%s' (%s)",
                                     mi, pi, (int)(name_len > 40 ? 40 : name_len), name,
                                     cmx_translate_provider_name(c), c->provider_type);
        }
        pi++;
    }
    return CMX_OK;
}

/* ---- tool calls and results ------------------------------------------------ */

/* A tool call's arguments as a JSON object's text: *input points into the
 * request, or at an unescaped copy in the arena. */
static cmx_err call_arguments(cmx_translate_ctx *c, int args, size_t mi, size_t ti,
                              const char **input, size_t *len)
{
    const cmx_json_doc *doc = c->doc;
    cmx_json_type t = args < 0 ? CMX_JSON_NULL : cmx_json_doc_type(doc, args);
    if (t == CMX_JSON_NULL || (t == CMX_JSON_STRING && cmx_json_doc_len(doc, args) == 0)) {
        *input = "{}";
        *len = 2;
        return CMX_OK;
    }
    if (t == CMX_JSON_OBJECT) {
        *input = cmx_json_doc_ptr(doc, args);
        *len = cmx_json_doc_len(doc, args);
        return CMX_OK;
    }
    if (t != CMX_JSON_STRING)
        return cmx_translate_bad(
            c, "messages[%zu].tool_calls[%zu].function.arguments must be a string", mi, ti);
    cmx_err e = cmx_translate_unescaped(c, args, input, len);
    if (e != CMX_OK)
        return e;
    cmx_json_doc inner;
    e = cmx_json_doc_parse(&inner, *input, *len, c->arena, NULL);
    int object = e == CMX_OK && cmx_json_doc_type(&inner, 0) == CMX_JSON_OBJECT;
    cmx_json_doc_release(&inner);
    if (e == CMX_ERR_NOMEM)
        return cmx_translate_nomem(c);
    if (!object)
        return cmx_translate_bad(c,
                                 "messages[%zu].tool_calls[%zu].function.arguments must be a "
                                 "JSON object in a string",
                                 mi, ti);
    return CMX_OK;
}

cmx_err cmx_translate_tool_calls(cmx_translate_ctx *c, int calls, size_t mi, int needs_id,
                                 cmx_translate_tool_call_writer write, cmx_jw *w)
{
    const cmx_json_doc *doc = c->doc;
    cmx_json_type t = calls < 0 ? CMX_JSON_NULL : cmx_json_doc_type(doc, calls);
    if (t == CMX_JSON_NULL)
        return CMX_OK;
    if (t != CMX_JSON_ARRAY)
        return cmx_translate_bad(c, "messages[%zu].tool_calls must be an array", mi);
    size_t ti = 0;
    CMX_JSON_EACH(doc, calls, call)
    {
        int fn = CMX_JSON_GET(doc, call, "function");
        int id = cmx_json_doc_get_typed(doc, call, CMX_LIT("id"), CMX_JSON_STRING);
        int name = cmx_json_doc_get_typed(doc, fn, CMX_LIT("name"), CMX_JSON_STRING);
        if (name < 0 || (needs_id && id < 0))
            return cmx_translate_bad(c, "messages[%zu].tool_calls[%zu] needs %s'function.name'", mi,
                                     ti, needs_id ? "an 'id' and a " : "a ");
        const char *input;
        size_t len;
        cmx_err e = call_arguments(c, CMX_JSON_GET(doc, fn, "arguments"), mi, ti, &input, &len);
        if (e != CMX_OK)
            return e;
        write(w, doc, call, needs_id ? id : -1, name, input, len);
        ti++;
    }
    return CMX_OK;
}

cmx_err cmx_translate_tool_call_id(cmx_translate_ctx *c, int m, size_t mi, int *id)
{
    *id = cmx_json_doc_get_typed(c->doc, m, CMX_LIT("tool_call_id"), CMX_JSON_STRING);
    if (*id < 0)
        return cmx_translate_bad(c, "messages[%zu] (role tool) needs a 'tool_call_id'", mi);
    return CMX_OK;
}

/* ---- messages ------------------------------------------------------------- */

/* The turn being written: left open so the next message of its role can
 * add to it. */
typedef struct turn_state {
    const char *role; /* NULL: none open */
    size_t content_at;
} turn_state;

static void close_turn(const cmx_translate_message_writers *w, cmx_jw *out, turn_state *t)
{
    if (!t->role)
        return;
    cmx_jw_end(out); /* the content array */
    if (w->turn_done && !cmx_jw_failed(out))
        w->turn_done(out->out, t->content_at);
    cmx_jw_end(out);
    t->role = NULL;
}

/* Adds the blocks in `blocks` ("[b1,b2..." without its ']') to a turn of
 * `role`: the open one when it has that role, else a new one. */
static void add_blocks(const cmx_translate_message_writers *w, cmx_jw *out, turn_state *t,
                       const char *role, const cmx_buf *blocks, size_t *turns)
{
    if (t->role != role) {
        close_turn(w, out, t);
        cmx_jw_object(out);
        CMX_JW_KEY(out, "role");
        cmx_jw_string_escaped(out, role, strlen(role));
        cmx_jw_key(out, w->content_key, strlen(w->content_key));
        t->content_at = out->out->len;
        cmx_jw_array(out);
        t->role = role;
        (*turns)++;
    }
    cmx_jw_value(out, blocks->data + 1, blocks->len - 1);
}

/* The blocks of one non-system message, into `bw`. */
static cmx_err message_blocks(cmx_translate_ctx *c, const cmx_translate_message_writers *w, int m,
                              size_t mi, const char *role, size_t role_len, int hint, cmx_jw *bw,
                              const char **turn)
{
    const cmx_json_doc *doc = c->doc;
    int content = CMX_JSON_GET(doc, m, "content");
    *turn = "user";
    if (CMX_SPAN_IS(role, role_len, "user"))
        return cmx_translate_content(c, content, mi, 1, hint, w->parts, bw);
    if (CMX_SPAN_IS(role, role_len, "assistant")) {
        *turn = w->assistant_role;
        cmx_err e = w->thinking ? w->thinking(c, m, mi, bw) : CMX_OK;
        if (e == CMX_OK)
            e = cmx_translate_content(c, content, mi, 0, hint, w->parts, bw);
        return e != CMX_OK ? e : w->tool_calls(c, CMX_JSON_GET(doc, m, "tool_calls"), mi, bw);
    }
    if (CMX_SPAN_IS(role, role_len, "tool"))
        return w->tool_result(c, m, mi, hint, bw);
    return cmx_translate_bad(c, "messages[%zu]: role '%.*s' is not supported by provider '%s' (%s)",
                             mi, (int)(role_len > 40 ? 40 : role_len), role,
                             cmx_translate_provider_name(c), c->provider_type);
}

/* Which messages the gateway marks for caching itself: the last system (or
 * developer) message and the last user message, as cache_prompt says, when
 * the request marks nothing of its own (cmx_translate_request cleared
 * cache_prompt otherwise; SIZE_MAX: none). */
static void find_cache_marks(cmx_translate_ctx *c, int msgs, size_t *last_system, size_t *last_user)
{
    const cmx_json_doc *doc = c->doc;
    *last_system = *last_user = SIZE_MAX;
    if (!(c->cache_prompt & (CMX_CACHE_PROMPT_SYSTEM | CMX_CACHE_PROMPT_LAST_USER)))
        return;
    size_t mi = 0;
    CMX_JSON_EACH(doc, msgs, m)
    {
        int role = CMX_JSON_GET(doc, m, "role");
        if ((c->cache_prompt & CMX_CACHE_PROMPT_SYSTEM) &&
            (CMX_JSON_STRING_IS(doc, role, "system") || CMX_JSON_STRING_IS(doc, role, "developer")))
            *last_system = mi;
        if ((c->cache_prompt & CMX_CACHE_PROMPT_LAST_USER) && CMX_JSON_STRING_IS(doc, role, "user"))
            *last_user = mi;
        mi++;
    }
}

cmx_err cmx_translate_messages(cmx_translate_ctx *c, int msgs,
                               const cmx_translate_message_writers *w, cmx_jw *out, void *system,
                               size_t *turns)
{
    const cmx_json_doc *doc = c->doc;
    *turns = 0;
    if (msgs < 0 || cmx_json_doc_type(doc, msgs) != CMX_JSON_ARRAY)
        return cmx_translate_bad(c, "'messages' must be an array");
    c->messages = msgs;
    size_t last_system, last_user;
    find_cache_marks(c, msgs, &last_system, &last_user);
    /* Each message's blocks are written aside first: only when it has some
     * does it open (or add to) a turn.  A usual message fits the stack. */
    char blocks_room[1024];
    cmx_buf blocks;
    cmx_buf_init_spill(&blocks, blocks_room, sizeof blocks_room);
    turn_state t = {NULL, 0};
    cmx_err e = CMX_OK;
    size_t mi = 0;
    CMX_JSON_EACH(doc, msgs, m)
    {
        int hint;
        if ((e = cmx_translate_cache_hint(c, m, "messages", mi, SIZE_MAX, &hint)) != CMX_OK)
            break;
        if (hint == CMX_CACHE_NONE && (mi == last_system || mi == last_user))
            hint = CMX_CACHE_AUTO;
        int role_tok = cmx_json_doc_get_typed(doc, m, CMX_LIT("role"), CMX_JSON_STRING);
        const char *role;
        size_t role_len;
        if (role_tok < 0) {
            e = cmx_translate_bad(c, "messages[%zu] has no 'role'", mi);
            break;
        }
        if ((e = cmx_translate_unescaped(c, role_tok, &role, &role_len)) != CMX_OK)
            break;
        if (CMX_SPAN_IS(role, role_len, "system") || CMX_SPAN_IS(role, role_len, "developer")) {
            int content = CMX_JSON_GET(doc, m, "content");
            e = w->system ? w->system(c, content, mi, hint, system)
                          : cmx_translate_content(c, content, mi, 0, hint, w->parts, system);
            if (e != CMX_OK)
                break;
            mi++;
            continue;
        }
        cmx_buf_rewind(&blocks);
        cmx_jw bw;
        cmx_jw_init(&bw, &blocks);
        cmx_jw_array(&bw);
        const char *turn;
        if ((e = message_blocks(c, w, m, mi, role, role_len, hint, &bw, &turn)) != CMX_OK)
            break;
        if (cmx_buf_failed(&blocks)) { /* nothing of it may be copied out */
            e = cmx_translate_nomem(c);
            break;
        }
        if (bw.more & 1) /* it has blocks */
            add_blocks(w, out, &t, turn, &blocks, turns);
        mi++;
    }
    if (e == CMX_OK)
        close_turn(w, out, &t);
    cmx_buf_free(&blocks);
    return e;
}

cmx_err cmx_translate_turns_and_system(cmx_translate_ctx *c, int msgs,
                                       const cmx_translate_message_writers *w, const char *key,
                                       cmx_jw *out, cmx_buf *system)
{
    cmx_jw sw;
    cmx_jw_init(&sw, system);
    cmx_jw_array(&sw);
    size_t turns;
    cmx_jw_key(out, key, strlen(key));
    cmx_jw_array(out);
    cmx_err e = cmx_translate_messages(c, msgs, w, out, &sw, &turns);
    cmx_jw_end(out);
    cmx_jw_end(&sw);
    if (e == CMX_OK && turns == 0)
        e = cmx_translate_bad(
            c, "'messages' must hold at least one user or assistant message with content");
    if (e == CMX_OK && cmx_buf_failed(system))
        e = cmx_translate_nomem(c);
    return e;
}

/* ---- answers -------------------------------------------------------------- */

const char *cmx_translate_finish_reason(const char *stop_reason, size_t len,
                                        const char *const *content_filter)
{
    if (!stop_reason)
        return NULL;
    if (CMX_SPAN_IS(stop_reason, len, "max_tokens") ||
        CMX_SPAN_IS(stop_reason, len, "model_context_window_exceeded"))
        return "length";
    if (CMX_SPAN_IS(stop_reason, len, "tool_use"))
        return "tool_calls";
    for (size_t i = 0; content_filter && content_filter[i]; i++)
        if (strlen(content_filter[i]) == len && memcmp(stop_reason, content_filter[i], len) == 0)
            return "content_filter";
    return "stop";
}

int64_t cmx_translate_count(const cmx_json_doc *doc, int obj, const char *key, int64_t otherwise)
{
    int v = key ? cmx_json_doc_get(doc, obj, key, strlen(key)) : -1;
    int64_t n;
    return v >= 0 && cmx_json_doc_int64(doc, v, &n) == 0 ? n : otherwise;
}

void cmx_translate_usage(const cmx_json_doc *doc, int u, const char *input_key,
                         const char *output_key, const char *cache_read_key,
                         const char *cache_write_key, cmx_usage *out)
{
    cmx_usage_init(out);
    int64_t cache_read = cmx_translate_count(doc, u, cache_read_key, 0);
    int64_t cache_write = cmx_translate_count(doc, u, cache_write_key, -1);
    out->prompt_tokens = cmx_translate_count(doc, u, input_key, 0) + cache_read +
                         (cache_write > 0 ? cache_write : 0);
    out->completion_tokens = cmx_translate_count(doc, u, output_key, 0);
    out->total_tokens = out->prompt_tokens + out->completion_tokens;
    out->cached_tokens = cache_read;
    out->cache_write_tokens = cache_write;
}

cmx_err cmx_translate_protocol_error(cmx_error *err, const char *provider_type, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "%s answered 200 with %s", provider_type, what);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_translate_read_body(cmx_json_doc *doc, const char *body, size_t len,
                                const char *provider_type, cmx_error *err)
{
    cmx_err rc = cmx_json_doc_parse(doc, body, len, NULL, NULL);
    if (rc == CMX_ERR_NOMEM)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (rc != CMX_OK || cmx_json_doc_type(doc, 0) != CMX_JSON_OBJECT)
        return cmx_translate_protocol_error(err, provider_type, "a body that is not a JSON object");
    return CMX_OK;
}

cmx_jw_str cmx_translate_str(const cmx_json_doc *doc, int obj, const char *key)
{
    int v = cmx_json_doc_get_typed(doc, obj, key, strlen(key), CMX_JSON_STRING);
    if (v < 0)
        return CMX_JW_ESC("", 0);
    return CMX_JW_ESC(cmx_json_doc_ptr(doc, v), cmx_json_doc_len(doc, v));
}

void cmx_translate_answer_init(cmx_translate_answer *a)
{
    *a = (cmx_translate_answer){.calls = CMX_BUF_INIT,
                                .reasoning = CMX_BUF_INIT,
                                .thinking = CMX_BUF_INIT,
                                .json = CMX_BUF_INIT};
    cmx_buf_init_spill(&a->text, a->text_room, sizeof a->text_room);
}

/* A writer's string's inside appended to an escaped buffer. */
static void append_escaped(cmx_buf *b, cmx_jw_str s)
{
    if (s.escaped)
        cmx_buf_append(b, s.s, s.len);
    else
        cmx_buf_append_json_escaped(b, s.s, s.len);
}

void cmx_translate_answer_reasoning(cmx_translate_answer *a, cmx_jw_str text)
{
    append_escaped(&a->reasoning, text);
    a->has_reasoning = 1;
}

void cmx_translate_answer_thinking(cmx_translate_answer *a, int redacted, cmx_jw_str text,
                                   cmx_jw_str value)
{
    if (!redacted && !value.len) { /* unsigned: nothing a provider would take back */
        cmx_translate_answer_reasoning(a, text);
        return;
    }
    cmx_jw w;
    cmx_jw_init(&w, &a->thinking);
    if (a->n_thinking++)
        cmx_buf_append(&a->thinking, CMX_LIT(","));
    cmx_translate_write_thinking_block(&w, redacted, text, value);
    if (!redacted)
        cmx_translate_answer_reasoning(a, text);
}

void cmx_translate_write_thinking_block(cmx_jw *w, int redacted, cmx_jw_str text, cmx_jw_str value)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    if (redacted) {
        CMX_JW_LIT(w, "redacted_thinking");
        CMX_JW_KEY(w, "data");
        cmx_jw_str_value(w, value);
    } else {
        CMX_JW_LIT(w, "thinking");
        CMX_JW_KEY(w, "thinking");
        cmx_jw_str_value(w, text);
        CMX_JW_KEY(w, "signature");
        cmx_jw_str_value(w, value);
    }
    cmx_jw_end(w);
}

void cmx_translate_answer_json(cmx_translate_answer *a, const cmx_json_doc *doc, int input)
{
    cmx_buf_rewind(&a->json);
    cmx_jw w;
    cmx_jw_init(&w, &a->json);
    if (input >= 0) {
        cmx_json_span sp = cmx_json_doc_span(doc, input);
        cmx_jw_json_as_string(&w, doc->bytes + sp.start, sp.end - sp.start);
    } else {
        CMX_JW_LIT(&w, "{}");
    }
}

/* s[0..n) without the whitespace around it and, when it is wrapped in a
 * markdown code fence (``` or ```json), without the fence. */
static int blank(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

static void unfence(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    for (int pass = 0; pass < 2; pass++) {
        while (p < e && blank(*p))
            p++;
        while (e > p && blank(e[-1]))
            e--;
        if (pass || e - p < 6 || memcmp(p, "```", 3) != 0 || memcmp(e - 3, "```", 3) != 0)
            break;
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl || nl >= e - 3)
            break;
        p = nl + 1;
        e -= 3;
    }
    *s = p;
    *n = (size_t)(e - p);
}

cmx_err cmx_translate_answer_require_object(cmx_translate_answer *a, const char *provider_type,
                                            cmx_error *err)
{
    if (a->json.len)
        return CMX_OK;
    /* the text is escaped: unescape it as the one string of a tiny document */
    cmx_buf quoted = CMX_BUF_INIT;
    cmx_buf_append(&quoted, CMX_LIT("\""));
    cmx_buf_append(&quoted, a->text.data ? a->text.data : "", a->text.len);
    cmx_buf_append(&quoted, CMX_LIT("\""));
    char *raw = malloc(a->text.len + 1);
    cmx_json_doc doc, inner;
    long n = -1;
    if (raw && !cmx_buf_failed(&quoted) &&
        cmx_json_doc_parse(&doc, quoted.data, quoted.len, NULL, NULL) == CMX_OK)
        n = cmx_json_doc_unescape(&doc, 0, raw, a->text.len);
    cmx_json_doc_release(&doc);
    cmx_buf_free(&quoted);
    const char *s = raw;
    size_t len = n >= 0 ? (size_t)n : 0;
    int object = 0;
    if (n >= 0) {
        unfence(&s, &len);
        object = cmx_json_doc_parse(&inner, s, len, NULL, NULL) == CMX_OK &&
                 cmx_json_doc_type(&inner, 0) == CMX_JSON_OBJECT;
        cmx_json_doc_release(&inner);
    }
    if (object) { /* the content is the object alone */
        cmx_buf_rewind(&a->text);
        cmx_buf_append_json_escaped(&a->text, s, len);
    }
    free(raw);
    if (!raw)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (!object)
        return cmx_translate_protocol_error(
            err, provider_type, "text that is not the JSON object response_format asked for");
    return CMX_OK;
}

void cmx_translate_answer_text(cmx_translate_answer *a, const cmx_json_doc *doc, int text)
{
    cmx_buf_append(&a->text, cmx_json_doc_ptr(doc, text), cmx_json_doc_len(doc, text));
    a->has_text = 1;
}

void cmx_translate_answer_tool_call(cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str name,
                                    const cmx_json_doc *doc, int input)
{
    cmx_translate_answer_signed_tool_call(a, id, name, doc, input, CMX_JW_RAW("", 0));
}

void cmx_translate_write_call_signature(cmx_jw *w, cmx_jw_str signature)
{
    if (!signature.len)
        return;
    CMX_JW_KEY(w, "extra_content");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "google");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "thought_signature");
    cmx_jw_str_value(w, signature);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

void cmx_translate_answer_signed_tool_call(cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str name,
                                           const cmx_json_doc *doc, int input, cmx_jw_str signature)
{
    cmx_jw w;
    cmx_jw_init(&w, &a->calls);
    if (a->n_calls++)
        cmx_buf_append(&a->calls, CMX_LIT(","));
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "id");
    cmx_jw_str_value(&w, id);
    CMX_JW_KEY(&w, "type");
    CMX_JW_LIT(&w, "function");
    CMX_JW_KEY(&w, "function");
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "name");
    cmx_jw_str_value(&w, name);
    CMX_JW_KEY(&w, "arguments");
    if (input >= 0) {
        cmx_json_span sp = cmx_json_doc_span(doc, input);
        cmx_jw_json_as_string(&w, doc->bytes + sp.start, sp.end - sp.start);
    } else {
        CMX_JW_LIT(&w, "{}");
    }
    cmx_jw_end(&w);
    cmx_translate_write_call_signature(&w, signature);
    cmx_jw_end(&w);
}

void cmx_translate_write_usage(cmx_jw *w, const cmx_usage *u)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "prompt_tokens");
    cmx_jw_int(w, u->prompt_tokens);
    CMX_JW_KEY(w, "completion_tokens");
    cmx_jw_int(w, u->completion_tokens);
    CMX_JW_KEY(w, "total_tokens");
    cmx_jw_int(w, u->total_tokens);
    CMX_JW_KEY(w, "prompt_tokens_details");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "cached_tokens");
    cmx_jw_int(w, u->cached_tokens);
    if (u->cache_write_tokens > 0) { /* only where a prompt cache was written */
        CMX_JW_KEY(w, "cache_write_tokens");
        cmx_jw_int(w, u->cache_write_tokens);
    }
    cmx_jw_end(w);
    if (u->reasoning_tokens >= 0) { /* only where the provider counts them apart */
        CMX_JW_KEY(w, "completion_tokens_details");
        cmx_jw_object(w);
        CMX_JW_KEY(w, "reasoning_tokens");
        cmx_jw_int(w, u->reasoning_tokens);
        cmx_jw_end(w);
    }
    cmx_jw_end(w);
}

static void write_message(cmx_jw *w, const cmx_translate_answer *a)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "role");
    CMX_JW_LIT(w, "assistant");
    CMX_JW_KEY(w, "content");
    if (a->json.len)
        cmx_jw_value(w, a->json.data, a->json.len);
    else if (a->has_text || a->n_calls == 0)
        cmx_jw_string_escaped(w, a->text.data ? a->text.data : "", a->text.len);
    else
        cmx_jw_null(w);
    if (a->has_reasoning) {
        CMX_JW_KEY(w, "reasoning_content");
        cmx_jw_string_escaped(w, a->reasoning.data ? a->reasoning.data : "", a->reasoning.len);
    }
    if (a->n_thinking) {
        CMX_JW_KEY(w, "thinking_blocks");
        cmx_jw_array(w);
        cmx_jw_value(w, a->thinking.data, a->thinking.len);
        cmx_jw_end(w);
    }
    if (a->n_calls) {
        CMX_JW_KEY(w, "tool_calls");
        cmx_jw_array(w);
        cmx_jw_value(w, a->calls.data, a->calls.len);
        cmx_jw_end(w);
    }
    CMX_JW_KEY(w, "refusal");
    cmx_jw_null(w);
    cmx_jw_end(w);
}

cmx_err cmx_translate_answer_write(const cmx_translate_answer *a, cmx_jw_str id, cmx_jw_str model,
                                   int64_t created, const char *finish_reason,
                                   const cmx_usage *tokens, cmx_buf *out, cmx_error *err)
{
    if (cmx_buf_failed(&a->text) || cmx_buf_failed(&a->calls) || cmx_buf_failed(&a->reasoning) ||
        cmx_buf_failed(&a->thinking) || cmx_buf_failed(&a->json))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (finish_reason && a->n_calls == 0 && strcmp(finish_reason, "tool_calls") == 0)
        finish_reason = "stop"; /* only the structured answer's tool was called */
    size_t start = out->len;
    cmx_jw w;
    cmx_jw_init(&w, out);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "id");
    cmx_jw_str_value(&w, id);
    CMX_JW_KEY(&w, "object");
    CMX_JW_LIT(&w, "chat.completion");
    CMX_JW_KEY(&w, "created");
    cmx_jw_int(&w, created);
    if (model.s) {
        CMX_JW_KEY(&w, "model");
        cmx_jw_str_value(&w, model);
    }
    CMX_JW_KEY(&w, "choices");
    cmx_jw_array(&w);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "index");
    cmx_jw_int(&w, 0);
    CMX_JW_KEY(&w, "message");
    write_message(&w, a);
    CMX_JW_KEY(&w, "logprobs");
    cmx_jw_null(&w);
    CMX_JW_KEY(&w, "finish_reason");
    cmx_jw_string_escaped(&w, finish_reason ? finish_reason : "stop",
                          finish_reason ? strlen(finish_reason) : 4);
    cmx_jw_end(&w);
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "usage");
    cmx_translate_write_usage(&w, tokens);
    cmx_jw_end(&w);
    if (cmx_buf_failed(out)) {
        cmx_buf_truncate(out, start);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    return CMX_OK;
}

void cmx_translate_answer_free(cmx_translate_answer *a)
{
    cmx_buf_free(&a->text);
    cmx_buf_free(&a->calls);
    cmx_buf_free(&a->reasoning);
    cmx_buf_free(&a->thinking);
    cmx_buf_free(&a->json);
}

void cmx_translate_copy_string(char *dst, size_t cap, const cmx_json_doc *doc, int v)
{
    dst[0] = '\0';
    if (v < 0 || cmx_json_doc_type(doc, v) != CMX_JSON_STRING || cap == 0)
        return;
    size_t n = cmx_json_doc_len(doc, v);
    char *tmp = malloc(n + 1);
    long got = tmp ? cmx_json_doc_unescape(doc, v, tmp, n) : -1;
    if (got >= 0) {
        size_t keep = (size_t)got < cap - 1 ? (size_t)got : cap - 1;
        while (keep > 0 && keep < (size_t)got && ((unsigned char)tmp[keep] & 0xc0) == 0x80)
            keep--; /* not inside a UTF-8 sequence */
        memcpy(dst, tmp, keep);
        dst[keep] = '\0';
    }
    free(tmp);
}
