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
#include "http/upstream.h"

static cmx_config *load(const char *yaml, cmx_config_diag *d)
{
    memset(d, 0, sizeof *d);
    return cmx_config_load_string(yaml, strlen(yaml), "test.yaml", d);
}

static int has_error(const cmx_config_diag *d, const char *needle)
{
    for (size_t i = 0; i < d->n_errors; i++)
        if (strstr(d->errors[i], needle))
            return 1;
    for (size_t i = 0; i < d->n_errors; i++)
        fprintf(stderr, "  error: %s\n", d->errors[i]);
    return 0;
}

static void defaults_and_values(void **state)
{
    cmx_config_diag d;
    cmx_config *c = load("providers:\n"
                         "  a: { type: openai, base_url: \"https://a.example/v1\" }\n"
                         "  b: { type: openai, base_url: \"https://b.example/v1\", http2: on }\n"
                         "  c: { type: anthropic, http2: off }\n"
                         "  d: { type: openai, base_url: \"http://d.example/v1\", http2: on }\n",
                         &d);
    assert_non_null(c);
    assert_int_equal(c->upstream.queue_timeout_ms, 2000);
    assert_int_equal(c->upstream.http2_ping_interval_ms, 30000);
    assert_int_equal(cmx_config_find_provider(c, "a")->http2, CMX_HTTP2_AUTO);
    assert_int_equal(cmx_config_find_provider(c, "b")->http2, CMX_HTTP2_ON);
    assert_int_equal(cmx_config_find_provider(c, "c")->http2, CMX_HTTP2_OFF);
    assert_int_equal(cmx_config_find_provider(c, "d")->http2, CMX_HTTP2_ON);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    c = load("upstream: { queue_timeout: 250ms, http2_ping_interval: 0 }\n", &d);
    assert_non_null(c);
    assert_int_equal(c->upstream.queue_timeout_ms, 250);
    assert_int_equal(c->upstream.http2_ping_interval_ms, 0);
    cmx_upstream_settings s;
    cmx_upstream_settings_from_config(&c->upstream, &s);
    assert_int_equal(s.queue_timeout_ms, 250);
    assert_int_equal(s.http2_ping_interval_ms, 0);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void mistakes_are_errors(void **state)
{
    cmx_config_diag d;
    assert_null(load("providers:\n  a: { type: openai, base_url: \"https://a.example/v1\", "
                     "http2: sometimes }\n",
                     &d));
    assert_true(has_error(&d, "providers.a.http2: expected off, auto or on"));
    cmx_config_diag_free(&d);

    assert_null(load("providers:\n  m: { type: mock, http2: on }\n", &d));
    assert_true(has_error(&d, "key 'http2' is only valid for"));
    cmx_config_diag_free(&d);

    assert_null(load("upstream: { queue_timeout: soon }\n", &d));
    assert_true(has_error(&d, "upstream.queue_timeout"));
    cmx_config_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_values),
        cmocka_unit_test(mistakes_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
