/* upstream_headers.h — reading the response headers every provider looks
 * at: the content type (compared in lower case) and Retry-After.
 *
 * Each provider judges an upstream answer by its status, its content type
 * and, on 429 and 503, by when the upstream says to come back.  How those
 * header values are read is the same whichever service answered, so it is
 * written once here. */
#ifndef CMX_PROVIDERS_UPSTREAM_HEADERS_H
#define CMX_PROVIDERS_UPSTREAM_HEADERS_H

#include <stddef.h>
#include <stdint.h>

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

#endif
