/* generation.h — one config snapshot and everything built from it.
 *
 * A generation is what a reload replaces: the snapshot, the router's shared
 * state made from it (breakers, limits, strategies: carried over from the
 * previous generation for every target that still exists) and its metrics
 * registry.  Each worker builds its own view of a generation (its router
 * with its provider instances, the /v1/models answer), a cmx_worker_gen.
 *
 * A request holds its worker's current view from its first byte to its
 * last (cmx_worker_gen_hold ties the hold to the request's arena), so a
 * reload never changes the config under a request or a stream: new
 * requests take the new view, and an old view is freed when its last
 * request ends. */
#ifndef CMX_GATEWAY_GENERATION_H
#define CMX_GATEWAY_GENERATION_H

#include <stdatomic.h>
#include <stdint.h>

#include "config/config.h"
#include "core/arena.h"
#include "obs/metrics.h"
#include "router/group_state.h"
#include "router/router.h"
#include "state/state.h"

typedef struct cmx_generation {
    atomic_int refs;
    uint64_t number; /* 1 for the config the process started with, +1 per reload */
    cmx_config *cfg;
    cmx_router_shared *shared;
    cmx_metrics *metrics; /* one shard per worker */
} cmx_generation;

/* previous (may be NULL): its per-target state is carried over. */
cmx_generation *cmx_generation_new(cmx_config *cfg, cmx_state *st, int n_workers,
                                   cmx_generation *previous, uint64_t number, cmx_error *err);
cmx_generation *cmx_generation_ref(cmx_generation *g);
void cmx_generation_unref(cmx_generation *g);

struct cmx_worker;

typedef struct cmx_worker_gen {
    int refs; /* the worker's "current" hold + one per request; worker thread only */
    cmx_generation *gen;
    struct cmx_worker *worker;
    cmx_router *router;
    char *models_json; /* GET /v1/models answer */
    size_t models_json_len;
    char *models_anthropic_json; /* ... in Anthropic's list shape (with anthropic-version) */
    size_t models_anthropic_json_len;
} cmx_worker_gen;

/* Builds worker w's view of g on w's thread (or before its thread runs). */
cmx_worker_gen *cmx_worker_gen_new(struct cmx_worker *w, cmx_generation *g, cmx_error *err);
/* Holds wg until the arena's request ends; -1 when out of memory. */
int cmx_worker_gen_hold(cmx_worker_gen *wg, cmx_arena *request_arena);
void cmx_worker_gen_release(cmx_worker_gen *wg);

#endif
