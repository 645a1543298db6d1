/* generation.c — building and releasing config generations and each
 * worker's view of them; see generation.h. */
#include "gateway/generation.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/worker.h"

cmx_generation *cmx_generation_new(cmx_config *cfg, cmx_state *st, int n_workers,
                                   cmx_generation *previous, uint64_t number, cmx_error *err)
{
    cmx_generation *g = calloc(1, sizeof *g);
    if (!g) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->number = number;
    g->cfg = cmx_config_ref(cfg);
    g->shared = cmx_router_shared_new(cfg, err);
    if (g->shared) {
        cmx_router_shared_use_state(g->shared, st);
        if (previous)
            cmx_router_shared_carry_over(g->shared, previous->shared);
        g->metrics = cmx_metrics_new(cfg, (size_t)n_workers, err);
    }
    if (!g->metrics) {
        cmx_generation_unref(g);
        return NULL;
    }
    return g;
}

cmx_generation *cmx_generation_ref(cmx_generation *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void cmx_generation_unref(cmx_generation *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    cmx_metrics_free(g->metrics);
    cmx_router_shared_free(g->shared);
    cmx_config_unref(g->cfg);
    free(g);
}

static cmx_err models_answer(cmx_worker_gen *wg, cmx_error *err)
{
    const cmx_config *cfg = wg->gen->cfg;
    json_t *data = json_array();
    json_int_t created = (json_int_t)time(NULL);
    for (size_t i = 0; i < cfg->n_models; i++)
        json_array_append_new(data,
                              json_pack("{s:s, s:s, s:I, s:s}", "id", cfg->models[i].name, "object",
                                        "model", "created", created, "owned_by", "cloudmux"));
    json_t *root = json_pack("{s:s, s:o}", "object", "list", "data", data);
    wg->models_json = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    /* Anthropic's list: {data: [{type, id, display_name, created_at}], has_more, first_id, last_id}
     */
    char when[32];
    time_t now = (time_t)created;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_t *adata = json_array();
    for (size_t i = 0; i < cfg->n_models; i++)
        json_array_append_new(adata, json_pack("{s:s, s:s, s:s, s:s}", "type", "model", "id",
                                               cfg->models[i].name, "display_name",
                                               cfg->models[i].name, "created_at", when));
    const char *first = cfg->n_models ? cfg->models[0].name : NULL;
    const char *last = cfg->n_models ? cfg->models[cfg->n_models - 1].name : NULL;
    json_t *aroot = json_pack("{s:o, s:b, s:s?, s:s?}", "data", adata, "has_more", 0, "first_id",
                              first, "last_id", last);
    wg->models_anthropic_json = aroot ? json_dumps(aroot, JSON_COMPACT) : NULL;
    json_decref(aroot);
    if (!wg->models_json || !wg->models_anthropic_json)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    wg->models_json_len = strlen(wg->models_json);
    wg->models_anthropic_json_len = strlen(wg->models_anthropic_json);
    return CMX_OK;
}

cmx_worker_gen *cmx_worker_gen_new(cmx_worker *w, cmx_generation *g, cmx_error *err)
{
    cmx_worker_gen *wg = calloc(1, sizeof *wg);
    if (!wg) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    wg->refs = 1;
    wg->worker = w;
    wg->gen = cmx_generation_ref(g);
    cmx_worker_env env = {w->base, w->upstream};
    wg->router = cmx_router_new(g->cfg, g->shared, &env, err);
    if (!wg->router || models_answer(wg, err) != CMX_OK) {
        cmx_worker_gen_release(wg);
        return NULL;
    }
    cmx_router_set_state(wg->router, w->state);
    return wg;
}

static void release_on_arena(void *arg)
{
    cmx_worker_gen_release(arg);
}

int cmx_worker_gen_hold(cmx_worker_gen *wg, cmx_arena *request_arena)
{
    if (cmx_arena_on_release(request_arena, release_on_arena, wg) != 0)
        return -1;
    wg->refs++;
    return 0;
}

void cmx_worker_gen_release(cmx_worker_gen *wg)
{
    if (!wg || --wg->refs > 0)
        return;
    cmx_router_free(wg->router);
    free(wg->models_json);
    free(wg->models_anthropic_json);
    cmx_generation_unref(wg->gen);
    free(wg);
}
