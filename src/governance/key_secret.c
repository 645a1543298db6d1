/* key_secret.c — secrets, digests and hints; see key_secret.h.
 *
 * The digest is SHA-256 or HMAC-SHA256 from core/sha256.h: contexts on the
 * stack and, with a pepper, the HMAC key prepared once, since this runs
 * once per request. */
#include "governance/key_secret.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void cmx_key_hasher_init(cmx_key_hasher *h, const char *pepper)
{
    memset(h, 0, sizeof *h);
    if (!pepper || !*pepper)
        return;
    cmx_hmac_sha256_key_init(&h->key, pepper, strlen(pepper));
    h->peppered = 1;
}

void cmx_key_hasher_wipe(cmx_key_hasher *h)
{
    cmx_hmac_sha256_key_wipe(&h->key);
    h->peppered = 0;
}

void cmx_key_digest(const cmx_key_hasher *h, const char *secret, size_t len,
                    uint8_t out[CMX_DIGEST_LEN])
{
    if (h->peppered)
        cmx_hmac_sha256_keyed(&h->key, secret, len, out);
    else
        cmx_sha256_of(secret, len, out);
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
