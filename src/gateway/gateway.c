/* gateway.c — worker threads: their setup, their loop and their drain.
 *
 * Everything a worker needs is built on the main thread before any thread
 * starts, so a port that cannot be bound or a provider that cannot be set up
 * is reported before serving begins.  Worker event loops run without
 * libevent's locks (nothing crosses threads); the main thread reaches a
 * worker only through its wake-up pipe. */
#include "gateway.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "mailbox.h"
#include "router/group_state.h"
#include "worker.h"

#define DRAIN_POLL_MS 20

struct cmx_gateway {
    cmx_config *cfg;
    cmx_router_shared *shared; /* breakers, limits, strategies: one for all workers */
    cmx_metrics *metrics;      /* one shard per worker */
    cmx_worker *workers;
    int n_workers;
    int port;
    int started;
    int *wake_fds;             /* [2*i] read end, [2*i+1] write end, per worker */
    cmx_governance *gov;       /* NULL without governance or audit */
    char (*admin_key_ids)[24]; /* "admin:1a2b3c4d" per server.admin_keys entry */
};

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_worker *w = arg;
    if (cmx_http_server_open_connections(w->server) == 0 || cmx_now_us() >= w->drain_deadline_us)
        event_base_loopbreak(w->base);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    cmx_worker *w = arg;
    char grace_buf[8];
    ssize_t n = read(fd, grace_buf, sizeof grace_buf);
    uint32_t grace_ms = 0;
    if (n == (ssize_t)sizeof(uint32_t))
        memcpy(&grace_ms, grace_buf, sizeof grace_ms);
    atomic_store(&w->draining, 1);
    cmx_http_server_stop_accepting(w->server);
    w->drain_deadline_us = cmx_now_us() + (uint64_t)grace_ms * 1000;
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    event_add(w->drain_timer, &tv);
    on_drain_timer(-1, 0, w);
}

static void worker_release(cmx_worker *w)
{
    if (w->server)
        cmx_http_server_free(w->server);
    if (w->router)
        cmx_router_free(w->router);
    if (w->upstream)
        cmx_upstream_free(w->upstream);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->access_log)
        cmx_access_log_free(w->access_log);
    cmx_gov_view_release(&w->gov_view);
    /* The mailbox outlives the loop: the governance thread may still post
     * to it until the governance stops (cmx_gateway_free). */
    cmx_mailbox_detach(w->mailbox);
    if (w->shutdown_event)
        event_free(w->shutdown_event);
    if (w->drain_timer)
        event_free(w->drain_timer);
    if (w->base)
        event_base_free(w->base);
    free(w->models_json);
    cmx_buf_free(&w->scratch);
    cmx_mailbox *mb = w->mailbox;
    memset(w, 0, sizeof *w);
    w->mailbox = mb;
}

static cmx_err worker_init(cmx_gateway *gw, int index, const char *host, int port, cmx_error *err)
{
    cmx_worker *w = &gw->workers[index];
    const cmx_config *cfg = gw->cfg;
    w->index = index;
    w->gateway = gw;
    w->cfg = cfg;
    w->metrics = gw->metrics;
    w->shard = cmx_metrics_shard_at(gw->metrics, (size_t)index);
    w->shared = gw->shared;
    w->gov = gw->gov;
    w->admin_key_ids = gw->admin_key_ids;
    w->started_us = cmx_now_us();
    w->started_wall_ms = cmx_wall_ms();
    if (getrandom(&w->id_prefix, sizeof w->id_prefix, 0) != sizeof w->id_prefix)
        w->id_prefix = (uint32_t)cmx_now_us() ^ (uint32_t)getpid();

    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "cannot create an event loop");

    if (w->gov && !(w->mailbox = cmx_mailbox_new(w->base)))
        return cmx_error_set(err, CMX_ERR_INTERNAL, "cannot create the worker's mailbox");

    w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!w->dns)
        w->dns = evdns_base_new(w->base, 0);
    cmx_upstream_settings us;
    cmx_upstream_settings_from_config(&cfg->upstream, &us);
    w->upstream = cmx_upstream_new(w->base, w->dns, &us);
    if (!w->upstream)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "cannot create the upstream client");

    cmx_worker_env env = {w->base, w->upstream};
    w->router = cmx_router_new(gw->cfg, gw->shared, &env, err);
    if (!w->router)
        return err->kind;
    /* One worker runs the active health checks for the whole process. */
    if (index == 0 && cmx_router_start_health_checks(w->router, err) != CMX_OK)
        return err->kind;
    if (cmx_api_prepare(w, err) != CMX_OK)
        return err->kind;
    if (cfg->server.access_log) {
        w->access_log = cmx_access_log_new(w->base, STDOUT_FILENO);
        if (!w->access_log)
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }

    cmx_http_limits limits;
    cmx_http_limits_default(&limits);
    const cmx_server_config *sc = &cfg->server;
    limits.max_body_bytes = sc->max_body_bytes;
    limits.max_header_bytes = sc->max_header_bytes;
    limits.max_headers = sc->max_headers;
    limits.header_timeout_ms = sc->header_timeout_ms;
    limits.body_timeout_ms = sc->body_timeout_ms;
    limits.keepalive_timeout_ms = sc->keepalive_timeout_ms;
    limits.write_timeout_ms = sc->write_timeout_ms;
    w->server = cmx_http_server_new(w->base, host, port, &limits, cmx_api_handle, w);
    if (!w->server)
        return cmx_error_set(err, CMX_ERR_IO, "cannot listen on %s:%d: %s", host, port,
                             strerror(errno));

    w->shutdown_event =
        event_new(w->base, gw->wake_fds[2 * index], EV_READ | EV_PERSIST, on_wake, w);
    w->drain_timer = event_new(w->base, -1, EV_PERSIST, on_drain_timer, w);
    if (!w->shutdown_event || !w->drain_timer || event_add(w->shutdown_event, NULL) < 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "cannot set up the worker's events");
    return CMX_OK;
}

cmx_gateway *cmx_gateway_new(cmx_config *cfg, const cmx_gateway_options *opts, cmx_error *err)
{
    cmx_gateway *gw = calloc(1, sizeof *gw);
    if (!gw) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    gw->cfg = cmx_config_ref(cfg);
    gw->shared = cmx_router_shared_new(cfg, err);
    if (!gw->shared) {
        cmx_gateway_free(gw);
        return NULL;
    }
    gw->n_workers = opts && opts->workers > 0 ? opts->workers : cfg->server.workers;
    if (gw->n_workers < 1)
        gw->n_workers = 1;
    const char *host = opts && opts->listen_host ? opts->listen_host : cfg->server.listen_host;
    int port = opts && opts->listen_port >= 0 ? opts->listen_port : cfg->server.listen_port;

    gw->metrics = cmx_metrics_new(cfg, (size_t)gw->n_workers, err);
    if (!gw->metrics) {
        cmx_gateway_free(gw);
        return NULL;
    }
    if (cfg->governance.enabled || cfg->audit.file) {
        gw->gov = cmx_governance_new(cfg, (size_t)gw->n_workers, err);
        if (!gw->gov) {
            cmx_gateway_free(gw);
            return NULL;
        }
    }
    if (cfg->server.n_admin_keys) {
        gw->admin_key_ids = calloc(cfg->server.n_admin_keys, sizeof *gw->admin_key_ids);
        if (!gw->admin_key_ids) {
            cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
            cmx_gateway_free(gw);
            return NULL;
        }
        for (size_t i = 0; i < cfg->server.n_admin_keys; i++)
            cmx_admin_key_id(cfg->server.admin_keys[i], gw->admin_key_ids[i]);
    }
    gw->workers = calloc((size_t)gw->n_workers, sizeof *gw->workers);
    gw->wake_fds = malloc(sizeof(int) * 2 * (size_t)gw->n_workers);
    if (!gw->workers || !gw->wake_fds) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        cmx_gateway_free(gw);
        return NULL;
    }
    for (int i = 0; i < 2 * gw->n_workers; i++)
        gw->wake_fds[i] = -1;
    for (int i = 0; i < gw->n_workers; i++) {
        if (pipe2(&gw->wake_fds[2 * i], O_CLOEXEC | O_NONBLOCK) < 0) {
            cmx_error_set(err, CMX_ERR_IO, "pipe: %s", strerror(errno));
            cmx_gateway_free(gw);
            return NULL;
        }
        /* The first worker may bind port 0; the others share what it got. */
        if (worker_init(gw, i, host, i == 0 ? port : gw->port, err) != CMX_OK) {
            cmx_gateway_free(gw);
            return NULL;
        }
        if (i == 0)
            gw->port = cmx_http_server_port(gw->workers[0].server);
    }
    return gw;
}

int cmx_gateway_port(const cmx_gateway *gw)
{
    return gw->port;
}

int cmx_gateway_workers(const cmx_gateway *gw)
{
    return gw->n_workers;
}

cmx_governance *cmx_gateway_governance(cmx_gateway *gw)
{
    return gw->gov;
}

static void *worker_main(void *arg)
{
    cmx_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

cmx_err cmx_gateway_start(cmx_gateway *gw, cmx_error *err)
{
    for (int i = 0; i < gw->n_workers; i++) {
        int rc = pthread_create(&gw->workers[i].thread, NULL, worker_main, &gw->workers[i]);
        if (rc != 0) {
            cmx_gateway_shutdown(gw, 0);
            return cmx_error_set(err, CMX_ERR_INTERNAL, "cannot start worker thread: %s",
                                 strerror(rc));
        }
        gw->started = i + 1;
    }
    return CMX_OK;
}

void cmx_gateway_shutdown(cmx_gateway *gw, uint32_t grace_ms)
{
    for (int i = 0; i < gw->started; i++) {
        ssize_t n = write(gw->wake_fds[2 * i + 1], &grace_ms, sizeof grace_ms);
        (void)n;
    }
    for (int i = 0; i < gw->started; i++)
        pthread_join(gw->workers[i].thread, NULL);
    gw->started = 0;
}

void cmx_gateway_free(cmx_gateway *gw)
{
    if (!gw)
        return;
    if (gw->started)
        cmx_gateway_shutdown(gw, 0);
    /* Workers first (closing connections ends their requests, which still
     * settle with the governance); then the governance, whose thread may
     * post last replies to the mailboxes; then the mailboxes. */
    for (int i = 0; gw->workers && i < gw->n_workers; i++)
        worker_release(&gw->workers[i]);
    cmx_governance_free(gw->gov);
    for (int i = 0; gw->workers && i < gw->n_workers; i++)
        cmx_mailbox_free(gw->workers[i].mailbox);
    free(gw->admin_key_ids);
    for (int i = 0; gw->wake_fds && i < 2 * gw->n_workers; i++)
        if (gw->wake_fds[i] >= 0)
            close(gw->wake_fds[i]);
    free(gw->wake_fds);
    free(gw->workers);
    cmx_metrics_free(gw->metrics);
    cmx_router_shared_free(gw->shared);
    cmx_config_unref(gw->cfg);
    free(gw);
}
