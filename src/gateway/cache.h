/* cache.h — the exact response cache on the request path (a group's
 * `cache: {ttl, scope}`).
 *
 * The key is a SHA-256 over the group, the scope (the client's key by
 * default, so one tenant never gets another's answer; everyone with
 * `scope: global`), the required residency, the API and the request body
 * without the fields that do not change the answer (stream, stream_options,
 * user).  Only whole, successful answers are stored: a body, or a stream
 * that reached its end; never an error, never a cut stream.  A hit answers
 * in the form asked for (cache_entry.h) with `x-cloudmux-cache: hit` and a
 * cost of 0.  `Cache-Control: no-cache` skips the lookup (bypass) and
 * `no-store` skips the store.  The storage is the state store's: the
 * in-process LRU, or Redis in a fleet. */
#ifndef CMX_GATEWAY_CACHE_H
#define CMX_GATEWAY_CACHE_H

#include "gateway/reply.h"

/* After validation, once the group is known.  Returns 0 when the caller
 * should route now (the group does not cache, or the client bypassed it);
 * 1 when the cache has taken the request: a hit was answered, or the lookup
 * is pending and `route` runs on a miss. */
int cmx_cache_lookup(cmx_api_ctx *c, void (*route)(cmx_api_ctx *c));
/* The client went away: no callback of a pending lookup will run. */
void cmx_cache_cancel(cmx_api_ctx *c);

/* The route's outcome, for storing: a whole answer, a stream's chunk as it
 * is relayed, and the end of a stream that completed. */
void cmx_cache_keep_answer(cmx_api_ctx *c, const cmx_route_result *r, const char *body, size_t len);
void cmx_cache_keep_chunk(cmx_api_ctx *c, const char *json, size_t len);
void cmx_cache_keep_stream(cmx_api_ctx *c, const cmx_route_result *r);

#endif
