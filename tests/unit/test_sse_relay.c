/* test_sse_relay.c — plain named events recognised (and every other framing
 * refused), and the relay giving the same events as the SSE reader for
 * every way reads can cut a stream: whole runs when the stream is plain,
 * the reader from the first event that is not, the judge's stop and end
 * kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"
#include "http/sse.h"
#include "http/sse_relay.h"

#define EV(name, rest) "event: " name "\ndata: {\"type\":\"" name "\"" rest "}\n\n"

static const char plain_stream[] = EV("response.created", ",\"response\":{\"id\":\"r1\"}")
    EV("response.output_text.delta", ",\"delta\":\"Hel\"")
        EV("response.output_text.delta", ",\"delta\":\"lo\"")
            EV("response.output_text.done", ",\"text\":\"Hello\"")
                EV("response.completed", ",\"usage\":{\"input_tokens\":3}");

/* ---- one event ----------------------------------------------------------- */

static void recognises_a_plain_event_and_waits_for_the_rest_of_a_cut_one(void **state)
{
    (void)state;
    const char *e = EV("message_start", ",\"message\":{}");
    size_t n = strlen(e);
    cmx_sse_plain ev;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(cmx_sse_plain_event(e, k, &ev), CMX_SSE_CUT);
    char with_more[256];
    snprintf(with_more, sizeof with_more, "%sevent: x", e);
    assert_int_equal(cmx_sse_plain_event(with_more, strlen(with_more), &ev), CMX_SSE_PLAIN);
    assert_int_equal(ev.len, n);
    assert_int_equal(ev.type_len, strlen("message_start"));
    assert_memory_equal(ev.type, "message_start", ev.type_len);
    assert_int_equal(ev.data_len, strlen("{\"type\":\"message_start\",\"message\":{}}"));
    assert_memory_equal(ev.data, "{\"type\":\"message_start\"", 23);
}

static void refuses_every_other_framing(void **state)
{
    (void)state;
    static const char *const not_plain[] = {
        "event: a\r\ndata: {\"type\":\"a\"}\r\n\r\n",           /* CRLF */
        "event: a\ndata: {\"type\":\"a\"}\r\n\n",               /* a CR in the data line */
        ": keep-alive\n\n",                                     /* a comment */
        "id: 7\nevent: a\ndata: {\"type\":\"a\"}\n\n",          /* an id field */
        "event: a\nid: 7\ndata: {\"type\":\"a\"}\n\n",          /* ... between */
        "event: a\ndata:{\"type\":\"a\"}\n\n",                  /* no space after data: */
        "event:a\ndata: {\"type\":\"a\"}\n\n",                  /* no space after event: */
        "data: {\"type\":\"a\"}\n\n",                           /* no event line */
        "event: b\ndata: {\"type\":\"a\"}\n\n",                 /* a name that is not the type */
        "event: a\ndata: {\"type\":\"ab\"}\n\n",                /* ... nor a prefix of it */
        "event: a\ndata: {\"x\":1,\"type\":\"a\"}\n\n",         /* the type not first */
        "event: a\ndata: { \"type\":\"a\"}\n\n",                /* written otherwise */
        "event: \\u0061\ndata: {\"type\":\"\\u0061\"}\n\n",     /* an escaped type */
        "event: a\ndata: {\"type\":\"a\",\ndata: \"b\":1}\n\n", /* data over two lines */
        "event: a\ndata: {\"type\":\"a\"}\nevent: b\n\n",       /* no blank line after it */
        "event: \ndata: {\"type\":\"\"}\n\n",                   /* an empty name */
        "\xef\xbb\xbf"
        "event: a\ndata: {\"type\":\"a\"}\n\n", /* a BOM */
    };
    for (size_t i = 0; i < sizeof not_plain / sizeof not_plain[0]; i++) {
        cmx_sse_plain ev;
        cmx_sse_plain_verdict rc = cmx_sse_plain_event(not_plain[i], strlen(not_plain[i]), &ev);
        if (rc != CMX_SSE_NOT_PLAIN)
            fail_msg("case %zu was taken as plain (%d): %s", i, rc, not_plain[i]);
    }
}

/* ---- the relay ----------------------------------------------------------- */

/* Everything that came out of the relay, as "name|data\n" lines, the same
 * way for the first event, the runs and the reader's events. */
typedef struct recorder {
    cmx_buf events;
    int firsts, runs, rests;
    size_t run_events; /* events the runs said they held */
    int rest_at_start; /* at_start of the first rest() */
    cmx_sse_parser reader;
    int reader_ready;
    const char *stop_at; /* the judge stops before an event of this type */
    const char *last_at; /* ... and ends the stream at one of this type */
} recorder;

static void put(recorder *r, const char *name, size_t name_len, const char *data, size_t len)
{
    cmx_buf_append(&r->events, name, name_len);
    cmx_buf_append(&r->events, "|", 1);
    cmx_buf_append(&r->events, data, len);
    cmx_buf_append(&r->events, "\n", 1);
}

static int is(const cmx_sse_plain *ev, const char *name)
{
    return name && ev->type_len == strlen(name) && memcmp(ev->type, name, ev->type_len) == 0;
}

static cmx_sse_relay_verdict judge(void *ctx, const cmx_sse_plain *ev)
{
    recorder *r = ctx;
    if (is(ev, r->stop_at))
        return CMX_SSE_RELAY_STOP;
    return is(ev, r->last_at) ? CMX_SSE_RELAY_LAST : CMX_SSE_RELAY_PASS;
}

static void first(void *ctx, const cmx_sse_plain *ev)
{
    recorder *r = ctx;
    r->firsts++;
    put(r, ev->type, ev->type_len, ev->data, ev->data_len);
}

static void run(void *ctx, const char *sse, size_t len, size_t n)
{
    recorder *r = ctx;
    r->runs++;
    r->run_events += n;
    size_t at = 0, seen = 0;
    cmx_sse_plain ev;
    while (at < len) {
        assert_int_equal(cmx_sse_plain_event(sse + at, len - at, &ev), CMX_SSE_PLAIN);
        put(r, ev.type, ev.type_len, ev.data, ev.data_len);
        at += ev.len;
        seen++;
    }
    assert_int_equal(seen, n);
}

static int collect(void *ctx, const cmx_sse_event *ev)
{
    put(ctx, ev->event, ev->event_len, ev->data, ev->data_len);
    return 0;
}

static int rest(void *ctx, const char *bytes, size_t len, int at_start)
{
    recorder *r = ctx;
    if (!r->reader_ready) {
        cmx_sse_parser_init(&r->reader, collect, r);
        if (!at_start)
            r->reader.seen_bytes = 3;
        r->reader_ready = 1;
        r->rest_at_start = at_start;
    }
    r->rests++;
    return cmx_sse_feed(&r->reader, bytes, len);
}

static const cmx_sse_relay_ops ops = {judge, first, run, rest};

static void recorder_free(recorder *r)
{
    cmx_buf_free(&r->events);
    if (r->reader_ready)
        cmx_sse_parser_free(&r->reader);
}

/* Feeds the stream in pieces cut at the given offsets, each a heap copy so
 * ASan catches a read past it; returns the first non-zero feed. */
static int feed_cut(cmx_sse_relay *relay, recorder *r, const char *s, size_t len,
                    const size_t *cuts, size_t n_cuts)
{
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        char *piece = malloc(to - at + 1);
        memcpy(piece, s + at, to - at);
        int rc = cmx_sse_relay_feed(relay, piece, to - at, &ops, r);
        free(piece);
        if (rc != 0)
            return rc;
        at = to;
    }
    return 0;
}

/* What the SSE reader makes of the whole stream, as "name|data\n" lines. */
static char *read_whole(const char *s)
{
    recorder r = {0};
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, collect, &r);
    assert_int_equal(cmx_sse_feed(&p, s, strlen(s)), 0);
    cmx_sse_parser_free(&p);
    cmx_buf_append(&r.events, "", 0);
    return r.events.data;
}

/* Relays s cut at every two-way split and byte by byte: each time the
 * same events as the reader's, the first of them alone. */
static void relays_like_the_reader(const char *s)
{
    char *want = read_whole(s);
    size_t len = strlen(s);
    for (size_t cut = 0; cut <= len + 1; cut++) {
        size_t cuts[4096];
        size_t n = 0;
        if (cut <= len) {
            cuts[n++] = cut;
        } else {
            for (size_t k = 1; k < len && n < sizeof cuts / sizeof cuts[0]; k++)
                cuts[n++] = k;
        }
        recorder r = {0};
        cmx_sse_relay relay = {0};
        assert_int_equal(feed_cut(&relay, &r, s, len, cuts, n), 0);
        cmx_buf_append(&r.events, "", 0);
        assert_string_equal(r.events.data, want);
        assert_true(r.firsts <= 1);
        assert_false(cmx_sse_relay_partial(&relay));
        cmx_sse_relay_free(&relay);
        recorder_free(&r);
    }
    free(want);
}

static void relays_a_plain_stream_like_the_reader_however_reads_cut_it(void **state)
{
    (void)state;
    relays_like_the_reader(plain_stream);
}

static void hands_a_reads_events_on_in_one_run_after_the_first_alone(void **state)
{
    (void)state;
    recorder r = {0};
    cmx_sse_relay relay = {0};
    assert_int_equal(cmx_sse_relay_feed(&relay, plain_stream, strlen(plain_stream), &ops, &r), 0);
    assert_int_equal(r.firsts, 1);
    assert_int_equal(r.runs, 1);
    assert_int_equal(r.run_events, 4);
    assert_int_equal(r.rests, 0);
    assert_int_equal(relay.passed, 5);
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

static void gives_the_rest_to_the_reader_from_the_first_event_of_another_framing(void **state)
{
    (void)state;
    /* plain, plain, a keep-alive comment, an event in CRLF, then plain
     * again: that last one goes to the reader too */
    static const char mixed[] = EV("message_start", ",\"message\":{}")
        EV("content_block_start",
           ",\"index\":0") ": ping\n\n"
                           "event: content_block_delta\r\ndata: "
                           "{\"type\":\"content_block_delta\"}\r\n\r\n" EV("message_stop", "");
    relays_like_the_reader(mixed);
    recorder r = {0};
    cmx_sse_relay relay = {0};
    assert_int_equal(cmx_sse_relay_feed(&relay, mixed, strlen(mixed), &ops, &r), 0);
    assert_int_equal(r.firsts, 1);
    assert_int_equal(r.run_events, 1);
    assert_int_equal(r.rest_at_start, 0);
    assert_true(relay.off);
    /* later reads go straight to the reader */
    int rests = r.rests;
    assert_int_equal(cmx_sse_relay_feed(&relay, CMX_LIT(EV("extra", "")), &ops, &r), 0);
    assert_int_equal(r.rests, rests + 1);
    assert_int_equal(r.runs, 1);
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

static void gives_a_stream_that_starts_otherwise_to_the_reader_whole(void **state)
{
    (void)state;
    static const char bom_led[] = "\xef\xbb\xbf" EV("message_start", "") EV("message_stop", "");
    relays_like_the_reader(bom_led);
    recorder r = {0};
    cmx_sse_relay relay = {0};
    assert_int_equal(cmx_sse_relay_feed(&relay, bom_led, strlen(bom_led), &ops, &r), 0);
    assert_int_equal(r.firsts, 0);
    assert_int_equal(r.rest_at_start, 1); /* so the reader skips the BOM */
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

static void stops_before_an_event_the_judge_refuses(void **state)
{
    (void)state;
    recorder r = {.stop_at = "response.output_text.done"};
    cmx_sse_relay relay = {0};
    assert_int_equal(cmx_sse_relay_feed(&relay, plain_stream, strlen(plain_stream), &ops, &r), 1);
    cmx_buf_append(&r.events, "", 0);
    assert_null(strstr(r.events.data, "output_text.done"));
    assert_non_null(strstr(r.events.data, "\"delta\":\"lo\""));
    assert_int_equal(r.run_events, 2); /* the events before it went on */
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

static void drops_what_follows_the_last_event(void **state)
{
    (void)state;
    recorder r = {.last_at = "response.completed"};
    cmx_sse_relay relay = {0};
    char s[2048];
    snprintf(s, sizeof s, "%s%s", plain_stream, "garbage that is no event\r\n\n");
    assert_int_equal(cmx_sse_relay_feed(&relay, s, strlen(s), &ops, &r), 0);
    assert_int_equal(cmx_sse_relay_feed(&relay, CMX_LIT("more garbage"), &ops, &r), 0);
    assert_int_equal(r.rests, 0);
    assert_int_equal(relay.passed, 5);
    assert_false(cmx_sse_relay_partial(&relay));
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

static void keeps_a_cut_event_within_its_limit(void **state)
{
    (void)state;
    recorder r = {0};
    cmx_sse_relay relay = {.max_event_bytes = 64};
    const char *e = EV("message_start", "");
    assert_int_equal(cmx_sse_relay_feed(&relay, e, strlen(e), &ops, &r), 0);
    assert_int_equal(
        cmx_sse_relay_feed(&relay, CMX_LIT("event: content_block_delta\nda"), &ops, &r), 0);
    assert_true(cmx_sse_relay_partial(&relay));
    assert_int_equal(cmx_sse_relay_feed(&relay,
                                        CMX_LIT("ta: {\"type\":\"content_block_delta\",\"t\":\""),
                                        &ops, &r),
                     -1);
    cmx_sse_relay_free(&relay);
    recorder_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recognises_a_plain_event_and_waits_for_the_rest_of_a_cut_one),
        cmocka_unit_test(refuses_every_other_framing),
        cmocka_unit_test(relays_a_plain_stream_like_the_reader_however_reads_cut_it),
        cmocka_unit_test(hands_a_reads_events_on_in_one_run_after_the_first_alone),
        cmocka_unit_test(gives_the_rest_to_the_reader_from_the_first_event_of_another_framing),
        cmocka_unit_test(gives_a_stream_that_starts_otherwise_to_the_reader_whole),
        cmocka_unit_test(stops_before_an_event_the_judge_refuses),
        cmocka_unit_test(drops_what_follows_the_last_event),
        cmocka_unit_test(keeps_a_cut_event_within_its_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
