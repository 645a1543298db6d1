/* completions.h — chat completions and embeddings: validate, route, relay. */
#ifndef CMX_GATEWAY_COMPLETIONS_H
#define CMX_GATEWAY_COMPLETIONS_H

#include "reply.h"

void cmx_completions_handle(cmx_api_ctx *c, cmx_api api);

#endif
