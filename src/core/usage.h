/* usage.h — what a request is about and what it used: the API it calls and
 * the token counts a provider reported.
 *
 * Every layer speaks of these: the server scans requests for their API,
 * providers read counts out of answers, the router and governance price
 * them, the access log and metrics record them.  They are plain values
 * with no behaviour beyond "not reported yet". */
#ifndef CMX_CORE_USAGE_H
#define CMX_CORE_USAGE_H

#include <stdint.h>

/* The API a request calls.  Chat completions are the canonical format
 * every provider serves; the client APIs after them are served natively by
 * the targets that speak them and through the chat format by the others. */
typedef enum {
    CMX_API_CHAT = 0,     /* POST /v1/chat/completions (OpenAI) */
    CMX_API_EMBEDDINGS,   /* POST /v1/embeddings (OpenAI) */
    CMX_API_MESSAGES,     /* POST /v1/messages (Anthropic's Messages API) */
    CMX_API_COUNT_TOKENS, /* POST /v1/messages/count_tokens (Anthropic's) */
    CMX_API_RESPONSES,    /* POST /v1/responses (OpenAI's Responses API, stateless) */
} cmx_api;
#define CMX_API__COUNT 5

/* "chat", "embeddings", "messages", "count_tokens", "responses": the label
 * of metrics and log lines. */
const char *cmx_api_name(cmx_api api);

/* Token counts as the provider reported them; -1 where it did not. */
typedef struct cmx_usage {
    int64_t prompt_tokens; /* all prompt tokens, cached ones included */
    int64_t completion_tokens;
    int64_t total_tokens;
    int64_t cached_tokens;         /* prompt tokens read from a cache (prompt_tokens_details) */
    int64_t cache_write_tokens;    /* prompt tokens written to a cache (part of prompt_tokens,
                                      billed above the input rate by Anthropic) */
    int64_t cache_write_1h_tokens; /* of those, written for one hour (billed higher still);
                                      the rest were written for the 5-minute default */
    int64_t reasoning_tokens;      /* completion tokens spent thinking, where the provider counts
                                      them apart (completion_tokens_details); part of completion */
} cmx_usage;

/* Every count "not reported". */
void cmx_usage_init(cmx_usage *u);

#endif
