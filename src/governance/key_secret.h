/* key_secret.h — virtual key secrets: making them, and the digest they are
 * stored and looked up by.
 *
 * A secret is "cmx-" and 32 random bytes in base64url (43 characters), shown
 * once when the key is made.  Only its digest is kept: SHA-256 of the
 * secret, or HMAC-SHA-256 with a server-side pepper (governance.pepper) so a
 * stolen database cannot even be used to test guesses offline.  The digest
 * is computed on every request, so it allocates nothing: the HMAC key is
 * prepared once (core/sha256.h, which also serves the audit log's hashes). */
#ifndef CMX_GOVERNANCE_KEY_SECRET_H
#define CMX_GOVERNANCE_KEY_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/sha256.h"

#define CMX_KEY_PREFIX "cmx-"
#define CMX_KEY_RANDOM_BYTES 32
#define CMX_KEY_SECRET_LEN (4 + 43) /* prefix + base64url of 32 bytes, no padding */
#define CMX_DIGEST_LEN CMX_SHA256_LEN
#define CMX_KEY_HINT_LEN 16

typedef struct cmx_key_hasher {
    int peppered;            /* 0: plain SHA-256 */
    cmx_hmac_sha256_key key; /* the pepper, prepared */
} cmx_key_hasher;

/* pepper NULL or empty: plain SHA-256. */
void cmx_key_hasher_init(cmx_key_hasher *h, const char *pepper);
/* Wipes the prepared states (they are derived from the pepper). */
void cmx_key_hasher_wipe(cmx_key_hasher *h);
void cmx_key_digest(const cmx_key_hasher *h, const char *secret, size_t len,
                    uint8_t out[CMX_DIGEST_LEN]);

/* A new secret, NUL-terminated, from the system's random source. */
cmx_err cmx_key_secret_new(char out[CMX_KEY_SECRET_LEN + 1], cmx_error *err);
/* Random hex for ids ("key_" + 16 hex digits). */
cmx_err cmx_random_hex(char *out, size_t n_digits, cmx_error *err);

/* "cmx-…wXyZ": the prefix and the last four characters. */
void cmx_key_hint(const char *secret, char out[CMX_KEY_HINT_LEN]);

/* 0 on success, -1 when hex is not 64 hex digits. */
int cmx_digest_from_hex(const char *hex, uint8_t out[CMX_DIGEST_LEN]);

#endif
