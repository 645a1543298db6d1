/* upstream_io.c — one request/response exchange on an established
 * connection, and the watch kept over a connection while it idles.
 *
 * The request goes out as one write.  On a plain connection the response is
 * received with our own read event and one recv() per readiness into the
 * client's shared receive buffer, and parsed there to the end before the
 * callback returns; the bufferevent only writes.  Its own reading would ask
 * the kernel for the readable byte count (ioctl FIONREAD) before every read
 * and copy through an evbuffer: a system call and a copy per read for
 * nothing.  A TLS connection is read by its bufferevent_openssl, and the
 * response is fed to http-parser straight from the input chunks
 * (evbuffer_peek, no pullup).  Either way body bytes go to on_body as they
 * are read, so a stream reaches the caller read by read.  Header names and
 * values are copied into one per-call buffer (kept across calls), because a
 * header may straddle two reads; the cmx_http_header array handed to on_head
 * points into it.  Nothing is allocated per header.
 *
 * Timers: first-byte from the moment the request is handed over (restarted
 * when it has been fully written), then idle between response reads.  A
 * connection failure before any response byte on a reused connection is the
 * stale keep-alive race, retried once on a fresh connection by upstream.c;
 * any other failure ends the call.  An idle pooled connection is watched by
 * the same read (or the bufferevent's): any byte, end of input, error or the
 * idle expiry closes it. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "http/upstream_internal.h"

static void io_read_cb(struct bufferevent *bev, void *arg);
static void io_write_cb(struct bufferevent *bev, void *arg);
static void io_event_cb(struct bufferevent *bev, short what, void *arg);
static void plain_read_cb(evutil_socket_t fd, short what, void *arg);

#define CALL_OF(p) ((cmx_upstream_call *)(p)->data)

static int parse_fail(cmx_upstream_call *call, const char *why)
{
    cmx_error_set(&call->err, CMX_ERR_UPSTREAM_PROTOCOL, "malformed response: %s", why);
    call->err.cause = CMX_CAUSE_PROTOCOL;
    call->parse_failed = 1;
    return 1;
}

static int on_message_begin(http_parser *p)
{
    cmx_upstream_call *call = CALL_OF(p);
    call->head_len = 0;
    call->n_headers = 0;
    call->in_value = 0;
    return 0;
}

static int head_append(cmx_upstream_call *call, const char *at, size_t len)
{
    if (call->head_len + len > CMX_UP_MAX_HEAD_BYTES)
        return parse_fail(call, "head larger than 65536 bytes");
    if (call->head_len + len > call->head_cap) {
        size_t cap = call->head_cap ? call->head_cap : 512;
        while (cap < call->head_len + len)
            cap *= 2;
        char *n = realloc(call->head, cap);
        if (!n)
            return parse_fail(call, "out of memory for the head");
        call->head = n;
        call->head_cap = cap;
    }
    memcpy(call->head + call->head_len, at, len);
    call->head_len += len;
    return 0;
}

/* Room for one more header: 0, or 1 (err set) at the limit or out of memory. */
static int header_slot(cmx_upstream_call *call)
{
    if (call->n_headers < call->hdr_cap)
        return 0;
    if (call->n_headers == CMX_UP_MAX_HEADERS)
        return parse_fail(call, "more than 100 headers");
    size_t cap = call->hdr_cap ? call->hdr_cap * 2 : 8;
    if (cap > CMX_UP_MAX_HEADERS)
        cap = CMX_UP_MAX_HEADERS;
    cmx_up_header_off *hoff = realloc(call->hoff, cap * sizeof *hoff);
    if (hoff)
        call->hoff = hoff;
    cmx_http_header *headers = hoff ? realloc(call->headers, cap * sizeof *headers) : NULL;
    if (!headers)
        return parse_fail(call, "out of memory for the head");
    call->headers = headers;
    call->hdr_cap = cap;
    return 0;
}

int cmx_up_head_add(cmx_upstream_call *call, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    if (header_slot(call) != 0)
        return -1;
    cmx_up_header_off *h = &call->hoff[call->n_headers++];
    h->name_off = (uint32_t)call->head_len;
    h->name_len = (uint32_t)name_len;
    if (head_append(call, name, name_len) != 0)
        return -1;
    h->value_off = (uint32_t)call->head_len;
    h->value_len = (uint32_t)value_len;
    return head_append(call, value, value_len) != 0 ? -1 : 0;
}

void cmx_up_head_publish(cmx_upstream_call *call)
{
    for (size_t i = 0; i < call->n_headers; i++) {
        const cmx_up_header_off *h = &call->hoff[i];
        call->headers[i].name.ptr = call->head + h->name_off;
        call->headers[i].name.len = h->name_len;
        call->headers[i].value.ptr = call->head + h->value_off;
        call->headers[i].value.len = h->value_len;
    }
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    cmx_upstream_call *call = CALL_OF(p);
    if (call->in_value || call->n_headers == 0) {
        if (header_slot(call) != 0)
            return 1;
        cmx_up_header_off *h = &call->hoff[call->n_headers++];
        h->name_off = (uint32_t)call->head_len;
        h->name_len = h->value_off = h->value_len = 0;
        call->in_value = 0;
    }
    call->hoff[call->n_headers - 1].name_len += (uint32_t)len;
    return head_append(call, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    cmx_upstream_call *call = CALL_OF(p);
    cmx_up_header_off *h = &call->hoff[call->n_headers - 1];
    if (!call->in_value) {
        call->in_value = 1;
        h->value_off = (uint32_t)call->head_len;
    }
    h->value_len += (uint32_t)len;
    return head_append(call, at, len);
}

static int on_headers_complete(http_parser *p)
{
    cmx_upstream_call *call = CALL_OF(p);
    int status = p->status_code;
    if (status == 101)
        return parse_fail(call, "unexpected 101 Switching Protocols");
    if (status / 100 == 1)
        return 0; /* interim answer: its message completes with no body */
    call->head_done = 1;
    cmx_up_head_publish(call);
    if (call->cb.on_head) {
        call->busy++;
        call->cb.on_head(call->ctx, status, call->headers, call->n_headers);
        call->busy--;
        if (call->cancelled)
            return -1;
    }
    return call->is_head ? 1 : 0; /* 1: a HEAD answer has no body */
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    cmx_upstream_call *call = CALL_OF(p);
    call->body_bytes += len;
    if (call->cb.on_body) {
        call->busy++;
        call->cb.on_body(call->ctx, at, len);
        call->busy--;
        if (call->cancelled)
            return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    cmx_upstream_call *call = CALL_OF(p);
    if (!call->head_done)
        return 0; /* end of a 1xx; the real answer follows */
    call->complete = 1;
    call->keep_alive = p->http_major == 1 && p->http_minor >= 1 && http_should_keep_alive(p);
    http_parser_pause(p, 1); /* whatever follows is not ours */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void cmx_up_io_begin(cmx_upstream_call *call)
{
    cmx_up_conn *conn = call->conn;
    http_parser_init(&call->parser, HTTP_RESPONSE);
    call->parser.data = call;
    call->head_done = 0;
    call->complete = 0;
    call->keep_alive = 0;
    call->body_bytes = 0;
    call->state = CMX_UP_SENDING;
    conn->unread = 0;
    bufferevent_setcb(conn->bev, io_read_cb, io_write_cb, io_event_cb, conn);
    bufferevent_set_timeouts(conn->bev, NULL, NULL);
    /* Plain: the read watch stays for the connection's life (one epoll_ctl
     * when it opens); only its idle expiry goes while it serves a call. */
    short bev_events = EV_READ;
    if (!conn->origin->tls) {
        bev_events = 0;
        if (!conn->own_read) {
            event_assign(&conn->rev, bufferevent_get_base(conn->bev), bufferevent_getfd(conn->bev),
                         EV_READ | EV_PERSIST, plain_read_cb, conn);
            event_add(&conn->rev, NULL);
            conn->own_read = 1;
        } else {
            event_remove_timer(&conn->rev);
        }
    }
    cmx_up_arm_phase(call, call->timeouts.first_byte_ms);
    /* Plain sockets: try the write now.  The common case (the whole request
     * fits the socket buffer) then never arms the write event, which saves
     * two epoll_ctl calls per request.  Any error is left for the
     * bufferevent to meet and report, so failures take one path. */
    size_t sent = 0;
    if (!conn->origin->tls && evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
        ssize_t n = send(bufferevent_getfd(conn->bev), call->req, call->req_len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent = (size_t)n;
    }
    if (sent == call->req_len) {
        call->state = CMX_UP_WAITING;
        if (bev_events)
            bufferevent_enable(conn->bev, bev_events);
        return;
    }
    if (bufferevent_write(conn->bev, call->req + sent, call->req_len - sent) != 0) {
        cmx_up_call_fail(call, CMX_ERR_NOMEM, CMX_CAUSE_NONE, "out of memory writing the request");
        return;
    }
    bufferevent_enable(conn->bev, bev_events | EV_WRITE);
}

static void io_write_cb(struct bufferevent *bev, void *arg)
{
    cmx_up_conn *conn = arg;
    cmx_upstream_call *call = conn->call;
    if (call && call->state == CMX_UP_SENDING) {
        call->state = CMX_UP_WAITING;
        cmx_up_arm_phase(call, call->timeouts.first_byte_ms);
    }
}

/* Finishes after the parser stopped: protocol error, cancel or complete. */
static void after_parse(cmx_upstream_call *call)
{
    if (call->cancelled) {
        cmx_up_call_abandon(call);
        return;
    }
    if (call->parse_failed) {
        cmx_up_call_finish(call);
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&call->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
        cmx_up_call_fail(call, CMX_ERR_UPSTREAM_PROTOCOL, CMX_CAUSE_PROTOCOL,
                         "malformed response after %llu body bytes: %s",
                         (unsigned long long)call->body_bytes, http_errno_description(e));
        return;
    }
    if (call->complete)
        cmx_up_call_finish(call);
}

/* Parses bytes; 1 when the parser stopped (done, failed or cancelled). */
static int parse(cmx_upstream_call *call, const char *at, size_t len, size_t *used)
{
    call->busy++;
    *used = http_parser_execute(&call->parser, &parser_settings, at, len);
    call->busy--;
    return call->cancelled || call->parse_failed || call->complete ||
           HTTP_PARSER_ERRNO(&call->parser) != HPE_OK;
}

static void io_read_cb(struct bufferevent *bev, void *arg)
{
    cmx_up_conn *conn = arg;
    cmx_upstream_call *call = conn->call;
    struct evbuffer *in = bufferevent_get_input(bev);
    cmx_up_note_input(call);
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n;
        int stopped = parse(call, v.iov_base, v.iov_len, &n);
        evbuffer_drain(in, n);
        if (stopped)
            break;
    }
    after_parse(call);
}

/* Why the connection ended, for a message: errno text or the TLS error. */
static void describe_close(cmx_up_conn *conn, short what, int sock_err, char *buf, size_t size)
{
    if (what & BEV_EVENT_EOF) {
        snprintf(buf, size, "connection closed");
        return;
    }
    unsigned long ssl_err = conn->origin->tls ? bufferevent_get_openssl_error(conn->bev) : 0;
    if (ssl_err) {
        char e[200];
        ERR_error_string_n(ssl_err, e, sizeof e);
        snprintf(buf, size, "TLS error: %s", e);
    } else if (sock_err) {
        snprintf(buf, size, "connection reset (%s)", strerror(sock_err));
    } else {
        snprintf(buf, size, "connection reset");
    }
}

/* The connection ended (BEV_EVENT_EOF) or failed (BEV_EVENT_ERROR) during a
 * call, as the bufferevent or our own read met it. */
static void io_closed(cmx_up_conn *conn, short what, int sock_err)
{
    cmx_upstream_call *call = conn->call;
    if (call->state == CMX_UP_READING && (what & BEV_EVENT_EOF)) {
        /* End of a close-delimited body is a complete response. */
        call->busy++;
        http_parser_execute(&call->parser, &parser_settings, NULL, 0);
        call->busy--;
        if (call->cancelled || call->parse_failed || call->complete) {
            call->keep_alive = 0;
            after_parse(call);
            return;
        }
    }
    if (call->state != CMX_UP_READING && call->reused && !call->retried) {
        cmx_up_call_retry_fresh(call);
        return;
    }
    char why[300];
    describe_close(conn, what, sock_err, why, sizeof why);
    if (call->state != CMX_UP_READING)
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET, "%s before any response byte",
                         why);
    else if (!call->head_done)
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET,
                         "%s in the middle of the response head", why);
    else
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET,
                         "%s after %llu body bytes of an incomplete response", why,
                         (unsigned long long)call->body_bytes);
}

static void io_event_cb(struct bufferevent *bev, short what, void *arg)
{
    int sock_err = EVUTIL_SOCKET_ERROR();
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        io_closed(arg, what, sock_err);
}

/* A plain connection's read watch, busy or idle. */
static void plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_up_conn *conn = arg;
    cmx_upstream_call *call = conn->call;
    if (!call) { /* idle: a byte, end of input, an error or the expiry */
        cmx_up_conn_close(conn);
        return;
    }
    char *buf = conn->origin->up->rbuf;
    ssize_t n = recv(fd, buf, CMX_UP_READ_BYTES, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        io_closed(conn, n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR, n == 0 ? 0 : errno);
        return;
    }
    cmx_up_note_input(call);
    size_t used;
    parse(call, buf, (size_t)n, &used);
    conn->unread = used < (size_t)n;
    after_parse(call);
}

/* While idle, any byte or event means the connection is no longer usable. */
static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    cmx_up_conn_close(arg);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    cmx_up_conn_close(arg);
}

void cmx_up_io_set_idle(cmx_up_conn *conn, uint32_t expiry_ms)
{
    struct timeval tv = {expiry_ms / 1000, (expiry_ms % 1000) * 1000};
    bufferevent_setcb(conn->bev, idle_read_cb, NULL, idle_event_cb, conn);
    bufferevent_disable(conn->bev, EV_WRITE);
    if (conn->own_read) {
        event_add(&conn->rev, &tv); /* already added: only the timeout is new */
        return;
    }
    bufferevent_set_timeouts(conn->bev, &tv, NULL);
    bufferevent_enable(conn->bev, EV_READ);
}

void cmx_up_io_release(cmx_up_conn *conn)
{
    if (conn->own_read) {
        event_del(&conn->rev);
        conn->own_read = 0;
    }
}
