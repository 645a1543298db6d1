/* completions.h — chat completions and embeddings: validate, route, relay;
 * and the routing the other client APIs share. */
#ifndef CMX_GATEWAY_COMPLETIONS_H
#define CMX_GATEWAY_COMPLETIONS_H

#include "reply.h"

void cmx_completions_handle(cmx_api_ctx *c, cmx_api api);

/* The routing every API shares, for a request whose c->scan is filled:
 * finds the group and fills c->call (api, the body to send, the
 * residency); 0 when it answered an error instead (unknown model, a bad
 * x-cloudmux-residency). */
int cmx_completions_prepare(cmx_api_ctx *c, cmx_api api, const char *body, size_t len);
/* Routes the prepared call (through the response cache for chat and
 * embeddings); the answer goes through the API's sink. */
void cmx_completions_route(cmx_api_ctx *c);

#endif
