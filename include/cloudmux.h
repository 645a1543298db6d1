/* cloudmux.h — the cloudmux router inside your own program.
 *
 * The same router the gateway runs, without the HTTP server in front: give it
 * an OpenAI-format request body, get back an OpenAI-format answer (or error),
 * with the same failover, usage accounting and providers as `cloudmux serve`.
 *
 * Lifecycle: cmx_client_open → cmx_client_chat / cmx_client_embeddings (any
 * number of times) → cmx_client_close.  Each call blocks until its answer is
 * complete and runs the client's own event loop meanwhile.  A client is not
 * thread-safe: use one per thread.  Everything returned is owned by the
 * caller and released with cmx_result_free.
 *
 * Errors: every function that can fail returns a cmx_err, CMX_OK (0) on
 * success, else the kind of the failure — the same kinds the gateway's
 * router decides on, named by cmx_err_name(). */
#ifndef CLOUDMUX_H
#define CLOUDMUX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMX_VERSION_STRING "0.1.0"

/* The one error type.  A kind means the same thing whichever cloud answered:
 * the gateway retries, fails over or gives up by it (see docs/routing.md). */
typedef enum cmx_err {
    CMX_OK = 0,
    CMX_ERR_BAD_REQUEST,       /* the caller's own malformed input: 400 */
    CMX_ERR_AUTH,              /* missing/invalid gateway key: 401 */
    CMX_ERR_PROVIDER_AUTH,     /* a provider rejected the gateway's credentials */
    CMX_ERR_NOT_FOUND,         /* unknown model group or path: 404 */
    CMX_ERR_METHOD,            /* wrong method on a known path: 405 */
    CMX_ERR_TOO_LARGE,         /* body over the limit: 413 */
    CMX_ERR_CONTEXT_WINDOW,    /* prompt too long for the model */
    CMX_ERR_CONTENT_POLICY,    /* the provider refused the content */
    CMX_ERR_RATE_LIMITED,      /* 429 / throttling */
    CMX_ERR_TIMEOUT,           /* connect / first byte / idle / total deadline */
    CMX_ERR_UNAVAILABLE,       /* 5xx, reset, DNS, TLS, refused */
    CMX_ERR_UPSTREAM_PROTOCOL, /* a provider answered garbage: bad JSON, a cut stream */
    CMX_ERR_BUDGET,            /* over a key's or team's budget: 429 insufficient_quota */
    CMX_ERR_RESIDENCY,         /* no target may serve the request inside its residency: 403 */
    CMX_ERR_FORBIDDEN,         /* the key may not do this (a model group it may not use): 403 */
    CMX_ERR_CONFLICT,          /* what was to be created exists already: 409 */
    CMX_ERR_CONFIG,            /* invalid configuration */
    CMX_ERR_NOMEM,             /* out of memory */
    CMX_ERR_IO,                /* local I/O: files, sockets the gateway owns */
    CMX_ERR_CANCELLED,         /* the client went away */
    CMX_ERR_INTERNAL,
    CMX_ERR__COUNT /* not a kind: the number of kinds */
} cmx_err;

/* A kind's stable snake_case name: "rate_limited", "bad_request" ... */
const char *cmx_err_name(cmx_err kind);

typedef struct cmx_client cmx_client;

typedef struct cmx_result {
    int status; /* 200 on success, else the HTTP status the gateway would answer */
    char *body; /* OpenAI JSON: the chat.completion / embeddings list, or
                   {"error":{...}}; for a stream that succeeded, NULL */
    size_t body_len;
    char provider[64]; /* the target that answered or was tried last */
    char model[128];
    unsigned attempts;
    long long prompt_tokens; /* -1 when the provider did not report it */
    long long completion_tokens;
    long long total_tokens;
} cmx_result;

/* Called once per stream chunk: the JSON of one chat.completion.chunk. */
typedef void (*cmx_chunk_fn)(void *user, const char *json, size_t len);

/* Loads the YAML config at `config_path` and sets up a client in *out.
 * CMX_OK; CMX_ERR_CONFIG with every problem written to errbuf (may be NULL),
 * one per line as "FILE:LINE:COL: what was expected"; CMX_ERR_NOMEM or
 * CMX_ERR_INTERNAL when the client cannot be set up (errbuf says why). */
cmx_err cmx_client_open(const char *config_path, cmx_client **out, char *errbuf, size_t errbuf_len);

/* Runs one chat completion.  With "stream": true in the body, chunks go to
 * on_chunk as they arrive (on_chunk may be NULL otherwise).  CMX_OK when the
 * answer is complete; otherwise the kind of the failure (CMX_ERR_BAD_REQUEST,
 * CMX_ERR_NOT_FOUND, CMX_ERR_RATE_LIMITED ...), with out->status and
 * out->body (an OpenAI error object) saying more.  A stream cut after it
 * started returns the kind that cut it, so it never passes as complete. */
cmx_err cmx_client_chat(cmx_client *c, const char *json, size_t len, cmx_chunk_fn on_chunk,
                        void *user, cmx_result *out);

/* Runs one embeddings request; same contract without streaming. */
cmx_err cmx_client_embeddings(cmx_client *c, const char *json, size_t len, cmx_result *out);

void cmx_result_free(cmx_result *r);
void cmx_client_close(cmx_client *c);

#ifdef __cplusplus
}
#endif

#endif
