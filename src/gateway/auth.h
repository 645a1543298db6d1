/* auth.h — matching a request's bearer token against a list of keys, the
 * one way client keys and admin keys are checked. */
#ifndef CMX_GATEWAY_AUTH_H
#define CMX_GATEWAY_AUTH_H

#include <stddef.h>

#include "http/server.h"

/* The index of the key the request's `Authorization: Bearer` token equals,
 * or -1.  Every key is compared in constant time and all are compared, so
 * timing tells nothing about which matched, or whether one did. */
long cmx_bearer_match(const cmx_http_request *req, char *const *keys, size_t n_keys);

/* The same for a header that carries the key alone (Anthropic's
 * x-api-key). */
long cmx_header_key_match(const cmx_http_request *req, const char *header, char *const *keys,
                          size_t n_keys);

/* The request's `Authorization: Bearer` token; an empty slice without one. */
cmx_slice cmx_bearer_token(const cmx_http_request *req);

#endif
