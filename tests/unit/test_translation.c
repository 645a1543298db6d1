/* test_translation.c — the data-driven translation tests of every provider.
 *
 * A case is a folder tests/data/<provider>/<case>/ holding pairs of files,
 * each pair one direction of the translation:
 *
 *   canonical_request.json  → expected_provider_request.json
 *                             (or expected_error.json: {"kind","message"},
 *                              the message being a substring)
 *   provider_response.json  → expected_canonical_response.json
 *   provider_stream.txt     → expected_canonical_stream.txt
 *
 * A provider whose stream is binary writes provider_stream.txt as text its
 * entry below turns into the wire form first: for bedrock one event-stream
 * message a line, "<message-type> <event or exception type> <JSON payload>",
 * encoded with cmx_eventstream_encode and fed to the decoder in small pieces.
 * For bedrock_invoke a line is "event chunk <Anthropic event JSON>" (the JSON
 * goes out base64'd inside {"bytes"}, as InvokeModelWithResponseStream
 * sends it) or an exception line as for bedrock.
 *
 * plus an optional options.json (provider name, target model, defaults).
 * The expected stream is one chunk JSON per line, then "[DONE]" when the
 * stream completed, "[INCOMPLETE]" when it ended without its end marker, or
 * "[ERROR] <kind>: <message substring>" when the translator stopped it.
 * JSON is compared by value (jansson's json_equal), with the volatile
 * `created` removed.  Adding a case is adding files; adding a provider is one
 * entry in `translators` below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic.h"
#include "providers/bedrock.h"
#include "providers/bedrock_invoke.h"
#include "providers/eventstream.h"
#include "providers/vertex.h"

/* ---- the registry ----------------------------------------------------- */

typedef struct translator {
    const char *provider;
    cmx_err (*request)(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                       cmx_error *err);
    cmx_err (*response)(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                        cmx_error *err);
    /* Appends one line per chunk, then the end marker (see the top). */
    void (*stream)(const char *sse, size_t len, const json_t *opt, cmx_buf *out);
} translator;

static cmx_err anthropic_request(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                                 cmx_error *err)
{
    const json_t *max = json_object_get(opt, "default_max_tokens");
    cmx_anthropic_options o = {
        .provider_name = json_string_value(json_object_get(opt, "provider_name")),
        .model = json_string_value(json_object_get(opt, "model")),
        .default_max_tokens = json_is_integer(max) ? (uint32_t)json_integer_value(max) : 0,
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    if (!o.provider_name)
        o.provider_name = "claude";
    return cmx_anthropic_translate_request(body, len, &o, out, err);
}

static cmx_err anthropic_response(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                                  cmx_error *err)
{
    cmx_usage u;
    cmx_err e = cmx_anthropic_translate_response(body, len, 1700000000, out, &u, err);
    /* The usage reported to the sink must agree with the one in the answer. */
    if (e == CMX_OK) {
        json_t *doc = json_loadb(out->data, out->len, 0, NULL);
        json_t *usage = json_object_get(doc, "usage");
        assert_int_equal(u.prompt_tokens,
                         json_integer_value(json_object_get(usage, "prompt_tokens")));
        assert_int_equal(u.completion_tokens,
                         json_integer_value(json_object_get(usage, "completion_tokens")));
        json_decref(doc);
    }
    return e;
}

typedef struct stream_run {
    cmx_anthropic_stream tr;
    cmx_buf *out;
    cmx_error err;
    int failed;
} stream_run;

static void collect_line(void *ctx, const char *json, size_t len)
{
    stream_run *r = ctx;
    cmx_buf_append(r->out, json, len);
    cmx_buf_append(r->out, "\n", 1);
}

static int feed_event(void *ctx, const cmx_sse_event *ev)
{
    stream_run *r = ctx;
    if (cmx_anthropic_stream_event(&r->tr, ev->event, ev->event_len, ev->data, ev->data_len,
                                   &r->err) != CMX_OK) {
        r->failed = 1;
        return 1;
    }
    return 0;
}

static void anthropic_stream(const char *sse, size_t len, const json_t *opt, cmx_buf *out)
{
    stream_run r = {.out = out};
    cmx_error_clear(&r.err);
    cmx_anthropic_stream_init(&r.tr, json_is_true(json_object_get(opt, "include_usage")),
                              1700000000, collect_line, &r);
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, feed_event, &r);
    cmx_sse_feed(&p, sse, len);
    cmx_sse_parser_free(&p);
    if (r.failed)
        cmx_buf_printf(out, "[ERROR] %s: %s\n", cmx_err_name(r.err.kind), r.err.message);
    else
        cmx_buf_append_str(out, r.tr.stopped ? "[DONE]\n" : "[INCOMPLETE]\n");
    cmx_anthropic_stream_free(&r.tr);
}

/* ---- bedrock ---------------------------------------------------------- */

static cmx_err bedrock_request(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                               cmx_error *err)
{
    cmx_bedrock_options o = {
        .provider_name = json_string_value(json_object_get(opt, "provider_name")),
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    if (!o.provider_name)
        o.provider_name = "aws";
    return cmx_bedrock_translate_request(body, len, &o, out, err);
}

static const char *opt_string(const json_t *opt, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(opt, key));
    return v ? v : dflt;
}

static cmx_err bedrock_response(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                                cmx_error *err)
{
    cmx_usage u;
    cmx_err e = cmx_bedrock_translate_response(
        body, len, opt_string(opt, "id", "chatcmpl-test"),
        opt_string(opt, "model", "anthropic.claude-3-haiku-20240307-v1:0"), 1700000000, out, &u,
        err);
    if (e == CMX_OK) {
        json_t *doc = json_loadb(out->data, out->len, 0, NULL);
        json_t *usage = json_object_get(doc, "usage");
        assert_int_equal(u.prompt_tokens,
                         json_integer_value(json_object_get(usage, "prompt_tokens")));
        assert_int_equal(u.completion_tokens,
                         json_integer_value(json_object_get(usage, "completion_tokens")));
        json_decref(doc);
    }
    return e;
}

typedef struct bedrock_run {
    cmx_bedrock_stream tr;
    cmx_buf *out;
} bedrock_run;

static void bedrock_collect(void *ctx, const char *json, size_t len)
{
    bedrock_run *r = ctx;
    cmx_buf_append(r->out, json, len);
    cmx_buf_append(r->out, "\n", 1);
}

static cmx_err bedrock_feed_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    bedrock_run *r = ctx;
    return cmx_bedrock_stream_message(&r->tr, msg, err);
}

/* One text line as one event-stream message (see the top). */
static void bedrock_encode_line(const char *line, size_t len, cmx_buf *wire)
{
    const char *sp1 = memchr(line, ' ', len);
    assert_non_null(sp1);
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1));
    assert_non_null(sp2);
    cmx_eventstream_header h[3] = {
        {":message-type", 13, CMX_EVENTSTREAM_STRING, 0, line, (size_t)(sp1 - line)},
        {NULL, 0, CMX_EVENTSTREAM_STRING, 0, sp1 + 1, (size_t)(sp2 - sp1 - 1)},
        {":content-type", 13, CMX_EVENTSTREAM_STRING, 0, "application/json", 16},
    };
    int exception = (size_t)(sp1 - line) == 9 && memcmp(line, "exception", 9) == 0;
    h[1].name = exception ? ":exception-type" : ":event-type";
    h[1].name_len = strlen(h[1].name);
    cmx_error err;
    assert_int_equal(
        cmx_eventstream_encode(wire, h, 3, sp2 + 1, (size_t)(line + len - sp2 - 1), &err), CMX_OK);
}

static void bedrock_stream(const char *text, size_t len, const json_t *opt, cmx_buf *out)
{
    bedrock_run r = {.out = out};
    cmx_bedrock_stream_init(&r.tr, opt_string(opt, "id", "chatcmpl-test"),
                            opt_string(opt, "model", "anthropic.claude-3-haiku-20240307-v1:0"),
                            json_is_true(json_object_get(opt, "include_usage")), 1700000000,
                            bedrock_collect, &r);
    cmx_buf wire = CMX_BUF_INIT;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l && p[0] != '#')
            bedrock_encode_line(p, l, &wire);
        p += l + 1;
    }
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, bedrock_feed_message, &r);
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = CMX_OK;
    /* small pieces: messages cut anywhere must decode the same */
    for (size_t off = 0; off < wire.len && rc == CMX_OK; off += 7)
        rc = cmx_eventstream_feed(&d, wire.data + off, wire.len - off < 7 ? wire.len - off : 7,
                                  &err);
    if (rc != CMX_OK) {
        cmx_buf_printf(out, "[ERROR] %s: %s\n", cmx_err_name(rc), err.message);
    } else {
        assert_int_equal(cmx_bedrock_stream_finish(&r.tr, &err), CMX_OK);
        cmx_buf_append_str(out, r.tr.stopped ? "[DONE]\n" : "[INCOMPLETE]\n");
    }
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&wire);
    cmx_bedrock_stream_free(&r.tr);
}

/* ---- vertex ----------------------------------------------------------- */

static cmx_err vertex_request(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                              cmx_error *err)
{
    cmx_vertex_options o = {
        .provider_name = json_string_value(json_object_get(opt, "provider_name")),
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    if (!o.provider_name)
        o.provider_name = "gemini";
    return cmx_vertex_translate_request(body, len, &o, out, err);
}

static const char *vertex_model(const json_t *opt)
{
    const char *m = json_string_value(json_object_get(opt, "model"));
    return m ? m : "gemini-2.5-flash";
}

/* A refusal is an error, not an answer: it is written as the answer
 * {"error":{"kind","message"}} so a case can expect it. */
static cmx_err vertex_response(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                               cmx_error *err)
{
    cmx_usage u;
    cmx_err e =
        cmx_vertex_translate_response(body, len, 1700000000, vertex_model(opt), out, &u, err);
    if (e == CMX_ERR_CONTENT_POLICY) {
        json_t *j = json_pack("{s:{s:s,s:s,s:i}}", "error", "kind", cmx_err_name(e), "message",
                              err->message, "status", err->status);
        char *s = json_dumps(j, JSON_COMPACT);
        cmx_buf_append_str(out, s);
        free(s);
        json_decref(j);
        return CMX_OK;
    }
    if (e == CMX_OK) {
        json_t *doc = json_loadb(out->data, out->len, 0, NULL);
        json_t *usage = json_object_get(doc, "usage");
        assert_int_equal(u.prompt_tokens,
                         json_integer_value(json_object_get(usage, "prompt_tokens")));
        assert_int_equal(u.completion_tokens,
                         json_integer_value(json_object_get(usage, "completion_tokens")));
        json_decref(doc);
    }
    return e;
}

typedef struct vertex_run {
    cmx_vertex_stream tr;
    cmx_buf *out;
    cmx_error err;
    int failed;
} vertex_run;

static void vertex_collect(void *ctx, const char *json, size_t len)
{
    vertex_run *r = ctx;
    cmx_buf_append(r->out, json, len);
    cmx_buf_append(r->out, "\n", 1);
}

static int vertex_feed(void *ctx, const cmx_sse_event *ev)
{
    vertex_run *r = ctx;
    if (cmx_vertex_stream_event(&r->tr, ev->data, ev->data_len, &r->err) != CMX_OK) {
        r->failed = 1;
        return 1;
    }
    return 0;
}

/* The end of the input is the end of the upstream stream: [DONE] when the
 * translator accepts it as complete, [INCOMPLETE] when it finds it cut. */
static void vertex_stream(const char *sse, size_t len, const json_t *opt, cmx_buf *out)
{
    vertex_run r = {.out = out};
    cmx_error_clear(&r.err);
    cmx_vertex_stream_init(&r.tr, json_is_true(json_object_get(opt, "include_usage")), 1700000000,
                           vertex_model(opt), vertex_collect, &r);
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, vertex_feed, &r);
    cmx_sse_feed(&p, sse, len);
    cmx_sse_parser_free(&p);
    if (r.failed)
        cmx_buf_printf(out, "[ERROR] %s: %s\n", cmx_err_name(r.err.kind), r.err.message);
    else if (cmx_vertex_stream_end(&r.tr, &r.err) == CMX_OK)
        cmx_buf_append_str(out, "[DONE]\n");
    else
        cmx_buf_append_str(out, "[INCOMPLETE]\n");
    cmx_vertex_stream_free(&r.tr);
}

static cmx_err vertex_embeddings_request(const char *body, size_t len, const json_t *opt,
                                         cmx_buf *out, cmx_error *err)
{
    cmx_vertex_options o = {
        .provider_name = "gemini",
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    int base64;
    return cmx_vertex_translate_embeddings_request(body, len, &o, out, &base64, err);
}

static cmx_err vertex_embeddings_response(const char *body, size_t len, const json_t *opt,
                                          cmx_buf *out, cmx_error *err)
{
    cmx_usage u;
    cmx_err e = cmx_vertex_translate_embeddings_response(
        body, len, "text-embedding-005", json_is_true(json_object_get(opt, "base64")), out, &u,
        err);
    if (e == CMX_OK) {
        json_t *doc = json_loadb(out->data, out->len, 0, NULL);
        assert_int_equal(u.prompt_tokens, json_integer_value(json_object_get(
                                              json_object_get(doc, "usage"), "prompt_tokens")));
        json_decref(doc);
    }
    return e;
}

/* Claude on Vertex: the request only; answers are Anthropic's own. */
static cmx_err vertex_claude_request(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                                     cmx_error *err)
{
    cmx_vertex_options o = {
        .provider_name = "claude-vertex",
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    return cmx_vertex_claude_request(body, len, &o, 4096, out, err);
}

/* ---- bedrock InvokeModel: Claude's Messages bodies, embeddings --------- */

static cmx_err bedrock_invoke_request(const char *body, size_t len, const json_t *opt, cmx_buf *out,
                                      cmx_error *err)
{
    cmx_bedrock_options o = {
        .provider_name = opt_string(opt, "provider_name", "aws"),
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    return cmx_bedrock_invoke_request(body, len, &o, 0, out, err);
}

static cmx_err bedrock_invoke_response(const char *body, size_t len, const json_t *opt,
                                       cmx_buf *out, cmx_error *err)
{
    (void)opt;
    cmx_usage u;
    return cmx_anthropic_translate_response(body, len, 1700000000, out, &u, err);
}

typedef struct invoke_run {
    cmx_anthropic_stream tr;
    cmx_buf *out;
} invoke_run;

static void invoke_collect(void *ctx, const char *json, size_t len)
{
    invoke_run *r = ctx;
    cmx_buf_append(r->out, json, len);
    cmx_buf_append(r->out, "\n", 1);
}

static cmx_err invoke_feed_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    invoke_run *r = ctx;
    return cmx_bedrock_invoke_stream_message(&r->tr, msg, err);
}

static void append_base64(cmx_buf *out, const char *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63],
                     i + 1 < len ? abc[(v >> 6) & 63] : '=', i + 2 < len ? abc[v & 63] : '='};
        cmx_buf_append(out, q, 4);
    }
}

static void bedrock_invoke_stream(const char *text, size_t len, const json_t *opt, cmx_buf *out)
{
    invoke_run r = {.out = out};
    cmx_anthropic_stream_init(&r.tr, json_is_true(json_object_get(opt, "include_usage")),
                              1700000000, invoke_collect, &r);
    cmx_buf wire = CMX_BUF_INIT, line = CMX_BUF_INIT;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > 12 && memcmp(p, "event chunk ", 12) == 0) {
            cmx_buf_reset(&line);
            cmx_buf_append_str(&line, "event chunk {\"bytes\":\"");
            append_base64(&line, p + 12, l - 12);
            cmx_buf_append_str(&line, "\"}");
            bedrock_encode_line(line.data, line.len, &wire);
        } else if (l && p[0] != '#') {
            bedrock_encode_line(p, l, &wire);
        }
        p += l + 1;
    }
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, invoke_feed_message, &r);
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = CMX_OK;
    for (size_t off = 0; off < wire.len && rc == CMX_OK; off += 7)
        rc = cmx_eventstream_feed(&d, wire.data + off, wire.len - off < 7 ? wire.len - off : 7,
                                  &err);
    if (rc != CMX_OK)
        cmx_buf_printf(out, "[ERROR] %s: %s\n", cmx_err_name(rc), err.message);
    else
        cmx_buf_append_str(out, r.tr.stopped ? "[DONE]\n" : "[INCOMPLETE]\n");
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&wire);
    cmx_buf_free(&line);
    cmx_anthropic_stream_free(&r.tr);
}

/* options.json names the model ("model"), which picks Titan or Cohere. */
static cmx_err bedrock_embeddings_request(const char *body, size_t len, const json_t *opt,
                                          cmx_buf *out, cmx_error *err)
{
    cmx_bedrock_options o = {
        .provider_name = "aws",
        .drop_unsupported = json_is_true(json_object_get(opt, "drop_unsupported_params")),
    };
    int base64;
    cmx_bedrock_embed_family f =
        cmx_bedrock_embed_family_of(opt_string(opt, "model", "amazon.titan-embed-text-v2:0"));
    return cmx_bedrock_embed_request(f, body, len, &o, out, &base64, err);
}

static cmx_err bedrock_embeddings_response(const char *body, size_t len, const json_t *opt,
                                           cmx_buf *out, cmx_error *err)
{
    const char *model = opt_string(opt, "model", "amazon.titan-embed-text-v2:0");
    const json_t *tokens = json_object_get(opt, "header_tokens");
    cmx_usage u;
    cmx_err e = cmx_bedrock_embed_response(
        cmx_bedrock_embed_family_of(model), body, len, model,
        json_is_true(json_object_get(opt, "base64")),
        json_is_integer(tokens) ? json_integer_value(tokens) : -1, out, &u, err);
    if (e == CMX_OK) {
        json_t *doc = json_loadb(out->data, out->len, 0, NULL);
        assert_int_equal(u.prompt_tokens, json_integer_value(json_object_get(
                                              json_object_get(doc, "usage"), "prompt_tokens")));
        json_decref(doc);
    }
    return e;
}

static const translator translators[] = {
    {"anthropic", anthropic_request, anthropic_response, anthropic_stream},
    {"bedrock", bedrock_request, bedrock_response, bedrock_stream},
    {"vertex", vertex_request, vertex_response, vertex_stream},
    {"vertex_embeddings", vertex_embeddings_request, vertex_embeddings_response, NULL},
    {"vertex_claude", vertex_claude_request, NULL, NULL},
    {"bedrock_invoke", bedrock_invoke_request, bedrock_invoke_response, bedrock_invoke_stream},
    {"bedrock_embeddings", bedrock_embeddings_request, bedrock_embeddings_response, NULL},
};

/* ---- files and comparison --------------------------------------------- */

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    cmx_buf b = CMX_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        cmx_buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

static json_t *load_json(const char *dir, const char *name)
{
    json_error_t e;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s: %s (line %d)", path, e.text, e.line);
    return j;
}

static void drop_volatile(json_t *j)
{
    if (json_is_object(j))
        json_object_del(j, "created");
}

/* Takes both references. */
static void assert_json_equal(json_t *expected, json_t *actual, const char *what)
{
    drop_volatile(expected);
    drop_volatile(actual);
    int same = json_equal(expected, actual);
    if (!same) {
        char *e = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *a = json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("%s differs\nexpected: %s\nactual:   %s\n", what, e, a);
        free(e);
        free(a);
    }
    json_decref(expected);
    json_decref(actual);
    if (!same)
        fail();
}

typedef struct test_case {
    const translator *tr;
    char dir[1024];
    char name[256];
} test_case;

static int has_file(const char *dir, const char *name)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

static void check_request(const test_case *tc, const json_t *opt)
{
    size_t len;
    char *body = read_file(tc->dir, "canonical_request.json", &len);
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = tc->tr->request(body, len, opt, &out, &err);
    if (has_file(tc->dir, "expected_error.json")) {
        json_t *exp = load_json(tc->dir, "expected_error.json");
        const char *kind = json_string_value(json_object_get(exp, "kind"));
        const char *msg = json_string_value(json_object_get(exp, "message"));
        if (rc == CMX_OK)
            fail_msg("%s: expected error %s, got a request: %s", tc->name, kind, out.data);
        assert_string_equal(cmx_err_name(rc), kind);
        if (msg && !strstr(err.message, msg))
            fail_msg("%s: error message '%s' does not contain '%s'", tc->name, err.message, msg);
        json_decref(exp);
    } else {
        if (rc != CMX_OK)
            fail_msg("%s: request translation failed: %s", tc->name, err.message);
        json_t *actual = json_loadb(out.data, out.len, 0, NULL);
        assert_non_null(actual);
        assert_json_equal(load_json(tc->dir, "expected_provider_request.json"), actual,
                          "provider request");
    }
    cmx_buf_free(&out);
    free(body);
}

static void check_response(const test_case *tc, const json_t *opt)
{
    size_t len;
    char *body = read_file(tc->dir, "provider_response.json", &len);
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    if (tc->tr->response(body, len, opt, &out, &err) != CMX_OK)
        fail_msg("%s: response translation failed: %s", tc->name, err.message);
    json_t *actual = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(actual);
    assert_json_equal(load_json(tc->dir, "expected_canonical_response.json"), actual,
                      "canonical response");
    cmx_buf_free(&out);
    free(body);
}

/* Compares one line of each stream transcript. */
static void compare_stream_line(const test_case *tc, size_t line, const char *exp, size_t elen,
                                const char *act, size_t alen)
{
    if (elen > 0 && exp[0] == '[') {
        /* a marker: "[ERROR] kind: text" compares kind exactly, text as a substring */
        const char *colon = memchr(exp, ':', elen);
        size_t head = colon ? (size_t)(colon - exp) : elen;
        if (alen < head || memcmp(exp, act, head) != 0 ||
            (colon && !memmem(act, alen, colon + 2, elen - head - 2)))
            fail_msg("%s: stream line %zu: expected '%.*s', got '%.*s'", tc->name, line, (int)elen,
                     exp, (int)alen, act);
        return;
    }
    json_t *e = json_loadb(exp, elen, 0, NULL);
    json_t *a = json_loadb(act, alen, 0, NULL);
    if (!e)
        fail_msg("%s: expected stream line %zu is not JSON", tc->name, line);
    if (!a)
        fail_msg("%s: stream line %zu is not JSON: %.*s", tc->name, line, (int)alen, act);
    char what[64];
    snprintf(what, sizeof what, "stream line %zu", line);
    assert_json_equal(e, a, what);
}

static const char *next_line(const char *p, const char *end, size_t *len)
{
    while (p < end && (*p == '\n' || *p == '\r'))
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    *len = (size_t)(stop - p);
    while (*len && p[*len - 1] == '\r')
        (*len)--;
    return p;
}

static void check_stream(const test_case *tc, const json_t *opt)
{
    size_t len, elen;
    char *sse = read_file(tc->dir, "provider_stream.txt", &len);
    char *exp = read_file(tc->dir, "expected_canonical_stream.txt", &elen);
    cmx_buf out = CMX_BUF_INIT;
    tc->tr->stream(sse, len, opt, &out);
    const char *e = exp, *eend = exp + elen, *a = out.data, *aend = out.data + out.len;
    for (size_t line = 1;; line++) {
        size_t el, al;
        e = next_line(e, eend, &el);
        a = next_line(a, aend, &al);
        if (el == 0 && al == 0)
            break;
        if (el == 0 || al == 0)
            fail_msg("%s: stream line %zu: expected '%.*s', got '%.*s'", tc->name, line, (int)el, e,
                     (int)al, a);
        compare_stream_line(tc, line, e, el, a, al);
        e += el;
        a += al;
    }
    cmx_buf_free(&out);
    free(sse);
    free(exp);
}

static void run_case(void **state)
{
    const test_case *tc = *state;
    json_t *opt = has_file(tc->dir, "options.json") ? load_json(tc->dir, "options.json") : NULL;
    int directions = 0;
    if (has_file(tc->dir, "canonical_request.json")) {
        check_request(tc, opt);
        directions++;
    }
    if (has_file(tc->dir, "provider_response.json")) {
        check_response(tc, opt);
        directions++;
    }
    if (has_file(tc->dir, "provider_stream.txt")) {
        check_stream(tc, opt);
        directions++;
    }
    if (!directions) /* a case folder with no known file is a mistake, not a pass */
        fail_msg("%s: no canonical_request.json, provider_response.json or provider_stream.txt",
                 tc->name);
    json_decref(opt);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const test_case *)a)->name, ((const test_case *)b)->name);
}

/* Every case folder of every registered provider. */
static test_case *find_cases(const char *root, size_t *n)
{
    test_case *cases = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t t = 0; t < sizeof translators / sizeof translators[0]; t++) {
        char pdir[768];
        snprintf(pdir, sizeof pdir, "%.600s/tests/data/%s", root, translators[t].provider);
        DIR *d = opendir(pdir);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 32;
                cases = realloc(cases, cap * sizeof *cases);
            }
            test_case *tc = &cases[*n];
            snprintf(tc->dir, sizeof tc->dir, "%s/%.200s", pdir, de->d_name);
            struct stat st;
            if (stat(tc->dir, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            tc->tr = &translators[t];
            snprintf(tc->name, sizeof tc->name, "%s/%.200s", translators[t].provider, de->d_name);
            (*n)++;
        }
        closedir(d);
    }
    if (*n)
        qsort(cases, *n, sizeof *cases, by_name);
    return cases;
}

static size_t anthropic_cases, bedrock_cases, vertex_cases;

/* The walk must find the cases: a wrong path would otherwise pass as zero tests. */
static void finds_the_anthropic_cases(void **state)
{
    (void)state;
    assert_true(anthropic_cases >= 10);
}

static void finds_the_bedrock_cases(void **state)
{
    (void)state;
    assert_true(bedrock_cases >= 10);
}

static void finds_the_vertex_cases(void **state)
{
    (void)state;
    assert_true(vertex_cases >= 10);
}

int main(void)
{
    const char *root = getenv("CMX_SOURCE_DIR");
    if (!root)
        root = ".";
    size_t n;
    test_case *cases = find_cases(root, &n);
    struct CMUnitTest *tests = calloc(n + 3, sizeof *tests);
    tests[0] = (struct CMUnitTest)cmocka_unit_test(finds_the_anthropic_cases);
    tests[1] = (struct CMUnitTest)cmocka_unit_test(finds_the_bedrock_cases);
    tests[2] = (struct CMUnitTest)cmocka_unit_test(finds_the_vertex_cases);
    for (size_t i = 0; i < n; i++) {
        if (cases[i].tr == &translators[0])
            anthropic_cases++;
        if (cases[i].tr == &translators[1])
            bedrock_cases++;
        if (cases[i].tr == &translators[2])
            vertex_cases++;
        tests[i + 3] = (struct CMUnitTest){
            .name = cases[i].name, .test_func = run_case, .initial_state = &cases[i]};
    }
    int rc = _cmocka_run_group_tests("translation", tests, n + 3, NULL, NULL);
    free(tests);
    free(cases);
    return rc;
}
