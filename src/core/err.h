/* err.h — the one error type of cloudmux.
 *
 * Every function that can fail returns a cmx_err kind and, where the caller
 * wants detail, fills a cmx_error with the kind, the HTTP status the client
 * should see and a human-readable message.  The kinds are the ones the router
 * decides on (see DESIGN.md "Errors"): the same kind means the same decision,
 * whichever cloud produced it.  Transport failures carry a finer `cause` so
 * operators can tell a refused connection from a TLS failure, while the router
 * only looks at the kind. */
#ifndef CMX_CORE_ERR_H
#define CMX_CORE_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cmx_err {
    CMX_OK = 0,
    CMX_ERR_BAD_REQUEST,       /* client's own malformed input: 400 */
    CMX_ERR_AUTH,              /* missing/invalid gateway key: 401 */
    CMX_ERR_PROVIDER_AUTH,     /* provider rejected our credentials */
    CMX_ERR_NOT_FOUND,         /* unknown model group or path: 404 */
    CMX_ERR_METHOD,            /* wrong method on a known path: 405 */
    CMX_ERR_TOO_LARGE,         /* body over the limit: 413 */
    CMX_ERR_CONTEXT_WINDOW,    /* prompt too long for the model */
    CMX_ERR_CONTENT_POLICY,    /* provider refused the content */
    CMX_ERR_RATE_LIMITED,      /* 429 / throttling */
    CMX_ERR_TIMEOUT,           /* connect / first byte / idle / total deadline */
    CMX_ERR_UNAVAILABLE,       /* 5xx, reset, DNS, TLS, refused */
    CMX_ERR_UPSTREAM_PROTOCOL, /* upstream answered garbage: bad JSON, cut stream */
    CMX_ERR_BUDGET,            /* over a key's or team's budget: 429 insufficient_quota */
    CMX_ERR_RESIDENCY,         /* no target may serve the request inside its residency: 403 */
    CMX_ERR_FORBIDDEN,         /* the key may not do this (a model group it is not allowed): 403 */
    CMX_ERR_CONFLICT,          /* the thing to create exists already: 409 */
    CMX_ERR_CONFIG,            /* invalid configuration */
    CMX_ERR_NOMEM,
    CMX_ERR_IO,        /* local I/O: files, sockets we own */
    CMX_ERR_CANCELLED, /* the client went away */
    CMX_ERR_INTERNAL,
    CMX_ERR__COUNT
} cmx_err;

/* Finer cause of a transport failure, for logs and the attempts list. */
typedef enum cmx_cause {
    CMX_CAUSE_NONE = 0,
    CMX_CAUSE_DNS,
    CMX_CAUSE_CONNECT_REFUSED,
    CMX_CAUSE_CONNECT_TIMEOUT,
    CMX_CAUSE_TLS,
    CMX_CAUSE_RESET,
    CMX_CAUSE_FIRST_BYTE_TIMEOUT,
    CMX_CAUSE_IDLE_TIMEOUT,
    CMX_CAUSE_TOTAL_TIMEOUT,
    CMX_CAUSE_PROTOCOL,
    CMX_CAUSE_HTTP_STATUS, /* upstream answered with an error status */
    CMX_CAUSE__COUNT
} cmx_cause;

typedef struct cmx_error {
    cmx_err kind;
    cmx_cause cause;
    int status;              /* HTTP status for the client (0: derive from kind) */
    int upstream_status;     /* status the upstream answered, 0 if none */
    uint32_t retry_after_ms; /* upstream's Retry-After hint, 0 if none */
    char message[256];
} cmx_error;

/* Fills err (if not NULL) and returns kind, so callers can write
 * `return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "...%s", x);` */
cmx_err cmx_error_set(cmx_error *err, cmx_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
cmx_err cmx_error_vset(cmx_error *err, cmx_err kind, const char *fmt, va_list ap);
void cmx_error_clear(cmx_error *err);

/* Stable snake_case names: "rate_limited", "connect_refused", ... */
const char *cmx_err_name(cmx_err kind);
const char *cmx_cause_name(cmx_cause cause);

/* HTTP status the client sees for a kind (400, 401, 404, 429, 502, 504 ...). */
int cmx_err_http_status(cmx_err kind);
/* OpenAI error "type" for a kind ("invalid_request_error", "api_error" ...). */
const char *cmx_err_openai_type(cmx_err kind);

/* Router decisions, per DESIGN.md's table. */
int cmx_err_is_retryable(cmx_err kind); /* worth another try on the same target */
int cmx_err_fails_over(cmx_err kind);   /* worth trying the next target */

/* Maps an upstream HTTP status to a kind (429 → rate_limited, 401/403 →
 * provider_auth, 408/5xx → timeout/unavailable, other 4xx → bad_request). */
cmx_err cmx_err_from_http_status(int status);

#endif
