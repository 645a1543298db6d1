/* openai_wire.h — one attempt against an OpenAI-wire upstream, shared by the
 * providers whose service speaks the OpenAI format itself (openai, azure).
 *
 * Those providers differ only in where the request goes and how it is
 * authenticated; what travels and how the answer is judged is the same: the
 * client's bytes go out (with the upstream model spliced in when asked), a
 * whole answer or an SSE stream comes back as bytes, usage is read by token
 * scan, garbage and cut streams are protocol errors, and error answers are
 * mapped to the router's kinds.  The caller supplies origin, path and header
 * block; this file does the rest and reports through the attempt sink. */
#ifndef CMX_PROVIDERS_OPENAI_WIRE_H
#define CMX_PROVIDERS_OPENAI_WIRE_H

#include "provider.h"

typedef struct cmx_openai_wire_request {
    const cmx_provider_config *cfg; /* name for messages, timeouts, TLS settings */
    cmx_upstream *upstream;
    const cmx_url *origin;
    const char *path;    /* full path with query */
    const char *headers; /* complete "Name: value\r\n" lines (copied by the client) */
    size_t headers_len;
    const char *model; /* spliced into the body's "model" when non-NULL */
    /* The header that carries the gateway's request id to the upstream
     * ("X-Client-Request-Id" for OpenAI), or NULL to send none. */
    const char *request_id_header;
    int no_stream_usage; /* never add stream_options (an upstream that rejects it) */
    /* Keep a tool call's extra_content (Google's OpenAI-compatible API
     * reads Gemini's thought signature there); other upstreams lose it. */
    int keep_extra_content;
} cmx_openai_wire_request;

/* Whether `origin` is Google's OpenAI-compatible API: the Gemini API
 * (generativelanguage.googleapis.com) or Vertex AI's
 * (aiplatform.googleapis.com, regional hosts included). */
int cmx_openai_wire_is_google(const cmx_url *origin);

typedef struct cmx_openai_wire_attempt cmx_openai_wire_attempt;

/* Starts the attempt; the attempt lives in call->arena.  Returns NULL with
 * err set (no sink callback runs then); no callback runs before it returns. */
cmx_openai_wire_attempt *cmx_openai_wire_start(const cmx_openai_wire_request *req,
                                               const cmx_call *call, const cmx_attempt_sink *sink,
                                               cmx_error *err);
/* The vtable's serves for an OpenAI-wire upstream: the Responses API, as
 * it is (Anthropic's Messages API comes to it as a chat completion). */
int cmx_openai_serves(void *state, const cmx_target_config *target, cmx_api api);

/* Abandons it: no further sink callbacks. */
void cmx_openai_wire_cancel(cmx_openai_wire_attempt *a);

#endif
