/* sigv4.h — AWS Signature Version 4 (AWS4-HMAC-SHA256), header and presigned
 * query signing.
 *
 * Signing is a chain of small pure steps, each testable on its own against
 * AWS's published test suite (../shared/testdata/sigv4):
 *
 *   request ─▶ canonical request ─▶ string to sign ─▶ signature ─▶ Authorization
 *                 (URI, query,         (algorithm,        (HMAC under the
 *                  headers, signed      date, scope,        derived signing
 *                  headers, payload     SHA-256 of the      key)
 *                  hash)                canonical request)
 *
 * Nothing here does I/O or reads the clock, and no result depends on state
 * kept between calls: the caller passes the timestamp, so a signature is a
 * function of its inputs.  One thing is kept only to save work: a
 * caller may hand in a cache of the day's signing key
 * (cmx_sigv4_key_cache, the key prepared for HMAC); the signature is the
 * same with or without it.  Secrets never appear
 * in error messages or in the result (only the access key id does, as AWS
 * requires in the credential scope); intermediate keys are wiped after use.
 *
 * Inputs are the request as it will be sent: `path` exactly as it goes on the
 * wire (percent-encoded as the caller sends it), `query` the raw text after
 * '?'.  For every service but S3 the signer URI-encodes that path once more
 * (the "double encoding" AWS asks for) after normalising it (RFC 3986 dot
 * segments removed, repeated slashes collapsed); S3 callers turn both off. */
#ifndef CMX_PROVIDERS_SIGV4_H
#define CMX_PROVIDERS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/sha256.h"
#include "core/err.h"

#define CMX_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define CMX_SIGV4_AMZ_DATE_LEN 16 /* "20150830T123600Z" */
#define CMX_SIGV4_HEX_LEN 64      /* SHA-256 / HMAC-SHA256 in lower-case hex */

typedef struct cmx_sigv4_header {
    const char *name; /* any case; must be an HTTP token */
    const char *value;
} cmx_sigv4_header;

/* Borrowed for the call only.  session_token may be NULL. */
typedef struct cmx_sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
} cmx_sigv4_credentials;

typedef struct cmx_sigv4_request {
    const char *method;              /* "POST" */
    const char *path;                /* as on the wire, without the query; "" means "/" */
    const char *query;               /* text after '?', or NULL */
    const cmx_sigv4_header *headers; /* must include Host */
    size_t n_headers;
    const char *payload; /* body bytes (may be NULL when payload_len is 0) */
    size_t payload_len;
    /* Lower-case hex SHA-256 of the body, or a marker such as
     * "UNSIGNED-PAYLOAD"; NULL: computed from payload (or taken from an
     * x-amz-content-sha256 header when the request has one). */
    const char *payload_hash;
} cmx_sigv4_request;

typedef enum cmx_sigv4_mode {
    CMX_SIGV4_SIGN_HEADERS = 0, /* Authorization header (what Bedrock uses) */
    CMX_SIGV4_SIGN_QUERY,       /* presigned URL: X-Amz-* query parameters */
} cmx_sigv4_mode;

/* The last signing key derived, for a caller that signs many requests with
 * one secret (one per worker: not shared between threads).  The key changes
 * once a day per region and service; a sign with a cache derives it only
 * when the secret, the date (YYYYMMDD of amz_date), the region or the
 * service differ from what the cache holds.  It holds key material: zero it
 * to start (CMX_SIGV4_KEY_CACHE_INIT), cmx_sigv4_key_cache_clear to end. */
#define CMX_SIGV4_CACHED_SECRET_MAX 128 /* longer secrets are not cached */
typedef struct cmx_sigv4_key_cache {
    int valid;
    char date8[9];
    char region[64];
    char service[64];
    size_t secret_len;
    char secret[CMX_SIGV4_CACHED_SECRET_MAX];
    cmx_hmac_sha256_key key;   /* the day's key, prepared for HMAC */
    unsigned long derivations; /* how many times a key was derived (for tests) */
} cmx_sigv4_key_cache;
#define CMX_SIGV4_KEY_CACHE_INIT                                                                   \
    {                                                                                              \
        0                                                                                          \
    }
/* Wipes the cached key and secret; the cache is empty after. */
void cmx_sigv4_key_cache_clear(cmx_sigv4_key_cache *c);

/* All-zero options are the right ones for Bedrock and every non-S3 service. */
typedef struct cmx_sigv4_options {
    cmx_sigv4_mode mode;
    int keep_path_unnormalized; /* S3: the path is signed as given */
    int no_double_encode;       /* S3: the wire path is already the canonical one */
    /* The security token is sent but not signed (some services want it added
     * after signing); default: signed. */
    int omit_session_token;
    /* Header mode: add and sign "x-amz-content-sha256: <payload hash>". */
    int sign_payload_header;
    unsigned expires_seconds;       /* query mode: X-Amz-Expires; 0 means 900 */
    cmx_sigv4_key_cache *key_cache; /* NULL: the signing key is derived every time */
} cmx_sigv4_options;

/* A header the caller must add to the request.  Values point into the
 * result, except X-Amz-Security-Token's, which is creds->session_token. */
typedef struct cmx_sigv4_added_header {
    const char *name;
    const char *value;
} cmx_sigv4_added_header;

/* What signing produces.  The buffers belong to the result: initialise once
 * with cmx_sigv4_result_init, sign into it as often as wanted (each sign
 * resets it and reuses its memory), release with cmx_sigv4_result_free.
 * Signing the same request again (one worker's Bedrock calls to a model)
 * reuses the canonical request's text up to the payload hash; the
 * signature is the same either way. */
typedef struct cmx_sigv4_result {
    cmx_buf canonical_request;
    cmx_buf string_to_sign;
    cmx_buf signed_headers; /* "host;x-amz-date" */
    cmx_buf authorization;  /* header mode: the Authorization value; "" in query mode */
    /* Query mode: the parameters to append to the request's query (after a
     * '&' when it has one), X-Amz-Signature last, already percent-encoded. */
    cmx_buf presigned_query;
    char amz_date[CMX_SIGV4_AMZ_DATE_LEN + 1];
    char payload_hash[CMX_SIGV4_HEX_LEN + 1]; /* as signed; may be a marker */
    char signature[CMX_SIGV4_HEX_LEN + 1];
    /* Header mode: X-Amz-Date (unless the request had it),
     * X-Amz-Security-Token (unless the request had it), x-amz-content-sha256
     * (with sign_payload_header, unless present), and Authorization last. */
    cmx_sigv4_added_header added[4];
    size_t n_added;
    /* Kept across signs, to save work only (header mode): the inputs of the
     * last canonical request (method, path, query, the path options and
     * every header signed, X-Amz-Date included) and its text up to the
     * payload hash, reused while a sign's inputs are the same; they change
     * at least once a second with the date.  Secret buffers: a session
     * token is among the headers. */
    cmx_buf memo_inputs;
    cmx_buf memo_canonical;    /* "POST\n/uri\n\nheaders\n\nsigned;names\n" */
    size_t memo_signed_at;     /* where the signed names start in it */
    unsigned long memo_reused; /* signs that took it (for tests) */
} cmx_sigv4_result;

void cmx_sigv4_result_init(cmx_sigv4_result *r);
void cmx_sigv4_result_free(cmx_sigv4_result *r);

/* Signs with default options (header mode).  amz_date is the request time
 * in ISO 8601 basic form ("20150830T123600Z"); if the request already carries
 * X-Amz-Date it must be the same.  Errors (CMX_ERR_BAD_REQUEST for bad input,
 * CMX_ERR_NOMEM) name the input at
 * fault and never include a secret.  On error the result is left reset. */
cmx_err cmx_sigv4_sign(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                       const char *region, const char *service, const char *amz_date,
                       cmx_sigv4_result *out, cmx_error *err);
/* The same with options (NULL: defaults). */
cmx_err cmx_sigv4_sign_ex(const cmx_sigv4_request *req, const cmx_sigv4_credentials *creds,
                          const char *region, const char *service, const char *amz_date,
                          const cmx_sigv4_options *opts, cmx_sigv4_result *out, cmx_error *err);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ".  -1 if t is out of range. */
int cmx_sigv4_format_amz_date(time_t t, char out[CMX_SIGV4_AMZ_DATE_LEN + 1]);

/* ---- The steps, exposed for tests and for callers that cache. ---- */

/* URI-encoding the AWS way is RFC 3986's: cmx_url_encode (core/url_encode.h). */
/* Appends the canonical URI of a wire path. */
int cmx_sigv4_canonical_uri(cmx_buf *out, const char *path, int normalize, int double_encode);
/* Appends the canonical query string: each name and value percent-decoded
 * then re-encoded, a missing '=' read as an empty value, sorted by name then
 * value. */
int cmx_sigv4_canonical_query(cmx_buf *out, const char *query);
/* Appends the canonical headers ("name:value\n" per distinct lower-cased
 * name, sorted; values trimmed, inner blank runs made one space, repeated
 * names joined with ',' in input order) to canon and the signed header list
 * ("host;x-amz-date") to signed_names.  Hop-by-hop headers, Authorization,
 * User-Agent and X-Amzn-Trace-Id are left out: something between here and
 * AWS may change them.  Rejects names that are not HTTP tokens and values
 * with control characters (CMX_ERR_BAD_REQUEST). */
cmx_err cmx_sigv4_canonical_headers(cmx_buf *canon, cmx_buf *signed_names,
                                    const cmx_sigv4_header *headers, size_t n, cmx_error *err);
/* The signing key: HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service, "aws4_request".  It changes once a day per region and service, so
 * a caller may cache it (as a secret). */
cmx_err cmx_sigv4_derive_key(const char *secret_access_key, const char *date8, const char *region,
                             const char *service, unsigned char key[32], cmx_error *err);
/* Lower-case hex SHA-256 of data. */
cmx_err cmx_sigv4_sha256_hex(const void *data, size_t len, char hex[CMX_SIGV4_HEX_LEN + 1],
                             cmx_error *err);

#endif
