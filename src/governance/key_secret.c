/* key_secret.c — secrets, digests and hints; see key_secret.h.
 *
 * The digest uses OpenSSL's SHA-256 block functions directly: they work on
 * a context on the stack, where the one-shot EVP calls of OpenSSL 3 allocate
 * a context per call, and this runs once per request. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "governance/key_secret.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define BLOCK 64

void cmx_key_hasher_init(cmx_key_hasher *h, const char *pepper)
{
    memset(h, 0, sizeof *h);
    if (!pepper || !*pepper)
        return;
    /* RFC 2104: a key longer than a block is hashed first. */
    uint8_t key[BLOCK] = {0};
    size_t len = strlen(pepper);
    if (len > BLOCK)
        SHA256((const unsigned char *)pepper, len, key);
    else
        memcpy(key, pepper, len);
    uint8_t pad[BLOCK];
    for (int i = 0; i < BLOCK; i++)
        pad[i] = key[i] ^ 0x36;
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, BLOCK);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    h->peppered = 1;
}

void cmx_key_hasher_wipe(cmx_key_hasher *h)
{
    OPENSSL_cleanse(h, sizeof *h);
}

void cmx_key_digest(const cmx_key_hasher *h, const char *secret, size_t len,
                    uint8_t out[CMX_DIGEST_LEN])
{
    SHA256_CTX ctx;
    if (!h->peppered) {
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, secret, len);
        SHA256_Final(out, &ctx);
        return;
    }
    uint8_t inner[CMX_DIGEST_LEN];
    ctx = h->inner;
    SHA256_Update(&ctx, secret, len);
    SHA256_Final(inner, &ctx);
    ctx = h->outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
}

void cmx_sha256(const void *data, size_t len, uint8_t out[CMX_DIGEST_LEN])
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, data, len);
    SHA256_Final(out, &ctx);
}

void cmx_hmac_sha256(const char *key, const void *data, size_t len, uint8_t out[CMX_DIGEST_LEN])
{
    cmx_key_hasher h;
    cmx_key_hasher_init(&h, key);
    cmx_key_digest(&h, data, len, out);
    cmx_key_hasher_wipe(&h);
}

static int random_bytes(uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

cmx_err cmx_key_secret_new(char out[CMX_KEY_SECRET_LEN + 1], cmx_error *err)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[CMX_KEY_RANDOM_BYTES + 1] = {0}; /* one spare byte pads the last group */
    if (random_bytes(raw, CMX_KEY_RANDOM_BYTES) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "the system's random source failed");
    memcpy(out, CMX_KEY_PREFIX, 4);
    char *p = out + 4;
    for (size_t i = 0; i < CMX_KEY_RANDOM_BYTES; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     (i + 2 < CMX_KEY_RANDOM_BYTES ? raw[i + 2] : 0);
        *p++ = b64url[(v >> 18) & 63];
        *p++ = b64url[(v >> 12) & 63];
        if (i + 1 < CMX_KEY_RANDOM_BYTES)
            *p++ = b64url[(v >> 6) & 63];
        if (i + 2 < CMX_KEY_RANDOM_BYTES)
            *p++ = b64url[v & 63];
    }
    *p = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    return CMX_OK;
}

cmx_err cmx_random_hex(char *out, size_t n_digits, cmx_error *err)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[32];
    if (n_digits > 2 * sizeof raw || random_bytes(raw, (n_digits + 1) / 2) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "the system's random source failed");
    for (size_t i = 0; i < n_digits; i++)
        out[i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[n_digits] = '\0';
    return CMX_OK;
}

void cmx_key_hint(const char *secret, char out[CMX_KEY_HINT_LEN])
{
    size_t n = strlen(secret);
    const char *prefix = strncmp(secret, CMX_KEY_PREFIX, 4) == 0 ? CMX_KEY_PREFIX : "";
    /* "…" is three bytes in UTF-8. */
    snprintf(out, CMX_KEY_HINT_LEN, "%s\xe2\x80\xa6%s", prefix, n >= 12 ? secret + n - 4 : "");
}

void cmx_digest_hex(const uint8_t digest[CMX_DIGEST_LEN], char out[2 * CMX_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < CMX_DIGEST_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * CMX_DIGEST_LEN] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cmx_digest_from_hex(const char *hex, uint8_t out[CMX_DIGEST_LEN])
{
    if (!hex || strlen(hex) != 2 * CMX_DIGEST_LEN)
        return -1;
    for (int i = 0; i < CMX_DIGEST_LEN; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
