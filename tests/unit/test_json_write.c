/* test_json_write.c — the tree-free JSON writer: commas and colons put by
 * the writer, strings escaped or copied with their escapes, values copied,
 * compacted and turned into strings, marks, and the sticky failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"

static void assert_wrote(const cmx_buf *b, const char *expected)
{
    assert_false(cmx_buf_failed(b));
    assert_string_equal(b->data, expected);
}

static void nested_members_get_commas_and_colons_from_the_writer(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "model");
    CMX_JW_LIT(&w, "claude");
    CMX_JW_KEY(&w, "max_tokens");
    cmx_jw_int(&w, 4096);
    CMX_JW_KEY(&w, "messages");
    cmx_jw_array(&w);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "role");
    CMX_JW_LIT(&w, "user");
    cmx_jw_end(&w);
    cmx_jw_object(&w);
    cmx_jw_end(&w);
    cmx_jw_array(&w);
    cmx_jw_end(&w);
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "stream");
    cmx_jw_bool(&w, 1);
    CMX_JW_KEY(&w, "stop");
    cmx_jw_null(&w);
    CMX_JW_KEY(&w, "n");
    cmx_jw_int(&w, -9223372036854775807LL - 1);
    cmx_jw_end(&w);
    assert_int_equal(w.depth, 0);
    assert_wrote(&b,
                 "{\"model\":\"claude\",\"max_tokens\":4096,\"messages\":[{\"role\":\"user\"},{},"
                 "[]],\"stream\":true,\"stop\":null,\"n\":-9223372036854775808}");
    cmx_buf_free(&b);
}

static void strings_are_escaped_or_copied_with_their_escapes(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_array(&w);
    static const char raw[] = "a\"b\\c\n\r\t\x01\x1f caf\xc3\xa9 \xf0\x9f\x98\x80 /";
    cmx_jw_string(&w, raw, sizeof raw - 1);
    cmx_jw_string_escaped(&w, CMX_LIT("caf\\u00e9 \\\"q\\\" \\ud83d\\ude00"));
    cmx_jw_string(&w, "", 0);
    cmx_jw_string_open(&w);
    cmx_jw_string_piece_escaped(&w, CMX_LIT("one\\n"));
    cmx_jw_string_piece(&w, CMX_LIT("two\""));
    cmx_jw_string_close(&w);
    cmx_jw_end(&w);
    assert_wrote(&b, "[\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f caf\xc3\xa9 \xf0\x9f\x98\x80 /\","
                     "\"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\",\"\",\"one\\ntwo\\\"\"]");
    /* and a JSON parser reads back what was given */
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(json_array_get(j, 0)), sizeof raw - 1);
    assert_memory_equal(json_string_value(json_array_get(j, 0)), raw, sizeof raw - 1);
    assert_string_equal(json_string_value(json_array_get(j, 3)), "one\ntwo\"");
    json_decref(j);
    cmx_buf_free(&b);
}

static void a_long_string_is_escaped_in_runs(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "ABCD+/=\n"[i % 8];
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_string(&w, big, n);
    assert_false(cmx_buf_failed(&b));
    assert_int_equal(b.len, n + n / 8 + 2); /* each \n took two bytes */
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    assert_int_equal(json_string_length(j), n);
    assert_memory_equal(json_string_value(j), big, n);
    json_decref(j);
    cmx_buf_free(&b);
    free(big);
}

static void values_are_copied_compacted_or_made_strings(void **state)
{
    (void)state;
    static const char doc[] =
        " { \"a\" : [ 1 , 2.5e3 ] ,\n\t\"s p\" : \"x \\\" y\\\\\" , \"t\":true } ";
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "raw");
    cmx_jw_value(&w, CMX_LIT("[1, 2]"));
    CMX_JW_KEY(&w, "compact");
    cmx_jw_compact(&w, doc, sizeof doc - 1);
    CMX_JW_KEY(&w, "arguments");
    cmx_jw_json_as_string(&w, doc, sizeof doc - 1);
    cmx_jw_key(&w, CMX_LIT("k\\u00e9"));
    cmx_jw_int(&w, 0);
    cmx_jw_end(&w);
    assert_wrote(
        &b, "{\"raw\":[1, 2],\"compact\":{\"a\":[1,2.5e3],\"s p\":\"x \\\" y\\\\\",\"t\":true},"
            "\"arguments\":\"{\\\"a\\\":[1,2.5e3],\\\"s p\\\":\\\"x \\\\\\\" y\\\\\\\\\\\","
            "\\\"t\\\":true}\",\"k\\u00e9\":0}");
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    /* the arguments string holds the compact document, which parses to the same value */
    const char *args = json_string_value(json_object_get(j, "arguments"));
    json_t *parsed = json_loads(args, 0, NULL);
    assert_true(json_equal(parsed, json_object_get(j, "compact")));
    json_decref(parsed);
    json_decref(j);
    cmx_buf_free(&b);
}

static void a_rewind_drops_what_came_after_the_mark(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_array(&w);
    cmx_jw_int(&w, 1);
    cmx_jw_mark m = cmx_jw_mark_here(&w);
    assert_false(cmx_jw_wrote_since(&w, m));
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "dropped");
    assert_true(cmx_jw_wrote_since(&w, m));
    cmx_jw_rewind(&w, m);
    cmx_jw_int(&w, 2);
    cmx_jw_end(&w);
    assert_wrote(&b, "[1,2]");
    cmx_buf_free(&b);
}

static void writing_after_the_top_level_appends_to_what_was_there(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_append_str(&b, "data: ");
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_object(&w);
    cmx_jw_end(&w);
    assert_wrote(&b, "data: {}");
    cmx_buf_free(&b);
}

static void a_full_fixed_buffer_fails_and_stays_failed(void **state)
{
    (void)state;
    char storage[16];
    cmx_buf b;
    cmx_buf_init_fixed(&b, storage, sizeof storage);
    cmx_jw w;
    cmx_jw_init(&w, &b);
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "a long key that does not fit");
    assert_true(cmx_jw_failed(&w));
    size_t len = b.len;
    cmx_jw_int(&w, 1);
    cmx_jw_end(&w);
    assert_int_equal(b.len, len);
    /* a rewind does not undo a failure */
    cmx_jw_rewind(&w, (cmx_jw_mark){0});
    assert_true(cmx_jw_failed(&w));
}

static void too_deep_or_unbalanced_fails_the_buffer(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_jw w;
    cmx_jw_init(&w, &b);
    for (int i = 0; i < CMX_JW_MAX_DEPTH; i++)
        cmx_jw_array(&w);
    assert_false(cmx_jw_failed(&w));
    cmx_jw_array(&w);
    assert_true(cmx_jw_failed(&w));
    cmx_buf_free(&b);

    cmx_jw_init(&w, &b);
    cmx_jw_end(&w);
    assert_true(cmx_jw_failed(&w));
    cmx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_members_get_commas_and_colons_from_the_writer),
        cmocka_unit_test(strings_are_escaped_or_copied_with_their_escapes),
        cmocka_unit_test(a_long_string_is_escaped_in_runs),
        cmocka_unit_test(values_are_copied_compacted_or_made_strings),
        cmocka_unit_test(a_rewind_drops_what_came_after_the_mark),
        cmocka_unit_test(writing_after_the_top_level_appends_to_what_was_there),
        cmocka_unit_test(a_full_fixed_buffer_fails_and_stays_failed),
        cmocka_unit_test(too_deep_or_unbalanced_fails_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
