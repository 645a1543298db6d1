/* usage.c — the "not reported" token counts; see usage.h. */
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
