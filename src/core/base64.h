/* base64.h — standard base64 (RFC 4648 §4, with padding), both ways. */
#ifndef CMX_CORE_BASE64_H
#define CMX_CORE_BASE64_H

#include <stddef.h>

/* Room decoding `len` characters needs at most. */
#define CMX_BASE64_DECODED_MAX(len) (((len) / 4) * 3)
/* Room encoding `len` bytes needs, the terminating NUL included. */
#define CMX_BASE64_ENCODED_SIZE(len) ((((len) + 2) / 3) * 4 + 1)

/* Decodes into out (CMX_BASE64_DECODED_MAX(len) bytes); the decoded length,
 * or -1 when text is not padded base64. */
long cmx_base64_decode(const char *text, size_t len, unsigned char *out);
/* Encodes into out (CMX_BASE64_ENCODED_SIZE(len) bytes), NUL-terminated;
 * returns the length without the NUL. */
size_t cmx_base64_encode(const unsigned char *data, size_t len, char *out);

#endif
