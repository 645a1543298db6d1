/* provider.c — the provider registry: config type name → vtable.
 *
 * The one list of provider modules.  The router finds a provider's vtable
 * here by its type; config/ walks the same list for the modules' key
 * tables (cmx_provider_schema_at), so a module registered here is known to
 * the config loader, `cloudmux check` and the router at once, and its
 * translators (cmx_translator_at) to the data-driven tests. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

/* The registered providers, in the order messages list their types.
 * Adding a provider is adding its name here: its module defines
 * cmx_provider_<name>. */
#define REGISTERED_PROVIDERS(X) X(openai) X(anthropic) X(bedrock) X(azure) X(vertex) X(mock)

#define DECLARE(name) extern const cmx_provider_vtable cmx_provider_##name;
REGISTERED_PROVIDERS(DECLARE)

#define ENTRY(name) &cmx_provider_##name,
static const cmx_provider_vtable *const registry[] = {REGISTERED_PROVIDERS(ENTRY)};

#define N_REGISTERED (sizeof registry / sizeof registry[0])

const cmx_provider_vtable *cmx_provider_lookup(const char *type)
{
    for (size_t i = 0; i < N_REGISTERED; i++)
        if (strcmp(registry[i]->type, type) == 0)
            return registry[i];
    return NULL;
}

const cmx_provider_vtable *cmx_provider_at(size_t i)
{
    return i < N_REGISTERED ? registry[i] : NULL;
}

const cmx_provider_schema *cmx_provider_schema_at(size_t i)
{
    return i < N_REGISTERED ? registry[i]->schema : NULL;
}

void *cmx_service_new(size_t size, const cmx_provider_config *cfg, const cmx_worker_env *env,
                      cmx_error *err)
{
    cmx_service *s = calloc(1, size);
    if (!s) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->upstream = env->upstream;
    s->base = env->base;
    if (!cfg->base_url) {
        cmx_error_set(err, CMX_ERR_CONFIG, "provider '%s' (%s) has no endpoint", cfg->name,
                      cfg->type_name ? cfg->type_name : "?");
        free(s);
        return NULL;
    }
    if (cmx_url_parse(cfg->base_url, &s->url, err) != CMX_OK) {
        free(s);
        return NULL;
    }
    return s;
}
