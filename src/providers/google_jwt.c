/* google_jwt.c — the pure half of Google OAuth: reading a service-account
 * key, signing the JWT assertion with it, and reading the token answer.
 *
 * The assertion is the one Google's "OAuth 2.0 for Server to Server
 * Applications" describes: a header {alg: RS256, typ: JWT, kid}, claims
 * {iss, scope, aud: token_uri, iat, exp: iat + 3600}, each base64url-encoded
 * without padding, joined with dots, then signed with RSA-SHA256 (PKCS#1
 * v1.5) by the key's private key through OpenSSL's EVP_DigestSign. */
#include "google_auth.h"
#include "core/str.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

static char *dup_field(const json_t *root, const char *key)
{
    const char *s = json_string_value(json_object_get(root, key));
    return s && *s ? strdup(s) : NULL;
}

cmx_err cmx_google_service_account_parse(const char *json, size_t len,
                                         cmx_google_service_account *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(json, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return cmx_error_set(err, CMX_ERR_CONFIG, "not a JSON object (a service-account key file)");
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    if (type && strcmp(type, "service_account") != 0) {
        cmx_error_set(err, CMX_ERR_CONFIG,
                      "its type is '%.40s', expected 'service_account' (a service-account key)",
                      type);
        json_decref(root);
        return CMX_ERR_CONFIG;
    }
    out->client_email = dup_field(root, "client_email");
    out->private_key = dup_field(root, "private_key");
    out->private_key_id = dup_field(root, "private_key_id");
    out->token_uri = dup_field(root, "token_uri");
    json_decref(root);
    if (!out->token_uri)
        out->token_uri = strdup(CMX_GOOGLE_DEFAULT_TOKEN_URI);
    const char *missing = !out->client_email  ? "client_email"
                          : !out->private_key ? "private_key"
                                              : NULL;
    if (missing || !out->token_uri) {
        cmx_google_service_account_free(out);
        return cmx_error_set(err, CMX_ERR_CONFIG, "the key has no '%s'",
                             missing ? missing : "token_uri");
    }
    return CMX_OK;
}

void cmx_google_service_account_free(cmx_google_service_account *sa)
{
    if (sa->private_key) {
        volatile char *p = sa->private_key;
        for (size_t i = 0; p[i]; i++)
            p[i] = 0;
    }
    free(sa->client_email);
    free(sa->private_key);
    free(sa->private_key_id);
    free(sa->token_uri);
    memset(sa, 0, sizeof *sa);
}

static void base64url(cmx_buf *out, const unsigned char *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    cmx_buf_reserve(out, (len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
        cmx_buf_append(out, q, i + 2 < len ? 4 : i + 1 < len ? 3 : 2);
    }
}

static void base64url_json(cmx_buf *out, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s)
        base64url(out, (const unsigned char *)s, strlen(s));
    free(s);
}

cmx_err cmx_google_jwt_assertion(const cmx_google_service_account *sa, const char *scope,
                                 int64_t iat, cmx_buf *out, cmx_error *err)
{
    BIO *bio = BIO_new_mem_buf(sa->private_key, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "the private_key is not a PEM private key OpenSSL can read");
    json_t *header = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
    if (sa->private_key_id)
        json_object_set_new(header, "kid", json_string(sa->private_key_id));
    json_t *claims =
        json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", sa->client_email, "scope", scope, "aud",
                  sa->token_uri, "iat", (json_int_t)iat, "exp", (json_int_t)(iat + 3600));
    cmx_buf jwt = CMX_BUF_INIT;
    base64url_json(&jwt, header);
    cmx_buf_append(&jwt, CMX_LIT("."));
    base64url_json(&jwt, claims);
    json_decref(header);
    json_decref(claims);

    cmx_err rc = CMX_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    if (!md || !jwt.data || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)jwt.data, jwt.len) != 1) {
        rc = cmx_error_set(err, CMX_ERR_CONFIG,
                           "signing the token request failed (is the private_key an RSA key of "
                           "at most 8192 bits?)");
    } else {
        cmx_buf_append(&jwt, CMX_LIT("."));
        base64url(&jwt, sig, sig_len);
        if (cmx_buf_append(out, jwt.data, jwt.len) != 0)
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    cmx_buf_free(&jwt);
    return rc;
}

cmx_err cmx_google_token_response_parse(const char *body, size_t len, cmx_buf *token,
                                        int64_t *expires_in, cmx_error *err)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *t = json_object_get(root, "access_token");
    if (!json_is_string(t) || json_string_length(t) == 0) {
        json_decref(root);
        return cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                             "the token endpoint's answer has no access_token");
    }
    /* The token goes into a header line: nothing that could end it. */
    const char *s = json_string_value(t);
    for (size_t i = 0; i < json_string_length(t); i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
            json_decref(root);
            return cmx_error_set(err, CMX_ERR_PROVIDER_AUTH,
                                 "the token endpoint's access_token has control characters");
        }
    const json_t *e = json_object_get(root, "expires_in");
    *expires_in = json_is_integer(e) && json_integer_value(e) > 0 ? json_integer_value(e) : 3600;
    cmx_err rc = cmx_buf_append(token, s, json_string_length(t)) == 0
                     ? CMX_OK
                     : cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    json_decref(root);
    return rc;
}
