/* server.c — the HTTP/1.1 server: listener, accepting, and the set of open
 * connections; see server.h.
 *
 * Each worker thread runs its own cmx_http_server on its own event_base, all
 * bound to the same port with SO_REUSEPORT, so the kernel spreads new
 * connections over the workers and nothing is shared between threads.  The
 * first worker's listener takes the port exclusively (see listen_exclusive),
 * so no other process can share it.  What
 * happens on a connection lives in server_conn.c; how responses become bytes
 * lives in server_write.c. */
#include "http/server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "core/log.h"
#include "http/server_internal.h"

/* How long to pause accepting when accept() fails for lack of descriptors;
 * retrying at once would spin the loop. */
#define ACCEPT_RETRY_MS 100
/* How long a closed connection keeps discarding what the client still sends. */
#define LINGER_MS 2000
/* Accept queue length (the kernel caps it at net.core.somaxconn). */
#define LISTEN_BACKLOG 511

void cmx_http_limits_default(cmx_http_limits *limits)
{
    limits->max_header_bytes = 16 * 1024;
    limits->max_headers = 100;
    limits->max_body_bytes = 4 * 1024 * 1024;
    limits->header_timeout_ms = 10 * 1000;
    limits->body_timeout_ms = 30 * 1000;
    limits->keepalive_timeout_ms = 75 * 1000;
    limits->write_timeout_ms = 60 * 1000;
}

static struct timeval ms_to_tv(uint32_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* NULL when libevent has no more common-timeout queues for this base. */
static const struct timeval *common_timeout(struct event_base *base, uint32_t ms)
{
    struct timeval tv = ms_to_tv(ms);
    return event_base_init_common_timeout(base, &tv);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int addrlen, void *arg)
{
    cmx_http_server *srv = arg;
    int one = 1;
    /* Responses go out in one write each; Nagle would only delay them. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!cmx_http_conn_new(srv, fd)) {
        cmx_warn("http: out of memory accepting a connection");
        evutil_closesocket(fd);
    }
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_server *srv = arg;
    if (srv->listener && !srv->stopping)
        evconnlistener_enable(srv->listener);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
    cmx_http_server *srv = arg;
    int err = EVUTIL_SOCKET_ERROR();
    cmx_warn("http: accept failed: %s; pausing accepts for %d ms",
             evutil_socket_error_to_string(err), ACCEPT_RETRY_MS);
    evconnlistener_disable(listener);
    struct timeval tv = ms_to_tv(ACCEPT_RETRY_MS);
    event_add(srv->accept_retry, &tv);
}

/* The first listener is bound without SO_REUSEPORT, so a port that anything
 * else holds (another cloudmux included, whose first listener is bound the
 * same way) is refused with EADDRINUSE instead of being shared.  Only once
 * the bind succeeded is SO_REUSEPORT switched on, before listen(), so that
 * this process's other workers can join the port with their own listeners. */
static evutil_socket_t bind_exclusive(const struct addrinfo *ai)
{
    evutil_socket_t fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1;
    /* SO_REUSEADDR only lets a restart bind over TIME_WAIT connections; a
     * listening socket on the port still makes bind() fail. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static struct evconnlistener *listen_exclusive(cmx_http_server *srv, const char *host, int port,
                                               cmx_error *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_str[16];
    snprintf(port_str, sizeof port_str, "%d", port);
    const char *shown = host && *host ? host : "*";
    int rc = getaddrinfo(host && *host ? host : NULL, port_str, &hints, &res);
    if (rc != 0) {
        cmx_error_set(err, CMX_ERR_IO, "cannot listen on %s:%d: cannot resolve the address: %s",
                      shown, port, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *listener = NULL;
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai && !listener; ai = ai->ai_next) {
        evutil_socket_t fd = bind_exclusive(ai);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        listener = evconnlistener_new(srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE,
                                      LISTEN_BACKLOG, fd);
        if (!listener) {
            last_errno = errno ? errno : ENOMEM;
            close(fd);
        }
    }
    freeaddrinfo(res);
    if (!listener)
        cmx_error_set(err, CMX_ERR_IO, "cannot listen on %s:%d: %s%s", shown, port,
                      strerror(last_errno),
                      last_errno == EADDRINUSE ? " (another process holds the port)" : "");
    return listener;
}

/* A further worker's listener on the first one's exact address. */
static struct evconnlistener *listen_beside(cmx_http_server *srv, const cmx_http_server *first,
                                            cmx_error *err)
{
    struct evconnlistener *listener = evconnlistener_new_bind(
        srv->base, accept_cb, srv,
        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        LISTEN_BACKLOG, (const struct sockaddr *)&first->addr, (int)first->addr_len);
    if (!listener)
        cmx_error_set(err, CMX_ERR_IO, "cannot listen on port %d for another worker: %s",
                      first->port, strerror(errno));
    return listener;
}

static int bound_port(const cmx_http_server *srv)
{
    if (srv->addr_len == 0)
        return -1;
    if (srv->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&srv->addr)->sin_port);
    if (srv->addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&srv->addr)->sin6_port);
    return -1;
}

static cmx_http_server *server_new(struct event_base *base, const char *host, int port,
                                   const cmx_http_server *first, const cmx_http_limits *limits,
                                   cmx_http_handler handler, void *handler_ctx, cmx_error *err)
{
    /* A client that closes while we write would otherwise kill the process:
     * libevent writes with writev(), which cannot pass MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);

    cmx_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    srv->base = base;
    cmx_slab_pool_init(&srv->conn_slab, sizeof(cmx_http_conn));
    if (limits)
        srv->limits = *limits;
    else
        cmx_http_limits_default(&srv->limits);
    srv->handler = handler;
    srv->handler_ctx = handler_ctx;
    srv->tv_header = common_timeout(base, srv->limits.header_timeout_ms);
    srv->tv_body = common_timeout(base, srv->limits.body_timeout_ms);
    srv->tv_keepalive = common_timeout(base, srv->limits.keepalive_timeout_ms);
    uint32_t linger_ms = LINGER_MS;
    if (srv->limits.header_timeout_ms < linger_ms)
        linger_ms = srv->limits.header_timeout_ms;
    srv->tv_linger = common_timeout(base, linger_ms);
    srv->tv_write = ms_to_tv(srv->limits.write_timeout_ms);
    if (!srv->tv_header || !srv->tv_body || !srv->tv_keepalive || !srv->tv_linger) {
        cmx_error_set(err, CMX_ERR_INTERNAL, "http: cannot set up timers");
        free(srv);
        return NULL;
    }
    srv->accept_retry = evtimer_new(base, accept_retry_cb, srv);
    srv->trim_timer = evtimer_new(base, cmx_http_trim_cb, srv);
    srv->park_timer = evtimer_new(base, cmx_http_park_cb, srv);
    if (!srv->accept_retry || !srv->trim_timer || !srv->park_timer)
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    else
        srv->listener =
            first ? listen_beside(srv, first, err) : listen_exclusive(srv, host, port, err);
    if (!srv->listener) {
        if (srv->accept_retry)
            event_free(srv->accept_retry);
        if (srv->trim_timer)
            event_free(srv->trim_timer);
        if (srv->park_timer)
            event_free(srv->park_timer);
        free(srv);
        return NULL;
    }
    evconnlistener_set_error_cb(srv->listener, accept_error_cb);
    srv->addr_len = sizeof srv->addr;
    if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&srv->addr,
                    &srv->addr_len) != 0)
        srv->addr_len = 0;
    srv->port = bound_port(srv);
    return srv;
}

cmx_http_server *cmx_http_server_new(struct event_base *base, const char *host, int port,
                                     const cmx_http_limits *limits, cmx_http_handler handler,
                                     void *handler_ctx, cmx_error *err)
{
    return server_new(base, host, port, NULL, limits, handler, handler_ctx, err);
}

cmx_http_server *cmx_http_server_new_beside(struct event_base *base, const cmx_http_server *first,
                                            const cmx_http_limits *limits, cmx_http_handler handler,
                                            void *handler_ctx, cmx_error *err)
{
    return server_new(base, NULL, 0, first, limits, handler, handler_ctx, err);
}

void cmx_http_server_set_error_writer(cmx_http_server *srv, cmx_http_error_writer writer)
{
    srv->error_writer = writer;
}

int cmx_http_server_port(const cmx_http_server *srv)
{
    return srv->port;
}

void cmx_http_server_drain(cmx_http_server *srv)
{
    srv->draining = 1;
}

void cmx_http_server_stop_accepting(cmx_http_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    /* Closing the listening socket (not just ignoring it) makes new clients
     * fail fast or land on another worker's listener. */
    if (srv->listener) {
        evconnlistener_free(srv->listener);
        srv->listener = NULL;
    }
    event_del(srv->accept_retry);
    cmx_http_conn *c = srv->conns;
    while (c) {
        cmx_http_conn *next = c->next;
        if (cmx_http_conn_is_idle(c))
            cmx_http_conn_drop(c);
        c = next;
    }
}

size_t cmx_http_server_open_connections(const cmx_http_server *srv)
{
    return srv->n_conns;
}

size_t cmx_http_server_busy_connections(const cmx_http_server *srv)
{
    return srv->n_busy;
}

void cmx_http_server_free(cmx_http_server *srv)
{
    if (!srv)
        return;
    srv->stopping = 1;
    /* Owners of requests still in flight hear about it through on_close. */
    while (srv->conns)
        cmx_http_conn_drop(srv->conns);
    if (srv->listener)
        evconnlistener_free(srv->listener);
    event_free(srv->accept_retry);
    event_free(srv->trim_timer);
    event_free(srv->park_timer);
    cmx_http_rqs_free(srv);
    cmx_slab_pool_destroy(&srv->conn_slab);
    free(srv);
}
