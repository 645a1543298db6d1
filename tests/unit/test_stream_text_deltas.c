/* test_stream_text_deltas.c — the text deltas the Anthropic and Bedrock
 * stream translators read without tokenizing (a delta written exactly as
 * the service writes it) against the same deltas written otherwise, which
 * go through the parser: the chunks are the same bytes, and a delta the
 * parser refuses (a raw control byte, invalid UTF-8, a bad escape, a
 * number with a leading zero, bytes after the object) is refused either
 * way.  Bedrock's messageStart and contentBlockStop likewise.  Also
 * json_doc's string and integer readers those paths use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/str.h"
#include "http/json_doc.h"
#include "providers/anthropic.h"
#include "providers/bedrock.h"

static void collect(void *ctx, const char *json, size_t len)
{
    cmx_buf *b = ctx;
    cmx_buf_append(b, json, len);
    cmx_buf_append(b, CMX_LIT("\n"));
}

/* Texts as they appear between the quotes: escapes and UTF-8 included,
 * and one that ends in what looks like the object's end. */
static const char *const good_texts[] = {
    "Hello",
    "",
    "a \\\"quoted\\\" word",
    "back\\\\slash",
    "\\u00e9t\\u00e9 \xc3\xa9t\xc3\xa9",
    "ends like it \\\"}}",
    "tab\\tnew\\nline",
    "\xf0\x9f\x99\x82 long enough to pass eight bytes",
};

/* Deltas the parser refuses, as {"text":"<this>"}'s inside. */
static const char *const bad_texts[] = {
    "raw \x01 control", "bad \xc3\x28 utf8", "bad \\x escape", "short \\u12 escape", "\xed\xa0\x80",
};

/* ---- the comparison ---- */

/* One stream with the delta in it: its error kind; the chunks go to out. */
typedef cmx_err (*run_fn)(const char *delta_json, cmx_buf *out);

/* A delta's JSON around its text. */
typedef struct delta_form {
    const char *before, *after;
} delta_form;

/* The delta holding `text` in three forms (the first the service's own,
 * read without tokenizing; the last one the parser reads): the same
 * outcome, the same chunks, and for a good text the text sent on as
 * written. */
static void forms_agree(run_fn run, const delta_form forms[3], const char *text, int good)
{
    cmx_buf outs[3] = {CMX_BUF_INIT, CMX_BUF_INIT, CMX_BUF_INIT};
    for (int i = 0; i < 3; i++) {
        char delta[512];
        snprintf(delta, sizeof delta, "%s%s%s", forms[i].before, text, forms[i].after);
        assert_int_equal(run(delta, &outs[i]), good ? CMX_OK : CMX_ERR_UPSTREAM_PROTOCOL);
    }
    assert_string_equal(outs[0].data, outs[1].data);
    assert_string_equal(outs[0].data, outs[2].data);
    if (good && *text) {
        char expect[512];
        snprintf(expect, sizeof expect, "\"delta\":{\"content\":\"%s\"}", text);
        assert_non_null(strstr(outs[0].data, expect));
    }
    for (int i = 0; i < 3; i++)
        cmx_buf_free(&outs[i]);
}

static void every_text_agrees(run_fn run, const delta_form forms[3])
{
    for (size_t i = 0; i < sizeof good_texts / sizeof *good_texts; i++)
        forms_agree(run, forms, good_texts[i], 1);
    for (size_t i = 0; i < sizeof bad_texts / sizeof *bad_texts; i++)
        forms_agree(run, forms, bad_texts[i], 0);
}

/* Each delta refused as the stream's protocol error, its text not sent. */
static void all_refused(run_fn run, const char *const *deltas, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cmx_buf out = CMX_BUF_INIT;
        assert_int_equal(run(deltas[i], &out), CMX_ERR_UPSTREAM_PROTOCOL);
        assert_null(strstr(out.data, "\"content\":\"x\""));
        cmx_buf_free(&out);
    }
}

/* ---- Anthropic ---- */

/* One stream: message_start, then the delta, then message_stop; returns
 * the error kind of the delta event and appends every chunk to out. */
static cmx_err anthropic_run(const char *delta_json, cmx_buf *out)
{
    cmx_anthropic_stream s;
    cmx_anthropic_stream_init(&s, 0, 1700000000, collect, out);
    cmx_error err = {0};
    const char *start = "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
                        "\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],"
                        "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}";
    assert_int_equal(
        cmx_anthropic_stream_event(&s, CMX_LIT("message_start"), start, strlen(start), &err),
        CMX_OK);
    cmx_err rc = cmx_anthropic_stream_event(&s, CMX_LIT("content_block_delta"), delta_json,
                                            strlen(delta_json), &err);
    cmx_anthropic_stream_free(&s);
    return rc;
}

/* The Anthropic delta: as written, spaced, members reordered. */
static const delta_form anthropic_forms[3] = {
    {"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
     "\"text\":\"",
     "\"}}"},
    {"{\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": "
     "\"text_delta\", \"text\": \"",
     "\"}}"},
    {"{\"index\":0,\"type\":\"content_block_delta\",\"delta\":{\"text\":\"",
     "\",\"type\":\"text_delta\"}}"},
};

static void anthropic_text_deltas_read_either_way_agree(void **state)
{
    (void)state;
    every_text_agrees(anthropic_run, anthropic_forms);
}

static void anthropic_refuses_near_misses_of_the_written_form(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"type\":\"content_block_delta\",\"index\":01,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"x\"}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"x\"}}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"x\"}} x",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"x",
    };
    all_refused(anthropic_run, bad, sizeof bad / sizeof *bad);
    /* Before message_start a delta is refused, written form or not. */
    cmx_anthropic_stream s;
    cmx_buf out = CMX_BUF_INIT;
    cmx_anthropic_stream_init(&s, 0, 1, collect, &out);
    cmx_error err = {0};
    const char *delta = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                        "\"text_delta\",\"text\":\"x\"}}";
    assert_int_equal(
        cmx_anthropic_stream_event(&s, CMX_LIT("content_block_delta"), delta, strlen(delta), &err),
        CMX_ERR_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "before message_start"));
    assert_int_equal(out.len, 0);
    cmx_anthropic_stream_free(&s);
    cmx_buf_free(&out);
}

/* ---- Bedrock ---- */

static cmx_err bedrock_message(cmx_bedrock_stream *s, const char *event, const char *payload)
{
    cmx_eventstream_header hs[] = {
        {.name = ":message-type",
         .name_len = 13,
         .type = CMX_EVENTSTREAM_STRING,
         .bytes = "event",
         .bytes_len = 5},
        {.name = ":event-type",
         .name_len = 11,
         .type = CMX_EVENTSTREAM_STRING,
         .bytes = event,
         .bytes_len = strlen(event)},
    };
    cmx_eventstream_message m = {
        .headers = hs, .n_headers = 2, .payload = payload, .payload_len = strlen(payload)};
    cmx_error err = {0};
    return cmx_bedrock_stream_message(s, &m, &err);
}

static cmx_err bedrock_run(const char *delta_json, cmx_buf *out)
{
    cmx_bedrock_stream s;
    cmx_bedrock_stream_init(&s, "chatcmpl-1", "nova", 0, 1700000000, collect, out);
    assert_int_equal(bedrock_message(&s, "messageStart", "{\"role\":\"assistant\"}"), CMX_OK);
    cmx_err rc = bedrock_message(&s, "contentBlockDelta", delta_json);
    cmx_bedrock_stream_free(&s);
    return rc;
}

/* The Bedrock delta: as written, with the padding member, spaced. */
static const delta_form bedrock_forms[3] = {
    {"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"", "\"}}"},
    {"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"", "\"},\"p\":\"abcdefghijklmn\"}"},
    {"{ \"contentBlockIndex\": 0, \"delta\": { \"text\": \"", "\" } }"},
};

static void bedrock_text_deltas_read_either_way_agree(void **state)
{
    (void)state;
    every_text_agrees(bedrock_run, bedrock_forms);
}

static void bedrock_refuses_near_misses_of_the_written_form(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"contentBlockIndex\":01,\"delta\":{\"text\":\"x\"}}",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"}}}",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"},\"p\":\"a\x01\"}",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"},\"p\":\"abc}",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"},\"p\":\"abc\"",
    };
    all_refused(bedrock_run, bad, sizeof bad / sizeof *bad);
    /* A delta after messageStop is not part of the answer. */
    cmx_bedrock_stream s;
    cmx_buf out = CMX_BUF_INIT;
    cmx_bedrock_stream_init(&s, "chatcmpl-1", "nova", 0, 1, collect, &out);
    assert_int_equal(bedrock_message(&s, "messageStart", "{\"role\":\"assistant\"}"), CMX_OK);
    assert_int_equal(bedrock_message(&s, "messageStop", "{\"stopReason\":\"end_turn\"}"), CMX_OK);
    size_t before = out.len;
    assert_int_equal(bedrock_message(&s, "contentBlockDelta",
                                     "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"x\"}}"),
                     CMX_OK);
    assert_int_equal(out.len, before);
    cmx_bedrock_stream_free(&s);
    cmx_buf_free(&out);
}

/* One Bedrock stream of (event, payload) pairs: the kind of the last
 * event, every chunk in out, and how many events skipped the parser. */
static cmx_err bedrock_events(const char *const *events, size_t n, cmx_buf *out, size_t *unparsed)
{
    cmx_bedrock_stream s;
    cmx_bedrock_stream_init(&s, "chatcmpl-1", "nova", 0, 1700000000, collect, out);
    cmx_err rc = CMX_OK;
    for (size_t i = 0; i + 1 < n && rc == CMX_OK; i += 2)
        rc = bedrock_message(&s, events[i], events[i + 1]);
    *unparsed = s.unparsed;
    cmx_bedrock_stream_free(&s);
    return rc;
}

/* messageStart and contentBlockStop as Bedrock writes them (padded or not)
 * skip the parser; written otherwise they are parsed; the chunks and the
 * outcome are the same either way, near misses are refused either way, and
 * a contentBlockStop before messageStart is refused written or not. */
static void bedrock_reads_written_starts_and_stops_without_the_parser(void **state)
{
    (void)state;
    const char *delta = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}";
    const char *stop = "{\"stopReason\":\"end_turn\"}";
    const char *written[] = {
        "messageStart",     "{\"role\":\"assistant\"}",  "contentBlockDelta", delta,
        "contentBlockStop", "{\"contentBlockIndex\":0}", "messageStop",       stop};
    const char *padded[] = {
        "messageStart",     "{\"role\":\"assistant\",\"p\":\"abcdef\"}", "contentBlockDelta", delta,
        "contentBlockStop", "{\"contentBlockIndex\":12,\"p\":\"abc\"}",  "messageStop",       stop};
    const char *spaced[] = {"messageStart",      "{ \"role\": \"assistant\" }",
                            "contentBlockDelta", delta,
                            "contentBlockStop",  "{\"p\":\"ab\",\"contentBlockIndex\":0}",
                            "messageStop",       stop};
    cmx_buf outs[3] = {CMX_BUF_INIT, CMX_BUF_INIT, CMX_BUF_INIT};
    size_t unparsed[3];
    assert_int_equal(bedrock_events(written, 8, &outs[0], &unparsed[0]), CMX_OK);
    assert_int_equal(bedrock_events(padded, 8, &outs[1], &unparsed[1]), CMX_OK);
    assert_int_equal(bedrock_events(spaced, 8, &outs[2], &unparsed[2]), CMX_OK);
    assert_int_equal(unparsed[0], 3); /* start, delta, stop; messageStop is parsed */
    assert_int_equal(unparsed[1], 3);
    assert_int_equal(unparsed[2], 1); /* the delta only */
    assert_string_equal(outs[0].data, outs[1].data);
    assert_string_equal(outs[0].data, outs[2].data);
    assert_non_null(strstr(outs[0].data, "\"finish_reason\":\"stop\""));
    for (int i = 0; i < 3; i++)
        cmx_buf_free(&outs[i]);

    const char *near_misses[] = {"{\"contentBlockIndex\":01}", "{\"contentBlockIndex\":0}}",
                                 "{\"contentBlockIndex\":0,\"p\":\"a\x01\"}",
                                 "{\"contentBlockIndex\":0,\"p\":\"abc\"",
                                 "{\"contentBlockIndex\":}"};
    for (size_t i = 0; i < sizeof near_misses / sizeof *near_misses; i++) {
        const char *events[] = {"messageStart", "{\"role\":\"assistant\"}", "contentBlockStop",
                                near_misses[i]};
        cmx_buf out = CMX_BUF_INIT;
        size_t n;
        assert_int_equal(bedrock_events(events, 4, &out, &n), CMX_ERR_UPSTREAM_PROTOCOL);
        assert_int_equal(n, 1);
        cmx_buf_free(&out);
    }
    const char *bad_start[] = {"messageStart", "{\"role\":\"assistant\"}}"};
    cmx_buf out = CMX_BUF_INIT;
    size_t n;
    assert_int_equal(bedrock_events(bad_start, 2, &out, &n), CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(out.len, 0);
    const char *early_stop[] = {"contentBlockStop", "{\"contentBlockIndex\":0}"};
    assert_int_equal(bedrock_events(early_stop, 2, &out, &n), CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(n, 0);
    cmx_buf_free(&out);
}

/* ---- json_doc's readers ---- */

static void reads_a_string_content_and_an_unsigned_integer(void **state)
{
    (void)state;
    assert_int_equal(cmx_json_string_content(CMX_LIT("abc\"}")), 3);
    assert_int_equal(cmx_json_string_content(CMX_LIT("a\\\"b\"")), 4);
    assert_int_equal(cmx_json_string_content(CMX_LIT("a\\\\\"b")), 3);
    assert_int_equal(cmx_json_string_content(CMX_LIT("\"")), 0);
    assert_int_equal(cmx_json_string_content(CMX_LIT("no end")), -1);
    assert_int_equal(cmx_json_string_content(CMX_LIT("a\\\"")), -1);
    assert_int_equal(cmx_json_string_content(CMX_LIT("ctl\n\"")), -1);
    assert_int_equal(cmx_json_string_content(CMX_LIT("\\q\"")), -1);
    assert_int_equal(cmx_json_uint_length(CMX_LIT("0,")), 1);
    assert_int_equal(cmx_json_uint_length(CMX_LIT("01")), 1);
    assert_int_equal(cmx_json_uint_length(CMX_LIT("1234,")), 4);
    assert_int_equal(cmx_json_uint_length(CMX_LIT("-1")), 0);
    assert_int_equal(cmx_json_uint_length("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anthropic_text_deltas_read_either_way_agree),
        cmocka_unit_test(anthropic_refuses_near_misses_of_the_written_form),
        cmocka_unit_test(bedrock_text_deltas_read_either_way_agree),
        cmocka_unit_test(bedrock_refuses_near_misses_of_the_written_form),
        cmocka_unit_test(bedrock_reads_written_starts_and_stops_without_the_parser),
        cmocka_unit_test(reads_a_string_content_and_an_unsigned_integer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
