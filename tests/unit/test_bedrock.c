/* test_bedrock.c — how AWS's error and exception types become the router's
 * kinds.  The translation itself is tested from tests/data/bedrock/ by
 * test_translation.c; this is the one table those cases cannot reach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <string.h>

#include "providers/bedrock.h"

static cmx_err kind(const char *type, const char *message)
{
    return cmx_bedrock_error_kind(type, type ? strlen(type) : 0, message, CMX_ERR_INTERNAL);
}

static void throttling_is_rate_limited_in_either_spelling(void **state)
{
    (void)state;
    assert_int_equal(kind("ThrottlingException", NULL), CMX_ERR_RATE_LIMITED);
    assert_int_equal(kind("throttlingException", NULL), CMX_ERR_RATE_LIMITED);
    assert_int_equal(kind("ThrottlingException:http://internal.amazon.com/coral/com.amazon/", NULL),
                     CMX_ERR_RATE_LIMITED);
    assert_int_equal(kind("ServiceQuotaExceededException", NULL), CMX_ERR_RATE_LIMITED);
}

static void service_and_model_failures_are_unavailable(void **state)
{
    (void)state;
    assert_int_equal(kind("ServiceUnavailableException", NULL), CMX_ERR_UNAVAILABLE);
    assert_int_equal(kind("ModelNotReadyException", NULL), CMX_ERR_UNAVAILABLE);
    assert_int_equal(kind("modelStreamErrorException", NULL), CMX_ERR_UNAVAILABLE);
    assert_int_equal(kind("internalServerException", NULL), CMX_ERR_UNAVAILABLE);
    assert_int_equal(kind("ModelTimeoutException", NULL), CMX_ERR_UNAVAILABLE);
}

static void credential_errors_are_provider_auth(void **state)
{
    (void)state;
    assert_int_equal(kind("AccessDeniedException", NULL), CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(kind("UnrecognizedClientException", NULL), CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(kind("InvalidSignatureException", NULL), CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(kind("ExpiredTokenException", NULL), CMX_ERR_PROVIDER_AUTH);
}

static void validation_about_length_is_context_window_else_bad_request(void **state)
{
    (void)state;
    assert_int_equal(kind("ValidationException", "Input is too long for requested model."),
                     CMX_ERR_CONTEXT_WINDOW);
    assert_int_equal(kind("ValidationException", "The prompt has too many tokens: 210000 > 200000"),
                     CMX_ERR_CONTEXT_WINDOW);
    assert_int_equal(kind("ValidationException", "temperature must be between 0 and 1"),
                     CMX_ERR_BAD_REQUEST);
    assert_int_equal(kind("ValidationException", NULL), CMX_ERR_BAD_REQUEST);
}

static void an_unknown_type_keeps_the_fallback(void **state)
{
    (void)state;
    assert_int_equal(kind("SomethingNewException", NULL), CMX_ERR_INTERNAL);
    assert_int_equal(kind(NULL, NULL), CMX_ERR_INTERNAL);
    /* a prefix of a known name is not that name */
    assert_int_equal(kind("Throttling", NULL), CMX_ERR_INTERNAL);
}

static void stop_reasons_map_to_finish_reasons(void **state)
{
    (void)state;
    assert_string_equal(cmx_bedrock_finish_reason("end_turn"), "stop");
    assert_string_equal(cmx_bedrock_finish_reason("stop_sequence"), "stop");
    assert_string_equal(cmx_bedrock_finish_reason("max_tokens"), "length");
    assert_string_equal(cmx_bedrock_finish_reason("tool_use"), "tool_calls");
    assert_string_equal(cmx_bedrock_finish_reason("guardrail_intervened"), "content_filter");
    assert_string_equal(cmx_bedrock_finish_reason("content_filtered"), "content_filter");
    assert_null(cmx_bedrock_finish_reason(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(throttling_is_rate_limited_in_either_spelling),
        cmocka_unit_test(service_and_model_failures_are_unavailable),
        cmocka_unit_test(credential_errors_are_provider_auth),
        cmocka_unit_test(validation_about_length_is_context_window_else_bad_request),
        cmocka_unit_test(an_unknown_type_keeps_the_fallback),
        cmocka_unit_test(stop_reasons_map_to_finish_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
