/* test_chunk_emit.c — the chat.completion.chunk writer's kept head
 * (chunk_emit.h, cmx_chunk_head): chunks written with the head kept are
 * byte for byte the ones written with the head in full every time, through
 * a change of id or model mid-stream, a usage chunk (which has no choice)
 * in between, and a scratch buffer that ran out of memory. */
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
#include "providers/chunk_emit.h"

/* The chunks a writer emitted, one a line. */
static void collect(void *ctx, const char *json, size_t len)
{
    cmx_buf *b = ctx;
    cmx_buf_append(b, json, len);
    cmx_buf_append(b, CMX_LIT("\n"));
}

/* One stream's worth of chunks, every kind, with the id and model changed
 * part way (as a translator may before its first chunk), into `out`. */
static void write_stream(int keep_head, cmx_buf *out)
{
    char id[64] = "chatcmpl-one", model[64] = "model-a";
    cmx_buf scratch = CMX_BUF_INIT;
    cmx_chunk_head head;
    memset(&head, 0, sizeof head);
    cmx_chunk_writer w = {id, model, 1700000000, &scratch, collect, out, keep_head ? &head : NULL};
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = 3;
    u.completion_tokens = 4;
    u.total_tokens = 7;

    cmx_chunk_role(&w);
    cmx_chunk_content(&w, CMX_JW_ESC("Hello", 5));
    cmx_chunk_content(&w, CMX_JW_RAW("quote \" and \\ and \n", 19));
    cmx_chunk_reasoning(&w, CMX_JW_ESC("think", 5));
    cmx_chunk_tool_call_start(&w, 0, CMX_JW_ESC("call_1", 6), CMX_JW_ESC("get", 3));
    cmx_chunk_tool_call_arguments(&w, 0, CMX_JW_ESC("{\\\"a\\\":1}", 9));
    cmx_chunk_usage(&w, &u); /* no choice: the kept head is dropped */
    cmx_chunk_content(&w, CMX_JW_ESC(" again", 6));
    snprintf(id, sizeof id, "chatcmpl-two");
    cmx_chunk_content(&w, CMX_JW_ESC(" new id", 7));
    snprintf(model, sizeof model, "model-b");
    cmx_chunk_content(&w, CMX_JW_ESC(" new model", 10));
    w.created++;
    cmx_chunk_content(&w, CMX_JW_ESC(" new time", 9));
    cmx_chunk_finish(&w, "stop");
    cmx_chunk_content(&w, CMX_JW_ESC("after the finish", 16));
    assert_false(cmx_buf_failed(&scratch));
    if (keep_head)
        assert_true(head.len > 0); /* the path under test was taken */
    cmx_buf_free(&scratch);
}

static void kept_head_writes_the_same_bytes(void **state)
{
    (void)state;
    cmx_buf kept = CMX_BUF_INIT, full = CMX_BUF_INIT;
    write_stream(1, &kept);
    write_stream(0, &full);
    assert_non_null(kept.data);
    assert_string_equal(kept.data, full.data);
    /* and the changes show: both ids, both models */
    assert_non_null(strstr(kept.data, "\"id\":\"chatcmpl-one\""));
    assert_non_null(strstr(kept.data,
                           "\"id\":\"chatcmpl-two\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1700000000,\"model\":\"model-a\""));
    assert_non_null(strstr(kept.data, "\"created\":1700000001,\"model\":\"model-b\""));
    assert_non_null(strstr(kept.data,
                           "{\"id\":\"chatcmpl-one\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1700000000,\"model\":\"model-a\",\"choices\":[{"
                           "\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":"
                           "null,\"finish_reason\":null}]}\n"));
    cmx_buf_free(&kept);
    cmx_buf_free(&full);
}

/* A scratch that failed keeps failing and emits nothing, kept head or not;
 * after the failure is cleared the next chunk is whole again. */
static void a_failed_scratch_emits_nothing(void **state)
{
    (void)state;
    cmx_buf out = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_chunk_head head;
    memset(&head, 0, sizeof head);
    cmx_chunk_writer w = {"chatcmpl-x", "m", 1, &scratch, collect, &out, &head};
    cmx_chunk_content(&w, CMX_JW_ESC("one", 3));
    size_t after_one = out.len;
    scratch.failed = 1; /* as an allocation failure leaves it */
    cmx_chunk_content(&w, CMX_JW_ESC("two", 3));
    assert_int_equal(out.len, after_one);
    cmx_error err;
    assert_int_equal(cmx_chunk_check(&scratch, &err), CMX_ERR_NOMEM);
    cmx_buf_reset(&scratch);
    cmx_chunk_content(&w, CMX_JW_ESC("three", 5));
    assert_non_null(strstr(out.data, "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\","
                                     "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
                                     "\"delta\":{\"content\":\"three\"},\"logprobs\":null,"
                                     "\"finish_reason\":null}]}\n"));
    assert_null(strstr(out.data, "two"));
    cmx_buf_free(&out);
    cmx_buf_free(&scratch);
}

/* An id and model too long for the head's key: written in full each time. */
static void a_long_id_is_written_in_full(void **state)
{
    (void)state;
    char id[CMX_CHUNK_HEAD_KEY + 8];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    cmx_buf out = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_chunk_head head;
    memset(&head, 0, sizeof head);
    cmx_chunk_writer w = {id, "m", 1, &scratch, collect, &out, &head};
    cmx_chunk_content(&w, CMX_JW_ESC("a", 1));
    assert_int_equal(head.len, 0);
    cmx_chunk_content(&w, CMX_JW_ESC("b", 1));
    const char *second = strchr(out.data, '\n') + 1;
    assert_memory_equal(second, "{\"id\":\"iiii", 11);
    assert_non_null(strstr(second, "\"content\":\"b\""));
    cmx_buf_free(&out);
    cmx_buf_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kept_head_writes_the_same_bytes),
        cmocka_unit_test(a_failed_scratch_emits_nothing),
        cmocka_unit_test(a_long_id_is_written_in_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
