/* test_admin_ops.c — the admin API's operations against a SQLite store, as
 * both the gateway and `cloudmux keys` run them: a key's secret is shown
 * once and only its digest is kept; fields are validated with messages
 * that name them; config-defined keys cannot be changed; rotation keeps the
 * old secret for its grace; revocation is recorded; every change leaves an
 * audit record without a secret in it; spend options are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/config_load.h"
#include "governance/admin_ops.h"
#include "governance/spend.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static char dir[64], db_url[160], audit_file[128];

typedef struct env {
    cmx_config *cfg;
    cmx_store *store;
    cmx_audit *audit;
    cmx_key_hasher hasher;
    cmx_gov_ops ops;
} env;

static const char config_yaml[] = "providers:\n  m: {type: mock}\n"
                                  "models:\n  chat: [{provider: m}]\n"
                                  "governance: {store: \"sqlite:///tmp/x.db\", warn_at: 0.9}\n"
                                  "teams:\n  ops: {budget: {usd: 5}}\n"
                                  "keys:\n  gitops: {key: \"env:CMX_T_GITOPS\"}\n";

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/cmx-admin-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    setenv("CMX_T_GITOPS", "cmx-gitops-0123456789abcdef0123456789abcdef", 1);
    env *e = calloc(1, sizeof *e);
    e->cfg = cmx_test_config_ok(config_yaml, "t.yaml");
    static int n;
    snprintf(db_url, sizeof db_url, "sqlite://%s/s%d.db", dir, n);
    snprintf(audit_file, sizeof audit_file, "%s/audit%d.log", dir, n++);
    cmx_error err;
    e->store = cmx_store_open(db_url, &err);
    cmx_audit_settings as = {audit_file, NULL, NULL, 0, 0};
    e->audit = cmx_audit_open(&as, &err);
    cmx_key_hasher_init(&e->hasher, "pepper-for-tests");
    e->ops = (cmx_gov_ops){e->store, e->audit, e->cfg, &e->hasher, T0, "admin:test", NULL, NULL};
    *state = e;
    return e->store && e->audit ? 0 : -1;
}

static int teardown(void **state)
{
    env *e = *state;
    cmx_audit_close(e->audit, 0);
    cmx_store_close(e->store);
    cmx_config_unref(e->cfg);
    free(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs one call; returns the parsed body (NULL on error, with *reply kept). */
static json_t *call(env *e, const char *method, const char *path, const char *body,
                    cmx_gov_reply *reply)
{
    cmx_gov_admin(&e->ops, method, path, "", body, body ? strlen(body) : 0, reply);
    json_t *j = reply->body ? json_loads(reply->body, 0, NULL) : NULL;
    cmx_gov_reply_free(reply);
    return j;
}

static char *audit_text(void)
{
    FILE *f = fopen(audit_file, "r");
    static char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static void a_created_key_shows_its_secret_once_and_stores_its_digest(void **state)
{
    env *e = *state;
    cmx_gov_reply r;
    json_t *j = call(e, "POST", "/admin/keys",
                     "{\"name\":\"frontend\",\"models\":[\"chat\"],\"rpm\":60,"
                     "\"budget\":{\"usd\":25,\"period\":\"7d\"},\"tags\":{\"owner\":\"ana\"}}",
                     &r);
    assert_int_equal(r.status, 201);
    assert_true(r.changed);
    const char *secret = json_string_value(json_object_get(j, "secret"));
    json_t *key = json_object_get(j, "key");
    const char *id = json_string_value(json_object_get(key, "id"));
    assert_int_equal(strlen(secret), 47);
    assert_int_equal(strncmp(id, "key_", 4), 0);
    assert_string_equal(json_string_value(json_object_get(key, "status")), "active");
    assert_true(json_number_value(json_object_get(json_object_get(key, "budget"), "warn_at")) ==
                0.9);
    /* The store has the peppered digest, not the secret. */
    cmx_store_snapshot snap;
    cmx_error err;
    assert_int_equal(cmx_store_load(e->store, &snap, &err), CMX_OK);
    assert_int_equal(snap.n_secrets, 1);
    uint8_t d[CMX_DIGEST_LEN];
    char hex[65];
    cmx_key_digest(&e->hasher, secret, strlen(secret), d);
    cmx_sha256_hex_of(d, hex);
    assert_string_equal(snap.secrets[0].digest, hex);
    cmx_store_snapshot_free(&snap);
    /* Listing shows both keys (the config's too) and no secret. */
    cmx_gov_admin(&e->ops, "GET", "/admin/keys", "", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, secret));
    assert_null(strstr(r.body, "cmx-gitops-0123456789abcdef"));
    json_t *list = json_loads(r.body, 0, NULL);
    cmx_gov_reply_free(&r);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(list, "data"), 0), "source")),
                        "config");
    json_decref(list);
    const char *audit = audit_text();
    assert_non_null(strstr(audit, "\"action\":\"key.created\""));
    assert_non_null(strstr(audit, "\"actor\":\"admin:test\""));
    assert_null(strstr(audit, secret));
    assert_null(strstr(audit, secret + 4));
    json_decref(j);
}

static void fields_are_validated_with_their_names(void **state)
{
    env *e = *state;
    static const struct {
        const char *body;
        int status;
        const char *words;
    } cases[] = {
        {"{\"models\":[\"chat\"]}", 400, "'name' is required"},
        {"{\"name\":\"x\",\"rmp\":5}", 400, "unknown field 'rmp'"},
        {"{\"name\":\"x\",\"rpm\":-1}", 400, "'rpm' must be a non-negative integer"},
        {"{\"name\":\"x\",\"budget\":{\"usd\":5,\"period\":\"weekly\"}}", 400,
         "'budget.period' must be 1d, 7d"},
        {"{\"name\":\"x\",\"budget\":{\"period\":\"1d\"}}", 400, "'budget.usd'"},
        {"{\"name\":\"x\",\"budget\":{\"usd\":1,\"start\":\"2026-01-01T00:30:00Z\"}}", 400,
         "on the hour"},
        {"{\"name\":\"x\",\"team\":\"nobody\"}", 400, "team 'nobody' does not exist"},
        {"{\"name\":\"x\",\"id\":\"has space\"}", 400, "'id' must be"},
        {"{\"name\":\"x\",\"id\":\"gitops\"}", 409, "defined in the configuration"},
        {"{\"name\":\"x\",\"expires_at\":\"soon\"}", 400, "'expires_at'"},
        {"{\"name\":\"x\",\"residency\":\"EU\"}", 400, "'residency'"},
        {"{\"name\":\"x\",\"models\":\"chat\"}", 400, "'models' must be a list"},
        {"[1]", 400, "must be a JSON object"},
        {"{\"name\":", 400, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmx_gov_reply r;
        json_t *j = call(e, "POST", "/admin/keys", cases[i].body, &r);
        if (r.status != cases[i].status || !strstr(r.message, cases[i].words))
            fail_msg("%s: expected %d \"%s\", got %d \"%s\"", cases[i].body, cases[i].status,
                     cases[i].words, r.status, r.message);
        assert_null(j);
    }
    /* A team made first can then be named. */
    cmx_gov_reply r;
    json_decref(call(e, "POST", "/admin/teams", "{\"id\":\"web\",\"rpm\":10}", &r));
    assert_int_equal(r.status, 201);
    json_decref(
        call(e, "POST", "/admin/keys", "{\"name\":\"x\",\"team\":\"web\",\"id\":\"kx\"}", &r));
    assert_int_equal(r.status, 201);
    json_decref(call(e, "POST", "/admin/keys", "{\"name\":\"x\",\"id\":\"kx\"}", &r));
    assert_int_equal(r.status, 409);
    /* The config's team too. */
    json_decref(call(e, "POST", "/admin/keys", "{\"name\":\"y\",\"team\":\"ops\"}", &r));
    assert_int_equal(r.status, 201);
}

static void updates_record_what_changed_and_config_keys_stay_put(void **state)
{
    env *e = *state;
    cmx_gov_reply r;
    json_decref(call(e, "POST", "/admin/keys",
                     "{\"name\":\"b\",\"id\":\"kb\",\"budget\":{\"usd\":10}}", &r));
    json_t *j = call(e, "PATCH", "/admin/keys/kb",
                     "{\"budget\":{\"usd\":20,\"period\":\"monthly\"},\"rpm\":5}", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_number_value(json_object_get(json_object_get(j, "budget"), "usd")) == 20);
    assert_int_equal(json_integer_value(json_object_get(j, "rpm")), 5);
    json_decref(j);
    const char *audit = audit_text();
    assert_non_null(strstr(audit, "\"action\":\"key.updated\""));
    assert_non_null(strstr(audit, "\"action\":\"key.budget_changed\""));
    assert_non_null(strstr(audit, "\"rpm\":{\"from\":null,\"to\":5}"));
    /* null clears. */
    j = call(e, "PATCH", "/admin/keys/kb", "{\"budget\":null,\"rpm\":null}", &r);
    assert_true(json_is_null(json_object_get(j, "budget")));
    assert_true(json_is_null(json_object_get(j, "rpm")));
    json_decref(j);
    json_decref(call(e, "PATCH", "/admin/keys/kb", "{\"id\":\"other\"}", &r));
    assert_int_equal(r.status, 400);
    json_decref(call(e, "PATCH", "/admin/keys/gitops", "{\"rpm\":1}", &r));
    assert_int_equal(r.status, 409);
    assert_string_equal(r.code, "defined_in_config");
    json_decref(call(e, "POST", "/admin/keys/gitops/revoke", NULL, &r));
    assert_int_equal(r.status, 409);
    json_decref(call(e, "PATCH", "/admin/keys/nope", "{\"rpm\":1}", &r));
    assert_int_equal(r.status, 404);
    json_decref(call(e, "DELETE", "/admin/keys/kb", NULL, &r));
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, PATCH");
    json_decref(call(e, "GET", "/admin/nothing", NULL, &r));
    assert_int_equal(r.status, 404);
}

static void rotation_keeps_the_old_secret_for_its_grace_and_revocation_sticks(void **state)
{
    env *e = *state;
    cmx_gov_reply r;
    json_t *made = call(e, "POST", "/admin/keys", "{\"name\":\"r\",\"id\":\"kr\"}", &r);
    const char *first = json_string_value(json_object_get(made, "secret"));
    e->ops.now_ms = T0 + 1000;
    json_t *rot = call(e, "POST", "/admin/keys/kr/rotate", "{\"grace\":\"1h\"}", &r);
    assert_int_equal(r.status, 200);
    const char *second = json_string_value(json_object_get(rot, "secret"));
    assert_string_not_equal(first, second);
    cmx_store_snapshot snap;
    cmx_error err;
    assert_int_equal(cmx_store_load(e->store, &snap, &err), CMX_OK);
    assert_int_equal(snap.n_secrets, 2);
    int ended = 0;
    for (size_t i = 0; i < snap.n_secrets; i++)
        ended += snap.secrets[i].not_after_ms == T0 + 1000 + 3600000;
    assert_int_equal(ended, 1);
    cmx_store_snapshot_free(&snap);
    json_decref(call(e, "POST", "/admin/keys/kr/rotate", "{\"grace\":\"soon\"}", &r));
    assert_int_equal(r.status, 400);
    json_t *rev = call(e, "POST", "/admin/keys/kr/revoke", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.changed);
    assert_string_equal(json_string_value(json_object_get(rev, "status")), "revoked");
    json_decref(call(e, "POST", "/admin/keys/kr/revoke", NULL, &r));
    assert_int_equal(r.status, 200);
    assert_false(r.changed); /* revoked already: nothing new */
    json_decref(call(e, "POST", "/admin/keys/kr/rotate", NULL, &r));
    assert_int_equal(r.status, 409);
    const char *audit = audit_text();
    assert_non_null(strstr(audit, "\"action\":\"key.rotated\""));
    assert_non_null(strstr(audit, "\"action\":\"key.revoked\""));
    assert_null(strstr(audit, first));
    assert_null(strstr(audit, second));
    json_decref(made);
    json_decref(rot);
    json_decref(rev);
}

static void spend_options_are_checked(void **state)
{
    static const struct {
        const char *query;
        const char *words;
    } bad[] = {
        {"by=day,colour", "unknown dimension 'colour'"},
        {"by=day,day", "'day' is given twice"},
        {"format=xml", "expected table, csv or json"},
        {"top=0", "top: expected"},
        {"from=2026-13-01", "from: expected a UTC date"},
        {"from=2026-02-01&to=2026-01-01", "from must be before to"},
        {"colour=red", "unknown option 'colour'"},
        {"by=%zz", "malformed query string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cmx_spend_request req;
        cmx_error err;
        cmx_spend_request_init(&req);
        cmx_err rc = cmx_spend_request_parse_query(&req, bad[i].query, strlen(bad[i].query), &err);
        if (rc == CMX_OK)
            rc = cmx_spend_request_finish(&req, T0, &err);
        if (rc != CMX_ERR_BAD_REQUEST || !strstr(err.message, bad[i].words))
            fail_msg("%s: expected \"%s\", got %d \"%s\"", bad[i].query, bad[i].words, rc,
                     err.message);
    }
    cmx_spend_request req;
    cmx_error err;
    cmx_spend_request_init(&req);
    const char q[] = "from=2026-01-01T10%3A30%3A00Z&by=day%2Cprovider&top=3&format=csv";
    assert_int_equal(cmx_spend_request_parse_query(&req, q, strlen(q), &err), CMX_OK);
    assert_int_equal(cmx_spend_request_finish(&req, T0 + 86400000, &err), CMX_OK);
    assert_int_equal(req.query.from_ms, T0 + 10 * 3600000); /* down to the hour */
    assert_int_equal(req.query.to_ms, T0 + 86400000);
    assert_int_equal(req.query.n_by, 2);
    assert_int_equal(req.query.by[1], CMX_DIM_PROVIDER);
    assert_int_equal(req.query.top, 3);
    assert_int_equal(req.format, CMX_SPEND_CSV);
}

static void reports_print_alike_in_three_formats(void **state)
{
    cmx_spend_line lines[2] = {
        {{"2026-01-01", "openai"}, {3, 1, 30, 9, 0, 0.0123, 1, 0}},
        {{"2026-01-01", "bed,rock"}, {1, 0, 10, 2, 4, 0.5, 0, 1}},
    };
    cmx_spend_report rep = {{T0, T0 + 86400000, {CMX_DIM_DAY, CMX_DIM_PROVIDER}, 2, 0},
                            lines,
                            2,
                            {4, 1, 40, 11, 4, 0.5123, 1, 1}};
    cmx_buf b = CMX_BUF_INIT;
    cmx_spend_print(&rep, CMX_SPEND_CSV, &b);
    assert_string_equal(b.data, "day,provider,requests,errors,prompt_tokens,completion_tokens,"
                                "cached_tokens,cost_usd,unpriced_requests,estimated_requests\r\n"
                                "2026-01-01,openai,3,1,30,9,0,0.0123,1,0\r\n"
                                "2026-01-01,\"bed,rock\",1,0,10,2,4,0.5,0,1\r\n");
    cmx_buf_reset(&b);
    cmx_spend_print(&rep, CMX_SPEND_JSON, &b);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-01-01T00:00:00Z");
    assert_true(json_number_value(json_object_get(json_object_get(j, "total"), "cost_usd")) ==
                0.5123);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "lines"), 1), "provider")),
                        "bed,rock");
    json_decref(j);
    cmx_buf_reset(&b);
    cmx_spend_print(&rep, CMX_SPEND_TABLE, &b);
    assert_non_null(strstr(b.data, "day         provider  requests"));
    assert_non_null(strstr(b.data, "total"));
    assert_non_null(strstr(b.data, "0.5123"));
    assert_non_null(strstr(b.data, "1 request without a known price"));
    cmx_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_created_key_shows_its_secret_once_and_stores_its_digest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(fields_are_validated_with_their_names, setup, teardown),
        cmocka_unit_test_setup_teardown(updates_record_what_changed_and_config_keys_stay_put, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            rotation_keeps_the_old_secret_for_its_grace_and_revocation_sticks, setup, teardown),
        cmocka_unit_test(spend_options_are_checked),
        cmocka_unit_test(reports_print_alike_in_three_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
