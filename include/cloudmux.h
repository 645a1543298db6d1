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
 * caller and released with cmx_result_free. */
#ifndef CLOUDMUX_H
#define CLOUDMUX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMX_VERSION_STRING "0.1.0"

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

/* Loads the YAML config at `config_path`.  Returns 0, or -1 with every
 * problem written to errbuf (may be NULL). */
int cmx_client_open(const char *config_path, cmx_client **out, char *errbuf, size_t errbuf_len);

/* Runs one chat completion.  With "stream": true in the body, chunks go to
 * on_chunk as they arrive (on_chunk may be NULL otherwise).  Returns 0 when
 * the answer is complete, -1 otherwise (out->status and out->body say why). */
int cmx_client_chat(cmx_client *c, const char *json, size_t len, cmx_chunk_fn on_chunk, void *user,
                    cmx_result *out);

/* Runs one embeddings request; same contract without streaming. */
int cmx_client_embeddings(cmx_client *c, const char *json, size_t len, cmx_result *out);

void cmx_result_free(cmx_result *r);
void cmx_client_close(cmx_client *c);

#ifdef __cplusplus
}
#endif

#endif
