/* test_governance.c — virtual keys and what they may do: secrets and
 * their digests (SHA-256 and the HMAC test vectors of RFC 4231), budget
 * periods and their resets, the key table built from config and store, the
 * admission checks in their order with the messages a client sees, the
 * budget counters' pending/committed/ledger arithmetic, and the estimate a
 * cut stream is charged by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers/config_load.h"
#include "config/config.h"
#include "core/str.h"
#include "governance/budget_counters.h"
#include "governance/key_secret.h"
#include "governance/keyring.h"
#include "governance/period.h"
#include "governance/policy.h"
#include "governance/usage_estimate.h"

#define DAY 86400000LL
#define HOUR 3600000LL

static int64_t at(const char *iso)
{
    int64_t ms;
    assert_int_equal(cmx_parse_time_ms(iso, &ms), 0);
    return ms;
}

static void iso(int64_t ms, char *buf)
{
    cmx_time_iso(ms, buf, 40);
}

/* ---- secrets ---------------------------------------------------------------- */

static void secrets_are_prefixed_random_base64url_of_32_bytes(void **state)
{
    char a[CMX_KEY_SECRET_LEN + 1], b[CMX_KEY_SECRET_LEN + 1];
    cmx_error err;
    assert_int_equal(cmx_key_secret_new(a, &err), CMX_OK);
    assert_int_equal(cmx_key_secret_new(b, &err), CMX_OK);
    assert_int_equal(strlen(a), 47);
    assert_memory_equal(a, "cmx-", 4);
    assert_string_not_equal(a, b);
    for (size_t i = 4; i < strlen(a); i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    char hint[CMX_KEY_HINT_LEN];
    cmx_key_hint(a, hint);
    assert_memory_equal(hint, "cmx-\xe2\x80\xa6", 7);
    assert_string_equal(hint + 7, a + 43);
    /* Nothing of a short secret is shown. */
    cmx_key_hint("cmx-short", hint);
    assert_string_equal(hint, "cmx-\xe2\x80\xa6");
}

static void hex_of_digest(const cmx_key_hasher *h, const char *data, size_t len, char *out)
{
    uint8_t d[CMX_DIGEST_LEN];
    cmx_key_digest(h, data, len, d);
    cmx_sha256_hex_of(d, out);
}

static void digests_are_sha256_or_hmac_sha256_with_the_pepper(void **state)
{
    char hex[65];
    cmx_key_hasher h;
    cmx_key_hasher_init(&h, NULL);
    hex_of_digest(&h, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2. */
    cmx_key_hasher_init(&h, "Jefe");
    const char *data = "what do ya want for nothing?";
    hex_of_digest(&h, data, strlen(data), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 6: a key longer than the block is hashed first. */
    char key[132];
    memset(key, 0xaa, 131);
    key[131] = '\0';
    cmx_key_hasher_init(&h, key);
    data = "Test Using Larger Than Block-Size Key - Hash Key First";
    hex_of_digest(&h, data, strlen(data), hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    cmx_key_hasher_wipe(&h);
    uint8_t back[CMX_DIGEST_LEN], d[CMX_DIGEST_LEN];
    cmx_sha256_of("abc", 3, d);
    cmx_sha256_hex_of(d, hex);
    assert_int_equal(cmx_digest_from_hex(hex, back), 0);
    assert_memory_equal(back, d, CMX_DIGEST_LEN);
    assert_int_equal(cmx_digest_from_hex("zz", back), -1);
}

/* ---- periods -------------------------------------------------------------------- */

/* The window of p at the instant `now` starts at `start` and ends at `end`
 * (NULL: not checked). */
static void expect_window(const cmx_period *p, const char *now, const char *start, const char *end)
{
    int64_t s, e;
    char text[40];
    cmx_period_window(p, at(now), &s, &e);
    if (start) {
        iso(s, text);
        assert_string_equal(text, start);
    }
    if (end) {
        iso(e, text);
        assert_string_equal(text, end);
    }
}

static void periods_start_and_reset_where_documented(void **state)
{
    cmx_period p;
    int64_t s, e;
    assert_int_equal(cmx_period_from_text("1d", CMX_DEFAULT_PERIOD_ANCHOR_MS, &p), 0);
    expect_window(&p, "2026-03-18T15:20:00Z", "2026-03-18T00:00:00Z", "2026-03-19T00:00:00Z");
    /* 7d: Mondays (2026-03-16 is one). */
    assert_int_equal(cmx_period_from_text("7d", CMX_DEFAULT_PERIOD_ANCHOR_MS, &p), 0);
    expect_window(&p, "2026-03-18T15:20:00Z", "2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z");
    /* A period ends exactly at its end: the next instant is the next period. */
    expect_window(&p, "2026-03-23T00:00:00Z", "2026-03-23T00:00:00Z", NULL);
    /* 30d from a chosen anchor, also before it. */
    assert_int_equal(cmx_period_from_text("30d", at("2026-01-10T06:00:00Z"), &p), 0);
    expect_window(&p, "2026-02-10T00:00:00Z", "2026-02-09T06:00:00Z", "2026-03-11T06:00:00Z");
    expect_window(&p, "2026-01-01T00:00:00Z", "2025-12-11T06:00:00Z", NULL);
    /* monthly: the calendar, across a year and a leap February. */
    assert_int_equal(cmx_period_from_text("monthly", 0, &p), 0);
    expect_window(&p, "2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect_window(&p, "2028-02-29T12:00:00Z", NULL, "2028-03-01T00:00:00Z");
    /* total: never resets. */
    assert_int_equal(cmx_period_from_text("total", 0, &p), 0);
    cmx_period_window(&p, at("2026-01-01"), &s, &e);
    assert_int_equal(s, 0);
    assert_true(e == CMX_PERIOD_NEVER);
    assert_int_equal(cmx_period_from_text("0d", 0, &p), -1);
    assert_int_equal(cmx_period_from_text("weekly", 0, &p), -1);
    assert_int_equal(cmx_period_from_text("3661d", 0, &p), -1);
}

/* Each thread keeps the last month it reckoned: asked in any order (a clock
 * moved back, an instant at a month's edge), the window is the calendar's. */
static void monthly_window_follows_a_clock_moving_both_ways(void **state)
{
    (void)state;
    cmx_period p;
    assert_int_equal(cmx_period_from_text("monthly", 0, &p), 0);
    expect_window(&p, "2026-03-18T15:20:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    expect_window(&p, "2026-03-31T23:59:59Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    expect_window(&p, "2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");
    expect_window(&p, "2026-03-31T23:59:59Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
    expect_window(&p, "2026-02-28T23:59:59Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z");
    expect_window(&p, "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
}

/* The monthly window is calendar arithmetic: it agrees with the C library's
 * calendar (gmtime_r, timegm) at every month's edges and at instants spread
 * over four centuries, before 1970 too. */
static void monthly_windows_agree_with_the_c_calendar(void **state)
{
    (void)state;
    cmx_period p;
    assert_int_equal(cmx_period_from_text("monthly", 0, &p), 0);
    uint64_t seed = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* 1900 to 2300, and every 1st of a month and the instant before it. */
        int64_t now_ms = -2208988800000LL + (int64_t)(seed % 12623040000000ULL);
        struct tm tm;
        time_t secs = (time_t)(now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000);
        gmtime_r(&secs, &tm);
        struct tm first = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
        struct tm next = {.tm_year = tm.tm_year + (tm.tm_mon == 11),
                          .tm_mon = (tm.tm_mon + 1) % 12,
                          .tm_mday = 1};
        int64_t want_start = (int64_t)timegm(&first) * 1000;
        int64_t want_end = (int64_t)timegm(&next) * 1000;
        int64_t probes[3] = {now_ms, want_start, want_start - 1};
        for (int k = 0; k < 3; k++) {
            int64_t s, e;
            cmx_period_window(&p, probes[k], &s, &e);
            if (k < 2) {
                assert_int_equal(s, want_start);
                assert_int_equal(e, want_end);
            } else {
                assert_int_equal(e, want_start);
                assert_true(s < want_start);
            }
        }
    }
}

static void times_parse_only_as_utc(void **state)
{
    int64_t ms;
    assert_int_equal(cmx_parse_time_ms("2026-01-31", &ms), 0);
    assert_int_equal(ms, 1769817600000LL);
    assert_int_equal(cmx_parse_time_ms("2026-01-31T12:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 1769817600000LL + 12 * HOUR + 250);
    assert_int_equal(cmx_parse_time_ms("2026-01-31T12:00+00:00", &ms), 0);
    assert_int_equal(cmx_parse_time_ms("2026-01-31T12:00:00+02:00", &ms), -1);
    assert_int_equal(cmx_parse_time_ms("2026-02-30", &ms), -1);
    assert_int_equal(cmx_parse_time_ms("2026-1-3", &ms), -1);
    assert_int_equal(cmx_parse_time_ms("yesterday", &ms), -1);
}

/* ---- the key table and admission ------------------------------------------------- */

static const char config_yaml[] =
    "providers:\n  m: {type: mock}\n"
    "models:\n  chat: [{provider: m}]\n  chat-large: [{provider: m}]\n  embed: [{provider: m}]\n"
    "governance: {store: \"sqlite:///tmp/unused.db\"}\n"
    "teams:\n"
    "  web: {models: [\"chat*\"], rpm: 3, budget: {usd: 1.0, period: monthly}}\n"
    "keys:\n"
    "  front: {key: \"env:CMX_T_FRONT\", team: web, models: [chat], max_parallel: 2,\n"
    "          budget: {usd: 0.10, period: 1d}}\n"
    "  batch: {key: \"env:CMX_T_BATCH\", tpm: 100}\n"
    "  orphan: {key: \"env:CMX_T_ORPHAN\", team: nowhere}\n";

static const char front_secret[] = "cmx-front-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char batch_secret[] = "cmx-batch-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

typedef struct world {
    cmx_config *cfg;
    cmx_budget_counters *counters;
    cmx_gov_usage_registry *reg;
    cmx_key_hasher hasher;
    cmx_keyring *kr;
    cmx_gov_policy_env env;
    int warnings;
    char last_warning[256];
} world;

static void on_warning(void *ctx, const char *scope, const cmx_gov_principal *p, double spent,
                       int64_t resets)
{
    world *w = ctx;
    w->warnings++;
    snprintf(w->last_warning, sizeof w->last_warning, "%s %s %.4f", scope, p->id, spent);
}

static world *world_new(void)
{
    setenv("CMX_T_FRONT", front_secret, 1);
    setenv("CMX_T_BATCH", batch_secret, 1);
    setenv("CMX_T_ORPHAN", "cmx-orphan-cccccccccccccccccccccccccccccccc", 1);
    world *w = calloc(1, sizeof *w);
    w->cfg = cmx_test_config_ok(config_yaml, "t.yaml");
    w->counters = cmx_budget_counters_local_new();
    w->reg = cmx_gov_usage_registry_new(w->counters);
    cmx_key_hasher_init(&w->hasher, NULL);
    cmx_error err;
    w->kr = cmx_keyring_build(w->cfg, NULL, &w->hasher, w->reg, &err);
    assert_non_null(w->kr);
    w->env = (cmx_gov_policy_env){w->counters, on_warning, NULL, w};
    return w;
}

static void world_free(world *w)
{
    cmx_keyring_unref(w->kr);
    cmx_gov_usage_registry_free(w->reg);
    w->counters->ops->free(w->counters);
    cmx_config_unref(w->cfg);
    free(w);
}

static cmx_gov_key *lookup(world *w, const char *secret)
{
    uint8_t d[CMX_DIGEST_LEN];
    cmx_key_digest(&w->hasher, secret, strlen(secret), d);
    const cmx_keyring_slot *s = cmx_keyring_find(w->kr, d);
    return s ? cmx_gov_key_ref(s->key) : NULL;
}

static void the_key_table_finds_keys_by_secret_and_links_teams(void **state)
{
    world *w = world_new();
    cmx_gov_key *k = lookup(w, front_secret);
    assert_non_null(k);
    assert_string_equal(k->p.id, "front");
    assert_non_null(k->team);
    assert_string_equal(k->team->p.id, "web");
    cmx_gov_key_unref(k);
    assert_null(lookup(w, "cmx-front-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
    assert_null(lookup(w, ""));
    cmx_gov_key *orphan = cmx_keyring_key(w->kr, "orphan");
    assert_non_null(orphan);
    assert_null(orphan->team);
    assert_string_equal(orphan->team_id, "nowhere");
    /* The same usage object survives a rebuild, so counts carry over. */
    cmx_error err;
    cmx_keyring *again = cmx_keyring_build(w->cfg, NULL, &w->hasher, w->reg, &err);
    assert_ptr_equal(cmx_keyring_key(again, "front")->p.usage,
                     cmx_keyring_key(w->kr, "front")->p.usage);
    cmx_keyring_unref(again);
    world_free(w);
}

static cmx_err admit(world *w, cmx_gov_ticket *t, const char *secret, const char *group,
                     uint64_t tokens, int64_t now, cmx_error *err)
{
    memset(t, 0, sizeof *t);
    t->key = lookup(w, secret);
    assert_non_null(t->key);
    cmx_err rc = cmx_gov_policy_admit(&w->env, t, group, tokens, now, err);
    return rc;
}

static void settle(world *w, cmx_gov_ticket *t, int64_t tokens, double cost, int64_t now)
{
    cmx_gov_charge charge;
    cmx_gov_policy_settle(&w->env, t, tokens, cost, now, &charge);
    assert_null(t->key);
}

static void groups_must_fit_both_the_key_and_its_team(void **state)
{
    world *w = world_new();
    cmx_gov_ticket t;
    cmx_error err;
    int64_t now = at("2026-03-18T10:00:00Z");
    assert_int_equal(admit(w, &t, front_secret, "chat", 10, now, &err), CMX_OK);
    settle(w, &t, 10, 0, now);
    /* The team allows chat*, the key only chat. */
    assert_int_equal(admit(w, &t, front_secret, "chat-large", 10, now, &err), CMX_ERR_FORBIDDEN);
    assert_int_equal(err.status, 403);
    assert_string_equal(err.message,
                        "key 'front' (front) may not use model 'chat-large'; it may use: chat. "
                        "Ask an administrator to add the model to the key's models");
    settle(w, &t, -1, -1, now);
    /* A key without models may use any group. */
    assert_int_equal(admit(w, &t, batch_secret, "embed", 10, now, &err), CMX_OK);
    settle(w, &t, 10, 0, now);
    assert_true(cmx_gov_models_allow((char *[]){"gpt-*", "x?z"}, 2, "gpt-4o"));
    assert_true(cmx_gov_models_allow((char *[]){"gpt-*", "x?z"}, 2, "xyz"));
    assert_false(cmx_gov_models_allow((char *[]){"gpt-*", "x?z"}, 2, "xz"));
    assert_false(cmx_gov_models_allow((char *[]){"gpt-*"}, 1, "my-gpt-4"));
    world_free(w);
}

static void over_budget_is_refused_with_spend_budget_and_reset_time(void **state)
{
    world *w = world_new();
    cmx_gov_ticket t;
    cmx_error err;
    int64_t now = at("2026-03-18T10:00:00Z");
    /* Two requests in flight are both admitted while under budget, and both
     * are charged: the overshoot is what was in flight. */
    cmx_gov_ticket a, b;
    assert_int_equal(admit(w, &a, front_secret, "chat", 10, now, &err), CMX_OK);
    assert_int_equal(admit(w, &b, front_secret, "chat", 10, now, &err), CMX_OK);
    settle(w, &a, 10, 0.07, now);
    assert_int_equal(w->warnings, 0);
    settle(w, &b, 10, 0.07, now);
    assert_int_equal(w->warnings, 1); /* over 80% of 0.10: once */
    assert_string_equal(w->last_warning, "key front 0.1400");
    assert_int_equal(admit(w, &t, front_secret, "chat", 10, now, &err), CMX_ERR_BUDGET);
    assert_int_equal(err.status, 429);
    assert_string_equal(err.message,
                        "budget exceeded for key 'front' (front): spent $0.14 of its $0.10 1-day "
                        "budget; it resets at 2026-03-19T00:00:00Z. Ask an administrator to raise "
                        "the budget, or wait for the reset");
    settle(w, &t, -1, -1, now);
    /* The next day is a new period. */
    int64_t tomorrow = at("2026-03-19T00:00:00Z");
    assert_int_equal(admit(w, &t, front_secret, "chat", 10, tomorrow, &err), CMX_OK);
    settle(w, &t, 10, 0.01, tomorrow);
    /* The team's monthly budget counted all of it. */
    cmx_gov_team *web = cmx_keyring_team(w->kr, "web");
    int64_t resets;
    assert_true(fabs(cmx_gov_spent(&w->env, &web->p, tomorrow, &resets) - 0.15) < 1e-12);
    char r[40];
    iso(resets, r);
    assert_string_equal(r, "2026-04-01T00:00:00Z");
    world_free(w);
}

static void limits_refuse_with_retry_after_and_free_their_slots(void **state)
{
    world *w = world_new();
    cmx_error err;
    int64_t now = at("2026-03-18T10:00:20Z");
    /* max_parallel 2 on the key. */
    cmx_gov_ticket a, b, c;
    assert_int_equal(admit(w, &a, front_secret, "chat", 1, now, &err), CMX_OK);
    assert_int_equal(admit(w, &b, front_secret, "chat", 1, now, &err), CMX_OK);
    assert_int_equal(admit(w, &c, front_secret, "chat", 1, now, &err), CMX_ERR_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, 1000);
    assert_non_null(strstr(err.message, "at most 2 requests at a time"));
    settle(w, &c, -1, -1, now);
    settle(w, &a, 1, 0, now);
    /* The team's rpm of 3 over a sliding minute: a and b at :20, this one at
     * :50; the refused one did not count. */
    int64_t later = now + 30000;
    assert_int_equal(admit(w, &a, front_secret, "chat", 1, later, &err), CMX_OK);
    settle(w, &a, 1, 0, later);
    assert_int_equal(admit(w, &c, front_secret, "chat", 1, later, &err), CMX_ERR_RATE_LIMITED);
    assert_string_equal(err.message,
                        "rate limit reached for team 'web' (web): at most 3 requests per minute; "
                        "retry after 30 s");
    assert_int_equal(err.retry_after_ms, 30000);
    settle(w, &c, -1, -1, later);
    /* A new minute on the clock is not a new window: the two from :20 count
     * until :20 of the next minute. */
    assert_int_equal(admit(w, &c, front_secret, "chat", 1, now + 59000, &err),
                     CMX_ERR_RATE_LIMITED);
    assert_int_equal(err.retry_after_ms, 1000);
    settle(w, &c, -1, -1, now + 59000);
    assert_int_equal(admit(w, &c, front_secret, "chat", 1, now + 60000, &err), CMX_OK);
    settle(w, &c, 1, 0, now + 60000);
    settle(w, &b, 1, 0, now + 60000);
    /* tpm 100 on batch: reservations, then settled to what was used. */
    assert_int_equal(admit(w, &a, batch_secret, "embed", 60, now, &err), CMX_OK);
    assert_int_equal(admit(w, &b, batch_secret, "embed", 60, now, &err), CMX_ERR_RATE_LIMITED);
    assert_non_null(strstr(err.message, "100 tokens per minute"));
    settle(w, &b, -1, -1, now);
    settle(w, &a, 20, 0, now); /* used 20: 80 left */
    assert_int_equal(admit(w, &b, batch_secret, "embed", 60, now, &err), CMX_OK);
    settle(w, &b, 60, 0, now);
    world_free(w);
}

/* ---- budget counters -------------------------------------------------------------- */

static void counters_add_pending_to_the_ledger_and_roll_over_periods(void **state)
{
    cmx_budget_counters *bc = cmx_budget_counters_local_new();
    cmx_budget_counter *c = bc->ops->counter(bc, "key:x");
    assert_ptr_equal(c, bc->ops->counter(bc, "key:x"));
    const int64_t p1 = 1000, p2 = 2000;
    bc->ops->from_ledger(bc, c, p1, 5.0); /* other replicas' and earlier spend */
    bc->ops->charge(bc, c, p1, 1.0);
    assert_true(bc->ops->spent(bc, c, p1) == 6.0);
    /* Committed: pending moves to the ledger's part, the total stays. */
    bc->ops->committed(bc, c, p1, 1.0);
    assert_true(bc->ops->spent(bc, c, p1) == 6.0);
    /* The next sync reads the ledger with the row in it. */
    bc->ops->from_ledger(bc, c, p1, 6.5);
    assert_true(bc->ops->spent(bc, c, p1) == 6.5);
    /* A later period starts at zero; old news is ignored. */
    bc->ops->charge(bc, c, p2, 0.25);
    assert_true(bc->ops->spent(bc, c, p2) == 0.25);
    assert_true(bc->ops->spent(bc, c, p1) == 0);
    bc->ops->charge(bc, c, p1, 100);
    bc->ops->from_ledger(bc, c, p1, 100);
    assert_true(bc->ops->spent(bc, c, p2) == 0.25);
    /* The fleet's total (Redis) raises what is spent; a charge here counts
     * on top of it at once, before the store's answer (which counts it too)
     * comes back, and an answer older than another never lowers it. */
    bc->ops->from_fleet(bc, c, p2, 10.0);
    assert_true(bc->ops->spent(bc, c, p2) == 10.0);
    bc->ops->charge(bc, c, p2, 0.5);
    assert_true(bc->ops->spent(bc, c, p2) == 10.5);
    bc->ops->from_fleet(bc, c, p2, 10.5);
    assert_true(bc->ops->spent(bc, c, p2) == 10.5);
    bc->ops->from_fleet(bc, c, p2, 10.25);
    assert_true(bc->ops->spent(bc, c, p2) == 10.5);
    bc->ops->free(bc);
}

/* ---- cut streams ---------------------------------------------------------------------- */

static void a_cut_stream_is_estimated_from_what_was_relayed(void **state)
{
    const char chunk[] =
        "{\"choices\":[{\"delta\":{\"content\":\"Hello, w\\u00f6rld \\\"x\\\"\"}}]}";
    assert_int_equal(cmx_chunk_text_chars(chunk, strlen(chunk)), 16);
    const char tool[] = "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":"
                        "\"{\\\"a\\\":1}\"}}]}}]}";
    assert_int_equal(cmx_chunk_text_chars(tool, strlen(tool)), 7);
    const char utf8[] = "{\"content\": \"h\xc3\xa9\xe2\x82\xac\"}";
    assert_int_equal(cmx_chunk_text_chars(utf8, strlen(utf8)), 3);
    cmx_usage u;
    cmx_usage_init(&u);
    assert_int_equal(cmx_usage_estimate(&u, 400, 10), 1);
    assert_int_equal(u.prompt_tokens, 101);
    assert_int_equal(u.completion_tokens, 3);
    assert_int_equal(u.total_tokens, 104);
    /* Counts the provider did report are kept. */
    cmx_usage_init(&u);
    u.prompt_tokens = 7;
    u.completion_tokens = 2;
    assert_int_equal(cmx_usage_estimate(&u, 400, 100), 0);
    assert_int_equal(u.prompt_tokens, 7);
}

static void messages_and_responses_events_count_their_deltas_only(void **state)
{
    (void)state;
#define CHARS(type, lit) cmx_event_delta_chars((type), CMX_LIT(lit))
    assert_int_equal(CHARS("content_block_delta",
                           "{\"type\":\"content_block_delta\",\"index\":0,"
                           "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi "
                           "there\"}}"),
                     8);
    assert_int_equal(
        CHARS("content_block_delta",
              "{\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}"),
        4);
    assert_int_equal(CHARS("content_block_delta",
                           "{\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}"),
                     3);
    assert_int_equal(CHARS("response.output_text.delta", "{\"delta\":\"abc\",\"item_id\":\"m\"}"),
                     3);
    assert_int_equal(CHARS("response.function_call_arguments.delta", "{\"delta\":\"{}\"}"), 2);
    /* The events that repeat the whole text are not counted again. */
    assert_int_equal(CHARS("response.output_text.done", "{\"text\":\"abc\"}"), 0);
    assert_int_equal(CHARS("content_block_start", "{\"content_block\":{\"text\":\"\"}}"), 0);
    assert_int_equal(CHARS("message_delta", "{\"delta\":{\"stop_reason\":\"end_turn\"}}"), 0);
#undef CHARS
}

/* The chunk counter searches both field names in one pass: it counts what
 * one memmem search per name counts, over chunks pieced together from
 * names, separators, escapes and multi-byte characters, overlapping and cut
 * short included, with the t" and s" the names end in also found alone. */
static void chunk_counts_match_a_search_per_field_name(void **state)
{
    (void)state;
    static const char *const pieces[] = {"\"content\"",
                                         "\"arguments\"",
                                         "\"content",
                                         "arguments\"",
                                         "rguments\"",
                                         "\"a",
                                         ":",
                                         " ",
                                         "\"",
                                         "\\\"",
                                         "\\\\",
                                         "\\u00e9",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "x",
                                         "Hello",
                                         "{\"delta\":{",
                                         "}]}",
                                         "\"content\":\"",
                                         "\"arguments\": \"",
                                         "content",
                                         ",",
                                         "\"text\"",
                                         "\"choices\"",
                                         "s\"",
                                         "t\""};
    const size_t n_pieces = sizeof pieces / sizeof *pieces;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char chunk[512];
    for (int round = 0; round < 50000; round++) {
        size_t len = 0;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        int parts = (int)(seed % 24);
        for (int i = 0; i < parts; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            const char *piece = pieces[seed % n_pieces];
            size_t n = strlen(piece);
            if (len + n >= sizeof chunk)
                break;
            memcpy(chunk + len, piece, n);
            len += n;
        }
        /* Sometimes cut short, mid-name or mid-escape. */
        if (len && (seed >> 20) % 4 == 0)
            len -= (size_t)((seed >> 24) % (len + 1));
        size_t want = cmx_field_text_chars(chunk, len, CMX_LIT("\"content\"")) +
                      cmx_field_text_chars(chunk, len, CMX_LIT("\"arguments\""));
        assert_int_equal(cmx_chunk_text_chars(chunk, len), want);
    }
    /* A whole chat chunk and a tool call's. */
    const char *chat = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{"
                       "\"index\":0,\"delta\":{\"content\":\"Hello, w\\u00f6rld \\\"x\\\"\"},"
                       "\"finish_reason\":null}]}";
    assert_int_equal(cmx_chunk_text_chars(chat, strlen(chat)), 16);
    const char *tool = "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                       "\"arguments\":\"{\\\"city\\\":\"}}]}}]}";
    assert_int_equal(cmx_chunk_text_chars(tool, strlen(tool)), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secrets_are_prefixed_random_base64url_of_32_bytes),
        cmocka_unit_test(digests_are_sha256_or_hmac_sha256_with_the_pepper),
        cmocka_unit_test(periods_start_and_reset_where_documented),
        cmocka_unit_test(monthly_window_follows_a_clock_moving_both_ways),
        cmocka_unit_test(monthly_windows_agree_with_the_c_calendar),
        cmocka_unit_test(chunk_counts_match_a_search_per_field_name),
        cmocka_unit_test(times_parse_only_as_utc),
        cmocka_unit_test(the_key_table_finds_keys_by_secret_and_links_teams),
        cmocka_unit_test(groups_must_fit_both_the_key_and_its_team),
        cmocka_unit_test(over_budget_is_refused_with_spend_budget_and_reset_time),
        cmocka_unit_test(limits_refuse_with_retry_after_and_free_their_slots),
        cmocka_unit_test(counters_add_pending_to_the_ledger_and_roll_over_periods),
        cmocka_unit_test(a_cut_stream_is_estimated_from_what_was_relayed),
        cmocka_unit_test(messages_and_responses_events_count_their_deltas_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
