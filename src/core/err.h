/* err.h — the one error type of cloudmux.
 *
 * Every function that can fail returns a cmx_err kind (CMX_OK is 0) and,
 * where the caller wants detail, fills a cmx_error with the kind, the HTTP
 * status the client should see and a human-readable message.  A call that
 * may have to wait returns a cmx_progress instead of a bare 1/0/-1; a
 * function that only answers a question returns a truth value (1/0); the
 * cmx_buf appends keep their failure in the buffer (core/buf.h).  The kinds are the ones the router
 * decides on (see DESIGN.md "Errors"): the same kind means the same decision,
 * whichever cloud produced it.  Transport failures carry a finer `cause` so
 * operators can tell a refused connection from a TLS failure, while the router
 * only looks at the kind. */
#ifndef CMX_CORE_ERR_H
#define CMX_CORE_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "cloudmux.h"

/* cmx_err, the kinds, is public: include/cloudmux.h defines it, documented
 * for embedders; everything else here is internal. */

/* What a call that may have to wait (for a token, for credentials, for more
 * input) tells its caller: the one tri-state, named instead of 1/0/-1. */
typedef enum cmx_progress {
    CMX_FAILED = -1, /* the error says why; no callback will run */
    CMX_PENDING = 0, /* not yet: the caller's callback runs when it is there (or failed) */
    CMX_READY = 1,   /* there now; no callback will run */
} cmx_progress;

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
    CMX_CAUSE_HTTP_STATUS,    /* upstream answered with an error status */
    CMX_CAUSE_POOL_SATURATED, /* no upstream connection slot free in time */
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

/* Stable snake_case names: "rate_limited", "connect_refused", ...
 * (cmx_err_name is declared in cloudmux.h). */
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
