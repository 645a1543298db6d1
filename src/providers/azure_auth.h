/* azure_auth.h — Microsoft Entra ID access tokens for the azure provider.
 *
 * Two flows: client credentials (POST {authority}/{tenant}/oauth2/v2.0/token,
 * form-encoded) and managed identity (GET on the instance metadata endpoint
 * with `Metadata: true`).  Tokens are fetched on a worker's event loop with
 * the worker's upstream client, never blocking it, and cached once per
 * process (credential_share.h): every worker, and every provider with the
 * same credential, uses one token, and one fetch is in flight at a time.
 *
 * A request that finds no valid token is queued on its worker until the
 * fetch ends (on whichever worker it runs).  A token past its refresh point
 * (80% of its lifetime, or 5 minutes before expiry if that is earlier) is
 * still used while a new one is fetched in the background.  A failed fetch fails the
 * queued requests with CMX_ERR_PROVIDER_AUTH and a message naming the token
 * endpoint and its error code, never the secret; for one second after, new
 * requests fail the same way instead of hammering the endpoint.
 *
 * All functions run on the worker's thread. */
#ifndef CMX_PROVIDERS_AZURE_AUTH_H
#define CMX_PROVIDERS_AZURE_AUTH_H

#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "http/upstream.h"
#include "providers/token_queue.h"

typedef struct cmx_azure_auth cmx_azure_auth;

/* A request waiting for a token; lives in the request's memory. */
typedef struct cmx_azure_token_waiter {
    cmx_token_queue_link link; /* the cache's own */
    /* Runs once: token (valid during the call) or err. */
    void (*on_token)(void *ctx, const char *token, const cmx_error *err);
    void *ctx;
    int queued;
} cmx_azure_token_waiter;

/* For a provider whose auth (cmx_azure_settings_of) is client secret,
 * managed identity or workload identity.  `clock` may be NULL (the monotonic clock); tests pass
 * their own. */
cmx_azure_auth *cmx_azure_auth_new(const cmx_provider_config *cfg, cmx_upstream *up,
                                   const cmx_clock *clock, cmx_error *err);
/* Cancels a fetch in flight; no waiter may be queued any more. */
void cmx_azure_auth_free(cmx_azure_auth *a);

/* CMX_READY: *token is valid now (until the next call into this module);
 * CMX_PENDING: `w` is queued and its on_token runs later (never before this
 *    returns);
 * CMX_FAILED: err is set (a recent fetch failed, or out of memory). */
cmx_progress cmx_azure_auth_token(cmx_azure_auth *a, cmx_azure_token_waiter *w, const char **token,
                                  cmx_error *err);
/* Takes a queued waiter off the queue; its on_token will not run. */
void cmx_azure_auth_cancel(cmx_azure_auth *a, cmx_azure_token_waiter *w);

/* Forgets the cached token if it is still `token` (the resource answered
 * 401 to it: revoked, or the clock skewed), so the next request fetches anew. */
void cmx_azure_auth_invalidate(cmx_azure_auth *a, const char *token);

/* Token fetches this worker started so far (for tests and metrics). */
unsigned long cmx_azure_auth_fetches(const cmx_azure_auth *a);

#endif
