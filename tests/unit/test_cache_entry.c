/* test_cache_entry.c — cached answers: an entry survives encode/decode with
 * its usage and provider, a damaged one is refused, a stored stream (text
 * and tool-call fragments, several choices) is assembled into the
 * chat.completion a plain client expects, a stored body becomes chunks for
 * a streaming client, and usage-only chunks are replaced by one made from
 * the stored counts only when the client asked for usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "core/arena.h"
#include "gateway/cache_entry.h"

static const char *const stream_chunks[] = {
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null},"
    "{\"index\":1,\"delta\":{\"content\":\"Other\"},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"\"}}]},"
    "\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"a\\\":\"}}]},\"finish_reason\":null}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"},"
    "{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}",
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}",
};
#define N_CHUNKS (sizeof stream_chunks / sizeof *stream_chunks)

static void encode_stream(cmx_buf *out)
{
    cmx_buf payload = CMX_BUF_INIT;
    for (size_t i = 0; i < N_CHUNKS; i++)
        cmx_cache_append_chunk(&payload, stream_chunks[i], strlen(stream_chunks[i]));
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = 3;
    u.completion_tokens = 4;
    cmx_cache_entry_encode(out, 1, &u, "openai", "gpt-4o", payload.data, payload.len);
    cmx_buf_free(&payload);
}

static void an_entry_round_trips_and_a_damaged_one_is_refused(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT;
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = 10;
    u.completion_tokens = 5;
    cmx_cache_entry_encode(&v, 0, &u, "azure", "gpt-4o-mini", "{\"x\":1}", 7);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_false(e.is_stream);
    assert_string_equal(e.provider, "azure");
    assert_string_equal(e.model, "gpt-4o-mini");
    assert_int_equal(e.usage.prompt_tokens, 10);
    assert_int_equal(e.usage.total_tokens, 15);
    assert_int_equal(e.payload_len, 7);
    assert_memory_equal(e.payload, "{\"x\":1}", 7);
    assert_int_equal(cmx_cache_entry_decode("CMX1 j 1 1 99 0\nab", 18, a, &e), -1);
    assert_int_equal(cmx_cache_entry_decode("nonsense", 8, a, &e), -1);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void a_stored_stream_is_assembled_into_one_completion(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, out = CMX_BUF_INIT;
    encode_stream(&v);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_int_equal(cmx_cache_entry_as_json(&e, &out), 0);
    json_t *root = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(root, "id")), "c1");
    json_t *c0 = json_array_get(json_object_get(root, "choices"), 0);
    json_t *msg = json_object_get(c0, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "Hello");
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "tool_calls");
    json_t *call = json_array_get(json_object_get(msg, "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(call, "id")), "call_1");
    json_t *fn = json_object_get(call, "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get");
    assert_string_equal(json_string_value(json_object_get(fn, "arguments")), "{\"a\":1}");
    json_t *c1 = json_array_get(json_object_get(root, "choices"), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c1, "message"), "content")), "Other");
    assert_string_equal(json_string_value(json_object_get(c1, "finish_reason")), "stop");
    json_t *usage = json_object_get(root, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 7);
    json_decref(root);
    cmx_buf_free(&out);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

typedef struct collected {
    json_t *chunks;
} collected;

static void collect(void *ctx, const char *json, size_t len)
{
    collected *c = ctx;
    json_array_append_new(c->chunks, json_loadb(json, len, 0, NULL));
}

static void stored_usage_chunks_are_replayed_only_when_asked_for(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT;
    encode_stream(&v);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    collected without = {json_array()}, with = {json_array()};
    assert_int_equal(cmx_cache_entry_as_chunks(&e, 0, collect, &without), 0);
    assert_int_equal(json_array_size(without.chunks), N_CHUNKS - 1);
    assert_int_equal(cmx_cache_entry_as_chunks(&e, 1, collect, &with), 0);
    assert_int_equal(json_array_size(with.chunks), N_CHUNKS);
    json_t *last = json_array_get(with.chunks, N_CHUNKS - 1);
    assert_int_equal(json_array_size(json_object_get(last, "choices")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(last, "usage"), "completion_tokens")),
        4);
    json_decref(without.chunks);
    json_decref(with.chunks);
    /* A damaged stream emits nothing at all. */
    collected none = {json_array()};
    e.payload_len -= 3;
    assert_int_equal(cmx_cache_entry_as_chunks(&e, 1, collect, &none), -1);
    assert_int_equal(json_array_size(none.chunks), 0);
    json_decref(none.chunks);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void a_stored_body_becomes_chunks_with_indexed_tool_calls(void **state)
{
    static const char body[] =
        "{\"id\":\"b1\",\"object\":\"chat.completion\",\"created\":9,\"model\":\"m\",\"choices\":["
        "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}"
        ","
        "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
        "\"total_tokens\":3}}";
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT;
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = 1;
    u.completion_tokens = 2;
    cmx_cache_entry_encode(&v, 0, &u, "p", "m", body, strlen(body));
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    collected c = {json_array()};
    assert_int_equal(cmx_cache_entry_as_chunks(&e, 0, collect, &c), 0);
    assert_int_equal(json_array_size(c.chunks), 2);
    json_t *first = json_array_get(c.chunks, 0);
    assert_string_equal(json_string_value(json_object_get(first, "object")),
                        "chat.completion.chunk");
    json_t *delta = json_object_get(json_array_get(json_object_get(first, "choices"), 0), "delta");
    json_t *call = json_array_get(json_object_get(delta, "tool_calls"), 0);
    assert_int_equal(json_integer_value(json_object_get(call, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(call, "id")), "t1");
    json_t *second = json_array_get(json_object_get(json_array_get(c.chunks, 1), "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(second, "finish_reason")), "tool_calls");
    json_decref(c.chunks);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_entry_round_trips_and_a_damaged_one_is_refused),
        cmocka_unit_test(a_stored_stream_is_assembled_into_one_completion),
        cmocka_unit_test(stored_usage_chunks_are_replayed_only_when_asked_for),
        cmocka_unit_test(a_stored_body_becomes_chunks_with_indexed_tool_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
