/* openai_config.h — the openai provider's settings (openai_config.c reads
 * them from its keys): the OpenAI API or any server that speaks it. */
#ifndef CMX_PROVIDERS_OPENAI_CONFIG_H
#define CMX_PROVIDERS_OPENAI_CONFIG_H

#include "config/config_module.h"

typedef struct cmx_openai_settings {
    char *api_key;      /* resolved secret, or NULL (a local server); never log it */
    char *organization; /* the OpenAI-Organization header, or NULL */
} cmx_openai_settings;

extern const cmx_provider_schema cmx_openai_schema;

static inline const cmx_openai_settings *cmx_openai_settings_of(const cmx_provider_config *p)
{
    return (const cmx_openai_settings *)p->settings;
}

#endif
