/* client_api.h — the client APIs beside chat completions: Anthropic's
 * Messages API (POST /v1/messages, /v1/messages/count_tokens) and OpenAI's
 * Responses API (POST /v1/responses), on the same routing.
 *
 * A request is checked in its API's terms (ingress/), routed like a chat
 * completion, and answered in its API's shape: as the target sent it when
 * the target speaks the API (the events' names from their "type"), or
 * converted from the chat answer when the target was given the chat form.
 * Errors, before and after the first byte, are the API's own. */
#ifndef CMX_GATEWAY_CLIENT_API_H
#define CMX_GATEWAY_CLIENT_API_H

#include "reply.h"

/* Handles a request for c->api (messages, count_tokens or responses). */
void cmx_client_api_handle(cmx_api_ctx *c);

/* The route sink of those requests (its ctx is the cmx_api_ctx). */
extern const cmx_route_sink cmx_client_api_route_sink;

/* The API's error events on a started stream (for cmx_reply_stream_fail). */
void cmx_client_api_stream_fail(cmx_api_ctx *c, cmx_err kind, const char *message);

#endif
