/* google_auth.c — the access-token cache of one Google provider on one
 * worker, backed by the process's one cache of the credential
 * (credential_share.h): one fetch in flight per process, whichever worker
 * asked first, and waiters on every worker queued behind it.
 *
 * A token is used until it expires, but a new one is fetched once the old
 * one is within REFRESH_MARGIN of its end, in the background: the request
 * that notices takes the still-valid token and goes on.  Only when no valid
 * token exists do requests wait, in this worker's queue, served in order
 * when the fetch answers (or failed, each with a provider_auth error saying
 * why; for FAILURE_HOLD after a failure, requests fail the same way instead
 * of hammering the endpoint).  A queue node belongs to its request; a
 * request that goes away takes its node out first, so the queue never
 * points into freed memory (token_queue.c, shared with azure_auth.c). */
#include "google_auth.h"

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "providers/credential_share.h"
#include "core/wipe.h"

#define REFRESH_MARGIN_S 300
#define FAILURE_HOLD_US 1000000ull
#define MAX_TOKEN_BODY (64u << 10)
#define METADATA_TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"

struct cmx_google_auth {
    char *provider_name;
    int use_metadata;
    cmx_google_service_account sa;
    cmx_url origin; /* token_uri's or the metadata server's */
    char *path;
    int tls_verify;
    int http2;
    char *ca_file;
    uint32_t connect_ms, total_ms;
    cmx_upstream *up;
    struct event_base *base;

    cmx_credential_local shared; /* the token, shared with the other workers */
    cmx_upstream_call *fetch;    /* this worker's, in flight, or NULL */
    int status;
    cmx_buf body;
    cmx_token_queue waiters;
    uint64_t fetches;
};

static void on_news(void *ctx);
static void serve_queue(cmx_google_auth *a);

static void wipe(cmx_buf *b)
{
    cmx_wipe(b->data, b->cap);
    cmx_buf_free(b);
}

cmx_err cmx_google_auth_new(const cmx_google_auth_settings *s, struct event_base *base,
                            cmx_upstream *up, cmx_google_auth **out, cmx_error *err)
{
    cmx_google_auth *a = calloc(1, sizeof *a);
    if (!a)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    cmx_buf_init_secret(&a->body);
    a->provider_name = strdup(s->provider_name ? s->provider_name : "google");
    a->tls_verify = s->tls_verify;
    a->http2 = s->http2;
    a->ca_file = s->ca_file ? strdup(s->ca_file) : NULL;
    a->connect_ms = s->connect_ms ? s->connect_ms : 5000;
    a->total_ms = s->total_ms ? s->total_ms : 30000;
    a->up = up;
    a->base = base;
    cmx_error why;
    cmx_error_clear(&why);
    cmx_err rc = CMX_OK;
    if (s->service_account_file) {
        FILE *f = fopen(s->service_account_file, "rb");
        cmx_buf json = CMX_BUF_INIT;
        if (!f) {
            rc = cmx_error_set(err, CMX_ERR_CONFIG,
                               "provider '%s': cannot read service_account_file '%.120s'",
                               a->provider_name, s->service_account_file);
        } else {
            char tmp[4096];
            size_t n;
            while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && json.len < (1u << 20))
                cmx_buf_append(&json, tmp, n);
            cmx_wipe(tmp, sizeof tmp);
            fclose(f);
            if (cmx_google_service_account_parse(json.data ? json.data : "", json.len, &a->sa,
                                                 &why) != CMX_OK ||
                cmx_url_parse(a->sa.token_uri, &a->origin, &why) != CMX_OK)
                rc = cmx_error_set(err, CMX_ERR_CONFIG,
                                   "provider '%s': service_account_file '%.120s': %s",
                                   a->provider_name, s->service_account_file, why.message);
            wipe(&json);
        }
        if (rc == CMX_OK) {
            /* Sign once now: a key OpenSSL cannot use is a startup error. */
            cmx_buf probe = CMX_BUF_INIT;
            if (cmx_google_jwt_assertion(&a->sa, CMX_GOOGLE_SCOPE_CLOUD_PLATFORM, 0, &probe,
                                         &why) != CMX_OK)
                rc = cmx_error_set(err, CMX_ERR_CONFIG,
                                   "provider '%s': service_account_file '%.120s': %s",
                                   a->provider_name, s->service_account_file, why.message);
            cmx_buf_free(&probe);
        }
        if (rc == CMX_OK) {
            /* The URL's path is the whole path here; the query (rare) stays in it. */
            a->path = strdup(a->origin.path[0] ? a->origin.path : "/");
        }
    } else {
        a->use_metadata = 1;
        if (cmx_url_parse(s->metadata_url ? s->metadata_url : "http://metadata.google.internal",
                          &a->origin, &why) != CMX_OK)
            rc = cmx_error_set(err, CMX_ERR_CONFIG, "provider '%s': metadata_url: %s",
                               a->provider_name, why.message);
        else {
            size_t n = strlen(a->origin.path) + sizeof METADATA_TOKEN_PATH;
            a->path = malloc(n);
            if (a->path)
                snprintf(a->path, n, "%s%s", a->origin.path, METADATA_TOKEN_PATH);
        }
    }
    if (rc == CMX_OK && (!a->provider_name || !a->path))
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (rc == CMX_OK) {
        /* Every provider and worker with the same account shares one token. */
        cmx_buf material = CMX_BUF_INIT;
        if (a->use_metadata)
            cmx_buf_printf(&material, "metadata %s://%s:%d%s", a->origin.tls ? "https" : "http",
                           a->origin.host, a->origin.port, a->path);
        else
            cmx_buf_printf(&material, "service account %s %s %s %s", a->sa.client_email,
                           a->sa.token_uri, a->sa.private_key_id ? a->sa.private_key_id : "",
                           a->sa.private_key);
        rc = cmx_credential_local_join(&a->shared, "google ", &material, base, on_news, a, err);
    }
    if (rc != CMX_OK) {
        cmx_google_auth_free(a);
        return rc;
    }
    *out = a;
    return CMX_OK;
}

void cmx_google_auth_free(cmx_google_auth *a)
{
    if (!a)
        return;
    if (a->fetch)
        cmx_upstream_cancel(a->fetch);
    cmx_credential_local_release(&a->shared);
    cmx_google_service_account_free(&a->sa);
    wipe(&a->body);
    free(a->provider_name);
    free(a->ca_file);
    free(a->path);
    free(a);
}

void cmx_google_auth_invalidate(cmx_google_auth *a)
{
    if (a->shared.has_value)
        cmx_credential_local_invalidate(&a->shared, a->shared.value.data, a->shared.value.len);
}

uint64_t cmx_google_auth_fetches(const cmx_google_auth *a)
{
    return a->fetches;
}

void cmx_google_auth_cancel(cmx_google_auth *a, cmx_google_token_wait *w)
{
    if (w)
        cmx_token_queue_remove(&a->waiters, &w->link);
}

/* Serves the queue one waiter at a time, each taken out before its callback
 * runs: a callback may end its request, or cancel or add other waiters. */
static void serve_waiters(cmx_google_auth *a, const cmx_error *err)
{
    cmx_token_queue_link *l;
    while ((l = cmx_token_queue_pop(&a->waiters))) {
        cmx_google_token_wait *w =
            (cmx_google_token_wait *)((char *)l - offsetof(cmx_google_token_wait, link));
        if (err)
            w->done(w->ctx, NULL, err);
        else
            w->done(w->ctx, a->shared.value.data, NULL);
    }
}

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    (void)headers, (void)n;
    ((cmx_google_auth *)ctx)->status = status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    cmx_google_auth *a = ctx;
    if (a->body.len + len <= MAX_TOKEN_BODY)
        cmx_buf_append(&a->body, data, len);
}

/* Google's token errors are {"error":"invalid_grant","error_description":...};
 * neither field holds the key. */
static void describe_failure(cmx_google_auth *a, cmx_error *err)
{
    json_t *root = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(e);
    const char *desc = json_string_value(json_object_get(root, "error_description"));
    if (!code && json_is_object(e)) /* the metadata server and Google APIs nest it */
        desc = json_string_value(json_object_get(e, "message"));
    cmx_error_set(err, CMX_ERR_PROVIDER_AUTH, "provider '%s': the %s answered %d%s%.60s%s%.120s",
                  a->provider_name, a->use_metadata ? "metadata server" : "token endpoint",
                  a->status, code || desc ? ": " : "", code ? code : "", code && desc ? ": " : "",
                  desc ? desc : "");
    err->upstream_status = a->status;
    err->cause = CMX_CAUSE_HTTP_STATUS;
    json_decref(root);
}

static void on_complete(void *ctx, const cmx_error *uerr)
{
    cmx_google_auth *a = ctx;
    a->fetch = NULL;
    cmx_error err;
    cmx_error_clear(&err);
    if (uerr && uerr->kind != CMX_OK) {
        cmx_error_set(&err, CMX_ERR_PROVIDER_AUTH,
                      "provider '%s': fetching an access token from the %s failed: %.150s",
                      a->provider_name, a->use_metadata ? "metadata server" : "token endpoint",
                      uerr->message);
        err.cause = uerr->cause;
    } else if (a->status < 200 || a->status >= 300) {
        describe_failure(a, &err);
    } else {
        cmx_buf fresh = CMX_BUF_INIT;
        int64_t expires_in = 0;
        cmx_error why;
        if (cmx_google_token_response_parse(a->body.data ? a->body.data : "", a->body.len, &fresh,
                                            &expires_in, &why) != CMX_OK) {
            cmx_error_set(&err, CMX_ERR_PROVIDER_AUTH, "provider '%s': %s", a->provider_name,
                          why.message);
        } else {
            uint64_t now = cmx_now_us();
            uint64_t life_us = (uint64_t)expires_in * 1000000u;
            uint64_t margin_us = life_us / 2 < (uint64_t)REFRESH_MARGIN_S * 1000000u
                                     ? life_us / 2
                                     : (uint64_t)REFRESH_MARGIN_S * 1000000u;
            cmx_credential_local_publish(&a->shared, fresh.data, fresh.len, now + life_us,
                                         now + life_us - margin_us);
        }
        wipe(&fresh);
    }
    wipe(&a->body);
    if (err.kind != CMX_OK)
        cmx_credential_local_publish_failure(&a->shared, &err, cmx_now_us() + FAILURE_HOLD_US);
    serve_queue(a);
}

static const cmx_upstream_callbacks fetch_callbacks = {on_head, on_body, on_complete};

static int start_fetch(cmx_google_auth *a, cmx_error *err)
{
    cmx_buf body = CMX_BUF_INIT;
    const char *headers;
    if (a->use_metadata) {
        headers = "Metadata-Flavor: Google\r\nUser-Agent: cloudmux\r\n";
    } else {
        headers = "Content-Type: application/x-www-form-urlencoded\r\nUser-Agent: cloudmux\r\n";
        cmx_buf_append_str(&body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-"
                                  "bearer&assertion=");
        /* base64url and dots need no form escaping */
        if (cmx_google_jwt_assertion(&a->sa, CMX_GOOGLE_SCOPE_CLOUD_PLATFORM, (int64_t)time(NULL),
                                     &body, err) != CMX_OK) {
            cmx_buf_free(&body);
            err->kind = CMX_ERR_PROVIDER_AUTH;
            return -1;
        }
    }
    cmx_upstream_request req = {
        .origin = &a->origin,
        .tls_verify = a->tls_verify,
        .http2 = a->http2,
        .ca_file = a->ca_file,
        .method = a->use_metadata ? "GET" : "POST",
        .path = a->path,
        .headers = headers,
        .headers_len = strlen(headers),
        .body = body.data,
        .body_len = body.len,
        .timeouts = {a->connect_ms, a->total_ms, a->total_ms, a->total_ms},
    };
    a->status = 0;
    a->fetch = cmx_upstream_send(a->up, &req, &fetch_callbacks, a);
    cmx_buf_free(&body);
    if (!a->fetch) {
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
static int settle(cmx_google_auth *a, cmx_error *err)
{
    return cmx_credential_local_settle(&a->shared, cmx_now_us(), start_fetch_cb, a, err);
}

/* Serves this worker's queue when the token's state may have changed: a
 * fetch ended here, or another worker's did (on_news). */
static void serve_queue(cmx_google_auth *a)
{
    if (!a->waiters.head)
        return;
    cmx_error err;
    cmx_error_clear(&err);
    int r = settle(a, &err);
    if (r != 0)
        serve_waiters(a, r > 0 ? NULL : &err);
}

static void on_news(void *ctx)
{
    serve_queue(ctx);
}

cmx_progress cmx_google_auth_token(cmx_google_auth *a, cmx_google_token_wait *w,
                                   const char **token_out, cmx_error *err)
{
    int settled = settle(a, err); /* before reading the token it may have replaced */
    return cmx_token_queue_answer(settled, a->shared.value.data, token_out, &a->waiters, &w->link);
}
