/* residency.h — data residency, decided in one place.
 *
 * Three things may bind a request to a region: the client's
 * x-cloudmux-residency header, the region of the API key it came with, and
 * its model group's `residency`.  They must agree — a conflict is a 403
 * before anything is sent — and the region they name decides which targets
 * may see the request at all: the group's own, its fallback groups' (a
 * fallback group bound to another region has none) and its shadow, each by
 * its provider's `residency` tag.  A request bound to no region may go
 * anywhere. */
#ifndef CMX_ROUTER_RESIDENCY_H
#define CMX_ROUTER_RESIDENCY_H

#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "providers/provider.h"

typedef struct cmx_residency {
    const char *tag;  /* the region the request must stay in, or NULL for none */
    const char *rule; /* what asked for it, for messages */
} cmx_residency;

/* The region `call` must stay in when it asks for group g; CMX_OK, or
 * CMX_ERR_RESIDENCY with err saying which two rules disagree, or that no
 * target of g is in the region (so the request would go nowhere). */
cmx_err cmx_residency_decide(const cmx_call *call, const cmx_model_group *g, cmx_residency *out,
                             cmx_error *err);

/* The targets of g (a bit each, up to 64) whose provider is inside the
 * region `tag` and g's own; every target when neither names one. */
uint64_t cmx_residency_targets(const char *tag, const cmx_model_group *g);

/* Whether provider p may see a request bound to `tag`. */
int cmx_residency_allows(const char *tag, const cmx_provider_config *p);

#endif
