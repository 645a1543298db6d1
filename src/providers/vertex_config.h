/* vertex_config.h — the vertex provider's settings (read by
 * vertex_config.c from its keys).  base_url (cmx_provider_config) holds
 * endpoint_url, or the location's https://{location}-aiplatform.googleapis.com. */
#ifndef CMX_PROVIDERS_VERTEX_CONFIG_H
#define CMX_PROVIDERS_VERTEX_CONFIG_H

#include "config/config_module.h"

typedef struct cmx_vertex_settings {
    char *project;              /* the Google Cloud project id (required) */
    char *location;             /* a region or "global"; default "us-central1" */
    char *service_account_file; /* a service-account JSON key, or NULL */
    int metadata_server;        /* tokens from the instance metadata server instead */
    char *metadata_url;         /* its origin; default http://metadata.google.internal */
    int drop_unsupported_params;
    char *anthropic_betas; /* the anthropic-beta names Claude gets ("*": all; anthropic_beta.h) */
} cmx_vertex_settings;

extern const cmx_provider_schema cmx_vertex_schema;

static inline const cmx_vertex_settings *cmx_vertex_settings_of(const cmx_provider_config *p)
{
    return (const cmx_vertex_settings *)p->settings;
}

#endif
