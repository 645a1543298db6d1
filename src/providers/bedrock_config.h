/* bedrock_config.h — the bedrock provider's settings (read by
 * bedrock_config.c from its keys).  base_url (cmx_provider_config) holds
 * endpoint_url, or https://bedrock-runtime.{region}.amazonaws.com. */
#ifndef CMX_PROVIDERS_BEDROCK_CONFIG_H
#define CMX_PROVIDERS_BEDROCK_CONFIG_H

#include "config/config_module.h"

/* `api:` which road to a model. */
typedef enum cmx_bedrock_api {
    CMX_BEDROCK_API_CONVERSE = 0, /* Converse for every model (default) */
    CMX_BEDROCK_API_INVOKE,       /* InvokeModel with Messages bodies for anthropic.* models */
} cmx_bedrock_api;

typedef struct cmx_bedrock_settings {
    char *region; /* required, e.g. "eu-west-1" */
    /* Static keys from the config or, when absent there, AWS_ACCESS_KEY_ID,
     * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN at load; never log them. */
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    int credentials; /* a cmx_aws_credentials_mode (`credentials:`); 0 = auto, the SDKs'
                        chain (providers/aws_credentials.h) */
    char *profile;   /* `profile:` for the shared files, or NULL */
    int api;         /* a cmx_bedrock_api */
    int drop_unsupported_params;
    char *anthropic_betas; /* the anthropic-beta names Claude gets ("*": all; anthropic_beta.h) */
} cmx_bedrock_settings;

extern const cmx_provider_schema cmx_bedrock_schema;

static inline const cmx_bedrock_settings *cmx_bedrock_settings_of(const cmx_provider_config *p)
{
    return (const cmx_bedrock_settings *)p->settings;
}

#endif
