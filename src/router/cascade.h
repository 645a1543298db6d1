/* cascade.h — the cascade strategy's answer check.
 *
 * A cascade group tries its cheapest target first and escalates to the next
 * (pricier) one when the answer fails a check: shorter than min_length,
 * starting with a refusal prefix, or not valid JSON when the request's
 * response_format asked for JSON.  Only whole (non-streamed) answers can be
 * checked: a stream has reached the client before it could be judged. */
#ifndef CMX_ROUTER_CASCADE_H
#define CMX_ROUTER_CASCADE_H

#include <stddef.h>

#include "config/config.h"
#include "providers/provider.h"

/* NULL when the answer passes, else a short reason ("too short", ...). */
const char *cmx_cascade_reject_reason(const cmx_model_group *g, const cmx_call *call,
                                      const char *body, size_t len);

#endif
