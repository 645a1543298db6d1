/* test_config_governance.c — the governance, keys, teams and audit
 * sections: every key read with its default, secrets resolved and never
 * shown, and each mistake reported at its line with what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "helpers/config_load.h"

#define MODELS "providers:\n  m: {type: mock}\nmodels:\n  chat: [{provider: m}]\n"

#define NAME "/etc/cmx/t.yaml"

static cmx_config *load(const char *yaml, cmx_config_diag *d)
{
    return cmx_test_config_load(yaml, NAME, d);
}

static void without_the_sections_governance_is_off(void **state)
{
    cmx_config *c = cmx_test_config_ok(MODELS, NAME);
    assert_false(c->governance.enabled);
    assert_null(c->governance.store);
    assert_null(c->audit.file);
    cmx_config_unref(c);
}

static void every_key_is_read_with_its_default(void **state)
{
    setenv("CMX_T_KEY", "cmx-0123456789abcdef0123456789abcdef-t", 1);
    setenv("CMX_T_PEPPER", "pepper", 1);
    setenv("CMX_T_STORE", "postgres://cmx:pw@db:5432/cmx", 1);
    const char yaml[] = MODELS
        "governance:\n"
        "  store: env:CMX_T_STORE\n"
        "  pepper: env:CMX_T_PEPPER\n"
        "  warn_at: 0.5\n"
        "  poll: 100ms\n"
        "  budget_sync: 2s\n"
        "  replica: eu-1\n"
        "  ledger: {batch_rows: 50, batch_interval: 20ms, queue_rows: 1024, retention: 30d,\n"
        "           on_failure: closed}\n"
        "teams:\n"
        "  web:\n"
        "    name: Web team\n"
        "    models: [\"chat*\"]\n"
        "    tpm: 1000\n"
        "    budget: {usd: 100, period: 7d, start: 2026-01-05T08:00:00Z}\n"
        "    tags: {cost_center: \"42\"}\n"
        "keys:\n"
        "  front:\n"
        "    key: env:CMX_T_KEY\n"
        "    team: web\n"
        "    models: [chat]\n"
        "    rpm: 60\n"
        "    max_parallel: 4\n"
        "    budget: {usd: 2.5}\n"
        "    expires: 2027-01-01\n"
        "    residency: eu\n"
        "    disabled: true\n"
        "audit:\n"
        "  file: audit/log.jsonl\n"
        "  fsync: never\n"
        "  requests: true\n";
    cmx_config_diag d;
    cmx_config *c = load(yaml, &d);
    if (!c)
        cmx_test_diag_print(&d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 0);
    const cmx_governance_config *g = &c->governance;
    assert_true(g->enabled);
    assert_string_equal(g->store, "postgres://cmx:pw@db:5432/cmx");
    assert_string_equal(g->pepper, "pepper");
    assert_true(g->warn_at == 0.5);
    assert_int_equal(g->poll_ms, 100);
    assert_int_equal(g->budget_sync_ms, 2000);
    assert_string_equal(g->replica, "eu-1");
    assert_int_equal(g->batch_rows, 50);
    assert_int_equal(g->batch_interval_ms, 20);
    assert_int_equal(g->queue_rows, 1024);
    assert_int_equal(g->retention_ms, 30ULL * 86400000);
    assert_true(g->fail_closed);
    assert_int_equal(c->n_teams, 1);
    const cmx_principal_config *t = &c->teams[0];
    assert_string_equal(t->name, "Web team");
    assert_int_equal(t->tpm, 1000);
    assert_string_equal(t->budget.period, "7d");
    assert_int_equal(t->budget.start_ms, 1767600000000LL);
    assert_true(t->budget.warn_at == 0.5); /* governance.warn_at */
    assert_string_equal(t->tag_values[0], "42");
    assert_int_equal(c->n_keys, 1);
    const cmx_vkey_config *k = &c->keys[0];
    assert_string_equal(k->p.id, "front");
    assert_string_equal(k->p.name, "front");
    assert_string_equal(k->secret, "cmx-0123456789abcdef0123456789abcdef-t");
    assert_string_equal(k->team, "web");
    assert_int_equal(k->p.rpm, 60);
    assert_int_equal(k->p.max_parallel, 4);
    assert_string_equal(k->p.budget.period, "monthly");
    assert_int_equal(k->expires_ms, 1798761600000LL);
    assert_string_equal(k->residency, "eu");
    assert_true(k->p.disabled);
    assert_string_equal(c->audit.file, "/etc/cmx/audit/log.jsonl");
    assert_string_equal(c->audit.checkpoint_file, "/etc/cmx/audit/log.jsonl.head");
    assert_int_equal(c->audit.fsync, CMX_AUDIT_FSYNC_NEVER);
    assert_true(c->audit.requests);
    assert_int_equal(c->audit.checkpoint_interval_ms, 60000);
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

static void a_keys_section_alone_turns_governance_on_with_the_default_store(void **state)
{
    setenv("CMX_T_KEY", "cmx-0123456789abcdef0123456789abcdef-t", 1);
    cmx_config *c = cmx_test_config_ok(MODELS "keys:\n  k: {key: env:CMX_T_KEY}\n"
                                              "governance: {store: \"sqlite://data/cmx.db\"}\n",
                                       NAME);
    assert_true(c->governance.enabled);
    assert_string_equal(c->governance.store, "sqlite:///etc/cmx/data/cmx.db");
    assert_int_equal(c->governance.batch_interval_ms, 100);
    assert_int_equal(c->governance.poll_ms, 250);
    cmx_config_unref(c);
    c = cmx_test_config_ok(MODELS "keys:\n  k: {key: env:CMX_T_KEY}\n", NAME);
    assert_string_equal(c->governance.store, "sqlite:///var/lib/cloudmux/cloudmux.db");
    cmx_config_unref(c);
}

static void mistakes_are_reported_at_their_line(void **state)
{
    setenv("CMX_T_KEY", "cmx-0123456789abcdef0123456789abcdef-t", 1);
    setenv("CMX_T_SHORT", "hunter2-short-key", 1);
    static const struct {
        const char *yaml;
        int line;
        const char *needle;
    } cases[] = {
        {"keys:\n  k: {key: env:CMX_T_SHORT}\n", 6,
         "keys.k.key: the secret is 17 characters; a key must have at least 32"},
        {"keys:\n  k: {team: web}\n", 6, "keys.k: missing required key 'key'"},
        {"keys:\n  a: {key: env:CMX_T_KEY}\n  b: {key: env:CMX_T_KEY}\n", 7,
         "keys.b: uses the same secret as keys.a"},
        {"keys:\n  k: {key: env:CMX_T_KEY, budget: {usd: 5, period: weekly}}\n", 6,
         "keys.k.budget.period: expected 1d, 7d, 30d"},
        {"keys:\n  k: {key: env:CMX_T_KEY, budget: {period: 1d}}\n", 6,
         "keys.k.budget: missing required key 'usd'"},
        {"keys:\n  k: {key: env:CMX_T_KEY, budget: {usd: 1, start: 2026-01-01T00:30:00Z}}\n", 6,
         "keys.k.budget.start: expected a UTC time on the hour"},
        {"keys:\n  k: {key: env:CMX_T_KEY, models: [chta]}\n", 6,
         "keys.k.models: no model group is named 'chta'"},
        {"keys:\n  k: {key: env:CMX_T_KEY, expires: tomorrow}\n", 6, "keys.k.expires: expected"},
        {"keys:\n  \"a b\": {key: env:CMX_T_KEY}\n", 6, "keys.a b: an id must be"},
        {"keys:\n  k: {key: env:CMX_T_KEY, rpn: 5}\n", 6, "unknown key 'rpn' in keys.k"},
        {"teams:\n  t: {budget: 5}\n", 6, "teams.t.budget: expected a mapping"},
        {"governance: {store: \"mysql://x\"}\n", 5, "governance.store: expected sqlite:///PATH"},
        {"governance: {ledger: {on_failure: maybe}}\n", 5,
         "governance.ledger.on_failure: expected open"},
        {"governance: {ledger: {retention: forever}}\n", 5,
         "governance.ledger.retention: expected a duration such as 90d"},
        {"audit: {fsync: always}\n", 5, "audit: missing required key 'file'"},
        {"audit: {file: a.log, fsync: sometimes}\n", 5, "audit.fsync: expected always or never"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "%s%s", MODELS, cases[i].yaml);
        cmx_config_diag d;
        cmx_test_config_refused(yaml, NAME, cases[i].line, cases[i].needle, &d);
        cmx_test_diag_hides(&d, "hunter2");
        cmx_test_diag_hides(&d, "0123456789abcdef");
        cmx_config_diag_free(&d);
    }
}

static void a_store_url_with_a_password_inline_is_warned_about_without_showing_it(void **state)
{
    cmx_config_diag d;
    cmx_config *c = load(MODELS "governance: {store: \"postgres://cmx:s3cr3t@db/cmx\"}\n", &d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 1);
    assert_non_null(strstr(d.warnings[0], "password written inline"));
    assert_null(strstr(d.warnings[0], "s3cr3t"));
    cmx_config_unref(c);
    cmx_config_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_the_sections_governance_is_off),
        cmocka_unit_test(every_key_is_read_with_its_default),
        cmocka_unit_test(a_keys_section_alone_turns_governance_on_with_the_default_store),
        cmocka_unit_test(mistakes_are_reported_at_their_line),
        cmocka_unit_test(a_store_url_with_a_password_inline_is_warned_about_without_showing_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
