/* admission.h — may this deployment take this request now?
 *
 * Two guards stand in front of a deployment: its circuit breaker (breaker.h)
 * and its rpm/tpm limiter (ratelimit.h).  They are asked twice per request,
 * for different reasons:
 *
 *   1. Before choosing, without reserving anything: cmx_eligible_mask() says
 *      which deployments the strategy may put in the list.  Reserving here
 *      would take half-open probe slots and rpm slots from deployments that
 *      might never be tried.
 *   2. Just before each attempt, reserving: cmx_deployment_admit() takes the
 *      probe slot (if half-open) and the rpm/tpm slot.  Time has passed since
 *      (1), possibly a failed attempt's worth, and other workers raced for the
 *      same slots, so a deployment in the list can still be refused here; the
 *      attempt loop then moves on to the next one in the list.
 *
 * Either array may be NULL (no breakers, no limits).  Deployment i uses
 * breakers[i] and limits[i]. */
#ifndef CMX_ROUTER_ADMISSION_H
#define CMX_ROUTER_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/breaker.h"
#include "router/ratelimit.h"

/* Bit i set when deployment i (< n ≤ 64) would be admitted a request of
 * `tokens` expected tokens at now_us. */
uint64_t cmx_eligible_mask(cmx_breaker *breakers, cmx_ratelimit *limits, size_t n, uint64_t now_us,
                           uint64_t tokens);

/* Reserves deployment i's breaker probe (if half-open) and rate slot; on a
 * refusal nothing stays reserved.  A yes must be followed by
 * cmx_breaker_record() or cmx_breaker_cancel() on breakers[i]. */
bool cmx_deployment_admit(cmx_breaker *breakers, cmx_ratelimit *limits, size_t i, uint64_t now_us,
                          uint64_t tokens);

#endif
