/* ratelimit.h — a deployment's own requests-per-minute and tokens-per-minute
 * limits, as the provider enforces them (Azure deployments' RPM/TPM quota,
 * Bedrock's per-model quotas, a self-hosted server's capacity).
 *
 * The router keeps under them itself, so a request goes to a deployment that
 * has room instead of being sent, refused with 429 and failed over.  Counts
 * are over a sliding 60-second window (window.h: 1-second buckets, so an event
 * stops counting between 59 and 60 s after it happened).
 *
 * Tokens are only known after the answer, so a request reserves its expected
 * tokens when it starts (try_acquire) and the difference is settled when the
 * usage is known (adjust_tokens).  A request alone bigger than the whole tpm
 * is let through when the window is empty, otherwise it could never be served.
 *
 * One limiter per deployment, shared by the workers: a pthread mutex guards it
 * (the check and the count must be one step, or two workers could both take
 * the last slot). */
#ifndef CMX_ROUTER_RATELIMIT_H
#define CMX_ROUTER_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/window.h"

typedef struct cmx_ratelimit_config {
    uint32_t rpm; /* requests per minute; 0: unlimited */
    uint64_t tpm; /* tokens per minute; 0: unlimited */
} cmx_ratelimit_config;

typedef struct cmx_ratelimit {
    pthread_mutex_t lock;
    cmx_ratelimit_config cfg;
    cmx_window window; /* [0] requests, [1] tokens */
} cmx_ratelimit;

cmx_err cmx_ratelimit_init(cmx_ratelimit *rl, const cmx_ratelimit_config *cfg, cmx_error *err);
void cmx_ratelimit_destroy(cmx_ratelimit *rl);

/* Would a request expecting `tokens` fit now?  Counts nothing. */
bool cmx_ratelimit_has_room(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens);
/* If it fits, counts the request and reserves its tokens, and says yes. */
bool cmx_ratelimit_try_acquire(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens);
/* Gives back a try_acquire that will not be used (the fleet refused it). */
void cmx_ratelimit_release(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens);
/* Settles a reservation: delta = actual - expected tokens (may be negative). */
void cmx_ratelimit_adjust_tokens(cmx_ratelimit *rl, uint64_t now_us, int64_t delta);

/* For status output: what the window holds now. */
void cmx_ratelimit_usage(cmx_ratelimit *rl, uint64_t now_us, uint64_t *requests, uint64_t *tokens);

#endif
