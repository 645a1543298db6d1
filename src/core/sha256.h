/* sha256.h — SHA-256 and HMAC-SHA256 on OpenSSL's block functions, with
 * contexts on the stack: no allocation, no algorithm look-up per call (what
 * the EVP one-shots of OpenSSL 3 do), and the same SHA extensions or vector
 * code OpenSSL picks for the CPU.
 *
 * An HMAC key is prepared once (cmx_hmac_sha256_key: the states after the
 * key ^ ipad and key ^ opad blocks, RFC 2104) and then used for as many
 * messages as wanted, each costing the message's blocks plus one; the
 * prepared key is key material: wipe it when done. */
#ifndef CMX_CORE_SHA256_H
#define CMX_CORE_SHA256_H

#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

#define CMX_SHA256_LEN 32
#define CMX_SHA256_HEX_LEN 64

typedef struct cmx_hmac_sha256_key {
    SHA256_CTX inner; /* after the key ^ ipad block */
    SHA256_CTX outer; /* after the key ^ opad block */
} cmx_hmac_sha256_key;

/* SHA-256 of data (NULL with len 0 is the empty message). */
void cmx_sha256_of(const void *data, size_t len, uint8_t out[CMX_SHA256_LEN]);
/* Lower-case hex of a digest, NUL-terminated. */
void cmx_sha256_hex_of(const uint8_t digest[CMX_SHA256_LEN], char out[CMX_SHA256_HEX_LEN + 1]);

/* Prepares an HMAC key (a key longer than a block is hashed first). */
void cmx_hmac_sha256_key_init(cmx_hmac_sha256_key *k, const void *key, size_t key_len);
/* HMAC-SHA256 of data under a prepared key; k is not changed. */
void cmx_hmac_sha256_keyed(const cmx_hmac_sha256_key *k, const void *data, size_t len,
                           uint8_t out[CMX_SHA256_LEN]);
/* Prepare, sign, wipe: for a key used once. */
void cmx_hmac_sha256_once(const void *key, size_t key_len, const void *data, size_t len,
                          uint8_t out[CMX_SHA256_LEN]);
void cmx_hmac_sha256_key_wipe(cmx_hmac_sha256_key *k);

#endif
