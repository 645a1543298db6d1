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

/* The index of the key `token` equals, or -1 (compared as above). */
long cmx_key_match(cmx_slice token, char *const *keys, size_t n_keys);

/* The key a client's request carries, into *token: its x-api-key header
 * when x_api_key is set and it has one (Anthropic's clients send theirs
 * so), else its `Authorization: Bearer` token.  0 when it carries neither. */
int cmx_client_key(const cmx_http_request *req, int x_api_key, cmx_slice *token);

/* The request's `Authorization: Bearer` token; an empty slice without one. */
cmx_slice cmx_bearer_token(const cmx_http_request *req);

#endif
