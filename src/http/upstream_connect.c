/* upstream_connect.c — from a host name to a connection ready for a request:
 * resolve, TCP connect (each resolved address in turn), the proxy's CONNECT
 * tunnel when the origin goes through one, then the TLS handshake.
 *
 * Until TLS starts this works on a raw non-blocking socket with one event,
 * not a bufferevent: connect errors come back as plain errno values
 * (ECONNREFUSED is told apart reliably), and the few bytes of a CONNECT
 * exchange need no buffering machinery.  The socket then goes to a socket
 * bufferevent — bufferevent_openssl_socket_new for https, so TLS reads go
 * straight from the socket with no filter in between; a plain one only
 * writes, upstream_io.c reads it.  The whole phase runs under the call's
 * connect timeout. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "http/upstream_internal.h"
#include "core/str.h"

#define PROXY_REPLY_MAX 8192

static void connect_next(cmx_upstream_call *call);
static void io_cb(evutil_socket_t fd, short what, void *arg);

const char *cmx_up_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%d", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%d", ip, ntohs(s4->sin_port));
    }
    return buf;
}

const char *cmx_up_connect_target(const cmx_upstream_call *call, char *buf, size_t size)
{
    const cmx_up_origin *o = call->origin;
    const char *host = o->proxy ? o->proxy->host : o->host;
    int port = o->proxy ? o->proxy->port : o->port;
    int v6 = strchr(host, ':') != NULL;
    snprintf(buf, size, "%s%s%s%s:%d", o->proxy ? "proxy " : "", v6 ? "[" : "", host, v6 ? "]" : "",
             port);
    return buf;
}

static void set_io(cmx_upstream_call *call, short what)
{
    if (call->io_ev_set)
        event_del(&call->io_ev);
    event_assign(&call->io_ev, call->up->base, call->fd, what, io_cb, call);
    event_add(&call->io_ev, NULL);
    call->io_ev_set = 1;
}

static void clear_io(cmx_upstream_call *call)
{
    if (call->io_ev_set) {
        event_del(&call->io_ev);
        call->io_ev_set = 0;
    }
}

/* ALPN chose "h2", or the origin speaks h2c by prior knowledge. */
static int speaks_h2(const cmx_up_origin *o, struct bufferevent *bev)
{
    if (!o->tls)
        return o->http2 == CMX_HTTP2_ON;
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl)
        SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}

static void ready(cmx_upstream_call *call, struct bufferevent *bev)
{
    cmx_up_conn *conn = calloc(1, sizeof *conn);
    if (!conn) {
        bufferevent_free(bev);
        call->pending_bev = NULL;
        cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for a connection");
        return;
    }
    conn->origin = call->origin;
    conn->bev = bev;
    call->pending_bev = NULL;
    call->fd = -1;
    free(call->proxy_buf);
    call->proxy_buf = NULL;
    cmx_up_stat_add(call->up, CMX_UP_STAT_OPENED, 1);
    cmx_up_origin *o = call->origin;
    /* An HTTP/2 connection counts as on its way until its SETTINGS say how
     * many streams it takes (upstream_h2.c); otherwise it has arrived. */
    int opener = call->h2_opener;
    call->h2_opener = 0;
    call->state = CMX_UP_SENDING; /* the slot belongs to the connection now */
    if (speaks_h2(o, bev)) {
        o->alpn_h1 = 0;
        if (!opener)
            o->h2_connecting++;
        if (cmx_up_h2_start(conn, call) != 0) {
            o->h2_connecting--;
            cmx_up_conn_close(conn);
            cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for HTTP/2");
        }
        return;
    }
    if (opener)
        o->h2_connecting--;
    if (o->http2 == CMX_HTTP2_ON) { /* TLS: h2c never gets here */
        cmx_up_conn_close(conn);
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_TLS,
                         "%s:%d did not choose HTTP/2 by ALPN, and the provider's http2 is on",
                         o->host, o->port);
        return;
    }
    if (o->http2 == CMX_HTTP2_AUTO && o->tls && !o->alpn_h1) {
        /* HTTP/1.1 it is: calls that waited for this connection's streams
         * open connections of their own. */
        o->alpn_h1 = 1;
        cmx_up_origin_wake_all(o);
    }
    cmx_up_call_attach(call, conn, 0);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    cmx_upstream_call *call = arg;
    if (what & BEV_EVENT_CONNECTED) {
        ready(call, bev);
        return;
    }
    char why[300];
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    cmx_up_tls_describe_failure(bev, ssl, why, sizeof why);
    const cmx_up_origin *o = call->origin;
    cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_TLS,
                     "TLS handshake with %s:%d failed: %s", o->host, o->port, why);
}

/* TCP (and tunnel) is up: start TLS or hand over the plain socket. */
static void transport_ready(cmx_upstream_call *call)
{
    clear_io(call);
    cmx_up_origin *o = call->origin;
    struct event_base *base = call->up->base;
    if (!o->tls) {
        struct bufferevent *bev = bufferevent_socket_new(base, call->fd, BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for a connection");
            return;
        }
        call->fd = -1;
        ready(call, bev);
        return;
    }
    cmx_error err;
    SSL *ssl = cmx_up_tls_new(call->up, o, &err);
    if (!ssl) {
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_TLS, "%s", err.message);
        return;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, call->fd, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for a connection");
        return;
    }
    call->fd = -1; /* the bufferevent closes it now */
    call->pending_bev = bev;
    call->state = CMX_UP_TLS;
    /* A peer closing without close_notify ends a body; framing tells truncation. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, NULL, NULL, tls_event_cb, call);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void proxy_write(cmx_upstream_call *call)
{
    while (call->proxy_off < call->proxy_len) {
        ssize_t n = send(call->fd, call->proxy_buf + call->proxy_off,
                         call->proxy_len - call->proxy_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            set_io(call, EV_WRITE);
            return;
        }
        if (n < 0) {
            char target[300];
            cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET,
                             "sending CONNECT to %s failed: %s",
                             cmx_up_connect_target(call, target, sizeof target), strerror(errno));
            return;
        }
        call->proxy_off += (size_t)n;
    }
    /* The request buffer becomes the reply buffer. */
    char *reply = realloc(call->proxy_buf, PROXY_REPLY_MAX);
    if (!reply) {
        cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for the proxy reply");
        return;
    }
    call->proxy_buf = reply;
    call->proxy_len = 0;
    call->state = CMX_UP_PROXY_READ;
    set_io(call, EV_READ);
}

static void proxy_read(cmx_upstream_call *call)
{
    char target[300];
    const cmx_up_origin *o = call->origin;
    ssize_t n =
        recv(call->fd, call->proxy_buf + call->proxy_len, PROXY_REPLY_MAX - 1 - call->proxy_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET,
                         "%s closed the connection before answering CONNECT%s%s",
                         cmx_up_connect_target(call, target, sizeof target), n < 0 ? ": " : "",
                         n < 0 ? strerror(errno) : "");
        return;
    }
    call->proxy_len += (size_t)n;
    call->proxy_buf[call->proxy_len] = '\0';
    char tunnel[300];
    int v6 = strchr(o->host, ':') != NULL;
    snprintf(tunnel, sizeof tunnel, "%s%s%s:%d", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
    cmx_error err;
    int r = cmx_up_proxy_parse_reply(call->proxy_buf, call->proxy_len, tunnel, &err);
    if (r == 0 && call->proxy_len >= PROXY_REPLY_MAX - 1) {
        cmx_up_call_fail(call, CMX_ERR_UPSTREAM_PROTOCOL, CMX_CAUSE_PROTOCOL,
                         "proxy answer to CONNECT %s larger than %d bytes", tunnel,
                         PROXY_REPLY_MAX);
        return;
    }
    if (r == 0)
        return;
    if (r < 0) {
        cmx_up_call_fail(call, err.kind, err.cause, "%s", err.message);
        return;
    }
    transport_ready(call);
}

static void proxy_begin(cmx_upstream_call *call)
{
    const cmx_up_origin *o = call->origin;
    call->proxy_buf = cmx_up_proxy_connect_request(o->proxy, o->host, o->port, &call->proxy_len);
    if (!call->proxy_buf) {
        cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory for CONNECT");
        return;
    }
    call->proxy_off = 0;
    call->state = CMX_UP_PROXY_WRITE;
    proxy_write(call);
}

static void tcp_connected(cmx_upstream_call *call)
{
    if (call->origin->proxy)
        proxy_begin(call);
    else
        transport_ready(call);
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_upstream_call *call = arg;
    switch (call->state) {
    case CMX_UP_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(call->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == EINPROGRESS)
            return;
        if (err) {
            clear_io(call);
            close(call->fd);
            call->fd = -1;
            call->connect_errno = err;
            connect_next(call);
            return;
        }
        tcp_connected(call);
        return;
    }
    case CMX_UP_PROXY_WRITE: proxy_write(call); return;
    case CMX_UP_PROXY_READ: proxy_read(call); return;
    default: return;
    }
}

static void connect_failed(cmx_upstream_call *call)
{
    char target[300];
    cmx_up_connect_target(call, target, sizeof target);
    /* Name the address too when the target is a name. */
    char suffix[80] = "";
    const char *bare = CMX_STARTS_WITH(target, "proxy ") ? target + CMX_LIT_LEN("proxy ") : target;
    if (call->last_addr[0] && strcmp(call->last_addr, bare) != 0)
        snprintf(suffix, sizeof suffix, " (%s)", call->last_addr);
    int e = call->connect_errno;
    if (e == ECONNREFUSED)
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_CONNECT_REFUSED,
                         "connect to %s%s refused", target, suffix);
    else
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_CONNECT_REFUSED,
                         "connect to %s%s failed: %s", target, suffix,
                         e ? strerror(e) : "no address");
}

static void connect_next(cmx_upstream_call *call)
{
    call->state = CMX_UP_CONNECTING;
    while (call->addr_i < call->addrs.n) {
        size_t i = call->addr_i++;
        struct sockaddr *sa = (struct sockaddr *)&call->addrs.addr[i];
        if (sa->sa_family == AF_INET6)
            ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)call->target_port);
        else
            ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)call->target_port);
        cmx_up_addr_str(sa, call->last_addr, sizeof call->last_addr);
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            call->connect_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        call->fd = fd;
        if (connect(fd, sa, call->addrs.len[i]) == 0) {
            tcp_connected(call);
            return;
        }
        if (errno == EINPROGRESS) {
            set_io(call, EV_WRITE);
            return;
        }
        call->connect_errno = errno;
        close(fd);
        call->fd = -1;
    }
    connect_failed(call);
}

static void dns_done(cmx_up_dns_waiter *w, const cmx_up_addrs *addrs, const char *why)
{
    cmx_upstream_call *call = (cmx_upstream_call *)((char *)w - offsetof(cmx_upstream_call, dns));
    if (!addrs) {
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_DNS, "cannot resolve %s: %s",
                         call->target_host, why);
        return;
    }
    call->addrs = *addrs;
    call->addr_i = 0;
    connect_next(call);
}

void cmx_up_connect_begin(cmx_upstream_call *call)
{
    const cmx_up_origin *o = call->origin;
    call->state = CMX_UP_RESOLVING;
    call->fd = -1;
    call->connect_errno = 0;
    call->last_addr[0] = '\0';
    call->target_host = o->proxy ? o->proxy->host : o->host;
    call->target_port = o->proxy ? o->proxy->port : o->port;
    cmx_up_arm_phase(call, call->timeouts.connect_ms);
    call->addr_i = 0;
    if (cmx_up_dns_lookup(call->up, call->target_host, &call->addrs)) {
        connect_next(call);
        return;
    }
    call->dns.done = dns_done;
    cmx_up_dns_wait(call->up, call->target_host, &call->dns);
}

void cmx_up_connect_abort(cmx_upstream_call *call)
{
    if (call->dns.query)
        cmx_up_dns_unwait(&call->dns);
    clear_io(call);
    if (call->fd >= 0) {
        close(call->fd);
        call->fd = -1;
    }
    if (call->pending_bev) {
        bufferevent_free(call->pending_bev);
        call->pending_bev = NULL;
    }
    free(call->proxy_buf);
    call->proxy_buf = NULL;
}
