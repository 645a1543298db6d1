/* upstream.c — the public face of the upstream client and the life of a call.
 *
 * A call goes: send → (next loop turn) start → pooled connection, or a new
 * one through upstream_connect.c, or the origin's wait queue → request
 * written and response parsed by upstream_io.c → finish, which pools or
 * closes the connection and then runs on_complete, exactly once, last.
 *
 * The start is deferred to the event loop so that no callback can run inside
 * cmx_upstream_send, and so that every failure path is an ordinary loop
 * callback that may call on_complete directly.  User callbacks run with
 * `busy` raised: cmx_upstream_cancel inside one only marks the call, and the
 * frame that invoked the callback tears it down when it returns.
 *
 * Calls are recycled through a small free list, which keeps their request
 * and header buffers, so a steady keep-alive workload allocates nothing per
 * request. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/upstream_internal.h"
#include "core/str.h"

static void phase_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void total_timeout_cb(evutil_socket_t fd, short what, void *arg);

void cmx_upstream_settings_default(cmx_upstream_settings *s)
{
    memset(s, 0, sizeof *s);
    s->max_idle_per_origin = 32;
    s->max_conns_per_origin = 256;
    s->idle_expiry_ms = 60000;
    s->queue_timeout_ms = 2000;
    s->http2_ping_interval_ms = 30000;
    /* Upper case first, as curl does for all but http_proxy. */
    const char *v;
    s->https_proxy = (v = getenv("HTTPS_PROXY")) && *v ? v : getenv("https_proxy");
    s->http_proxy = (v = getenv("http_proxy")) && *v ? v : getenv("HTTP_PROXY");
    s->no_proxy = (v = getenv("NO_PROXY")) && *v ? v : getenv("no_proxy");
    if (s->https_proxy && !*s->https_proxy)
        s->https_proxy = NULL;
    if (s->http_proxy && !*s->http_proxy)
        s->http_proxy = NULL;
}

static cmx_up_proxy *proxy_from_settings(const char *url, const char *which)
{
    if (!url || !*url)
        return NULL;
    cmx_error err;
    cmx_up_proxy *p = cmx_up_proxy_parse(url, &err);
    if (!p)
        cmx_warn("upstream: ignoring %s: %s", which, err.message);
    return p;
}

struct event_base *cmx_upstream_base(const cmx_upstream *up)
{
    return up->base;
}

cmx_upstream *cmx_upstream_new(struct event_base *base, struct evdns_base *dns,
                               const cmx_upstream_settings *settings)
{
    cmx_upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->base = base;
    if (settings)
        up->settings = *settings;
    else
        cmx_upstream_settings_default(&up->settings);
    if (up->settings.max_conns_per_origin == 0)
        up->settings.max_conns_per_origin = 256;
    if (up->settings.idle_expiry_ms == 0)
        up->settings.idle_expiry_ms = 60000;
    if (!(up->rbuf = malloc(CMX_UP_READ_BYTES)))
        goto fail;
    up->http_proxy = proxy_from_settings(up->settings.http_proxy, "http_proxy");
    up->https_proxy = proxy_from_settings(up->settings.https_proxy, "https_proxy");
    if (up->settings.no_proxy && !(up->no_proxy = strdup(up->settings.no_proxy)))
        goto fail;
    /* The copies own the strings now; the caller's may go away. */
    up->settings.http_proxy = up->settings.https_proxy = NULL;
    up->settings.no_proxy = up->no_proxy;

    if (dns) {
        up->dns = dns;
    } else {
        int flags = EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE;
#ifdef EVDNS_BASE_NAMESERVERS_NO_DEFAULT
        flags |= EVDNS_BASE_NAMESERVERS_NO_DEFAULT;
#endif
        up->dns = evdns_base_new(base, flags);
        if (!up->dns) /* unreadable resolv.conf: literals and localhost still work */
            up->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!up->dns)
            goto fail;
        up->own_dns = 1;
    }
    return up;
fail:
    cmx_upstream_free(up);
    return NULL;
}

static void call_free_memory(cmx_upstream_call *call)
{
    free(call->req);
    free(call->head);
    free(call->hoff);
    free(call->headers);
    free(call);
}

void cmx_upstream_free(cmx_upstream *up)
{
    if (!up)
        return;
    cmx_up_origins_free(up);
    cmx_up_dns_free_all(up);
    if (up->own_dns && up->dns)
        evdns_base_free(up->dns, 0);
    cmx_up_tls_free_all(up);
    while (up->free_calls) {
        cmx_upstream_call *c = up->free_calls;
        up->free_calls = c->next;
        call_free_memory(c);
    }
    cmx_up_proxy_free(up->http_proxy);
    cmx_up_proxy_free(up->https_proxy);
    free(up->no_proxy);
    free(up->rbuf);
    free(up);
}

void cmx_upstream_get_stats(const cmx_upstream *up, cmx_upstream_stats *out)
{
    uint64_t v[CMX_UP_STAT__COUNT];
    for (size_t i = 0; i < CMX_UP_STAT__COUNT; i++)
        v[i] = atomic_load_explicit(&up->stats[i], memory_order_relaxed);
    *out = (cmx_upstream_stats){
        .connections_opened = v[CMX_UP_STAT_OPENED],
        .connections_reused = v[CMX_UP_STAT_REUSED],
        .stale_retries = v[CMX_UP_STAT_STALE_RETRIES],
        .idle_now = v[CMX_UP_STAT_IDLE_NOW],
        .queue_length = v[CMX_UP_STAT_QUEUE_LENGTH],
        .queue_waits = v[CMX_UP_STAT_QUEUE_WAITS],
        .queue_wait_us = v[CMX_UP_STAT_QUEUE_WAIT_US],
        .queue_timeouts = v[CMX_UP_STAT_QUEUE_TIMEOUTS],
        .h2_connections_now = v[CMX_UP_STAT_H2_CONNS_NOW],
        .h2_streams_now = v[CMX_UP_STAT_H2_STREAMS_NOW],
        .h2_streams = v[CMX_UP_STAT_H2_STREAMS],
        .h2_refused_retries = v[CMX_UP_STAT_H2_REFUSED_RETRIES],
        .h2_goaways = v[CMX_UP_STAT_H2_GOAWAYS],
        .h2_ping_failures = v[CMX_UP_STAT_H2_PING_FAILURES],
    };
}

static cmx_upstream_call *call_alloc(cmx_upstream *up)
{
    cmx_upstream_call *call = up->free_calls;
    if (call) {
        up->free_calls = call->next;
        up->n_free_calls--;
        char *req = call->req, *head = call->head;
        size_t req_cap = call->req_cap, head_cap = call->head_cap;
        /* Events stay assigned: same base, same argument. */
        call->next = call->prev = NULL;
        call->origin = NULL;
        call->state = CMX_UP_IDLE;
        call->busy = 0;
        call->cancelled = call->reused = call->retried = 0;
        call->complete = call->keep_alive = call->parse_failed = call->in_queue = 0;
        call->queued_us = 0;
        call->h2 = NULL;
        call->h2_next = call->h2_prev = NULL;
        call->h2_stream = 0;
        call->h2_opener = call->h2_refusals = call->h2_sent = call->h2_paused = 0;
        call->h2_body_off = call->h2_withheld = 0;
        call->h2_avoid = NULL;
        call->status_h2 = 0;
        call->conn = NULL;
        memset(&call->dns, 0, sizeof call->dns);
        call->fd = -1;
        call->io_ev_set = 0;
        call->addr_i = 0;
        call->proxy_buf = NULL;
        call->proxy_len = call->proxy_off = 0;
        call->body_bytes = 0;
        call->head_done = 0;
        call->head_len = 0;
        call->n_headers = 0;
        call->req = req;
        call->req_cap = req_cap;
        call->head = head;
        call->head_cap = head_cap;
        return call;
    }
    call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->up = up;
    call->fd = -1;
    event_assign(&call->start_ev, up->base, -1, 0, cmx_up_call_start_cb, call);
    event_assign(&call->phase_timer, up->base, -1, 0, phase_timeout_cb, call);
    event_assign(&call->total_timer, up->base, -1, 0, total_timeout_cb, call);
    return call;
}

static void call_recycle(cmx_upstream_call *call)
{
    cmx_upstream *up = call->up;
    event_del(&call->start_ev);
    event_del(&call->phase_timer);
    event_del(&call->total_timer);
    call->state = CMX_UP_IDLE;
    if (up->n_free_calls >= CMX_UP_FREE_CALLS_MAX) {
        call_free_memory(call);
        return;
    }
    call->next = up->free_calls;
    up->free_calls = call;
    up->n_free_calls++;
}

static size_t dec_len(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Request line, Host, the caller's header block, Content-Length and the body
 * in one buffer: one evbuffer write later, nothing to free per header. */
static int build_request(cmx_upstream_call *call, const cmx_upstream_request *req)
{
    const cmx_url *o = req->origin;
    size_t method_len = strlen(req->method), path_len = strlen(req->path);
    size_t host_len = strlen(o->host);
    int v6 = strchr(o->host, ':') != NULL;
    int default_port = o->port == (o->tls ? 443 : 80);
    int with_length = req->body_len > 0 ||
                      !(strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ||
                        strcmp(req->method, "DELETE") == 0 || strcmp(req->method, "OPTIONS") == 0);
    size_t need = method_len + 1 + path_len + sizeof " HTTP/1.1\r\nHost: " - 1 + host_len + 2 +
                  (default_port ? 0 : 6) + 2 + req->headers_len +
                  (with_length ? sizeof "Content-Length: \r\n" - 1 + dec_len(req->body_len) : 0) +
                  2 + req->body_len;
    if (need > call->req_cap) {
        char *n = realloc(call->req, need);
        if (!n)
            return -1;
        call->req = n;
        call->req_cap = need;
    }
    char *p = call->req;
    p = put(p, req->method, method_len);
    *p++ = ' ';
    p = put(p, req->path[0] ? req->path : "/", req->path[0] ? path_len : 1);
    p = put(p, " HTTP/1.1\r\nHost: ", sizeof " HTTP/1.1\r\nHost: " - 1);
    if (v6)
        *p++ = '[';
    p = put(p, o->host, host_len);
    if (v6)
        *p++ = ']';
    if (!default_port) {
        char port[8];
        int n = snprintf(port, sizeof port, ":%d", o->port);
        p = put(p, port, (size_t)n);
    }
    p = put(p, CMX_LIT("\r\n"));
    if (req->headers_len)
        p = put(p, req->headers, req->headers_len);
    if (with_length) {
        p = put(p, "Content-Length: ", sizeof "Content-Length: " - 1);
        char num[24];
        size_t n = dec_len(req->body_len), v = req->body_len;
        for (size_t i = n; i > 0; i--, v /= 10)
            num[i - 1] = (char)('0' + v % 10);
        p = put(p, num, n);
        p = put(p, CMX_LIT("\r\n"));
    }
    p = put(p, CMX_LIT("\r\n"));
    if (req->body_len)
        p = put(p, req->body, req->body_len);
    call->req_len = (size_t)(p - call->req);
    return 0;
}

static void arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

void cmx_up_arm_phase(cmx_upstream_call *call, uint32_t ms)
{
    if (ms)
        arm(&call->phase_timer, ms);
    else
        event_del(&call->phase_timer);
}

/* The idle timer is armed once, when reading starts; later input only notes
 * its time, and the timer, firing before the deadline that time implies,
 * waits out the rest (phase_timeout_cb).  Re-adding a timer for every chunk
 * costs a heap operation among all the calls' timers, thousands of them
 * when thousands of streams are open. */
void cmx_up_note_input(cmx_upstream_call *call)
{
    call->input_us = cmx_now_us();
    if (call->state == CMX_UP_READING)
        return;
    call->state = CMX_UP_READING;
    cmx_up_arm_phase(call, call->timeouts.idle_ms);
}

/* Still within the idle time since the last input: waits the rest, 1. */
static int idle_deadline_moved(cmx_upstream_call *call)
{
    uint64_t deadline = call->input_us + (uint64_t)call->timeouts.idle_ms * 1000u;
    uint64_t now = cmx_now_us();
    if (now >= deadline)
        return 0;
    uint64_t wait = deadline - now;
    struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
    event_add(&call->phase_timer, &tv);
    return 1;
}

cmx_upstream_call *cmx_upstream_send(cmx_upstream *up, const cmx_upstream_request *req,
                                     const cmx_upstream_callbacks *cb, void *ctx)
{
    cmx_upstream_call *call = call_alloc(up);
    if (!call)
        return NULL;
    call->cb = *cb;
    call->ctx = ctx;
    call->backlog = NULL;
    call->timeouts = req->timeouts;
    call->is_head = strcmp(req->method, "HEAD") == 0;
    call->http2 = req->http2;
    cmx_error_clear(&call->err);
    call->origin = cmx_up_origin_get(up, req);
    if (!call->origin || build_request(call, req) != 0) {
        call_recycle(call);
        return NULL;
    }
    call->state = CMX_UP_STARTING;
    event_active(&call->start_ev, 0, 0);
    if (req->timeouts.total_ms)
        arm(&call->total_timer, req->timeouts.total_ms);
    return call;
}

/* A call leaves the wait for a slot (it got one, gave up or was cancelled):
 * its wait counts. */
void cmx_up_call_note_wait_over(cmx_upstream_call *call)
{
    if (!call->queued_us)
        return;
    cmx_up_stat_add(call->up, CMX_UP_STAT_QUEUE_WAIT_US, (int64_t)(cmx_now_us() - call->queued_us));
    call->queued_us = 0;
}

static void wait_for_slot(cmx_upstream_call *call, int woken, uint32_t timeout_ms)
{
    /* A woken waiter that lost its slot to a newer call keeps its place
     * (and its deadline). */
    cmx_up_origin_enqueue(call->origin, call, woken);
    if (woken)
        return;
    call->queued_us = cmx_now_us();
    cmx_up_stat_add(call->up, CMX_UP_STAT_QUEUE_WAITS, 1);
    cmx_up_arm_phase(call, timeout_ms);
}

/* HTTP/2 is to be spoken: always for h2c, on TLS until ALPN says otherwise. */
static int origin_wants_h2(const cmx_up_origin *o)
{
    return o->http2 == CMX_HTTP2_ON || (o->http2 == CMX_HTTP2_AUTO && o->tls && !o->alpn_h1);
}

/* A stream on a connection with room; or a new connection when those on
 * their way will not hold the calls already waiting; or the queue. */
static void start_h2(cmx_upstream_call *call)
{
    cmx_up_origin *o = call->origin;
    const cmx_upstream_settings *s = &call->up->settings;
    cmx_up_h2 *h2 = cmx_up_h2_pick(o, call->h2_avoid);
    if (h2 && cmx_up_h2_submit(call, h2) == 0) {
        cmx_up_call_note_wait_over(call);
        return;
    }
    int woken = call->state == CMX_UP_QUEUED;
    if (o->n_conns < s->max_conns_per_origin &&
        (size_t)o->h2_connecting * o->h2_stream_limit <= o->n_waiting) {
        cmx_up_call_note_wait_over(call);
        o->n_conns++;
        o->h2_connecting++;
        call->h2_opener = 1;
        cmx_up_connect_begin(call);
        return;
    }
    /* Waiting for a connection on its way may take as long as connecting. */
    uint32_t timeout = s->queue_timeout_ms;
    if (timeout && o->h2_connecting && call->timeouts.connect_ms > timeout)
        timeout = call->timeouts.connect_ms;
    wait_for_slot(call, woken, timeout);
}

/* From the loop: take a pooled connection, open one, or wait for a slot. */
void cmx_up_call_start_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_upstream_call *call = arg;
    cmx_up_origin *o = call->origin;
    if (origin_wants_h2(o)) {
        start_h2(call);
        return;
    }
    cmx_up_conn *conn = cmx_up_pool_take(o);
    if (conn) {
        cmx_up_call_note_wait_over(call);
        cmx_up_stat_add(call->up, CMX_UP_STAT_REUSED, 1);
        cmx_up_call_attach(call, conn, 1);
        return;
    }
    if (o->n_conns < call->up->settings.max_conns_per_origin) {
        cmx_up_call_note_wait_over(call);
        o->n_conns++;
        cmx_up_connect_begin(call);
        return;
    }
    wait_for_slot(call, call->state == CMX_UP_QUEUED, call->up->settings.queue_timeout_ms);
}

void cmx_up_call_attach(cmx_upstream_call *call, cmx_up_conn *conn, int reused)
{
    call->conn = conn;
    call->reused = reused;
    conn->call = call;
    cmx_up_io_begin(call);
}

/* The stale-connection retry: the pooled connection died before answering. */
void cmx_up_call_retry_fresh(cmx_upstream_call *call)
{
    cmx_up_origin *o = call->origin;
    cmx_up_conn *conn = call->conn;
    call->conn = NULL;
    conn->call = NULL;
    call->retried = 1;
    call->reused = 0;
    cmx_up_stat_add(call->up, CMX_UP_STAT_STALE_RETRIES, 1);
    /* The dead connection's slot goes straight to the new one. */
    o->n_conns++;
    cmx_up_conn_close(conn);
    cmx_up_connect_begin(call);
}

/* Detaches the call from whatever it waits on; closes what it owns. */
static void call_release_resources(cmx_upstream_call *call, int pool_ok)
{
    event_del(&call->phase_timer);
    event_del(&call->total_timer);
    event_del(&call->start_ev);
    switch (call->state) {
    case CMX_UP_QUEUED:
        if (call->in_queue)
            cmx_up_origin_dequeue(call->origin, call);
        else /* woken for a slot it will not take now: the next waiter may */
            cmx_up_origin_wake(call->origin);
        cmx_up_call_note_wait_over(call);
        break;
    case CMX_UP_RESOLVING:
    case CMX_UP_CONNECTING:
    case CMX_UP_PROXY_WRITE:
    case CMX_UP_PROXY_READ:
    case CMX_UP_TLS:
        cmx_up_connect_abort(call);
        call->origin->n_conns--;
        if (call->h2_opener) {
            call->h2_opener = 0;
            call->origin->h2_connecting--;
        }
        cmx_up_origin_wake(call->origin);
        break;
    default: break;
    }
    cmx_up_conn *conn = call->conn;
    if (call->h2) {
        cmx_up_h2_release_call(call);
    } else if (conn) {
        call->conn = NULL;
        conn->call = NULL;
        if (pool_ok)
            cmx_up_pool_put(conn);
        else
            cmx_up_conn_close(conn);
    }
    call->state = CMX_UP_DONE;
}

void cmx_up_call_finish(cmx_upstream_call *call)
{
    /* Reusable only when nothing is left over either way: no unread bytes,
     * and no unsent request bytes (a server may answer before reading all). */
    int pool_ok = call->err.kind == CMX_OK && call->keep_alive && call->conn && !call->h2 &&
                  !call->conn->unread &&
                  evbuffer_get_length(bufferevent_get_input(call->conn->bev)) == 0 &&
                  evbuffer_get_length(bufferevent_get_output(call->conn->bev)) == 0;
    call_release_resources(call, pool_ok);
    call->busy++;
    if (call->cb.on_complete)
        call->cb.on_complete(call->ctx, &call->err);
    call_recycle(call);
}

void cmx_up_call_fail(cmx_upstream_call *call, cmx_err kind, cmx_cause cause, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmx_error_vset(&call->err, kind, fmt, ap);
    va_end(ap);
    call->err.cause = cause;
    cmx_up_call_finish(call);
}

void cmx_up_call_abandon(cmx_upstream_call *call)
{
    call_release_resources(call, 0);
    call_recycle(call);
}

void cmx_upstream_watch_backlog(cmx_upstream_call *call, size_t (*backlog)(void *ctx))
{
    if (call)
        call->backlog = backlog;
}

void cmx_upstream_cancel(cmx_upstream_call *call)
{
    if (!call || call->state == CMX_UP_DONE || call->state == CMX_UP_IDLE)
        return; /* finishing or finished: nothing left to stop */
    if (call->busy) {
        call->cancelled = 1; /* the frame running the callback tears down */
        return;
    }
    cmx_up_call_abandon(call);
}

static void phase_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_upstream_call *call = arg;
    char target[300];
    switch (call->state) {
    case CMX_UP_QUEUED: {
        const cmx_up_origin *o = call->origin;
        int v6 = strchr(o->host, ':') != NULL;
        cmx_up_stat_add(call->up, CMX_UP_STAT_QUEUE_TIMEOUTS, 1);
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_POOL_SATURATED,
                         "no connection to %s%s%s:%d free within %u ms (%zu open, the most "
                         "allowed per origin)",
                         v6 ? "[" : "", o->host, v6 ? "]" : "", o->port,
                         (unsigned)call->up->settings.queue_timeout_ms, o->n_conns);
        return;
    }
    case CMX_UP_SENDING:
    case CMX_UP_WAITING:
        cmx_up_call_fail(call, CMX_ERR_TIMEOUT, CMX_CAUSE_FIRST_BYTE_TIMEOUT,
                         "no response byte within %u ms", (unsigned)call->timeouts.first_byte_ms);
        return;
    case CMX_UP_READING:
        if (idle_deadline_moved(call))
            return;
        cmx_up_call_fail(call, CMX_ERR_TIMEOUT, CMX_CAUSE_IDLE_TIMEOUT,
                         "response stalled for %u ms after %llu body bytes",
                         (unsigned)call->timeouts.idle_ms, (unsigned long long)call->body_bytes);
        return;
    default:
        cmx_up_call_fail(call, CMX_ERR_TIMEOUT, CMX_CAUSE_CONNECT_TIMEOUT,
                         "connect to %s not established within %u ms (%s)",
                         cmx_up_connect_target(call, target, sizeof target),
                         (unsigned)call->timeouts.connect_ms,
                         call->state == CMX_UP_RESOLVING    ? "resolving the name"
                         : call->state == CMX_UP_TLS        ? "TLS handshake"
                         : call->state == CMX_UP_PROXY_READ ? "waiting for the proxy"
                                                            : "TCP connect");
        return;
    }
}

static void total_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_upstream_call *call = arg;
    cmx_up_call_fail(call, CMX_ERR_TIMEOUT, CMX_CAUSE_TOTAL_TIMEOUT,
                     "response not complete within %u ms (%llu body bytes received)",
                     (unsigned)call->timeouts.total_ms, (unsigned long long)call->body_bytes);
}
