/* provider.c — the provider registry: config type name → vtable.
 *
 * The one list of provider modules.  The router finds a provider's vtable
 * here by its type; config/ walks the same list for the modules' key
 * tables (cmx_provider_schema_at), so a module registered here is known to
 * the config loader, `cloudmux check` and the router at once.  The order is
 * the order types are listed in messages. */
#include "provider.h"

#include <string.h>

static const cmx_provider_vtable *const registry[] = {
    &cmx_provider_openai, &cmx_provider_anthropic, &cmx_provider_bedrock,
    &cmx_provider_azure,  &cmx_provider_vertex,    &cmx_provider_mock,
};

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
