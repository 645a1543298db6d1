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
#include "helpers/cases.h"
#include "helpers/config_load.h"
#include "providers/anthropic_config.h"
#include "providers/bedrock_config.h"
#include "providers/mock_config.h"
#include "providers/openai_config.h"
#include "providers/vertex_config.h"

#define NAME "test.yaml"

static cmx_config *load(const char *yaml, cmx_config_diag *d)
{
    return cmx_test_config_load(yaml, NAME, d);
}

/* A config that loads without errors or warnings. */
static cmx_config *load_clean(const char *yaml)
{
    return cmx_test_config_clean(yaml, NAME);
}

/* Whether one of the messages stands at `line` (0: without a position)
 * and contains needle. */
static int has_message(char **msgs, size_t n, int line, const char *needle)
{
    return cmx_test_diag_has(msgs, n, NAME, line, needle);
}

/* Loads yaml, which must be refused with exactly n errors (shown if not). */
static void expect_errors(const char *yaml, size_t n, cmx_config_diag *d)
{
    cmx_config *c = load(yaml, d);
    if (c || d->n_errors != n)
        cmx_test_diag_print(d);
    assert_null(c);
    assert_int_equal(d->n_errors, n);
}

/* A config file of the source tree: it loads without errors or warnings. */
static cmx_config *load_source_file(const char *relative)
{
    const char *src = getenv("CMX_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src, relative);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    cmx_test_config_expect_clean(c, &d);
    cmx_config_diag_free(&d);
    return c;
}

static const char *mock_tail = "providers:\n"
                               "  m:\n"
                               "    type: mock\n"
                               "models:\n"
                               "  g:\n"
                               "    targets:\n"
                               "      - provider: m\n";

/* `head`, then a mock provider and a group: loads without errors or warnings. */
static cmx_config *load_clean_with_a_group(const char *head)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%s%s", head, mock_tail);
    return load_clean(yaml);
}

/* ---- the shipped example ---------------------------------------------- */

static void quickstart_example_loads_without_errors_or_warnings(void **state)
{
    cmx_config *c = load_source_file("examples/quickstart.yaml");

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
}

/* The multi-cloud example, with the variables its top comment lists. */
static void multicloud_example_loads_with_its_variables_set(void **state)
{
    const char *env = "CLOUDMUX_CLIENT_KEY=example-value AZURE_OPENAI_API_KEY=example-value "
                      "ANTHROPIC_API_KEY=example-value AWS_ACCESS_KEY_ID=example-value "
                      "AWS_SECRET_ACCESS_KEY=example-value";
    cmx_test_setenv(env);
    cmx_config *c = load_source_file("examples/multicloud.yaml");

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
    cmx_test_unsetenv(env);
}

/* ---- every key --------------------------------------------------------- */

static void full_config_sets_every_key(void **state)
{
    const char *env = "CMX_TEST_CLIENT_KEY=client-key-1 CMX_TEST_ADMIN_KEY=admin-key-1 "
                      "CMX_TEST_OPENAI_KEY=sk-from-env";
    cmx_test_setenv(env);
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
    cmx_config *c = load_clean(yaml);

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
    cmx_test_unsetenv(env);
}

/* ---- defaults ---------------------------------------------------------- */

static void minimal_config_gets_the_documented_defaults(void **state)
{
    cmx_config *c = load_clean_with_a_group("server:\nupstream:\n");

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
}

static void state_and_cache_keys_load(void **state)
{
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
    cmx_config *c = load_clean(yaml);
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
}

static void portable_target_and_group_keys_load(void **state)
{
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
    cmx_config *c = load_clean(yaml);
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

    static const char bad[] = "providers:\n  m: {type: mock}\n"
                              "models:\n"
                              "  g:\n"
                              "    cache_prompt: [system, everything]\n"
                              "    targets:\n"
                              "      - {provider: m, structured_output: json, reasoning: lots,\n"
                              "         reasoning_budgets: {extreme: 5, high: 0}}\n";
    static const char *const want[] = {
        "cache_prompt: expected system, tools, last_user (or a list of them) or off, got "
        "'everything'",
        "structured_output: expected one of auto, native, tool, got 'json'",
        "reasoning: expected one of auto, budget, effort, off, got 'lots'",
        "extreme",
        "reasoning_budgets.high",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cmx_config_diag d;
        cmx_test_config_refused(bad, NAME, CMX_TEST_ANY_LINE, want[i], &d);
        cmx_config_diag_free(&d);
    }
}

static void workers_auto_means_the_cpu_count(void **state)
{
    cmx_config *c = load_clean_with_a_group("server:\n  workers: auto\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->server.workers, cpus < 1 ? 1 : cpus);
    cmx_config_unref(c);
}

static void shutdown_delays_load_and_zero_is_allowed(void **state)
{
    cmx_config *c = load_clean_with_a_group("server:\n  shutdown: { drain_delay: 0, grace: 2s }\n");
    assert_int_equal(c->server.shutdown_drain_delay_ms, 0);
    assert_int_equal(c->server.shutdown_grace_ms, 2000);
    cmx_config_unref(c);
    cmx_config_diag d;
    c = load("server:\n  shutdown: { drain_delay: soon, delay: 1s }\n", &d);
    assert_null(c);
    assert_true(
        has_message(d.errors, d.n_errors, 2, "server.shutdown.drain_delay: expected a duration"));
    assert_true(has_message(d.errors, d.n_errors, 2, "unknown key 'delay' in server.shutdown"));
    cmx_config_diag_free(&d);
}

static void provider_settings_at_the_wrong_level_point_at_the_indentation(void **state)
{
    cmx_config_diag d;
    expect_errors("providers:\n  sim:\n  type: mock\nmodels:\n  demo: [ {provider: sim} ]\n", 2,
                  &d);
    assert_true(has_message(d.errors, d.n_errors, 2,
                            "providers.sim: expected a mapping with at least 'type', got "
                            "nothing; check the indentation of the lines below 'sim'"));
    assert_true(has_message(d.errors, d.n_errors, 3,
                            "providers.type: 'type' is a provider setting, not a provider "
                            "name; check the indentation"));
    cmx_config_diag_free(&d);
    cmx_test_config_refused("- a\n", NAME, 1,
                            "expected a mapping with the keys server, upstream, providers, models, "
                            "pricing at the top level, got a list",
                            &d);
    cmx_config_diag_free(&d);
}

static void config_without_models_loads_with_a_warning(void **state)
{
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

/* An openai provider p with `provider_lines` more, and a group using it,
 * after `before`. */
static void openai_yaml(char *yaml, size_t cap, const char *before, const char *provider_lines)
{
    snprintf(yaml, cap,
             "%sproviders:\n"
             "  p:\n"
             "    type: openai\n"
             "    base_url: http://127.0.0.1:9/v1\n"
             "%s"
             "models:\n"
             "  g:\n"
             "    - provider: p\n"
             "      model: m\n",
             before, provider_lines);
}

static const char *openai_api_key(const cmx_config *c)
{
    return cmx_openai_settings_of(&c->providers[0])->api_key;
}

static void env_secret_is_read_from_the_environment(void **state)
{
    setenv("CMX_TEST_KEY", "sk-env-value", 1);
    char yaml[1024];
    openai_yaml(yaml, sizeof yaml, "", "    api_key: env:CMX_TEST_KEY\n");
    cmx_config *c = load_clean(yaml);
    assert_string_equal(openai_api_key(c), "sk-env-value");
    cmx_config_unref(c);

    /* Set but empty is a mistake too: it would send an empty key. */
    setenv("CMX_TEST_KEY", "", 1);
    cmx_config_diag d;
    cmx_test_config_refused(yaml, NAME, 5, "environment variable CMX_TEST_KEY is empty", &d);
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_KEY");
}

static void file_secret_is_read_relative_to_the_config_and_newline_stripped(void **state)
{
    char *dir = make_temp_dir();
    char sub[600];
    snprintf(sub, sizeof sub, "%s/keys", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "keys/openai.txt", "sk-file-value\n");
    write_file(dir, "keys/client.txt", "client-from-file\r\n\n");
    char yaml[1024];
    openai_yaml(yaml, sizeof yaml, "server:\n  api_keys: [file:keys/client.txt]\n",
                "    api_key: file:keys/openai.txt\n");
    write_file(dir, "config.yaml", yaml);

    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    cmx_config_diag d;
    cmx_config *c = cmx_config_load(path, &d);
    cmx_test_config_expect_clean(c, &d);
    cmx_config_diag_free(&d);
    assert_string_equal(openai_api_key(c), "sk-file-value");
    assert_int_equal(c->server.n_api_keys, 1);
    assert_string_equal(c->server.api_keys[0], "client-from-file");
    assert_string_equal(c->path, path);
    cmx_config_unref(c);

    /* An absolute path works from anywhere. */
    char key_line[700], abs_yaml[1400];
    snprintf(key_line, sizeof key_line, "    api_key: file:%s/keys/openai.txt\n", dir);
    openai_yaml(abs_yaml, sizeof abs_yaml, "", key_line);
    c = load_clean(abs_yaml);
    assert_string_equal(openai_api_key(c), "sk-file-value");
    cmx_config_unref(c);

    remove_file(dir, "keys/openai.txt");
    remove_file(dir, "keys/client.txt");
    remove_file(dir, "config.yaml");
    rmdir(sub);
    rmdir(dir);
    free(dir);
}

static void inline_secret_loads_with_a_warning_that_hides_the_value(void **state)
{
    char yaml[1024];
    openai_yaml(yaml, sizeof yaml, "server:\n  api_keys:\n    - client-inline-secret\n",
                "    api_key: sk-inline-XYZ\n");
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
    cmx_test_diag_hides(&d, "client-inline-secret");
    cmx_test_diag_hides(&d, "sk-inline-XYZ");
    assert_string_equal(openai_api_key(c), "sk-inline-XYZ");
    assert_string_equal(c->server.api_keys[0], "client-inline-secret");
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

/* Secrets must not leak through any message, even when they sit next to
 * errors or are themselves malformed. */
static void secret_values_appear_in_no_message(void **state)
{
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
    cmx_test_config_refused(yaml, NAME, 5, "invalid environment variable name", &d);
    assert_true(d.n_errors >= 5);
    cmx_test_diag_hides(&d, "SECRET");
    assert_true(has_message(d.warnings, d.n_warnings, 4, "secret written inline"));
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_KEY");
}

/* ---- broken configs ---------------------------------------------------- */

static void anthropic_provider_gets_its_defaults_and_keys(void **state)
{
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
    cmx_config *c = load_clean(yaml);
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
}

static void bedrock_provider_takes_its_keys_from_config_or_environment(void **state)
{
    const char *aws_env = "AWS_ACCESS_KEY_ID=AKIDFROMENV AWS_SECRET_ACCESS_KEY=secretfromenv "
                          "AWS_SESSION_TOKEN=tokenfromenv";
    cmx_test_setenv("CMX_TEST_AWS_ID=AKIDEXAMPLE CMX_TEST_AWS_SECRET=wJalrXUtnFEMI");
    cmx_test_setenv(aws_env);
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
    cmx_config *c = load_clean(yaml);
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

    cmx_test_unsetenv(aws_env);
    cmx_config_diag d;
    cmx_test_config_refused("providers:\n  b:\n    type: bedrock\n    region: us-east-1\n"
                            "    credentials: environment\n",
                            NAME, CMX_TEST_ANY_LINE, "no AWS credentials", &d);
    cmx_config_diag_free(&d);
}

/* anthropic_betas: names, or "*" alone; a wildcard inside a name (which
 * would match nothing) and other characters are refused. */
static void anthropic_betas_take_names_or_a_lone_star(void **state)
{
    (void)state;
    static const char *const good[] = {"context-1m-2025-08-07, interleaved-thinking-2025-05-14",
                                       "*", "a.b_c-1,*"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "providers:\n  b:\n    type: vertex\n    project: p\n"
                 "    metadata_server: true\n"
                 "    anthropic_betas: \"%s\"\n"
                 "models:\n  g:\n    targets:\n      - {provider: b, model: m}\n",
                 good[i]);
        cmx_config_diag d;
        cmx_config *c = load(yaml, &d);
        cmx_test_config_expect_clean(c, &d);
        cmx_config_unref(c);
        cmx_config_diag_free(&d);
    }
    static const char *const bad[] = {"context-*", "a;b", ", ,", "tab\\there"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "providers:\n  v:\n    type: vertex\n    project: p\n"
                 "    metadata_server: true\n    anthropic_betas: \"%s\"\n"
                 "models:\n  g:\n    targets:\n      - {provider: v, model: m}\n",
                 bad[i]);
        cmx_config_diag d;
        cmx_test_config_refused(yaml, NAME, CMX_TEST_ANY_LINE,
                                "anthropic_betas: expected comma-separated beta names", &d);
        cmx_config_diag_free(&d);
    }
}

static void vertex_provider_gets_its_endpoint_from_the_location(void **state)
{
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
    cmx_config *c = load_clean(yaml);
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
}

/* The cases are cases/config_broken.txt (the first field names a case). */
static void broken_configs_report_the_line_and_what_was_expected(void **state)
{
    cmx_cases cs;
    cmx_cases_open(&cs, "config_broken.txt", 4);
    while (cmx_cases_next(&cs)) {
        cmx_config_diag d;
        cmx_test_config_refused(cmx_case_text(&cs, 1), NAME, (int)cmx_case_int(&cs, 2),
                                cmx_case_text(&cs, 3), &d);
        cmx_config_diag_free(&d);
    }
    cmx_cases_close(&cs);
}

static void every_error_in_a_file_is_reported_in_file_order(void **state)
{
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
    expect_errors(yaml, 6, &d);
    static const int lines[] = {3, 5, 6, 7, 11, 12};
    for (size_t i = 0; i < 6; i++)
        assert_true(has_message(&d.errors[i], 1, lines[i], "")); /* the i-th at its line */
    assert_non_null(strstr(d.errors[0], "unknown provider 'nope'"));
    cmx_config_diag_free(&d);
}

static void errors_carry_the_column_too(void **state)
{
    cmx_config_diag d;
    expect_errors("server:\n  workers:   lots\n", 1, &d);
    assert_string_equal(d.errors[0], NAME ":2:14: server.workers: expected a positive integer "
                                          "(at most 1024) or 'auto', got 'lots'");
    cmx_config_diag_free(&d);
}

/* The one error of loading the file at path. */
static const char *only_error_of_file(const char *path, cmx_config_diag *d)
{
    assert_null(cmx_config_load(path, d));
    assert_int_equal(d->n_errors, 1);
    return d->errors[0];
}

static void missing_file_is_one_precise_error(void **state)
{
    cmx_config_diag d;
    assert_string_equal(only_error_of_file("/nonexistent/cloudmux.yaml", &d),
                        "/nonexistent/cloudmux.yaml: cannot open the configuration "
                        "file: No such file or directory");
    cmx_config_diag_free(&d);
    assert_non_null(strstr(only_error_of_file("/tmp", &d), "is a directory"));
    cmx_config_diag_free(&d);
}

static void null_diag_is_allowed(void **state)
{
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
    cmx_config *c = load_clean(mock_tail);
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
}

static void find_model_matches_the_exact_name_in_small_and_large_configs(void **state)
{
    for (int n = 1; n <= 40; n += 39) {
        char *yaml = malloc(8192);
        size_t len = (size_t)sprintf(yaml, "providers:\n  m:\n    type: mock\nmodels:\n");
        for (int i = 0; i < n; i++)
            len += (size_t)sprintf(yaml + len, "  group-%d: [{provider: m}]\n", i);
        assert_true(len < 8192);
        cmx_config *c = load_clean(yaml);
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
        free(yaml);
    }
}

static void large_config_file_loads_and_every_group_is_found(void **state)
{
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
    cmx_test_config_expect_clean(c, &d);
    cmx_config_diag_free(&d);
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
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void find_provider_by_name(void **state)
{
    cmx_config *c = load_clean(mock_tail);
    const cmx_provider_config *p = cmx_config_find_provider(c, "m");
    assert_non_null(p);
    assert_string_equal(p->name, "m");
    assert_int_equal(p->line, 2);
    assert_null(cmx_config_find_provider(c, "n"));
    assert_null(cmx_config_find_provider(c, ""));
    cmx_config_unref(c);
}

static void ca_file_is_resolved_relative_to_the_config(void **state)
{
    char *dir = make_temp_dir();
    write_file(dir, "ca.pem", "not really a certificate\n");
    char name[600], yaml[1024];
    snprintf(name, sizeof name, "%s/config.yaml", dir);
    openai_yaml(yaml, sizeof yaml, "", "    ca_file: ca.pem\n    tls_verify: off\n");
    cmx_config_diag d;
    cmx_config *c = cmx_test_config_load(yaml, name, &d);
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

#define MOCK_P "providers:\n  m:\n    type: mock\n"

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
    cmx_config *c = cmx_test_config_ok(yaml, "routing.yaml");
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
}

static void group_drop_unsupported_params_reaches_every_target(void **state)
{
    const char *yaml = MOCK_P "models:\n"
                              "  lenient:\n"
                              "    drop_unsupported_params: true\n"
                              "    shadow: {provider: m}\n"
                              "    targets: [{provider: m}, {provider: m, model: other}]\n"
                              "  strict: {targets: [{provider: m}]}\n"
                              "  short: [{provider: m}]\n";
    cmx_config *c = cmx_test_config_ok(yaml, "drop.yaml");
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

    const char *bad = MOCK_P "models:\n"
                             "  g: {drop_unsupported_params: maybe, targets: [{provider: m}]}\n";
    cmx_config_diag d;
    assert_null(cmx_test_config_load(bad, "drop.yaml", &d));
    assert_true(d.n_errors >= 1);
    cmx_config_diag_free(&d);
}

/* Every provider module's key table is the documentation's too: each key
 * has its line, and docs/config.md describes it. */
static void every_provider_key_is_documented(void **state)
{
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
        cmocka_unit_test(anthropic_betas_take_names_or_a_lone_star),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
