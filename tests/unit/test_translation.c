/* test_translation.c — the data-driven tests of every translator.
 *
 * Every registered translator (translator.h: the providers' own lists) has
 * a folder tests/data/<name>/ of cases, and this file drives each through
 * the one translator interface, knowing none of them by name.  A case is a
 * folder holding pairs of files, each pair one direction:
 *
 *   canonical_request.json  → expected_provider_request.json
 *                             (or expected_error.json: {"kind","message"},
 *                              the message being a substring)
 *   provider_response.json  → expected_canonical_response.json
 *                             (a refused answer is written as
 *                              {"error":{"kind","message","status"}})
 *   provider_stream.txt     → expected_canonical_stream.txt
 *
 * A case may also hold expected_usage.json: the counts the translator
 * reports to the gateway for its answer or stream (the ones the cost is
 * computed from, some of which no answer shows, like
 * cache_write_1h_tokens), compared key by key.
 *
 * A case's request and response go through one translator, in that order,
 * as in an attempt (so what the request said, like encoding_format, holds
 * for the answer).  options.json sets the translator's parameters over the
 * folder's defaults.json: provider_name, model, id, include_usage,
 * drop_unsupported_params, default_max_tokens, the portable settings
 * structured_output and reasoning (their config.h numbers), reasoning_budgets
 * ({"high": tokens, ...}) and cache_prompt (CMX_CACHE_PROMPT_* bits),
 * response_headers (an object of headers the answer came with) and
 * anthropic_beta (the client's anthropic-beta header, for the translators
 * that pass Anthropic's Messages API on).
 *
 * A stream is fed in small pieces, as its framing arrives: an SSE stream
 * (text/event-stream) as the file's bytes; an AWS event-stream as one
 * message a line, "<message-type> <event or exception type> <payload>",
 * encoded with cmx_eventstream_encode — a payload written "bytes:<JSON>" is
 * sent as {"bytes": base64(JSON)}, as InvokeModelWithResponseStream wraps
 * its events.  The expected stream is one chunk JSON per line, then
 * "[DONE]" when the translator found the stream complete, "[INCOMPLETE]"
 * when it ended without its end marker, or "[ERROR] <kind>: <message
 * substring>" when the translator stopped it.  JSON is compared by value
 * (jansson's json_equal), with the volatile `created` removed.
 *
 * Adding a case is adding files; adding a translator is registering it with
 * its provider and adding its folder, which must hold at least
 * MIN_CASES cases: a renamed or missing folder fails, never passes as zero
 * tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "helpers/case_files.h"
#include "providers/eventstream.h"
#include "providers/translator.h"

#define MIN_CASES 3
#define CREATED 1700000000

/* ---- files and comparison --------------------------------------------- */

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
    int differs = cmx_case_json_differs(expected, actual, what);
    json_decref(expected);
    json_decref(actual);
    if (differs)
        fail();
}

/* ---- one case ----------------------------------------------------------- */

typedef struct test_case {
    const cmx_translator_ops *ops;
    char dir[1024];
    char name[256];
} test_case;

typedef struct run {
    cmx_translator tr;
    json_t *opt; /* the folder's defaults with the case's options over them */
    cmx_buf chunks;
    uint32_t budgets[CMX_REASONING_LEVELS];
} run;

static void collect_chunk(void *ctx, const char *json, size_t len)
{
    run *r = ctx;
    cmx_buf_append(&r->chunks, json, len);
    cmx_buf_append(&r->chunks, CMX_LIT("\n"));
}

static const char *opt_string(const json_t *opt, const char *key)
{
    return json_string_value(json_object_get(opt, key));
}

static void open_run(run *r, const test_case *tc)
{
    char folder[1100];
    snprintf(folder, sizeof folder, "%s/..", tc->dir);
    r->opt =
        cmx_case_has(folder, "defaults.json") ? load_json(folder, "defaults.json") : json_object();
    if (cmx_case_has(tc->dir, "options.json")) {
        json_t *own = load_json(tc->dir, "options.json");
        json_object_update(r->opt, own);
        json_decref(own);
    }
    r->chunks = (cmx_buf)CMX_BUF_INIT;
    const json_t *max = json_object_get(r->opt, "default_max_tokens");
    static const char *const levels[CMX_REASONING_LEVELS] = {CMX_REASONING_LEVEL_NAMES};
    for (int i = 0; i < CMX_REASONING_LEVELS; i++)
        r->budgets[i] = (uint32_t)json_integer_value(
            json_object_get(json_object_get(r->opt, "reasoning_budgets"), levels[i]));
    cmx_translate_params p = {
        .provider_name = opt_string(r->opt, "provider_name"),
        .model = opt_string(r->opt, "model"),
        .id = opt_string(r->opt, "id"),
        .created = CREATED,
        .include_usage = json_is_true(json_object_get(r->opt, "include_usage")),
        .drop_unsupported = json_is_true(json_object_get(r->opt, "drop_unsupported_params")),
        .default_max_tokens = json_is_integer(max) ? (uint32_t)json_integer_value(max) : 0,
        .structured_output = (int)json_integer_value(json_object_get(r->opt, "structured_output")),
        .reasoning = (int)json_integer_value(json_object_get(r->opt, "reasoning")),
        .reasoning_budgets = r->budgets,
        .cache_prompt = (unsigned)json_integer_value(json_object_get(r->opt, "cache_prompt")),
        .emit = collect_chunk,
        .emit_ctx = r,
    };
    cmx_error err;
    if (cmx_translator_open(&r->tr, tc->ops, NULL, &p, &err) != CMX_OK)
        fail_msg("%s: the translator refused its parameters: %s", tc->name, err.message);
}

static void close_run(run *r)
{
    cmx_translator_close(&r->tr);
    free(r->tr.state);
    cmx_buf_free(&r->chunks);
    json_decref(r->opt);
}

static void check_request(const test_case *tc, run *r)
{
    size_t len;
    char *body = cmx_case_read(tc->dir, "canonical_request.json", &len);
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_translate_input in = {body, len, NULL, NULL, opt_string(r->opt, "anthropic_beta")};
    cmx_err rc = tc->ops->write_request(r->tr.state, &in, &out, &err);
    if (cmx_case_has(tc->dir, "expected_error.json")) {
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

/* The headers options.json says the answer came with. */
static void give_headers(const test_case *tc, run *r)
{
    const char *name;
    const json_t *value;
    json_object_foreach(json_object_get(r->opt, "response_headers"), name, value)
    {
        if (!tc->ops->header)
            fail_msg("%s: response_headers for a translator that reads none", tc->name);
        const char *v = json_string_value(value);
        cmx_http_header h = {cmx_slice_of(name), cmx_slice_of(v)};
        tc->ops->header(r->tr.state, &h);
    }
}

/* The usage reported to the sink must agree with the one in the answer:
 * chat's counts, or Anthropic's (whose prompt is its input with the cache
 * reads and writes). */
static void check_usage_agrees(const json_t *answer, const cmx_usage *u)
{
    const json_t *usage = json_object_get(answer, "usage");
    if (!usage)
        return;
    if (json_object_get(usage, "input_tokens")) {
        assert_int_equal(
            u->prompt_tokens,
            json_integer_value(json_object_get(usage, "input_tokens")) +
                json_integer_value(json_object_get(usage, "cache_read_input_tokens")) +
                json_integer_value(json_object_get(usage, "cache_creation_input_tokens")));
        assert_int_equal(u->cached_tokens,
                         json_integer_value(json_object_get(usage, "cache_read_input_tokens")));
        assert_int_equal(u->completion_tokens,
                         json_integer_value(json_object_get(usage, "output_tokens")));
        assert_int_equal(u->cache_write_tokens > 0 ? u->cache_write_tokens : 0,
                         json_integer_value(json_object_get(usage, "cache_creation_input_tokens")));
        return;
    }
    assert_int_equal(u->prompt_tokens, json_integer_value(json_object_get(usage, "prompt_tokens")));
    const json_t *completion = json_object_get(usage, "completion_tokens");
    if (completion)
        assert_int_equal(u->completion_tokens, json_integer_value(completion));
    /* cache writes are shown only when there were some */
    const json_t *written =
        json_object_get(json_object_get(usage, "prompt_tokens_details"), "cache_write_tokens");
    assert_int_equal(u->cache_write_tokens > 0 ? u->cache_write_tokens : 0,
                     written ? json_integer_value(written) : 0);
}

/* The counts of expected_usage.json, where the case has one. */
static void check_expected_usage(const test_case *tc, const cmx_usage *u)
{
    if (!cmx_case_has(tc->dir, "expected_usage.json"))
        return;
    json_t *exp = load_json(tc->dir, "expected_usage.json");
    const struct {
        const char *name;
        int64_t value;
    } counts[] = {
        {"prompt_tokens", u->prompt_tokens},
        {"completion_tokens", u->completion_tokens},
        {"cached_tokens", u->cached_tokens},
        {"cache_write_tokens", u->cache_write_tokens},
        {"cache_write_1h_tokens", u->cache_write_1h_tokens},
        {"reasoning_tokens", u->reasoning_tokens},
    };
    size_t checked = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const json_t *v = json_object_get(exp, counts[i].name);
        if (!v)
            continue;
        checked++;
        if (json_integer_value(v) != counts[i].value)
            fail_msg("%s: usage %s is %lld, expected %lld", tc->name, counts[i].name,
                     (long long)counts[i].value, (long long)json_integer_value(v));
    }
    if (checked != json_object_size(exp))
        fail_msg("%s: expected_usage.json names a count the test does not know", tc->name);
    json_decref(exp);
}

static void check_response(const test_case *tc, run *r)
{
    size_t len;
    char *body = cmx_case_read(tc->dir, "provider_response.json", &len);
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_usage u;
    cmx_usage_init(&u);
    give_headers(tc, r);
    json_t *actual;
    if (tc->ops->read_answer(r->tr.state, body, len, &out, &u, &err) == CMX_OK) {
        actual = json_loadb(out.data, out.len, 0, NULL);
        assert_non_null(actual);
        check_usage_agrees(actual, &u);
        check_expected_usage(tc, &u);
    } else {
        /* a refusal or a broken answer is an error; a case may expect it */
        actual = json_pack("{s:{s:s,s:s,s:i}}", "error", "kind", cmx_err_name(err.kind), "message",
                           err.message, "status", err.status);
    }
    assert_json_equal(load_json(tc->dir, "expected_canonical_response.json"), actual,
                      "canonical response");
    cmx_buf_free(&out);
    free(body);
}

static void append_base64(cmx_buf *out, const char *data, size_t len)
{
    cmx_buf_reserve(out, (len + 2) / 3 * 4 + 1);
    int n = EVP_EncodeBlock((unsigned char *)out->data + out->len, (const unsigned char *)data,
                            (int)len);
    out->len += (size_t)n;
}

/* One text line as one event-stream message (see the top). */
static void encode_line(const char *line, size_t len, cmx_buf *wire)
{
    const char *sp1 = memchr(line, ' ', len);
    assert_non_null(sp1);
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1));
    assert_non_null(sp2);
    const char *payload = sp2 + 1;
    size_t plen = (size_t)(line + len - payload);
    cmx_buf wrapped = CMX_BUF_INIT;
    if (plen > CMX_LIT_LEN("bytes:") && CMX_STARTS_WITH(payload, "bytes:")) {
        cmx_buf_append_str(&wrapped, "{\"bytes\":\"");
        append_base64(&wrapped, payload + CMX_LIT_LEN("bytes:"), plen - CMX_LIT_LEN("bytes:"));
        cmx_buf_append_str(&wrapped, "\"}");
        payload = wrapped.data;
        plen = wrapped.len;
    }
    cmx_eventstream_header h[3] = {
        {":message-type", CMX_LIT_LEN(":message-type"), CMX_EVENTSTREAM_STRING, 0, line,
         (size_t)(sp1 - line)},
        {NULL, 0, CMX_EVENTSTREAM_STRING, 0, sp1 + 1, (size_t)(sp2 - sp1 - 1)},
        {":content-type", CMX_LIT_LEN(":content-type"), CMX_EVENTSTREAM_STRING, 0,
         CMX_LIT("application/json")},
    };
    h[1].name =
        CMX_SPAN_IS(line, (size_t)(sp1 - line), "exception") ? ":exception-type" : ":event-type";
    h[1].name_len = strlen(h[1].name);
    cmx_error err;
    assert_int_equal(cmx_eventstream_encode(wire, h, 3, payload, plen, &err), CMX_OK);
    cmx_buf_free(&wrapped);
}

/* The stream's bytes on the wire, from the case's file. */
static void stream_wire(const test_case *tc, const char *text, size_t len, cmx_buf *wire)
{
    if (strcmp(tc->ops->stream_content_type, "text/event-stream") == 0) {
        cmx_buf_append(wire, text, len); /* SSE: the file is the wire */
        return;
    }
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l && p[0] != '#')
            encode_line(p, l, wire);
        p += l + 1;
    }
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

static void check_stream(const test_case *tc, run *r)
{
    if (!tc->ops->stream_content_type)
        fail_msg("%s: a stream case for a translator without streams", tc->name);
    size_t len, elen;
    char *text = cmx_case_read(tc->dir, "provider_stream.txt", &len);
    char *exp = cmx_case_read(tc->dir, "expected_canonical_stream.txt", &elen);
    cmx_buf wire = CMX_BUF_INIT;
    stream_wire(tc, text, len, &wire);
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = CMX_OK;
    /* small pieces: events cut anywhere must translate the same */
    for (size_t off = 0; off < wire.len && rc == CMX_OK; off += 7)
        rc = tc->ops->feed(r->tr.state, wire.data + off, wire.len - off < 7 ? wire.len - off : 7,
                           &err);
    cmx_buf *out = &r->chunks;
    if (rc != CMX_OK)
        cmx_buf_printf(out, "[ERROR] %s: %s\n", cmx_err_name(rc), err.message);
    else
        cmx_buf_append_str(out, tc->ops->end(r->tr.state, &err) == CMX_OK ? "[DONE]\n"
                                                                          : "[INCOMPLETE]\n");
    const char *e = exp, *eend = exp + elen, *a = out->data, *aend = out->data + out->len;
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
    if (tc->ops->usage) {
        cmx_usage u;
        tc->ops->usage(r->tr.state, &u);
        check_expected_usage(tc, &u);
    } else if (cmx_case_has(tc->dir, "expected_usage.json")) {
        fail_msg("%s: expected_usage.json for a translator that reports no stream usage", tc->name);
    }
    cmx_buf_free(&wire);
    free(text);
    free(exp);
}

static void run_case(void **state)
{
    const test_case *tc = *state;
    run r;
    open_run(&r, tc);
    int directions = 0;
    if (cmx_case_has(tc->dir, "canonical_request.json")) {
        check_request(tc, &r);
        directions++;
    }
    if (cmx_case_has(tc->dir, "provider_response.json")) {
        check_response(tc, &r);
        directions++;
    }
    if (cmx_case_has(tc->dir, "provider_stream.txt")) {
        check_stream(tc, &r);
        directions++;
    }
    close_run(&r);
    if (!directions) /* a case folder with no known file is a mistake, not a pass */
        fail_msg("%s: no canonical_request.json, provider_response.json or provider_stream.txt",
                 tc->name);
}

/* ---- the walk ----------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const test_case *)a)->name, ((const test_case *)b)->name);
}

typedef struct folder {
    const cmx_translator_ops *ops;
    size_t cases;
} folder;

static folder folders[64];
static size_t n_folders;

/* Every case folder of every registered translator. */
static test_case *find_cases(const char *root, size_t *n)
{
    test_case *cases = NULL;
    *n = 0;
    const cmx_translator_ops *ops;
    for (size_t t = 0; (ops = cmx_translator_at(t)) && n_folders < 64; t++) {
        folder *f = &folders[n_folders++];
        f->ops = ops;
        char pdir[768];
        snprintf(pdir, sizeof pdir, "%.600s/tests/data/%s", root, ops->name);
        size_t m;
        char **names = cmx_case_dirs(pdir, &m);
        cases = realloc(cases, (*n + m + 1) * sizeof *cases);
        for (size_t i = 0; i < m; i++) {
            test_case *tc = &cases[(*n)++];
            snprintf(tc->dir, sizeof tc->dir, "%s/%.200s", pdir, names[i]);
            snprintf(tc->name, sizeof tc->name, "%s/%.200s", ops->name, names[i]);
            tc->ops = ops;
        }
        f->cases = m;
        cmx_case_dirs_free(names, m);
    }
    if (*n)
        qsort(cases, *n, sizeof *cases, by_name);
    return cases;
}

/* The walk must find every translator's cases: a wrong path or a renamed
 * folder would otherwise pass as zero tests. */
static void every_translator_has_its_cases(void **state)
{
    (void)state;
    assert_true(n_folders >= 7);
    for (size_t i = 0; i < n_folders; i++)
        if (folders[i].cases < MIN_CASES)
            fail_msg("tests/data/%s/ holds %zu cases, at least %d expected", folders[i].ops->name,
                     folders[i].cases, MIN_CASES);
}

int main(void)
{
    const char *root = getenv("CMX_SOURCE_DIR");
    if (!root)
        root = ".";
    size_t n;
    test_case *cases = find_cases(root, &n);
    struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
    tests[0] = (struct CMUnitTest)cmocka_unit_test(every_translator_has_its_cases);
    for (size_t i = 0; i < n; i++)
        tests[i + 1] = (struct CMUnitTest){
            .name = cases[i].name, .test_func = run_case, .initial_state = &cases[i]};
    int rc = _cmocka_run_group_tests("translation", tests, n + 1, NULL, NULL);
    free(tests);
    free(cases);
    return rc;
}
