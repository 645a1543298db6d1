/* test_portable.c — what the gateway reads off a model id to pick the native
 * form of a portable field, the thinking budgets per level, and which
 * OpenAI-format upstreams keep Google's extra_content.  The translations
 * themselves are data-driven (tests/data/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>

#include "http/upstream.h"
#include "providers/openai_wire.h"
#include "providers/translate_portable.h"

static void reads_claude_versions_wherever_claude_runs(void **state)
{
    (void)state;
    static const struct {
        const char *model;
        int version;
    } cases[] = {
        {"claude-opus-4-6", 46},
        {"claude-sonnet-4-5-20250929", 45},
        {"claude-sonnet-4-20250514", 40}, /* a date is no minor */
        {"claude-haiku-4-5@20251001", 45},
        {"anthropic.claude-sonnet-4-5-20250929-v1:0", 45},
        {"us.anthropic.claude-opus-4-1-20250805-v1:0", 41},
        {"claude-3-7-sonnet-20250219", 37},
        {"claude-3-5-haiku-latest", 35},
        {"claude-opus-5", 50},
        {"gpt-4o", 0},
        {"claude-", 0},
        {"claude-opus-", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cmx_claude_version(cases[i].model) != cases[i].version)
            fail_msg("%s: version %d, expected %d", cases[i].model ? cases[i].model : "(null)",
                     cmx_claude_version(cases[i].model), cases[i].version);
    assert_true(cmx_claude_has_structured_outputs("claude-sonnet-4-5", 0));
    assert_false(cmx_claude_has_structured_outputs("claude-sonnet-4-5", 1)); /* Vertex: 4.6 */
    assert_true(cmx_claude_has_structured_outputs("claude-opus-4-6", 1));
    assert_false(cmx_claude_has_structured_outputs("claude-3-7-sonnet", 0));
    assert_true(cmx_claude_has_effort("claude-opus-4-6"));
    assert_false(cmx_claude_has_effort("claude-sonnet-4-5"));
}

static void reads_gemini_majors(void **state)
{
    (void)state;
    assert_int_equal(cmx_gemini_major("gemini-3-pro-preview"), 3);
    assert_int_equal(cmx_gemini_major("gemini-2.5-flash"), 2);
    assert_int_equal(cmx_gemini_major("gemini-exp"), 0);
    assert_int_equal(cmx_gemini_major("text-embedding-005"), 0);
}

static void thinking_budgets_per_level_with_overrides(void **state)
{
    (void)state;
    assert_int_equal(cmx_translate_thinking_budget(NULL, CMX_EFFORT_MINIMAL), 1024);
    assert_int_equal(cmx_translate_thinking_budget(NULL, CMX_EFFORT_LOW), 2048);
    assert_int_equal(cmx_translate_thinking_budget(NULL, CMX_EFFORT_MEDIUM), 8192);
    assert_int_equal(cmx_translate_thinking_budget(NULL, CMX_EFFORT_HIGH), 24576);
    assert_int_equal(cmx_translate_thinking_budget(NULL, CMX_EFFORT_NONE), 0);
    const uint32_t overrides[CMX_REASONING_LEVELS] = {0, 0, 0, 40000};
    assert_int_equal(cmx_translate_thinking_budget(overrides, CMX_EFFORT_HIGH), 40000);
    assert_int_equal(cmx_translate_thinking_budget(overrides, CMX_EFFORT_LOW), 2048);
    cmx_claude_thinking t;
    cmx_claude_plan_thinking(&t, CMX_EFFORT_MINIMAL, CMX_REASONING_AUTO, NULL, "claude-opus-4-6",
                             0);
    assert_true(t.adaptive);
    assert_string_equal(t.effort, "low");
    cmx_claude_plan_thinking(&t, CMX_EFFORT_HIGH, CMX_REASONING_AUTO, NULL, "claude-opus-4-6", 1);
    assert_false(cmx_claude_thinks(&t)); /* a forced tool leaves thinking out */
    cmx_claude_plan_thinking(&t, CMX_EFFORT_HIGH, CMX_REASONING_OFF, NULL, "claude-3-7", 0);
    assert_false(cmx_claude_thinks(&t));
}

static void only_googles_openai_endpoints_keep_extra_content(void **state)
{
    (void)state;
    static const struct {
        const char *base_url;
        int google;
    } cases[] = {
        {"https://generativelanguage.googleapis.com/v1beta/openai", 1},
        {"https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi", 1},
        {"https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
         "endpoints/openapi",
         1},
        {"https://GenerativeLanguage.googleapis.com/v1beta/openai", 1},
        {"https://api.openai.com/v1", 0},
        {"https://res.openai.azure.com/openai/v1", 0},
        {"https://googleapis.com/v1", 0},
        {"https://generativelanguage.googleapis.com.example.com/v1", 0},
        {"https://notaiplatform.googleapis.com/v1", 0},
        {"http://127.0.0.1:8080/v1beta/openai", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmx_url u;
        cmx_error err;
        assert_int_equal(cmx_url_parse(cases[i].base_url, &u, &err), CMX_OK);
        if (cmx_openai_wire_is_google(&u) != cases[i].google)
            fail_msg("%s: google %d, expected %d", cases[i].base_url, cmx_openai_wire_is_google(&u),
                     cases[i].google);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_claude_versions_wherever_claude_runs),
        cmocka_unit_test(reads_gemini_majors),
        cmocka_unit_test(thinking_budgets_per_level_with_overrides),
        cmocka_unit_test(only_googles_openai_endpoints_keep_extra_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
