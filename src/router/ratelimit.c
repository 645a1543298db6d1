/* ratelimit.c — per-deployment rpm/tpm over a sliding minute; see ratelimit.h. */
#include "ratelimit.h"

#include <string.h>

#define MINUTE_US 60000000u

cmx_err cmx_ratelimit_init(cmx_ratelimit *rl, const cmx_ratelimit_config *cfg, cmx_error *err)
{
    memset(rl, 0, sizeof *rl);
    if (pthread_mutex_init(&rl->lock, NULL) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "rate limiter: cannot create its mutex");
    rl->cfg = *cfg;
    cmx_window_init(&rl->window, MINUTE_US);
    return CMX_OK;
}

void cmx_ratelimit_destroy(cmx_ratelimit *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

/* Under the lock.  Token totals can dip below zero for a moment when a
 * settlement lands after its reservation left the window; they count as 0. */
static bool fits(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens)
{
    int64_t t[2];
    cmx_window_totals(&rl->window, now_us, t);
    if (rl->cfg.rpm && t[0] >= (int64_t)rl->cfg.rpm)
        return false;
    if (rl->cfg.tpm) {
        uint64_t used = t[1] > 0 ? (uint64_t)t[1] : 0;
        if (used && used + tokens > rl->cfg.tpm)
            return false;
    }
    return true;
}

bool cmx_ratelimit_has_room(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens)
{
    if (!rl->cfg.rpm && !rl->cfg.tpm)
        return true;
    pthread_mutex_lock(&rl->lock);
    bool ok = fits(rl, now_us, tokens);
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

bool cmx_ratelimit_try_acquire(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens)
{
    pthread_mutex_lock(&rl->lock);
    bool ok = fits(rl, now_us, tokens);
    if (ok)
        cmx_window_add(&rl->window, now_us, 1, (int64_t)tokens);
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void cmx_ratelimit_release(cmx_ratelimit *rl, uint64_t now_us, uint64_t tokens)
{
    pthread_mutex_lock(&rl->lock);
    cmx_window_add(&rl->window, now_us, -1, -(int64_t)tokens);
    pthread_mutex_unlock(&rl->lock);
}

void cmx_ratelimit_adjust_tokens(cmx_ratelimit *rl, uint64_t now_us, int64_t delta)
{
    pthread_mutex_lock(&rl->lock);
    cmx_window_add(&rl->window, now_us, 0, delta);
    pthread_mutex_unlock(&rl->lock);
}

void cmx_ratelimit_usage(cmx_ratelimit *rl, uint64_t now_us, uint64_t *requests, uint64_t *tokens)
{
    int64_t t[2];
    pthread_mutex_lock(&rl->lock);
    cmx_window_totals(&rl->window, now_us, t);
    pthread_mutex_unlock(&rl->lock);
    *requests = t[0] > 0 ? (uint64_t)t[0] : 0;
    *tokens = t[1] > 0 ? (uint64_t)t[1] : 0;
}
