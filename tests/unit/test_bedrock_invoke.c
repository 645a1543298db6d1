/* test_bedrock_invoke.c — what the InvokeModel data cases cannot reach:
 * which model ids go through invoke or to an embedding family, and the
 * unwrapping of InvokeModelWithResponseStream chunks that are not what they
 * should be (bad base64, padding, a chunk without bytes, an exception),
 * and the shared base64 encoding of embedding vectors at each padding.
 * The translations themselves are tested from tests/data/bedrock_invoke/
 * and tests/data/bedrock_embeddings/ by test_translation.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "providers/bedrock_invoke.h"
#include "providers/embeddings.h"

static void anthropic_ids_and_inference_profiles_are_recognised(void **state)
{
    (void)state;
    assert_true(cmx_bedrock_is_anthropic("anthropic.claude-3-haiku-20240307-v1:0"));
    assert_true(cmx_bedrock_is_anthropic("us.anthropic.claude-3-5-haiku-20241022-v1:0"));
    assert_true(cmx_bedrock_is_anthropic("global.anthropic.claude-sonnet-4-20250514-v1:0"));
    assert_false(cmx_bedrock_is_anthropic("meta.llama3-8b-instruct-v1:0"));
    assert_false(cmx_bedrock_is_anthropic("us.amazon.nova-lite-v1:0"));
    assert_false(cmx_bedrock_is_anthropic("anthropic"));
    assert_false(cmx_bedrock_is_anthropic(NULL));
}

static void embedding_families_follow_the_model_id(void **state)
{
    (void)state;
    assert_int_equal(cmx_bedrock_embed_family_of("amazon.titan-embed-text-v2:0"),
                     CMX_BEDROCK_EMBED_TITAN);
    assert_int_equal(cmx_bedrock_embed_family_of("amazon.titan-embed-text-v1"),
                     CMX_BEDROCK_EMBED_TITAN);
    assert_int_equal(cmx_bedrock_embed_family_of("cohere.embed-multilingual-v3"),
                     CMX_BEDROCK_EMBED_COHERE);
    /* the image model takes another body */
    assert_int_equal(cmx_bedrock_embed_family_of("amazon.titan-embed-image-v1"),
                     CMX_BEDROCK_EMBED_NONE);
    assert_int_equal(cmx_bedrock_embed_family_of("anthropic.claude-3-haiku-20240307-v1:0"),
                     CMX_BEDROCK_EMBED_NONE);
}

typedef struct collected {
    char text[4096];
    size_t chunks;
} collected;

static void collect(void *ctx, const char *json, size_t len)
{
    collected *c = ctx;
    size_t used = strlen(c->text);
    if (used + len + 1 < sizeof c->text) {
        memcpy(c->text + used, json, len);
        c->text[used + len] = '\0';
    }
    c->chunks++;
}

/* One message with the given :message-type, type header and payload. */
static cmx_err feed(cmx_anthropic_stream *s, const char *mtype, const char *type_header,
                    const char *type, const char *payload, cmx_error *err)
{
    cmx_eventstream_header h[2] = {
        {":message-type", 13, CMX_EVENTSTREAM_STRING, 0, mtype, strlen(mtype)},
        {type_header, strlen(type_header), CMX_EVENTSTREAM_STRING, 0, type, strlen(type)},
    };
    cmx_eventstream_message msg = {0};
    msg.headers = h;
    msg.n_headers = 2;
    msg.payload = payload;
    msg.payload_len = strlen(payload);
    return cmx_bedrock_invoke_stream_message(s, &msg, err);
}

static void a_chunk_is_base64_of_an_anthropic_event(void **state)
{
    (void)state;
    collected c = {{0}, 0};
    cmx_anthropic_stream s;
    cmx_anthropic_stream_init(&s, 0, 1700000000, collect, &c);
    cmx_error err;
    cmx_error_clear(&err);
    /* base64 of MESSAGE_START, written out so the test does not share the
     * decoder's idea of base64 */
    const char *b64 = "{\"bytes\":\"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCIsIm1lc3NhZ2UiOnsiaWQiOiJtc2df"
                      "MSIsIm1vZGVsIjoiY2xhdWRlIiwidXNhZ2UiOnsiaW5wdXRfdG9rZW5zIjoxLCJvdXRwdXRf"
                      "dG9rZW5zIjoxfX19\"}";
    assert_int_equal(feed(&s, "event", ":event-type", "chunk", b64, &err), CMX_OK);
    assert_int_equal(c.chunks, 1);
    assert_non_null(strstr(c.text, "\"role\":\"assistant\""));
    assert_non_null(strstr(c.text, "\"id\":\"msg_1\""));
    cmx_anthropic_stream_free(&s);
}

static void padding_of_one_and_two_bytes_is_not_decoded_as_data(void **state)
{
    (void)state;
    cmx_anthropic_stream s;
    collected c = {{0}, 0};
    cmx_error err;
    /* {"type":"ping"} and two spaces (one '='), and one space (two '=') */
    const char *one = "{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9ICA=\"}";
    const char *two = "{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9IA==\"}";
    cmx_anthropic_stream_init(&s, 0, 1700000000, collect, &c);
    cmx_error_clear(&err);
    assert_int_equal(feed(&s, "event", ":event-type", "chunk", two, &err), CMX_OK);
    assert_int_equal(feed(&s, "event", ":event-type", "chunk", one, &err), CMX_OK);
    /* a NUL from the padding would have made the JSON invalid */
    assert_int_equal(c.chunks, 0);
    cmx_anthropic_stream_free(&s);
}

static void chunks_that_are_not_base64_json_are_protocol_errors(void **state)
{
    (void)state;
    cmx_anthropic_stream s;
    collected c = {{0}, 0};
    cmx_error err;
    cmx_anthropic_stream_init(&s, 0, 1700000000, collect, &c);
    cmx_error_clear(&err);
    assert_int_equal(feed(&s, "event", ":event-type", "chunk", "{\"bytes\":\"not base64!\"}", &err),
                     CMX_ERR_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "not base64"));
    assert_int_equal(feed(&s, "event", ":event-type", "chunk", "{\"other\":1}", &err),
                     CMX_ERR_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "without \"bytes\""));
    assert_int_equal(feed(&s, "event", ":event-type", "messageStart", "{}", &err),
                     CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(c.chunks, 0);
    cmx_anthropic_stream_free(&s);
}

static void exceptions_in_the_stream_map_to_router_kinds(void **state)
{
    (void)state;
    cmx_anthropic_stream s;
    collected c = {{0}, 0};
    cmx_error err;
    cmx_anthropic_stream_init(&s, 0, 1700000000, collect, &c);
    assert_int_equal(feed(&s, "exception", ":exception-type", "throttlingException",
                          "{\"message\":\"slow down\"}", &err),
                     CMX_ERR_RATE_LIMITED);
    assert_non_null(strstr(err.message, "slow down"));
    assert_int_equal(feed(&s, "exception", ":exception-type", "modelStreamErrorException",
                          "{\"message\":\"model failed\"}", &err),
                     CMX_ERR_UNAVAILABLE);
    assert_int_equal(feed(&s, "exception", ":exception-type", "validationException",
                          "{\"message\":\"bad\"}", &err),
                     CMX_ERR_BAD_REQUEST);
    cmx_anthropic_stream_free(&s);
}

/* One vector through the embeddings list writer, asked for as base64. */
static void expect_base64(const char *numbers, const char *want)
{
    cmx_json_doc doc;
    assert_int_equal(cmx_json_doc_parse(&doc, numbers, strlen(numbers), NULL, NULL), CMX_OK);
    cmx_buf out = CMX_BUF_INIT;
    cmx_embedding_list list;
    cmx_error err;
    cmx_embedding_list_begin(&list, &out, 1);
    assert_int_equal(cmx_embedding_list_add(&list, &doc, 0, "bedrock", &err), CMX_OK);
    assert_int_equal(cmx_embedding_list_end(&list, "m", 1, NULL, &err), CMX_OK);
    json_t *answer = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(answer);
    const json_t *got =
        json_object_get(json_array_get(json_object_get(answer, "data"), 0), "embedding");
    assert_string_equal(json_string_value(got), want);
    json_decref(answer);
    cmx_buf_free(&out);
    cmx_json_doc_release(&doc);
}

static void embedding_vectors_encode_as_little_endian_float32_base64(void **state)
{
    (void)state;
    /* expected strings computed independently (struct.pack('<f') + b64) */
    expect_base64("[]", "");
    expect_base64("[1.0]", "AACAPw==");
    expect_base64("[1.0, 2.0]", "AACAPwAAAEA=");
    expect_base64("[1.0, 2.0, -0.5]", "AACAPwAAAEAAAAC/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anthropic_ids_and_inference_profiles_are_recognised),
        cmocka_unit_test(embedding_families_follow_the_model_id),
        cmocka_unit_test(a_chunk_is_base64_of_an_anthropic_event),
        cmocka_unit_test(padding_of_one_and_two_bytes_is_not_decoded_as_data),
        cmocka_unit_test(chunks_that_are_not_base64_json_are_protocol_errors),
        cmocka_unit_test(exceptions_in_the_stream_map_to_router_kinds),
        cmocka_unit_test(embedding_vectors_encode_as_little_endian_float32_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
