/* sigv4.c — AWS Signature Version 4: from a request to its signature (see
 * sigv4.h; the canonical parts are built in sigv4_canon.c).
 *
 * cmx_sigv4_sign_ex runs the chain in AWS's order: add the headers signing
 * itself needs (X-Amz-Date, the session token, the payload hash) or, for a
 * presigned URL, the X-Amz-* query parameters; build the canonical request;
 * hash it into the string to sign; derive the day's signing key; HMAC the
 * string to sign with it.  Crypto is core/sha256.h (OpenSSL's block
 * functions on stack contexts).  The secret only
 * ever enters derive_key, and every buffer that held key material is wiped
 * before it is released. */
#include "providers/sigv4.h"
#include "core/sha256.h"
#include "core/str.h"
#include "core/url_encode.h"
#include "core/wipe.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define DEFAULT_EXPIRES_SECONDS 900
#define MAX_EXPIRES_SECONDS 604800 /* AWS refuses presigned URLs over 7 days */

cmx_err cmx_sigv4_sha256_hex(const void *data, size_t len, char hex[CMX_SIGV4_HEX_LEN + 1],
                             cmx_error *err)
{
    (void)err; /* SHA-256 on a stack context cannot fail */
    uint8_t md[CMX_SHA256_LEN];
    cmx_sha256_of(data, len, md);
    cmx_sha256_hex_of(md, hex);
    return CMX_OK;
}

cmx_err cmx_sigv4_derive_key(const char *secret_access_key, const char *date8, const char *region,
                             const char *service, unsigned char key[32], cmx_error *err)
{
    /* "AWS4" + secret: on the stack for any secret AWS issues (40 bytes). */
    size_t secret_len = strlen(secret_access_key);
    unsigned char stack_first[4 + CMX_SIGV4_CACHED_SECRET_MAX];
    unsigned char *first =
        secret_len <= CMX_SIGV4_CACHED_SECRET_MAX ? stack_first : malloc(4 + secret_len);
    if (!first)
        return cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    memcpy(first, CMX_LIT("AWS4"));
    memcpy(first + 4, secret_access_key, secret_len);
    unsigned char k_date[32], k_region[32], k_service[32];
    cmx_hmac_sha256_once(first, 4 + secret_len, date8, strlen(date8), k_date);
    cmx_hmac_sha256_once(k_date, 32, region, strlen(region), k_region);
    cmx_hmac_sha256_once(k_region, 32, service, strlen(service), k_service);
    cmx_hmac_sha256_once(k_service, 32, CMX_LIT("aws4_request"), key);
    OPENSSL_cleanse(first, 4 + secret_len);
    if (first != stack_first)
        free(first);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_region, sizeof k_region);
    OPENSSL_cleanse(k_service, sizeof k_service);
    return CMX_OK;
}

/* Writes v as `width` decimal digits. */
static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

int cmx_sigv4_format_amz_date(time_t t, char out[CMX_SIGV4_AMZ_DATE_LEN + 1])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -1;
    /* "%Y%m%dT%H%M%SZ" by hand: strftime reads the locale for it. */
    char *p = put_digits(out, tm.tm_year + 1900, 4);
    p = put_digits(p, tm.tm_mon + 1, 2);
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    p = put_digits(p, tm.tm_min, 2);
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = 'Z';
    *p = '\0';
    return 0;
}

void cmx_sigv4_result_init(cmx_sigv4_result *r)
{
    memset(r, 0, sizeof *r);
    /* the session token is signed, so it is in the canonical request too */
    cmx_buf_init_secret(&r->canonical_request);
    cmx_buf_init_secret(&r->memo_inputs);
    cmx_buf_init_secret(&r->memo_canonical);
}

static void result_reset(cmx_sigv4_result *r)
{
    cmx_buf_reset(&r->canonical_request);
    cmx_buf_reset(&r->string_to_sign);
    cmx_buf_reset(&r->signed_headers);
    cmx_buf_reset(&r->authorization);
    cmx_buf_reset(&r->presigned_query);
    r->amz_date[0] = r->payload_hash[0] = r->signature[0] = '\0';
    r->n_added = 0;
}

void cmx_sigv4_result_free(cmx_sigv4_result *r)
{
    cmx_buf_free(&r->canonical_request);
    cmx_buf_free(&r->string_to_sign);
    cmx_buf_free(&r->signed_headers);
    cmx_buf_free(&r->authorization);
    cmx_buf_free(&r->presigned_query);
    cmx_buf_free(&r->memo_inputs); /* secret buffers: wiped */
    cmx_buf_free(&r->memo_canonical);
    memset(r, 0, sizeof *r);
}

/* ---- input checks ---- */

static int is_amz_date(const char *s)
{
    if (!s || strlen(s) != CMX_SIGV4_AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

/* Region, service and key id go into the credential scope, where '/', ','
 * or a blank would change the meaning of the Authorization header. */
static int is_scope_part(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '/' || *s == ',' || *s == '=')
            return 0;
    return 1;
}

static int is_method(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static const cmx_sigv4_header *find_header(const cmx_sigv4_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return &req->headers[i];
    return NULL;
}

static cmx_err check_inputs(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                            const char *region, const char *service, const char *amz_date,
                            const cmx_sigv4_options *opts, cmx_error *err)
{
    if (!req || !creds)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: no request or no credentials");
    if (!is_method(req->method))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: missing or invalid method");
    if (req->n_headers > 0 && !req->headers)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: n_headers without headers");
    if (req->payload_len > 0 && !req->payload)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: payload_len without payload");
    if (!is_scope_part(creds->access_key_id))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: access key id missing or has a blank, '/', ',' or '='");
    if (!creds->secret_access_key || !*creds->secret_access_key)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: secret access key missing");
    if (!is_scope_part(region))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: region missing or malformed");
    if (!is_scope_part(service))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: service missing or malformed");
    if (!is_amz_date(amz_date))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: amz_date '%.32s' is not YYYYMMDDTHHMMSSZ",
                             amz_date ? amz_date : "(null)");
    if (!find_header(req, "host"))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: request has no Host header");
    const cmx_sigv4_header *date = find_header(req, "x-amz-date");
    if (date && (!date->value || strcmp(date->value, amz_date) != 0))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: the request's X-Amz-Date differs from amz_date %s", amz_date);
    if (opts->mode != CMX_SIGV4_SIGN_HEADERS && opts->mode != CMX_SIGV4_SIGN_QUERY)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: unknown signing mode %d",
                             (int)opts->mode);
    if (opts->expires_seconds > MAX_EXPIRES_SECONDS)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: expires_seconds %u is over AWS's limit of %u",
                             opts->expires_seconds, MAX_EXPIRES_SECONDS);
    if (req->payload_hash && !*req->payload_hash)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: payload_hash is empty");
    if (req->payload_hash && strlen(req->payload_hash) > CMX_SIGV4_HEX_LEN)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: payload_hash longer than a SHA-256 in hex");
    return CMX_OK;
}

/* ---- the chain ---- */

/* The payload hash as signed: the caller's, an x-amz-content-sha256 header's
 * (S3's "UNSIGNED-PAYLOAD" and friends), or SHA-256 of the body. */
static cmx_err payload_hash(const cmx_sigv4_request *req, char out[CMX_SIGV4_HEX_LEN + 1],
                            cmx_error *err)
{
    const char *given = req->payload_hash;
    const cmx_sigv4_header *h = given ? NULL : find_header(req, "x-amz-content-sha256");
    if (h && h->value && *h->value && strlen(h->value) <= CMX_SIGV4_HEX_LEN)
        given = h->value;
    if (given) {
        strcpy(out, given);
        return CMX_OK;
    }
    return cmx_sigv4_sha256_hex(req->payload, req->payload_len, out, err);
}

static int append_scope(cmx_buf *b, const char *amz_date, const char *region, const char *service)
{
    return cmx_buf_append(b, amz_date, 8) | cmx_buf_append_str(b, "/") |
           cmx_buf_append_str(b, region) | cmx_buf_append_str(b, "/") |
           cmx_buf_append_str(b, service) | cmx_buf_append_str(b, "/aws4_request");
}

/* The X-Amz-* parameters of a presigned URL, before X-Amz-Signature, in the
 * order the SDKs write them.  Only the encoded form is ever built; with
 * include_token == 0 the token is left out (it is added after signing). */
static int append_presign_params(cmx_buf *q, const cmx_sigv4_credentials *creds,
                                 const char *amz_date, const char *region, const char *service,
                                 const char *signed_headers, unsigned expires, int include_token)
{
    cmx_buf scope = CMX_BUF_INIT;
    int fail = cmx_buf_append_str(q, "X-Amz-Algorithm=" CMX_SIGV4_ALGORITHM "&X-Amz-Credential=");
    fail |= cmx_buf_printf(&scope, "%s/", creds->access_key_id);
    fail |= append_scope(&scope, amz_date, region, service);
    if (!fail)
        fail |= cmx_url_encode(q, scope.data, scope.len, 0);
    cmx_buf_free(&scope);
    fail |= cmx_buf_printf(q, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", amz_date);
    fail |= cmx_url_encode(q, signed_headers, strlen(signed_headers), 0);
    fail |= cmx_buf_printf(q, "&X-Amz-Expires=%u", expires);
    if (include_token && creds->session_token && *creds->session_token) {
        fail |= cmx_buf_append_str(q, "&X-Amz-Security-Token=");
        fail |= cmx_url_encode(q, creds->session_token, strlen(creds->session_token), 0);
    }
    return fail ? -1 : 0;
}

/* ---- the chain, step by step (as aws-c-auth's aws_signing.c does) ---- */

/* Step 0: the headers to sign — the request's plus what header signing
 * adds (X-Amz-Date, the session token, the payload hash), each also noted
 * in out->added for the caller to send.  `all` has room for n_headers + 3. */
static size_t headers_to_sign(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                              const cmx_sigv4_options *opts, cmx_sigv4_result *out,
                              cmx_sigv4_header *all)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        all[n++] = req->headers[i];
    if (opts->mode == CMX_SIGV4_SIGN_QUERY)
        return n;
    if (!find_header(req, "x-amz-date")) {
        all[n++] = (cmx_sigv4_header){"x-amz-date", out->amz_date};
        out->added[out->n_added++] = (cmx_sigv4_added_header){"X-Amz-Date", out->amz_date};
    }
    int has_token = creds->session_token && *creds->session_token;
    if (has_token && !find_header(req, "x-amz-security-token")) {
        if (!opts->omit_session_token)
            all[n++] = (cmx_sigv4_header){"x-amz-security-token", creds->session_token};
        out->added[out->n_added++] =
            (cmx_sigv4_added_header){"X-Amz-Security-Token", creds->session_token};
    }
    if (opts->sign_payload_header && !find_header(req, "x-amz-content-sha256")) {
        all[n++] = (cmx_sigv4_header){"x-amz-content-sha256", out->payload_hash};
        out->added[out->n_added++] =
            (cmx_sigv4_added_header){"x-amz-content-sha256", out->payload_hash};
    }
    return n;
}

/* Step 1: the canonical request — method, canonical URI, canonical query
 * (with the presigned parameters in query mode), canonical headers, signed
 * header names and payload hash, a line each — into out->canonical_request
 * (and the signed names into out->signed_headers). */
static cmx_err build_canonical_request(const cmx_sigv4_request *req,
                                       const cmx_sigv4_credentials *creds, const char *region,
                                       const char *service, const char *amz_date,
                                       const cmx_sigv4_options *opts, unsigned expires,
                                       const cmx_sigv4_header *all, size_t n, cmx_sigv4_result *out,
                                       cmx_error *err)
{
    int query_mode = opts->mode == CMX_SIGV4_SIGN_QUERY;
    cmx_buf *creq = &out->canonical_request;
    cmx_buf headers_block = CMX_BUF_INIT, query = CMX_BUF_INIT;
    cmx_err rc = CMX_OK;
    int fail = 0;
    if (query_mode) {
        /* The presigned parameters name the signed headers and are signed
         * as part of the query, which comes before the headers. */
        rc = cmx_sigv4_canonical_headers(&headers_block, &out->signed_headers, all, n, err);
        if (rc == CMX_OK && req->query && *req->query)
            fail |= cmx_buf_printf(&query, "%s&", req->query);
        if (rc == CMX_OK)
            fail |= append_presign_params(&query, creds, amz_date, region, service,
                                          out->signed_headers.data ? out->signed_headers.data : "",
                                          expires, !opts->omit_session_token);
    }
    if (rc == CMX_OK && !fail) {
        fail |= cmx_buf_append_str(creq, req->method) | cmx_buf_append(creq, CMX_LIT("\n"));
        fail |= cmx_sigv4_canonical_uri(creq, req->path, !opts->keep_path_unnormalized,
                                        !opts->no_double_encode);
        fail |= cmx_buf_append(creq, CMX_LIT("\n"));
        fail |= cmx_sigv4_canonical_query(creq, query_mode ? query.data : req->query);
        fail |= cmx_buf_append(creq, CMX_LIT("\n"));
        if (query_mode)
            fail |= cmx_buf_append(creq, headers_block.data, headers_block.len);
        else if (!fail) /* header mode: straight into the canonical request */
            rc = cmx_sigv4_canonical_headers(creq, &out->signed_headers, all, n, err);
    }
    if (rc == CMX_OK && !fail) {
        fail |= cmx_buf_append(creq, CMX_LIT("\n"));
        fail |= cmx_buf_append(creq, out->signed_headers.data, out->signed_headers.len);
        fail |= cmx_buf_append(creq, CMX_LIT("\n"));
        fail |= cmx_buf_append_str(creq, out->payload_hash);
    }
    cmx_buf_free(&headers_block);
    cmx_buf_free(&query);
    if (rc == CMX_OK && fail)
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    return rc;
}

/* ---- the canonical request kept between signs ---- */

/* The inputs of a header-mode canonical request as NUL-ended pieces,
 * appended to `build`, or compared with `at` .. `end` (same stays 1 while
 * they match).  NULL and "" are one piece: they canonicalise alike. */
typedef struct inputs_walk {
    cmx_buf *build;
    const char *at, *end;
    int same;
} inputs_walk;

static void inputs_piece(inputs_walk *w, const char *s)
{
    s = s ? s : "";
    size_t n = strlen(s) + 1;
    if (w->build)
        cmx_buf_append(w->build, s, n);
    else if (w->same && (size_t)(w->end - w->at) >= n && memcmp(w->at, s, n) == 0)
        w->at += n;
    else
        w->same = 0;
}

static void walk_inputs(inputs_walk *w, const cmx_sigv4_request *req, const cmx_sigv4_options *opts,
                        const cmx_sigv4_header *all, size_t n)
{
    const char flags[] = {(char)('0' + !!opts->keep_path_unnormalized),
                          (char)('0' + !!opts->no_double_encode), '\0'};
    inputs_piece(w, flags);
    inputs_piece(w, req->method);
    inputs_piece(w, req->path);
    inputs_piece(w, req->query);
    for (size_t i = 0; i < n; i++) {
        inputs_piece(w, all[i].name);
        inputs_piece(w, all[i].value);
    }
}

/* Whether the kept canonical request was made from these very inputs. */
static int memo_matches(const cmx_sigv4_result *out, const cmx_sigv4_request *req,
                        const cmx_sigv4_options *opts, const cmx_sigv4_header *all, size_t n)
{
    if (!out->memo_inputs.len || !out->memo_canonical.len)
        return 0;
    inputs_walk w = {NULL, out->memo_inputs.data, out->memo_inputs.data + out->memo_inputs.len, 1};
    walk_inputs(&w, req, opts, all, n);
    return w.same && w.at == w.end;
}

/* Keeps the canonical request just built (up to its payload hash) and its
 * inputs; on a failure nothing is kept. */
static void memo_keep(cmx_sigv4_result *out, const cmx_sigv4_request *req,
                      const cmx_sigv4_options *opts, const cmx_sigv4_header *all, size_t n)
{
    cmx_buf_reset(&out->memo_inputs);
    cmx_buf_reset(&out->memo_canonical);
    inputs_walk w = {&out->memo_inputs, NULL, NULL, 1};
    walk_inputs(&w, req, opts, all, n);
    const cmx_buf *creq = &out->canonical_request;
    size_t prefix = creq->len - strlen(out->payload_hash);
    cmx_buf_append(&out->memo_canonical, creq->data, prefix);
    out->memo_signed_at = prefix - 1 - out->signed_headers.len;
    if (cmx_buf_failed(&out->memo_inputs) || cmx_buf_failed(&out->memo_canonical)) {
        cmx_buf_reset(&out->memo_inputs);
        cmx_buf_reset(&out->memo_canonical);
    }
}

/* Step 1: the canonical request, from what the last sign kept when its
 * inputs were the same (header mode), else built. */
static cmx_err canonical_request(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                                 const char *region, const char *service, const char *amz_date,
                                 const cmx_sigv4_options *opts, unsigned expires,
                                 cmx_sigv4_result *out, cmx_error *err)
{
    cmx_sigv4_header on_stack[16];
    cmx_sigv4_header *all =
        req->n_headers + 3 <= 16 ? on_stack : malloc((req->n_headers + 3) * sizeof *all);
    if (!all)
        return cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    size_t n = headers_to_sign(req, creds, opts, out, all);
    int header_mode = opts->mode == CMX_SIGV4_SIGN_HEADERS;
    cmx_err rc;
    if (header_mode && memo_matches(out, req, opts, all, n)) {
        const cmx_buf *m = &out->memo_canonical;
        int fail = cmx_buf_append(&out->canonical_request, m->data, m->len);
        fail |= cmx_buf_append(&out->signed_headers, m->data + out->memo_signed_at,
                               m->len - 1 - out->memo_signed_at);
        fail |= cmx_buf_append_str(&out->canonical_request, out->payload_hash);
        rc = fail ? cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory") : CMX_OK;
        out->memo_reused++;
    } else {
        rc = build_canonical_request(req, creds, region, service, amz_date, opts, expires, all, n,
                                     out, err);
        if (rc == CMX_OK && header_mode)
            memo_keep(out, req, opts, all, n);
    }
    if (all != on_stack)
        free(all);
    return rc;
}

/* Step 2: the string to sign — the algorithm, the date, the credential
 * scope and the canonical request's hash — into out->string_to_sign. */
static cmx_err string_to_sign(const char *region, const char *service, const char *amz_date,
                              cmx_sigv4_result *out, cmx_error *err)
{
    char creq_hash[CMX_SIGV4_HEX_LEN + 1];
    cmx_err rc = cmx_sigv4_sha256_hex(out->canonical_request.data, out->canonical_request.len,
                                      creq_hash, err);
    if (rc != CMX_OK)
        return rc;
    cmx_buf *sts = &out->string_to_sign;
    int fail = cmx_buf_append_str(sts, CMX_SIGV4_ALGORITHM "\n");
    fail |= cmx_buf_append_str(sts, amz_date) | cmx_buf_append(sts, CMX_LIT("\n"));
    fail |= append_scope(sts, amz_date, region, service);
    fail |= cmx_buf_append(sts, CMX_LIT("\n")) | cmx_buf_append_str(sts, creq_hash);
    return fail ? cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory") : CMX_OK;
}

void cmx_sigv4_key_cache_clear(cmx_sigv4_key_cache *c)
{
    OPENSSL_cleanse(c, sizeof *c);
}

/* Whether the cache holds the key of this secret, day, region and service. */
static int key_cached(const cmx_sigv4_key_cache *c, const char *secret, size_t secret_len,
                      const char *date8, const char *region, const char *service)
{
    return c->valid && c->secret_len == secret_len && memcmp(c->date8, date8, 9) == 0 &&
           strcmp(c->region, region) == 0 && strcmp(c->service, service) == 0 &&
           CRYPTO_memcmp(c->secret, secret, secret_len) == 0;
}

/* The signing key prepared for HMAC, from the cache when it holds it, else
 * derived into `local` (and kept in the cache when it fits): the key to
 * sign with. */
static const cmx_hmac_sha256_key *signing_key(const cmx_sigv4_credentials *creds, const char *date8,
                                              const char *region, const char *service,
                                              cmx_sigv4_key_cache *c, cmx_hmac_sha256_key *local,
                                              cmx_error *err)
{
    const char *secret = creds->secret_access_key;
    size_t secret_len = strlen(secret);
    if (c && key_cached(c, secret, secret_len, date8, region, service))
        return &c->key;
    unsigned char key[32];
    if (cmx_sigv4_derive_key(secret, date8, region, service, key, err) != CMX_OK)
        return NULL;
    cmx_hmac_sha256_key_init(local, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    if (!c)
        return local;
    unsigned long derivations = c->derivations;
    cmx_sigv4_key_cache_clear(c);
    c->derivations = derivations + 1;
    if (secret_len <= sizeof c->secret && strlen(region) < sizeof c->region &&
        strlen(service) < sizeof c->service) {
        memcpy(c->date8, date8, 9);
        strcpy(c->region, region);
        strcpy(c->service, service);
        memcpy(c->secret, secret, secret_len);
        c->secret_len = secret_len;
        c->key = *local;
        c->valid = 1;
    }
    return local;
}

/* Step 3: the signature — HMAC of the string to sign with the key derived
 * from the secret, date, region and service — into out->signature. */
static cmx_err signature(const cmx_sigv4_credentials *creds, const char *region,
                         const char *service, const char *amz_date, const cmx_sigv4_options *opts,
                         cmx_sigv4_result *out, cmx_error *err)
{
    char date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    cmx_hmac_sha256_key local;
    const cmx_hmac_sha256_key *key =
        signing_key(creds, date8, region, service, opts->key_cache, &local, err);
    if (!key)
        return CMX_ERR_NOMEM; /* the only way deriving fails; err says so */
    uint8_t sig[CMX_SHA256_LEN];
    cmx_hmac_sha256_keyed(key, out->string_to_sign.data, out->string_to_sign.len, sig);
    if (key == &local)
        cmx_hmac_sha256_key_wipe(&local);
    cmx_sha256_hex_of(sig, out->signature);
    return CMX_OK;
}

/* Step 4: what the caller sends — the Authorization header, or the
 * presigned query with X-Amz-Signature last. */
static cmx_err signed_output(const cmx_sigv4_credentials *creds, const char *region,
                             const char *service, const char *amz_date,
                             const cmx_sigv4_options *opts, unsigned expires, cmx_sigv4_result *out,
                             cmx_error *err)
{
    int fail = 0;
    if (opts->mode == CMX_SIGV4_SIGN_QUERY) {
        fail |= append_presign_params(&out->presigned_query, creds, amz_date, region, service,
                                      out->signed_headers.data, expires, 1);
        fail |= cmx_buf_printf(&out->presigned_query, "&X-Amz-Signature=%s", out->signature);
        fail |= cmx_buf_append(&out->authorization, CMX_LIT(""));
    } else {
        cmx_buf *a = &out->authorization;
        fail |= cmx_buf_append_str(a, CMX_SIGV4_ALGORITHM " Credential=");
        fail |= cmx_buf_append_str(a, creds->access_key_id) | cmx_buf_append_str(a, "/");
        fail |= append_scope(a, amz_date, region, service);
        fail |= cmx_buf_append_str(a, ", SignedHeaders=");
        fail |= cmx_buf_append_str(a, out->signed_headers.data ? out->signed_headers.data : "");
        fail |= cmx_buf_append_str(a, ", Signature=") | cmx_buf_append_str(a, out->signature);
        fail |= cmx_buf_append(&out->presigned_query, CMX_LIT(""));
        out->added[out->n_added++] =
            (cmx_sigv4_added_header){"Authorization", out->authorization.data};
    }
    return fail ? cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory") : CMX_OK;
}

static cmx_err sign_chain(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                          const char *region, const char *service, const char *amz_date,
                          const cmx_sigv4_options *opts, cmx_sigv4_result *out, cmx_error *err)
{
    unsigned expires = opts->expires_seconds ? opts->expires_seconds : DEFAULT_EXPIRES_SECONDS;
    memcpy(out->amz_date, amz_date, CMX_SIGV4_AMZ_DATE_LEN + 1);
    cmx_err rc = payload_hash(req, out->payload_hash, err);
    if (rc == CMX_OK)
        rc = canonical_request(req, creds, region, service, amz_date, opts, expires, out, err);
    if (rc == CMX_OK)
        rc = string_to_sign(region, service, amz_date, out, err);
    if (rc == CMX_OK)
        rc = signature(creds, region, service, amz_date, opts, out, err);
    if (rc == CMX_OK)
        rc = signed_output(creds, region, service, amz_date, opts, expires, out, err);
    return rc;
}

cmx_err cmx_sigv4_sign_ex(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                          const char *region, const char *service, const char *amz_date,
                          const cmx_sigv4_options *opts, cmx_sigv4_result *out, cmx_error *err)
{
    static const cmx_sigv4_options defaults = {0};
    if (!opts)
        opts = &defaults;
    result_reset(out);
    cmx_err rc = check_inputs(req, creds, region, service, amz_date, opts, err);
    if (rc == CMX_OK)
        rc = sign_chain(req, creds, region, service, amz_date, opts, out, err);
    if (rc != CMX_OK)
        result_reset(out);
    return rc;
}

cmx_err cmx_sigv4_sign(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                       const char *region, const char *service, const char *amz_date,
                       cmx_sigv4_result *out, cmx_error *err)
{
    return cmx_sigv4_sign_ex(req, creds, region, service, amz_date, NULL, out, err);
}
