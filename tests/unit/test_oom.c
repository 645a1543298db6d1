/* test_oom.c — running out of memory never sends a client half a message.
 *
 * Every cmx_buf grows through one allocator that a test can replace
 * (cmx_buf_set_realloc).  Each test here runs a writer once to count its
 * allocations, then once more for every one of them failing in turn, and
 * checks what left the writer: only whole messages, each one a prefix of
 * what the run without failures sent, and a failure reported instead of
 * the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/sse.h"
#include "providers/anthropic.h"

/* ---- the failing allocator -------------------------------------------- */

static size_t allocations; /* calls so far */
static size_t fail_at;     /* the call that fails (1-based); 0: none */

static void *counting_realloc(void *p, size_t n)
{
    allocations++;
    if (fail_at && allocations == fail_at)
        return NULL;
    return realloc(p, n);
}

static void arm(size_t which)
{
    allocations = 0;
    fail_at = which;
    cmx_buf_set_realloc(counting_realloc);
}

static void disarm(void)
{
    cmx_buf_set_realloc(NULL);
}

/* ---- the buffer itself ------------------------------------------------ */

static void a_failed_append_marks_the_buffer_and_later_appends_do_nothing(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    arm(2); /* the first growth works, the second fails */
    assert_int_equal(cmx_buf_append_str(&b, "{\"a\":"), 0);
    char big[200];
    memset(big, 'x', sizeof big);
    assert_int_equal(cmx_buf_append(&b, big, sizeof big), -1);
    assert_true(cmx_buf_failed(&b));
    /* a later append that would fit is refused too: the message has a hole */
    assert_int_equal(cmx_buf_append_str(&b, "1}"), -1);
    assert_string_equal(b.data, "{\"a\":");
    disarm();
    cmx_buf_rewind(&b);
    assert_true(cmx_buf_failed(&b)); /* rewinding keeps the failure */
    cmx_buf_reset(&b);
    assert_false(cmx_buf_failed(&b)); /* resetting is a fresh start */
    assert_int_equal(cmx_buf_append_str(&b, "ok"), 0);
    assert_string_equal(b.data, "ok");
    cmx_buf_free(&b);
}

static void a_fixed_buffer_fails_instead_of_growing(void **state)
{
    (void)state;
    char mem[8];
    cmx_buf b;
    cmx_buf_init_fixed(&b, mem, sizeof mem);
    assert_int_equal(cmx_buf_append_str(&b, "1234567"), 0);
    assert_string_equal(mem, "1234567");
    assert_int_equal(cmx_buf_append_str(&b, "8"), -1);
    assert_true(cmx_buf_failed(&b));
    assert_string_equal(mem, "1234567");
    cmx_buf_truncate(&b, 3);
    assert_false(cmx_buf_failed(&b));
    assert_int_equal(cmx_buf_printf(&b, "%d", 45), 0);
    assert_string_equal(mem, "12345");
    cmx_buf_free(&b); /* frees nothing: the storage is the caller's */
    assert_string_equal(mem, "12345");
}

static void a_half_escaped_string_leaves_nothing_behind(void **state)
{
    (void)state;
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_append_str(&b, "\"");
    size_t before = b.len;
    char text[300];
    memset(text, '\n', sizeof text); /* every byte doubles when escaped */
    arm(1);
    assert_int_equal(cmx_buf_append_json_escaped(&b, text, sizeof text), -1);
    disarm();
    assert_int_equal(b.len, before);
    assert_true(cmx_buf_failed(&b));
    cmx_buf_free(&b);
}

/* ---- a stream translator under failing allocations -------------------- */

typedef struct run {
    json_t *chunks; /* what was emitted, each parsed */
    int broken;     /* a chunk that is not one JSON object was emitted */
    cmx_err rc;     /* the first failure the translator reported */
    cmx_anthropic_stream tr;
} run;

static void collect(void *ctx, const char *json, size_t len)
{
    run *r = ctx;
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!json_is_object(j)) {
        r->broken = 1;
        json_decref(j);
        return;
    }
    json_array_append_new(r->chunks, j);
}

static int on_event(void *ctx, const cmx_sse_event *ev)
{
    run *r = ctx;
    cmx_error err;
    cmx_err rc =
        cmx_anthropic_stream_event(&r->tr, ev->event, ev->event_len, ev->data, ev->data_len, &err);
    if (rc != CMX_OK) {
        r->rc = rc;
        return 1;
    }
    return 0;
}

static const char stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"A longer piece of text, long enough that its chunk has to grow the scratch "
    "buffer more than once before it is whole: \\\"quoted\\\" and \\n escaped.\"}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
    "\"usage\":{\"output_tokens\":30}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

static void run_stream(run *r)
{
    r->chunks = json_array();
    r->broken = 0;
    r->rc = CMX_OK;
    cmx_anthropic_stream_init(&r->tr, 1, 1700000000, collect, r);
    cmx_sse_parser p;
    cmx_sse_parser_init(&p, on_event, r);
    /* the parser's own buffers grow through the same allocator: feed it
     * byte-sized pieces so they do */
    for (size_t i = 0; i < sizeof stream - 1 && r->rc == CMX_OK; i += 40) {
        size_t n = sizeof stream - 1 - i < 40 ? sizeof stream - 1 - i : 40;
        if (cmx_sse_feed(&p, stream + i, n) < 0 && r->rc == CMX_OK)
            r->rc = CMX_ERR_NOMEM;
    }
    cmx_sse_parser_free(&p);
    cmx_anthropic_stream_free(&r->tr);
}

static void a_stream_out_of_memory_emits_only_whole_chunks_then_fails(void **state)
{
    (void)state;
    run good;
    arm(0);
    run_stream(&good);
    size_t total = allocations;
    disarm();
    assert_int_equal(good.rc, CMX_OK);
    assert_false(good.broken);
    assert_int_equal(json_array_size(good.chunks), 6); /* role, text, tool, args, finish, usage */
    assert_true(total >= 4);
    for (size_t k = 1; k <= total; k++) {
        run r;
        arm(k);
        run_stream(&r);
        disarm();
        if (r.broken)
            fail_msg("allocation %zu failing: a chunk that is not whole JSON was emitted", k);
        if (r.rc != CMX_ERR_NOMEM)
            fail_msg("allocation %zu failing: the stream did not report out of memory", k);
        size_t n = json_array_size(r.chunks);
        if (n >= json_array_size(good.chunks))
            fail_msg("allocation %zu failing: every chunk still went out", k);
        for (size_t i = 0; i < n; i++)
            if (!json_equal(json_array_get(r.chunks, i), json_array_get(good.chunks, i)))
                fail_msg("allocation %zu failing: chunk %zu differs from the good run", k, i);
        json_decref(r.chunks);
    }
    json_decref(good.chunks);
}

/* ---- a request translator under failing allocations ------------------ */

/* A first message longer than the translator's room for one message's
 * blocks (so they move to the heap), then more messages after it. */
static char *long_request(void)
{
    char text[1600];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    size_t cap = sizeof text + 256;
    char *body = malloc(cap);
    snprintf(body, cap,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},"
             "{\"role\":\"assistant\",\"content\":\"ok\"},"
             "{\"role\":\"user\",\"content\":\"again\"}]}",
             text);
    return body;
}

static cmx_err translate_long_request(const char *body, cmx_buf *out)
{
    cmx_translate_input in = {body, strlen(body), NULL, NULL, NULL};
    cmx_anthropic_options opt = {.model = "claude-x"};
    cmx_error err;
    return cmx_anthropic_translate_request(&in, &opt, out, &err);
}

static void a_request_out_of_memory_fails_whole(void **state)
{
    (void)state;
    char *body = long_request();
    cmx_buf good = CMX_BUF_INIT;
    arm(0);
    assert_int_equal(translate_long_request(body, &good), CMX_OK);
    size_t total = allocations;
    disarm();
    assert_true(total >= 2);
    for (size_t k = 1; k <= total; k++) {
        cmx_buf out = CMX_BUF_INIT;
        arm(k);
        cmx_err rc = translate_long_request(body, &out);
        disarm();
        if (rc == CMX_OK && (out.len != good.len || memcmp(out.data, good.data, good.len) != 0))
            fail_msg("allocation %zu failing: a request other than the good run's was written", k);
        if (rc != CMX_OK && rc != CMX_ERR_NOMEM)
            fail_msg("allocation %zu failing: error kind %d instead of out of memory", k, (int)rc);
        cmx_buf_free(&out);
    }
    cmx_buf_free(&good);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_failed_append_marks_the_buffer_and_later_appends_do_nothing),
        cmocka_unit_test(a_fixed_buffer_fails_instead_of_growing),
        cmocka_unit_test(a_half_escaped_string_leaves_nothing_behind),
        cmocka_unit_test(a_stream_out_of_memory_emits_only_whole_chunks_then_fails),
        cmocka_unit_test(a_request_out_of_memory_fails_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
