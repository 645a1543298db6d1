/* test_cache_entry.c — cached answers: an entry made from a body or a
 * stream survives encode/decode with its usage and provider and holds both
 * forms, so a hit either way is the stored bytes; a damaged one is refused;
 * a stored stream (text and tool-call fragments, several choices) is
 * assembled into the chat.completion a plain client expects, a stored body
 * becomes chunk events with indexed tool calls for a streaming client;
 * usage-only chunks are not kept and one usage event made from the stored
 * counts is kept for clients that ask for usage; an answer too big for both
 * forms keeps the one it came in and converts on the hit; embeddings keep
 * their body only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "core/arena.h"
#include "gateway/cache_entry.h"

#define ROOMY (1u << 20)

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

static const char body_with_tool_call[] =
    "{\"id\":\"b1\",\"object\":\"chat.completion\",\"created\":9,\"model\":\"m\",\"choices\":["
    "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
    "\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1,"
    "\"completion_tokens\":2,\"total_tokens\":3}}";

static cmx_usage counts(long long prompt, long long completion)
{
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = prompt;
    u.completion_tokens = completion;
    return u;
}

/* The events of stream_chunks as the relay keeps them. */
static void keep_stream(cmx_buf *events)
{
    for (size_t i = 0; i < N_CHUNKS; i++)
        cmx_cache_append_chunk(events, stream_chunks[i], strlen(stream_chunks[i]));
}

static void make_stream_entry(cmx_buf *out, size_t max_len)
{
    cmx_buf events = CMX_BUF_INIT;
    keep_stream(&events);
    cmx_usage u = counts(3, 4);
    assert_int_equal(
        cmx_cache_entry_make(out, 1, &u, "openai", "gpt-4o", events.data, events.len, max_len), 0);
    cmx_buf_free(&events);
}

/* The JSON of each "data: ...\n\n" event, parsed, in order. */
static json_t *parse_events(const char *p, size_t len)
{
    json_t *all = json_array();
    const char *end = p + len;
    while (p < end) {
        assert_memory_equal(p, "data: ", 6);
        const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
        assert_non_null(stop);
        json_t *one = json_loadb(p + 6, (size_t)(stop - p - 6), 0, NULL);
        assert_non_null(one);
        json_array_append_new(all, one);
        p = stop + 2;
    }
    return all;
}

static void the_relay_keeps_events_without_usage_only_chunks(void **state)
{
    cmx_buf events = CMX_BUF_INIT;
    keep_stream(&events);
    json_t *kept = parse_events(events.data, events.len);
    assert_int_equal(json_array_size(kept), N_CHUNKS - 1);
    json_decref(kept);
    /* Byte for byte what the client was sent. */
    assert_memory_equal(events.data, "data: ", 6);
    assert_memory_equal(events.data + 6, stream_chunks[0], strlen(stream_chunks[0]));
    cmx_buf_free(&events);
}

static void an_entry_round_trips_with_both_forms_and_a_damaged_one_is_refused(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_usage u = counts(10, 5);
    static const char body[] =
        "{\"id\":\"x\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":"
        "0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
        "\"finish_reason\":\"stop\"}]}";
    assert_int_equal(
        cmx_cache_entry_make(&v, 0, &u, "azure", "gpt-4o-mini", body, strlen(body), ROOMY), 0);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_string_equal(e.provider, "azure");
    assert_string_equal(e.model, "gpt-4o-mini");
    assert_int_equal(e.usage.prompt_tokens, 10);
    assert_int_equal(e.usage.total_tokens, 15);
    /* Both forms are in the entry: a hit either way points into it. */
    const char *out;
    size_t n;
    assert_int_equal(cmx_cache_entry_body(&e, &scratch, &out, &n), 0);
    assert_int_equal(n, strlen(body));
    assert_memory_equal(out, body, n);
    assert_true(out >= v.data && out < v.data + v.len);
    assert_int_equal(cmx_cache_entry_events(&e, &scratch, &out, &n), 0);
    assert_true(out >= v.data && out + n <= v.data + v.len);
    assert_int_equal(scratch.len, 0); /* nothing was converted */
    /* Cut anywhere, it is refused. */
    for (size_t cut = 1; cut < v.len; cut += 7)
        assert_int_equal(cmx_cache_entry_decode(v.data, v.len - cut, a, &e), -1);
    assert_int_equal(cmx_cache_entry_decode("CMX2 1 1 99 0 0 0 0\nab", 22, a, &e), -1);
    assert_int_equal(cmx_cache_entry_decode("CMX2 1 1 0 0 0 0 0\n", 19, a, &e), -1);
    assert_int_equal(cmx_cache_entry_decode("nonsense", 8, a, &e), -1);
    cmx_buf_free(&scratch);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void check_assembled(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
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
}

static void a_stored_stream_holds_its_assembled_completion(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    make_stream_entry(&v, ROOMY);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_true(e.json_len > 0);
    const char *out;
    size_t n;
    assert_int_equal(cmx_cache_entry_body(&e, &scratch, &out, &n), 0);
    assert_int_equal(scratch.len, 0);
    check_assembled(out, n);
    /* The events are the relayed ones, usage-only chunk left out. */
    assert_int_equal(cmx_cache_entry_events(&e, &scratch, &out, &n), 0);
    json_t *events = parse_events(out, n);
    assert_int_equal(json_array_size(events), N_CHUNKS - 1);
    json_decref(events);
    cmx_buf_free(&scratch);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void the_usage_event_is_made_from_the_stored_counts(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT;
    make_stream_entry(&v, ROOMY);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    json_t *usage = parse_events(e.usage_event, e.usage_event_len);
    assert_int_equal(json_array_size(usage), 1);
    json_t *chunk = json_array_get(usage, 0);
    assert_string_equal(json_string_value(json_object_get(chunk, "id")), "c1");
    assert_string_equal(json_string_value(json_object_get(chunk, "object")),
                        "chat.completion.chunk");
    assert_int_equal(json_array_size(json_object_get(chunk, "choices")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(chunk, "usage"), "completion_tokens")),
        4);
    json_decref(usage);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void check_body_events(const char *p, size_t len)
{
    json_t *events = parse_events(p, len);
    assert_int_equal(json_array_size(events), 2);
    json_t *first = json_array_get(events, 0);
    assert_string_equal(json_string_value(json_object_get(first, "object")),
                        "chat.completion.chunk");
    json_t *delta = json_object_get(json_array_get(json_object_get(first, "choices"), 0), "delta");
    assert_null(json_object_get(delta, "refusal"));
    json_t *call = json_array_get(json_object_get(delta, "tool_calls"), 0);
    assert_int_equal(json_integer_value(json_object_get(call, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(call, "id")), "t1");
    json_t *second = json_array_get(json_object_get(json_array_get(events, 1), "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(second, "finish_reason")), "tool_calls");
    json_decref(events);
}

static void a_stored_body_holds_its_events_with_indexed_tool_calls(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_usage u = counts(1, 2);
    assert_int_equal(cmx_cache_entry_make(&v, 0, &u, "p", "m", body_with_tool_call,
                                          strlen(body_with_tool_call), ROOMY),
                     0);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_true(e.sse_len > 0);
    const char *out;
    size_t n;
    assert_int_equal(cmx_cache_entry_events(&e, &scratch, &out, &n), 0);
    assert_int_equal(scratch.len, 0);
    check_body_events(out, n);
    json_t *usage = parse_events(e.usage_event, e.usage_event_len);
    assert_string_equal(json_string_value(json_object_get(json_array_get(usage, 0), "id")), "b1");
    json_decref(usage);
    cmx_buf_free(&scratch);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void an_answer_too_big_for_both_forms_converts_on_the_hit(void **state)
{
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_buf events = CMX_BUF_INIT;
    keep_stream(&events);
    /* Room for the events (and the usage event), not for the completion too. */
    size_t bound = 160 + strlen("openai") + strlen("gpt-4o") + events.len + 300;
    make_stream_entry(&v, bound);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_int_equal(e.json_len, 0);
    assert_int_equal(e.sse_len, events.len);
    assert_true(v.len <= bound);
    const char *out;
    size_t n;
    assert_int_equal(cmx_cache_entry_body(&e, &scratch, &out, &n), 0);
    assert_true(scratch.len > 0); /* converted now */
    check_assembled(out, n);
    /* The same for a body. */
    cmx_buf w = CMX_BUF_INIT;
    cmx_usage u = counts(1, 2);
    bound = 160 + 2 + strlen(body_with_tool_call) + 250;
    assert_int_equal(cmx_cache_entry_make(&w, 0, &u, "p", "m", body_with_tool_call,
                                          strlen(body_with_tool_call), bound),
                     0);
    assert_int_equal(cmx_cache_entry_decode(w.data, w.len, a, &e), 0);
    assert_int_equal(e.sse_len, 0);
    cmx_buf_reset(&scratch);
    assert_int_equal(cmx_cache_entry_events(&e, &scratch, &out, &n), 0);
    check_body_events(out, n);
    /* Not even the form it came in fits: nothing to store. */
    cmx_buf x = CMX_BUF_INIT;
    assert_int_equal(cmx_cache_entry_make(&x, 0, &u, "p", "m", body_with_tool_call,
                                          strlen(body_with_tool_call), 100),
                     -1);
    cmx_buf_free(&x);
    cmx_buf_free(&w);
    cmx_buf_free(&events);
    cmx_buf_free(&scratch);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

static void embeddings_keep_their_body_only(void **state)
{
    static const char body[] =
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
        "\"embedding\":[0.1,0.2]}],\"model\":\"e\",\"usage\":{"
        "\"prompt_tokens\":2,\"total_tokens\":2}}";
    cmx_arena *a = cmx_arena_new(4096);
    cmx_buf v = CMX_BUF_INIT, scratch = CMX_BUF_INIT;
    cmx_usage u = counts(2, 0);
    assert_int_equal(cmx_cache_entry_make(&v, 0, &u, "p", "e", body, strlen(body), ROOMY), 0);
    cmx_cache_entry e;
    assert_int_equal(cmx_cache_entry_decode(v.data, v.len, a, &e), 0);
    assert_int_equal(e.sse_len, 0);
    const char *out;
    size_t n;
    assert_int_equal(cmx_cache_entry_body(&e, &scratch, &out, &n), 0);
    assert_memory_equal(out, body, n);
    assert_int_equal(cmx_cache_entry_events(&e, &scratch, &out, &n), -1);
    cmx_buf_free(&scratch);
    cmx_buf_free(&v);
    cmx_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_relay_keeps_events_without_usage_only_chunks),
        cmocka_unit_test(an_entry_round_trips_with_both_forms_and_a_damaged_one_is_refused),
        cmocka_unit_test(a_stored_stream_holds_its_assembled_completion),
        cmocka_unit_test(the_usage_event_is_made_from_the_stored_counts),
        cmocka_unit_test(a_stored_body_holds_its_events_with_indexed_tool_calls),
        cmocka_unit_test(an_answer_too_big_for_both_forms_converts_on_the_hit),
        cmocka_unit_test(embeddings_keep_their_body_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
