/* state.c — the state store's lifecycle: the process object, each worker's
 * connections, the up/down bookkeeping (logged once per transition of the
 * whole process, exported as cloudmux_state_store_up) and the metrics.
 * Counters, events and leases, and the cache are in their own files. */
#include "state/state_internal.h"

#include <event2/event.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/wipe.h"

#define CACHE_VALUE_MAX (4u * 1024 * 1024)

static void sha1_hex(const char *text, char out[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, strlen(text), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

cmx_state *cmx_state_new(const cmx_state_config *cfg, int n_workers, cmx_error *err)
{
    cmx_state *st = calloc(1, sizeof *st);
    if (!st) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&st->log_lock, NULL);
    uint64_t id;
    if (getrandom(&id, sizeof id, 0) != sizeof id)
        id = cmx_now_us() ^ (uint64_t)(uintptr_t)st;
    snprintf(st->origin, sizeof st->origin, "%016" PRIx64, id);
    st->n_workers = n_workers > 0 ? n_workers : 1;
    st->workers = calloc((size_t)st->n_workers, sizeof *st->workers);
    st->counters = cmx_local_counters_new();
    size_t max_bytes = cfg ? cfg->cache_max_bytes : 64u * 1024 * 1024;
    st->cache = cmx_lru_new(max_bytes);
    st->cache_max_value = max_bytes / 8 < CACHE_VALUE_MAX ? max_bytes / 8 : CACHE_VALUE_MAX;
    st->prefix = strdup(cfg && cfg->key_prefix ? cfg->key_prefix : "cmx:");
    if (!st->workers || !st->counters || !st->cache || !st->prefix) {
        cmx_state_free(st);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&st->all_up, 1);
    atomic_init(&st->conn_epoch, 1);
    st->clock = &cmx_clock_monotonic;
    sha1_hex(cmx_state_counter_script, st->counter_sha);
    sha1_hex(cmx_state_release_script, st->release_sha);
    if (!cfg || !cfg->redis_url)
        return st;

    char why[200];
    if (cmx_parse_redis_url(cfg->redis_url, &st->addr.url, why, sizeof why) != 0) {
        cmx_state_free(st);
        cmx_error_set(err, CMX_ERR_CONFIG, "state.redis.url: %s", why);
        return NULL;
    }
    if (cfg->redis_password) {
        cmx_free_secret(st->addr.url.password);
        st->addr.url.password = strdup(cfg->redis_password);
    }
    st->addr.tls_verify = cfg->tls_verify;
    st->addr.ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    st->shared = 1;
    st->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 1;
    st->fail_closed = cfg->fail_closed;
    return st;
}

void cmx_state_free(cmx_state *st)
{
    if (!st)
        return;
    cmx_local_counters_free(st->counters);
    cmx_lru_free(st->cache);
    cmx_redis_address_free(&st->addr);
    free(st->prefix);
    free(st->workers);
    pthread_mutex_destroy(&st->log_lock);
    free(st);
}

int cmx_state_is_shared(const cmx_state *st)
{
    return st && st->shared;
}

int cmx_state_is_up(const cmx_state *st)
{
    if (!st || !st->shared)
        return 1;
    return atomic_load(&((cmx_state *)st)->conns_up) ==
           atomic_load(&((cmx_state *)st)->conns_total);
}

int cmx_state_fail_closed(const cmx_state *st)
{
    return st && st->fail_closed;
}

const char *cmx_state_origin(const cmx_state *st)
{
    return st->origin;
}

void cmx_state_note_fallback(cmx_state *st)
{
    atomic_fetch_add_explicit(&st->fallbacks, 1, memory_order_relaxed);
}

/* Logs the process's transitions only: every connection up, or not. */
static void log_transition(cmx_state *st)
{
    int up = cmx_state_is_up(st);
    pthread_mutex_lock(&st->log_lock);
    if (up)
        atomic_store(&st->warned, 0);
    if (atomic_exchange(&st->all_up, up) != up) {
        char where[300];
        cmx_redis_address_describe(&st->addr, where, sizeof where);
        if (up)
            cmx_info("state store: connected to %s; sharing breakers, limits and health with the "
                     "fleet",
                     where);
        else
            cmx_warn("state store: lost %s; using this replica's own state until it is back",
                     where);
    }
    pthread_mutex_unlock(&st->log_lock);
}

/* Said once until the store is reached again, not once per retry. */
static void on_conn_fail(void *ctx, const char *why)
{
    cmx_state_worker *w = ctx;
    if (atomic_exchange(&w->st->warned, 1))
        return;
    char where[300];
    cmx_redis_address_describe(&w->st->addr, where, sizeof where);
    cmx_warn("state store: cannot use %s (%s); using this replica's own state and retrying", where,
             why);
}

static void on_conn_state(void *ctx, int up)
{
    cmx_state_worker *w = ctx;
    w->conn_up = up;
    if (!up) /* the store may come back empty: credit from before is void */
        atomic_fetch_add(&w->st->conn_epoch, 1);
    atomic_fetch_add(&w->st->conns_up, up ? 1 : -1);
    log_transition(w->st);
}

static void on_sub_state(void *ctx, int up)
{
    cmx_state_worker *w = ctx;
    w->sub_up = up;
    atomic_fetch_add(&w->st->conns_up, up ? 1 : -1);
    if (up)
        cmx_state_subscribe(w);
    log_transition(w->st);
    /* Events missed while down are read back once the commands can go. */
    if (up && w->conn_up && w->st->on_up)
        w->st->on_up(w->st->on_up_ctx, w);
}

static void on_conn_up_resync(void *ctx, int up)
{
    cmx_state_worker *w = ctx;
    on_conn_state(ctx, up);
    if (up && w->sub && w->sub_up && w->st->on_up)
        w->st->on_up(w->st->on_up_ctx, w);
}

static void load_scripts(void *ctx, cmx_redis *r)
{
    const char *argv[3] = {"SCRIPT", "LOAD", cmx_state_counter_script};
    cmx_redis_setup_command(r, 3, argv, NULL);
    argv[2] = cmx_state_release_script;
    cmx_redis_setup_command(r, 3, argv, NULL);
}

cmx_state_worker *cmx_state_worker_new(cmx_state *st, int index, struct event_base *base,
                                       struct evdns_base *dns, int subscriber, cmx_error *err)
{
    cmx_state_worker *w = calloc(1, sizeof *w);
    if (!w) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    w->st = st;
    w->index = index;
    w->base = base;
    if (index >= 0 && index < st->n_workers)
        st->workers[index] = w;
    if (!st->shared)
        return w;
    atomic_fetch_add(&st->conns_total, subscriber ? 2 : 1);
    atomic_store(&st->all_up, 0); /* "connected" is logged when all are */
    cmx_redis_hooks hooks = {subscriber ? on_conn_up_resync : on_conn_state, NULL, load_scripts,
                             on_conn_fail, w};
    w->conn = cmx_redis_new(base, dns, &st->addr, st->timeout_ms, &hooks, err);
    if (w->conn && subscriber) {
        cmx_redis_hooks sub_hooks = {on_sub_state, cmx_state_on_push, NULL, on_conn_fail, w};
        /* The subscriber waits on messages, not answers: its timeout only
         * bounds the connection's setup. */
        w->sub = cmx_redis_new(base, dns, &st->addr, st->timeout_ms > 1000 ? st->timeout_ms : 1000,
                               &sub_hooks, err);
    }
    if (!w->conn || (subscriber && !w->sub)) {
        cmx_state_worker_free(w);
        return NULL;
    }
    return w;
}

void cmx_state_worker_free(cmx_state_worker *w)
{
    if (!w)
        return;
    cmx_state *st = w->st;
    if (w->index >= 0 && w->index < st->n_workers && st->workers[w->index] == w)
        st->workers[w->index] = NULL;
    if (st->shared) {
        atomic_fetch_sub(&st->conns_total, w->sub ? 2 : (w->conn ? 1 : 0));
        atomic_fetch_sub(&st->conns_up, w->conn_up + w->sub_up);
    }
    cmx_redis_free(w->sub);
    cmx_redis_free(w->conn);
    if (w->tick)
        event_free(w->tick);
    free(w);
}

cmx_state *cmx_state_of(cmx_state_worker *w)
{
    return w->st;
}

int cmx_state_worker_is_up(const cmx_state_worker *w)
{
    return w && (!w->st->shared || w->conn_up);
}

static void on_op_reply(void *ctx, const redisReply *reply)
{
    cmx_state_op *op = ctx;
    op->on_reply(op, reply);
    free(op->names);
    free(op);
}

uint64_t cmx_state_send(cmx_state_worker *w, cmx_state_op *op, int argc, const char **argv,
                        const size_t *lens)
{
    op->w = w;
    if (!w->conn || !cmx_redis_command(w->conn, on_op_reply, op, argc, argv, lens)) {
        free(op->names);
        free(op);
        return 0;
    }
    return (uint64_t)(uintptr_t)op;
}

static void ignore_reply(cmx_state_op *op, const redisReply *reply)
{
    (void)op, (void)reply;
}

void cmx_state_send_and_forget(cmx_state_worker *w, int argc, const char **argv, const size_t *lens)
{
    cmx_state_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->on_reply = ignore_reply;
    cmx_state_send(w, op, argc, argv, lens);
}

void cmx_state_cancel(cmx_state_worker *w, uint64_t id)
{
    if (id)
        ((cmx_state_op *)(uintptr_t)id)->cb = NULL;
}

void cmx_state_set_listener(cmx_state *st, cmx_state_event_fn fn, void *ctx)
{
    st->listener = fn;
    st->listener_ctx = ctx;
}

void cmx_state_set_on_up(cmx_state *st, cmx_state_up_fn fn, void *ctx)
{
    st->on_up = fn;
    st->on_up_ctx = ctx;
}

void cmx_state_get_stats(cmx_state *st, cmx_state_stats *out)
{
    memset(out, 0, sizeof *out);
    out->shared = st->shared;
    out->up = cmx_state_is_up(st);
    out->fallbacks = atomic_load(&st->fallbacks);
    out->by_allowance = atomic_load(&st->by_allowance);
    out->by_store = atomic_load(&st->by_store);
    out->by_local = atomic_load(&st->by_local);
    out->grants = atomic_load(&st->grants);
    for (int i = 0; i < st->n_workers; i++) {
        cmx_state_worker *w = st->workers[i];
        cmx_redis *conns[2] = {w ? w->conn : NULL, w ? w->sub : NULL};
        for (int k = 0; k < 2; k++) {
            if (!conns[k])
                continue;
            cmx_redis_stats rs;
            cmx_redis_get_stats(conns[k], &rs);
            out->timeouts += rs.timeouts;
            out->errors += rs.errors;
            out->disconnects += rs.disconnects;
        }
    }
    cmx_lru_stats(st->cache, &out->cache_entries, &out->cache_bytes);
}

void cmx_state_format_metrics(cmx_state *st, cmx_buf *out)
{
    cmx_state_stats s;
    cmx_state_get_stats(st, &s);
    cmx_buf_printf(out,
                   "# HELP cloudmux_state_store_up 1 when every connection of this replica to "
                   "the shared state store (Redis) is up, or when the state is in-process.\n"
                   "# TYPE cloudmux_state_store_up gauge\n"
                   "cloudmux_state_store_up{backend=\"%s\"} %d\n",
                   s.shared ? "redis" : "local", s.up);
    cmx_buf_printf(out,
                   "# HELP cloudmux_state_store_errors_total Problems with the shared state "
                   "store: commands past state.redis.timeout, error replies and failed "
                   "connects, lost connections.\n"
                   "# TYPE cloudmux_state_store_errors_total counter\n"
                   "cloudmux_state_store_errors_total{kind=\"timeout\"} %" PRIu64 "\n"
                   "cloudmux_state_store_errors_total{kind=\"error\"} %" PRIu64 "\n"
                   "cloudmux_state_store_errors_total{kind=\"disconnect\"} %" PRIu64 "\n",
                   s.timeouts, s.errors, s.disconnects);
    cmx_buf_printf(out,
                   "# HELP cloudmux_state_store_fallbacks_total Decisions taken from this "
                   "replica's own state because the shared store could not answer in time.\n"
                   "# TYPE cloudmux_state_store_fallbacks_total counter\n"
                   "cloudmux_state_store_fallbacks_total %" PRIu64 "\n",
                   s.fallbacks);
    cmx_buf_printf(out,
                   "# HELP cloudmux_state_counter_decisions_total Requests checked against a "
                   "shared limit (rpm, tpm), by where the decision was taken: this replica's "
                   "allowance (no round trip), the store (one script call) or locally (no "
                   "store, or it could not answer).\n"
                   "# TYPE cloudmux_state_counter_decisions_total counter\n"
                   "cloudmux_state_counter_decisions_total{by=\"allowance\"} %" PRIu64 "\n"
                   "cloudmux_state_counter_decisions_total{by=\"store\"} %" PRIu64 "\n"
                   "cloudmux_state_counter_decisions_total{by=\"local\"} %" PRIu64 "\n"
                   "# HELP cloudmux_state_allowance_grants_total Grants of a shared limit's "
                   "units received from the store, to hand out without a round trip.\n"
                   "# TYPE cloudmux_state_allowance_grants_total counter\n"
                   "cloudmux_state_allowance_grants_total %" PRIu64 "\n",
                   s.by_allowance, s.by_store, s.by_local, s.grants);
    cmx_buf_printf(out,
                   "# HELP cloudmux_cache_local_bytes Bytes held by the in-process response "
                   "cache.\n"
                   "# TYPE cloudmux_cache_local_bytes gauge\n"
                   "cloudmux_cache_local_bytes %" PRIu64 "\n"
                   "# HELP cloudmux_cache_local_entries Answers held by the in-process response "
                   "cache.\n"
                   "# TYPE cloudmux_cache_local_entries gauge\n"
                   "cloudmux_cache_local_entries %" PRIu64 "\n",
                   s.cache_bytes, s.cache_entries);
}

size_t cmx_state_cache_max_value(const cmx_state *st)
{
    return st->cache_max_value;
}
