/* server_write.c — responses as bytes: whole responses, chunked streams,
 * 100 Continue and the server's own error answers.
 *
 * A whole response (head and body) is formatted straight into space reserved
 * in the connection's output buffer, so it costs one copy of the body and one
 * buffer operation, and leaves in one write.  Each stream write is one chunk,
 * framed the same way.  Heads are assembled with memcpy, not printf: this
 * runs once per request.
 *
 * Stream chunks are written once the current callback has returned, so the
 * chunks produced from one upstream read leave together.
 *
 * Queued bytes are written at once with one writev, without waiting for the
 * event loop: libevent would arm and disarm its write event around every
 * response, two epoll_ctl calls each time.  Only when the socket does not
 * take everything does libevent's write event (and with it the write
 * timeout) take over, until the queue is empty again. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/buf.h"
#include "core/error_json.h"
#include "http/server_internal.h"
#include "core/str.h"

const char *cmx_http_reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: break;
    }
    if (status >= 200 && status < 300)
        return "OK";
    if (status >= 400 && status < 500)
        return "Client Error";
    if (status >= 500 && status < 600)
        return "Server Error";
    return "Unknown";
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), CMX_LIT(lit))

static char *put_dec(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_hex(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

typedef enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_NONE } framing;
typedef enum conn_header { CONN_NONE, CONN_CLOSE, CONN_KEEP_ALIVE } conn_header;

typedef struct head {
    int status;
    const char *reason;
    size_t reason_len;
    const char *content_type;
    size_t content_type_len;
    const char *extra;
    size_t extra_len;
    framing framing;
    uint64_t content_length;
    conn_header connection;
} head;

static void head_init(head *h, int status, const char *content_type, const char *extra, framing fr,
                      uint64_t content_length, conn_header connection)
{
    if (status < 100 || status > 999)
        status = 500;
    h->status = status;
    h->reason = cmx_http_reason_phrase(status);
    h->reason_len = strlen(h->reason);
    h->content_type = content_type;
    h->content_type_len = content_type ? strlen(content_type) : 0;
    h->extra = extra;
    h->extra_len = extra ? strlen(extra) : 0;
    h->framing = fr;
    h->content_length = content_length;
    h->connection = connection;
}

/* An upper bound of the formatted head's size. */
static size_t head_bound(const head *h)
{
    return sizeof("HTTP/1.1 999 \r\n") + h->reason_len + sizeof("Content-Type: \r\n") +
           h->content_type_len + h->extra_len + sizeof("Content-Length: \r\n") + 20 +
           sizeof("Transfer-Encoding: chunked\r\n") + sizeof("Connection: keep-alive\r\n") + 2;
}

static char *put_head(char *p, const head *h)
{
    p = PUT_LIT(p, "HTTP/1.1 ");
    *p++ = (char)('0' + h->status / 100);
    *p++ = (char)('0' + h->status / 10 % 10);
    *p++ = (char)('0' + h->status % 10);
    *p++ = ' ';
    p = put(p, h->reason, h->reason_len);
    p = PUT_LIT(p, "\r\n");
    if (h->content_type) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put(p, h->content_type, h->content_type_len);
        p = PUT_LIT(p, "\r\n");
    }
    if (h->extra_len)
        p = put(p, h->extra, h->extra_len);
    if (h->framing == FRAME_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_dec(p, h->content_length);
        p = PUT_LIT(p, "\r\n");
    } else if (h->framing == FRAME_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (h->connection == CONN_CLOSE)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (h->connection == CONN_KEEP_ALIVE)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    return PUT_LIT(p, "\r\n");
}

/* Head and optional body in one reserved stretch of the output buffer. */
/* Queues head and body; writes them now, or (a stream's head) with the
 * stream's first chunks. */
static void emit(cmx_http_conn *c, const head *h, const char *body, size_t body_len, int now)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t need = head_bound(h) + body_len;
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &vec, 1) < 1)
        return; /* out of memory: the client sees a timeout or a close */
    char *start = vec.iov_base;
    char *p = put_head(start, h);
    if (body_len)
        p = put(p, body, body_len);
    vec.iov_len = (size_t)(p - start);
    evbuffer_commit_space(out, &vec, 1);
    if (now)
        cmx_http_flush(c);
    else
        cmx_http_flush_soon(c);
}

void cmx_http_flush(cmx_http_conn *c)
{
    if (c->write_waiting)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    /* On an error other than EAGAIN the bytes stay queued; libevent's own
     * attempt then fails and reports it through the event callback, so the
     * connection is not torn down inside the caller's respond/write call. */
    /* A socket bufferevent keeps its output's front frozen so only it
     * drains it; its own write callback thaws it the same way. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(c->bev));
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0) {
        c->write_waiting = 1;
        bufferevent_enable(c->bev, EV_WRITE);
    }
}

/* HTTP/1.0 clients keep the connection only if told so explicitly. */
static conn_header connection_header(cmx_http_conn *c, int closing)
{
    if (closing)
        return CONN_CLOSE;
    if (c->rq->parser.http_major == 1 && c->rq->parser.http_minor == 0)
        return CONN_KEEP_ALIVE;
    return CONN_NONE;
}

void cmx_http_write_response(cmx_http_conn *c, int status, const char *content_type,
                             const char *extra_headers, const char *body, size_t body_len,
                             int closing)
{
    head h;
    /* 1xx, 204 and 304 answers have no body and no length (RFC 7230 3.3). */
    int bodiless = status < 200 || status == 204 || status == 304;
    head_init(&h, status, content_type, extra_headers, bodiless ? FRAME_NONE : FRAME_LENGTH,
              body_len, connection_header(c, closing));
    int send_body = !bodiless && !c->rq->ex.is_head;
    emit(c, &h, body, send_body ? body_len : 0, 1);
}

void cmx_http_write_continue(cmx_http_conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    evbuffer_add(bufferevent_get_output(c->bev), line, sizeof line - 1);
    cmx_http_flush(c);
}

void cmx_http_send_error(cmx_http_conn *c, int status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the message is at most 255 bytes, escaped at most 6 times that */
    char mem[sizeof msg * 6 + 256];
    cmx_buf b;
    cmx_buf_init_fixed(&b, mem, sizeof mem);
    if (c->srv->error_writer) {
        const cmx_slice *url = &c->rq->url;
        cmx_slice path = {url->ptr ? url->ptr : "", url->ptr ? url->len : 0};
        const char *q = path.len ? memchr(path.ptr, '?', path.len) : NULL;
        if (q)
            path.len = (size_t)(q - path.ptr);
        c->srv->error_writer(&b, path, status, code, msg);
    } else {
        cmx_error_json(&b, &(cmx_error_body){
                               .kind = status >= 500 ? CMX_ERR_UNAVAILABLE : CMX_ERR_BAD_REQUEST,
                               .type = status >= 500 ? "server_error" : "invalid_request_error",
                               .message = msg,
                               .code = code,
                           });
    }
    c->rq->ex.is_head = 0;
    if (!cmx_buf_failed(&b))
        cmx_http_write_response(c, status, "application/json", NULL, b.data, b.len, 1);
    cmx_http_conn_begin_close(c);
}

/* ---- the public response API --------------------------------------------- */

void cmx_http_respond(cmx_http_exchange *ex, int status, const char *content_type,
                      const char *extra_headers, const char *body, size_t body_len)
{
    if (!ex || ex->state != EX_ACTIVE)
        return;
    if (ex->sink) {
        cmx_http_detached_respond(ex, status, content_type, extra_headers, body, body_len);
        return;
    }
    cmx_http_conn *c = ex->conn;
    int closing = !ex->req.keep_alive || c->srv->stopping;
    cmx_http_write_response(c, status, content_type, extra_headers, body, body_len, closing);
    cmx_http_conn_finish(c, 0);
}

void cmx_http_stream_begin(cmx_http_exchange *ex, int status, const char *content_type,
                           const char *extra_headers)
{
    if (!ex || ex->state != EX_ACTIVE)
        return;
    if (ex->sink) {
        cmx_http_detached_stream_begin(ex, status, content_type, extra_headers);
        return;
    }
    cmx_http_conn *c = ex->conn;
    head h;
    if (ex->raw_stream) {
        /* HTTP/1.0 has no chunked encoding: the body ends where the
         * connection does. */
        head_init(&h, status, content_type, extra_headers, FRAME_NONE, 0, CONN_CLOSE);
    } else {
        int closing = !ex->req.keep_alive || c->srv->stopping;
        head_init(&h, status, content_type, extra_headers, FRAME_CHUNKED, 0,
                  connection_header(c, closing));
    }
    emit(c, &h, NULL, 0, 0);
    ex->state = EX_STREAMING;
    cmx_http_conn_shrink_rbuf(c);
}

void cmx_http_stream_write(cmx_http_exchange *ex, const char *data, size_t len)
{
    if (!ex || ex->state != EX_STREAMING || len == 0 || ex->is_head)
        return;
    if (ex->sink) {
        cmx_http_detached_stream_write(ex, data, len);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(ex->conn->bev);
    if (ex->raw_stream) {
        if (evbuffer_add(out, data, len) != 0) {
            cmx_http_stream_abort(ex);
            return;
        }
        cmx_http_flush_soon(ex->conn);
        return;
    }
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)(len + 16 + 4), &vec, 1) < 1) {
        /* out of memory: a stream missing a chunk must not end like a whole one */
        cmx_http_stream_abort(ex);
        return;
    }
    char *start = vec.iov_base;
    char *p = put_hex(start, len);
    p = PUT_LIT(p, "\r\n");
    p = put(p, data, len);
    p = PUT_LIT(p, "\r\n");
    vec.iov_len = (size_t)(p - start);
    evbuffer_commit_space(out, &vec, 1);
    cmx_http_flush_soon(ex->conn);
}

size_t cmx_http_stream_pending(cmx_http_exchange *ex)
{
    if (!ex || ex->state != EX_STREAMING)
        return 0;
    if (ex->sink)
        return cmx_http_detached_stream_pending(ex);
    return evbuffer_get_length(bufferevent_get_output(ex->conn->bev));
}

void cmx_http_stream_end(cmx_http_exchange *ex)
{
    if (!ex || ex->state != EX_STREAMING)
        return;
    if (ex->sink) {
        cmx_http_detached_stream_end(ex, 1);
        return;
    }
    if (!ex->raw_stream && !ex->is_head) {
        evbuffer_add(bufferevent_get_output(ex->conn->bev), CMX_LIT("0\r\n\r\n"));
        cmx_http_flush(ex->conn);
    }
    cmx_http_conn_finish(ex->conn, ex->raw_stream);
}

void cmx_http_stream_abort(cmx_http_exchange *ex)
{
    if (!ex || (ex->state != EX_STREAMING && ex->state != EX_ACTIVE))
        return;
    if (ex->sink) {
        cmx_http_detached_stream_end(ex, 0);
        return;
    }
    cmx_http_conn_finish(ex->conn, 1);
}
