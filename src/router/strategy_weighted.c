/* strategy_weighted.c — weighted choices: smooth weighted round-robin and
 * weighted random.
 *
 * Smooth weighted round-robin (nginx, ngx_http_upstream_round_robin.c): each
 * deployment carries a current weight.  On every pick each eligible one's
 * current weight grows by its weight, the largest wins, and the winner's
 * current weight drops by the sum of the weights.  Over any cycle of
 * sum(weights) picks each deployment is chosen exactly weight times, and the
 * choices of a heavy deployment are spread through the cycle instead of
 * coming in a run (5:1:1 → a a b a c a a).  A deployment that is not eligible
 * takes no part, so its current weight waits unchanged until it is back.
 * The update touches every current weight at once, hence the mutex; for a
 * handful of deployments it is held for a few nanoseconds.
 *
 * Weighted random draws the first choice with probability weight/total, then
 * the fallbacks the same way among the ones left (draws without replacement),
 * so the second choices spread by weight too.  No shared state. */
#include "strategy_internal.h"

size_t cmx_pick_weighted(cmx_strategy *s, const size_t *cand, size_t m, size_t *order)
{
    cmx_rank r[CMX_STRATEGY_MAX_DEPLOYMENTS];
    int64_t total = 0;
    size_t best = 0;
    pthread_mutex_lock(&s->swrr_lock);
    for (size_t k = 0; k < m; k++) {
        size_t i = cand[k];
        s->current_weight[i] += s->weight[i];
        total += s->weight[i];
        if (s->current_weight[i] > s->current_weight[cand[best]])
            best = k; /* strictly greater: ties go to config order */
    }
    s->current_weight[cand[best]] -= total;
    for (size_t k = 0; k < m; k++)
        r[k] = (cmx_rank){-(double)s->current_weight[cand[k]], cand[k], cand[k]};
    pthread_mutex_unlock(&s->swrr_lock);

    order[0] = cand[best];
    r[best] = r[m - 1];
    cmx_rank_sort(r, m - 1);
    for (size_t k = 0; k + 1 < m; k++)
        order[k + 1] = r[k].index;
    return m;
}

size_t cmx_pick_random(cmx_strategy *s, const cmx_pick_request *req, const size_t *cand, size_t m,
                       size_t *order)
{
    size_t left[CMX_STRATEGY_MAX_DEPLOYMENTS];
    uint64_t total = 0;
    for (size_t k = 0; k < m; k++) {
        left[k] = cand[k];
        total += s->weight[cand[k]];
    }
    for (size_t out = 0; out < m; out++) {
        uint64_t draw = cmx_rng_below(req->rng, total);
        size_t k = 0;
        while (draw >= s->weight[left[k]]) {
            draw -= s->weight[left[k]];
            k++;
        }
        order[out] = left[k];
        total -= s->weight[left[k]];
        left[k] = left[m - 1 - out]; /* the chosen one's place goes to the last one left */
    }
    return m;
}
