/* provider.c — the provider registry: config type name → vtable.
 * Adding a provider is one line here and one file beside this one. */
#include "provider.h"

#include <string.h>

static const cmx_provider_vtable *const registry[] = {
    &cmx_provider_openai,  &cmx_provider_mock,  &cmx_provider_anthropic,
    &cmx_provider_bedrock, &cmx_provider_azure, &cmx_provider_vertex,
};

const cmx_provider_vtable *cmx_provider_lookup(const char *type)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->type, type) == 0)
            return registry[i];
    return NULL;
}
