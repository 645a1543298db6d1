/* google_auth.h — OAuth 2.0 access tokens for Google Cloud APIs.
 *
 * Two sources, as Google's own client libraries have them: a service-account
 * key (a JSON file with client_email and a PEM private key), exchanged at its
 * token_uri for an access token through an RS256-signed JWT ("OAuth 2.0 for
 * Server to Server Applications"); or the instance metadata server, which
 * hands out the attached account's token (GCE, GKE workload identity).
 *
 * One cmx_google_auth per provider and worker holds that worker's requests;
 * the token itself is the process's (credential_share.h): one fetch in
 * flight for all workers, and a new one a few minutes before it expires.
 * Requests never fail because a refresh is in flight: while the cached
 * token is still valid they use it, and when there is none they queue until
 * the one fetch in flight answers, whichever worker runs it.
 * The key never leaves this module: no message quotes it, and its memory is
 * wiped when freed.
 *
 * The JWT, the key parsing and the token answer parsing are pure functions,
 * tested on their own (tests/unit/test_google_auth.c). */
#ifndef CMX_PROVIDERS_GOOGLE_AUTH_H
#define CMX_PROVIDERS_GOOGLE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/upstream.h"
#include "providers/token_queue.h"

struct event_base;

#define CMX_GOOGLE_SCOPE_CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"
#define CMX_GOOGLE_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

/* The fields of a service-account key that signing needs (heap strings). */
typedef struct cmx_google_service_account {
    char *client_email;
    char *private_key; /* PEM */
    char *private_key_id;
    char *token_uri; /* default CMX_GOOGLE_DEFAULT_TOKEN_URI */
} cmx_google_service_account;

/* A key file's JSON → its fields; CMX_ERR_CONFIG naming what is missing
 * (never quoting the key). */
cmx_err cmx_google_service_account_parse(const char *json, size_t len,
                                         cmx_google_service_account *out, cmx_error *err);
/* Frees the strings, wiping the private key first. */
void cmx_google_service_account_free(cmx_google_service_account *sa);

/* The signed JWT assertion (header.claims.signature, base64url) for `scope`,
 * issued at `iat` (Unix seconds) and valid for an hour; appended to out. */
cmx_err cmx_google_jwt_assertion(const cmx_google_service_account *sa, const char *scope,
                                 int64_t iat, cmx_buf *out, cmx_error *err);

/* A token endpoint's JSON answer → access_token (appended to token) and
 * expires_in seconds (3600 when absent). */
cmx_err cmx_google_token_response_parse(const char *body, size_t len, cmx_buf *token,
                                        int64_t *expires_in, cmx_error *err);

/* ---- the token cache -------------------------------------------------- */

typedef struct cmx_google_auth_settings {
    const char *provider_name;        /* for messages */
    const char *service_account_file; /* one of these two */
    const char *metadata_url;         /* metadata server origin, used when no file */
    int tls_verify;
    int http2; /* cmx_http2_for_side_requests of the provider's mode: token calls to
                  its own host share its connections */
    const char *ca_file;
    uint32_t connect_ms; /* fetch timeouts */
    uint32_t total_ms;
} cmx_google_auth_settings;

typedef struct cmx_google_auth cmx_google_auth;

/* Reads and checks the key file now, so a bad key is a startup error
 * (CMX_ERR_CONFIG), not one per request. */
cmx_err cmx_google_auth_new(const cmx_google_auth_settings *s, struct event_base *base,
                            cmx_upstream *up, cmx_google_auth **out, cmx_error *err);
/* Cancels a fetch in flight; queued waiters get no callback. */
void cmx_google_auth_free(cmx_google_auth *a);

/* A request waiting for a token; lives in the caller's memory until done
 * runs or it is cancelled.  `token` is valid during the callback only; on
 * failure it is NULL and err says why (CMX_ERR_PROVIDER_AUTH). */
typedef struct cmx_google_token_wait {
    void (*done)(void *ctx, const char *token, const cmx_error *err);
    void *ctx;
    cmx_token_queue_link link; /* the cache's own */
} cmx_google_token_wait;

/* CMX_READY: a valid token is cached, copied into token_out (valid until
 * the next return to the event loop); CMX_PENDING: none yet, `w` is queued
 * and its done will run from the event loop; CMX_FAILED: a fetch could not
 * even start (err set). */
cmx_progress cmx_google_auth_token(cmx_google_auth *a, cmx_google_token_wait *w,
                                   const char **token_out, cmx_error *err);
/* Takes a queued waiter out; no callback will run for it. */
void cmx_google_auth_cancel(cmx_google_auth *a, cmx_google_token_wait *w);

/* The service refused the cached token (HTTP 401): forget it, so the next
 * request fetches a new one instead of failing the same way until expiry. */
void cmx_google_auth_invalidate(cmx_google_auth *a);

/* Token fetches this worker started so far (for tests and metrics). */
uint64_t cmx_google_auth_fetches(const cmx_google_auth *a);

#endif
