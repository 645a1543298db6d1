/* upstream_answer.h — reading an upstream's answer the way every provider
 * does: the content type (compared in lower case), Retry-After, and a body
 * gathered under a cap.
 *
 * Each provider judges an upstream answer by its status, its content type
 * and, on 429 and 503, by when the upstream says to come back; a whole
 * answer is gathered in memory, so its size is bounded.  How that is done
 * is the same whichever service answered, so it is written once here. */
#ifndef CMX_PROVIDERS_UPSTREAM_HEADERS_H
#define CMX_PROVIDERS_UPSTREAM_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

/* The value in lower case into dst (cap bytes, cut to fit, NUL-ended). */
void cmx_header_copy_lower(char *dst, size_t cap, cmx_slice v);

/* A non-negative decimal number below 86400000 (trailing spaces allowed),
 * else -1. */
double cmx_header_decimal(cmx_slice v);

/* A Retry-After value in its seconds form as milliseconds, capped at one
 * day; -1 when it is not a positive number (the HTTP-date form is ignored:
 * LLM APIs rarely send it). */
int64_t cmx_header_retry_after_ms(cmx_slice v);

/* True for the headers in which providers return their own id of a
 * request: x-request-id (OpenAI, Azure), request-id (Anthropic),
 * x-amzn-requestid (AWS), apim-request-id and x-ms-request-id (Azure). */
int cmx_header_is_request_id(cmx_slice name);
/* The longest upstream request id kept (longer ones are cut). */
#define CMX_MAX_UPSTREAM_ID 128

/* The most a whole 2xx answer may be, and how much of an error answer is
 * kept (its start is enough to explain it). */
#define CMX_MAX_RESPONSE_BYTES (64u << 20)
#define CMX_MAX_ERROR_BODY_BYTES (64u << 10)

/* Appends answer bytes to body.  An error answer (ok2xx 0) past its cap is
 * cut silently; a 2xx answer past its cap is CMX_ERR_UPSTREAM_PROTOCOL (and
 * one that no longer fits in memory CMX_ERR_NOMEM), err set. */
cmx_err cmx_body_append_capped(cmx_buf *body, const char *data, size_t len, int ok2xx,
                               cmx_error *err);

#endif
