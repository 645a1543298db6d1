/* test_aws_credentials.c — the AWS credential chain (aws_credentials.c) and
 * its config keys.
 *
 * One evhttp server on 127.0.0.1, on the same event_base as the upstream
 * client, plays every AWS endpoint the chain talks to, as strictly as the
 * real ones on the points that matter: the container endpoint wants its
 * Authorization token, IMDSv2 hands out a session token on PUT and refuses
 * any metadata GET without it, STS takes the AssumeRoleWithWebIdentity form
 * and answers XML.  The clock is driven by hand across the refresh point
 * and the expiry; the environment is set per test (the chain reads it at
 * creation) and the shared files are temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
#include "providers/aws_credentials.h"
#include "providers/bedrock_config.h"

#define IMDS_TOKEN "imds-session-TOKEN-77"
#define CONTAINER_AUTH "container-AUTH-secret-12"
#define WEB_TOKEN "eyJ-web-identity-TOKEN-content+/="

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ENDPOINT_URL_STS",
    NULL,
};

static void unset_aws_vars(void)
{
    for (size_t i = 0; aws_vars[i]; i++)
        unsetenv(aws_vars[i]);
}

/* No AWS variable set, and nothing from the machine running the tests may
 * join the chain. */
static void isolate_from_the_machine(void)
{
    unset_aws_vars();
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* ---- the emulated endpoints ------------------------------------------ */

typedef struct endpoints {
    int container_hits, imds_puts, imds_gets, imds_refused, sts_hits;
    int container_status; /* 200, or what to answer */
    int imds_put_status;
    int sts_status;
    long lifetime_s; /* Expiration = now + this */
    char last_auth[128];
    char last_ttl[32];
    char sts_form[2048];
    char sts_content_type[96];
} endpoints;

static void iso_time(long from_now, char *out, size_t cap)
{
    time_t t = time(NULL) + from_now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void keys_json(endpoints *e, const char *prefix, int n, char *out, size_t cap)
{
    char exp[32];
    iso_time(e->lifetime_s, exp, sizeof exp);
    snprintf(out, cap,
             "{\"Code\":\"Success\",\"AccessKeyId\":\"%s-%d\",\"SecretAccessKey\":\"%s-SECRET-%d\","
             "\"Token\":\"%s-SESSION-%d\",\"Expiration\":\"%s\"}",
             prefix, n, prefix, n, prefix, n, exp);
}

static void serve_container(endpoints *e, struct evhttp_request *req, struct evkeyvalq *h)
{
    e->container_hits++;
    const char *auth = evhttp_find_header(h, "Authorization");
    snprintf(e->last_auth, sizeof e->last_auth, "%s", auth ? auth : "");
    if (e->container_status != 200 || !auth || strcmp(auth, CONTAINER_AUTH) != 0) {
        cmx_fake_http_reply(req, e->container_status != 200 ? e->container_status : 401,
                            "application/json", "{\"message\":\"no\"}");
        return;
    }
    char body[512];
    keys_json(e, "ASIACONT", e->container_hits, body, sizeof body);
    cmx_fake_http_reply(req, 200, "application/json", body);
}

static void serve_imds(endpoints *e, struct evhttp_request *req, struct evkeyvalq *h,
                       const char *uri)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_PUT) {
        e->imds_puts++;
        const char *ttl = evhttp_find_header(h, "X-aws-ec2-metadata-token-ttl-seconds");
        snprintf(e->last_ttl, sizeof e->last_ttl, "%s", ttl ? ttl : "");
        if (strcmp(uri, "/latest/api/token") != 0 || !ttl || e->imds_put_status != 200) {
            cmx_fake_http_reply(req, e->imds_put_status != 200 ? e->imds_put_status : 400,
                                "text/plain", "");
            return;
        }
        cmx_fake_http_reply(req, 200, "text/plain", IMDS_TOKEN);
        return;
    }
    e->imds_gets++;
    const char *tok = evhttp_find_header(h, "X-aws-ec2-metadata-token");
    if (!tok || strcmp(tok, IMDS_TOKEN) != 0) { /* IMDSv2 only, as hardened instances are */
        e->imds_refused++;
        cmx_fake_http_reply(req, 401, "text/plain", "");
        return;
    }
    const char *base = "/latest/meta-data/iam/security-credentials/";
    if (strcmp(uri, base) == 0) {
        cmx_fake_http_reply(req, 200, "text/plain", "app-role\n");
    } else if (strncmp(uri, base, strlen(base)) == 0 &&
               strcmp(uri + strlen(base), "app-role") == 0) {
        char body[512];
        keys_json(e, "ASIAIMDS", e->imds_gets, body, sizeof body);
        cmx_fake_http_reply(req, 200, "application/json", body);
    } else {
        cmx_fake_http_reply(req, 404, "text/plain", "");
    }
}

static void serve_sts(endpoints *e, struct evhttp_request *req, struct evkeyvalq *h)
{
    e->sts_hits++;
    const char *ct = evhttp_find_header(h, "Content-Type");
    snprintf(e->sts_content_type, sizeof e->sts_content_type, "%s", ct ? ct : "");
    cmx_fake_http_body(req, e->sts_form, sizeof e->sts_form);
    if (e->sts_status != 200) {
        cmx_fake_http_reply(
            req, e->sts_status, "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not "
            "authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>"
            "</ErrorResponse>");
        return;
    }
    char exp[32], body[1024];
    iso_time(e->lifetime_s, exp, sizeof exp);
    snprintf(body, sizeof body,
             "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
             "<Credentials><AccessKeyId>ASIASTS-%d</AccessKeyId><SecretAccessKey>STS-SECRET-%d"
             "</SecretAccessKey><SessionToken>STS-SESSION-%d</SessionToken><Expiration>%s"
             "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
             "</AssumeRoleWithWebIdentityResponse>",
             e->sts_hits, e->sts_hits, e->sts_hits, exp);
    cmx_fake_http_reply(req, 200, "text/xml", body);
}

static void serve(struct evhttp_request *req, void *arg)
{
    endpoints *e = arg;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *uri = evhttp_request_get_uri(req);
    if (strncmp(uri, "/creds", 6) == 0)
        serve_container(e, req, h);
    else if (strncmp(uri, "/latest/", 8) == 0)
        serve_imds(e, req, h, uri);
    else if (strcmp(uri, "/sts/") == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_POST)
        serve_sts(e, req, h);
    else
        cmx_fake_http_reply(req, 404, "text/plain", "");
}

/* ---- fixture --------------------------------------------------------- */

typedef struct fixture {
    cmx_fake_bench bench;
    endpoints ep;
    cmx_provider_config cfg;
    cmx_bedrock_settings settings; /* cfg's */
    char origin[64];
    char url[128];
    char dir[64];
    char path[3][128];
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cmx_fake_bench_open(&f->bench, serve, &f->ep);
    f->ep.container_status = f->ep.imds_put_status = f->ep.sts_status = 200;
    f->ep.lifetime_s = 3600;
    snprintf(f->origin, sizeof f->origin, "%s", f->bench.srv.origin);
    cmx_fake_provider(&f->cfg, "aws", &f->settings);
    f->settings.region = "eu-west-1";
    isolate_from_the_machine();
    snprintf(f->dir, sizeof f->dir, "/tmp/cmx-awsc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int i = 0; i < 3; i++)
        snprintf(f->path[i], sizeof f->path[i], "%s/file%d", f->dir, i);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_fake_bench_close(&f->bench);
    for (int i = 0; i < 3; i++)
        unlink(f->path[i]);
    rmdir(f->dir);
    unset_aws_vars();
    free(f);
    return 0;
}

static void use_container(fixture *f)
{
    snprintf(f->url, sizeof f->url, "%s/creds/v1?id=7", f->origin);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f->url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_AUTH, 1);
}

static void use_imds(fixture *f)
{
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f->origin, 1);
}

static void use_web_identity(fixture *f)
{
    write_file(f->path[0], WEB_TOKEN "\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", f->path[0], 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa-role", 1);
    setenv("AWS_ROLE_SESSION_NAME", "pod-session", 1);
    char sts[96];
    snprintf(sts, sizeof sts, "%s/sts", f->origin);
    setenv("AWS_ENDPOINT_URL_STS", sts, 1);
}

typedef struct waiter {
    cmx_aws_credentials_waiter w;
    int calls;
    char key_id[64], secret[64], token[64];
    cmx_error err;
} waiter;

static void on_credentials(void *ctx, const cmx_sigv4_credentials *c, const cmx_error *err)
{
    waiter *w = ctx;
    w->calls++;
    if (c) {
        snprintf(w->key_id, sizeof w->key_id, "%s", c->access_key_id);
        snprintf(w->secret, sizeof w->secret, "%s", c->secret_access_key);
        snprintf(w->token, sizeof w->token, "%s", c->session_token ? c->session_token : "");
    }
    if (err)
        w->err = *err;
}

static void waiter_init(waiter *w)
{
    memset(w, 0, sizeof *w);
    w->w.on_credentials = on_credentials;
    w->w.ctx = w;
}

/* Gets keys, waiting for a fetch if there is one; returns what get said. */
static cmx_progress get_keys(fixture *f, cmx_aws_credentials *c, waiter *w)
{
    waiter_init(w);
    const cmx_sigv4_credentials *creds = NULL;
    cmx_progress r = cmx_aws_credentials_get(c, &w->w, &creds, &w->err);
    if (r == CMX_READY)
        on_credentials(w, creds, NULL);
    else if (r == CMX_PENDING) {
        assert_int_equal(w->calls, 0); /* never called from inside get */
        cmx_run_until(f->bench.base, &w->calls, 400);
        assert_int_equal(w->calls, 1);
    }
    return r;
}

static cmx_aws_credentials *make(fixture *f)
{
    cmx_error err;
    cmx_error_clear(&err);
    cmx_aws_credentials *c =
        cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err);
    if (!c)
        fprintf(stderr, "new: %s\n", err.message);
    assert_non_null(c);
    return c;
}

/* A chain from the fixture's settings whose first get waits for a fetch;
 * what the fetch gave is in *w. */
static cmx_aws_credentials *make_and_fetch(fixture *f, waiter *w)
{
    cmx_aws_credentials *c = make(f);
    assert_int_equal(get_keys(f, c, w), CMX_PENDING);
    return c;
}

/* Asks c for keys for w (set up here): none are ready, w waits for a fetch. */
static void ask_pending(cmx_aws_credentials *c, waiter *w)
{
    waiter_init(w);
    const cmx_sigv4_credentials *creds;
    cmx_error err;
    assert_int_equal(cmx_aws_credentials_get(c, &w->w, &creds, &err), CMX_PENDING);
}

static void assert_no_secret(const char *msg)
{
    static const char *const secrets[] = {CONTAINER_AUTH, IMDS_TOKEN, "eyJ-web", "SECRET",
                                          "SESSION"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(msg, secrets[i])) {
            fprintf(stderr, "message leaks '%s': %s\n", secrets[i], msg);
            fail();
        }
}

/* ---- tests: the sources ---------------------------------------------- */

static void container_endpoint_is_asked_once_with_its_token_for_queued_requests(void **state)
{
    fixture *f = *state;
    use_container(f);
    cmx_aws_credentials *c = make(f);
    assert_string_equal(cmx_aws_credentials_source(c), "container");
    waiter w[3];
    for (int i = 0; i < 3; i++)
        ask_pending(c, &w[i]);
    cmx_run_until(f->bench.base, &w[2].calls, 400);
    assert_int_equal(f->ep.container_hits, 1);
    assert_string_equal(f->ep.last_auth, CONTAINER_AUTH);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_string_equal(w[i].key_id, "ASIACONT-1");
        assert_string_equal(w[i].secret, "ASIACONT-SECRET-1");
        assert_string_equal(w[i].token, "ASIACONT-SESSION-1");
    }
    waiter later;
    assert_int_equal(get_keys(f, c, &later), CMX_READY); /* cached */
    assert_string_equal(later.key_id, "ASIACONT-1");
    assert_int_equal(cmx_aws_credentials_fetches(c), 1);
    cmx_aws_credentials_free(c);
}

static void container_token_file_is_read_at_each_fetch(void **state)
{
    fixture *f = *state;
    use_container(f);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    write_file(f->path[1], "not-the-token\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", f->path[1], 1);
    f->settings.credentials = CMX_AWS_CREDS_CONTAINER;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_non_null(strstr(w.err.message, "container (127.0.0.1): HTTP 401"));
    assert_no_secret(w.err.message);
    /* the token file rotates (EKS Pod Identity): the next fetch reads it anew */
    write_file(f->path[1], CONTAINER_AUTH "\n");
    f->bench.clock.now_us += 2000000; /* past the failure hold */
    assert_int_equal(get_keys(f, c, &w), CMX_PENDING);
    assert_int_equal(w.err.kind, CMX_OK);
    assert_string_equal(w.key_id, "ASIACONT-2");
    assert_string_equal(f->ep.last_auth, CONTAINER_AUTH);
    cmx_aws_credentials_free(c);
}

static void imdsv2_puts_for_a_token_then_reads_the_role_and_its_keys_with_it(void **state)
{
    fixture *f = *state;
    use_imds(f);
    f->settings.credentials = CMX_AWS_CREDS_INSTANCE;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(w.err.kind, CMX_OK);
    assert_int_equal(f->ep.imds_puts, 1);
    assert_string_equal(f->ep.last_ttl, "21600");
    assert_int_equal(f->ep.imds_gets, 2);
    assert_int_equal(f->ep.imds_refused, 0); /* every GET carried the token */
    assert_string_equal(w.key_id, "ASIAIMDS-2");
    assert_string_equal(w.token, "ASIAIMDS-SESSION-2");
    assert_string_equal(cmx_aws_credentials_source(c), "instance metadata");
    assert_int_equal(cmx_aws_credentials_fetches(c), 1);
    cmx_aws_credentials_free(c);
}

static void imds_refusing_the_token_put_is_an_error_naming_instance_metadata(void **state)
{
    fixture *f = *state;
    use_imds(f);
    f->ep.imds_put_status = 403;
    f->settings.credentials = CMX_AWS_CREDS_INSTANCE;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_non_null(
        strstr(w.err.message, "instance metadata (127.0.0.1): HTTP 403 to the token PUT"));
    assert_int_equal(f->ep.imds_gets, 0); /* no GET without a token */
    cmx_aws_credentials_free(c);
}

static void emulated_imds_refuses_a_get_without_the_token(void **state)
{
    /* The emulator must be as strict as the real IMDSv2, or the tests above
     * prove nothing: a GET without the header is refused. */
    fixture *f = *state;
    /* the chain's own GETs carry the token and pass */
    use_imds(f);
    f->settings.credentials = CMX_AWS_CREDS_INSTANCE;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(f->ep.imds_refused, 0);
    cmx_aws_credentials_free(c);
    int gets = f->ep.imds_gets;
    /* a raw client GET without the header */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->bench.srv.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *raw = "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n";
    assert_int_equal(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    for (int i = 0; i < 50 && f->ep.imds_refused == 0; i++)
        cmx_run_for(f->bench.base, 20); /* the reply is written before the counter is read back */
    char buf[256] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    assert_true(n > 12);
    assert_non_null(strstr(buf, " 401 "));
    assert_int_equal(f->ep.imds_gets, gets + 1);
    assert_int_equal(f->ep.imds_refused, 1);
}

static void web_identity_posts_the_role_and_the_token_file_to_sts(void **state)
{
    fixture *f = *state;
    use_web_identity(f);
    cmx_aws_credentials *c = make(f);
    assert_string_equal(cmx_aws_credentials_source(c), "web identity");
    waiter w;
    assert_int_equal(get_keys(f, c, &w), CMX_PENDING);
    assert_int_equal(w.err.kind, CMX_OK);
    assert_int_equal(f->ep.sts_hits, 1);
    assert_string_equal(f->ep.sts_content_type, "application/x-www-form-urlencoded");
    struct evkeyvalq q;
    assert_int_equal(evhttp_parse_query_str(f->ep.sts_form, &q), 0);
    assert_string_equal(evhttp_find_header(&q, "Action"), "AssumeRoleWithWebIdentity");
    assert_string_equal(evhttp_find_header(&q, "Version"), "2011-06-15");
    assert_string_equal(evhttp_find_header(&q, "RoleArn"),
                        "arn:aws:iam::123456789012:role/irsa-role");
    assert_string_equal(evhttp_find_header(&q, "RoleSessionName"), "pod-session");
    /* the file's content, newline cut, '+' '/' '=' encoded so they survive */
    assert_string_equal(evhttp_find_header(&q, "WebIdentityToken"), WEB_TOKEN);
    evhttp_clear_headers(&q);
    assert_string_equal(w.key_id, "ASIASTS-1");
    assert_string_equal(w.secret, "STS-SECRET-1");
    assert_string_equal(w.token, "STS-SESSION-1");
    cmx_aws_credentials_free(c);
}

static void sts_refusal_names_its_code_and_never_the_token(void **state)
{
    fixture *f = *state;
    use_web_identity(f);
    f->ep.sts_status = 403;
    f->settings.credentials = CMX_AWS_CREDS_WEB_IDENTITY;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_non_null(strstr(w.err.message, "web identity (127.0.0.1): HTTP 403 AccessDenied"));
    assert_no_secret(w.err.message);
    /* for a second after, requests fail at once without asking again */
    waiter again;
    assert_int_equal(get_keys(f, c, &again), CMX_FAILED);
    assert_int_equal(again.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(f->ep.sts_hits, 1);
    cmx_aws_credentials_free(c);
}

static void profile_keys_come_from_the_credentials_file_over_the_config_file(void **state)
{
    fixture *f = *state;
    write_file(f->path[1], "[default]\nregion = us-east-1\n"
                           "[profile dev]\naws_access_key_id = AKIDCONFIG\n"
                           "aws_secret_access_key = config-secret\n");
    write_file(f->path[2], "# keys\n[default]\naws_access_key_id=AKIDDEFAULT\n"
                           "aws_secret_access_key=default-secret\n\n"
                           "[dev]\n  aws_access_key_id = AKIDDEV  \n"
                           "aws_secret_access_key = dev-secret\naws_session_token = dev-token\n");
    setenv("AWS_CONFIG_FILE", f->path[1], 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", f->path[2], 1);
    f->settings.profile = "dev";
    cmx_aws_credentials *c = make(f);
    waiter w;
    assert_int_equal(get_keys(f, c, &w), CMX_READY); /* settled at creation: no fetch */
    assert_string_equal(w.key_id, "AKIDDEV");
    assert_string_equal(w.secret, "dev-secret");
    assert_string_equal(w.token, "dev-token");
    assert_string_equal(cmx_aws_credentials_source(c), "profile");
    cmx_aws_credentials_free(c);
    /* no profile named: AWS_PROFILE, then "default" */
    f->settings.profile = NULL;
    c = make(f);
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "AKIDDEFAULT");
    assert_string_equal(w.token, "");
    cmx_aws_credentials_free(c);
    setenv("AWS_PROFILE", "dev", 1);
    c = make(f);
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "AKIDDEV");
    cmx_aws_credentials_free(c);
    /* a profile that is nowhere, when asked for by name, is a config error */
    f->settings.profile = "missing";
    f->settings.credentials = CMX_AWS_CREDS_PROFILE;
    cmx_error err;
    assert_null(cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "profile 'missing'"));
    assert_int_equal(f->ep.container_hits + f->ep.sts_hits + f->ep.imds_puts, 0);
}

static void profile_with_role_arn_and_token_file_assumes_the_role(void **state)
{
    fixture *f = *state;
    write_file(f->path[0], WEB_TOKEN);
    char text[512], sts[96];
    snprintf(text, sizeof text,
             "[profile irsa]\nrole_arn = arn:aws:iam::1:role/from-profile\n"
             "web_identity_token_file = %s\nrole_session_name = prof\n",
             f->path[0]);
    write_file(f->path[1], text);
    setenv("AWS_CONFIG_FILE", f->path[1], 1);
    snprintf(sts, sizeof sts, "%s/sts", f->origin);
    setenv("AWS_ENDPOINT_URL_STS", sts, 1);
    f->settings.profile = "irsa";
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIASTS-1");
    assert_non_null(strstr(f->ep.sts_form, "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Ffrom-profile"));
    assert_non_null(strstr(f->ep.sts_form, "RoleSessionName=prof&"));
    cmx_aws_credentials_free(c);
}

/* ---- tests: the chain ------------------------------------------------ */

static void static_keys_win_over_every_other_source(void **state)
{
    fixture *f = *state;
    use_container(f);
    use_web_identity(f);
    f->settings.access_key_id = "AKIDSTATIC";
    f->settings.secret_access_key = "static-secret";
    cmx_aws_credentials *c = make(f);
    waiter w;
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "AKIDSTATIC");
    assert_string_equal(w.token, "");
    assert_string_equal(cmx_aws_credentials_source(c), "static");
    assert_int_equal(cmx_aws_credentials_fetches(c), 0);
    cmx_aws_credentials_free(c);
}

static void chain_goes_web_identity_then_profile_then_container_then_imds(void **state)
{
    fixture *f = *state;
    use_web_identity(f);
    use_container(f);
    use_imds(f);
    /* web identity first */
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIASTS-1");
    assert_int_equal(f->ep.container_hits + f->ep.imds_puts, 0);
    cmx_aws_credentials_free(c);
    /* web identity refused: the profile's keys, before the container */
    f->ep.sts_status = 403;
    write_file(f->path[2], "[default]\naws_access_key_id=AKIDPROFILE\naws_secret_access_key=p\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", f->path[2], 1);
    c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "AKIDPROFILE");
    assert_string_equal(cmx_aws_credentials_source(c), "profile");
    assert_int_equal(f->ep.container_hits + f->ep.imds_puts, 0);
    cmx_aws_credentials_free(c);
    /* no profile: the container endpoint, and IMDS is not asked */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIACONT-1");
    assert_int_equal(f->ep.imds_puts, 0);
    cmx_aws_credentials_free(c);
    /* the container refuses too: instance metadata */
    f->ep.container_status = 500;
    c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIAIMDS-2");
    assert_string_equal(cmx_aws_credentials_source(c), "instance metadata");
    cmx_aws_credentials_free(c);
}

static void every_source_failing_is_provider_auth_naming_each_without_secrets(void **state)
{
    fixture *f = *state;
    use_web_identity(f);
    use_container(f);
    use_imds(f);
    f->ep.sts_status = 403;
    f->ep.container_status = 503;
    f->ep.imds_put_status = 403;
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_int_equal(w.err.kind, CMX_ERR_PROVIDER_AUTH);
    assert_non_null(strstr(w.err.message, "provider 'aws' (bedrock): no AWS credentials"));
    assert_non_null(strstr(w.err.message, "web identity"));
    assert_non_null(strstr(w.err.message, "container (127.0.0.1): HTTP 503"));
    assert_non_null(strstr(w.err.message, "instance metadata"));
    assert_no_secret(w.err.message);
    cmx_aws_credentials_free(c);
    /* nothing applies at all: a config error at creation */
    isolate_from_the_machine();
    cmx_error err;
    assert_null(cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
}

static void keys_are_refreshed_five_minutes_before_expiry_and_waited_for_after(void **state)
{
    fixture *f = *state;
    use_container(f);
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIACONT-1");
    /* 54 minutes on: still the cached keys, nothing fetched */
    f->bench.clock.now_us += 3240ull * 1000000;
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "ASIACONT-1");
    cmx_run_for(f->bench.base, 20);
    assert_int_equal(f->ep.container_hits, 1);
    /* 56 minutes on (less than 5 left): the old keys serve while new ones come */
    f->bench.clock.now_us += 120ull * 1000000;
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "ASIACONT-1");
    cmx_run_for(f->bench.base, 20);
    assert_int_equal(f->ep.container_hits, 2);
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "ASIACONT-2");
    /* past the new keys' expiry, a request waits for a fetch */
    f->bench.clock.now_us += 3700ull * 1000000;
    assert_int_equal(get_keys(f, c, &w), CMX_PENDING);
    assert_string_equal(w.key_id, "ASIACONT-3");
    assert_int_equal(cmx_aws_credentials_fetches(c), 3);
    cmx_aws_credentials_free(c);
}

static void invalidated_keys_are_fetched_again_but_a_stale_invalidate_is_ignored(void **state)
{
    fixture *f = *state;
    use_container(f);
    waiter w;
    cmx_aws_credentials *c = make_and_fetch(f, &w);
    assert_string_equal(w.key_id, "ASIACONT-1");
    cmx_aws_credentials_invalidate(c, "ASIACONT-0"); /* not the cached one */
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    cmx_aws_credentials_invalidate(c, "ASIACONT-1");
    assert_int_equal(get_keys(f, c, &w), CMX_PENDING);
    assert_string_equal(w.key_id, "ASIACONT-2");
    cmx_aws_credentials_free(c);
    /* static keys are what they are: nothing to fetch instead */
    f->settings.access_key_id = "AKIDSTATIC";
    f->settings.secret_access_key = "static-secret";
    c = make(f);
    cmx_aws_credentials_invalidate(c, "AKIDSTATIC");
    assert_int_equal(get_keys(f, c, &w), CMX_READY);
    assert_string_equal(w.key_id, "AKIDSTATIC");
    cmx_aws_credentials_free(c);
}

static void container_full_uri_over_plain_http_must_be_local(void **state)
{
    fixture *f = *state;
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com:8080/creds", 1);
    f->settings.credentials = CMX_AWS_CREDS_CONTAINER;
    cmx_error err;
    assert_null(cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "must be https or a loopback"));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://example.com/creds", 1);
    cmx_aws_credentials *c = make(f);
    cmx_aws_credentials_free(c);
    /* a named source without its variables is a config error too */
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    assert_null(cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err));
    assert_int_equal(err.kind, CMX_ERR_CONFIG);
    f->settings.credentials = CMX_AWS_CREDS_WEB_IDENTITY;
    assert_null(cmx_aws_credentials_new(&f->cfg, f->bench.up, &f->bench.clock.clock, &err));
    assert_non_null(strstr(err.message, "AWS_ROLE_ARN"));
}

static void cancelled_waiter_is_not_called_and_free_in_flight_is_clean(void **state)
{
    fixture *f = *state;
    use_container(f);
    cmx_aws_credentials *c = make(f);
    waiter a, b;
    ask_pending(c, &a);
    ask_pending(c, &b);
    cmx_aws_credentials_cancel(c, &a.w);
    cmx_run_until(f->bench.base, &b.calls, 400);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    cmx_aws_credentials_free(c);
    c = make(f);
    ask_pending(c, &a);
    cmx_aws_credentials_cancel(c, &a.w);
    cmx_aws_credentials_free(c); /* with the fetch still in flight */
    cmx_run_for(f->bench.base, 20);
    assert_int_equal(a.calls, 0);
}

/* ---- config ---------------------------------------------------------- */

#define NAME "aws.yaml"
#define BEDROCK_B "providers:\n  b:\n    type: bedrock\n    region: us-east-1\n"

static void credentials_and_profile_keys_are_read_and_checked(void **state)
{
    (void)state;
    unset_aws_vars();
    cmx_config *c =
        cmx_test_config_ok(BEDROCK_B "    credentials: container\n    profile: dev\n", NAME);
    const cmx_provider_config *p = cmx_config_find_provider(c, "b");
    assert_int_equal(cmx_bedrock_settings_of(p)->credentials, CMX_AWS_CREDS_CONTAINER);
    assert_string_equal(cmx_bedrock_settings_of(p)->profile, "dev");
    assert_null(cmx_bedrock_settings_of(p)->access_key_id);
    cmx_config_unref(c);
    /* auto with nothing static loads: the chain settles it at first use */
    c = cmx_test_config_ok(BEDROCK_B, NAME);
    assert_int_equal(cmx_bedrock_settings_of(cmx_config_find_provider(c, "b"))->credentials,
                     CMX_AWS_CREDS_AUTO);
    cmx_config_unref(c);
    cmx_config_diag d;
    cmx_test_config_refused(BEDROCK_B "    credentials: sometimes\n", NAME, CMX_TEST_ANY_LINE,
                            "providers.b.credentials: expected auto, static, environment", &d);
    cmx_config_diag_free(&d);
    setenv("CMX_TEST_AWS_SECRET", "k-SECRET", 1);
    cmx_test_config_refused(BEDROCK_B "    credentials: instance\n    access_key_id: AKID\n"
                                      "    secret_access_key: env:CMX_TEST_AWS_SECRET\n",
                            NAME, CMX_TEST_ANY_LINE, "credentials is 'instance'", &d);
    cmx_test_diag_hides(&d, "k-SECRET");
    cmx_config_diag_free(&d);
    unsetenv("CMX_TEST_AWS_SECRET");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(container_endpoint_is_asked_once_with_its_token_for_queued_requests),
        T(container_token_file_is_read_at_each_fetch),
        T(imdsv2_puts_for_a_token_then_reads_the_role_and_its_keys_with_it),
        T(imds_refusing_the_token_put_is_an_error_naming_instance_metadata),
        T(emulated_imds_refuses_a_get_without_the_token),
        T(web_identity_posts_the_role_and_the_token_file_to_sts),
        T(sts_refusal_names_its_code_and_never_the_token),
        T(profile_keys_come_from_the_credentials_file_over_the_config_file),
        T(profile_with_role_arn_and_token_file_assumes_the_role),
        T(static_keys_win_over_every_other_source),
        T(chain_goes_web_identity_then_profile_then_container_then_imds),
        T(every_source_failing_is_provider_auth_naming_each_without_secrets),
        T(keys_are_refreshed_five_minutes_before_expiry_and_waited_for_after),
        T(invalidated_keys_are_fetched_again_but_a_stale_invalidate_is_ignored),
        T(container_full_uri_over_plain_http_must_be_local),
        T(cancelled_waiter_is_not_called_and_free_in_flight_is_clean),
        cmocka_unit_test(credentials_and_profile_keys_are_read_and_checked),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
