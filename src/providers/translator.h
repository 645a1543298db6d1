/* translator.h — the one interface of a format translator.
 *
 * A translating provider speaks its service's format; the gateway speaks
 * OpenAI's.  A translator converts one attempt both ways: the canonical
 * request into the service's body (the request writer), the service's whole
 * answer into a chat.completion or embeddings list, and its stream — raw
 * bytes in the service's framing (SSE, AWS event-stream) — into
 * chat.completion.chunk JSONs, with the token usage it counted.
 *
 * A provider picks its translator once per attempt (Gemini, Claude or
 * embeddings on Vertex; Converse, Claude through InvokeModel or embeddings
 * on Bedrock) and from then on the attempt (translating_attempt.c) only
 * talks to this interface: no branch on which road was taken.  Each
 * translator is also registered, under the name of its data folder in
 * tests/data/, so the data-driven tests drive every one of them the same
 * way.
 *
 * The request writer gets the client's bytes together with the request
 * scan, whose kept tokens (http/json_scan.h) let it read the body without
 * tokenizing it again; it writes the service's body with the JSON writer
 * (core/json_write.h), copying spans of the client's bytes as they are.  No
 * translator builds a JSON tree (translate_util.h).
 *
 * A translator may also serve a client API the service speaks itself
 * (Anthropic's Messages API on Claude behind Anthropic, Bedrock or
 * Vertex): then it passes the client's request on with what that road
 * changes (the model, the version field), and the answer and stream events
 * back as they came, reading the usage on the way. */
#ifndef CMX_PROVIDERS_TRANSLATOR_H
#define CMX_PROVIDERS_TRANSLATOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "config/config.h"
#include "core/usage.h"
#include "http/json_scan.h"
#include "http/upstream.h"

/* Where stream chunks go: one chat.completion.chunk JSON per call. */
typedef void (*cmx_translate_emit_fn)(void *ctx, const char *json, size_t len);

/* What a translator knows for one attempt. */
typedef struct cmx_translate_params {
    const char *provider_name;   /* the configured name, for messages */
    const char *model;           /* the target's upstream model */
    const char *id;              /* the id of answers whose format carries none */
    int64_t created;             /* the Unix time put in answers */
    int include_usage;           /* the client asked for the stream's usage chunk */
    int drop_unsupported;        /* drop what the format cannot say instead of a 400 */
    uint32_t default_max_tokens; /* when the client sends none; 0: the format's default */
    /* How response_format, reasoning_effort and caching reach this target
     * (the target's and group's settings, config.h; zero: the defaults). */
    int structured_output;             /* CMX_STRUCTURED_OUTPUT_* */
    int reasoning;                     /* CMX_REASONING_* */
    const uint32_t *reasoning_budgets; /* CMX_REASONING_LEVELS tokens (0: default), or NULL */
    unsigned cache_prompt;             /* CMX_CACHE_PROMPT_* bits */
    /* The anthropic-beta names a Claude cloud takes (anthropic_beta.h);
     * NULL: every name the client sent. */
    const char *anthropic_betas;
    cmx_translate_emit_fn emit; /* stream chunks */
    void *emit_ctx;
    /* Optional, for a stream passed through in the client's own API: n
     * events framed as the client takes them (http/sse_relay.h), in place
     * of n emit calls, only after a first emit.  NULL: all through emit. */
    void (*emit_events)(void *ctx, const char *sse, size_t len, size_t n);
} cmx_translate_params;

/* The canonical request: the client's bytes and what the scan found in
 * them (spans of its fields).  scan and arena may be NULL (tests). */
typedef struct cmx_translate_input {
    const char *body;
    size_t len;
    const cmx_request_scan *scan;
    cmx_arena *arena;
    const char *anthropic_beta; /* a Messages call's anthropic-beta header, or NULL */
} cmx_translate_input;

typedef struct cmx_translator_ops {
    const char *name; /* its folder under tests/data/: "anthropic", "bedrock_invoke" */
    /* The API of the calls it serves: chat or embeddings (the canonical
     * format, translated into the service's), or a client API the service
     * speaks itself (messages, count_tokens, responses), whose bodies,
     * answers and stream events it passes on in that API's own shape. */
    cmx_api api;
    /* The content type a 2xx stream must have; NULL when it has no streams. */
    const char *stream_content_type;
    size_t state_size;
    /* Sets up a fresh (zeroed) state; CMX_OK or why this attempt cannot be
     * translated at all (an embeddings model it does not know). */
    cmx_err (*init)(void *t, const cmx_translate_params *p, cmx_error *err);
    /* The canonical request → the service's body, appended to out.
     * CMX_ERR_BAD_REQUEST with a message a client can act on. */
    cmx_err (*write_request)(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err);
    /* Optional: an answer header the translation needs. */
    void (*header)(void *t, const cmx_http_header *h);
    /* A whole 2xx answer → the canonical answer appended to out, its token
     * counts in *usage. */
    cmx_err (*read_answer)(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                           cmx_error *err);
    /* Bytes of a 2xx stream, in any pieces; chunks go to the emit function.
     * Anything but CMX_OK stops the stream (err says why). */
    cmx_err (*feed)(void *t, const char *data, size_t len, cmx_error *err);
    /* The stream's bytes ended: CMX_OK when the answer was complete (its
     * last chunks are emitted now), else why it is not. */
    cmx_err (*end)(void *t, cmx_error *err);
    /* Stream events translated so far, for messages. */
    size_t (*events)(const void *t);
    /* The usage the stream counted so far (cmx_usage_init when none). */
    void (*usage)(const void *t, cmx_usage *u);
    /* Frees what the state holds; may run twice. */
    void (*release)(void *t);
} cmx_translator_ops;

/* A translator at work on one attempt. */
typedef struct cmx_translator {
    const cmx_translator_ops *ops;
    void *state;
} cmx_translator;

/* The portable settings of a target (and its group) into p. */
void cmx_translate_params_of_target(cmx_translate_params *p, const cmx_target_config *target);

/* Allocates the state (in `arena`, or with malloc when arena is NULL) and
 * runs init.  On failure t->ops is NULL and err says why. */
cmx_err cmx_translator_open(cmx_translator *t, const cmx_translator_ops *ops, cmx_arena *arena,
                            const cmx_translate_params *p, cmx_error *err);
/* Releases what the state holds (and the state, when it was malloc'd). */
void cmx_translator_close(cmx_translator *t);

/* Every registered translator (the providers' own lists), NULL past the
 * last; for tests and tools. */
const cmx_translator_ops *cmx_translator_at(size_t i);

/* ---- framings, for the translators' feed -------------------------------- */

#include "http/sse.h"
#include "providers/eventstream.h"

/* An SSE stream: events go to on_event(ctx), which returns nonzero (and
 * fills the error it was given through ctx) to stop.  Events over
 * CMX_SSE_UPSTREAM_EVENT_MAX are refused. */
typedef struct cmx_sse_framing {
    cmx_sse_parser parser;
    int ready;
    int mid_stream; /* set before the first feed: the bytes continue a stream begun elsewhere */
} cmx_sse_framing;

cmx_err cmx_sse_framing_feed(cmx_sse_framing *f, const char *data, size_t len,
                             cmx_sse_event_cb on_event, void *ctx, cmx_error *err);
int cmx_sse_framing_partial(const cmx_sse_framing *f);
void cmx_sse_framing_free(cmx_sse_framing *f);

/* An AWS event-stream: messages go to on_message(ctx). */
typedef struct cmx_eventstream_framing {
    cmx_eventstream_decoder decoder;
    int ready;
} cmx_eventstream_framing;

cmx_err cmx_eventstream_framing_feed(cmx_eventstream_framing *f, const char *data, size_t len,
                                     cmx_eventstream_message_cb on_message, void *ctx,
                                     cmx_error *err);
int cmx_eventstream_framing_partial(const cmx_eventstream_framing *f);
void cmx_eventstream_framing_free(cmx_eventstream_framing *f);

/* "upstream stream ended without <marker> after N events[ (mid-event)]":
 * the error every translator's end() gives for a cut stream. */
cmx_err cmx_translate_cut(cmx_error *err, const char *marker, size_t events, int partial);

#endif
