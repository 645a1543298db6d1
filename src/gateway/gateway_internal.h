/* gateway_internal.h — the gateway object, shared by gateway.c (workers,
 * their loops, drain) and reload.c (new generations). */
#ifndef CMX_GATEWAY_INTERNAL_H
#define CMX_GATEWAY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "gateway/gateway.h"
#include "gateway/generation.h"
#include "gateway/worker.h"
#include "governance/governance.h"
#include "state/state.h"

struct cmx_gateway {
    cmx_state *state;        /* shared or in-process: lives as long as the gateway */
    cmx_generation *current; /* the latest generation (under reload_lock) */
    pthread_mutex_t reload_lock;
    atomic_uint_fast64_t reloads_ok, reloads_failed;
    cmx_worker *workers;
    int n_workers;
    int port;
    int started;
    atomic_int stopped;         /* workers whose loop has ended */
    int *wake_fds;              /* [2*i] read end, [2*i+1] write end, per worker */
    struct cmx_governance *gov; /* keys, ledger, audit: the process's; NULL when off */
};

/* What the main thread (or a reload) tells a worker through its pipe:
 * drain (readiness off, keep serving), stop (close the listener, finish
 * within the grace period), swap to a new config generation. */
typedef enum { CMX_WORKER_DRAIN = 1, CMX_WORKER_STOP, CMX_WORKER_SWAP } cmx_worker_msg_kind;
typedef struct cmx_worker_msg {
    cmx_worker_msg_kind kind;
    uint32_t grace_ms;   /* stop */
    cmx_generation *gen; /* swap: a reference the worker takes over */
} cmx_worker_msg;

int cmx_gateway_post(cmx_gateway *gw, int worker, const cmx_worker_msg *msg);
/* On the worker's thread: makes g its current generation. */
void cmx_worker_swap(cmx_worker *w, cmx_generation *g);

#endif
