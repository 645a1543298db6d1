/* config.c — life of a snapshot: references, lookups and the final free.
 *
 * Model lookup runs once per request, so groups are found through a small
 * open-addressing hash table (FNV-1a, linear probing, at most half full) once
 * there are more than a handful; below that a straight scan is as fast and
 * needs no table. */
#include "config/config_internal.h"
#include "core/wipe.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MIN_MODELS 8

struct cmx_config_index {
    size_t mask;     /* capacity - 1; capacity is a power of two */
    uint32_t *slots; /* model position + 1; 0 marks an empty slot */
};

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int name_is(const char *name, const char *s, size_t len)
{
    return name && strncmp(name, s, len) == 0 && name[len] == '\0';
}

int cmx_cfg_build_index(cmx_config *c)
{
    if (c->n_models < INDEX_MIN_MODELS)
        return 0;
    size_t cap = 16;
    while (cap < c->n_models * 2)
        cap *= 2;
    struct cmx_config_index *ix = malloc(sizeof *ix);
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!ix || !slots) {
        free(ix);
        free(slots);
        return -1;
    }
    ix->mask = cap - 1;
    ix->slots = slots;
    for (size_t i = 0; i < c->n_models; i++) {
        const char *name = c->models[i].name;
        size_t at = (size_t)hash_name(name, strlen(name)) & ix->mask;
        while (slots[at])
            at = (at + 1) & ix->mask;
        slots[at] = (uint32_t)(i + 1);
    }
    c->index = ix;
    return 0;
}

const cmx_model_group *cmx_config_find_model(const cmx_config *c, const char *name, size_t len)
{
    if (!c || !name)
        return NULL;
    const struct cmx_config_index *ix = c->index;
    if (!ix) {
        for (size_t i = 0; i < c->n_models; i++)
            if (name_is(c->models[i].name, name, len))
                return &c->models[i];
        return NULL;
    }
    for (size_t at = (size_t)hash_name(name, len) & ix->mask; ix->slots[at];
         at = (at + 1) & ix->mask) {
        const cmx_model_group *g = &c->models[ix->slots[at] - 1];
        if (name_is(g->name, name, len))
            return g;
    }
    return NULL;
}

const cmx_provider_config *cmx_config_find_provider(const cmx_config *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_providers; i++)
        if (c->providers[i].name && strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}

cmx_config *cmx_config_ref(cmx_config *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void cmx_config_unref(cmx_config *c)
{
    if (!c)
        return;
    /* acq_rel: the thread that frees must see every other holder's reads done. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        cmx_cfg_destroy(c);
}

/* Credentials are wiped before their memory goes back to the allocator. */
static void free_secret(char *s)
{
    cmx_free_secret(s);
}

static void free_provider(cmx_provider_config *p)
{
    cmx_cfg_free_provider_settings(p);
    free(p->name);
    free(p->base_url);
    free(p->residency);
    free(p->health.path);
    free(p->ca_file);
}

static void free_group(cmx_model_group *g)
{
    free(g->name);
    for (size_t i = 0; i < g->n_targets; i++) {
        free(g->targets[i].provider_name);
        free(g->targets[i].model);
    }
    free(g->targets);
    free(g->strategy);
    free(g->residency);
    for (size_t i = 0; i < g->cascade.n_refusal_prefixes; i++)
        free(g->cascade.refusal_prefixes[i]);
    free(g->cascade.refusal_prefixes);
    if (g->shadow) {
        free(g->shadow->provider_name);
        free(g->shadow->model);
        free(g->shadow);
    }
    for (int k = 0; k < CMX_FALLBACK__COUNT; k++) {
        for (size_t i = 0; i < g->fallbacks[k].n; i++)
            free(g->fallbacks[k].names[i]);
        free(g->fallbacks[k].names);
        free(g->fallbacks[k].groups);
    }
}

void cmx_cfg_destroy(cmx_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->pricing.file);
    free(c->server.listen_host);
    for (size_t i = 0; i < c->server.n_api_keys; i++) {
        free_secret(c->server.api_keys[i]);
        if (c->server.api_key_residency)
            free(c->server.api_key_residency[i]);
    }
    free(c->server.api_keys);
    free(c->server.api_key_residency);
    for (size_t i = 0; i < c->server.n_admin_keys; i++)
        free_secret(c->server.admin_keys[i]);
    free(c->server.admin_keys);
    free(c->upstream.https_proxy);
    free(c->upstream.http_proxy);
    free(c->upstream.no_proxy);
    cmx_cfg_free_governance(c);
    free(c->state.redis_url);
    free_secret(c->state.redis_password);
    free(c->state.key_prefix);
    free(c->state.ca_file);
    for (size_t i = 0; i < c->n_providers; i++)
        free_provider(&c->providers[i]);
    free(c->providers);
    for (size_t i = 0; i < c->n_models; i++)
        free_group(&c->models[i]);
    free(c->models);
    if (c->index) {
        free(c->index->slots);
        free(c->index);
    }
    free(c);
}
