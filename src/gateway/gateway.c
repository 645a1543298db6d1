/* gateway.c — worker threads: their setup, their loop and their drain.
 *
 * Everything a worker needs is built on the main thread before any thread
 * starts, so a port that cannot be bound or a provider that cannot be set up
 * is reported before serving begins.  Worker event loops run without
 * libevent's locks (nothing crosses threads); the main thread (and a
 * reload) reaches a worker only through its wake-up pipe: "drain" or "swap
 * to this generation".
 *
 * The state store is the gateway's: each worker has its own connection on
 * its own loop, and the first worker also hears the fleet's events, which it
 * applies to its current generation's mirror. */
#include "gateway_internal.h"

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
#include "router/fleet.h"
#include "router/group_state.h"

#define DRAIN_POLL_MS 20
/* After the grace period the requests still running are ended with an
 * error; this is how long their last bytes get to reach the clients. */
#define CUT_FLUSH_MS 1000

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_worker *w = arg;
    uint64_t now = cmx_now_us();
    if (!w->server || cmx_http_server_open_connections(w->server) == 0) {
        event_base_loopbreak(w->base);
        return;
    }
    if (now < w->drain_deadline_us)
        return;
    if (!w->cut) {
        /* The grace period is over: what still runs ends now, streams with
         * an error event (never [DONE]), the others with a 503. */
        w->cut = 1;
        cmx_api_cut_in_flight(w);
        w->drain_deadline_us = now + (uint64_t)CUT_FLUSH_MS * 1000;
        return;
    }
    event_base_loopbreak(w->base);
}

static void stop_worker(cmx_worker *w, uint32_t grace_ms)
{
    uint64_t deadline = cmx_now_us() + (uint64_t)grace_ms * 1000;
    atomic_store(&w->draining, 1);
    if (w->stopping) {
        /* Asked again (a second signal): only ever sooner. */
        if (!w->cut && deadline < w->drain_deadline_us)
            w->drain_deadline_us = deadline;
    } else {
        w->stopping = 1;
        if (w->server)
            cmx_http_server_stop_accepting(w->server);
        w->drain_deadline_us = deadline;
        struct timeval tv = {0, DRAIN_POLL_MS * 1000};
        event_add(w->drain_timer, &tv);
    }
    on_drain_timer(-1, 0, w);
}

void cmx_worker_swap(cmx_worker *w, cmx_generation *g)
{
    cmx_error err;
    cmx_error_clear(&err);
    cmx_worker_gen *next = cmx_worker_gen_new(w, g, &err);
    if (!next) {
        cmx_error_log("worker %d keeps config generation %llu: %s", w->index,
                      (unsigned long long)w->current->gen->number, err.message);
        return;
    }
    cmx_worker_gen *old = w->current;
    if (w->index == 0) {
        cmx_router_stop_health_checks(old->router);
        if (cmx_router_start_health_checks(next->router, &err) != CMX_OK)
            cmx_error_log("health checks not started: %s", err.message);
    }
    cmx_metrics_shard *shard = cmx_metrics_shard_at(g->metrics, (size_t)w->index);
    cmx_metrics_shard_carry(shard, w->shard);
    w->shard = shard;
    w->current = next;
    cmx_worker_gen_release(old);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    cmx_worker *w = arg;
    cmx_worker_msg msg;
    while (read(fd, &msg, sizeof msg) == (ssize_t)sizeof msg) {
        if (msg.kind == CMX_WORKER_DRAIN) {
            atomic_store(&w->draining, 1);
            if (w->server)
                cmx_http_server_drain(w->server);
        } else if (msg.kind == CMX_WORKER_STOP) {
            stop_worker(w, msg.grace_ms);
        } else if (msg.kind == CMX_WORKER_SWAP) {
            cmx_worker_swap(w, msg.gen);
            cmx_generation_unref(msg.gen);
        }
    }
}

int cmx_gateway_post(cmx_gateway *gw, int worker, const cmx_worker_msg *msg)
{
    /* Smaller than PIPE_BUF: written whole or not at all. */
    return write(gw->wake_fds[2 * worker + 1], msg, sizeof *msg) == (ssize_t)sizeof *msg ? 0 : -1;
}

/* The subscriber worker hears the fleet's events: they go to the mirror of
 * the generation it serves now. */
static void on_fleet_event(void *ctx, const cmx_state_event *ev)
{
    cmx_gateway *gw = ctx;
    cmx_fleet_apply(gw->workers[0].current->gen->shared, ev, cmx_now_us(), cmx_wall_ms());
}

static void on_store_up(void *ctx, cmx_state_worker *sw)
{
    cmx_gateway *gw = ctx;
    cmx_fleet_resync(gw->workers[0].current->gen->shared, sw, cmx_now_us(), cmx_wall_ms());
}

static void worker_release(cmx_worker *w)
{
    if (w->server)
        cmx_http_server_free(w->server);
    cmx_worker_gen_release(w->current);
    cmx_gov_fleet_attach(w->gov, (size_t)w->index, NULL);
    cmx_state_worker_free(w->state);
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
    cmx_buf_free(&w->scratch);
    cmx_mailbox *mb = w->mailbox;
    memset(w, 0, sizeof *w);
    w->mailbox = mb;
}

static cmx_err worker_init(cmx_gateway *gw, int index, const char *host, int port, int no_listener,
                           cmx_error *err)
{
    cmx_worker *w = &gw->workers[index];
    const cmx_config *cfg = gw->current->cfg;
    w->index = index;
    w->gateway = gw;
    w->shard = cmx_metrics_shard_at(gw->current->metrics, (size_t)index);
    w->gov = gw->gov;
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

    /* The first worker also hears the fleet's events. */
    w->state = cmx_state_worker_new(gw->state, index, w->base, w->dns, index == 0, err);
    if (!w->state)
        return err->kind;
    /* With state.redis, budgets are also counted in the fleet's counters. */
    cmx_gov_fleet_attach(w->gov, (size_t)index, w->state);
    w->current = cmx_worker_gen_new(w, gw->current, err);
    if (!w->current)
        return err->kind;
    /* One worker runs the active health checks for the whole process. */
    if (index == 0 && cmx_router_start_health_checks(w->current->router, err) != CMX_OK)
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
    /* The first worker takes the port for the process; the others join it.
     * Without a listener (the Lambda runtime) requests come another way. */
    if (no_listener)
        w->server = NULL;
    else if (index == 0)
        w->server = cmx_http_server_new(w->base, host, port, &limits, cmx_api_handle, w, err);
    else
        w->server = cmx_http_server_new_beside(w->base, gw->workers[0].server, &limits,
                                               cmx_api_handle, w, err);
    if (!no_listener && !w->server)
        return err->kind;
    if (w->server)
        cmx_http_server_set_error_writer(w->server, cmx_api_error_writer);

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
    pthread_mutex_init(&gw->reload_lock, NULL);
    gw->n_workers = opts && opts->workers > 0 ? opts->workers : cfg->server.workers;
    if (gw->n_workers < 1)
        gw->n_workers = 1;
    gw->state = cmx_state_new(&cfg->state, gw->n_workers, err);
    if (gw->state)
        gw->current = cmx_generation_new(cfg, gw->state, gw->n_workers, NULL, 1, err);
    if (!gw->current) {
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
    cmx_state_set_listener(gw->state, on_fleet_event, gw);
    cmx_state_set_on_up(gw->state, on_store_up, gw);
    const char *host = opts && opts->listen_host ? opts->listen_host : cfg->server.listen_host;
    int port = opts && opts->listen_port >= 0 ? opts->listen_port : cfg->server.listen_port;

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
        int no_listener = opts && opts->no_listener;
        if (worker_init(gw, i, host, port, no_listener, err) != CMX_OK) {
            cmx_gateway_free(gw);
            return NULL;
        }
        if (i == 0 && !no_listener)
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
    atomic_fetch_add(&w->gateway->stopped, 1);
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

static void tell_workers(cmx_gateway *gw, cmx_worker_msg_kind kind, uint32_t grace_ms)
{
    for (int i = 0; i < gw->started; i++) {
        /* Readiness flips here, on this thread, before the worker wakes. */
        atomic_store(&gw->workers[i].draining, 1);
        cmx_worker_msg msg = {kind, grace_ms, NULL};
        cmx_gateway_post(gw, i, &msg);
    }
}

void cmx_gateway_drain(cmx_gateway *gw)
{
    tell_workers(gw, CMX_WORKER_DRAIN, 0);
}

void cmx_gateway_stop(cmx_gateway *gw, uint32_t grace_ms)
{
    tell_workers(gw, CMX_WORKER_STOP, grace_ms);
}

int cmx_gateway_stopped(const cmx_gateway *gw)
{
    return atomic_load(&((cmx_gateway *)gw)->stopped) >= gw->started;
}

void cmx_gateway_shutdown(cmx_gateway *gw, uint32_t grace_ms)
{
    if (!cmx_gateway_stopped(gw))
        cmx_gateway_stop(gw, grace_ms);
    for (int i = 0; i < gw->started; i++)
        pthread_join(gw->workers[i].thread, NULL);
    gw->started = 0;
}

struct event_base *cmx_gateway_event_base(cmx_gateway *gw)
{
    return gw->workers[0].base;
}

void cmx_gateway_handle(cmx_gateway *gw, cmx_http_exchange *ex)
{
    cmx_api_handle(ex, &gw->workers[0]);
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
    for (int i = 0; gw->workers && i < gw->n_workers; i++) {
        /* Generations handed over after the worker stopped reading. */
        cmx_worker_msg msg;
        while (gw->wake_fds && gw->wake_fds[2 * i] >= 0 &&
               read(gw->wake_fds[2 * i], &msg, sizeof msg) == (ssize_t)sizeof msg)
            if (msg.kind == CMX_WORKER_SWAP)
                cmx_generation_unref(msg.gen);
        worker_release(&gw->workers[i]);
    }
    cmx_governance_free(gw->gov);
    for (int i = 0; gw->workers && i < gw->n_workers; i++)
        cmx_mailbox_free(gw->workers[i].mailbox);
    for (int i = 0; gw->wake_fds && i < 2 * gw->n_workers; i++)
        if (gw->wake_fds[i] >= 0)
            close(gw->wake_fds[i]);
    free(gw->wake_fds);
    free(gw->workers);
    cmx_generation_unref(gw->current);
    cmx_state_free(gw->state);
    pthread_mutex_destroy(&gw->reload_lock);
    free(gw);
}

void cmx_gateway_upstream_stats(const cmx_gateway *gw, cmx_upstream_stats *sum)
{
    *sum = (cmx_upstream_stats){0};
    for (int i = 0; i < gw->n_workers; i++) {
        if (!gw->workers[i].upstream)
            continue;
        cmx_upstream_stats s;
        cmx_upstream_get_stats(gw->workers[i].upstream, &s);
        sum->connections_opened += s.connections_opened;
        sum->connections_reused += s.connections_reused;
        sum->stale_retries += s.stale_retries;
        sum->idle_now += s.idle_now;
        sum->queue_length += s.queue_length;
        sum->queue_waits += s.queue_waits;
        sum->queue_wait_us += s.queue_wait_us;
        sum->queue_timeouts += s.queue_timeouts;
        sum->h2_connections_now += s.h2_connections_now;
        sum->h2_streams_now += s.h2_streams_now;
        sum->h2_streams += s.h2_streams;
        sum->h2_refused_retries += s.h2_refused_retries;
        sum->h2_goaways += s.h2_goaways;
        sum->h2_ping_failures += s.h2_ping_failures;
    }
}
