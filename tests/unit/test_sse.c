/* test_sse.c — the SSE reader against WHATWG's line and field rules, fed at
 * every possible split point, and the writer round-tripping through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/sse.h"

/* Collected events, serialised as "event|id|data\n" lines for easy compare. */
typedef struct collector {
    cmx_buf out;
    int count;
    int stop_after; /* return 7 from the callback at this event (0: never) */
} collector;

static int collect(void *ctx, const cmx_sse_event *ev)
{
    collector *c = ctx;
    cmx_buf_append(&c->out, ev->event, ev->event_len);
    cmx_buf_append(&c->out, "|", 1);
    cmx_buf_append(&c->out, ev->id, ev->id_len);
    cmx_buf_append(&c->out, "|", 1);
    cmx_buf_append(&c->out, ev->data, ev->data_len);
    cmx_buf_append(&c->out, "\n", 1);
    c->count++;
    return c->stop_after && c->count == c->stop_after ? 7 : 0;
}

/* Feeds `len` bytes in pieces cut at the given offsets (ascending). */
static int feed_pieces(cmx_sse_parser *p, const char *s, size_t len, const size_t *cuts,
                       size_t n_cuts)
{
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        /* A heap copy of each piece, so ASan catches reads past it. */
        char *piece = malloc(to - at + 1);
        memcpy(piece, s + at, to - at);
        int rc = cmx_sse_feed(p, piece, to - at);
        free(piece);
        if (rc != 0)
            return rc;
        at = to;
    }
    return 0;
}

/* Parses a whole stream with the given cuts and returns the collected text
 * (caller frees). */
static char *parse_with_cuts(const char *s, size_t len, const size_t *cuts, size_t n_cuts,
                             int *partial)
{
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &c);
    assert_int_equal(feed_pieces(&p, s, len, cuts, n_cuts), 0);
    if (partial)
        *partial = cmx_sse_has_partial(&p);
    cmx_sse_parser_free(&p);
    cmx_buf_append(&c.out, "", 0);
    return c.out.data;
}

static char *parse_whole(const char *s, int *partial)
{
    return parse_with_cuts(s, strlen(s), NULL, 0, partial);
}

/* A stream that uses most of the rules at once. */
static const char stream[] = "\xef\xbb\xbf"
                             ": keep-alive comment\n"
                             "retry: 1000\n"
                             "data: {\"a\":1}\n"
                             "\n"
                             "event: content_block_delta\n"
                             "id: 42\n"
                             "data: line one\n"
                             "data:line two\n"
                             "data:  three\n"
                             "unknown: x\n"
                             "\n"
                             "event: ping\n"
                             "\n"
                             "data\n"
                             "\n"
                             "id\n"
                             "data: [DONE]\n"
                             "\n";

static const char stream_events[] = "||{\"a\":1}\n"
                                    "content_block_delta|42|line one\nline two\n three\n"
                                    "|42|\n"
                                    "||[DONE]\n";

static void parses_a_stream_fed_in_one_piece(void **state)
{
    int partial = -1;
    char *got = parse_whole(stream, &partial);
    assert_string_equal(got, stream_events);
    assert_int_equal(partial, 0);
    free(got);
}

static void gives_the_same_events_for_every_two_way_split(void **state)
{
    size_t len = sizeof stream - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        char *got = parse_with_cuts(stream, len, &cut, 1, NULL);
        if (strcmp(got, stream_events) != 0) {
            print_error("split at %zu gave:\n%s\n", cut, got);
            fail();
        }
        free(got);
    }
}

static void gives_the_same_events_when_fed_byte_by_byte(void **state)
{
    size_t len = sizeof stream - 1;
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    char *got = parse_with_cuts(stream, len, cuts, len - 1, NULL);
    assert_string_equal(got, stream_events);
    free(got);
    free(cuts);
}

/* The stream with every LF replaced by `eol`. */
static char *with_line_ends(const char *eol)
{
    cmx_buf b = CMX_BUF_INIT;
    for (const char *p = stream; *p; p++) {
        if (*p == '\n')
            cmx_buf_append_str(&b, eol);
        else
            cmx_buf_append(&b, p, 1);
    }
    return b.data;
}

static void treats_crlf_cr_and_lf_line_ends_alike(void **state)
{
    static const char *const eols[] = {"\r\n", "\r", "\n"};
    for (size_t e = 0; e < 3; e++) {
        char *s = with_line_ends(eols[e]);
        size_t len = strlen(s);
        for (size_t cut = 0; cut <= len; cut++) {
            char *got = parse_with_cuts(s, len, &cut, 1, NULL);
            if (strcmp(got, stream_events) != 0) {
                print_error("eol %zu split at %zu gave:\n%s\n", e, cut, got);
                fail();
            }
            free(got);
        }
        free(s);
    }
}

static void counts_cr_then_lf_across_feeds_as_one_line_end(void **state)
{
    /* Were the LF a second line end, "a" would be dispatched on its own. */
    const char *s = "data: a\r\ndata: b\r\n\r\n";
    size_t cut = 8; /* between the first CR and LF */
    char *got = parse_with_cuts(s, strlen(s), &cut, 1, NULL);
    assert_string_equal(got, "||a\nb\n");
    free(got);
    /* Mixed ends in one stream. */
    got = parse_whole("data: x\rdata: y\r\n\ndata: z\n\r", NULL);
    assert_string_equal(got, "||x\ny\n||z\n");
    free(got);
}

static void skips_a_bom_only_at_the_start(void **state)
{
    char *got = parse_whole("\xef\xbb\xbf"
                            "data: a\n\n\xef\xbb\xbf"
                            "data: b\n\n",
                            NULL);
    /* The second BOM makes the field name "\xef\xbb\xbf" "data": ignored. */
    assert_string_equal(got, "||a\n");
    free(got);
    /* A prefix of a BOM that is not one stays part of the first line. */
    got = parse_whole("\xef\xbb"
                      "data: a\n\ndata: b\n\n",
                      NULL);
    assert_string_equal(got, "||b\n");
    free(got);
    size_t cuts[] = {1, 2};
    const char *s = "\xef\xbb\xbf"
                    "data: c\n\n";
    got = parse_with_cuts(s, strlen(s), cuts, 2, NULL);
    assert_string_equal(got, "||c\n");
    free(got);
}

static void does_not_dispatch_an_event_without_data(void **state)
{
    char *got = parse_whole("event: lonely\nid: 1\n\n: only a comment\n\ndata: x\n\n", NULL);
    /* The lonely event's type does not leak into the next one; the id does
     * persist, as the last event ID. */
    assert_string_equal(got, "|1|x\n");
    free(got);
}

static void ignores_an_id_containing_nul(void **state)
{
    static const char s[] = "id: 5\ndata: a\n\nid: 6\0x\ndata: b\n\n";
    char *got = parse_with_cuts(s, sizeof s - 1, NULL, 0, NULL);
    assert_string_equal(got, "|5|a\n|5|b\n");
    free(got);
}

static void reports_a_partial_event_until_it_is_complete(void **state)
{
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &c);
    assert_int_equal(cmx_sse_has_partial(&p), 0);
    assert_int_equal(cmx_sse_feed(&p, ": ping\n", 7), 0);
    assert_int_equal(cmx_sse_has_partial(&p), 0);
    assert_int_equal(cmx_sse_feed(&p, "da", 2), 0);
    assert_int_equal(cmx_sse_has_partial(&p), 1);
    assert_int_equal(cmx_sse_feed(&p, "ta: {\"x\":1}\n", 12), 0);
    assert_int_equal(cmx_sse_has_partial(&p), 1);
    assert_int_equal(c.count, 0);
    assert_int_equal(cmx_sse_feed(&p, "\n", 1), 0);
    assert_int_equal(cmx_sse_has_partial(&p), 0);
    assert_int_equal(c.count, 1);
    assert_int_equal(cmx_sse_feed(&p, "event: error\n", 13), 0);
    assert_int_equal(cmx_sse_has_partial(&p), 1);
    cmx_sse_parser_free(&p);
    cmx_buf_free(&c.out);
}

static void keeps_data_that_must_outlive_the_feed(void **state)
{
    /* The data line arrives in one feed, the blank line in the next: the
     * first feed's bytes are gone by then. */
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &c);
    char piece[] = "data: first\n";
    assert_int_equal(cmx_sse_feed(&p, piece, strlen(piece)), 0);
    memset(piece, 'X', sizeof piece - 1);
    assert_int_equal(cmx_sse_feed(&p, "\n", 1), 0);
    assert_string_equal(c.out.data, "||first\n");
    cmx_sse_parser_free(&p);
    cmx_buf_free(&c.out);
}

static void fails_when_an_event_exceeds_max_event_bytes(void **state)
{
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_sse_parser p;

    cmx_sse_parser_init(&p, collect, &c);
    p.max_event_bytes = 22;
    assert_int_equal(cmx_sse_feed(&p, "data: 0123456789abcdef\n\n", 24), 0); /* 22: at the limit */
    assert_int_equal(c.count, 1);
    assert_int_equal(cmx_sse_feed(&p, "data: 0123456789abcdefg\n\n", 25), -1);
    cmx_sse_parser_free(&p);

    /* Over the limit only once joined: 14 + 14 bytes of lines. */
    cmx_sse_parser_init(&p, collect, &c);
    p.max_event_bytes = 22;
    assert_int_equal(cmx_sse_feed(&p, "data: 01234567\n", 15), 0);
    assert_int_equal(cmx_sse_feed(&p, "data: 01234567\n\n", 16), -1);
    cmx_sse_parser_free(&p);

    /* A line that never ends. */
    cmx_sse_parser_init(&p, collect, &c);
    p.max_event_bytes = 22;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = cmx_sse_feed(&p, "aaaa", 4);
    assert_int_equal(rc, -1);
    cmx_sse_parser_free(&p);
    cmx_buf_free(&c.out);
}

static void stops_when_the_callback_says_so(void **state)
{
    collector c = {CMX_BUF_INIT, 0, 1};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &c);
    const char *s = "data: a\n\ndata: b\n\n";
    assert_int_equal(cmx_sse_feed(&p, s, strlen(s)), 7);
    assert_int_equal(c.count, 1);
    assert_string_equal(c.out.data, "||a\n");
    cmx_sse_parser_free(&p);
    cmx_buf_free(&c.out);
}

static void reuses_its_buffers_across_events(void **state)
{
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &c);
    const char *s = "event: delta\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n"
                    "data: more\n\n";
    size_t len = strlen(s);
    /* Split in the middle of the data, so the line buffer is used too. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(cmx_sse_feed(&p, s, 30), 0);
        assert_int_equal(cmx_sse_feed(&p, s + 30, len - 30), 0);
    }
    char *data = p.data.data, *line = p.line.data, *event = p.event.data;
    size_t caps = p.data.cap + p.line.cap + p.event.cap;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cmx_sse_feed(&p, s, 30), 0);
        assert_int_equal(cmx_sse_feed(&p, s + 30, len - 30), 0);
    }
    assert_int_equal(c.count, 1010);
    assert_ptr_equal(p.data.data, data);
    assert_ptr_equal(p.line.data, line);
    assert_ptr_equal(p.event.data, event);
    assert_int_equal(p.data.cap + p.line.cap + p.event.cap, caps);
    cmx_sse_parser_free(&p);
    cmx_buf_free(&c.out);
}

static void writes_events_that_read_back_the_same(void **state)
{
    cmx_buf out = CMX_BUF_INIT;
    assert_int_equal(cmx_sse_write(&out, NULL, "{\"a\":1}", 7), 0);
    assert_string_equal(out.data, "data: {\"a\":1}\n\n");
    cmx_buf_reset(&out);
    assert_int_equal(cmx_sse_write(&out, "error", "{\"error\":{}}", 12), 0);
    assert_string_equal(out.data, "event: error\ndata: {\"error\":{}}\n\n");
    assert_int_equal(cmx_sse_write(&out, NULL, "[DONE]", 6), 0);
    assert_int_equal(cmx_sse_write(&out, NULL, "", 0), 0);
    /* Line breaks in data become several data lines. */
    assert_int_equal(cmx_sse_write(&out, "m", "one\ntwo\r\nthree", 14), 0);
    char *got = parse_whole(out.data, NULL);
    assert_string_equal(got, "error||{\"error\":{}}\n||[DONE]\n||\nm||one\ntwo\nthree\n");
    free(got);
    /* An event name cannot hold a line break. */
    size_t before = out.len;
    assert_int_equal(cmx_sse_write(&out, "bad\nname", "x", 1), -1);
    assert_int_equal(out.len, before);
    cmx_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_a_stream_fed_in_one_piece),
        cmocka_unit_test(gives_the_same_events_for_every_two_way_split),
        cmocka_unit_test(gives_the_same_events_when_fed_byte_by_byte),
        cmocka_unit_test(treats_crlf_cr_and_lf_line_ends_alike),
        cmocka_unit_test(counts_cr_then_lf_across_feeds_as_one_line_end),
        cmocka_unit_test(skips_a_bom_only_at_the_start),
        cmocka_unit_test(does_not_dispatch_an_event_without_data),
        cmocka_unit_test(ignores_an_id_containing_nul),
        cmocka_unit_test(reports_a_partial_event_until_it_is_complete),
        cmocka_unit_test(keeps_data_that_must_outlive_the_feed),
        cmocka_unit_test(fails_when_an_event_exceeds_max_event_bytes),
        cmocka_unit_test(stops_when_the_callback_says_so),
        cmocka_unit_test(reuses_its_buffers_across_events),
        cmocka_unit_test(writes_events_that_read_back_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
