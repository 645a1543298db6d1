/* claude_messages.h — Anthropic's Messages API passed through to Claude,
 * wherever Claude runs: Anthropic's own API, Bedrock's InvokeModel and
 * Vertex's rawPredict, and each one's token count.
 *
 * A client that speaks the Messages API (POST /v1/messages, Claude Code and
 * everything on Anthropic's SDK) reaches Claude without a translation: the
 * body goes on as the client wrote it, with only what the road changes —
 * the model spliced in (Anthropic), or taken out with the cloud's
 * anthropic_version put in (Bedrock: bedrock-2023-05-31 and the
 * anthropic-beta header as "anthropic_beta"; Vertex: vertex-2023-10-16) —
 * and the answer and every stream event come back as Claude sent them:
 * from Anthropic's and Vertex's SSE, or unwrapped from Bedrock's
 * event-stream `chunk` messages.  On the way the translators read the
 * usage (message_start's, message_delta's: input, cache reads and writes,
 * output), know a stream is whole only after message_stop, and end the
 * attempt at an `error` event (its kind from Anthropic's error types, so
 * an overloaded_error before anything reached the client fails over).
 *
 * The count_tokens translators send the same body to the road's counting
 * endpoint (Anthropic's /v1/messages/count_tokens, Bedrock's CountTokens
 * with the InvokeModel body in base64, Vertex's count-tokens:rawPredict) and
 * answer {"input_tokens": N}. */
#ifndef CMX_PROVIDERS_CLAUDE_MESSAGES_H
#define CMX_PROVIDERS_CLAUDE_MESSAGES_H

#include "providers/translator.h"

/* Messages, passed through. */
extern const cmx_translator_ops cmx_anthropic_messages_translator;
extern const cmx_translator_ops cmx_bedrock_messages_translator;
extern const cmx_translator_ops cmx_vertex_messages_translator;

/* count_tokens, passed through. */
extern const cmx_translator_ops cmx_anthropic_count_translator;
extern const cmx_translator_ops cmx_bedrock_count_translator;
extern const cmx_translator_ops cmx_vertex_count_translator;

#endif
