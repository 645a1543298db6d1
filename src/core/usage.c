/* usage.c — the "not reported" token counts and the APIs' names; see usage.h. */
#include "usage.h"

void cmx_usage_init(cmx_usage *u)
{
    u->prompt_tokens = -1;
    u->completion_tokens = -1;
    u->total_tokens = -1;
    u->cached_tokens = -1;
    u->cache_write_tokens = -1;
    u->cache_write_1h_tokens = -1;
    u->reasoning_tokens = -1;
}

const char *cmx_api_name(cmx_api api)
{
    switch (api) {
    case CMX_API_CHAT: return "chat";
    case CMX_API_EMBEDDINGS: return "embeddings";
    case CMX_API_MESSAGES: return "messages";
    case CMX_API_COUNT_TOKENS: return "count_tokens";
    case CMX_API_RESPONSES: return "responses";
    }
    return "unknown";
}
