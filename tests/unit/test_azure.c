/* test_azure.c — the azure provider's config keys and its Entra ID token
 * cache (azure_auth.c).
 *
 * The token tests run a small evhttp server on the same event_base as the
 * upstream client, so a fetch, its answer and the waiters' wake-ups all
 * happen in one deterministic loop; the clock is driven by hand to cross the
 * refresh point and the expiry without waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config/config.h"
#include "helpers/config_load.h"
#include "helpers/fake_http.h"
#include "providers/azure_auth.h"
#include "providers/azure_config.h"

/* ---- config ---------------------------------------------------------- */

#define NAME "azure.yaml"

static void azure_provider_with_a_key_gets_the_documented_defaults(void **state)
{
    (void)state;
    cmx_config *c =
        cmx_test_config_ok("providers:\n"
                           "  az: { type: azure, endpoint: \"https://res.openai.azure.com/\", "
                           "api_key: k }\n",
                           NAME);
    const cmx_provider_config *p = cmx_config_find_provider(c, "az");
    assert_string_equal(p->type_name, "azure");
    assert_string_equal(p->base_url, "https://res.openai.azure.com");
    const cmx_azure_settings *az = cmx_azure_settings_of(p);
    assert_string_equal(az->api_version, "2024-10-21");
    assert_int_equal(az->url_style_v1, 0);
    assert_int_equal(az->auth, CMX_AZURE_AUTH_API_KEY);
    assert_string_equal(az->api_key, "k");
    cmx_config_unref(c);
}

static void azure_client_credentials_and_managed_identity_are_read(void **state)
{
    (void)state;
    cmx_config *c =
        cmx_test_config_ok("providers:\n"
                           "  cc:\n"
                           "    type: azure\n"
                           "    endpoint: https://res.openai.azure.com\n"
                           "    url_style: v1\n"
                           "    api_version: 2024-06-01\n"
                           "    auth: { tenant_id: t1, client_id: app, client_secret: s3cret }\n"
                           "  mi:\n"
                           "    type: azure\n"
                           "    endpoint: https://res.openai.azure.com\n"
                           "    auth: { managed_identity: true, client_id: uai, imds_endpoint: "
                           "\"http://127.0.0.1:9/x\" }\n",
                           NAME);
    const cmx_provider_config *cc = cmx_config_find_provider(c, "cc");
    assert_int_equal(cmx_azure_settings_of(cc)->auth, CMX_AZURE_AUTH_CLIENT_SECRET);
    assert_int_equal(cmx_azure_settings_of(cc)->url_style_v1, 1);
    assert_string_equal(cmx_azure_settings_of(cc)->api_version, "2024-06-01");
    assert_string_equal(cmx_azure_settings_of(cc)->tenant_id, "t1");
    assert_string_equal(cmx_azure_settings_of(cc)->client_id, "app");
    assert_string_equal(cmx_azure_settings_of(cc)->client_secret, "s3cret");
    assert_string_equal(cmx_azure_settings_of(cc)->authority, "https://login.microsoftonline.com");
    assert_null(
        cmx_azure_settings_of(cc)->scope); /* the default is applied where the request is built */
    const cmx_provider_config *mi = cmx_config_find_provider(c, "mi");
    assert_int_equal(cmx_azure_settings_of(mi)->auth, CMX_AZURE_AUTH_MANAGED_IDENTITY);
    assert_string_equal(cmx_azure_settings_of(mi)->client_id, "uai");
    assert_string_equal(cmx_azure_settings_of(mi)->imds_endpoint, "http://127.0.0.1:9/x");
    cmx_config_unref(c);
}

static void azure_config_mistakes_are_reported_precisely(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *expect;
    } cases[] = {
        {"  a: { type: azure, api_key: k }\n", "missing required key 'endpoint'"},
        {"  a: { type: azure, endpoint: \"https://x\" }\n", "missing credentials"},
        {"  a: { type: azure, endpoint: \"https://x\", api_key: k, auth: { managed_identity: true "
         "} }\n",
         "mutually exclusive"},
        {"  a: { type: azure, endpoint: \"https://x\", api_key: k, url_style: path }\n",
         "expected deployments or v1"},
        {"  a: { type: azure, endpoint: \"https://x\", auth: { tenant_id: t, client_id: c } }\n",
         "missing required key 'client_secret'"},
        {"  a: { type: azure, endpoint: \"https://x\", auth: { managed_identity: true, tenant: t } "
         "}\n",
         "tenant"},
        {"  a: { type: azure, endpoint: \"ftp://x\", api_key: k }\n", "endpoint: expected an http"},
        {"  a: { type: azure, endpoint: \"https://x\", auth: { managed_identity: true, scope: \"a "
         "b\" } }\n",
         "scope: expected a scope"},
        {"  a: { type: azure, endpoint: \"https://x\", api_key: k, base_url: \"https://y\" }\n",
         "only valid for openai or anthropic"},
        {"  a: { type: openai, base_url: \"https://x\", url_style: v1 }\n", "only valid for azure"},
        {"  a: { type: azure, endpoint: \"https://x\", api_key: k, api_version: \"a b\" }\n",
         "api_version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "providers:\n%s", cases[i].yaml);
        cmx_config_diag d;
        cmx_test_config_refused(yaml, NAME, CMX_TEST_ANY_LINE, cases[i].expect, &d);
        cmx_config_diag_free(&d);
    }
}

static void azure_client_secret_appears_in_no_message(void **state)
{
    (void)state;
    cmx_config_diag d;
    assert_null(
        cmx_test_config_load("providers:\n"
                             "  a: { type: azure, endpoint: \"https://x\", auth: { tenant_id: t, "
                             "client_id: c, client_secret: TOPSECRET-123, bogus: 1 } }\n",
                             NAME, &d));
    cmx_test_diag_hides(&d, "TOPSECRET-123");
    cmx_config_diag_free(&d);
}

/* ---- token cache ----------------------------------------------------- */

typedef struct token_server {
    int hits;
    int status;       /* what to answer */
    char answer[512]; /* body; "#N" is replaced by the hit number */
    char last_uri[512];
    char last_method[8];
    char last_body[512];
    char last_metadata[16];
    char last_content_type[64];
} token_server;

static void serve(struct evhttp_request *req, void *arg)
{
    token_server *ts = arg;
    ts->hits++;
    snprintf(ts->last_uri, sizeof ts->last_uri, "%s", evhttp_request_get_uri(req));
    snprintf(ts->last_method, sizeof ts->last_method, "%s",
             evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "POST");
    cmx_fake_http_header(req, "Metadata", ts->last_metadata, sizeof ts->last_metadata);
    cmx_fake_http_header(req, "Content-Type", ts->last_content_type, sizeof ts->last_content_type);
    cmx_fake_http_body(req, ts->last_body, sizeof ts->last_body);
    struct evbuffer *out = evbuffer_new();
    const char *mark = strstr(ts->answer, "#N");
    if (mark) {
        evbuffer_add(out, ts->answer, (size_t)(mark - ts->answer));
        evbuffer_add_printf(out, "%d%s", ts->hits, mark + 2);
    } else {
        evbuffer_add(out, ts->answer, strlen(ts->answer));
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, ts->status, "X", out);
    evbuffer_free(out);
}

/* The token endpoint's usual answer: tok-1, tok-2, ... valid for an hour. */
static const char token_answer[] =
    "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"tok-#N\"}";

typedef struct fixture {
    cmx_fake_bench bench;
    token_server ts;
    cmx_provider_config cfg;
    cmx_azure_settings settings; /* cfg's */
    char url[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cmx_fake_bench_open(&f->bench, serve, &f->ts);
    f->ts.status = 200;
    snprintf(f->ts.answer, sizeof f->ts.answer, "%s", token_answer);
    snprintf(f->url, sizeof f->url, "%s", f->bench.srv.origin);
    cmx_fake_provider(&f->cfg, "az", &f->settings);
    f->settings.auth = CMX_AZURE_AUTH_CLIENT_SECRET;
    f->settings.tenant_id = "my-tenant";
    f->settings.client_id = "my app";
    f->settings.client_secret = "s&cret=1";
    f->settings.authority = f->url;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_fake_bench_close(&f->bench);
    free(f);
    return 0;
}

typedef struct waiter {
    cmx_azure_token_waiter w;
    int calls;
    char token[64];
    cmx_error err;
} waiter;

static void on_token(void *ctx, const char *token, const cmx_error *err)
{
    waiter *w = ctx;
    w->calls++;
    if (token)
        snprintf(w->token, sizeof w->token, "%s", token);
    if (err)
        w->err = *err;
}

static void waiter_init(waiter *w)
{
    memset(w, 0, sizeof *w);
    w->w.on_token = on_token;
    w->w.ctx = w;
}

/* The fixture's token cache. */
static cmx_azure_auth *auth_new(fixture *f)
{
    cmx_error err;
    cmx_azure_auth *a = cmx_azure_auth_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err);
    assert_non_null(a);
    return a;
}

/* Asks a for a token for w (set up here): none is ready, w waits for a fetch. */
static void ask_pending(cmx_azure_auth *a, waiter *w)
{
    waiter_init(w);
    const char *tok = NULL;
    cmx_error err;
    assert_int_equal(cmx_azure_auth_token(a, &w->w, &tok, &err), CMX_PENDING);
}

/* The same, then runs the loop until w was called (or 400 ms have passed). */
static void ask_and_wait(fixture *f, cmx_azure_auth *a, waiter *w)
{
    ask_pending(a, w);
    cmx_run_until(f->bench.base, &w->calls, 400);
}

static void queued_requests_share_one_client_credentials_fetch(void **state)
{
    fixture *f = *state;
    cmx_azure_auth *a = auth_new(f);
    waiter w[3];
    for (int i = 0; i < 3; i++) {
        ask_pending(a, &w[i]);
        assert_int_equal(w[i].calls, 0); /* never called from inside */
    }
    cmx_run_until(f->bench.base, &w[2].calls, 400);
    assert_int_equal(f->ts.hits, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_string_equal(w[i].token, "tok-1");
    }
    assert_string_equal(f->ts.last_method, "POST");
    assert_string_equal(f->ts.last_uri, "/my-tenant/oauth2/v2.0/token");
    assert_string_equal(f->ts.last_content_type, "application/x-www-form-urlencoded");
    assert_string_equal(f->ts.last_body,
                        "grant_type=client_credentials&client_id=my%20app&scope=https%3A%2F%2F"
                        "cognitiveservices.azure.com%2F.default&client_secret=s%26cret%3D1");
    /* The cached token answers at once. */
    waiter later;
    waiter_init(&later);
    const char *tok = NULL;
    cmx_error err;
    assert_int_equal(cmx_azure_auth_token(a, &later.w, &tok, &err), CMX_READY);
    assert_string_equal(tok, "tok-1");
    assert_int_equal(cmx_azure_auth_fetches(a), 1);
    cmx_azure_auth_free(a);
}

static void
token_is_refreshed_in_the_background_at_80_percent_and_waited_for_after_expiry(void **state)
{
    fixture *f = *state;
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_and_wait(f, a, &w);
    uint64_t t0 = f->bench.clock.now_us;
    const char *tok = NULL;
    cmx_error err;

    f->bench.clock.now_us = t0 + 2870ull * 1000000; /* before 80% of 3600 s */
    assert_int_equal(cmx_azure_auth_token(a, &w.w, &tok, &err), CMX_READY);
    assert_string_equal(tok, "tok-1");
    assert_int_equal(cmx_azure_auth_fetches(a), 1);

    f->bench.clock.now_us = t0 + 2890ull * 1000000; /* past it: old token now, new one fetched */
    assert_int_equal(cmx_azure_auth_token(a, &w.w, &tok, &err), CMX_READY);
    assert_string_equal(tok, "tok-1");
    assert_int_equal(cmx_azure_auth_fetches(a), 2);
    cmx_run_for(f->bench.base, 20);
    assert_int_equal(f->ts.hits, 2);
    assert_int_equal(cmx_azure_auth_token(a, &w.w, &tok, &err), CMX_READY);
    assert_string_equal(tok, "tok-2");

    /* Expired: the request waits for a new token instead of using the old. */
    f->bench.clock.now_us += 3601ull * 1000000;
    waiter w2;
    ask_and_wait(f, a, &w2);
    assert_string_equal(w2.token, "tok-3");
    cmx_azure_auth_free(a);
}

static void token_endpoint_failure_is_provider_auth_without_the_secret(void **state)
{
    fixture *f = *state;
    f->ts.status = 401;
    snprintf(f->ts.answer, sizeof f->ts.answer,
             "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
             "secret provided.\"}");
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_and_wait(f, a, &w);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(w.err.upstream_status, 401);
    assert_non_null(strstr(w.err.message, "invalid_client"));
    assert_non_null(strstr(w.err.message, "token endpoint"));
    assert_null(strstr(w.err.message, "s&cret"));
    assert_null(strstr(w.err.message, "s%26cret"));

    /* Right after, requests fail fast without another fetch ... */
    waiter w2;
    waiter_init(&w2);
    const char *tok = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    assert_int_equal(cmx_azure_auth_token(a, &w2.w, &tok, &err), CMX_FAILED);
    assert_int_equal(err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(f->ts.hits, 1);
    /* ... and a second later the endpoint is tried again. */
    f->ts.status = 200;
    snprintf(f->ts.answer, sizeof f->ts.answer, "%s", token_answer);
    f->bench.clock.now_us += 1100000;
    assert_int_equal(cmx_azure_auth_token(a, &w2.w, &tok, &err), CMX_PENDING);
    cmx_run_until(f->bench.base, &w2.calls, 400);
    assert_string_equal(w2.token, "tok-2");
    cmx_azure_auth_free(a);
}

static void answer_without_a_token_is_an_error(void **state)
{
    fixture *f = *state;
    snprintf(f->ts.answer, sizeof f->ts.answer, "{\"token_type\":\"Bearer\"}");
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_and_wait(f, a, &w);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_string_equal(w.token, "");
    cmx_azure_auth_free(a);
}

static void managed_identity_asks_imds_with_get_metadata_and_resource(void **state)
{
    fixture *f = *state;
    char imds[192];
    snprintf(imds, sizeof imds, "%s/metadata/identity/oauth2/token", f->url);
    f->settings.auth = CMX_AZURE_AUTH_MANAGED_IDENTITY;
    f->settings.imds_endpoint = imds;
    f->settings.client_id = "uai-1";
    snprintf(f->ts.answer, sizeof f->ts.answer,
             "{\"access_token\":\"mi-#N\",\"expires_in\":\"3599\",\"token_type\":\"Bearer\"}");
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_and_wait(f, a, &w);
    assert_string_equal(w.token, "mi-1");
    assert_string_equal(f->ts.last_method, "GET");
    assert_string_equal(f->ts.last_metadata, "true");
    assert_string_equal(f->ts.last_uri,
                        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%"
                        "2F%2Fcognitiveservices.azure.com&client_id=uai-1");
    cmx_azure_auth_free(a);
}

static void invalidated_token_is_fetched_again_but_a_stale_invalidate_is_ignored(void **state)
{
    fixture *f = *state;
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_and_wait(f, a, &w);
    cmx_azure_auth_invalidate(a, "tok-0"); /* not the cached one: no effect */
    const char *tok = NULL;
    cmx_error err;
    assert_int_equal(cmx_azure_auth_token(a, &w.w, &tok, &err), CMX_READY);
    cmx_azure_auth_invalidate(a, "tok-1");
    waiter w2;
    ask_and_wait(f, a, &w2);
    assert_string_equal(w2.token, "tok-2");
    cmx_azure_auth_free(a);
}

static void cancelled_waiter_is_not_called(void **state)
{
    fixture *f = *state;
    cmx_azure_auth *a = auth_new(f);
    waiter w1, w2;
    ask_pending(a, &w1);
    ask_pending(a, &w2);
    cmx_azure_auth_cancel(a, &w1.w);
    cmx_run_until(f->bench.base, &w2.calls, 400);
    assert_int_equal(w1.calls, 0);
    assert_int_equal(w2.calls, 1);
    cmx_azure_auth_free(a);
}

static void freeing_with_a_fetch_in_flight_is_clean(void **state)
{
    fixture *f = *state;
    cmx_azure_auth *a = auth_new(f);
    waiter w;
    ask_pending(a, &w);
    cmx_azure_auth_cancel(a, &w.w);
    cmx_azure_auth_free(a); /* ASan checks that nothing leaks or runs later */
    cmx_run_for(f->bench.base, 20);
    assert_int_equal(w.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(azure_provider_with_a_key_gets_the_documented_defaults),
        cmocka_unit_test(azure_client_credentials_and_managed_identity_are_read),
        cmocka_unit_test(azure_config_mistakes_are_reported_precisely),
        cmocka_unit_test(azure_client_secret_appears_in_no_message),
        cmocka_unit_test_setup_teardown(queued_requests_share_one_client_credentials_fetch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            token_is_refreshed_in_the_background_at_80_percent_and_waited_for_after_expiry, setup,
            teardown),
        cmocka_unit_test_setup_teardown(token_endpoint_failure_is_provider_auth_without_the_secret,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(answer_without_a_token_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(managed_identity_asks_imds_with_get_metadata_and_resource,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            invalidated_token_is_fetched_again_but_a_stale_invalidate_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelled_waiter_is_not_called, setup, teardown),
        cmocka_unit_test_setup_teardown(freeing_with_a_fetch_in_flight_is_clean, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
