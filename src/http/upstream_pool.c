/* upstream_pool.c — origins, their idle keep-alive connections and the queue
 * of calls waiting for a connection slot.
 *
 * An origin is (scheme, host, port, tls_verify, ca_file): two requests may
 * share a connection only when they would have opened the same one.  Idle
 * connections are kept most-recently-used first, so a light load keeps
 * reusing the same warm few and the rest expire (idle_expiry_ms, through the
 * timeout of the connection's read watch, see upstream_io.c).  The number of
 * connections per origin — connecting, busy and idle — is capped; a call
 * over the cap waits in a FIFO and is woken, one per freed slot or idle
 * connection, on the next loop turn.  Which connection may go back to the
 * pool is decided by the caller (upstream.c): only after a complete
 * keep-alive response with no bytes left over, as nginx's upstream keepalive
 * module does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "http/upstream_internal.h"

static int same_ca(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

cmx_up_origin *cmx_up_origin_get(cmx_upstream *up, const cmx_upstream_request *req)
{
    const cmx_url *u = req->origin;
    int verify = req->tls_verify ? 1 : 0;
    const char *ca = req->ca_file && *req->ca_file ? req->ca_file : NULL;
    cmx_up_origin **link = &up->origins;
    for (cmx_up_origin *o = up->origins; o; link = &o->next, o = o->next) {
        if (o->port == u->port && o->tls == u->tls && o->http2 == req->http2 &&
            strcmp(o->host, u->host) == 0 &&
            (!u->tls || (o->tls_verify == verify && same_ca(o->ca_file, ca)))) {
            if (o != up->origins) { /* move to front: hot origins are found first */
                *link = o->next;
                o->next = up->origins;
                up->origins = o;
            }
            return o;
        }
    }
    cmx_up_origin *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->up = up;
    o->tls = u->tls;
    o->port = u->port;
    o->tls_verify = u->tls ? verify : 1;
    snprintf(o->host, sizeof o->host, "%s", u->host);
    if (u->tls && ca && !(o->ca_file = strdup(ca))) {
        free(o);
        return NULL;
    }
    o->proxy = cmx_up_proxy_for(up, o->tls, o->host, o->port);
    o->http2 = req->http2;
    o->h2_stream_limit = 100; /* what RFC 9113 suggests at least, until SETTINGS say */
    o->next = up->origins;
    up->origins = o;
    return o;
}

static void idle_unlink(cmx_up_conn *conn)
{
    cmx_up_origin *o = conn->origin;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        o->idle_head = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn->next = conn->prev = NULL;
    o->n_idle--;
    cmx_up_stat_add(o->up, CMX_UP_STAT_IDLE_NOW, -1);
}

cmx_up_conn *cmx_up_pool_take(cmx_up_origin *o)
{
    cmx_up_conn *conn = o->idle_head;
    if (conn)
        idle_unlink(conn);
    return conn;
}

void cmx_up_pool_put(cmx_up_conn *conn)
{
    cmx_up_origin *o = conn->origin;
    const cmx_upstream_settings *s = &o->up->settings;
    conn->call = NULL;
    if (o->n_idle >= s->max_idle_per_origin && !o->wait_head) {
        cmx_up_conn_close(conn);
        return;
    }
    cmx_up_io_set_idle(conn, s->idle_expiry_ms);
    conn->prev = NULL;
    conn->next = o->idle_head;
    if (o->idle_head)
        o->idle_head->prev = conn;
    o->idle_head = conn;
    o->n_idle++;
    cmx_up_stat_add(o->up, CMX_UP_STAT_IDLE_NOW, 1);
    cmx_up_origin_wake(o);
}

static void conn_free(cmx_up_conn *conn)
{
    cmx_up_io_release(conn);
    if (conn->bev)
        bufferevent_free(conn->bev);
    free(conn);
}

void cmx_up_conn_close(cmx_up_conn *conn)
{
    cmx_up_origin *o = conn->origin;
    if (!conn->call && (conn->prev || o->idle_head == conn))
        idle_unlink(conn);
    conn_free(conn);
    o->n_conns--;
    cmx_up_origin_wake(o);
}

void cmx_up_origin_enqueue(cmx_up_origin *o, cmx_upstream_call *call, int at_front)
{
    call->state = CMX_UP_QUEUED;
    call->in_queue = 1;
    cmx_up_stat_add(o->up, CMX_UP_STAT_QUEUE_LENGTH, 1);
    o->n_waiting++;
    call->prev = call->next = NULL;
    if (!o->wait_head) {
        o->wait_head = o->wait_tail = call;
    } else if (at_front) {
        call->next = o->wait_head;
        o->wait_head->prev = call;
        o->wait_head = call;
    } else {
        call->prev = o->wait_tail;
        o->wait_tail->next = call;
        o->wait_tail = call;
    }
}

void cmx_up_origin_dequeue(cmx_up_origin *o, cmx_upstream_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        o->wait_head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        o->wait_tail = call->prev;
    call->next = call->prev = NULL;
    call->in_queue = 0;
    cmx_up_stat_add(o->up, CMX_UP_STAT_QUEUE_LENGTH, -1);
    o->n_waiting--;
}

/* Hands a freed slot or idle connection to the first waiter, next loop turn:
 * never a callback from inside the code that freed it. */
void cmx_up_origin_wake(cmx_up_origin *o)
{
    cmx_upstream_call *call = o->wait_head;
    if (!call)
        return;
    if (o->n_idle == 0 && o->n_conns >= o->up->settings.max_conns_per_origin)
        return;
    cmx_up_origin_dequeue(o, call);
    event_active(&call->start_ev, 0, 0);
}

void cmx_up_origin_wake_all(cmx_up_origin *o)
{
    while (o->wait_head) {
        cmx_upstream_call *call = o->wait_head;
        cmx_up_origin_dequeue(o, call);
        event_active(&call->start_ev, 0, 0);
    }
}

void cmx_up_origins_free(cmx_upstream *up)
{
    while (up->origins) {
        cmx_up_origin *o = up->origins;
        up->origins = o->next;
        while (o->idle_head) {
            cmx_up_conn *conn = o->idle_head;
            idle_unlink(conn);
            conn_free(conn);
        }
        cmx_up_h2_free_all(o);
        free(o->ca_file);
        free(o);
    }
}
