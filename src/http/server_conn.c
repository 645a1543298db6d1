/* server_conn.c — one client connection: reading, request framing, limits,
 * timers and closing.
 *
 * Bytes are received straight into one contiguous read buffer per
 * connection and http-parser runs over that buffer, so every header name and
 * value is a slice of it: no allocation per header, and a header split across
 * reads is still contiguous (its pieces are adjacent).  The head stays put
 * until its response is finished; body bytes are copied to the request arena
 * and their room in the read buffer is reused.  A Content-Length body that
 * arrives after its head skips the read buffer: it is received straight into
 * its place in the arena and parsed there.
 *
 * The bufferevent only writes.  Reading is our own persistent read event and
 * one recv() per readiness, as libevent would do, but without what a
 * bufferevent adds to every read: an ioctl(FIONREAD) for the readable byte
 * count and a copy out of its input evbuffer.  The event is level-triggered,
 * so whatever one recv leaves in the socket is read on the next loop turn.
 * End of input and socket errors are met by the recv itself.
 *
 * One request at a time: when a request is complete the parser pauses and
 * the handler runs.  Bytes of pipelined requests that arrive meanwhile are
 * read into the free room behind the head (reading goes on so a client that
 * goes away is noticed); the buffer does not grow while the handler holds
 * slices of it, and reading stops when that room is full, so the socket's
 * own buffers push back on the client.  When the response is finished the
 * unparsed rest moves to the front of the read buffer, parsing goes on and
 * reading resumes.  Once the connection is closing, input is discarded.
 *
 * User code (handler, on_close) may finish or close the connection from
 * inside our own callbacks, so the connection is freed only when none of our
 * frames is on the stack (`depth`). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/server_internal.h"

/* Room beyond max_header_bytes, so a maximal head still leaves space to read
 * body bytes behind it. */
#define RBUF_SLACK 4096
/* Grow before reading into less than this. */
#define RBUF_MIN_ROOM 1024
/* Room left behind a streaming request's head: enough to notice the client
 * going away (nothing grows while the stream is in flight; bytes a client
 * pipelines meanwhile wait in the socket once it is full). */
#define RBUF_STREAM_ROOM 256
#define CHUNKED_BODY_INITIAL 1024

static const char empty_body[1] = "";

/* ---- parser callbacks ---------------------------------------------------- */

static int reject(cmx_http_conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(cmx_http_conn *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->rq->error_msg, sizeof c->rq->error_msg, fmt, ap);
    va_end(ap);
    c->rq->error_status = status;
    c->rq->error_code = code;
    return -1; /* stops http_parser_execute */
}

static void note_head_end(cmx_http_conn *c, const char *at, size_t len)
{
    c->rq->keep = (size_t)(at + len - c->rq->rbuf);
}

/* The pieces of one token are adjacent in the read buffer; a gap means
 * obsolete line folding, which RFC 7230 lets us refuse. */
static int extend(cmx_http_conn *c, cmx_slice *s, const char *at, size_t len)
{
    if (at != s->ptr + s->len)
        return reject(c, 400, "bad_request", "obsolete header line folding is not supported");
    s->len += len;
    note_head_end(c, at, len);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    cmx_http_conn *c = p->data;
    if (!c->rq->url.ptr) {
        c->rq->url.ptr = at;
        c->rq->url.len = len;
        note_head_end(c, at, len);
        return 0;
    }
    return extend(c, &c->rq->url, at, len);
}

static int grow_headers(cmx_http_conn *c)
{
    size_t cap = c->rq->hdr_cap * 2;
    if (cap > c->srv->limits.max_headers)
        cap = c->srv->limits.max_headers;
    cmx_http_header *h = realloc(c->rq->hdrs, cap * sizeof *h);
    if (!h)
        return -1;
    c->rq->hdrs = h;
    c->rq->hdr_cap = cap;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    cmx_http_conn *c = p->data;
    if (c->phase == PH_BODY) /* trailers of a chunked body: ignored */
        return 0;
    if (c->rq->hdr_state == HDR_IN_FIELD)
        return extend(c, &c->rq->hdrs[c->rq->n_hdrs - 1].name, at, len);
    size_t max = c->srv->limits.max_headers;
    if (c->rq->n_hdrs >= max)
        return reject(c, 431, "request_header_fields_too_large",
                      "request has more than %zu header fields", max);
    if (c->rq->n_hdrs == c->rq->hdr_cap && grow_headers(c) != 0)
        return reject(c, 503, "server_overloaded", "out of memory");
    cmx_http_header *h = &c->rq->hdrs[c->rq->n_hdrs++];
    h->name.ptr = at;
    h->name.len = len;
    h->value.ptr = NULL;
    h->value.len = 0;
    c->rq->hdr_state = HDR_IN_FIELD;
    note_head_end(c, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    cmx_http_conn *c = p->data;
    if (c->phase == PH_BODY)
        return 0;
    cmx_http_header *h = &c->rq->hdrs[c->rq->n_hdrs - 1];
    if (c->rq->hdr_state == HDR_IN_VALUE)
        return extend(c, &h->value, at, len);
    h->value.ptr = at;
    h->value.len = len;
    c->rq->hdr_state = HDR_IN_VALUE;
    note_head_end(c, at, len);
    return 0;
}

/* RFC 7230 tchar.  http-parser, built lenient, lets spaces into header
 * names; "Content-Length : 5" must not mean one thing here and another to
 * the next hop, so names are checked here. */
static int is_token(cmx_slice s)
{
    static const char tchar[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
        ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
        ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
        ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,  ['f'] = 1, ['g'] = 1,
        ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1,  ['n'] = 1, ['o'] = 1,
        ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,  ['v'] = 1, ['w'] = 1,
        ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,  ['D'] = 1, ['E'] = 1,
        ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,  ['L'] = 1, ['M'] = 1,
        ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,  ['T'] = 1, ['U'] = 1,
        ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    };
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!tchar[(unsigned char)s.ptr[i]])
            return 0;
    return 1;
}

/* Framing checks are ours, not only the parser's: a request whose length two
 * hops could read differently is how requests get smuggled. */
static int on_headers_complete(http_parser *p)
{
    cmx_http_conn *c = p->data;
    const cmx_http_limits *lim = &c->srv->limits;
    if (c->rq->keep > lim->max_header_bytes)
        return reject(c, 431, "request_header_fields_too_large",
                      "request head is larger than %zu bytes", lim->max_header_bytes);
    const cmx_slice *te = NULL, *expect = NULL;
    size_t n_cl = 0, n_te = 0;
    for (size_t i = 0; i < c->rq->n_hdrs; i++) {
        cmx_http_header *h = &c->rq->hdrs[i];
        if (!is_token(h->name))
            return reject(c, 400, "bad_request", "invalid header field name");
        if (!h->value.ptr)
            h->value = cmx_slice_of("");
        switch (h->name.len) {
        case 6:
            if (cmx_slice_case_eq(h->name, "expect"))
                expect = &h->value;
            break;
        case 14:
            if (cmx_slice_case_eq(h->name, "content-length"))
                n_cl++;
            break;
        case 17:
            if (cmx_slice_case_eq(h->name, "transfer-encoding")) {
                n_te++;
                te = &h->value;
            }
            break;
        }
    }
    if (n_te && n_cl)
        return reject(c, 400, "invalid_request_framing",
                      "request has both Content-Length and Transfer-Encoding");
    if (n_te > 1 || (te && !cmx_slice_case_eq(*te, "chunked")))
        return reject(c, 400, "unsupported_transfer_encoding",
                      "only Transfer-Encoding: chunked is supported");
    if (n_cl > 1)
        return reject(c, 400, "invalid_request_framing",
                      "request has more than one Content-Length");
    if (expect && !cmx_slice_case_eq(*expect, "100-continue"))
        return reject(c, 417, "expectation_failed", "only Expect: 100-continue is supported");

    int has_body = 0;
    if (p->flags & F_CHUNKED) {
        c->rq->body_chunked = 1;
        has_body = 1;
    } else if (n_cl) {
        uint64_t len = p->content_length;
        if (len > lim->max_body_bytes)
            return reject(c, 413, "request_too_large",
                          "request body is %llu bytes; the limit is %zu bytes",
                          (unsigned long long)len, lim->max_body_bytes);
        if (len > 0) {
            c->rq->body = cmx_arena_alloc(c->rq->arena, (size_t)len + 1);
            if (!c->rq->body)
                return reject(c, 503, "server_overloaded", "out of memory");
            c->rq->body_cap = (size_t)len;
            has_body = 1;
        }
    }
    if (has_body) {
        /* The client waits for our go-ahead before sending the body. */
        if (expect && (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1)))
            cmx_http_write_continue(c);
        c->phase = PH_BODY;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    cmx_http_conn *c = p->data;
    if (c->rq->body && at == c->rq->body + c->rq->body_len) { /* parsed in place (fed directly) */
        c->rq->body_len += len;
        return 0;
    }
    if (len > c->rq->body_cap - c->rq->body_len) {
        size_t max = c->srv->limits.max_body_bytes;
        if (!c->rq->body_chunked || len > max - c->rq->body_len)
            return reject(c, 413, "request_too_large",
                          "request body is larger than the limit of %zu bytes", max);
        size_t cap = c->rq->body_cap ? c->rq->body_cap * 2 : CHUNKED_BODY_INITIAL;
        if (cap < c->rq->body_len + len)
            cap = c->rq->body_len + len;
        if (cap > max)
            cap = max;
        char *body = cmx_arena_alloc(c->rq->arena, cap + 1);
        if (!body)
            return reject(c, 503, "server_overloaded", "out of memory");
        if (c->rq->body_len)
            memcpy(body, c->rq->body, c->rq->body_len);
        c->rq->body = body;
        c->rq->body_cap = cap;
    }
    memcpy(c->rq->body + c->rq->body_len, at, len);
    c->rq->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    cmx_http_conn *c = p->data;
    if (c->rq->body)
        c->rq->body[c->rq->body_len] = '\0';
    /* Stop right after this request: the next one waits for our response. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connection lifecycle ------------------------------------------------ */

static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void resume_cb(evutil_socket_t fd, short what, void *arg);
static void flush_soon_cb(evutil_socket_t fd, short what, void *arg);

/* The first byte of a request is coming: the connection takes a request
 * state (server_rq.c) and points its pieces at itself. */
static int rq_take(cmx_http_conn *c)
{
    cmx_http_rq *rq = cmx_http_rq_get(c->srv);
    if (!rq)
        return -1;
    struct event_base *base = c->srv->base;
    bufferevent_setfd(rq->bev, c->fd);
    bufferevent_setcb(rq->bev, NULL, write_cb, event_cb, c);
    event_assign(&rq->resume, base, -1, 0, resume_cb, c);
    event_assign(&rq->flush_soon, base, -1, 0, flush_soon_cb, c);
    http_parser_init(&rq->parser, HTTP_REQUEST);
    rq->parser.data = c;
    rq->n_hdrs = 0;
    rq->hdr_state = HDR_BEFORE_FIELD;
    rq->url.ptr = NULL;
    rq->url.len = 0;
    rq->body_chunked = 0;
    rq->body = NULL;
    rq->body_len = rq->body_cap = 0;
    rq->error_status = 0;
    rq->ex.conn = c;
    rq->ex.state = EX_NONE;
    rq->ex.on_close = NULL;
    c->rq = rq;
    c->bev = rq->bev;
    c->srv->n_busy++;
    return 0;
}

/* Idle between requests with nothing buffered either way. */
static int idle_with_state(const cmx_http_conn *c)
{
    const cmx_http_rq *rq = c->rq;
    return rq && !c->dead && c->phase == PH_IDLE && rq->rlen == 0 && !c->write_waiting &&
           evbuffer_get_length(bufferevent_get_output(rq->bev)) == 0;
}

int cmx_http_conn_release_rq(cmx_http_conn *c)
{
    if (!idle_with_state(c))
        return 0;
    cmx_http_rq *rq = c->rq;
    c->rq = NULL;
    c->bev = NULL;
    c->srv->n_busy--;
    cmx_http_rq_put(c->srv, rq);
    return 1;
}

/* The connection fell idle: its request state is parked, and goes back
 * if no request comes within a moment (server_rq.c).  A busy keep-alive
 * client keeps its state from one request to the next.  Only where no
 * frame of ours or the handler's still holds the state. */
static void rq_release_if_idle(cmx_http_conn *c)
{
    if (idle_with_state(c) && !c->parked)
        cmx_http_rq_park(c);
}

int cmx_http_conn_is_idle(const cmx_http_conn *c)
{
    return c->phase == PH_IDLE && (!c->rq || c->rq->rlen == 0);
}

static void conn_free(cmx_http_conn *c)
{
    event_del(&c->rev); /* off the poll set before the socket closes */
    event_del(&c->timer);
    if (c->parked)
        cmx_http_rq_unpark(c);
    if (c->rq) {
        cmx_http_rq_put(c->srv, c->rq);
        c->rq = NULL;
        c->bev = NULL;
        c->srv->n_busy--;
    }
    evutil_closesocket(c->fd);
    cmx_slab_free(&c->srv->conn_slab, c);
}

/* Leaves one of our frames; the connection goes when the last one does. */
static void leave(cmx_http_conn *c)
{
    if (--c->depth == 0 && c->dead)
        conn_free(c);
}

void cmx_http_conn_drop(cmx_http_conn *c)
{
    if (c->dead)
        return;
    if (c->rq && (c->rq->ex.state == EX_ACTIVE || c->rq->ex.state == EX_STREAMING)) {
        cmx_http_close_cb cb = c->rq->ex.on_close;
        c->rq->ex.state = EX_CLOSING; /* the writers ignore calls from on_close */
        c->depth++;
        if (cb)
            cb(&c->rq->ex, c->rq->ex.on_close_arg);
        c->depth--;
        c->rq->ex.state = EX_NONE;
    }
    cmx_http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    cmx_http_note_conns(srv);
    c->dead = 1;
    if (c->depth == 0)
        conn_free(c);
}

/* Reading is switched off only while the read buffer is full (or after
 * end of input), so these run rarely: each is an epoll_ctl. */
static void read_stop(cmx_http_conn *c)
{
    if (c->reading) {
        event_del(&c->rev);
        c->reading = 0;
    }
}

static void read_resume(cmx_http_conn *c)
{
    if (!c->reading && !c->eof) {
        event_add(&c->rev, NULL);
        c->reading = 1;
    }
}

static void start_linger(cmx_http_conn *c)
{
    if (c->eof) { /* the client has closed its side: nothing to wait for */
        cmx_http_conn_drop(c);
        return;
    }
    c->phase = PH_LINGER;
    shutdown(c->fd, SHUT_WR);
    c->rq->rpos = c->rq->rlen = 0; /* unparsed input will never be parsed now */
    read_resume(c);
    event_add(&c->timer, c->srv->tv_linger);
    c->timer_kind = T_LINGER;
}

void cmx_http_conn_begin_close(cmx_http_conn *c)
{
    c->phase = PH_CLOSING;
    c->timer_kind = T_NONE; /* the write timeout bounds this phase */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        start_linger(c);
}

/* Arms the timer for the phase the connection is in, unless it already
 * stands for that phase (a head's deadline counts from its first byte, not
 * from the latest read). */
static void update_timer(cmx_http_conn *c)
{
    const cmx_http_server *srv = c->srv;
    timer_kind want;
    const struct timeval *tv;
    switch (c->phase) {
    case PH_IDLE:
        want = T_IDLE;
        tv = srv->tv_keepalive;
        break;
    case PH_HEAD:
        want = T_HEAD;
        tv = srv->tv_header;
        break;
    case PH_BODY:
        want = T_BODY;
        tv = srv->tv_body;
        break;
    default: return;
    }
    if (c->timer_kind != want) {
        event_add(&c->timer, tv);
        c->timer_kind = want;
    }
}

/* Moves the buffer to one of `cap` bytes, keeping the slices recorded so
 * far (and those handed to the handler) pointing into it. */
static int move_rbuf(cmx_http_conn *c, size_t cap)
{
    cmx_http_rq *rq = c->rq;
    char *old = rq->rbuf;
    char *nb = malloc(cap);
    if (!nb)
        return -1;
    memcpy(nb, old, rq->rlen);
#define REBASE(p)                                                                                  \
    do {                                                                                           \
        if ((p) && (p) >= old && (p) <= old + rq->rlen)                                            \
            (p) = nb + ((p)-old);                                                                  \
    } while (0)
    REBASE(rq->url.ptr);
    for (size_t i = 0; i < rq->n_hdrs; i++) {
        REBASE(rq->hdrs[i].name.ptr);
        REBASE(rq->hdrs[i].value.ptr);
    }
    REBASE(rq->ex.req.path.ptr);
    REBASE(rq->ex.req.query.ptr);
#undef REBASE
    free(old);
    rq->rbuf = nb;
    rq->rcap = cap;
    return 0;
}

void cmx_http_conn_shrink_rbuf(cmx_http_conn *c)
{
    size_t want = c->rq->rlen + RBUF_STREAM_ROOM;
    if (want + RBUF_MIN_ROOM <= c->rq->rcap)
        move_rbuf(c, want);
}

/* Returns the free bytes at the end of the read buffer, growing it if that
 * is little and the limits allow. */
static size_t rbuf_room(cmx_http_conn *c)
{
    size_t max = c->srv->limits.max_header_bytes + RBUF_SLACK;
    if (c->rq->rcap - c->rq->rlen < RBUF_MIN_ROOM && c->rq->rcap < max) {
        size_t cap = c->rq->rcap * 2;
        if (cap > max)
            cap = max;
        if (move_rbuf(c, cap) != 0 && c->rq->rcap == c->rq->rlen)
            return 0;
    }
    return c->rq->rcap - c->rq->rlen;
}

/* Gets the connection ready for the next request on it. */
static void reset_request(cmx_http_conn *c)
{
    cmx_arena_reset(c->rq->arena);
    size_t rest = c->rq->rlen - c->rq->rpos;
    if (rest && c->rq->rpos)
        memmove(c->rq->rbuf, c->rq->rbuf + c->rq->rpos, rest);
    c->rq->rlen = rest;
    c->rq->rpos = 0;
    c->rq->keep = 0;
    c->rq->n_hdrs = 0;
    c->rq->hdr_state = HDR_BEFORE_FIELD;
    c->rq->url.ptr = NULL;
    c->rq->url.len = 0;
    c->rq->body_chunked = 0;
    c->rq->body = NULL;
    c->rq->body_len = c->rq->body_cap = 0;
    http_parser_pause(&c->rq->parser, 0);
    c->phase = PH_IDLE;
}

static void dispatch(cmx_http_conn *c)
{
    http_parser *p = &c->rq->parser;
    cmx_http_exchange *ex = &c->rq->ex;
    cmx_http_request *req = &ex->req;
    req->method = cmx_slice_of(http_method_str((enum http_method)p->method));
    const char *q = c->rq->url.ptr ? memchr(c->rq->url.ptr, '?', c->rq->url.len) : NULL;
    if (q) {
        req->path.ptr = c->rq->url.ptr;
        req->path.len = (size_t)(q - c->rq->url.ptr);
        req->query.ptr = q + 1;
        req->query.len = c->rq->url.len - req->path.len - 1;
    } else {
        req->path = c->rq->url.ptr ? c->rq->url : cmx_slice_of("/");
        req->query = cmx_slice_of("");
    }
    req->headers = c->rq->hdrs;
    req->n_headers = c->rq->n_hdrs;
    req->body = c->rq->body ? c->rq->body : empty_body;
    req->body_len = c->rq->body_len;
    req->keep_alive =
        http_should_keep_alive(p) && !p->upgrade && !c->srv->stopping && !c->srv->draining;
    req->arena = c->rq->arena;
    ex->is_head = p->method == HTTP_HEAD;
    ex->raw_stream = p->http_major < 1 || (p->http_major == 1 && p->http_minor == 0);
    ex->on_close = NULL;
    ex->on_close_arg = NULL;
    ex->state = EX_ACTIVE;
    c->phase = PH_IN_FLIGHT;
    c->timer_kind = T_NONE; /* no read deadline while the handler works */
    c->srv->handler(ex, c->srv->handler_ctx);
}

/* Acts on what the parser reported after consuming a batch of bytes. */
static void after_execute(cmx_http_conn *c)
{
    const cmx_http_limits *lim = &c->srv->limits;
    enum http_errno err = HTTP_PARSER_ERRNO(&c->rq->parser);
    if (c->rq->error_status) {
        int status = c->rq->error_status;
        c->rq->error_status = 0;
        cmx_http_send_error(c, status, c->rq->error_code, "%s", c->rq->error_msg);
    } else if (err == HPE_PAUSED) {
        dispatch(c);
    } else if (err == HPE_HEADER_OVERFLOW) {
        cmx_http_send_error(c, 431, "request_header_fields_too_large",
                            "request head is larger than %zu bytes", lim->max_header_bytes);
    } else if (err != HPE_OK) {
        cmx_http_send_error(c, 400, "bad_request", "malformed HTTP request: %s",
                            http_errno_description(err));
    } else if (c->phase == PH_HEAD && c->rq->rpos > lim->max_header_bytes) {
        cmx_http_send_error(c, 431, "request_header_fields_too_large",
                            "request head is larger than %zu bytes", lim->max_header_bytes);
    } else if (c->phase == PH_BODY && c->rq->rpos == c->rq->rlen) {
        /* Body bytes are in the arena now; reuse their room. */
        c->rq->rpos = c->rq->rlen = c->rq->keep;
    }
}

/* Parses what is buffered, handing complete requests to the handler, until
 * a request is in flight, the connection closes or the bytes run out; then
 * gets the timer and reading right for what comes next. */
static void conn_process(cmx_http_conn *c)
{
    while (!c->dead && c->phase <= PH_BODY && c->rq->rpos < c->rq->rlen) {
        /* A client that sends requests but does not read the answers gets
         * no more answers until it does (write_cb resumes). */
        if (c->phase == PH_IDLE && c->write_waiting)
            break;
        if (c->phase == PH_IDLE) {
            c->phase = PH_HEAD;
            c->rq->ex.req.start_us = cmx_now_us();
        }
        size_t n = http_parser_execute(&c->rq->parser, &parser_settings, c->rq->rbuf + c->rq->rpos,
                                       c->rq->rlen - c->rq->rpos);
        c->rq->rpos += n;
        after_execute(c);
    }
    if (c->dead)
        return;
    update_timer(c);
    if (c->phase <= PH_BODY && !(c->phase == PH_IDLE && c->write_waiting))
        read_resume(c);
}

void cmx_http_conn_finish(cmx_http_conn *c, int force_close)
{
    c->rq->ex.state = EX_NONE;
    c->rq->ex.on_close = NULL;
    if (force_close || !c->rq->ex.req.keep_alive || c->srv->stopping) {
        cmx_http_conn_begin_close(c);
        return;
    }
    reset_request(c);
    if (c->depth > 0) /* inside conn_process: its loop carries on */
        return;
    /* Finished from outside (a timer, another connection): parse what is
     * buffered from the event loop, not from inside the caller. */
    if (c->rq->rlen > 0) {
        event_active(&c->rq->resume, EV_READ, 0);
    } else {
        update_timer(c);
        read_resume(c);
        rq_release_if_idle(c);
    }
}

/* ---- libevent callbacks -------------------------------------------------- */

/* What a recv that did not bring bytes means.  End of input or an error is
 * what the bufferevent used to report as BEV_EVENT_EOF or BEV_EVENT_ERROR. */
static void read_failed(cmx_http_conn *c, ssize_t n)
{
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0) {
        c->eof = 1;
        read_stop(c); /* the socket stays readable at end of input */
        /* A client that half-closed after its last request may still read
         * the answer already queued for it. */
        if (c->phase == PH_CLOSING && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            return;
    }
    /* End of input or a socket error: the connection is gone, with its
     * request if one is in flight. */
    cmx_http_conn_drop(c);
}

/* A Content-Length body behind a parsed head: received straight into its
 * place in the arena and parsed there.  Only its own bytes are asked for, so
 * a pipelined request behind it stays in the socket for the read buffer. */
static void read_body_direct(cmx_http_conn *c)
{
    char *dst = c->rq->body + c->rq->body_len;
    ssize_t n = recv(c->fd, dst, (size_t)c->rq->parser.content_length, 0);
    if (n <= 0) {
        read_failed(c, n);
        return;
    }
    http_parser_execute(&c->rq->parser, &parser_settings, dst, (size_t)n);
    after_execute(c);
    if (!c->dead)
        conn_process(c); /* the handler may have answered at once */
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_conn *c = arg;
    if (c->parked)
        cmx_http_rq_unpark(c);
    if (!c->rq && rq_take(c) != 0) {
        cmx_warn("http: out of memory for a request; closing the connection");
        cmx_http_conn_drop(c);
        return;
    }
    c->depth++;
    if (c->phase >= PH_CLOSING) {
        /* Nothing more is parsed: discard, but notice the client closing. */
        ssize_t n = recv(fd, c->rq->rbuf, c->rq->rcap, 0);
        if (n <= 0)
            read_failed(c, n);
    } else if (c->phase == PH_BODY && !c->rq->body_chunked && c->rq->rpos == c->rq->rlen) {
        read_body_direct(c);
    } else {
        /* The buffer may grow (moving the slices) only while nobody else
         * holds slices of it: not while a request is in flight. */
        size_t room = c->phase <= PH_BODY ? rbuf_room(c) : c->rq->rcap - c->rq->rlen;
        ssize_t n = 0;
        if (room == 0 && c->phase <= PH_BODY && c->rq->rpos == c->rq->rlen) {
            cmx_http_send_error(c, 431, "request_header_fields_too_large",
                                "request head is larger than %zu bytes",
                                c->srv->limits.max_header_bytes);
        } else if (room == 0) {
            read_stop(c); /* pipelined bytes fill the buffer: answer first */
        } else if ((n = recv(fd, c->rq->rbuf + c->rq->rlen, room, 0)) > 0) {
            c->rq->rlen += (size_t)n;
            conn_process(c);
        } else {
            read_failed(c, n);
        }
    }
    rq_release_if_idle(c);
    leave(c);
}

static void flush_soon_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_conn *c = arg;
    if (!c->dead)
        cmx_http_flush(c);
}

void cmx_http_flush_soon(cmx_http_conn *c)
{
    if (!c->write_waiting)
        event_active(&c->rq->flush_soon, EV_WRITE, 0);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_conn *c = arg;
    c->depth++;
    if (c->phase <= PH_BODY)
        conn_process(c);
    rq_release_if_idle(c);
    leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    cmx_http_conn *c = arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
        return;
    /* Drained: back to writing directly (see server_write.c). */
    c->write_waiting = 0;
    bufferevent_disable(bev, EV_WRITE);
    c->depth++;
    if (c->phase == PH_CLOSING)
        start_linger(c);
    else if (c->phase == PH_IDLE)
        conn_process(c); /* pipelined requests held back while we were backed up */
    rq_release_if_idle(c);
    leave(c);
}

/* Only the writing side reports here (reading is ours): a socket error met
 * while writing, or the write timeout. */
static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    cmx_http_conn *c = arg;
    c->depth++;
    if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        c->eof = 1;
        /* A client that half-closed after its last request may still read
         * the answer already queued for it. */
        if (c->phase == PH_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
            leave(c);
            return;
        }
    }
    /* EOF, a socket error, or the write timeout (the client stopped
     * reading): the connection is gone, with its request if one is in
     * flight. */
    cmx_http_conn_drop(c);
    leave(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_http_conn *c = arg;
    const cmx_http_limits *lim = &c->srv->limits;
    timer_kind kind = c->timer_kind;
    c->timer_kind = T_NONE;
    c->depth++;
    switch (kind) {
    case T_NONE: break;
    case T_IDLE:
        /* The last answer is still draining to a slow reader: the write
         * timeout, not the idle timeout, decides about this connection. */
        if (c->write_waiting) {
            event_add(&c->timer, c->srv->tv_keepalive);
            c->timer_kind = T_IDLE;
            break;
        }
        cmx_http_conn_drop(c);
        break;
    case T_LINGER: cmx_http_conn_drop(c); break;
    case T_HEAD:
        cmx_http_send_error(c, 408, "request_timeout", "request head not received within %u ms",
                            lim->header_timeout_ms);
        break;
    case T_BODY:
        cmx_http_send_error(c, 408, "request_timeout", "request body not received within %u ms",
                            lim->body_timeout_ms);
        break;
    }
    leave(c);
}

/* A new connection is only its record: the request state comes with its
 * first byte (read_cb). */
cmx_http_conn *cmx_http_conn_new(cmx_http_server *srv, int fd)
{
    cmx_http_conn *c = cmx_slab_alloc(&srv->conn_slab);
    if (!c)
        return NULL;
    c->srv = srv;
    c->fd = fd;
    c->phase = PH_IDLE;
    event_assign(&c->timer, srv->base, -1, 0, timer_cb, c);
    event_assign(&c->rev, srv->base, fd, EV_READ | EV_PERSIST, read_cb, c);
    read_resume(c);
    /* A new connection gets the header timeout to send its first request. */
    event_add(&c->timer, srv->tv_header);
    c->timer_kind = T_IDLE;

    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    cmx_http_note_conns(srv);
    return c;
}

/* ---- the exchange as the handler sees it --------------------------------- */

const cmx_http_request *cmx_http_request_of(cmx_http_exchange *ex)
{
    return &ex->req;
}

const cmx_slice *cmx_http_header_get(const cmx_http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const cmx_http_header *h = &req->headers[i];
        if (h->name.len == n && cmx_slice_case_eq(h->name, name))
            return &h->value;
    }
    return NULL;
}

void cmx_http_on_close(cmx_http_exchange *ex, cmx_http_close_cb cb, void *arg)
{
    ex->on_close = cb;
    ex->on_close_arg = arg;
}
