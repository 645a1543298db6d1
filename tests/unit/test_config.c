/* test_config.c — the configuration loader: the shipped example, every key,
 * defaults, value syntaxes, secret references, and a table of broken
 * configs each checked for the line it blames and what it says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_module.h"
#include "config/values.h"
#include "providers/anthropic_config.h"
#include "providers/bedrock_config.h"
#include "providers/mock_config.h"
#include "providers/openai_config.h"
#include "providers/vertex_config.h"

#define NAME "test.yaml"

static cmx_config *load(const char *yaml, cmx_config_diag *d)
{
    return cmx_config_load_string(yaml, strlen(yaml), NAME, d);
}

static void print_diag(const cmx_config_diag *d)
{
    for (size_t i = 0; i < d->n_errors; i++)
        fprintf(stderr, "  error: %s\n", d->errors[i]);
    for (size_t i = 0; i < d->n_warnings; i++)
        fprintf(stderr, "  warning: %s\n", d->warnings[i]);
}

/* Finds a message "NAME:LINE:COL: ...needle..." (line 0: "NAME: ..."). */
static int has_message(char **msgs, size_t n, int line, const char *needle)
{
    char prefix[64];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d:", NAME, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", NAME);
    for (size_t i = 0; i < n; i++)
        if (strncmp(msgs[i], prefix, strlen(prefix)) == 0 && strstr(msgs[i], needle))
            return 1;
    return 0;
}

static void assert_loads_clean(cmx_config *c, const cmx_config_diag *d)
{
    if (!c || d->n_errors || d->n_warnings)
        print_diag(d);
    assert_non_null(c);
    assert_int_equal(d->n_errors, 0);
    assert_int_equal(d->n_warnings, 0);
}

static const char *mock_tail = "providers:\n"
                               "  m:\n"
                               "    type: mock\n"
                               "models:\n"
                               "  g:\n"
                               "    targets:\n"
                               "      - provider: m\n";

/* ---- the shipped example ---------------------------------------------- */

static void quickstart_example_loads_without_errors_or_warnings(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/quickstart.yaml", src);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    assert_loads_clean(c, &d);

    assert_string_equal(c->server.listen_host, "127.0.0.1");
    assert_int_equal(c->server.listen_port, 4000);
    assert_int_equal(c->server.n_api_keys, 0);
    for (size_t i = 0; i < c->n_providers; i++)
        assert_string_equal(c->providers[i].type_name, "mock");

    const cmx_model_group *demo = cmx_config_find_model(c, "demo", 4);
    assert_non_null(demo);
    assert_true(demo->n_targets >= 2);
    const cmx_provider_config *primary = demo->targets[0].provider;
    assert_true(cmx_mock_settings_of(primary)->failure_rate == 0.5);
    assert_int_equal(cmx_mock_settings_of(primary)->failure_status, 503);
    assert_true(cmx_mock_settings_of(demo->targets[1].provider)->failure_rate == 0.0);

    const cmx_model_group *fast = cmx_config_find_model(c, "fast", 4);
    assert_non_null(fast);
    assert_int_equal(fast->n_targets, 1);
    assert_true(cmx_mock_settings_of(fast->targets[0].provider)->failure_rate == 0.0);

    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

/* The multi-cloud example, with the variables its top comment lists. */
static void multicloud_example_loads_with_its_variables_set(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/multicloud.yaml", src);
    const char *vars[] = {"CLOUDMUX_CLIENT_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                          "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        setenv(vars[i], "example-value", 1);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    assert_loads_clean(c, &d);

    const cmx_model_group *coding = cmx_config_find_model(c, "coding", 6);
    const cmx_model_group *analysis = cmx_config_find_model(c, "analysis", 8);
    const cmx_model_group *simple = cmx_config_find_model(c, "simple", 6);
    assert_non_null(coding);
    assert_non_null(analysis);
    assert_non_null(simple);
    assert_string_equal(coding->targets[0].provider->type_name, "azure");
    assert_string_equal(coding->targets[1].provider->type_name, "anthropic");
    assert_string_equal(analysis->targets[0].provider->type_name, "bedrock");
    assert_int_equal(analysis->fallbacks[CMX_FALLBACK_ANY].n, 1);
    assert_ptr_equal(analysis->fallbacks[CMX_FALLBACK_ANY].groups[0], coding);
    assert_string_equal(simple->targets[0].provider->type_name, "vertex");
    assert_string_equal(simple->targets[1].provider->type_name, "anthropic");
    assert_true(simple->targets[1].drop_unsupported_params);

    cmx_config_unref(c);
    cmx_config_diag_free(&d);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* ---- every key --------------------------------------------------------- */

static void full_config_sets_every_key(void **state)
{
    (void)state;
    setenv("CMX_TEST_CLIENT_KEY", "client-key-1", 1);
    setenv("CMX_TEST_ADMIN_KEY", "admin-key-1", 1);
    setenv("CMX_TEST_OPENAI_KEY", "sk-from-env", 1);
    const char *yaml = "server:\n"
                       "  listen: \"[::1]:8080\"\n"
                       "  workers: 3\n"
                       "  max_body_bytes: 10MB\n"
                       "  max_header_bytes: 32KiB\n"
                       "  max_headers: 64\n"
                       "  timeouts:\n"
                       "    header: 5s\n"
                       "    body: 1m\n"
                       "    keepalive: 90s\n"
                       "    write: 1500\n"
                       "  api_keys: [ env:CMX_TEST_CLIENT_KEY ]\n"
                       "  admin_keys: [ env:CMX_TEST_ADMIN_KEY ]\n"
                       "  access_log: false\n"
                       "upstream:\n"
                       "  max_idle_per_origin: 8\n"
                       "  max_conns_per_origin: 100\n"
                       "  idle_expiry: 2m\n"
                       "  https_proxy: http://proxy.internal:3128\n"
                       "  http_proxy: \"\"\n"
                       "  no_proxy: localhost,.internal\n"
                       "providers:\n"
                       "  openai:\n"
                       "    type: openai\n"
                       "    base_url: https://api.openai.com/v1/\n"
                       "    api_key: env:CMX_TEST_OPENAI_KEY\n"
                       "    organization: org-123\n"
                       "    tls_verify: true\n"
                       "    timeouts: {connect: 2s, first_byte: 30s, idle: 15s, total: 5m}\n"
                       "  sim:\n"
                       "    type: mock\n"
                       "    latency: 250ms\n"
                       "    chunk_interval: 20ms\n"
                       "    failure_rate: 0.25\n"
                       "    failure_status: 429\n"
                       "    stream_chunks: 12\n"
                       "    content: hello there\n"
                       "    seed: 12345678901\n"
                       "models:\n"
                       "  gpt-4o:\n"
                       "    targets:\n"
                       "      - provider: openai\n"
                       "        model: gpt-4o-2024-08-06\n"
                       "      - provider: sim\n"
                       "  cheap:\n"
                       "    - provider: sim\n"
                       "      model: tiny\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);

    const cmx_server_config *s = &c->server;
    assert_string_equal(s->listen_host, "::1");
    assert_int_equal(s->listen_port, 8080);
    assert_int_equal(s->workers, 3);
    assert_int_equal(s->max_body_bytes, 10000000);
    assert_int_equal(s->max_header_bytes, 32768);
    assert_int_equal(s->max_headers, 64);
    assert_int_equal(s->header_timeout_ms, 5000);
    assert_int_equal(s->body_timeout_ms, 60000);
    assert_int_equal(s->keepalive_timeout_ms, 90000);
    assert_int_equal(s->write_timeout_ms, 1500);
    assert_int_equal(s->n_api_keys, 1);
    assert_string_equal(s->api_keys[0], "client-key-1");
    assert_int_equal(s->n_admin_keys, 1);
    assert_string_equal(s->admin_keys[0], "admin-key-1");
    assert_int_equal(s->access_log, 0);

    const cmx_upstream_config *u = &c->upstream;
    assert_int_equal(u->max_idle_per_origin, 8);
    assert_int_equal(u->max_conns_per_origin, 100);
    assert_int_equal(u->idle_expiry_ms, 120000);
    assert_string_equal(u->https_proxy, "http://proxy.internal:3128");
    assert_string_equal(u->http_proxy, "");
    assert_string_equal(u->no_proxy, "localhost,.internal");

    assert_int_equal(c->n_providers, 2);
    const cmx_provider_config *o = cmx_config_find_provider(c, "openai");
    assert_non_null(o);
    assert_ptr_equal(o->schema, &cmx_openai_schema);
    assert_string_equal(o->type_name, "openai");
    assert_string_equal(o->base_url, "https://api.openai.com/v1"); /* trailing '/' dropped */
    assert_string_equal(cmx_openai_settings_of(o)->api_key, "sk-from-env");
    assert_string_equal(cmx_openai_settings_of(o)->organization, "org-123");
    assert_int_equal(o->tls_verify, 1);
    assert_null(o->ca_file);
    assert_int_equal(o->timeouts.connect_ms, 2000);
    assert_int_equal(o->timeouts.first_byte_ms, 30000);
    assert_int_equal(o->timeouts.idle_ms, 15000);
    assert_int_equal(o->timeouts.total_ms, 300000);

    const cmx_provider_config *m = cmx_config_find_provider(c, "sim");
    assert_non_null(m);
    assert_ptr_equal(m->schema, &cmx_mock_schema); /* a mock has nothing else: no key */
    assert_string_equal(m->type_name, "mock");
    assert_null(m->base_url);
    assert_int_equal(cmx_mock_settings_of(m)->latency_ms, 250);
    assert_int_equal(cmx_mock_settings_of(m)->chunk_interval_ms, 20);
    assert_true(cmx_mock_settings_of(m)->failure_rate == 0.25);
    assert_int_equal(cmx_mock_settings_of(m)->failure_status, 429);
    assert_int_equal(cmx_mock_settings_of(m)->stream_chunks, 12);
    assert_string_equal(cmx_mock_settings_of(m)->content, "hello there");
    assert_true(cmx_mock_settings_of(m)->seed == 12345678901ULL);
    assert_int_equal(m->line, 30);

    assert_int_equal(c->n_models, 2);
    const cmx_model_group *g = cmx_config_find_model(c, "gpt-4o", 6);
    assert_non_null(g);
    assert_int_equal(g->line, 40);
    assert_int_equal(g->n_targets, 2);
    assert_string_equal(g->targets[0].provider_name, "openai");
    assert_ptr_equal(g->targets[0].provider, o);
    assert_string_equal(g->targets[0].model, "gpt-4o-2024-08-06");
    assert_ptr_equal(g->targets[1].provider, m);
    assert_string_equal(g->targets[1].model, "gpt-4o"); /* mock: defaults to the group */

    const cmx_model_group *cheap = cmx_config_find_model(c, "cheap", 5);
    assert_non_null(cheap);
    assert_int_equal(cheap->n_targets, 1);
    assert_string_equal(cheap->targets[0].model, "tiny");

    cmx_config_unref(c);
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_CLIENT_KEY");
    unsetenv("CMX_TEST_ADMIN_KEY");
    unsetenv("CMX_TEST_OPENAI_KEY");
}

/* ---- defaults ---------------------------------------------------------- */

static void minimal_config_gets_the_documented_defaults(void **state)
{
    (void)state;
    char yaml[512];
    snprintf(yaml, sizeof yaml, "server:\nupstream:\n%s", mock_tail);
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);

    const cmx_server_config *s = &c->server;
    assert_string_equal(s->listen_host, "127.0.0.1");
    assert_int_equal(s->listen_port, 4000);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(s->workers, cpus < 1 ? 1 : cpus);
    assert_int_equal(s->max_body_bytes, 4 * 1024 * 1024);
    assert_int_equal(s->max_header_bytes, 16 * 1024);
    assert_int_equal(s->max_headers, 100);
    assert_int_equal(s->header_timeout_ms, 10000);
    assert_int_equal(s->body_timeout_ms, 30000);
    assert_int_equal(s->keepalive_timeout_ms, 75000);
    assert_int_equal(s->write_timeout_ms, 60000);
    assert_int_equal(s->n_api_keys, 0);
    assert_int_equal(s->n_admin_keys, 0);
    assert_int_equal(s->access_log, 1);
    assert_int_equal(s->shutdown_drain_delay_ms, 5000);
    assert_int_equal(s->shutdown_grace_ms, 30000);

    const cmx_upstream_config *u = &c->upstream;
    assert_int_equal(u->max_idle_per_origin, 32);
    assert_int_equal(u->max_conns_per_origin, 256);
    assert_int_equal(u->idle_expiry_ms, 60000);
    assert_null(u->https_proxy);
    assert_null(u->http_proxy);
    assert_null(u->no_proxy);

    const cmx_provider_config *m = cmx_config_find_provider(c, "m");
    assert_non_null(m);
    assert_int_equal(m->tls_verify, 1);
    assert_int_equal(m->timeouts.connect_ms, 5000);
    assert_int_equal(m->timeouts.first_byte_ms, 60000);
    assert_int_equal(m->timeouts.idle_ms, 30000);
    assert_int_equal(m->timeouts.total_ms, 600000);
    assert_int_equal(cmx_mock_settings_of(m)->latency_ms, 0);
    assert_int_equal(cmx_mock_settings_of(m)->chunk_interval_ms, 0);
    assert_true(cmx_mock_settings_of(m)->failure_rate == 0.0);
    assert_int_equal(cmx_mock_settings_of(m)->failure_status, 503);
    assert_int_equal(cmx_mock_settings_of(m)->stream_chunks, 5);
    assert_non_null(cmx_mock_settings_of(m)->content);
    assert_true(strlen(cmx_mock_settings_of(m)->content) > 0);
    assert_true(cmx_mock_settings_of(m)->seed == 1);

    /* No state section: in-process state; groups do not cache. */
    assert_null(c->state.redis_url);
    assert_string_equal(c->state.key_prefix, "cmx:");
    assert_int_equal(c->state.timeout_ms, 5);
    assert_int_equal(c->state.fail_closed, 0);
    assert_int_equal(c->state.tls_verify, 1);
    assert_int_equal(c->state.cache_max_bytes, 64 * 1024 * 1024);
    for (size_t i = 0; i < c->n_models; i++) {
        assert_int_equal(c->models[i].cache.enabled, 0);
        assert_int_equal(c->models[i].cache.ttl_ms, 600000);
    }

    assert_string_equal(c->path, NAME);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void state_and_cache_keys_load(void **state)
{
    (void)state;
    setenv("CMX_TEST_REDIS_PASSWORD", "redis-pw", 1);
    static const char yaml[] =
        "state:\n"
        "  cache_max_bytes: 8MiB\n"
        "  redis:\n"
        "    url: rediss://redis.internal:6380/2\n"
        "    password: env:CMX_TEST_REDIS_PASSWORD\n"
        "    key_prefix: \"prod:\"\n"
        "    timeout: 20ms\n"
        "    fail_closed: true\n"
        "    tls_verify: false\n"
        "    ca_file: /etc/ssl/redis-ca.pem\n"
        "providers:\n  m: {type: mock}\n"
        "models:\n"
        "  g:\n    cache: {ttl: 90s, scope: global}\n    targets: [{provider: m}]\n"
        "  h:\n    cache: {ttl: 1m}\n    targets: [{provider: m}]\n"
        "  k:\n    cache: false\n    targets: [{provider: m}]\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    assert_string_equal(c->state.redis_url, "rediss://redis.internal:6380/2");
    assert_string_equal(c->state.redis_password, "redis-pw");
    assert_string_equal(c->state.key_prefix, "prod:");
    assert_int_equal(c->state.timeout_ms, 20);
    assert_int_equal(c->state.fail_closed, 1);
    assert_int_equal(c->state.tls_verify, 0);
    assert_string_equal(c->state.ca_file, "/etc/ssl/redis-ca.pem");
    assert_int_equal(c->state.cache_max_bytes, 8 * 1024 * 1024);
    assert_int_equal(c->models[0].cache.enabled, 1);
    assert_int_equal(c->models[0].cache.ttl_ms, 90000);
    assert_int_equal(c->models[0].cache.scope_global, 1);
    assert_int_equal(c->models[1].cache.scope_global, 0);
    assert_int_equal(c->models[2].cache.enabled, 0);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void portable_target_and_group_keys_load(void **state)
{
    (void)state;
    static const char yaml[] =
        "providers:\n  m: {type: mock}\n"
        "models:\n"
        "  g:\n"
        "    cache_prompt: [system, last_user]\n"
        "    shadow: {provider: m, percent: 5}\n"
        "    targets:\n"
        "      - {provider: m, structured_output: tool, reasoning: effort,\n"
        "         reasoning_budgets: {low: 3000, high: 30000}}\n"
        "      - {provider: m}\n"
        "  h:\n    cache_prompt: tools\n    targets: [{provider: m}]\n"
        "  k:\n    cache_prompt: off\n    targets: [{provider: m, reasoning: off}]\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    const cmx_target_config *t = &c->models[0].targets[0];
    assert_int_equal(t->structured_output, CMX_STRUCTURED_OUTPUT_TOOL);
    assert_int_equal(t->reasoning, CMX_REASONING_EFFORT);
    assert_int_equal(t->reasoning_budgets[1], 3000);
    assert_int_equal(t->reasoning_budgets[3], 30000);
    assert_int_equal(t->reasoning_budgets[0], 0);
    assert_int_equal(t->cache_prompt, CMX_CACHE_PROMPT_SYSTEM | CMX_CACHE_PROMPT_LAST_USER);
    assert_int_equal(c->models[0].shadow->cache_prompt, t->cache_prompt);
    assert_int_equal(c->models[0].targets[1].structured_output, CMX_STRUCTURED_OUTPUT_AUTO);
    assert_int_equal(c->models[1].targets[0].cache_prompt, CMX_CACHE_PROMPT_TOOLS);
    assert_int_equal(c->models[2].targets[0].cache_prompt, 0);
    assert_int_equal(c->models[2].targets[0].reasoning, CMX_REASONING_OFF);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    static const char bad[] = "providers:\n  m: {type: mock}\n"
                              "models:\n"
                              "  g:\n"
                              "    cache_prompt: [system, everything]\n"
                              "    targets:\n"
                              "      - {provider: m, structured_output: json, reasoning: lots,\n"
                              "         reasoning_budgets: {extreme: 5, high: 0}}\n";
    c = load(bad, &d);
    assert_null(c);
    static const char *const want[] = {
        "cache_prompt: expected system, tools, last_user (or a list of them) or off, got "
        "'everything'",
        "structured_output: expected one of auto, native, tool, got 'json'",
        "reasoning: expected one of auto, budget, effort, off, got 'lots'",
        "extreme",
        "reasoning_budgets.high",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int found = 0;
        for (size_t e = 0; e < d.n_errors; e++)
            found |= strstr(d.errors[e], want[i]) != NULL;
        if (!found) {
            print_diag(&d);
            fail_msg("no error mentions %s", want[i]);
        }
    }
    cmx_config_diag_free(&d);
}

static void workers_auto_means_the_cpu_count(void **state)
{
    (void)state;
    char yaml[512];
    snprintf(yaml, sizeof yaml, "server:\n  workers: auto\n%s", mock_tail);
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->server.workers, cpus < 1 ? 1 : cpus);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void shutdown_delays_load_and_zero_is_allowed(void **state)
{
    (void)state;
    char yaml[512];
    snprintf(yaml, sizeof yaml, "server:\n  shutdown: { drain_delay: 0, grace: 2s }\n%s",
             mock_tail);
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    assert_int_equal(c->server.shutdown_drain_delay_ms, 0);
    assert_int_equal(c->server.shutdown_grace_ms, 2000);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
    c = load("server:\n  shutdown: { drain_delay: soon, delay: 1s }\n", &d);
    assert_null(c);
    assert_true(
        has_message(d.errors, d.n_errors, 2, "server.shutdown.drain_delay: expected a duration"));
    assert_true(has_message(d.errors, d.n_errors, 2, "unknown key 'delay' in server.shutdown"));
    cmx_config_diag_free(&d);
}

static void provider_settings_at_the_wrong_level_point_at_the_indentation(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c =
        load("providers:\n  sim:\n  type: mock\nmodels:\n  demo: [ {provider: sim} ]\n", &d);
    assert_null(c);
    print_diag(&d);
    assert_int_equal(d.n_errors, 2);
    assert_true(has_message(d.errors, d.n_errors, 2,
                            "providers.sim: expected a mapping with at least 'type', got "
                            "nothing; check the indentation of the lines below 'sim'"));
    assert_true(has_message(d.errors, d.n_errors, 3,
                            "providers.type: 'type' is a provider setting, not a provider "
                            "name; check the indentation"));
    cmx_config_diag_free(&d);
    c = load("- a\n", &d);
    assert_null(c);
    assert_true(has_message(d.errors, d.n_errors, 1,
                            "expected a mapping with the keys server, upstream, providers, models, "
                            "pricing at the top level, got a list"));
    cmx_config_diag_free(&d);
}

static void config_without_models_loads_with_a_warning(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c = load("server:\n  listen: :4100\n", &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_true(has_message(d.warnings, d.n_warnings, 1, "no model groups"));
    assert_string_equal(c->server.listen_host, "0.0.0.0");
    assert_int_equal(c->server.listen_port, 4100);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

/* ---- value syntaxes ---------------------------------------------------- */

static void durations_accept_units_and_plain_milliseconds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"0", 0},       {"1500", 1500},        {"500ms", 500}, {"10s", 10000},
                {"2m", 120000}, {"1h", 3600000},       {"1.5s", 1500}, {"1m30s", 90000},
                {"0.25s", 250}, {"1h1m1s1ms", 3661001}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t ms = 12345;
        assert_int_equal(cmx_parse_duration_ms(good[i].text, &ms), 0);
        assert_true(ms == good[i].ms);
    }
    static const char *const bad[] = {"",     "s",   "10x",   "-1s", "10 s",
                                      "1.s",  ".5s", "10sec", "1d",  "99999999999999999999ms",
                                      "1e3ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms;
        assert_int_equal(cmx_parse_duration_ms(bad[i], &ms), -1);
    }
}

static void sizes_accept_binary_and_decimal_units(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {{"0", 0},           {"65536", 65536},        {"100B", 100},
                {"1KB", 1000},      {"512KiB", 524288},      {"4MiB", 4194304},
                {"10MB", 10000000}, {"2GiB", 2147483648ULL}, {"1GB", 1000000000},
                {"4 MiB", 4194304}, {"4mib", 4194304}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t n = 1;
        assert_int_equal(cmx_parse_size(good[i].text, &n), 0);
        assert_true(n == good[i].bytes);
    }
    static const char *const bad[] = {"",   "MiB",    "4M",   "4 megs",
                                      "-1", "1.5MiB", "4TiB", "99999999999999999999GiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t n;
        assert_int_equal(cmx_parse_size(bad[i], &n), -1);
    }
}

static void listen_addresses_in_every_form(void **state)
{
    (void)state;
    static const struct {
        const char *text, *host;
        int port;
    } good[] = {{"127.0.0.1:4000", "127.0.0.1", 4000},
                {"[::1]:4000", "::1", 4000},
                {":8080", "0.0.0.0", 8080},
                {"localhost:1", "localhost", 1},
                {"[::]:0", "::", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char host[64];
        int port = -1;
        assert_int_equal(cmx_parse_listen(good[i].text, host, sizeof host, &port), 0);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    static const char *const bad[] = {
        "",           "localhost", "::1:4000", "[::1]4000", "[::1:4000", "[zz]:4000",
        "host:70000", "host:",     "ho st:80", "host:-1",   "[]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64];
        int port;
        assert_int_equal(cmx_parse_listen(bad[i], host, sizeof host, &port), -1);
    }
}

static void urls_need_http_scheme_and_host(void **state)
{
    (void)state;
    static const char *const good[] = {"https://api.openai.com/v1", "http://127.0.0.1:8000/v1",
                                       "HTTP://localhost", "http://[::1]:11434",
                                       "https://user:pw@host.example/v1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(cmx_check_http_url(good[i]), 0);
    static const char *const bad[] = {"api.openai.com/v1", "ftp://host",    "https://",
                                      "https:///v1",       "http://host:0", "http://host:99999",
                                      "http://ho st/",     "http://[::1/",  "http://host:port"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cmx_check_http_url(bad[i]), -1);
}

/* ---- secrets ----------------------------------------------------------- */

static char *make_temp_dir(void)
{
    char tmpl[] = "/tmp/cmx-config-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static const char *openai_head = "providers:\n"
                                 "  p:\n"
                                 "    type: openai\n"
                                 "    base_url: http://127.0.0.1:9/v1\n";
static const char *openai_tail = "models:\n"
                                 "  g:\n"
                                 "    - provider: p\n"
                                 "      model: m\n";

static void env_secret_is_read_from_the_environment(void **state)
{
    (void)state;
    setenv("CMX_TEST_KEY", "sk-env-value", 1);
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s    api_key: env:CMX_TEST_KEY\n%s", openai_head, openai_tail);
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    assert_string_equal(cmx_openai_settings_of(&c->providers[0])->api_key, "sk-env-value");
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    /* Set but empty is a mistake too: it would send an empty key. */
    setenv("CMX_TEST_KEY", "", 1);
    c = load(yaml, &d);
    assert_null(c);
    assert_true(has_message(d.errors, d.n_errors, 5, "environment variable CMX_TEST_KEY is empty"));
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_KEY");
}

static void file_secret_is_read_relative_to_the_config_and_newline_stripped(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/keys", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "keys/openai.txt", "sk-file-value\n");
    write_file(dir, "keys/client.txt", "client-from-file\r\n\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "server:\n  api_keys: [file:keys/client.txt]\n%s    api_key: file:keys/openai.txt\n%s",
             openai_head, openai_tail);
    write_file(dir, "config.yaml", yaml);

    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    assert_loads_clean(c, &d);
    assert_string_equal(cmx_openai_settings_of(&c->providers[0])->api_key, "sk-file-value");
    assert_int_equal(c->server.n_api_keys, 1);
    assert_string_equal(c->server.api_keys[0], "client-from-file");
    assert_string_equal(c->path, path);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    /* An absolute path works from anywhere. */
    char abs_yaml[1400];
    snprintf(abs_yaml, sizeof abs_yaml, "%s    api_key: file:%s/keys/openai.txt\n%s", openai_head,
             dir, openai_tail);
    c = load(abs_yaml, &d);
    assert_loads_clean(c, &d);
    assert_string_equal(cmx_openai_settings_of(&c->providers[0])->api_key, "sk-file-value");
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    remove_file(dir, "keys/openai.txt");
    remove_file(dir, "keys/client.txt");
    remove_file(dir, "config.yaml");
    rmdir(sub);
    rmdir(dir);
    free(dir);
}

static void inline_secret_loads_with_a_warning_that_hides_the_value(void **state)
{
    (void)state;
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "server:\n  api_keys:\n    - client-inline-secret\n%s    api_key: sk-inline-XYZ\n%s",
             openai_head, openai_tail);
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 2);
    assert_true(has_message(d.warnings, d.n_warnings, 3,
                            "secret written inline in server.api_keys[0]; use env:NAME or "
                            "file:PATH"));
    assert_true(has_message(d.warnings, d.n_warnings, 8,
                            "secret written inline in providers.p.api_key; use env:NAME or "
                            "file:PATH"));
    for (size_t i = 0; i < d.n_warnings; i++) {
        assert_null(strstr(d.warnings[i], "client-inline-secret"));
        assert_null(strstr(d.warnings[i], "sk-inline-XYZ"));
    }
    assert_string_equal(cmx_openai_settings_of(&c->providers[0])->api_key, "sk-inline-XYZ");
    assert_string_equal(c->server.api_keys[0], "client-inline-secret");
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

/* Secrets must not leak through any message, even when they sit next to
 * errors or are themselves malformed. */
static void secret_values_appear_in_no_message(void **state)
{
    (void)state;
    setenv("CMX_TEST_KEY", "sk-env-SECRET", 1);
    const char *yaml = "server:\n"
                       "  workers: lots\n"
                       "  api_keys:\n"
                       "    - sk-inline-SECRET\n"
                       "    - env:sk-pasted-SECRET\n"
                       "    - env:CMX_TEST_KEY\n"
                       "upstream:\n"
                       "  https_proxy: http//user:proxy-SECRET@proxy\n"
                       "providers:\n"
                       "  p:\n"
                       "    type: openai\n"
                       "    base_url: htp://user:url-SECRET@host\n"
                       "    api_key: [sk-list-SECRET]\n"
                       "models:\n"
                       "  g: [{provider: p}]\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_null(c);
    assert_true(d.n_errors >= 5);
    for (size_t i = 0; i < d.n_errors; i++)
        assert_null(strstr(d.errors[i], "SECRET"));
    for (size_t i = 0; i < d.n_warnings; i++)
        assert_null(strstr(d.warnings[i], "SECRET"));
    assert_true(has_message(d.errors, d.n_errors, 5, "invalid environment variable name"));
    assert_true(has_message(d.warnings, d.n_warnings, 4, "secret written inline"));
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_KEY");
}

/* ---- broken configs ---------------------------------------------------- */

typedef struct broken_case {
    const char *what;
    const char *yaml;
    int line; /* 0: the message has no position */
    const char *needle;
} broken_case;

#define MOCK_P "providers:\n  m:\n    type: mock\n"
#define ANTHROPIC_P "providers:\n  c:\n    type: anthropic\n"
#define OPENAI_P "providers:\n  p:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"

static const broken_case broken_cases[] = {
    {"yaml syntax error", "server:\n  listen: 1\n  workers: [1\n", 4, "YAML syntax error"},
    {"yaml syntax error mid-line", "server: {a: b: c}\n", 1, "YAML syntax error"},
    {"tab indentation", "server:\n\tlisten: x\n", 2, "YAML syntax error"},
    {"empty file", "", 0, "the configuration is empty"},
    {"top level is a list", "- server\n", 1, "expected a mapping with the keys server"},
    {"multiple documents", "server: {}\n---\nserver: {}\n", 2, "more than one YAML document"},
    {"anchor", "server: &s {}\nupstream: {}\n", 1, "YAML anchors (&s) are not supported"},
    {"alias", "a: 1\nserver: *x\n", 2, "YAML aliases"},
    {"custom tag", "server:\n  listen: !addr x\n", 2, "YAML tag '!addr' is not supported"},
    {"unknown top-level key", "server: {}\nsevrer: {}\n", 2,
     "unknown key 'sevrer' at the top level (expected one of: server, upstream, providers, "
     "models, pricing, state, governance, keys, teams, audit); did you mean 'server'?"},
    {"unknown key in server", "server:\n  listen: :4000\n  max_body_byte: 10\n", 3,
     "unknown key 'max_body_byte' in server (expected one of: listen, workers, max_body_bytes"},
    {"unknown key in server.timeouts", "server:\n  timeouts:\n    headr: 1s\n", 3,
     "unknown key 'headr' in server.timeouts (expected one of: header, body, keepalive, write)"},
    {"unknown key in upstream", "upstream:\n  max_idle: 3\n", 2,
     "unknown key 'max_idle' in upstream"},
    {"unknown key in a provider", MOCK_P "    latncy: 5ms\n", 4,
     "unknown key 'latncy' in providers.m"},
    {"unknown key in a target", MOCK_P "models:\n  g:\n    - provider: m\n      modle: x\n", 7,
     "unknown key 'modle' in models.g[0]"},
    {"unknown key in a group", MOCK_P "models:\n  g:\n    target: []\n", 6,
     "unknown key 'target' in models.g"},
    {"duplicate key in server", "server:\n  workers: 1\n  workers: 2\n", 3,
     "duplicate key 'workers' in server (first defined at line 2)"},
    {"server is a list", "server:\n  - listen\n", 2, "server: expected a mapping, got a list"},
    {"redis url with a wrong scheme", "state:\n  redis:\n    url: http://redis:6379\n", 3,
     "state.redis.url: expected a URL starting with redis://, rediss:// or unix://"},
    {"redis url with a bad port", "state:\n  redis:\n    url: \"redis://:pw@host:0\"\n", 3,
     "state.redis.url: expected HOST[:PORT] after the scheme"},
    {"redis without a url", "state:\n  redis:\n    timeout: 5ms\n", 3,
     "state.redis: missing required key 'url'"},
    {"redis timeout too long", "state:\n  redis:\n    url: redis://h\n    timeout: 1m\n", 4,
     "state.redis.timeout: at most 10s"},
    {"unknown key in state.redis", "state:\n  redis:\n    url: redis://h\n    prefix: x\n", 4,
     "unknown key 'prefix' in state.redis"},
    {"cache scope",
     MOCK_P "models:\n  g:\n    cache: {scope: team}\n    targets: [{provider: m}]\n", 6,
     "models.g.cache.scope: expected key or global, got 'team'"},
    {"cache is a word", MOCK_P "models:\n  g:\n    cache: yes\n    targets: [{provider: m}]\n", 6,
     "models.g.cache: expected a mapping such as {ttl: 10m, scope: key}"},
    {"workers is a word", "server:\n  workers: lots\n", 2,
     "server.workers: expected a positive integer (at most 1024) or 'auto', got 'lots'"},
    {"workers is zero", "server:\n  workers: 0\n", 2, "server.workers: expected a positive"},
    {"workers is a mapping", "server:\n  workers: {n: 1}\n", 2, "got a mapping"},
    {"size has a bad unit", "server:\n  max_body_bytes: 4 megs\n", 2,
     "server.max_body_bytes: expected a size in bytes such as 4MiB"},
    {"size is zero", "server:\n  max_header_bytes: 0\n", 2,
     "server.max_header_bytes: expected a size of at least 1 byte, got 0"},
    {"max_headers negative", "server:\n  max_headers: -5\n", 2,
     "server.max_headers: expected an integer from 1 to 100000, got '-5'"},
    {"duration has a bad unit", "server:\n  timeouts:\n    header: 10x\n", 3,
     "server.timeouts.header: expected a duration such as 500ms"},
    {"duration is zero", "server:\n  timeouts:\n    body: 0s\n", 3,
     "expected a duration greater than zero"},
    {"duration too long", "upstream:\n  idle_expiry: 2000h\n", 2, "too long"},
    {"bool is not a bool", "server:\n  access_log: maybe\n", 2,
     "server.access_log: expected true or false, got 'maybe'"},
    {"api_keys is a string", "server:\n  api_keys: env:KEY\n", 2,
     "server.api_keys: expected a list of secret references"},
    {"admin_keys is a string", "server:\n  admin_keys: env:KEY\n", 2,
     "server.admin_keys: expected a list of secret references"},
    {"api_key is empty", OPENAI_P "    api_key: \"\"\n", 5, "got an empty string"},
    {"bad listen: no port", "server:\n  listen: localhost\n", 2,
     "server.listen: expected an address such as 127.0.0.1:4000, [::1]:4000 or :4000, got "
     "'localhost'"},
    {"bad listen: port out of range", "server:\n  listen: 127.0.0.1:70000\n", 2,
     "server.listen: expected an address"},
    {"bad listen: bare ipv6", "server:\n  listen: \"::1:4000\"\n", 2,
     "server.listen: expected an address"},
    {"bad proxy url", "upstream:\n  https_proxy: proxy:3128\n", 2,
     "upstream.https_proxy: expected a proxy URL"},
    {"providers is a list", "providers:\n  - m\n", 2, "providers: expected a mapping"},
    {"provider without type", "providers:\n  m:\n    latency: 1s\n", 2,
     "providers.m: missing required key 'type' (openai, anthropic, bedrock, azure, vertex or "
     "mock)"},
    {"provider with unknown type", "providers:\n  m:\n    type: nonesuch\n", 3,
     "providers.m.type: expected openai, anthropic, bedrock, azure, vertex or mock, got "
     "'nonesuch'"},
    {"vertex without project", "providers:\n  v:\n    type: vertex\n    metadata_server: true\n", 2,
     "providers.v: missing required key 'project'"},
    {"vertex without credentials", "providers:\n  v:\n    type: vertex\n    project: p\n", 2,
     "providers.v: missing credentials: set 'service_account_file'"},
    {"vertex with both credentials",
     "providers:\n  v:\n    type: vertex\n    project: p\n    service_account_file: /dev/null\n"
     "    metadata_server: true\n",
     6, "set either 'service_account_file' or 'metadata_server: true', not both"},
    {"vertex key file missing",
     "providers:\n  v:\n    type: vertex\n    project: p\n"
     "    service_account_file: /nonexistent/sa.json\n",
     5, "providers.v.service_account_file: cannot read '/nonexistent/sa.json'"},
    {"vertex bad location",
     "providers:\n  v:\n    type: vertex\n    project: p\n    location: \"us central\"\n"
     "    metadata_server: true\n",
     5, "providers.v.location: expected a region"},
    {"base_url on vertex",
     "providers:\n  v:\n    type: vertex\n    project: p\n    metadata_server: true\n"
     "    base_url: http://x\n",
     6, "key 'base_url' is only valid for openai or anthropic providers (this one is vertex)"},
    {"provider is empty", "providers:\n  m:\n", 2,
     "providers.m: expected a mapping with at least 'type', got an empty value"},
    {"provider name with a space", "providers:\n  \"my prov\":\n    type: mock\n", 2,
     "invalid provider name 'my prov'"},
    {"duplicate provider", MOCK_P "  m:\n    type: mock\n", 4,
     "duplicate key 'm' in providers (first defined at line 2)"},
    {"openai without base_url", "providers:\n  p:\n    type: openai\n", 2,
     "providers.p: missing required key 'base_url'"},
    {"base_url without scheme", "providers:\n  p:\n    type: openai\n    base_url: api.x.com/v1\n",
     4,
     "providers.p.base_url: expected an http:// or https:// URL with a host, got 'api.x.com/v1'"},
    {"base_url with ftp scheme", "providers:\n  p:\n    type: openai\n    base_url: ftp://x/v1\n",
     4, "providers.p.base_url: expected an http:// or https:// URL"},
    {"base_url without host", "providers:\n  p:\n    type: openai\n    base_url: https:///v1\n", 4,
     "providers.p.base_url: expected an http:// or https:// URL with a host"},
    {"mock key on an openai provider", OPENAI_P "    failure_rate: 0.5\n", 5,
     "providers.p: key 'failure_rate' is only valid for mock providers (this one is openai)"},
    {"base_url on a mock provider", MOCK_P "    base_url: http://x\n", 4,
     "providers.m: key 'base_url' is only valid for openai or anthropic providers (this one is "
     "mock)"},
    {"api_key on a mock provider", MOCK_P "    api_key: env:X\n", 4,
     "key 'api_key' is only valid for openai, anthropic or azure providers"},
    {"openai key on an anthropic provider", ANTHROPIC_P "    organization: org-1\n", 4,
     "providers.c: key 'organization' is only valid for openai providers (this one is anthropic)"},
    {"anthropic key on an openai provider", OPENAI_P "    anthropic_version: 2023-06-01\n", 5,
     "providers.p: key 'anthropic_version' is only valid for anthropic providers (this one is "
     "openai)"},
    {"default_max_tokens is zero", ANTHROPIC_P "    default_max_tokens: 0\n", 4,
     "providers.c.default_max_tokens: expected an integer from 1 to 1000000, got '0'"},
    {"drop_unsupported_params is not a bool", ANTHROPIC_P "    drop_unsupported_params: some\n", 4,
     "providers.c.drop_unsupported_params: expected true or false"},
    {"anthropic target without model", ANTHROPIC_P "models:\n  g:\n    - provider: c\n", 6,
     "models.g[0]: missing required key 'model' (the model name the anthropic provider 'c' "
     "expects)"},
    {"unknown key in provider timeouts", MOCK_P "    timeouts:\n      conect: 1s\n", 5,
     "unknown key 'conect' in providers.m.timeouts (expected one of: connect, first_byte, idle, "
     "total); did you mean 'connect'?"},
    {"failure_rate above 1", MOCK_P "    failure_rate: 1.5\n", 4,
     "providers.m.failure_rate: expected a number from 0 to 1, got '1.5'"},
    {"failure_rate below 0", MOCK_P "    failure_rate: -0.1\n", 4,
     "providers.m.failure_rate: expected a number from 0 to 1"},
    {"failure_rate not a number", MOCK_P "    failure_rate: half\n", 4,
     "expected a number from 0 to 1, got 'half'"},
    {"failure_status not an error", MOCK_P "    failure_status: 200\n", 4,
     "providers.m.failure_status: expected an integer from 400 to 599, got '200'"},
    {"stream_chunks zero", MOCK_P "    stream_chunks: 0\n", 4,
     "providers.m.stream_chunks: expected an integer from 1 to 1000"},
    {"stream_chunks too many", MOCK_P "    stream_chunks: 1001\n", 4,
     "expected an integer from 1 to 1000, got '1001'"},
    {"content is a list", MOCK_P "    content: [a]\n", 4,
     "providers.m.content: expected a string, got a list"},
    {"env var unset", OPENAI_P "    api_key: env:CMX_TEST_SURELY_UNSET_VAR\n", 5,
     "environment variable CMX_TEST_SURELY_UNSET_VAR is not set (referenced by "
     "providers.p.api_key)"},
    {"file secret unreadable", OPENAI_P "    api_key: file:no-such-dir/key.txt\n", 5,
     "cannot read secret file './no-such-dir/key.txt': No such file or directory (referenced by "
     "providers.p.api_key)"},
    {"file secret with empty path", OPENAI_P "    api_key: \"file:\"\n", 5,
     "empty path after 'file:'"},
    {"ca_file unreadable", OPENAI_P "    ca_file: /no/such/ca.pem\n", 5,
     "providers.p.ca_file: cannot read '/no/such/ca.pem'"},
    {"models is a list", MOCK_P "models:\n  - g\n", 5, "models: expected a mapping"},
    {"unknown provider in a target", MOCK_P "models:\n  g:\n    targets:\n      - provider: n\n", 7,
     "models.g.targets[0].provider: unknown provider 'n' (defined providers: m)"},
    {"target provider with no providers", "models:\n  g:\n    - provider: n\n", 3,
     "unknown provider 'n' (no providers are defined"},
    {"target without provider", MOCK_P "models:\n  g:\n    - model: x\n", 6,
     "models.g[0]: missing required key 'provider'"},
    {"openai target without model", OPENAI_P "models:\n  g:\n    - provider: p\n", 7,
     "models.g[0]: missing required key 'model'"},
    {"target is a string", MOCK_P "models:\n  g:\n    - m\n", 6,
     "models.g[0]: expected a mapping with 'provider' and 'model', got a string"},
    {"duplicate group name",
     MOCK_P "models:\n  g: [{provider: m}]\n  h: [{provider: m}]\n"
            "  g: [{provider: m}]\n",
     7, "duplicate key 'g' in models (first defined at line 5)"},
    {"empty targets", MOCK_P "models:\n  g:\n    targets: []\n", 6,
     "models.g.targets: expected at least one target, got an empty list"},
    {"empty targets in short form", MOCK_P "models:\n  g: []\n", 5,
     "models.g: expected at least one target"},
    {"group without targets", MOCK_P "models:\n  g:\n    targets:\n", 6,
     "models.g.targets: expected a list of targets"},
    {"group is a string", MOCK_P "models:\n  g: m\n", 5,
     "models.g: expected a list of targets ({provider: NAME, model: MODEL}), got a string"},
    {"group name with a space", MOCK_P "models:\n  \"my group\": [{provider: m}]\n", 5,
     "invalid model group name 'my group'"},
    {"unknown strategy",
     MOCK_P "models:\n  g:\n    strategy: fastest\n    targets: [{provider: m}]\n", 6,
     "unknown strategy 'fastest'"},
    {"num_retries too high",
     MOCK_P "models:\n  g:\n    num_retries: 11\n    targets: [{provider: m}]\n", 6, "num_retries"},
    {"breaker neither mapping nor false",
     MOCK_P "models:\n  g:\n    breaker: maybe\n    targets: [{provider: m}]\n", 6,
     "expected a mapping or false"},
    {"unknown retry key",
     MOCK_P "models:\n  g:\n    retry: {bsae: 1s}\n    targets: [{provider: m}]\n", 6,
     "unknown key 'bsae'"},
    {"error rate over 100",
     MOCK_P "models:\n  g:\n    breaker: {error_rate: 150}\n    targets: [{provider: m}]\n", 6,
     "error_rate"},
    {"weight zero", MOCK_P "models:\n  g: [{provider: m, weight: 0}]\n", 5, "weight"},
    {"bedrock without region",
     "providers:\n  b:\n    type: bedrock\n    access_key_id: env:HOME\n"
     "    secret_access_key: env:HOME\n",
     2, "providers.b: missing required key 'region'"},
    {"bedrock with a bad region",
     "providers:\n  b:\n    type: bedrock\n    region: Eu West\n    access_key_id: env:HOME\n"
     "    secret_access_key: env:HOME\n",
     4, "providers.b.region: expected an AWS region such as us-east-1, got 'Eu West'"},
    {"base_url on a bedrock provider",
     "providers:\n  b:\n    type: bedrock\n    region: us-east-1\n    base_url: http://x\n"
     "    access_key_id: env:HOME\n    secret_access_key: env:HOME\n",
     5, "key 'base_url' is only valid for openai or anthropic providers (this one is bedrock)"},
    {"bedrock with half a key pair",
     "providers:\n  b:\n    type: bedrock\n    region: us-east-1\n    access_key_id: env:HOME\n", 2,
     "providers.b: missing 'secret_access_key'"},
    {"bedrock with an unknown api",
     "providers:\n  b:\n    type: bedrock\n    region: us-east-1\n    api: invoke-model\n"
     "    access_key_id: env:HOME\n    secret_access_key: env:HOME\n",
     5, "providers.b.api: expected converse or invoke, got 'invoke-model'"},
};

static void anthropic_provider_gets_its_defaults_and_keys(void **state)
{
    (void)state;
    setenv("CMX_TEST_ANTHROPIC", "sk-ant-value", 1);
    const char *yaml = "providers:\n"
                       "  claude:\n"
                       "    type: anthropic\n"
                       "    api_key: env:CMX_TEST_ANTHROPIC\n"
                       "  claude-eu:\n"
                       "    type: anthropic\n"
                       "    base_url: https://eu.example.com/anthropic/\n"
                       "    anthropic_version: 2024-01-01\n"
                       "    default_max_tokens: 1024\n"
                       "    drop_unsupported_params: true\n"
                       "    timeouts: {first_byte: 5s}\n"
                       "models:\n"
                       "  g:\n"
                       "    - provider: claude\n"
                       "      model: claude-sonnet-4-5\n"
                       "    - provider: claude-eu\n"
                       "      model: claude-sonnet-4-5\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    const cmx_provider_config *p = cmx_config_find_provider(c, "claude");
    assert_ptr_equal(p->schema, &cmx_anthropic_schema);
    assert_string_equal(p->type_name, "anthropic");
    assert_string_equal(p->base_url, "https://api.anthropic.com");
    assert_string_equal(cmx_anthropic_settings_of(p)->api_key, "sk-ant-value");
    assert_string_equal(cmx_anthropic_settings_of(p)->anthropic_version, "2023-06-01");
    assert_int_equal(cmx_anthropic_settings_of(p)->default_max_tokens, 4096);
    assert_int_equal(cmx_anthropic_settings_of(p)->drop_unsupported_params, 0);
    assert_int_equal(p->tls_verify, 1);
    const cmx_provider_config *eu = cmx_config_find_provider(c, "claude-eu");
    assert_string_equal(eu->base_url, "https://eu.example.com/anthropic");
    assert_null(cmx_anthropic_settings_of(eu)->api_key);
    assert_string_equal(cmx_anthropic_settings_of(eu)->anthropic_version, "2024-01-01");
    assert_int_equal(cmx_anthropic_settings_of(eu)->default_max_tokens, 1024);
    assert_int_equal(cmx_anthropic_settings_of(eu)->drop_unsupported_params, 1);
    assert_int_equal(eu->timeouts.first_byte_ms, 5000);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void bedrock_provider_takes_its_keys_from_config_or_environment(void **state)
{
    (void)state;
    setenv("CMX_TEST_AWS_ID", "AKIDEXAMPLE", 1);
    setenv("CMX_TEST_AWS_SECRET", "wJalrXUtnFEMI", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretfromenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenfromenv", 1);
    const char *yaml = "providers:\n"
                       "  aws:\n"
                       "    type: bedrock\n"
                       "    region: eu-west-1\n"
                       "    access_key_id: env:CMX_TEST_AWS_ID\n"
                       "    secret_access_key: env:CMX_TEST_AWS_SECRET\n"
                       "  aws-vpc:\n"
                       "    type: bedrock\n"
                       "    region: us-east-1\n"
                       "    endpoint_url: http://127.0.0.1:9999/\n"
                       "    drop_unsupported_params: true\n"
                       "    api: invoke\n"
                       "models:\n"
                       "  g:\n"
                       "    - provider: aws\n"
                       "      model: anthropic.claude-3-haiku-20240307-v1:0\n"
                       "    - provider: aws-vpc\n"
                       "      model: us.amazon.nova-lite-v1:0\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    const cmx_provider_config *p = cmx_config_find_provider(c, "aws");
    assert_ptr_equal(p->schema, &cmx_bedrock_schema);
    assert_string_equal(cmx_bedrock_settings_of(p)->region, "eu-west-1");
    assert_string_equal(p->base_url, "https://bedrock-runtime.eu-west-1.amazonaws.com");
    assert_string_equal(cmx_bedrock_settings_of(p)->access_key_id, "AKIDEXAMPLE");
    assert_string_equal(cmx_bedrock_settings_of(p)->secret_access_key, "wJalrXUtnFEMI");
    /* the config names a key pair: the environment's token is not mixed in */
    assert_null(cmx_bedrock_settings_of(p)->session_token);
    const cmx_provider_config *v = cmx_config_find_provider(c, "aws-vpc");
    assert_string_equal(v->base_url, "http://127.0.0.1:9999");
    assert_string_equal(cmx_bedrock_settings_of(v)->access_key_id, "AKIDFROMENV");
    assert_string_equal(cmx_bedrock_settings_of(v)->secret_access_key, "secretfromenv");
    assert_string_equal(cmx_bedrock_settings_of(v)->session_token, "tokenfromenv");
    assert_int_equal(cmx_bedrock_settings_of(v)->drop_unsupported_params, 1);
    /* api: converse unless asked */
    assert_int_equal(cmx_bedrock_settings_of(p)->api, CMX_BEDROCK_API_CONVERSE);
    assert_int_equal(cmx_bedrock_settings_of(v)->api, CMX_BEDROCK_API_INVOKE);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    c = load("providers:\n  b:\n    type: bedrock\n    region: us-east-1\n"
             "    credentials: environment\n",
             &d);
    assert_null(c);
    int found = 0;
    for (size_t i = 0; i < d.n_errors; i++)
        found |= strstr(d.errors[i], "no AWS credentials") != NULL;
    assert_true(found);
    cmx_config_diag_free(&d);
}

static void vertex_provider_gets_its_endpoint_from_the_location(void **state)
{
    (void)state;
    const char *yaml = "providers:\n"
                       "  gem:\n"
                       "    type: vertex\n"
                       "    project: my-proj\n"
                       "    service_account_file: /dev/null\n"
                       "  gem-global:\n"
                       "    type: vertex\n"
                       "    project: my-proj\n"
                       "    location: global\n"
                       "    metadata_server: true\n"
                       "  gem-test:\n"
                       "    type: vertex\n"
                       "    project: my-proj\n"
                       "    location: europe-west4\n"
                       "    endpoint_url: http://127.0.0.1:9/\n"
                       "    metadata_server: true\n"
                       "    metadata_url: http://127.0.0.1:8\n"
                       "    drop_unsupported_params: true\n"
                       "models:\n"
                       "  g:\n"
                       "    - provider: gem\n"
                       "      model: gemini-2.5-flash\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_loads_clean(c, &d);
    const cmx_provider_config *p = cmx_config_find_provider(c, "gem");
    assert_ptr_equal(p->schema, &cmx_vertex_schema);
    assert_string_equal(p->type_name, "vertex");
    assert_string_equal(cmx_vertex_settings_of(p)->project, "my-proj");
    assert_string_equal(cmx_vertex_settings_of(p)->location, "us-central1");
    assert_string_equal(p->base_url, "https://us-central1-aiplatform.googleapis.com");
    assert_string_equal(cmx_vertex_settings_of(p)->service_account_file, "/dev/null");
    assert_false(cmx_vertex_settings_of(p)->metadata_server);
    p = cmx_config_find_provider(c, "gem-global");
    assert_string_equal(p->base_url, "https://aiplatform.googleapis.com");
    assert_true(cmx_vertex_settings_of(p)->metadata_server);
    assert_string_equal(cmx_vertex_settings_of(p)->metadata_url, "http://metadata.google.internal");
    assert_null(cmx_vertex_settings_of(p)->service_account_file);
    p = cmx_config_find_provider(c, "gem-test");
    assert_string_equal(cmx_vertex_settings_of(p)->location, "europe-west4");
    assert_string_equal(p->base_url, "http://127.0.0.1:9");
    assert_string_equal(cmx_vertex_settings_of(p)->metadata_url, "http://127.0.0.1:8");
    assert_true(cmx_vertex_settings_of(p)->drop_unsupported_params);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void broken_configs_report_the_line_and_what_was_expected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof broken_cases / sizeof broken_cases[0]; i++) {
        const broken_case *bc = &broken_cases[i];
        cmx_config_diag d;
        cmx_config *c = load(bc->yaml, &d);
        int found = has_message(d.errors, d.n_errors, bc->line, bc->needle);
        if (c || !found || getenv("CMX_TEST_VERBOSE")) {
            fprintf(stderr, "case '%s': expected an error at line %d containing \"%s\"; got:\n",
                    bc->what, bc->line, bc->needle);
            print_diag(&d);
        }
        assert_null(c);
        assert_true(found);
        cmx_config_diag_free(&d);
    }
}

static void every_error_in_a_file_is_reported_in_file_order(void **state)
{
    (void)state;
    /* Models come before providers in the file, but are checked after them:
     * the messages must still come out in line order. */
    const char *yaml = "models:\n"              /* 1 */
                       "  g:\n"                 /* 2 */
                       "    - provider: nope\n" /* 3 */
                       "server:\n"              /* 4 */
                       "  workers: lots\n"      /* 5 */
                       "  listen: nowhere\n"    /* 6 */
                       "  colour: blue\n"       /* 7 */
                       "providers:\n"           /* 8 */
                       "  m:\n"                 /* 9 */
                       "    type: mock\n"       /* 10 */
                       "    failure_rate: 2\n"  /* 11 */
                       "    api_key: env:X\n";  /* 12 */
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    assert_null(c);
    if (d.n_errors != 6)
        print_diag(&d);
    assert_int_equal(d.n_errors, 6);
    static const int lines[] = {3, 5, 6, 7, 11, 12};
    for (size_t i = 0; i < 6; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%s:%d:", NAME, lines[i]);
        assert_true(strncmp(d.errors[i], prefix, strlen(prefix)) == 0);
    }
    assert_non_null(strstr(d.errors[0], "unknown provider 'nope'"));
    cmx_config_diag_free(&d);
}

static void errors_carry_the_column_too(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c = load("server:\n  workers:   lots\n", &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.errors[0], NAME ":2:14: server.workers: expected a positive integer "
                                          "(at most 1024) or 'auto', got 'lots'");
    cmx_config_diag_free(&d);
}

static void missing_file_is_one_precise_error(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c = cmx_config_load("/nonexistent/cloudmux.yaml", &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.errors[0], "/nonexistent/cloudmux.yaml: cannot open the configuration "
                                     "file: No such file or directory");
    cmx_config_diag_free(&d);

    c = cmx_config_load("/tmp", &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.errors[0], "is a directory"));
    cmx_config_diag_free(&d);
}

static void null_diag_is_allowed(void **state)
{
    (void)state;
    assert_null(cmx_config_load_string("server: [\n", 10, NAME, NULL));
    assert_null(cmx_config_load("/nonexistent/x.yaml", NULL));
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s", mock_tail);
    cmx_config *c = cmx_config_load_string(yaml, strlen(yaml), NAME, NULL);
    assert_non_null(c);
    cmx_config_unref(c);
}

/* ---- lifetime and lookups ---------------------------------------------- */

static void snapshot_lives_until_the_last_reference_goes(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c = load(mock_tail, &d);
    assert_loads_clean(c, &d);
    assert_int_equal(atomic_load(&c->refs), 1);
    assert_ptr_equal(cmx_config_ref(c), c);
    assert_int_equal(atomic_load(&c->refs), 2);
    cmx_config_unref(c);
    assert_int_equal(atomic_load(&c->refs), 1);
    /* Still usable: the first reference is alive. */
    assert_non_null(cmx_config_find_model(c, "g", 1));
    cmx_config_unref(c); /* frees; ASan reports any leak or later use */
    assert_null(cmx_config_ref(NULL));
    cmx_config_unref(NULL);
    cmx_config_diag_free(&d);
}

static void find_model_matches_the_exact_name_in_small_and_large_configs(void **state)
{
    (void)state;
    for (int n = 1; n <= 40; n += 39) {
        char *yaml = malloc(8192);
        size_t len = (size_t)sprintf(yaml, "providers:\n  m:\n    type: mock\nmodels:\n");
        for (int i = 0; i < n; i++)
            len += (size_t)sprintf(yaml + len, "  group-%d: [{provider: m}]\n", i);
        cmx_config_diag d;
        cmx_config *c = cmx_config_load_string(yaml, len, NAME, &d);
        assert_loads_clean(c, &d);
        assert_int_equal(c->n_models, n);
        for (int i = 0; i < n; i++) {
            /* The name arrives as a slice of a request body: not NUL-terminated. */
            char body[64];
            int nl = snprintf(body, sizeof body, "group-%d\",\"stream\":true", i);
            (void)nl;
            size_t name_len = strcspn(body, "\"");
            const cmx_model_group *g = cmx_config_find_model(c, body, name_len);
            assert_non_null(g);
            assert_ptr_equal(g, &c->models[i]);
        }
        assert_null(cmx_config_find_model(c, "group-", 6));
        assert_null(cmx_config_find_model(c, "group-1x", 8));
        assert_null(cmx_config_find_model(c, "GROUP-1", 7));
        assert_null(cmx_config_find_model(c, "", 0));
        cmx_config_unref(c);
        cmx_config_diag_free(&d);
        free(yaml);
    }
}

static void large_config_file_loads_and_every_group_is_found(void **state)
{
    (void)state;
    /* Bigger than the first read buffer, with enough groups to be hashed. */
    char *dir = make_temp_dir();
    char path[600];
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("providers:\n  m:\n    type: mock\nmodels:\n", f);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "  tenant-%04d/model: [{provider: m, model: upstream-%d}]\n", i, i);
    fclose(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 64 * 1024);

    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    assert_loads_clean(c, &d);
    assert_int_equal(c->n_models, 3000);
    for (int i = 0; i < 3000; i++) {
        char name[64], model[64];
        int len = snprintf(name, sizeof name, "tenant-%04d/model", i);
        snprintf(model, sizeof model, "upstream-%d", i);
        const cmx_model_group *g = cmx_config_find_model(c, name, (size_t)len);
        assert_non_null(g);
        assert_string_equal(g->targets[0].model, model);
    }
    assert_null(cmx_config_find_model(c, "tenant-3000/model", 17));
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void find_provider_by_name(void **state)
{
    (void)state;
    cmx_config_diag d;
    cmx_config *c = load(mock_tail, &d);
    assert_loads_clean(c, &d);
    const cmx_provider_config *p = cmx_config_find_provider(c, "m");
    assert_non_null(p);
    assert_string_equal(p->name, "m");
    assert_int_equal(p->line, 2);
    assert_null(cmx_config_find_provider(c, "n"));
    assert_null(cmx_config_find_provider(c, ""));
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void ca_file_is_resolved_relative_to_the_config(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    write_file(dir, "ca.pem", "not really a certificate\n");
    char name[600], yaml[1024];
    snprintf(name, sizeof name, "%s/config.yaml", dir);
    snprintf(yaml, sizeof yaml, "%s    ca_file: ca.pem\n    tls_verify: off\n%s", openai_head,
             openai_tail);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load_string(yaml, strlen(yaml), name, &d);
    assert_non_null(c);
    char expected[700];
    snprintf(expected, sizeof expected, "%s/ca.pem", dir);
    assert_string_equal(c->providers[0].ca_file, expected);
    assert_int_equal(c->providers[0].tls_verify, 0);
    /* Turning verification off is allowed, but said out loud. */
    assert_int_equal(d.n_warnings, 1);
    assert_non_null(strstr(d.warnings[0], "tls_verify is false"));
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
    remove_file(dir, "ca.pem");
    rmdir(dir);
    free(dir);
}

static void routing_keys_load_with_their_defaults(void **state)
{
    const char *yaml =
        MOCK_P "models:\n"
               "  tuned:\n"
               "    strategy: least-latency\n"
               "    num_retries: 2\n"
               "    timeout: 45s\n"
               "    retry: {base: 50ms, cap: 1s, max_retry_after: 5s, budget_percent: 10}\n"
               "    breaker: {consecutive_failures: 3, cooldown: 10s}\n"
               "    targets: [{provider: m, weight: 4, rpm: 60, tpm: 1000}]\n"
               "  plain: [{provider: m}]\n"
               "  unguarded: {breaker: false, targets: [{provider: m}]}\n";
    cmx_config_diag d = {0};
    cmx_config *c = cmx_config_load_string(yaml, strlen(yaml), "routing.yaml", &d);
    assert_non_null(c);
    const cmx_model_group *t = cmx_config_find_model(c, "tuned", 5);
    assert_string_equal(t->strategy, "least-latency");
    assert_int_equal(t->num_retries, 2);
    assert_int_equal(t->timeout_ms, 45000);
    assert_int_equal(t->retry.base_ms, 50);
    assert_int_equal(t->retry.cap_ms, 1000);
    assert_int_equal(t->retry.max_retry_after_ms, 5000);
    assert_int_equal(t->retry.budget_percent, 10);
    assert_int_equal(t->retry.min_retries, 10);
    assert_true(t->breaker.enabled);
    assert_int_equal(t->breaker.consecutive_failures, 3);
    assert_int_equal(t->breaker.cooldown_ms, 10000);
    assert_int_equal(t->breaker.error_rate_percent, 50);
    assert_int_equal(t->targets[0].weight, 4);
    assert_int_equal(t->targets[0].rpm, 60);
    assert_int_equal(t->targets[0].tpm, 1000);
    const cmx_model_group *p = cmx_config_find_model(c, "plain", 5);
    assert_string_equal(p->strategy, "priority");
    assert_int_equal(p->num_retries, 0);
    assert_int_equal(p->timeout_ms, 600000);
    assert_int_equal(p->targets[0].weight, 1);
    assert_true(p->breaker.enabled);
    assert_false(cmx_config_find_model(c, "unguarded", 9)->breaker.enabled);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void group_drop_unsupported_params_reaches_every_target(void **state)
{
    (void)state;
    const char *yaml = MOCK_P "models:\n"
                              "  lenient:\n"
                              "    drop_unsupported_params: true\n"
                              "    shadow: {provider: m}\n"
                              "    targets: [{provider: m}, {provider: m, model: other}]\n"
                              "  strict: {targets: [{provider: m}]}\n"
                              "  short: [{provider: m}]\n";
    cmx_config_diag d = {0};
    cmx_config *c = cmx_config_load_string(yaml, strlen(yaml), "drop.yaml", &d);
    assert_non_null(c);
    const cmx_model_group *l = cmx_config_find_model(c, "lenient", 7);
    assert_true(l->drop_unsupported_params);
    assert_true(l->targets[0].drop_unsupported_params);
    assert_true(l->targets[1].drop_unsupported_params);
    assert_true(l->shadow->drop_unsupported_params);
    const cmx_model_group *s = cmx_config_find_model(c, "strict", 6);
    assert_false(s->drop_unsupported_params);
    assert_false(s->targets[0].drop_unsupported_params);
    assert_false(cmx_config_find_model(c, "short", 5)->targets[0].drop_unsupported_params);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);

    const char *bad = MOCK_P "models:\n"
                             "  g: {drop_unsupported_params: maybe, targets: [{provider: m}]}\n";
    assert_null(cmx_config_load_string(bad, strlen(bad), "drop.yaml", &d));
    assert_true(d.n_errors >= 1);
    cmx_config_diag_free(&d);
}

/* Every provider module's key table is the documentation's too: each key
 * has its line, and docs/config.md describes it. */
static void every_provider_key_is_documented(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/config.md", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    size_t types = 0, keys = 0;
    const cmx_provider_schema *s;
    for (size_t i = 0; (s = cmx_provider_schema_at(i)); i++, types++)
        for (const cmx_config_key *k = s->keys; k->name; k++, keys++) {
            if (!k->doc || !*k->doc)
                fail_msg("%s provider key '%s' has no doc line", s->type, k->name);
            char whole[96], sub[96];
            snprintf(whole, sizeof whole, "`%s`", k->name);
            snprintf(sub, sizeof sub, "`%s.", k->name);
            if (!strstr(doc, whole) && !strstr(doc, sub))
                fail_msg("%s provider key '%s' is not in docs/config.md", s->type, k->name);
        }
    assert_int_equal(types, 6);
    assert_true(keys >= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quickstart_example_loads_without_errors_or_warnings),
        cmocka_unit_test(multicloud_example_loads_with_its_variables_set),
        cmocka_unit_test(full_config_sets_every_key),
        cmocka_unit_test(every_provider_key_is_documented),
        cmocka_unit_test(minimal_config_gets_the_documented_defaults),
        cmocka_unit_test(state_and_cache_keys_load),
        cmocka_unit_test(portable_target_and_group_keys_load),
        cmocka_unit_test(workers_auto_means_the_cpu_count),
        cmocka_unit_test(config_without_models_loads_with_a_warning),
        cmocka_unit_test(durations_accept_units_and_plain_milliseconds),
        cmocka_unit_test(sizes_accept_binary_and_decimal_units),
        cmocka_unit_test(listen_addresses_in_every_form),
        cmocka_unit_test(urls_need_http_scheme_and_host),
        cmocka_unit_test(env_secret_is_read_from_the_environment),
        cmocka_unit_test(file_secret_is_read_relative_to_the_config_and_newline_stripped),
        cmocka_unit_test(inline_secret_loads_with_a_warning_that_hides_the_value),
        cmocka_unit_test(secret_values_appear_in_no_message),
        cmocka_unit_test(anthropic_provider_gets_its_defaults_and_keys),
        cmocka_unit_test(vertex_provider_gets_its_endpoint_from_the_location),
        cmocka_unit_test(broken_configs_report_the_line_and_what_was_expected),
        cmocka_unit_test(every_error_in_a_file_is_reported_in_file_order),
        cmocka_unit_test(errors_carry_the_column_too),
        cmocka_unit_test(bedrock_provider_takes_its_keys_from_config_or_environment),
        cmocka_unit_test(missing_file_is_one_precise_error),
        cmocka_unit_test(null_diag_is_allowed),
        cmocka_unit_test(snapshot_lives_until_the_last_reference_goes),
        cmocka_unit_test(find_model_matches_the_exact_name_in_small_and_large_configs),
        cmocka_unit_test(large_config_file_loads_and_every_group_is_found),
        cmocka_unit_test(find_provider_by_name),
        cmocka_unit_test(ca_file_is_resolved_relative_to_the_config),
        cmocka_unit_test(routing_keys_load_with_their_defaults),
        cmocka_unit_test(group_drop_unsupported_params_reaches_every_target),
        cmocka_unit_test(shutdown_delays_load_and_zero_is_allowed),
        cmocka_unit_test(provider_settings_at_the_wrong_level_point_at_the_indentation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
