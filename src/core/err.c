/* err.c — names, statuses and router decisions for the one error type. */
#include "err.h"

#include <stdio.h>
#include <string.h>

cmx_err cmx_error_vset(cmx_error *err, cmx_err kind, const char *fmt, va_list ap)
{
    if (err) {
        err->kind = kind;
        err->cause = CMX_CAUSE_NONE;
        err->status = 0;
        err->upstream_status = 0;
        err->retry_after_ms = 0;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return kind;
}

cmx_err cmx_error_set(cmx_error *err, cmx_err kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmx_error_vset(err, kind, fmt, ap);
    va_end(ap);
    return kind;
}

void cmx_error_clear(cmx_error *err)
{
    memset(err, 0, sizeof *err);
}

static const char *const kind_names[CMX_ERR__COUNT] = {
    [CMX_OK] = "ok",
    [CMX_ERR_BAD_REQUEST] = "bad_request",
    [CMX_ERR_AUTH] = "auth",
    [CMX_ERR_PROVIDER_AUTH] = "provider_auth",
    [CMX_ERR_NOT_FOUND] = "not_found",
    [CMX_ERR_METHOD] = "method_not_allowed",
    [CMX_ERR_TOO_LARGE] = "too_large",
    [CMX_ERR_CONTEXT_WINDOW] = "context_window",
    [CMX_ERR_CONTENT_POLICY] = "content_policy",
    [CMX_ERR_RATE_LIMITED] = "rate_limited",
    [CMX_ERR_TIMEOUT] = "timeout",
    [CMX_ERR_UNAVAILABLE] = "unavailable",
    [CMX_ERR_UPSTREAM_PROTOCOL] = "upstream_protocol",
    [CMX_ERR_BUDGET] = "budget",
    [CMX_ERR_RESIDENCY] = "residency",
    [CMX_ERR_FORBIDDEN] = "forbidden",
    [CMX_ERR_CONFLICT] = "conflict",
    [CMX_ERR_CONFIG] = "config",
    [CMX_ERR_NOMEM] = "out_of_memory",
    [CMX_ERR_IO] = "io",
    [CMX_ERR_CANCELLED] = "cancelled",
    [CMX_ERR_INTERNAL] = "internal",
};

const char *cmx_err_name(cmx_err kind)
{
    if ((unsigned)kind >= CMX_ERR__COUNT)
        return "unknown";
    return kind_names[kind];
}

static const char *const cause_names[CMX_CAUSE__COUNT] = {
    [CMX_CAUSE_NONE] = "none",
    [CMX_CAUSE_DNS] = "dns",
    [CMX_CAUSE_CONNECT_REFUSED] = "connect_refused",
    [CMX_CAUSE_CONNECT_TIMEOUT] = "connect_timeout",
    [CMX_CAUSE_TLS] = "tls",
    [CMX_CAUSE_RESET] = "reset",
    [CMX_CAUSE_FIRST_BYTE_TIMEOUT] = "first_byte_timeout",
    [CMX_CAUSE_IDLE_TIMEOUT] = "idle_timeout",
    [CMX_CAUSE_TOTAL_TIMEOUT] = "total_timeout",
    [CMX_CAUSE_PROTOCOL] = "protocol",
    [CMX_CAUSE_HTTP_STATUS] = "http_status",
    [CMX_CAUSE_POOL_SATURATED] = "pool_saturated",
};

const char *cmx_cause_name(cmx_cause cause)
{
    if ((unsigned)cause >= CMX_CAUSE__COUNT)
        return "unknown";
    return cause_names[cause];
}

int cmx_err_http_status(cmx_err kind)
{
    switch (kind) {
    case CMX_OK: return 200;
    case CMX_ERR_BAD_REQUEST: return 400;
    case CMX_ERR_CONTEXT_WINDOW: return 400;
    case CMX_ERR_CONTENT_POLICY: return 400;
    case CMX_ERR_AUTH: return 401;
    case CMX_ERR_RESIDENCY: return 403;
    case CMX_ERR_FORBIDDEN: return 403;
    case CMX_ERR_CONFLICT: return 409;
    case CMX_ERR_BUDGET: return 429;
    case CMX_ERR_NOT_FOUND: return 404;
    case CMX_ERR_METHOD: return 405;
    case CMX_ERR_TOO_LARGE: return 413;
    case CMX_ERR_RATE_LIMITED: return 429;
    case CMX_ERR_TIMEOUT: return 504;
    case CMX_ERR_UNAVAILABLE: return 503;
    case CMX_ERR_PROVIDER_AUTH: return 502;
    case CMX_ERR_UPSTREAM_PROTOCOL: return 502;
    default: return 500;
    }
}

const char *cmx_err_openai_type(cmx_err kind)
{
    switch (kind) {
    case CMX_ERR_BAD_REQUEST:
    case CMX_ERR_NOT_FOUND:
    case CMX_ERR_METHOD:
    case CMX_ERR_TOO_LARGE:
    case CMX_ERR_CONTEXT_WINDOW:
    case CMX_ERR_CONTENT_POLICY:
    case CMX_ERR_CONFLICT: return "invalid_request_error";
    case CMX_ERR_AUTH: return "authentication_error";
    case CMX_ERR_RESIDENCY:
    case CMX_ERR_FORBIDDEN: return "permission_error";
    case CMX_ERR_RATE_LIMITED: return "rate_limit_error";
    case CMX_ERR_BUDGET: return "insufficient_quota";
    case CMX_ERR_TIMEOUT: return "timeout_error";
    default: return "api_error";
    }
}

int cmx_err_is_retryable(cmx_err kind)
{
    return kind == CMX_ERR_RATE_LIMITED || kind == CMX_ERR_TIMEOUT || kind == CMX_ERR_UNAVAILABLE;
}

int cmx_err_fails_over(cmx_err kind)
{
    return kind == CMX_ERR_RATE_LIMITED || kind == CMX_ERR_TIMEOUT || kind == CMX_ERR_UNAVAILABLE ||
           kind == CMX_ERR_PROVIDER_AUTH || kind == CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_err_from_http_status(int status)
{
    if (status >= 200 && status < 300)
        return CMX_OK;
    if (status == 429)
        return CMX_ERR_RATE_LIMITED;
    if (status == 401 || status == 403)
        return CMX_ERR_PROVIDER_AUTH;
    if (status == 408 || status == 504)
        return CMX_ERR_TIMEOUT;
    if (status == 404)
        return CMX_ERR_NOT_FOUND;
    if (status == 413)
        return CMX_ERR_TOO_LARGE;
    if (status >= 400 && status < 500)
        return CMX_ERR_BAD_REQUEST;
    return CMX_ERR_UNAVAILABLE;
}
