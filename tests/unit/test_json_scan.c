/* test_json_scan.c — the request scanner: strict validation (every rule of
 * RFC 8259), request-shape errors, model splicing, usage extraction, and the
 * cache key's stripping of top-level members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"
#include "http/json_scan.h"

static cmx_arena *arena;

static int setup(void **state)
{
    arena = cmx_arena_new(4096);
    return arena ? 0 : -1;
}

static int teardown(void **state)
{
    cmx_arena_free(arena);
    return 0;
}

static cmx_err validate(const char *s, size_t len, cmx_error *err)
{
    cmx_arena_reset(arena);
    cmx_error_clear(err);
    return cmx_json_validate(s, len, arena, err);
}

/* ---- validation table ------------------------------------------------------ */

typedef struct bad_case {
    const char *json;
    const char *message; /* a substring the error must contain */
} bad_case;

static const bad_case invalid_docs[] = {
    {"01", "invalid number"},
    {"[01]", "at byte 1: invalid number"},
    {"[-01]", "invalid number"},
    {"tru", "invalid literal"},
    {"[tru]", "invalid literal"},
    {"[nul]", "invalid literal"},
    {"[truee]", "invalid literal"},
    {"[1.]", "invalid number"},
    {"[.5]", "unexpected '.'"},
    {"[-]", "invalid number"},
    {"-", "invalid number"},
    {"[1e]", "invalid number"},
    {"[1e+]", "invalid number"},
    {"[+1]", "unexpected '+'"},
    {"[1.e5]", "invalid number"},
    {"[0x10]", "invalid number"},
    {"[1\"a\"]", "invalid number"},
    {"{\"a\":1,}", "at byte 6: trailing comma"},
    {"[1,]", "at byte 2: trailing comma"},
    {"[1 , ]", "trailing comma"},
    {"{\"a\" 1}", "expected ':' after object key"},
    {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
    {"[1 2]", "expected ',' or ']'"},
    {"[\"a\" \"b\"]", "expected ',' or ']'"},
    {"[[] []]", "expected ',' or ']'"},
    {"{,}", "unexpected ','"},
    {"[,1]", "unexpected ','"},
    {"[1,,2]", "unexpected ','"},
    {"{\"a\"::1}", "unexpected ':'"},
    {"{\"a\":}", "expected a value after ':'"},
    {"{\"a\"}", "expected ':' after object key"},
    {"{\"a\":1:2}", "at byte 5: invalid number"},
    {"[1:2]", "at byte 1: invalid number"},
    {"{1:2}", "object keys are strings"},
    {"{{}:1}", "object keys are strings"},
    {"{\"a\":1,2:3}", "object keys are strings"},
    {"[\"a\tb\"]", "unescaped control character"},
    {"[\"a\nb\"]", "unescaped control character"},
    {"[\"\\x\"]", "invalid escape"},
    {"[\"\\u12G4\"]", "invalid \\u escape"},
    {"[\"\\u12\"]", "invalid \\u escape"},
    {"[\"\\'\"]", "invalid escape"},
    {"[\"\xff\"]", "invalid UTF-8"},
    {"[\"\xc0\xaf\"]", "invalid UTF-8"},         /* overlong '/' */
    {"[\"\xed\xa0\x80\"]", "invalid UTF-8"},     /* UTF-16 surrogate */
    {"[\"\xf4\x90\x80\x80\"]", "invalid UTF-8"}, /* above U+10FFFF */
    {"[\"\xe2\x82\"]", "invalid UTF-8"},         /* cut sequence */
    {"{} {}", "unexpected data after the JSON value"},
    {"[] 1", "unexpected data after the JSON value"},
    {"{}x", "unexpected 'x'"},
    {"{},", "unexpected data after the JSON value"},
    {"1 2", "unexpected data after the JSON value"},
    {"\"a\" \"b\"", "unexpected data after the JSON value"},
    {"", "empty document"},
    {"   \n\t ", "unexpected end of input"},
    {"{", "unexpected end of input"},
    {"[1", "unexpected end of input"},
    {"{\"a\":\"b", "unexpected end of input"},
    {"[\"\xe2\x82", "unexpected end of input"}, /* a sequence the end cuts off */
    {"[\"\xc3", "unexpected end of input"},
    {"[\"\xe0\x80", "invalid UTF-8"}, /* overlong even before its end */
    {"]", "unexpected ']'"},
    {"[}", "unexpected '}'"},
    {"{]", "unexpected ']'"},
    {"[1]]", "unexpected ']'"},
    {"x", "unexpected 'x'"},
    {"[x]", "unexpected 'x'"},
    {"[True]", "unexpected 'T'"},
    {"[NaN]", "unexpected 'N'"},
    {"[Infinity]", "unexpected 'I'"},
    {"['a']", "unexpected '''"},
    {"[1,\xc3\xa9]", "unexpected byte 0xc3"},
};

static void rejects_every_invalid_document_in_the_table(void **state)
{
    for (size_t i = 0; i < sizeof invalid_docs / sizeof invalid_docs[0]; i++) {
        const bad_case *c = &invalid_docs[i];
        cmx_error err;
        cmx_err rc = validate(c->json, strlen(c->json), &err);
        if (rc != CMX_ERR_BAD_REQUEST || !strstr(err.message, c->message)) {
            print_error("case %zu %s: rc=%d message='%s', wanted '%s'\n", i, c->json, rc,
                        err.message, c->message);
            fail();
        }
    }
}

static const char *const valid_docs[] = {
    "{}",
    "[]",
    " { } ",
    "\t\r\n[\t\r\n]\t\r\n",
    "0",
    "-0",
    "1e-7",
    "0.5E+3",
    "-12.25e10",
    "true",
    " null ",
    "\"\"",
    "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
    "\"\\u00e9\\uD83D\\uDE00\\u0000\"",
    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
    "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}}}",
    "[[[[[]]]],{},[{}]]",
    "{\"a\" : 1 , \"b\" : [ true , false ] }",
    "{\"\":\"\"}",
    "[0,-0,0.0,1E5,1e+5,1e-5,123456789012345678901234567890]",
    "{\"a\":1,\"a\":2}",
};

static void accepts_valid_documents_and_edge_cases(void **state)
{
    for (size_t i = 0; i < sizeof valid_docs / sizeof valid_docs[0]; i++) {
        cmx_error err;
        cmx_err rc = validate(valid_docs[i], strlen(valid_docs[i]), &err);
        if (rc != CMX_OK) {
            print_error("case %zu %s: %s\n", i, valid_docs[i], err.message);
            fail();
        }
    }
}

static void rejects_a_nul_byte_anywhere(void **state)
{
    static const char with_nul_in_string[] = "{\"a\":\"b\0c\"}";
    static const char with_nul_after[] = "{}\0";
    cmx_error err;
    assert_int_equal(validate(with_nul_in_string, sizeof with_nul_in_string - 1, &err),
                     CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "byte 7: NUL byte"));
    assert_int_equal(validate(with_nul_after, sizeof with_nul_after - 1, &err),
                     CMX_ERR_BAD_REQUEST);
}

/* ["aaa<piece>aaa"<tail>: the piece at every offset of strings up to 24
 * bytes, with and without bytes after the string (the checker reads strings
 * eight bytes at a time and handles the last few bytes differently). */
static cmx_err string_case(size_t len, size_t at, const char *piece, const char *tail,
                           cmx_error *err)
{
    char doc[128];
    size_t n = 0, plen = strlen(piece);
    doc[n++] = '[';
    doc[n++] = '"';
    memset(doc + n, 'a', at);
    n += at;
    memcpy(doc + n, piece, plen);
    n += plen;
    memset(doc + n, 'a', len - at);
    n += len - at;
    doc[n++] = '"';
    n += (size_t)sprintf(doc + n, "%s", tail);
    char *heap = malloc(n); /* exact size, for ASan */
    memcpy(heap, doc, n);
    cmx_err rc = validate(heap, n, err);
    free(heap);
    return rc;
}

static void checks_every_byte_position_inside_strings(void **state)
{
    static const struct {
        const char *piece;
        const char *message; /* NULL: valid */
    } pieces[] = {
        {"\x01", "unescaped control character"},
        {"\x1f", "unescaped control character"},
        {"\xff", "invalid UTF-8"},
        {"\xc3", "invalid UTF-8"},
        {"\\x", "invalid escape"},
        {"\\u12g4", "invalid \\u escape"},
        {"\xc3\xa9", NULL},
        {"\xf0\x9f\x98\x80", NULL},
        {"\\n", NULL},
        {"\\u00e9", NULL},
        {"\x7f", NULL},
        {" ", NULL},
    };
    static const char *const tails[] = {"]", ",1,2,3,4,5,6,7,8,9]"};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++)
        for (size_t tl = 0; tl < 2; tl++)
            for (size_t len = 0; len <= 24; len++)
                for (size_t at = 0; at <= len; at++) {
                    cmx_error err;
                    cmx_err rc = string_case(len, at, pieces[k].piece, tails[tl], &err);
                    int ok = pieces[k].message ? rc == CMX_ERR_BAD_REQUEST &&
                                                     strstr(err.message, pieces[k].message)
                                               : rc == CMX_OK;
                    if (!ok) {
                        print_error("piece %zu len %zu at %zu tail %zu: rc=%d %s\n", k, len, at, tl,
                                    rc, rc ? err.message : "");
                        fail();
                    }
                }
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void rejects_nesting_deeper_than_the_limit(void **state)
{
    cmx_error err;
    char *ok = nested(128);
    assert_int_equal(validate(ok, strlen(ok), &err), CMX_OK);
    free(ok);
    char *deep = nested(129);
    assert_int_equal(validate(deep, strlen(deep), &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "nesting deeper than 128"));
    free(deep);
    /* Brackets inside strings are not nesting. */
    char body[600] = "[\"";
    memset(body + 2, '[', 500);
    strcpy(body + 502, "\"]");
    assert_int_equal(validate(body, strlen(body), &err), CMX_OK);
}

static void rejects_a_megabyte_of_open_brackets_quickly(void **state)
{
    /* Refused at the 129th bracket, without reading the rest. */
    size_t n = 1 << 20;
    char *s = malloc(n);
    memset(s, '[', n);
    cmx_error err;
    assert_int_equal(validate(s, n, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "at byte 128: nesting"));
    free(s);
}

static void validates_documents_with_more_tokens_than_the_inline_array(void **state)
{
    /* 10k tokens: the token array has to grow (from the arena, and from the
     * heap when no arena is given). */
    size_t cap = 10000 * 4 + 16, n = 0;
    char *s = malloc(cap);
    s[n++] = '[';
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(s + n, i ? ",%d" : "%d", i % 10);
    s[n++] = ']';
    cmx_error err;
    assert_int_equal(validate(s, n, &err), CMX_OK);
    assert_int_equal(cmx_json_validate(s, n, NULL, &err), CMX_OK);
    s[n - 2] = ',';
    assert_int_equal(cmx_json_validate(s, n, NULL, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "trailing comma"));
    free(s);
}

/* ---- a realistic chat body --------------------------------------------------- */

static const char chat_body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful assistant. Answer briefly and "
    "precisely; when unsure, say so. Use metric units.\"},"
    "{\"role\":\"user\",\"content\":\"What is the capital of France, and what is it known "
    "for? Please include a short note on its history.\"},"
    "{\"role\":\"assistant\",\"content\":\"Paris. It is known for the Eiffel Tower, the "
    "Louvre, caf\\u00e9s and its role in the French Revolution of 1789.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"And Germany? Quote: "
    "\\\"Ich bin ein Berliner\\\"\\n\\tThanks!\"}]}],"
    "\"temperature\":0.7,\"top_p\":1,\"max_tokens\":256,\"presence_penalty\":-0.5,"
    "\"frequency_penalty\":0,\"n\":1,\"stop\":[\"\\n\\n\",\"END\"],\"user\":\"user-1234\","
    "\"metadata\":{\"trace\":\"abc\",\"nested\":{\"usage\":{\"prompt_tokens\":1}}},"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":"
    "[\"city\"]}}}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

static void scans_a_chat_request(void **state)
{
    cmx_request_scan scan;
    cmx_error err;
    size_t len = sizeof chat_body - 1;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, chat_body, len, arena, &scan, &err),
                     CMX_OK);
    assert_string_equal(scan.model_name, "gpt-4o-mini");
    assert_int_equal(scan.model.end - scan.model.start, strlen("\"gpt-4o-mini\""));
    assert_memory_equal(chat_body + scan.model.start, "\"gpt-4o-mini\"",
                        scan.model.end - scan.model.start);
    assert_int_equal(scan.stream, 1);
    assert_int_equal(scan.include_usage, 1);
    assert_memory_equal(chat_body + scan.stream_options.start, "{\"include_usage\":true}",
                        scan.stream_options.end - scan.stream_options.start);
    assert_int_equal(scan.body.start, 0);
    assert_int_equal(scan.body.end, len);
    assert_int_equal(scan.n_messages, 4);
}

static void rejects_every_truncation_of_a_valid_body(void **state)
{
    size_t len = sizeof chat_body - 1;
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap copy of exactly `cut` bytes, so ASan sees any overread. */
        char *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, chat_body, cut);
        cmx_request_scan scan;
        cmx_error err;
        cmx_arena_reset(arena);
        cmx_err rc = cmx_json_scan_request(CMX_API_CHAT, prefix, cut, arena, &scan, &err);
        if (rc != CMX_ERR_BAD_REQUEST) {
            print_error("prefix of %zu bytes: rc=%d\n", cut, rc);
            fail();
        }
        assert_int_equal(cmx_json_validate(prefix, cut, arena, &err), CMX_ERR_BAD_REQUEST);
        free(prefix);
    }
}

/* Classifies each byte of a JSON text: 0 structure (quotes included), 1 plain
 * string content, 2 part of an escape sequence. */
static void classify(const char *s, size_t len, unsigned char *cls)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            cls[i] = 0;
            in_string = s[i] == '"';
        } else if (s[i] == '\\') {
            size_t n = s[i + 1] == 'u' ? 6 : 2;
            memset(cls + i, 2, n);
            i += n - 1;
        } else if (s[i] == '"') {
            cls[i] = 0;
            in_string = 0;
        } else {
            cls[i] = 1;
        }
    }
}

static void rejects_every_stray_byte_outside_strings(void **state)
{
    /* '#' in place of any structural byte breaks the grammar; in place of a
     * plain string byte it is just text. */
    size_t len = sizeof chat_body - 1;
    char *copy = malloc(len);
    unsigned char *cls = malloc(len);
    classify(chat_body, len, cls);
    for (size_t i = 0; i < len; i++) {
        if (cls[i] == 2)
            continue;
        memcpy(copy, chat_body, len);
        copy[i] = '#';
        cmx_error err;
        cmx_arena_reset(arena);
        cmx_err rc = cmx_json_validate(copy, len, arena, &err);
        if (rc != (cls[i] == 0 ? CMX_ERR_BAD_REQUEST : CMX_OK)) {
            print_error("'#' at byte %zu (class %d): rc=%d\n", i, cls[i], rc);
            fail();
        }
    }
    free(cls);
    free(copy);
}

/* ---- request shape ------------------------------------------------------------- */

typedef struct shape_case {
    cmx_api api;
    const char *json;
    const char *message; /* exact */
} shape_case;

static const shape_case shape_errors[] = {
    {CMX_API_CHAT, "[]", "request body must be a JSON object"},
    {CMX_API_CHAT, "\"x\"", "request body must be a JSON object"},
    {CMX_API_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "missing required field 'model'"},
    {CMX_API_CHAT, "{\"model\":7,\"messages\":[{\"role\":\"user\"}]}", "'model' must be a string"},
    {CMX_API_CHAT, "{\"model\":\"\",\"messages\":[{\"role\":\"user\"}]}",
     "'model' must not be empty"},
    {CMX_API_CHAT, "{\"model\":\"a\\nb\",\"messages\":[{\"role\":\"user\"}]}",
     "'model' must not contain control characters"},
    {CMX_API_CHAT, "{\"model\":\"\\ud800\",\"messages\":[{\"role\":\"user\"}]}",
     "'model' contains an invalid \\u escape"},
    {CMX_API_CHAT, "{\"model\":\"m\"}", "missing required field 'messages'"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":{}}", "'messages' must be an array"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "'messages' must be an array"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[]}",
     "'messages' must contain at least one message"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},{\"role\":\"user\"},3]}",
     "messages[2] must be an object"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},{\"content\":\"x\"}]}",
     "messages[1] has no 'role'"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":null}]}",
     "messages[0].role must be a string"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":\"yes\"}",
     "'stream' must be a boolean"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":1}",
     "'stream' must be a boolean"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream_options\":[]}",
     "'stream_options' must be an object"},
    {CMX_API_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream_options\":"
     "{\"include_usage\":1}}",
     "'stream_options.include_usage' must be a boolean"},
    {CMX_API_CHAT, "{\"model\":\"a\",\"messages\":[{\"role\":\"user\"}],\"model\":\"b\"}",
     "duplicate field 'model'"},
    {CMX_API_CHAT, "{\"model\":\"a\",\"messages\":[{\"role\":\"user\"}],\"mod\\u0065l\":\"b\"}",
     "duplicate field 'model'"},
    {CMX_API_CHAT, "{\"model\":\"a\",\"stream\":true,\"stream\":false,\"messages\":[]}",
     "duplicate field 'stream'"},
    {CMX_API_EMBEDDINGS, "{\"model\":\"e\"}", "missing required field 'input'"},
    {CMX_API_EMBEDDINGS, "{\"input\":\"x\"}", "missing required field 'model'"},
    {CMX_API_EMBEDDINGS, "{\"model\":\"e\",\"input\":3}", "'input' must be a string or an array"},
    {CMX_API_EMBEDDINGS, "{\"model\":\"e\",\"input\":{}}", "'input' must be a string or an array"},
    {CMX_API_EMBEDDINGS, "{\"model\":\"e\",\"input\":[]}", "'input' must not be empty"},
    {CMX_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},]}",
     "invalid JSON at byte 40: trailing comma"},
};

static void rejects_bad_request_shapes_with_clear_messages(void **state)
{
    for (size_t i = 0; i < sizeof shape_errors / sizeof shape_errors[0]; i++) {
        const shape_case *c = &shape_errors[i];
        cmx_request_scan scan;
        cmx_error err;
        cmx_error_clear(&err);
        cmx_err rc = cmx_json_scan_request(c->api, c->json, strlen(c->json), arena, &scan, &err);
        if (rc != CMX_ERR_BAD_REQUEST || strcmp(err.message, c->message) != 0) {
            print_error("case %zu %s: rc=%d message='%s', wanted '%s'\n", i, c->json, rc,
                        err.message, c->message);
            fail();
        }
    }
}

static void accepts_embeddings_inputs_of_every_documented_form(void **state)
{
    static const char *const bodies[] = {
        "{\"model\":\"e\",\"input\":\"hello\"}",
        "{\"model\":\"e\",\"input\":[\"a\",\"b\"]}",
        "{\"model\":\"e\",\"input\":[1,2,3]}",
        "{\"model\":\"e\",\"input\":[[1,2],[3]],\"encoding_format\":\"float\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        cmx_request_scan scan;
        cmx_error err;
        assert_int_equal(cmx_json_scan_request(CMX_API_EMBEDDINGS, bodies[i], strlen(bodies[i]),
                                               arena, &scan, &err),
                         CMX_OK);
        assert_string_equal(scan.model_name, "e");
        assert_int_equal(scan.n_messages, 0);
        assert_int_equal(scan.stream, 0);
    }
}

static void treats_null_stream_fields_as_unset(void **state)
{
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":null,"
                       "\"stream_options\":null}";
    cmx_request_scan scan;
    cmx_error err;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_OK);
    assert_int_equal(scan.stream, 0);
    assert_int_equal(scan.include_usage, 0);
    assert_memory_equal(body + scan.stream_options.start, "null", 4);
    /* Absent fields leave zeroed spans. */
    body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}";
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_OK);
    assert_int_equal(scan.stream_options.start, 0);
    assert_int_equal(scan.stream_options.end, 0);
}

static void finds_fields_whose_keys_are_escaped(void **state)
{
    const char *body = "{\"\\u006dodel\":\"m\",\"m\\u0065ssages\":[{\"r\\u006fle\":\"user\"}]}";
    cmx_request_scan scan;
    cmx_error err;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_OK);
    assert_string_equal(scan.model_name, "m");
    assert_int_equal(scan.n_messages, 1);
}

static void unescapes_the_model_name(void **state)
{
    const char *body = "{\"model\":\"a\\/b\\\"c\\u00e9\\ud83d\\ude00\",\"messages\":"
                       "[{\"role\":\"user\"}]}";
    cmx_request_scan scan;
    cmx_error err;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_OK);
    assert_string_equal(scan.model_name, "a/b\"c\xc3\xa9\xf0\x9f\x98\x80");
    assert_memory_equal(body + scan.model.start, "\"a\\/b", 5);
    assert_int_equal(body[scan.model.end - 1], '"');
}

static void enforces_the_255_byte_model_name_limit(void **state)
{
    char body[700];
    char name[300];
    cmx_request_scan scan;
    cmx_error err;

    memset(name, 'm', 255);
    name[255] = '\0';
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\"}]}", name);
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_OK);
    assert_int_equal(strlen(scan.model_name), 255);

    memset(name, 'm', 256);
    name[256] = '\0';
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\"}]}", name);
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_ERR_BAD_REQUEST);
    assert_string_equal(err.message, "'model' is longer than 255 bytes");

    /* 254 plain bytes and a two-byte character from an escape: 256 bytes. */
    memset(name, 'm', 254);
    strcpy(name + 254, "\\u00e9");
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\"}]}", name);
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, strlen(body), arena, &scan, &err),
                     CMX_ERR_BAD_REQUEST);
}

/* ---- splice --------------------------------------------------------------------- */

static void splices_a_model_name_that_needs_escaping(void **state)
{
    const char *body = "{\"model\" : \"gpt\" , \"messages\":[{\"role\":\"user\"}]}";
    size_t len = strlen(body);
    cmx_request_scan scan;
    cmx_error err;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, body, len, arena, &scan, &err), CMX_OK);

    size_t out_len = 0;
    char *out =
        cmx_json_splice_string(arena, body, len, scan.model, "we\"ird\\na\nme\x01", &out_len);
    assert_non_null(out);
    const char *want =
        "{\"model\" : \"we\\\"ird\\\\na\\nme\\u0001\" , \"messages\":[{\"role\":\"user\"}]}";
    assert_int_equal(out_len, strlen(want));
    assert_string_equal(out, want);

    assert_int_equal(cmx_json_validate(out, out_len, arena, &err), CMX_OK);

    /* A name with quotes and backslashes scans back unchanged. */
    out = cmx_json_splice_string(arena, body, len, scan.model, "a\"b\\c", &out_len);
    cmx_request_scan again;
    assert_int_equal(cmx_json_scan_request(CMX_API_CHAT, out, out_len, arena, &again, &err),
                     CMX_OK);
    assert_string_equal(again.model_name, "a\"b\\c");
}

static void splices_a_plain_name_and_rejects_bad_spans(void **state)
{
    const char *body = "{\"model\":\"a\",\"x\":1}";
    size_t len = strlen(body), out_len;
    cmx_json_span span = {9, 12};
    char *out = cmx_json_splice_string(arena, body, len, span, "anthropic.claude-3", &out_len);
    assert_string_equal(out, "{\"model\":\"anthropic.claude-3\",\"x\":1}");
    assert_int_equal(out_len, strlen(out));
    cmx_json_span past_end = {9, len + 1};
    assert_null(cmx_json_splice_string(arena, body, len, past_end, "x", &out_len));
    cmx_json_span reversed = {12, 9};
    assert_null(cmx_json_splice_string(arena, body, len, reversed, "x", &out_len));
}

/* ---- usage ---------------------------------------------------------------------- */

static int usage_of(const char *json, cmx_usage *u)
{
    cmx_arena_reset(arena);
    return cmx_json_find_usage(json, strlen(json), arena, u);
}

static void reads_usage_counts_including_cached_tokens(void **state)
{
    cmx_usage u;
    assert_int_equal(
        usage_of("{\"id\":\"c1\",\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                 "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":8,\"audio_tokens\":0},"
                 "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
                 &u),
        1);
    assert_int_equal(u.prompt_tokens, 12);
    assert_int_equal(u.completion_tokens, 5);
    assert_int_equal(u.total_tokens, 17);
    assert_int_equal(u.cached_tokens, 8);

    assert_int_equal(usage_of("{\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}", &u), 1);
    assert_int_equal(u.prompt_tokens, 3);
    assert_int_equal(u.completion_tokens, -1);
    assert_int_equal(u.cached_tokens, -1);
}

static void ignores_counts_that_are_not_integers(void **state)
{
    cmx_usage u;
    assert_int_equal(usage_of("{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-2,"
                              "\"total_tokens\":\"7\"}}",
                              &u),
                     1);
    assert_int_equal(u.prompt_tokens, -1);
    assert_int_equal(u.completion_tokens, -1);
    assert_int_equal(u.total_tokens, -1);
    assert_int_equal(usage_of("{\"usage\":{\"prompt_tokens\":99999999999999999999}}", &u), 1);
    assert_int_equal(u.prompt_tokens, -1);
}

static void reports_absent_or_null_usage_as_zero(void **state)
{
    cmx_usage u;
    assert_int_equal(usage_of("{\"id\":\"x\",\"choices\":[]}", &u), 0);
    assert_int_equal(u.prompt_tokens, -1);
    assert_int_equal(usage_of("{\"id\":\"x\",\"usage\":null}", &u), 0);
    assert_int_equal(usage_of("[{\"usage\":{\"prompt_tokens\":1}}]", &u), 0);
    assert_int_equal(usage_of("\"usage\"", &u), 0);
}

static void counts_only_a_top_level_usage_key(void **state)
{
    cmx_usage u;
    assert_int_equal(
        usage_of("{\"choices\":[{\"delta\":{\"usage\":{\"prompt_tokens\":5}}}],"
                 "\"meta\":{\"usage\":{\"prompt_tokens\":6}},\"text\":\"\\\"usage\\\":{}\"}",
                 &u),
        0);
    assert_int_equal(u.prompt_tokens, -1);
    /* A nested "usage" before the real one must not be taken for it. */
    assert_int_equal(usage_of("{\"meta\":{\"usage\":{\"prompt_tokens\":6}},"
                              "\"usage\":{\"prompt_tokens\":7}}",
                              &u),
                     1);
    assert_int_equal(u.prompt_tokens, 7);
}

static void strips_named_members_at_every_depth(void **state)
{
    (void)state;
    cmx_arena *a = cmx_arena_new(4096);
    static const char *const names[] = {"cache_control", "thinking_blocks"};
    static const char body[] =
        "{\"cache_control\":1, \"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"\\\"cache_control\\\"\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        "{\"role\":\"assistant\",\"thinking_blocks\":[{\"a\":1}],\"content\":\"x\"}],"
        "\"tools\":[[],{}],\"n\":null}";
    size_t n;
    char *out = cmx_json_strip_keys(a, body, sizeof body - 1, names, 2, &n);
    assert_non_null(out);
    assert_string_equal(out, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                             "\"text\":\"\\\"cache_control\\\"\"}]},{\"role\":\"assistant\","
                             "\"content\":\"x\"}],\"tools\":[[],{}],\"n\":null}");
    assert_int_equal(n, strlen(out));
    assert_null(cmx_json_strip_keys(a, "{\"a\":", 5, names, 2, &n));
    assert_true(cmx_json_mentions_key(body, sizeof body - 1, "cache_control"));
    assert_true(cmx_json_mentions_key(body, sizeof body - 1, "thinking_blocks"));
    assert_false(
        cmx_json_mentions_key(CMX_LIT("{\"max_tokens\":1,\"xcache_control\":2}"), "cache_control"));
    assert_false(cmx_json_mentions_key(CMX_LIT("\"cache_contro"), "cache_control"));
    assert_true(cmx_json_mentions_key(CMX_LIT("\"cache_control\""), "cache_control"));
    cmx_arena_free(a);
}

static void leaves_json_schemas_as_they_are(void **state)
{
    (void)state;
    cmx_arena *a = cmx_arena_new(4096);
    static const char *const names[] = {"cache_control", "extra_content"};
    /* an application's tool and response schemas may name a property like
     * the request vocabulary; those keys are not the gateway's to remove */
    static const char body[] =
        "{\"tools\":[{\"type\":\"function\",\"cache_control\":{},\"function\":{\"name\":\"f\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"extra_content\":{\"type\":"
        "\"string\"},\"cache_control\":{}}}}}],\"response_format\":{\"type\":\"json_schema\","
        "\"json_schema\":{\"name\":\"s\",\"schema\":{\"properties\":{\"cache_control\":{}}}}},"
        "\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"extra_content\":{}}]"
        "}]}";
    size_t n;
    char *out = cmx_json_strip_keys(a, body, sizeof body - 1, names, 2, &n);
    assert_non_null(out);
    assert_string_equal(
        out, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
             "\"parameters\":{\"type\":\"object\",\"properties\":{\"extra_content\":{\"type\":"
             "\"string\"},\"cache_control\":{}}}}}],\"response_format\":{\"type\":\"json_schema\","
             "\"json_schema\":{\"name\":\"s\",\"schema\":{\"properties\":{\"cache_control\":{}}}}},"
             "\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\"}]}]}");
    cmx_arena_free(a);
}

static void reports_invalid_upstream_json_as_minus_one(void **state)
{
    cmx_usage u;
    assert_int_equal(usage_of("{\"usage\":{\"prompt_tokens\":1,}}", &u), -1);
    assert_int_equal(usage_of("{\"usage\":{\"prompt_tokens\":01}}", &u), -1);
    assert_int_equal(usage_of("", &u), -1);
    assert_int_equal(usage_of("{\"id\":\"x\"", &u), -1);
    assert_int_equal(usage_of("<html>502 Bad Gateway</html>", &u), -1);
}

/* --- stripping members (the cache key) ------------------------------------ */

static const char *const volatile_names[] = {"stream", "stream_options", "user"};

static const char *strip(const char *body)
{
    size_t n = 0;
    char *out = cmx_json_strip_members(arena, body, strlen(body), volatile_names, 3, &n);
    if (!out)
        return NULL;
    out[n] = '\0'; /* the buffer has room: len + 2 */
    return out;
}

static void strips_named_members_and_keeps_the_rest_byte_for_byte(void **state)
{
    assert_string_equal(strip("{\"model\":\"m\",\"stream\":true,\"n\":1}"),
                        "{\"model\":\"m\",\"n\":1}");
    /* The same request with or without the volatile fields, whatever the
     * spacing around them, strips to the same bytes. */
    const char *plain =
        strip("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_string_equal(strip(" { \"stream\" : true ,\"model\":\"m\", \"user\":\"bob\",\n"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                              "\"stream_options\":{\"include_usage\":true} } "),
                        plain);
    /* Inside a member, bytes are kept as written. */
    assert_string_equal(strip("{\"a\" : [ 1 , 2 ],\"user\":\"x\"}"), "{\"a\" : [ 1 , 2 ]}");
    /* Brackets and quotes inside strings, nested objects, primitives. */
    assert_string_equal(
        strip("{\"t\":\"}{\\\"][\",\"stream\":false,\"o\":{\"stream\":1,\"s\":\"}\"},\"x\":null,"
              "\"e\":-1.5e3}"),
        "{\"t\":\"}{\\\"][\",\"o\":{\"stream\":1,\"s\":\"}\"},\"x\":null,\"e\":-1.5e3}");
    assert_string_equal(strip("{}"), "{}");
    assert_string_equal(strip("{\"stream\":true}"), "{}");
    /* A key written with escapes is compared unescaped (the full parse). */
    assert_string_equal(strip("{\"\\u0073tream\":true,\"a\":1}"), "{\"a\":1}");
    assert_string_equal(strip("{\"a\\\"b\":1}"), "{\"a\\\"b\":1}");
    /* Not an object. */
    assert_null(strip("[1,2]"));
    assert_null(strip("\"s\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rejects_every_invalid_document_in_the_table),
        cmocka_unit_test(accepts_valid_documents_and_edge_cases),
        cmocka_unit_test(rejects_a_nul_byte_anywhere),
        cmocka_unit_test(checks_every_byte_position_inside_strings),
        cmocka_unit_test(rejects_nesting_deeper_than_the_limit),
        cmocka_unit_test(rejects_a_megabyte_of_open_brackets_quickly),
        cmocka_unit_test(validates_documents_with_more_tokens_than_the_inline_array),
        cmocka_unit_test(scans_a_chat_request),
        cmocka_unit_test(rejects_every_truncation_of_a_valid_body),
        cmocka_unit_test(rejects_every_stray_byte_outside_strings),
        cmocka_unit_test(rejects_bad_request_shapes_with_clear_messages),
        cmocka_unit_test(accepts_embeddings_inputs_of_every_documented_form),
        cmocka_unit_test(treats_null_stream_fields_as_unset),
        cmocka_unit_test(finds_fields_whose_keys_are_escaped),
        cmocka_unit_test(unescapes_the_model_name),
        cmocka_unit_test(enforces_the_255_byte_model_name_limit),
        cmocka_unit_test(splices_a_model_name_that_needs_escaping),
        cmocka_unit_test(splices_a_plain_name_and_rejects_bad_spans),
        cmocka_unit_test(reads_usage_counts_including_cached_tokens),
        cmocka_unit_test(ignores_counts_that_are_not_integers),
        cmocka_unit_test(reports_absent_or_null_usage_as_zero),
        cmocka_unit_test(counts_only_a_top_level_usage_key),
        cmocka_unit_test(reports_invalid_upstream_json_as_minus_one),
        cmocka_unit_test(strips_named_members_at_every_depth),
        cmocka_unit_test(leaves_json_schemas_as_they_are),
        cmocka_unit_test(strips_named_members_and_keeps_the_rest_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
