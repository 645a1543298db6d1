/* server_rq.c — request states: made, kept on the server's free list while
 * no connection needs them, and memory handed back to the system after a
 * crowd of connections has gone.
 *
 * A request state (cmx_http_rq) holds everything a connection needs while a
 * request is on it: the read buffer, the header array, the arena, the parser
 * and the writing bufferevent — some 13 KB.  A connection takes one when the
 * first byte of a request arrives and gives it back when it falls idle with
 * nothing buffered either way, so ten thousand idle keep-alive connections
 * cost ten thousand small records, not ten thousand request states.  The
 * free list keeps a few states, enough for a busy keep-alive load to take
 * and give back without calling malloc; more than that are freed, and a
 * buffer that grew for a large head is shrunk back first.
 *
 * Freed memory stays in the allocator's heap unless it is handed back: when
 * the open connections fall to half of the most seen since the last trim,
 * malloc_trim runs once from a timer, a second later, so a burst of closes
 * costs one trim, not one per close. */
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
#define ARENA_FIRST_BLOCK 8192
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
}

void cmx_http_note_conns(cmx_http_server *srv)
{
    if (srv->n_conns > srv->conns_high) {
        srv->conns_high = srv->n_conns;
        return;
    }
    if (srv->conns_high >= TRIM_MIN_CONNS && srv->n_conns * 2 < srv->conns_high &&
        srv->trim_timer && !evtimer_pending(srv->trim_timer, NULL)) {
        struct timeval tv = {TRIM_DELAY_MS / 1000, (TRIM_DELAY_MS % 1000) * 1000};
        evtimer_add(srv->trim_timer, &tv);
    }
}
