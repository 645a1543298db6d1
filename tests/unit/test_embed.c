/* test_embed.c — the public C API: open a config, chat (plain and streaming),
 * embeddings, failover and the errors a caller must be able to read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudmux.h"

static char config_path[64];

static const char *yaml =
    "providers:\n"
    "  down:    {type: mock, failure_rate: 1, failure_status: 503}\n"
    "  healthy: {type: mock, stream_chunks: 2, content: \"simulated answer\"}\n"
    "models:\n"
    "  demo: {targets: [{provider: down}, {provider: healthy, model: sim-large}]}\n"
    "  broken: {targets: [{provider: down}]}\n";

static int setup(void **state)
{
    snprintf(config_path, sizeof config_path, "/tmp/cmx-embed-%d.yaml", (int)getpid());
    FILE *f = fopen(config_path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    cmx_client *c = NULL;
    char errbuf[512];
    assert_int_equal(cmx_client_open(config_path, &c, errbuf, sizeof errbuf), CMX_OK);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    cmx_client_close(*state);
    unlink(config_path);
    return 0;
}

static void chat_fails_over_and_reports_who_answered(void **state)
{
    const char *body = "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cmx_result r;
    assert_int_equal(cmx_client_chat(*state, body, strlen(body), NULL, NULL, &r), CMX_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.provider, "healthy");
    assert_string_equal(r.model, "sim-large");
    assert_int_equal(r.attempts, 2);
    assert_non_null(strstr(r.body, "simulated answer"));
    assert_true(r.completion_tokens == 2);
    cmx_result_free(&r);
}

static void collect_chunk(void *user, const char *json, size_t len)
{
    int *n = user;
    (*n)++;
    assert_true(len > 2 && json[0] == '{' && json[len - 1] == '}');
}

static void streaming_chat_delivers_every_chunk(void **state)
{
    const char *body = "{\"model\":\"demo\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                       "true},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cmx_result r;
    int chunks = 0;
    assert_int_equal(cmx_client_chat(*state, body, strlen(body), collect_chunk, &chunks, &r),
                     CMX_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(chunks, 5); /* role, 2 content, finish, usage */
    assert_null(r.body);
    cmx_result_free(&r);
}

static void embeddings_return_one_vector_per_input(void **state)
{
    const char *body = "{\"model\":\"demo\",\"input\":[\"a\",\"b\",\"c\"]}";
    cmx_result r;
    assert_int_equal(cmx_client_embeddings(*state, body, strlen(body), &r), CMX_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"index\":2"));
    assert_null(strstr(r.body, "\"index\":3"));
    cmx_result_free(&r);
}

static void unknown_model_is_a_404_with_an_openai_error(void **state)
{
    const char *body = "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cmx_result r;
    assert_int_equal(cmx_client_chat(*state, body, strlen(body), NULL, NULL, &r),
                     CMX_ERR_NOT_FOUND);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"code\":\"model_not_found\""));
    cmx_result_free(&r);
}

/* The call's result names the kind the gateway would decide on. */
static void a_failed_call_returns_the_kind_of_its_failure(void **state)
{
    const char *body =
        "{\"model\":\"broken\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cmx_result r;
    assert_int_equal(cmx_client_chat(*state, body, strlen(body), NULL, NULL, &r),
                     CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.status, 503);
    assert_string_equal(cmx_err_name(CMX_ERR_UNAVAILABLE), "unavailable");
    assert_non_null(strstr(r.body, "\"code\":\"unavailable\""));
    cmx_result_free(&r);
}

static void malformed_json_is_a_400(void **state)
{
    const char *body = "{\"model\":\"demo\",\"messages\":[}";
    cmx_result r;
    assert_int_equal(cmx_client_chat(*state, body, strlen(body), NULL, NULL, &r),
                     CMX_ERR_BAD_REQUEST);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "invalid_request_error"));
    cmx_result_free(&r);
}

static void open_reports_config_errors(void **state)
{
    cmx_client *c = NULL;
    char errbuf[512];
    assert_int_equal(cmx_client_open("/nonexistent/cloudmux.yaml", &c, errbuf, sizeof errbuf),
                     CMX_ERR_CONFIG);
    assert_null(c);
    assert_non_null(strstr(errbuf, "/nonexistent/cloudmux.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chat_fails_over_and_reports_who_answered),
        cmocka_unit_test(streaming_chat_delivers_every_chunk),
        cmocka_unit_test(embeddings_return_one_vector_per_input),
        cmocka_unit_test(unknown_model_is_a_404_with_an_openai_error),
        cmocka_unit_test(a_failed_call_returns_the_kind_of_its_failure),
        cmocka_unit_test(malformed_json_is_a_400),
        cmocka_unit_test(open_reports_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
