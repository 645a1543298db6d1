/* aws_credentials.h — where the bedrock provider's AWS keys come from: the
 * SDKs' standard credential chain.
 *
 * In `auto` mode (the default) the sources are tried in the SDKs' order:
 *   1. static keys in the config, 2. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 *   (+ AWS_SESSION_TOKEN) — both read by the config loader;
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN through STS
 *   AssumeRoleWithWebIdentity (EKS IRSA);
 *   4. the shared files (~/.aws/credentials, ~/.aws/config, or
 *   AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE), profile from the config,
 *   AWS_PROFILE or "default": static keys, or role_arn +
 *   web_identity_token_file;
 *   5. the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or
 *   _RELATIVE_URI, ECS and EKS Pod Identity);
 *   6. instance metadata, IMDSv2 (unless AWS_EC2_METADATA_DISABLED=true).
 * A named mode uses that source alone.
 *
 * Static sources are settled at creation.  The others are fetched at first
 * use on the worker's event loop with the worker's upstream client, like
 * azure_auth.h: one fetch in flight per process, requests on every worker
 * queued meanwhile, the answer cached once per process (credential_share.h)
 * and refreshed in the background 5 minutes before its Expiration
 * (or at 80% of a shorter lifetime).  The source that answered first is the
 * one asked again at refresh.  When every source fails, the queued requests
 * fail with CMX_ERR_PROVIDER_AUTH and a message naming each source and why
 * it failed, never a secret; for a second after, requests fail the same way.
 *
 * All functions run on the worker's thread. */
#ifndef CMX_PROVIDERS_AWS_CREDENTIALS_H
#define CMX_PROVIDERS_AWS_CREDENTIALS_H

#include "config/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "http/upstream.h"
#include "providers/sigv4.h"

/* The values of cmx_provider_config.aws_credentials (`credentials:`). */
typedef enum cmx_aws_credentials_mode {
    CMX_AWS_CREDS_AUTO = 0,
    CMX_AWS_CREDS_STATIC,
    CMX_AWS_CREDS_ENVIRONMENT,
    CMX_AWS_CREDS_WEB_IDENTITY,
    CMX_AWS_CREDS_PROFILE,
    CMX_AWS_CREDS_CONTAINER,
    CMX_AWS_CREDS_INSTANCE,
} cmx_aws_credentials_mode;

typedef struct cmx_aws_credentials cmx_aws_credentials;

/* A request waiting for credentials; lives in the request's memory. */
typedef struct cmx_aws_credentials_waiter {
    struct cmx_aws_credentials_waiter *prev, *next;
    /* Runs once: creds (valid during the call) or err. */
    void (*on_credentials)(void *ctx, const cmx_sigv4_credentials *creds, const cmx_error *err);
    void *ctx;
    int queued;
} cmx_aws_credentials_waiter;

/* Builds the chain for a bedrock provider from its config and the
 * environment (read now).  CMX_ERR_CONFIG when the chosen mode has nothing
 * to work with (credentials: container without its variables ...).
 * `clock` may be NULL (the monotonic clock); tests pass their own. */
cmx_aws_credentials *cmx_aws_credentials_new(const cmx_provider_config *cfg, cmx_upstream *up,
                                             const cmx_clock *clock, cmx_error *err);
/* Cancels a fetch in flight and wipes the keys; no waiter may be queued. */
void cmx_aws_credentials_free(cmx_aws_credentials *c);

/* CMX_READY: *creds is valid now (until the next call into this module);
 * CMX_PENDING: `w` is queued and its on_credentials runs later (never
 *    before this returns);
 * CMX_FAILED: err is set (a recent fetch failed, or out of memory). */
cmx_progress cmx_aws_credentials_get(cmx_aws_credentials *c, cmx_aws_credentials_waiter *w,
                                     const cmx_sigv4_credentials **creds, cmx_error *err);
/* Takes a queued waiter off the queue; its on_credentials will not run. */
void cmx_aws_credentials_cancel(cmx_aws_credentials *c, cmx_aws_credentials_waiter *w);

/* Forgets the cached keys if they are still those of `access_key_id` (AWS
 * answered that the token expired or the key is unknown: revoked, or
 * rotated early), so the next request fetches anew.  Static keys stay. */
void cmx_aws_credentials_invalidate(cmx_aws_credentials *c, const char *access_key_id);

/* The source in use or last tried: "static", "environment", "web identity",
 * "profile", "container", "instance metadata" (for messages and tests). */
const char *cmx_aws_credentials_source(const cmx_aws_credentials *c);
/* Fetches (HTTP exchanges with a credentials endpoint) started so far. */
unsigned long cmx_aws_credentials_fetches(const cmx_aws_credentials *c);

#endif
