/* azure_config.h — the azure provider's settings (read by azure_config.c
 * from its keys).  base_url (cmx_provider_config) holds `endpoint`. */
#ifndef CMX_PROVIDERS_AZURE_CONFIG_H
#define CMX_PROVIDERS_AZURE_CONFIG_H

#include "config/config_module.h"

/* How the provider gets its credentials. */
typedef enum {
    CMX_AZURE_AUTH_API_KEY = 0,      /* api_key, sent as the api-key header */
    CMX_AZURE_AUTH_CLIENT_SECRET,    /* Entra ID client-credentials flow */
    CMX_AZURE_AUTH_MANAGED_IDENTITY, /* the instance metadata endpoint (IMDS) */
    CMX_AZURE_AUTH_WORKLOAD_IDENTITY /* a federated token file as client assertion (AKS) */
} cmx_azure_auth_mode;

typedef struct cmx_azure_settings {
    char *api_key;     /* resolved secret with CMX_AZURE_AUTH_API_KEY; never log it */
    char *api_version; /* default "2024-10-21"; sent with url_style deployments */
    int url_style_v1;  /* url_style: v1 (/openai/v1/..., model in the body);
                          default 0: /openai/deployments/{model}/... */
    cmx_azure_auth_mode auth;
    char *tenant_id;     /* client secret, workload identity */
    char *client_id;     /* client secret: required; managed identity: optional
                            (a user-assigned identity) */
    char *client_secret; /* resolved secret; never log it */
    char *authority;     /* default "https://login.microsoftonline.com" */
    char *scope;         /* NULL: "https://cognitiveservices.azure.com/.default" */
    char *imds_endpoint; /* default "http://169.254.169.254/metadata/identity/oauth2/token" */
    char *token_file;    /* workload identity: the federated token, re-read at every fetch */
} cmx_azure_settings;

extern const cmx_provider_schema cmx_azure_schema;

static inline const cmx_azure_settings *cmx_azure_settings_of(const cmx_provider_config *p)
{
    return (const cmx_azure_settings *)p->settings;
}

#endif
