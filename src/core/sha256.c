/* sha256.c — SHA-256 and HMAC-SHA256 on stack contexts (see sha256.h).
 *
 * OpenSSL 3 marks the SHA256_* block functions deprecated in favour of EVP,
 * whose contexts are allocated and whose algorithm is looked up by name;
 * for the few short messages a request signs, that overhead is most of the
 * cost on a CPU with SHA extensions, so the block functions are used here,
 * in this one file. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "core/sha256.h"

#include <openssl/crypto.h>
#include <string.h>

#define BLOCK 64

void cmx_sha256_of(const void *data, size_t len, uint8_t out[CMX_SHA256_LEN])
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, data ? data : "", len);
    SHA256_Final(out, &ctx);
}

void cmx_sha256_hex_of(const uint8_t digest[CMX_SHA256_LEN], char out[CMX_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < CMX_SHA256_LEN; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
    out[CMX_SHA256_HEX_LEN] = '\0';
}

void cmx_hmac_sha256_key_init(cmx_hmac_sha256_key *k, const void *key, size_t key_len)
{
    uint8_t block[BLOCK] = {0}, pad[BLOCK];
    if (key_len > BLOCK)
        cmx_sha256_of(key, key_len, block);
    else if (key_len)
        memcpy(block, key, key_len);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, BLOCK);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

void cmx_hmac_sha256_keyed(const cmx_hmac_sha256_key *k, const void *data, size_t len,
                           uint8_t out[CMX_SHA256_LEN])
{
    uint8_t inner[CMX_SHA256_LEN];
    SHA256_CTX ctx = k->inner;
    SHA256_Update(&ctx, data ? data : "", len);
    SHA256_Final(inner, &ctx);
    ctx = k->outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    OPENSSL_cleanse(inner, sizeof inner);
}

void cmx_hmac_sha256_once(const void *key, size_t key_len, const void *data, size_t len,
                          uint8_t out[CMX_SHA256_LEN])
{
    cmx_hmac_sha256_key k;
    cmx_hmac_sha256_key_init(&k, key, key_len);
    cmx_hmac_sha256_keyed(&k, data, len, out);
    cmx_hmac_sha256_key_wipe(&k);
}

void cmx_hmac_sha256_key_wipe(cmx_hmac_sha256_key *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}
