/* json_scan.c — validating a client's request body and splicing the model.
 *
 * The body is proven to be valid JSON by json_doc.c; this file checks the
 * shape the gateway relies on (a "model" string, a non-empty "messages" array
 * of objects with a string "role", or an embeddings "input") and records where
 * "model", "stream" and "stream_options" sit, so the router can rewrite the
 * model by splicing bytes instead of re-serialising the body.
 *
 * The fields the gateway reads may appear only once: if a body carried two
 * "model" keys the gateway would route and bill on one while the upstream
 * parser might honour the other.  Escaped key spellings count as the same
 * key for the same reason. */
#include "http/json_scan.h"

#include "http/json_doc.h"
#include "core/str.h"

#include <string.h>

static cmx_err bad(cmx_error *err, const char *msg)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "%s", msg);
}

/* The top-level fields we look at, found in one pass over the keys. */
typedef struct fields {
    int model, messages, input, stream, stream_options;
} fields;

static int *field_slot(fields *f, const char *key, size_t len)
{
    switch (len) {
    case CMX_LIT_LEN("model"): /* and "input" */
        if (memcmp(key, CMX_LIT("model")) == 0)
            return &f->model;
        return memcmp(key, CMX_LIT("input")) == 0 ? &f->input : NULL;
    case CMX_LIT_LEN("stream"): return memcmp(key, CMX_LIT("stream")) == 0 ? &f->stream : NULL;
    case CMX_LIT_LEN("messages"):
        return memcmp(key, CMX_LIT("messages")) == 0 ? &f->messages : NULL;
    case CMX_LIT_LEN("stream_options"):
        return memcmp(key, CMX_LIT("stream_options")) == 0 ? &f->stream_options : NULL;
    default: return NULL;
    }
}

static cmx_err find_fields(const cmx_json_doc *doc, fields *f, cmx_error *err)
{
    f->model = f->messages = f->input = f->stream = f->stream_options = -1;
    int end = cmx_json_doc_next(doc, 0);
    for (int k = 1; k < end; k = cmx_json_doc_next(doc, k + 1)) {
        char buf[16];
        const char *key;
        long len = cmx_json_doc_key(doc, k, buf, sizeof buf, &key);
        int *slot = len >= 0 ? field_slot(f, key, (size_t)len) : NULL;
        if (!slot)
            continue;
        if (*slot >= 0)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "duplicate field '%.*s'", (int)len, key);
        *slot = k + 1;
    }
    return CMX_OK;
}

cmx_err cmx_json_doc_read_model(const cmx_json_doc *doc, int v, cmx_request_scan *out,
                                cmx_error *err)
{
    if (v < 0)
        return bad(err, "missing required field 'model'");
    if (cmx_json_doc_type(doc, v) != CMX_JSON_STRING)
        return bad(err, "'model' must be a string");
    long n = cmx_json_doc_unescape(doc, v, out->model_name, sizeof out->model_name - 1);
    if (n == -1)
        return bad(err, "'model' is longer than 255 bytes");
    if (n < 0)
        return bad(err, "'model' contains an invalid \\u escape");
    if (n == 0)
        return bad(err, "'model' must not be empty");
    out->model_name[n] = '\0';
    /* The name ends up in logs, metrics labels and response headers. */
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out->model_name[i];
        if (c < 0x20 || c == 0x7f)
            return bad(err, "'model' must not contain control characters");
    }
    out->model = cmx_json_doc_span(doc, v);
    return CMX_OK;
}

static cmx_err check_messages(const cmx_json_doc *doc, int v, cmx_request_scan *out, cmx_error *err)
{
    if (v < 0)
        return bad(err, "missing required field 'messages'");
    if (cmx_json_doc_type(doc, v) != CMX_JSON_ARRAY)
        return bad(err, "'messages' must be an array");
    size_t idx = 0;
    int end = cmx_json_doc_next(doc, v);
    for (int m = v + 1; m < end; m = cmx_json_doc_next(doc, m), idx++) {
        if (cmx_json_doc_type(doc, m) != CMX_JSON_OBJECT)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "messages[%zu] must be an object", idx);
        int role = cmx_json_doc_member(doc, m, CMX_LIT("role"), NULL);
        if (role < 0)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "messages[%zu] has no 'role'", idx);
        if (cmx_json_doc_type(doc, role) != CMX_JSON_STRING)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "messages[%zu].role must be a string",
                                 idx);
    }
    if (idx == 0)
        return bad(err, "'messages' must contain at least one message");
    out->n_messages = idx;
    return CMX_OK;
}

static cmx_err check_input(const cmx_json_doc *doc, int v, cmx_error *err)
{
    if (v < 0)
        return bad(err, "missing required field 'input'");
    cmx_json_type t = cmx_json_doc_type(doc, v);
    if (t != CMX_JSON_STRING && t != CMX_JSON_ARRAY)
        return bad(err, "'input' must be a string or an array");
    if (t == CMX_JSON_ARRAY && cmx_json_doc_next(doc, v) == v + 1)
        return bad(err, "'input' must not be empty");
    return CMX_OK;
}

/* null is accepted wherever OpenAI's schema says "or null": it means unset. */
static cmx_err read_stream(const cmx_json_doc *doc, const fields *f, cmx_request_scan *out,
                           cmx_error *err)
{
    if (f->stream >= 0) {
        cmx_json_type t = cmx_json_doc_type(doc, f->stream);
        if (t != CMX_JSON_TRUE && t != CMX_JSON_FALSE && t != CMX_JSON_NULL)
            return bad(err, "'stream' must be a boolean");
        out->stream = t == CMX_JSON_TRUE;
    }
    if (f->stream_options >= 0) {
        int so = f->stream_options;
        cmx_json_type t = cmx_json_doc_type(doc, so);
        if (t != CMX_JSON_OBJECT && t != CMX_JSON_NULL)
            return bad(err, "'stream_options' must be an object");
        out->stream_options = cmx_json_doc_span(doc, so);
        if (t == CMX_JSON_OBJECT) {
            int iu = cmx_json_doc_member(doc, so, CMX_LIT("include_usage"), NULL);
            if (iu >= 0) {
                cmx_json_type it = cmx_json_doc_type(doc, iu);
                if (it != CMX_JSON_TRUE && it != CMX_JSON_FALSE && it != CMX_JSON_NULL)
                    return bad(err, "'stream_options.include_usage' must be a boolean");
                out->include_usage = it == CMX_JSON_TRUE;
            }
        }
    }
    return CMX_OK;
}

static cmx_err scan_parsed(cmx_api api, const cmx_json_doc *doc, cmx_request_scan *out,
                           cmx_error *err)
{
    if (cmx_json_doc_type(doc, 0) != CMX_JSON_OBJECT)
        return bad(err, "request body must be a JSON object");
    out->body = cmx_json_doc_span(doc, 0);
    fields f;
    cmx_err rc = find_fields(doc, &f, err);
    if (rc == CMX_OK)
        rc = cmx_json_doc_read_model(doc, f.model, out, err);
    if (rc != CMX_OK)
        return rc;
    if (api == CMX_API_EMBEDDINGS)
        return check_input(doc, f.input, err); /* embeddings do not stream */
    rc = check_messages(doc, f.messages, out, err);
    if (rc == CMX_OK)
        rc = read_stream(doc, &f, out, err);
    return rc;
}

/* The tokens stay with the request (those that spilled to the arena are
 * there already; the inline ones are copied), so a translator need not
 * tokenize the body again.  Out of memory only means they are not kept. */
static void keep_tokens(const cmx_json_doc *doc, cmx_arena *arena, cmx_request_scan *out)
{
    const cmx_json_tok *tok = doc->tok;
    if (tok == doc->inline_tok) {
        cmx_json_tok *copy = cmx_arena_alloc(arena, sizeof *tok * (size_t)doc->n);
        if (!copy)
            return;
        memcpy(copy, tok, sizeof *tok * (size_t)doc->n);
        tok = copy;
    }
    out->tokens = tok;
    out->n_tokens = doc->n;
    out->scanned = doc->bytes;
    out->scanned_len = doc->len;
}

cmx_err cmx_json_scan_request(cmx_api api, const char *body, size_t len, cmx_arena *arena,
                              cmx_request_scan *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    cmx_json_doc doc;
    cmx_err rc = cmx_json_doc_parse(&doc, body, len, arena, err);
    if (rc == CMX_OK)
        rc = scan_parsed(api, &doc, out, err);
    if (rc == CMX_OK && arena)
        keep_tokens(&doc, arena, out);
    cmx_json_doc_release(&doc);
    return rc;
}

cmx_err cmx_json_validate(const char *bytes, size_t len, cmx_arena *arena, cmx_error *err)
{
    cmx_json_doc doc;
    cmx_err rc = cmx_json_doc_parse(&doc, bytes, len, arena, err);
    cmx_json_doc_release(&doc);
    return rc;
}

/* Bytes `value` takes inside a JSON string, escaped as cmx_buf's escaper
 * does: short forms for '"', '\\', \n, \r, \t and \u00XX for other controls. */
static size_t escaped_len(const char *value, size_t n)
{
    size_t out = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
            out += 1;
        else if (c < 0x20)
            out += 5;
    }
    return out;
}

static char *put_escaped(char *o, const char *value, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(o, CMX_LIT("\\u00"));
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            } else {
                *o++ = (char)c;
            }
        }
    }
    return o;
}

char *cmx_json_splice_string(cmx_arena *arena, const char *body, size_t len, cmx_json_span span,
                             const char *value, size_t *out_len)
{
    if (span.start > span.end || span.end > len || !value)
        return NULL;
    size_t vlen = strlen(value);
    size_t esc = escaped_len(value, vlen);
    size_t total = len - (span.end - span.start) + esc + 2;
    char *out = cmx_arena_alloc(arena, total + 1);
    if (!out)
        return NULL;
    char *o = out;
    memcpy(o, body, span.start);
    o += span.start;
    *o++ = '"';
    o = esc == vlen ? (char *)memcpy(o, value, vlen) + vlen : put_escaped(o, value, vlen);
    *o++ = '"';
    memcpy(o, body + span.end, len - span.end);
    out[total] = '\0';
    if (out_len)
        *out_len = total;
    return out;
}
