/* anthropic_config.h — the anthropic provider's settings (read by
 * anthropic_config.c from its keys). */
#ifndef CMX_PROVIDERS_ANTHROPIC_CONFIG_H
#define CMX_PROVIDERS_ANTHROPIC_CONFIG_H

#include <stdint.h>

#include "config/config_module.h"

typedef struct cmx_anthropic_settings {
    char *api_key;               /* resolved secret, sent as x-api-key; never log it */
    char *anthropic_version;     /* the anthropic-version header; default "2023-06-01" */
    uint32_t default_max_tokens; /* when the client sends none; default 4096 */
    int drop_unsupported_params; /* drop what Anthropic cannot do instead of a 400 */
} cmx_anthropic_settings;

extern const cmx_provider_schema cmx_anthropic_schema;

static inline const cmx_anthropic_settings *cmx_anthropic_settings_of(const cmx_provider_config *p)
{
    return (const cmx_anthropic_settings *)p->settings;
}

#endif
