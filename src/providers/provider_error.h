/* provider_error.h — a service's error answer as the router's error kind
 * and a message: the one place every provider maps its errors.
 *
 * Each service says what went wrong its own way — an HTTP status, a type or
 * code ("overloaded_error", "ThrottlingException", "RESOURCE_EXHAUSTED",
 * "context_length_exceeded") and a message.  A provider reads those out of
 * its answer (the body's shape is its own business) and hands them here
 * with its table of types; this file turns them into a kind the router
 * decides on, the same way for every cloud:
 *
 *   1. the status gives a first kind (cmx_err_from_http_status);
 *   2. a type in the provider's table overrides it;
 *   3. a bad request whose message has one of the provider's
 *      context-window phrases is a context-window error;
 *   4. the message says who answered what, and never repeats the
 *      service's own text for a credentials error (it may echo the key). */
#ifndef CMX_PROVIDERS_PROVIDER_ERROR_H
#define CMX_PROVIDERS_PROVIDER_ERROR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* A service error type and the kind it stands for.  Types compare ASCII
 * case-insensitively (AWS writes "ThrottlingException" in headers and
 * "throttlingException" in streams).  A table ends with {NULL}. */
typedef struct cmx_error_rule {
    const char *type;
    cmx_err kind;
} cmx_error_rule;

/* What the provider read out of an error answer. */
typedef struct cmx_provider_error {
    const char *provider;      /* the configured name */
    const char *provider_type; /* "anthropic", "bedrock" ... */
    int status;                /* HTTP status; 0 for an error inside a stream */
    const char *type;          /* the service's error type or code, or NULL */
    size_t type_len;           /* its length (it need not be NUL-terminated) */
    const char *message;       /* the service's message, or NULL */
    const cmx_error_rule *rules;
    const char *const *context_phrases; /* NULL-terminated; may be NULL */
    uint32_t retry_after_ms;            /* the service's Retry-After hint, 0 if none */
} cmx_provider_error;

/* The kind for a type by the rules, or `fallback` when no rule names it;
 * then steps 3 above.  For errors without an HTTP answer (stream
 * exceptions) and for tests. */
cmx_err cmx_provider_error_kind(const cmx_provider_error *e, cmx_err fallback);

/* Steps 1-4: fills err (kind, message, cause http_status, the statuses,
 * retry_after_ms) and returns the kind. */
cmx_err cmx_provider_error_set(const cmx_provider_error *e, cmx_error *err);

#endif
