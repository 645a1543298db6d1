/* test_config_upstream.c — the keys for connections to providers:
 * upstream.queue_timeout, upstream.http2_ping_interval and each provider's
 * http2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "helpers/config_load.h"
#include "http/upstream.h"

#define NAME "test.yaml"

/* yaml is refused with an error containing needle. */
static void refused(const char *yaml, const char *needle)
{
    cmx_config_diag d;
    cmx_test_config_refused(yaml, NAME, CMX_TEST_ANY_LINE, needle, &d);
    cmx_config_diag_free(&d);
}

static void defaults_and_values(void **state)
{
    cmx_config *c =
        cmx_test_config_ok("providers:\n"
                           "  a: { type: openai, base_url: \"https://a.example/v1\" }\n"
                           "  b: { type: openai, base_url: \"https://b.example/v1\", http2: on }\n"
                           "  c: { type: anthropic, http2: off }\n"
                           "  d: { type: openai, base_url: \"http://d.example/v1\", http2: on }\n",
                           NAME);
    assert_int_equal(c->upstream.queue_timeout_ms, 2000);
    assert_int_equal(c->upstream.http2_ping_interval_ms, 30000);
    assert_int_equal(cmx_config_find_provider(c, "a")->http2, CMX_HTTP2_AUTO);
    assert_int_equal(cmx_config_find_provider(c, "b")->http2, CMX_HTTP2_ON);
    assert_int_equal(cmx_config_find_provider(c, "c")->http2, CMX_HTTP2_OFF);
    assert_int_equal(cmx_config_find_provider(c, "d")->http2, CMX_HTTP2_ON);
    cmx_config_unref(c);

    c = cmx_test_config_ok("upstream: { queue_timeout: 250ms, http2_ping_interval: 0 }\n", NAME);
    assert_int_equal(c->upstream.queue_timeout_ms, 250);
    assert_int_equal(c->upstream.http2_ping_interval_ms, 0);
    cmx_upstream_settings s;
    cmx_upstream_settings_from_config(&c->upstream, &s);
    assert_int_equal(s.queue_timeout_ms, 250);
    assert_int_equal(s.http2_ping_interval_ms, 0);
    cmx_config_unref(c);
}

static void mistakes_are_errors(void **state)
{
    refused("providers:\n  a: { type: openai, base_url: \"https://a.example/v1\", "
            "http2: sometimes }\n",
            "providers.a.http2: expected off, auto or on");
    refused("providers:\n  m: { type: mock, http2: on }\n", "key 'http2' is only valid for");
    refused("upstream: { queue_timeout: soon }\n", "upstream.queue_timeout");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_values),
        cmocka_unit_test(mistakes_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
