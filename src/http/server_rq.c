/* server_rq.c — request states: made, kept on the server's free list while
 * no connection needs them, and memory handed back to the system after a
 * crowd of connections has gone.
 *
 * A request state (cmx_http_rq) holds everything a connection needs while a
 * request is on it: the read buffer, the header array, the arena, the parser
 * and the writing bufferevent — some 13 KB.  A connection takes one when the
 * first byte of a request arrives.  When it falls idle with nothing buffered
 * either way, the state is parked, and goes back after CMX_HTTP_PARK_MS
 * without a request: a busy keep-alive client (the next request a few
 * microseconds after the answer) keeps its state, and takes nothing and
 * gives nothing back per request, while ten thousand idle keep-alive
 * connections cost ten thousand small records, not ten thousand states.  The
 * free list keeps a few states, enough for a busy keep-alive load to take
 * and give back without calling malloc; more than that are freed, and a
 * buffer that grew for a large head is shrunk back first.
 *
 * Freed memory stays in the allocator's heap unless it is handed back: when
 * the open connections fall to half of the most seen since the last trim,
 * or many parked states went back at once, malloc_trim runs once from a
 * timer, a second later, so a burst of closes costs one trim, not one per
 * close. */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "http/server_internal.h"

/* First size of the read buffer; it grows (doubling) only for large heads. */
#define RBUF_INITIAL 4096
#define HDRS_INITIAL 16
#define ARENA_FIRST_BLOCK 4096
/* Request states kept for reuse per server (worker).  None under the
 * sanitizers, so that touching a request after its response was finished
 * is caught as a use after free. */
#if defined(__SANITIZE_ADDRESS__)
static const size_t free_rqs_max = 0;
#else
static const size_t free_rqs_max = 64;
#endif
/* Trimming is worth it only after this many connections were open. */
#define TRIM_MIN_CONNS 256
#define TRIM_DELAY_MS 1000

static void rq_free(cmx_http_rq *rq)
{
    if (rq->bev)
        bufferevent_free(rq->bev);
    cmx_arena_free(rq->arena);
    free(rq->rbuf);
    free(rq->hdrs);
    free(rq);
}

static cmx_http_rq *rq_new(cmx_http_server *srv)
{
    cmx_http_rq *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    size_t max_headers = srv->limits.max_headers;
    rq->hdr_cap = max_headers < HDRS_INITIAL ? max_headers : HDRS_INITIAL;
    if (rq->hdr_cap == 0)
        rq->hdr_cap = 1;
    rq->rcap = RBUF_INITIAL;
    rq->rbuf = malloc(rq->rcap);
    rq->hdrs = malloc(rq->hdr_cap * sizeof *rq->hdrs);
    rq->arena = cmx_arena_new(ARENA_FIRST_BLOCK);
    /* No socket yet: the connection that takes the state sets its own.  The
     * socket is closed by its connection, never by the bufferevent. */
    if (rq->rbuf && rq->hdrs && rq->arena)
        rq->bev = bufferevent_socket_new(srv->base, -1, 0);
    if (!rq->bev) {
        rq_free(rq);
        return NULL;
    }
    bufferevent_set_timeouts(rq->bev, NULL, &srv->tv_write);
    bufferevent_disable(rq->bev, EV_READ | EV_WRITE);
    return rq;
}

cmx_http_rq *cmx_http_rq_get(cmx_http_server *srv)
{
    cmx_http_rq *rq = srv->free_rqs;
    if (!rq)
        return rq_new(srv);
    srv->free_rqs = rq->next_free;
    srv->n_free_rqs--;
    rq->next_free = NULL;
    return rq;
}

void cmx_http_rq_put(cmx_http_server *srv, cmx_http_rq *rq)
{
    event_del(&rq->resume);
    event_del(&rq->flush_soon);
    bufferevent_disable(rq->bev, EV_READ | EV_WRITE);
    /* A connection dropped while writing leaves its unsent bytes. */
    struct evbuffer *out = bufferevent_get_output(rq->bev);
    evbuffer_unfreeze(out, 1);
    evbuffer_drain(out, evbuffer_get_length(out));
    if (srv->n_free_rqs >= free_rqs_max) {
        rq_free(rq);
        return;
    }
    if (rq->rcap != RBUF_INITIAL) { /* grown for a large head, or shrunk for a stream */
        char *small = malloc(RBUF_INITIAL);
        if (!small) {
            rq_free(rq);
            return;
        }
        free(rq->rbuf);
        rq->rbuf = small;
        rq->rcap = RBUF_INITIAL;
    }
    cmx_arena_reset(rq->arena);
    rq->rlen = rq->rpos = rq->keep = 0;
    rq->next_free = srv->free_rqs;
    srv->free_rqs = rq;
    srv->n_free_rqs++;
}

void cmx_http_rqs_free(cmx_http_server *srv)
{
    while (srv->free_rqs) {
        cmx_http_rq *rq = srv->free_rqs;
        srv->free_rqs = rq->next_free;
        rq_free(rq);
    }
    srv->n_free_rqs = 0;
}

void cmx_http_trim_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_server *srv = arg;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    srv->conns_high = srv->n_conns;
    srv->released_since_trim = 0;
}

static void schedule_trim(cmx_http_server *srv)
{
    if (srv->trim_timer && !evtimer_pending(srv->trim_timer, NULL)) {
        struct timeval tv = {TRIM_DELAY_MS / 1000, (TRIM_DELAY_MS % 1000) * 1000};
        evtimer_add(srv->trim_timer, &tv);
    }
}

/* ---- parking: states of connections that just fell idle ------------------ */

static void arm_park_timer(cmx_http_server *srv, uint64_t now_us)
{
    uint64_t due = srv->parked_head->parked_us + CMX_HTTP_PARK_MS * 1000ull;
    /* At most ten passes a second, however the idle times are spread. */
    uint64_t wait = due > now_us + 100000 ? due - now_us : 100000;
    struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
    evtimer_add(srv->park_timer, &tv);
    srv->park_armed = 1;
}

/* The loop's cached time: no clock read per request (a second's precision
 * is all parking needs). */
static uint64_t loop_now_us(cmx_http_server *srv)
{
    struct timeval tv;
    event_base_gettimeofday_cached(srv->base, &tv);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

void cmx_http_rq_park(cmx_http_conn *c)
{
    cmx_http_server *srv = c->srv;
    c->parked = 1;
    c->parked_us = loop_now_us(srv);
    c->park_next = NULL;
    c->park_prev = srv->parked_tail;
    if (srv->parked_tail)
        srv->parked_tail->park_next = c;
    else
        srv->parked_head = c;
    srv->parked_tail = c;
    /* Armed while anything is parked; a timer left from a list that emptied
     * meanwhile fires for nothing, so a busy keep-alive client costs no
     * timer operation per request. */
    if (!srv->park_armed)
        arm_park_timer(srv, c->parked_us);
}

void cmx_http_rq_unpark(cmx_http_conn *c)
{
    cmx_http_server *srv = c->srv;
    if (c->park_prev)
        c->park_prev->park_next = c->park_next;
    else
        srv->parked_head = c->park_next;
    if (c->park_next)
        c->park_next->park_prev = c->park_prev;
    else
        srv->parked_tail = c->park_prev;
    c->park_prev = c->park_next = NULL;
    c->parked = 0;
}

/* States parked long enough go back (a connection that became busy again
 * in the meantime is only unlisted). */
void cmx_http_park_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_server *srv = arg;
    uint64_t now = loop_now_us(srv);
    size_t released = 0;
    srv->park_armed = 0;
    while (srv->parked_head && srv->parked_head->parked_us + CMX_HTTP_PARK_MS * 1000ull <= now) {
        cmx_http_conn *c = srv->parked_head;
        cmx_http_rq_unpark(c);
        released += (size_t)cmx_http_conn_release_rq(c);
    }
    if (srv->parked_head)
        arm_park_timer(srv, now);
    /* Many states freed (a crowd of clients fell idle): their memory goes
     * back to the system too. */
    srv->released_since_trim += released;
    if (srv->released_since_trim >= TRIM_MIN_CONNS)
        schedule_trim(srv);
}

void cmx_http_note_conns(cmx_http_server *srv)
{
    if (srv->n_conns > srv->conns_high) {
        srv->conns_high = srv->n_conns;
        return;
    }
    if (srv->conns_high >= TRIM_MIN_CONNS && srv->n_conns * 2 < srv->conns_high)
        schedule_trim(srv);
}
