/* test_pricing.c — the price list and the cost of a request: the shipped
 * data/pricing.yaml loads, names match exactly or by snapshot suffix (and
 * never by a mere prefix), a target's own price wins over the list, the
 * cost arithmetic with cache reads and writes, the cost's text form, where the list
 * is looked for, and broken lists that must be blamed on the right line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/config_load.h"
#include "governance/pricing.h"

static const char small_list[] =
    "- {provider: openai, model: gpt-4o, input: 2.5, output: 10, cached_input: 1.25, as_of: "
    "2026-01-01, source: test}\n"
    "- {provider: openai, model: gpt-4o-mini, input: 0.15, output: 0.6, cached_input: 0.075, "
    "as_of: 2026-01-01, source: test}\n"
    "- {provider: anthropic, model: claude-sonnet-4, input: 3, output: 15, cached_input: 0.3, "
    "as_of: 2026-01-01, source: test}\n"
    "- {provider: openai, model: text-embedding-3-small, input: 0.02, as_of: 2026-01-01, "
    "source: test}\n";

static int near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static cmx_pricing *parse_ok(const char *yaml)
{
    cmx_pricing *p = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = cmx_pricing_parse(yaml, strlen(yaml), "list.yaml", &p, &err);
    if (rc != CMX_OK)
        fprintf(stderr, "unexpected error: %s\n", err.message);
    assert_int_equal(rc, CMX_OK);
    assert_non_null(p);
    return p;
}

static void shipped_price_list_loads_without_errors(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/pricing.yaml", src ? src : ".");
    cmx_pricing *p = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = cmx_pricing_load(path, &p, &err);
    if (rc != CMX_OK)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(rc, CMX_OK);
    assert_true(p->n_entries >= 10);
    const cmx_price_entry *e = cmx_pricing_lookup(p, "openai", "gpt-4o-mini");
    assert_non_null(e);
    assert_true(e->price.input > 0 && e->price.output > e->price.input &&
                e->price.cached_input <= e->price.input);
    /* every entry is dated and sourced */
    for (size_t i = 0; i < p->n_entries; i++) {
        assert_int_equal(strlen(p->entries[i].as_of), 10);
        assert_true(strlen(p->entries[i].source) > 0);
    }
    assert_non_null(cmx_pricing_lookup(p, "anthropic", "claude-sonnet-4-20250514"));
    /* Anthropic's cache writes: 1.25x input for 5 minutes, 2x for an hour
     * (Haiku 3's 5-minute price published rounded to $0.30); OpenAI's are
     * not billed apart (the input price) */
    const cmx_price_entry *sonnet = cmx_pricing_lookup(p, "anthropic", "claude-sonnet-4-5");
    assert_true(sonnet->price.cache_write == 3.75 && sonnet->price.cache_write_1h == 6);
    for (size_t i = 0; i < p->n_entries; i++) {
        const cmx_target_price *price = &p->entries[i].price;
        if (strcmp(p->entries[i].provider, "anthropic") == 0) {
            if (fabs(price->cache_write - price->input * 1.25) > 0.015 ||
                !near(price->cache_write_1h, price->input * 2))
                fail_msg("%s: cache writes %g/%g for input %g", p->entries[i].model,
                         price->cache_write, price->cache_write_1h, price->input);
        } else {
            assert_true(price->cache_write == price->input &&
                        price->cache_write_1h == price->input);
        }
    }
    cmx_pricing_free(p);
}

static void built_in_price_list_is_the_shipped_file(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/pricing.yaml", src ? src : ".");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char file[1 << 20];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    assert_int_equal(cmx_pricing_builtin_len, n);
    assert_memory_equal(cmx_pricing_builtin, file, n);
    assert_int_equal(cmx_pricing_builtin[n], '\0');
    cmx_pricing *p = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    assert_int_equal(
        cmx_pricing_parse(cmx_pricing_builtin, cmx_pricing_builtin_len, "built-in", &p, &err), 0);
    assert_non_null(cmx_pricing_lookup(p, "openai", "gpt-4o-mini"));
    cmx_pricing_free(p);
}

static void lookup_matches_exact_names_and_dated_snapshots_only(void **state)
{
    (void)state;
    cmx_pricing *p = parse_ok(small_list);
    const cmx_price_entry *e = cmx_pricing_lookup(p, "openai", "gpt-4o");
    assert_non_null(e);
    assert_string_equal(e->model, "gpt-4o");
    /* snapshots of gpt-4o */
    assert_ptr_equal(cmx_pricing_lookup(p, "openai", "gpt-4o-2024-08-06"), e);
    assert_ptr_equal(cmx_pricing_lookup(p, "openai", "gpt-4o-latest"), e);
    /* a longer name is its own model, never its prefix's */
    e = cmx_pricing_lookup(p, "openai", "gpt-4o-mini-2024-07-18");
    assert_non_null(e);
    assert_string_equal(e->model, "gpt-4o-mini");
    assert_null(cmx_pricing_lookup(p, "openai", "gpt-4o-audio-preview"));
    assert_null(cmx_pricing_lookup(p, "openai", "gpt-4"));
    /* Anthropic, Vertex and Bedrock snapshot forms */
    assert_non_null(cmx_pricing_lookup(p, "anthropic", "claude-sonnet-4-20250514"));
    assert_null(cmx_pricing_lookup(p, "anthropic", "claude-sonnet-4-5-20250929"));
    /* the provider type is part of the key */
    assert_null(cmx_pricing_lookup(p, "anthropic", "gpt-4o"));
    assert_null(cmx_pricing_lookup(p, "openai", "claude-sonnet-4"));
    cmx_pricing_free(p);
}

static void snapshot_suffixes_are_removed_once(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *base;
    } cases[] = {
        {"gpt-4o-2024-08-06", "gpt-4o"},
        {"claude-3-5-haiku-20241022", "claude-3-5-haiku"},
        {"claude-sonnet-4@20250514", "claude-sonnet-4"},
        {"anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4"},
        {"amazon.titan-embed-text-v2:0", "amazon.titan-embed-text"},
        {"gpt-4o-latest", "gpt-4o"},
        {"gpt-4o", "gpt-4o"},
        {"claude-opus-4", "claude-opus-4"},
        {"gpt-4.1-mini", "gpt-4.1-mini"},
        {"model-123", "model-123"},
        {"2024-08-06", "2024-08-06"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cmx_pricing_model_base(cases[i].name);
        if (n != strlen(cases[i].base) || strncmp(cases[i].name, cases[i].base, n) != 0)
            fail_msg("%s: base '%.*s', expected '%s'", cases[i].name, (int)n, cases[i].name,
                     cases[i].base);
    }
}

static cmx_config *config_with(const char *yaml)
{
    return cmx_test_config_ok(yaml, "test.yaml");
}

static void target_price_overrides_the_list_and_prices_self_hosted_models(void **state)
{
    (void)state;
    cmx_config *c =
        config_with("providers:\n"
                    "  oa: {type: openai, base_url: 'http://127.0.0.1:1/v1'}\n"
                    "  local: {type: openai, base_url: 'http://127.0.0.1:2/v1'}\n"
                    "models:\n"
                    "  chat:\n"
                    "    - {provider: oa, model: gpt-4o-2024-08-06}\n"
                    "    - {provider: oa, model: gpt-4o-mini, price: {input: 1, output: 2}}\n"
                    "    - {provider: local, model: llama-3.1-8b, price: {input: 0, output: 0}}\n"
                    "    - {provider: local, model: llama-3.1-70b}\n");
    cmx_pricing *p = parse_ok(small_list);
    assert_int_equal(cmx_pricing_apply(p, c), 3);
    const cmx_target_config *t = c->models[0].targets;
    assert_true(t[0].price.known && !t[0].price.from_config);
    assert_true(t[0].price.input == 2.5 && t[0].price.output == 10 &&
                t[0].price.cached_input == 1.25);
    /* the target's own price wins; cached_input defaults to its input */
    assert_true(t[1].price.known && t[1].price.from_config);
    assert_true(t[1].price.input == 1 && t[1].price.output == 2 && t[1].price.cached_input == 1);
    assert_true(t[2].price.known && t[2].price.input == 0 && t[2].price.output == 0);
    assert_false(t[3].price.known);
    /* without a list only the overrides stay */
    assert_int_equal(cmx_pricing_apply(NULL, c), 2);
    assert_false(t[0].price.known);
    assert_true(t[1].price.known && t[1].price.input == 1);
    cmx_pricing_free(p);
    cmx_config_unref(c);
}

static void target_price_mistakes_are_located_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *price;
        const char *needle;
    } cases[] = {
        {"{input: 1}", "test.yaml:4:"},
        {"{input: -1, output: 2}", "test.yaml:4:"},
        {"{input: one, output: 2}", "price"},
        {"{input: 1, output: 2, cachd_input: 1}", "cachd_input"},
        {"{input: 1, output: 2, cache_write: -1}", "cache_write"},
        {"{input: 1, output: 2, cache_write_1h: x}", "cache_write_1h"},
        {"5", "expected a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "providers:\n  oa: {type: openai, base_url: 'http://127.0.0.1:1/v1'}\n"
                 "models:\n  chat: [{provider: oa, model: m, price: %s}]\n",
                 cases[i].price);
        cmx_config_diag d;
        cmx_config *c = cmx_test_config_load(yaml, "test.yaml", &d);
        assert_null(c);
        assert_true(d.n_errors >= 1);
        if (!strstr(d.errors[0], cases[i].needle))
            fail_msg("price %s: error '%s' lacks '%s'", cases[i].price, d.errors[0],
                     cases[i].needle);
        cmx_config_diag_free(&d);
    }
}

static void cost_counts_cached_tokens_at_the_cached_price(void **state)
{
    (void)state;
    cmx_target_price price = {.known = 1, .input = 2.5, .output = 10, .cached_input = 1.25};
    cmx_usage u;
    cmx_usage_init(&u);
    assert_true(cmx_price_cost(&price, &u) < 0); /* no counts: unknown */
    u.prompt_tokens = 1000;
    u.completion_tokens = 200;
    u.cached_tokens = 400;
    /* 600 * 2.5 + 400 * 1.25 + 200 * 10 = 1500 + 500 + 2000 = 4000 per 1M */
    assert_true(near(cmx_price_cost(&price, &u), 0.004));
    u.cached_tokens = -1; /* not reported: all at the input price */
    assert_true(near(cmx_price_cost(&price, &u), (1000 * 2.5 + 200 * 10) / 1e6));
    u.cached_tokens = 5000; /* more cached than sent: capped at the prompt */
    assert_true(near(cmx_price_cost(&price, &u), (1000 * 1.25 + 200 * 10) / 1e6));
    /* embeddings: no completion tokens */
    cmx_usage_init(&u);
    u.prompt_tokens = 12;
    cmx_target_price embed = {.known = 1, .input = 0.02, .cached_input = 0.02};
    assert_true(near(cmx_price_cost(&embed, &u), 12 * 0.02 / 1e6));
    /* no price: unknown even with counts */
    cmx_target_price none = {0};
    assert_true(cmx_price_cost(&none, &u) < 0);
    /* a free self-hosted model costs 0, which is known */
    cmx_target_price free_model = {.known = 1, .from_config = 1};
    assert_true(cmx_price_cost(&free_model, &u) == 0);
}

static void cost_counts_cache_writes_at_their_lifetime_price(void **state)
{
    (void)state;
    /* claude-sonnet-4-5: 3 in, 15 out, 0.30 read, 3.75 written for 5 minutes, 6 for an hour */
    cmx_target_price price = {.known = 1,
                              .input = 3,
                              .output = 15,
                              .cached_input = 0.3,
                              .cache_write = 3.75,
                              .cache_write_1h = 6};
    cmx_usage u;
    cmx_usage_init(&u);
    u.prompt_tokens = 3000;
    u.completion_tokens = 100;
    u.cached_tokens = 1000;
    u.cache_write_tokens = 1500; /* 500 of them for an hour */
    u.cache_write_1h_tokens = 500;
    /* 500 * 3 + 1000 * 0.3 + 1000 * 3.75 + 500 * 6 + 100 * 15 */
    assert_true(near(cmx_price_cost(&price, &u), (1500 + 300 + 3750 + 3000 + 1500) / 1e6));
    u.cache_write_1h_tokens = -1; /* not broken down: all at the 5-minute price */
    assert_true(near(cmx_price_cost(&price, &u), (1500 + 300 + 1500 * 3.75 + 1500) / 1e6));
    /* writes past what was sent are capped at the prompt less the reads,
     * one-hour writes at the writes: nothing is billed twice */
    u.cache_write_tokens = 9000;
    u.cache_write_1h_tokens = 9000;
    assert_true(near(cmx_price_cost(&price, &u), (1000 * 0.3 + 2000 * 6 + 1500) / 1e6));
    u.cache_write_tokens = -1; /* no writes reported: the rest at the input price */
    assert_true(near(cmx_price_cost(&price, &u), (2000 * 3 + 1000 * 0.3 + 1500) / 1e6));
}

static void config_cache_write_prices_default_to_input_and_to_the_5_minute_price(void **state)
{
    (void)state;
    cmx_config *c = config_with(
        "providers:\n"
        "  an: {type: anthropic, api_key: k}\n"
        "models:\n"
        "  chat:\n"
        "    - {provider: an, model: a, price: {input: 3, output: 15}}\n"
        "    - {provider: an, model: b, price: {input: 3, output: 15, cache_write: 3.75}}\n"
        "    - {provider: an, model: c, price: {input: 3, output: 15, cache_write: 3.75, "
        "cache_write_1h: 6, cached_input: 0.3}}\n");
    const cmx_target_config *t = c->models[0].targets;
    assert_true(t[0].price.cache_write == 3 && t[0].price.cache_write_1h == 3);
    assert_true(t[1].price.cache_write == 3.75 && t[1].price.cache_write_1h == 3.75);
    assert_true(t[2].price.cache_write == 3.75 && t[2].price.cache_write_1h == 6 &&
                t[2].price.cached_input == 0.3);
    cmx_config_unref(c);
    /* and so in a price list */
    cmx_pricing *p = parse_ok("- {provider: anthropic, model: m, input: 1, output: 5, "
                              "cache_write: 1.25, as_of: 2026-01-01, source: s}\n");
    const cmx_price_entry *e = cmx_pricing_lookup(p, "anthropic", "m");
    assert_true(e->price.known && !e->price.from_config);
    assert_true(e->price.cached_input == 1 && e->price.cache_write == 1.25 &&
                e->price.cache_write_1h == 1.25);
    cmx_pricing_free(p);
}

static void cost_text_is_a_plain_decimal(void **state)
{
    (void)state;
    char buf[40];
    assert_int_equal(cmx_cost_format(0.004, buf, sizeof buf), 5);
    assert_string_equal(buf, "0.004");
    cmx_cost_format(0.000123, buf, sizeof buf);
    assert_string_equal(buf, "0.000123");
    cmx_cost_format(0, buf, sizeof buf);
    assert_string_equal(buf, "0");
    cmx_cost_format(12.5, buf, sizeof buf);
    assert_string_equal(buf, "12.5");
    cmx_cost_format(2.4e-7, buf, sizeof buf); /* 12 tokens at $0.02/1M */
    assert_string_equal(buf, "0.00000024");
    cmx_cost_format(1e-11, buf, sizeof buf); /* below the last place */
    assert_string_equal(buf, "0");
    assert_int_equal(cmx_cost_format(-1, buf, sizeof buf), 0);
    assert_int_equal(cmx_cost_format(123.456, buf, 4), 0);
}

static void broken_price_lists_are_blamed_on_their_line(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *message; /* "list.yaml:LINE:" and a word of the complaint */
        const char *word;
    } cases[] = {
        {"- {provider: openai, model: a, input: 1, output: 2, as_of: 2026-01-01, source: s}\n"
         "- {provider: openai, model: b, input: x, output: 2, as_of: 2026-01-01, source: s}\n",
         "list.yaml:2:", "'input' must be a number"},
        {"- {provider: openai, model: a, input: 1, output: 2, as_of: 2026-01-01, source: s}\n"
         "- {provider: openia, model: b, input: 1, output: 2, as_of: 2026-01-01, source: s}\n",
         "list.yaml:2:", "unknown provider type"},
        {"\n\n- {provider: openai, model: a, input: 1, output: 2, source: s}\n",
         "list.yaml:3:", "'as_of'"},
        {"- {provider: openai, model: a, input: 1, output: 2, as_of: 2026-01-01, source: s}\n"
         "- {provider: openai, model: a, input: 1, output: 3, as_of: 2026-01-01, source: s}\n",
         "list.yaml:2:", "duplicate price"},
        {"- {provider: openai, model: a, inptu: 1, output: 2, as_of: 2026-01-01, source: s}\n",
         "list.yaml:1:", "unknown key 'inptu'"},
        {"- {provider: openai, model: a, input: -1, output: 2, as_of: 2026-01-01, source: s}\n",
         "list.yaml:1:", "from 0"},
        {"- {provider: anthropic, model: a, input: 1, output: 2, cache_write_1h: -2, as_of: "
         "2026-01-01, source: s}\n",
         "list.yaml:1:", "'cache_write_1h'"},
        {"- {provider: anthropic, model: a, input: 1, output: 2, cached_input: x, cache_write: y, "
         "as_of: 2026-01-01, source: s}\n",
         "list.yaml:1:", "'cached_input'"}, /* the first of two bad prices */
        {"- {provider: openai, model: a, input: 1, output: 2, as_of: yesterday, source: s}\n",
         "list.yaml:1:", "YYYY-MM-DD"},
        {"prices: {}\n", "list.yaml:1:", "expected a list"},
        {"- {provider: openai, model: [a, input: 1\n", "list.yaml:", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmx_pricing *p = (cmx_pricing *)1;
        cmx_error err;
        cmx_error_clear(&err);
        cmx_err rc = cmx_pricing_parse(cases[i].yaml, strlen(cases[i].yaml), "list.yaml", &p, &err);
        assert_int_equal(rc, CMX_ERR_CONFIG);
        assert_null(p);
        assert_int_equal(err.kind, CMX_ERR_CONFIG);
        if (strncmp(err.message, cases[i].message, strlen(cases[i].message)) != 0 ||
            !strstr(err.message, cases[i].word))
            fail_msg("case %zu: '%s' (expected '%s...%s')", i, err.message, cases[i].message,
                     cases[i].word);
    }
}

/* Writes text to a new temp file and returns its path (static buffer). */
static const char *temp_file(char *path, size_t len, const char *text)
{
    snprintf(path, len, "/tmp/cmx-pricing-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void attach_uses_the_env_list_first_and_warns_when_it_is_missing(void **state)
{
    (void)state;
    char list_path[64];
    temp_file(list_path, sizeof list_path, small_list);
    const char *yaml = "providers:\n  oa: {type: openai, base_url: 'http://127.0.0.1:1/v1'}\n"
                       "models:\n  chat: [{provider: oa, model: gpt-4o-mini}]\n"
                       "pricing: {file: /nonexistent/pricing.yaml}\n";
    cmx_config *c = config_with(yaml);
    assert_string_equal(c->pricing.file, "/nonexistent/pricing.yaml");

    setenv("CLOUDMUX_PRICING", list_path, 1);
    cmx_config_diag d = {0};
    char *used = NULL;
    assert_int_equal(cmx_pricing_attach(c, &d, &used), CMX_OK);
    assert_string_equal(used, list_path);
    assert_int_equal(d.n_warnings, 0);
    assert_true(c->models[0].targets[0].price.known);
    assert_true(c->models[0].targets[0].price.input == 0.15);
    free(used);
    cmx_config_diag_free(&d);

    /* the config's file is next, and missing it is a warning, not a fallback */
    unsetenv("CLOUDMUX_PRICING");
    assert_int_equal(cmx_pricing_attach(c, &d, &used), CMX_OK);
    assert_null(used);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 1);
    assert_non_null(strstr(d.warnings[0], "/nonexistent/pricing.yaml"));
    assert_false(c->models[0].targets[0].price.known);
    cmx_config_diag_free(&d);

    /* a broken list is an error */
    char bad_path[64];
    temp_file(bad_path, sizeof bad_path, "- {provider: openai}\n");
    setenv("CLOUDMUX_PRICING", bad_path, 1);
    assert_int_equal(cmx_pricing_attach(c, &d, NULL), CMX_ERR_CONFIG);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(d.errors[0], bad_path));
    assert_non_null(strstr(d.errors[0], ":1:"));
    cmx_config_diag_free(&d);
    unsetenv("CLOUDMUX_PRICING");
    unlink(bad_path);
    unlink(list_path);
    cmx_config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_price_list_loads_without_errors),
        cmocka_unit_test(lookup_matches_exact_names_and_dated_snapshots_only),
        cmocka_unit_test(snapshot_suffixes_are_removed_once),
        cmocka_unit_test(target_price_overrides_the_list_and_prices_self_hosted_models),
        cmocka_unit_test(target_price_mistakes_are_located_config_errors),
        cmocka_unit_test(cost_counts_cached_tokens_at_the_cached_price),
        cmocka_unit_test(cost_counts_cache_writes_at_their_lifetime_price),
        cmocka_unit_test(config_cache_write_prices_default_to_input_and_to_the_5_minute_price),
        cmocka_unit_test(cost_text_is_a_plain_decimal),
        cmocka_unit_test(built_in_price_list_is_the_shipped_file),
        cmocka_unit_test(broken_price_lists_are_blamed_on_their_line),
        cmocka_unit_test(attach_uses_the_env_list_first_and_warns_when_it_is_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
