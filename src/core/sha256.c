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
    /* Two digits per byte from one table: a request writes three digests. */
    static const char pairs[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                                "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                                "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                                "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                                "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                                "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (int i = 0; i < CMX_SHA256_LEN; i++)
        memcpy(out + 2 * i, pairs + 2 * digest[i], 2);
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
