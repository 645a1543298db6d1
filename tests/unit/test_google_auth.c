/* test_google_auth.c — the service-account JWT, key parsing and token
 * answers of google_auth.h.
 *
 * Each test makes a fresh RSA key with OpenSSL, so the signature is checked
 * the way Google checks it: with the public half, over header.claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "providers/google_auth.h"

static EVP_PKEY *new_rsa_key(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    EVP_PKEY *key = NULL;
    assert_non_null(kc);
    assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048), 1);
    assert_int_equal(EVP_PKEY_keygen(kc, &key), 1);
    EVP_PKEY_CTX_free(kc);
    return key;
}

static char *pem_of(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *pem = strndup(data, (size_t)n);
    BIO_free(b);
    return pem;
}

/* A key file's JSON, as the console downloads it. */
static char *key_json(const char *pem)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "project_id", "p",
                          "private_key_id", "kid-123", "private_key", pem, "client_email",
                          "sa@p.iam.gserviceaccount.com", "token_uri", "http://127.0.0.1:1/token");
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static json_t *decode_segment(const char *seg, size_t len)
{
    /* base64url → base64 with padding, then OpenSSL's decoder */
    char b64[4096];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof b64 - 4; i++)
        b64[n++] = seg[i] == '-' ? '+' : seg[i] == '_' ? '/' : seg[i];
    while (n % 4)
        b64[n++] = '=';
    unsigned char raw[3072];
    int m = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(m > 0);
    while (m > 0 && raw[m - 1] == 0) /* padding bytes EVP_DecodeBlock keeps */
        m--;
    return json_loadb((const char *)raw, (size_t)m, 0, NULL);
}

static size_t decode_b64url_bin(const char *seg, size_t len, unsigned char *out)
{
    char b64[2048];
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        b64[n++] = seg[i] == '-' ? '+' : seg[i] == '_' ? '/' : seg[i];
    size_t pad = 0;
    while (n % 4) {
        b64[n++] = '=';
        pad++;
    }
    int m = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    return (size_t)m - pad;
}

static void jwt_is_rs256_signed_with_the_claims_google_checks(void **state)
{
    (void)state;
    EVP_PKEY *key = new_rsa_key();
    char *pem = pem_of(key);
    char *json = key_json(pem);
    cmx_google_service_account sa;
    cmx_error err;
    assert_int_equal(cmx_google_service_account_parse(json, strlen(json), &sa, &err), CMX_OK);
    cmx_buf jwt = CMX_BUF_INIT;
    assert_int_equal(
        cmx_google_jwt_assertion(&sa, CMX_GOOGLE_SCOPE_CLOUD_PLATFORM, 1700000000, &jwt, &err),
        CMX_OK);
    const char *dot1 = strchr(jwt.data, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));
    assert_null(strpbrk(jwt.data, "=+/")); /* base64url without padding */

    json_t *h = decode_segment(jwt.data, (size_t)(dot1 - jwt.data));
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-123");
    json_t *c = decode_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(json_string_value(json_object_get(c, "iss")),
                        "sa@p.iam.gserviceaccount.com");
    assert_string_equal(json_string_value(json_object_get(c, "scope")),
                        "https://www.googleapis.com/auth/cloud-platform");
    assert_string_equal(json_string_value(json_object_get(c, "aud")), "http://127.0.0.1:1/token");
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1700000000);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1700003600);

    unsigned char sig[600];
    size_t sig_len = decode_b64url_bin(dot2 + 1, strlen(dot2 + 1), sig);
    assert_int_equal(sig_len, 256);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt.data,
                                      (size_t)(dot2 - jwt.data)),
                     1);
    /* and a changed claim no longer verifies */
    jwt.data[dot1 - jwt.data + 3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt.data,
                                          (size_t)(dot2 - jwt.data)),
                         1);
    EVP_MD_CTX_free(md);
    json_decref(h);
    json_decref(c);
    cmx_buf_free(&jwt);
    cmx_google_service_account_free(&sa);
    free(json);
    free(pem);
    EVP_PKEY_free(key);
}

static void key_file_errors_name_the_field_and_never_quote_the_key(void **state)
{
    (void)state;
    cmx_google_service_account sa;
    cmx_error err;
    const char *no_key = "{\"type\":\"service_account\",\"client_email\":\"a@b\"}";
    assert_int_equal(cmx_google_service_account_parse(no_key, strlen(no_key), &sa, &err),
                     CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "private_key"));

    const char *user = "{\"type\":\"authorized_user\",\"client_id\":\"x\"}";
    assert_int_equal(cmx_google_service_account_parse(user, strlen(user), &sa, &err),
                     CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "expected 'service_account'"));

    assert_int_equal(cmx_google_service_account_parse("[1]", 3, &sa, &err), CMX_ERR_CONFIG);

    /* a key OpenSSL cannot read: the message says so without showing it */
    const char *bad = "{\"client_email\":\"a@b\",\"private_key\":\"-----BEGIN PRIVATE "
                      "KEY-----\\nSECRETSECRETSECRET\\n-----END PRIVATE KEY-----\\n\"}";
    assert_int_equal(cmx_google_service_account_parse(bad, strlen(bad), &sa, &err), CMX_OK);
    assert_string_equal(sa.token_uri, "https://oauth2.googleapis.com/token");
    cmx_buf jwt = CMX_BUF_INIT;
    assert_int_equal(cmx_google_jwt_assertion(&sa, "s", 1, &jwt, &err), CMX_ERR_CONFIG);
    assert_null(strstr(err.message, "SECRET"));
    assert_non_null(strstr(err.message, "not a PEM private key"));
    assert_int_equal(jwt.len, 0);
    cmx_google_service_account_free(&sa);
}

static void token_answers_give_the_token_and_its_lifetime(void **state)
{
    (void)state;
    cmx_buf tok = CMX_BUF_INIT;
    int64_t exp = 0;
    cmx_error err;
    const char *ok =
        "{\"access_token\":\"ya29.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
    assert_int_equal(cmx_google_token_response_parse(ok, strlen(ok), &tok, &exp, &err), CMX_OK);
    assert_string_equal(tok.data, "ya29.abc");
    assert_int_equal(exp, 3599);
    cmx_buf_reset(&tok);
    const char *no_exp = "{\"access_token\":\"t\"}";
    assert_int_equal(cmx_google_token_response_parse(no_exp, strlen(no_exp), &tok, &exp, &err),
                     CMX_OK);
    assert_int_equal(exp, 3600);
    cmx_buf_reset(&tok);
    const char *none = "{\"error\":\"invalid_grant\"}";
    assert_int_equal(cmx_google_token_response_parse(none, strlen(none), &tok, &exp, &err),
                     CMX_ERR_PROVIDER_AUTH);
    /* a token that would end the Authorization header line is refused */
    const char *crlf = "{\"access_token\":\"a\\r\\nX-Evil: 1\"}";
    assert_int_equal(cmx_google_token_response_parse(crlf, strlen(crlf), &tok, &exp, &err),
                     CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(tok.len, 0);
    cmx_buf_free(&tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_is_rs256_signed_with_the_claims_google_checks),
        cmocka_unit_test(key_file_errors_name_the_field_and_never_quote_the_key),
        cmocka_unit_test(token_answers_give_the_token_and_its_lifetime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
