/* url_encode.h — percent-encoding, once for every place that builds a URL
 * or a form body: a path segment (an Azure deployment, a Bedrock model id),
 * a form value (an OAuth client secret, an STS web-identity token), a
 * SigV4 canonical query.
 *
 * RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) stay as they are,
 * every other byte becomes %XX in upper-case hex, which is also exactly
 * what AWS's signing rules ask for. */
#ifndef CMX_CORE_URL_ENCODE_H
#define CMX_CORE_URL_ENCODE_H

#include <stddef.h>

#include "buf.h"

/* 1 for A-Z a-z 0-9 - . _ ~ */
int cmx_url_is_unreserved(unsigned char c);

/* Appends len bytes of s percent-encoded; '/' stays too when keep_slash
 * (a whole path).  0, or -1 when the buffer failed. */
int cmx_url_encode(cmx_buf *out, const char *s, size_t len, int keep_slash);

/* cmx_url_encode of a C string, no slash kept: a segment or a form value. */
int cmx_url_encode_str(cmx_buf *out, const char *s);

#endif
