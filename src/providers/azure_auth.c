/* azure_auth.c — Entra ID tokens for the azure provider: client credentials,
 * managed identity and workload identity, fetched asynchronously, cached and
 * refreshed early.
 *
 * The request to the token endpoint is built once at creation (its form body
 * holds the client secret and is wiped on free); each fetch only replays it.
 * Workload identity is the exception: its client assertion is the projected
 * service-account token, which the kubelet rotates, so the file is read again
 * and the body rebuilt (and wiped after) at every fetch.
 * The token itself is the process's (credential_share.h): whichever worker
 * needs it first fetches it, the other workers' requests wait for that one
 * fetch, and every worker uses the same token until it is refreshed.
 * Waiters form an intrusive list in the requests' own memory, so queueing
 * costs no allocation and a cancelled request simply unlinks itself
 * (token_queue.c, shared with google_auth.c). */
#include "azure_auth.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/url_encode.h"
#include "core/wipe.h"
#include "providers/azure_config.h"
#include "providers/credential_share.h"

#define MAX_TOKEN_RESPONSE (64u << 10)
#define FAILURE_HOLD_US 1000000ull /* after a failed fetch, fail fast this long */
#define DEFAULT_RESOURCE "https://cognitiveservices.azure.com"
#define MAX_ASSERTION_BYTES (16u << 10)
#define JWT_BEARER_ASSERTION "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

struct cmx_azure_auth {
    const cmx_provider_config *cfg;
    cmx_upstream *up;
    const cmx_clock *clock;
    const char *flow; /* for messages */
    cmx_url origin;
    char *method;
    char *path;
    char *headers;
    size_t headers_len;
    char *body; /* form body with the secret, or NULL */
    size_t body_len;
    char *assertion_form;        /* workload identity: the body without its assertion */
    cmx_credential_local shared; /* the token, shared with the other workers */
    cmx_upstream_call *call;     /* this worker's fetch in flight */
    int status;
    cmx_buf resp;
    cmx_token_queue waiters;
    unsigned long fetches;
};

static void wipe_free(char *s, size_t len)
{
    cmx_free_wiped(s, len);
}

/* POST {authority}/{tenant}/oauth2/v2.0/token, form-encoded: the path, and
 * the form up to how the client proves itself, which the caller appends. */
static cmx_err build_token_request(cmx_azure_auth *a, const char *flow, cmx_buf *form,
                                   cmx_error *err)
{
    const cmx_azure_settings *az = cmx_azure_settings_of(a->cfg);
    a->flow = flow;
    if (cmx_url_parse(az->authority, &a->origin, err) != CMX_OK)
        return err->kind;
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p, "%s/", a->origin.path);
    cmx_url_encode_str(&p, az->tenant_id);
    cmx_buf_append_str(&p, "/oauth2/v2.0/token");
    if (cmx_buf_failed(&p)) {
        cmx_buf_free(&p);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    cmx_buf_append_str(form, "grant_type=client_credentials&client_id=");
    cmx_url_encode_str(form, az->client_id);
    cmx_buf_append_str(form, "&scope=");
    cmx_url_encode_str(form, az->scope ? az->scope : DEFAULT_RESOURCE "/.default");
    a->path = p.data;
    a->method = strdup("POST");
    a->headers = strdup("Content-Type: application/x-www-form-urlencoded\r\n"
                        "Accept: application/json\r\nUser-Agent: cloudmux\r\n");
    if (!a->path || !a->method || !a->headers)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

static cmx_err build_client_secret(cmx_azure_auth *a, cmx_error *err)
{
    const cmx_azure_settings *az = cmx_azure_settings_of(a->cfg);
    cmx_buf b;
    cmx_buf_init_secret(&b); /* the client secret goes in */
    cmx_err rc = build_token_request(a, "client credentials", &b, err);
    cmx_buf_append_str(&b, "&client_secret=");
    cmx_url_encode_str(&b, az->client_secret ? az->client_secret : "");
    if (cmx_buf_failed(&b)) {
        cmx_buf_free(&b);
        return rc == CMX_OK ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory") : rc;
    }
    a->body = b.data;
    a->body_len = b.len;
    return rc;
}

/* The same token request; the body is completed at each fetch with the
 * token file's current contents. */
static cmx_err build_workload_identity(cmx_azure_auth *a, cmx_error *err)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_err rc = build_token_request(a, "workload identity", &b, err);
    cmx_buf_append_str(&b, "&client_assertion_type=");
    cmx_url_encode_str(&b, JWT_BEARER_ASSERTION);
    cmx_buf_append_str(&b, "&client_assertion=");
    if (cmx_buf_failed(&b)) {
        cmx_buf_free(&b);
        return rc == CMX_OK ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory") : rc;
    }
    a->assertion_form = b.data;
    return rc;
}

/* Reads the federated token file (whitespace around it dropped) and makes
 * the body; the kubelet may have replaced the file since the last fetch. */
static cmx_err load_assertion(cmx_azure_auth *a, cmx_error *err)
{
    const char *path = cmx_azure_settings_of(a->cfg)->token_file;
    FILE *f = fopen(path, "re");
    if (!f)
        return cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                             "provider '%s': cannot read the federated token file %s: %s",
                             a->cfg->name, path, strerror(errno));
    char *jwt = malloc(MAX_ASSERTION_BYTES + 1);
    size_t n = jwt ? fread(jwt, 1, MAX_ASSERTION_BYTES + 1, f) : 0;
    fclose(f);
    if (!jwt)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    size_t start = 0;
    while (n > 0 && isspace((unsigned char)jwt[n - 1]))
        n--;
    while (start < n && isspace((unsigned char)jwt[start]))
        start++;
    jwt[n] = '\0';
    cmx_err rc = CMX_OK;
    if (n > MAX_ASSERTION_BYTES || start == n) {
        rc = cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                           "provider '%s': the federated token file %s is %s", a->cfg->name, path,
                           start == n ? "empty" : "larger than 16 KiB");
    } else {
        cmx_buf b;
        cmx_buf_init_secret(&b); /* the assertion goes in */
        cmx_buf_append_str(&b, a->assertion_form);
        cmx_url_encode_str(&b, jwt + start);
        wipe_free(a->body, a->body_len);
        a->body = NULL;
        a->body_len = 0;
        if (cmx_buf_failed(&b)) {
            cmx_buf_free(&b);
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        } else {
            a->body = b.data;
            a->body_len = b.len;
        }
    }
    wipe_free(jwt, MAX_ASSERTION_BYTES + 1);
    return rc;
}

static cmx_err build_managed_identity(cmx_azure_auth *a, cmx_error *err)
{
    const cmx_azure_settings *az = cmx_azure_settings_of(a->cfg);
    a->flow = "managed identity";
    if (cmx_url_parse(az->imds_endpoint, &a->origin, err) != CMX_OK)
        return err->kind;
    /* IMDS speaks resources, not scopes: the scope without "/.default". */
    char resource[512];
    snprintf(resource, sizeof resource, "%s", az->scope ? az->scope : DEFAULT_RESOURCE);
    size_t n = strlen(resource);
    if (n > CMX_LIT_LEN("/.default") && CMX_ENDS_WITH(resource, n, "/.default"))
        resource[n - CMX_LIT_LEN("/.default")] = '\0';
    cmx_buf p = CMX_BUF_INIT;
    cmx_buf_printf(&p,
                   "%s?api-version=2018-02-01&resource=", a->origin.path[0] ? a->origin.path : "/");
    cmx_url_encode_str(&p, resource);
    if (az->client_id) {
        cmx_buf_append_str(&p, "&client_id=");
        cmx_url_encode_str(&p, az->client_id);
    }
    if (cmx_buf_failed(&p)) {
        cmx_buf_free(&p);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    a->path = p.data;
    a->method = strdup("GET");
    a->headers = strdup("Metadata: true\r\nAccept: application/json\r\nUser-Agent: cloudmux\r\n");
    if (!a->path || !a->method || !a->headers)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

static void on_news(void *ctx);

/* The same flow, endpoint and request body (client id and secret included,
 * hashed; for workload identity the body without its assertion) is the same
 * credential: one token for the process. */
static cmx_err join_share(cmx_azure_auth *a, cmx_error *err)
{
    cmx_buf material = CMX_BUF_INIT;
    cmx_buf_printf(&material, "%s %s://%s:%d%s\n", a->method, a->origin.tls ? "https" : "http",
                   a->origin.host, a->origin.port, a->path);
    if (a->body)
        cmx_buf_append(&material, a->body, a->body_len);
    else if (a->assertion_form)
        cmx_buf_append_str(&material, a->assertion_form);
    return cmx_credential_local_join(&a->shared, "azure ", &material, cmx_upstream_base(a->up),
                                     on_news, a, err);
}

cmx_azure_auth *cmx_azure_auth_new(const cmx_provider_config *cfg, cmx_upstream *up,
                                   const cmx_clock *clock, cmx_error *err)
{
    cmx_azure_auth *a = calloc(1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->up = up;
    a->clock = clock ? clock : &cmx_clock_monotonic;
    cmx_err rc;
    switch (cmx_azure_settings_of(cfg)->auth) {
    case CMX_AZURE_AUTH_MANAGED_IDENTITY: rc = build_managed_identity(a, err); break;
    case CMX_AZURE_AUTH_WORKLOAD_IDENTITY: rc = build_workload_identity(a, err); break;
    default: rc = build_client_secret(a, err); break;
    }
    if (rc == CMX_OK)
        rc = join_share(a, err);
    if (rc != CMX_OK) {
        cmx_azure_auth_free(a);
        return NULL;
    }
    a->headers_len = strlen(a->headers);
    return a;
}

void cmx_azure_auth_free(cmx_azure_auth *a)
{
    if (!a)
        return;
    if (a->call)
        cmx_upstream_cancel(a->call);
    cmx_credential_local_release(&a->shared);
    cmx_buf_free(&a->resp);
    wipe_free(a->body, a->body_len);
    free(a->assertion_form);
    free(a->path);
    free(a->method);
    free(a->headers);
    free(a);
}

unsigned long cmx_azure_auth_fetches(const cmx_azure_auth *a)
{
    return a->fetches;
}

void cmx_azure_auth_invalidate(cmx_azure_auth *a, const char *token)
{
    if (token)
        cmx_credential_local_invalidate(&a->shared, token, strlen(token));
}

void cmx_azure_auth_cancel(cmx_azure_auth *a, cmx_azure_token_waiter *w)
{
    cmx_token_queue_remove(&a->waiters, &w->link);
}

/* Hands the outcome to every queued waiter, one at a time from the head, so
 * a waiter cancelled by another's callback is simply no longer there. */
static void wake_all(cmx_azure_auth *a, const char *token, const cmx_error *err)
{
    cmx_token_queue_link *l;
    while ((l = cmx_token_queue_pop(&a->waiters))) {
        cmx_azure_token_waiter *w =
            (cmx_azure_token_waiter *)((char *)l - offsetof(cmx_azure_token_waiter, link));
        w->on_token(w->ctx, token, err);
    }
}

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    (void)headers;
    (void)n;
    cmx_azure_auth *a = ctx;
    a->status = status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    cmx_azure_auth *a = ctx;
    if (a->resp.len + len <= MAX_TOKEN_RESPONSE)
        cmx_buf_append(&a->resp, data, len);
}

/* A JSON number or a numeric string (IMDS sends "3599"); -1 if neither. */
static double json_seconds(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        char *end;
        double x = strtod(json_string_value(v), &end);
        return end != json_string_value(v) && *end == '\0' ? x : -1;
    }
    return -1;
}

static int header_safe(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* Reads the token out of a 200; 0 on success, else err is set. */
static int take_token(cmx_azure_auth *a, cmx_error *err)
{
    json_t *root = json_loadb(a->resp.data ? a->resp.data : "", a->resp.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    double secs = json_seconds(json_object_get(root, "expires_in"));
    if (!tok || !header_safe(tok) || secs <= 0) {
        json_decref(root);
        cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                      "provider '%s': the %s token endpoint (%s) answered 200 without a usable "
                      "access_token and expires_in",
                      a->cfg->name, a->flow, a->origin.host);
        return -1;
    }
    uint64_t now = cmx_clock_now_us(a->clock);
    uint64_t life = (uint64_t)(secs * 1e6);
    uint64_t early = life / 5; /* refresh at 80% ... */
    if (early < 300000000ull && life > 600000000ull)
        early = 300000000ull; /* ... or 5 minutes before expiry, whichever is earlier */
    cmx_credential_local_publish(&a->shared, tok, strlen(tok), now + life, now + life - early);
    json_decref(root);
    return 0;
}

/* Explains a failed fetch by the endpoint's error code and description. */
static void describe_failure(cmx_azure_auth *a, cmx_error *err)
{
    json_t *root = json_loadb(a->resp.data ? a->resp.data : "", a->resp.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(e);
    const char *desc = json_string_value(json_object_get(root, "error_description"));
    if (!code && json_is_object(e)) { /* IMDS and some proxies nest it */
        code = json_string_value(json_object_get(e, "code"));
        desc = json_string_value(json_object_get(e, "message"));
    }
    cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                  "provider '%s': the %s token endpoint (%s) answered HTTP %d%s%.40s%s%.160s",
                  a->cfg->name, a->flow, a->origin.host, a->status, code ? ": " : "",
                  code ? code : "", desc ? ": " : "", desc ? desc : "");
    json_decref(root);
    err->upstream_status = a->status;
    err->cause = CMX_CAUSE_HTTP_STATUS;
}

static void serve_queue(cmx_azure_auth *a);

static void on_complete(void *ctx, const cmx_error *uerr)
{
    cmx_azure_auth *a = ctx;
    a->call = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        cmx_error_set(&err, CMX_ERR_PROVIDER_AUTH,
                      "provider '%s': cannot reach the %s token endpoint (%s): %.160s",
                      a->cfg->name, a->flow, a->origin.host, uerr->message);
        err.cause = uerr->cause;
    } else if (a->status != 200) {
        describe_failure(a, &err);
    } else {
        take_token(a, &err);
    }
    cmx_buf_free(&a->resp);
    /* A background refresh that failed leaves the current token in use. */
    if (err.kind != CMX_OK)
        cmx_credential_local_publish_failure(&a->shared, &err,
                                             cmx_clock_now_us(a->clock) + FAILURE_HOLD_US);
    serve_queue(a);
}

static const cmx_upstream_callbacks token_callbacks = {on_head, on_body, on_complete};

static int start_fetch(cmx_azure_auth *a, cmx_error *err)
{
    const cmx_timeouts_config *t = &a->cfg->timeouts;
    if (a->assertion_form && load_assertion(a, err) != CMX_OK)
        return -1;
    cmx_upstream_request req = {
        .origin = &a->origin,
        .tls_verify = a->cfg->tls_verify,
        .http2 = cmx_http2_for_side_requests(a->cfg->http2),
        .ca_file = a->cfg->ca_file,
        .method = a->method,
        .path = a->path,
        .headers = a->headers,
        .headers_len = a->headers_len,
        .body = a->body,
        .body_len = a->body_len,
        .timeouts = {t->connect_ms, 30000, 30000, 60000},
    };
    a->status = 0;
    cmx_buf_reset(&a->resp);
    a->call = cmx_upstream_send(a->up, &req, &token_callbacks, a);
    if (a->assertion_form) { /* the client copied it; keep no assertion around */
        wipe_free(a->body, a->body_len);
        a->body = NULL;
        a->body_len = 0;
    }
    if (!a->call) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return -1;
    }
    a->fetches++;
    return 0;
}

static int start_fetch_cb(void *ctx, cmx_error *err)
{
    return start_fetch(ctx, err);
}

/* 1 a token is in a->shared.value, 0 this worker's requests wait (its own
 * fetch or another worker's), -1 err says why there is none. */
static int settle(cmx_azure_auth *a, cmx_error *err)
{
    return cmx_credential_local_settle(&a->shared, cmx_clock_now_us(a->clock), start_fetch_cb, a,
                                       err);
}

/* A fetch ended here or on another worker: the queue learns the outcome. */
static void serve_queue(cmx_azure_auth *a)
{
    if (!a->waiters.head)
        return;
    cmx_error err;
    cmx_error_clear(&err);
    int r = settle(a, &err);
    if (r != 0)
        wake_all(a, r > 0 ? a->shared.value.data : NULL, r > 0 ? NULL : &err);
}

static void on_news(void *ctx)
{
    serve_queue(ctx);
}

cmx_progress cmx_azure_auth_token(cmx_azure_auth *a, cmx_azure_token_waiter *w, const char **token,
                                  cmx_error *err)
{
    int settled = settle(a, err); /* before reading the token it may have replaced */
    return cmx_token_queue_answer(settled, a->shared.value.data, token, &a->waiters, &w->link);
}
