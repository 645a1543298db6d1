/* retry_budget.c — retries capped at a share of recent requests; see
 * retry_budget.h. */
#include "retry_budget.h"

#include <string.h>

cmx_retry_budget_config cmx_retry_budget_config_default(void)
{
    return (cmx_retry_budget_config){.budget_percent = 20, .min_retries = 3, .window_ms = 10000};
}

cmx_err cmx_retry_budget_init(cmx_retry_budget *b, const cmx_retry_budget_config *cfg,
                              cmx_error *err)
{
    if (!cfg->window_ms)
        return cmx_error_set(err, CMX_ERR_CONFIG, "retry budget window_ms must be above 0");
    memset(b, 0, sizeof *b);
    if (pthread_mutex_init(&b->lock, NULL) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "retry budget: cannot create its mutex");
    b->cfg = *cfg;
    cmx_window_init(&b->window, (uint64_t)cfg->window_ms * 1000);
    return CMX_OK;
}

void cmx_retry_budget_destroy(cmx_retry_budget *b)
{
    pthread_mutex_destroy(&b->lock);
}

void cmx_retry_budget_record_request(cmx_retry_budget *b, uint64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    cmx_window_add(&b->window, now_us, 1, 0);
    pthread_mutex_unlock(&b->lock);
}

void cmx_retry_budget_record_retry(cmx_retry_budget *b, uint64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    cmx_window_add(&b->window, now_us, 0, 1);
    pthread_mutex_unlock(&b->lock);
}

/* Under the lock.  The share is computed in integers: retries·100 must stay
 * below percent·requests after this retry, i.e. (retries+1)·100 ≤ p·req. */
static bool has_room(cmx_retry_budget *b, uint64_t now_us)
{
    int64_t t[2];
    cmx_window_totals(&b->window, now_us, t);
    if (t[1] < (int64_t)b->cfg.min_retries)
        return true;
    return (t[1] + 1) * 100 <= t[0] * (int64_t)b->cfg.budget_percent;
}

bool cmx_retry_budget_allow(cmx_retry_budget *b, uint64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    bool ok = has_room(b, now_us);
    pthread_mutex_unlock(&b->lock);
    return ok;
}

bool cmx_retry_budget_acquire(cmx_retry_budget *b, uint64_t now_us)
{
    pthread_mutex_lock(&b->lock);
    bool ok = has_room(b, now_us);
    if (ok)
        cmx_window_add(&b->window, now_us, 0, 1);
    pthread_mutex_unlock(&b->lock);
    return ok;
}
