/* drill_relay.c — a TCP relay that can be told to make its upstream look
 * unreachable.
 *
 * When the drill runs the gateway in-process and there is no fault endpoint
 * to call, it points the target provider's base_url at this relay.  While
 * healthy the relay copies bytes both ways, one upstream connection per
 * accepted one.  While failing it resets every open connection and every new
 * one (SO_LINGER 0, so the gateway sees RST, not a clean close): from the
 * gateway's side the provider is down at the TCP level, which is the failure
 * a real outage most often looks like.  It works on plain TCP, so it only
 * suits http:// base_urls; TLS would need the relay to hold the provider's
 * certificate. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drill.h"

typedef struct relay_pair relay_pair;

struct cmx_drill_relay {
    struct event_base *base;
    struct evconnlistener *listener;
    char host[256];
    int port; /* upstream's */
    int listen_port;
    int failing;
    relay_pair *pairs; /* open pairs, for resetting them all at fail time */
};

struct relay_pair {
    cmx_drill_relay *relay;
    struct bufferevent *down; /* the gateway's connection */
    struct bufferevent *up;   /* ours to the provider */
    relay_pair *prev, *next;
};

/* Closes a socket with a TCP reset instead of a FIN. */
static void reset_fd(evutil_socket_t fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void pair_free(relay_pair *p, int reset)
{
    cmx_drill_relay *r = p->relay;
    if (p->prev)
        p->prev->next = p->next;
    else
        r->pairs = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (reset && p->down)
        reset_fd(bufferevent_getfd(p->down));
    if (p->down)
        bufferevent_free(p->down);
    if (p->up)
        bufferevent_free(p->up);
    free(p);
}

static void on_read(struct bufferevent *bev, void *ctx)
{
    relay_pair *p = ctx;
    struct bufferevent *other = bev == p->down ? p->up : p->down;
    bufferevent_write_buffer(other, bufferevent_get_input(bev));
}

/* After one side closed: close the other once what it still has to write is
 * written. */
static void on_drained(struct bufferevent *bev, void *ctx)
{
    (void)bev;
    pair_free(ctx, 0);
}

static void on_event(struct bufferevent *bev, short what, void *ctx)
{
    relay_pair *p = ctx;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    struct bufferevent *other = bev == p->down ? p->up : p->down;
    if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(other)) > 0) {
        /* Pass what was read, then close the other side. */
        bufferevent_disable(bev, EV_READ);
        bufferevent_setcb(other, NULL, on_drained, on_event, p);
        return;
    }
    /* An error upstream (refused, reset) shows as a reset downstream. */
    pair_free(p, (what & BEV_EVENT_ERROR) != 0);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *ctx)
{
    (void)l;
    (void)sa;
    (void)socklen;
    cmx_drill_relay *r = ctx;
    if (r->failing) {
        reset_fd(fd);
        evutil_closesocket(fd);
        return;
    }
    relay_pair *p = calloc(1, sizeof *p);
    if (!p) {
        evutil_closesocket(fd);
        return;
    }
    p->relay = r;
    p->next = r->pairs;
    if (r->pairs)
        r->pairs->prev = p;
    r->pairs = p;
    p->down = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
    p->up = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!p->down || !p->up) {
        if (!p->down)
            evutil_closesocket(fd);
        pair_free(p, 0);
        return;
    }
    bufferevent_setcb(p->down, on_read, NULL, on_event, p);
    bufferevent_setcb(p->up, on_read, NULL, on_event, p);
    bufferevent_enable(p->down, EV_READ | EV_WRITE);
    bufferevent_enable(p->up, EV_READ | EV_WRITE);
    /* No DNS base: a name resolves synchronously, which is fine for the
     * loopback and host-file names a drill points at. */
    if (bufferevent_socket_connect_hostname(p->up, NULL, AF_UNSPEC, r->host, r->port) < 0)
        pair_free(p, 1);
}

cmx_drill_relay *cmx_drill_relay_new(struct event_base *base, const char *host, int port,
                                     char *errbuf, size_t errlen)
{
    cmx_drill_relay *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->base = base;
    snprintf(r->host, sizeof r->host, "%s", host);
    r->port = port;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    r->listener =
        evconnlistener_new_bind(base, on_accept, r, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
                                (struct sockaddr *)&sin, sizeof sin);
    if (!r->listener) {
        snprintf(errbuf, errlen, "cannot listen on 127.0.0.1 for the fault relay");
        free(r);
        return NULL;
    }
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&bound, &len);
    r->listen_port = ntohs(bound.sin_port);
    return r;
}

int cmx_drill_relay_port(const cmx_drill_relay *r)
{
    return r->listen_port;
}

void cmx_drill_relay_set_failing(cmx_drill_relay *r, int failing)
{
    r->failing = failing;
    if (failing)
        while (r->pairs)
            pair_free(r->pairs, 1);
}

void cmx_drill_relay_free(cmx_drill_relay *r)
{
    if (!r)
        return;
    while (r->pairs)
        pair_free(r->pairs, 0);
    evconnlistener_free(r->listener);
    free(r);
}
