/* upstream_h2.c — HTTP/2 connections to providers (nghttp2) and the calls
 * they carry, one stream each.
 *
 * A connection is a bufferevent (TLS after ALPN chose "h2", or plain TCP for
 * h2c with prior knowledge) under an nghttp2 client session fed with
 * nghttp2_session_mem_recv and drained with nghttp2_session_mem_send.  Calls
 * keep the request they serialized for HTTP/1.1; it is read back into
 * HTTP/2 header fields when the stream is opened, so one representation
 * serves both protocols.
 *
 * Capacity: a connection takes as many streams as the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS allows (within CMX_H2_MAX_STREAMS).  A
 * call that finds no room waits in the origin's queue, or opens one more
 * connection when the connections being opened will not hold the calls
 * already waiting (upstream.c); when streams close or connections come up,
 * waiters are given streams at once (cmx_up_h2_serve_waiters).
 *
 * Flow control is sized for streamed answers: each stream may receive
 * CMX_H2_STREAM_WINDOW bytes ahead, the connection CMX_H2_CONN_WINDOW.
 * Received bytes are given back to the connection window at once, and to
 * the stream's when the consumer has passed them on: while its backlog is
 * over CMX_UPSTREAM_BACKLOG_MAX, the stream's window stays closed and the
 * server stops sending on that stream only.
 *
 * Failures map to the router's kinds with retry semantics that never send a
 * request twice when the server may have processed it: a stream the server
 * refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id)
 * or whose HEADERS never left is sent again on another connection, up to
 * CMX_H2_MAX_REFUSALS times; any other reset or a lost connection ends the
 * call as unavailable (cause reset), once per call, and the router decides.
 * An idle connection (no streams) is checked with PING every
 * http2_ping_interval_ms and closed when a PING goes unanswered, or after
 * idle_expiry_ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <nghttp2/nghttp2.h>

#include "http/upstream_internal.h"

#define CMX_H2_STREAM_WINDOW (256 * 1024)
#define CMX_H2_CONN_WINDOW (64 * 1024 * 1024)
#define CMX_H2_MAX_STREAMS 1000
#define CMX_H2_MAX_REFUSALS 3
/* How often a stream withheld for a slow consumer looks at its backlog. */
#define CMX_H2_BACKLOG_POLL_MS 5

struct cmx_up_h2 {
    struct cmx_up_h2 *next, *prev; /* the origin's HTTP/2 connections */
    cmx_up_conn *conn;
    nghttp2_session *session;
    cmx_upstream_call *calls; /* calls with a stream here */
    size_t n_streams;         /* open streams, abandoned ones too, until closed */
    int in_recv;              /* inside nghttp2_session_mem_recv */
    int want_send;            /* frames were queued during in_recv */
    int dead;                 /* failed: freed when in_recv ends */
    int goaway;               /* no new streams here */
    int ping_outstanding;
    int settings_seen;  /* the server's first SETTINGS arrived */
    int paused_streams; /* streams withholding their window */
    struct event ping_timer, idle_timer, backlog_timer;
};

static void h2_fail(cmx_up_h2 *h2, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void h2_flush(cmx_up_h2 *h2);

static cmx_upstream *up_of(const cmx_up_h2 *h2)
{
    return h2->conn->origin->up;
}

static const char *h2_target(const cmx_up_h2 *h2, char *buf, size_t size)
{
    const cmx_up_origin *o = h2->conn->origin;
    int v6 = strchr(o->host, ':') != NULL;
    snprintf(buf, size, "%s%s%s:%d", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
    return buf;
}

/* Streams this connection may carry.  Until the server's SETTINGS arrive,
 * what the origin's earlier connections were allowed, or else one: streams
 * sent beyond a limit not yet known would only come back refused. */
static uint32_t stream_limit(const cmx_up_h2 *h2)
{
    if (!h2->settings_seen) {
        const cmx_up_origin *o = h2->conn->origin;
        return o->h2_limit_known ? o->h2_stream_limit : 1;
    }
    uint32_t remote =
        nghttp2_session_get_remote_settings(h2->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return remote < CMX_H2_MAX_STREAMS ? remote : CMX_H2_MAX_STREAMS;
}

/* ---- calls on the connection --------------------------------------------- */

static void link_call(cmx_up_h2 *h2, cmx_upstream_call *call)
{
    call->h2 = h2;
    call->h2_prev = NULL;
    call->h2_next = h2->calls;
    if (h2->calls)
        h2->calls->h2_prev = call;
    h2->calls = call;
}

static void unlink_call(cmx_upstream_call *call)
{
    cmx_up_h2 *h2 = call->h2;
    if (call->h2_prev)
        call->h2_prev->h2_next = call->h2_next;
    else
        h2->calls = call->h2_next;
    if (call->h2_next)
        call->h2_next->h2_prev = call->h2_prev;
    call->h2_next = call->h2_prev = NULL;
    call->h2 = NULL;
    if (call->h2_paused) {
        call->h2_paused = 0;
        h2->paused_streams--;
    }
}

/* The call lets go of its stream (done, failed or cancelled).  A stream
 * still open is reset, so the server stops working on it. */
void cmx_up_h2_release_call(cmx_upstream_call *call)
{
    cmx_up_h2 *h2 = call->h2;
    if (!h2)
        return;
    int32_t id = call->h2_stream;
    unlink_call(call);
    call->conn = NULL;
    call->h2_stream = 0;
    if (id <= 0 || h2->dead)
        return;
    nghttp2_session_set_stream_user_data(h2->session, id, NULL);
    if (nghttp2_session_find_stream(h2->session, id) &&
        !(nghttp2_session_get_stream_remote_close(h2->session, id) &&
          nghttp2_session_get_stream_local_close(h2->session, id))) {
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        h2_flush(h2);
    }
}

/* Nothing of a response yet: a stream about to be opened (again). */
static void forget_response(cmx_upstream_call *call)
{
    call->h2_sent = 0;
    call->head_done = 0;
    call->complete = 0;
    call->body_bytes = 0;
    call->head_len = 0;
    call->n_headers = 0;
    call->h2_withheld = 0;
}

/* The server provably did not process the call's request: it starts over,
 * on another connection, from the loop. */
static void retry_elsewhere(cmx_upstream_call *call)
{
    call->h2_avoid = call->h2;
    cmx_up_h2_release_call(call);
    call->h2_refusals++;
    forget_response(call);
    call->state = CMX_UP_STARTING;
    event_del(&call->phase_timer);
    cmx_up_stat_add(call->up, CMX_UP_STAT_H2_REFUSED_RETRIES, 1);
    event_active(&call->start_ev, 0, 0);
}

static const char *h2_error_name(uint32_t code)
{
    switch (code) {
    case NGHTTP2_NO_ERROR: return "NO_ERROR";
    case NGHTTP2_PROTOCOL_ERROR: return "PROTOCOL_ERROR";
    case NGHTTP2_INTERNAL_ERROR: return "INTERNAL_ERROR";
    case NGHTTP2_FLOW_CONTROL_ERROR: return "FLOW_CONTROL_ERROR";
    case NGHTTP2_SETTINGS_TIMEOUT: return "SETTINGS_TIMEOUT";
    case NGHTTP2_STREAM_CLOSED: return "STREAM_CLOSED";
    case NGHTTP2_FRAME_SIZE_ERROR: return "FRAME_SIZE_ERROR";
    case NGHTTP2_REFUSED_STREAM: return "REFUSED_STREAM";
    case NGHTTP2_CANCEL: return "CANCEL";
    case NGHTTP2_COMPRESSION_ERROR: return "COMPRESSION_ERROR";
    case NGHTTP2_CONNECT_ERROR: return "CONNECT_ERROR";
    case NGHTTP2_ENHANCE_YOUR_CALM: return "ENHANCE_YOUR_CALM";
    case NGHTTP2_INADEQUATE_SECURITY: return "INADEQUATE_SECURITY";
    case NGHTTP2_HTTP_1_1_REQUIRED: return "HTTP_1_1_REQUIRED";
    default: return "unknown error code";
    }
}

/* The stream ended before a whole response: retried when the server did
 * not process it, failed once otherwise. */
static void stream_lost(cmx_upstream_call *call, int refused, const char *why)
{
    if (!call->head_done && call->body_bytes == 0 && (refused || !call->h2_sent) &&
        call->h2_refusals < CMX_H2_MAX_REFUSALS) {
        retry_elsewhere(call);
        return;
    }
    if (!call->head_done)
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET, "%s before any response byte",
                         why);
    else
        cmx_up_call_fail(call, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET,
                         "%s after %llu body bytes of an incomplete response", why,
                         (unsigned long long)call->body_bytes);
}

/* ---- the request as HTTP/2 fields ---------------------------------------- */

#define NV(n, nl, v, vl)                                                                           \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE})

/* Header fields HTTP/2 forbids (RFC 9113 8.2.2), and Host, which becomes
 * :authority. */
static int drop_field(const char *name, size_t len)
{
    static const char *const dropped[] = {"host",    "connection",       "keep-alive",
                                          "upgrade", "proxy-connection", "transfer-encoding",
                                          "te"};
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        if (strlen(dropped[i]) == len && strncasecmp(dropped[i], name, len) == 0)
            return 1;
    return 0;
}

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    cmx_upstream_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* abandoned: reset it */
    size_t left = call->req_len - call->h2_body_off;
    size_t n = left < length ? left : length;
    memcpy(buf, call->req + call->h2_body_off, n);
    call->h2_body_off += n;
    if (call->h2_body_off == call->req_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Opens the call's stream on h2: 0, or -1 when the connection cannot take
 * it (the caller then looks elsewhere). */
int cmx_up_h2_submit(cmx_upstream_call *call, cmx_up_h2 *h2)
{
    /* The request as upstream.c built it: request line, header lines, blank
     * line, body.  Names are lower-cased in place (HTTP/1.1 does not mind). */
    char *p = call->req, *end = call->req + call->req_len;
    char *sp1 = memchr(p, ' ', (size_t)(end - p));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    char *eol = sp2 ? memchr(sp2, '\n', (size_t)(end - sp2)) : NULL;
    if (!eol)
        return -1;
    size_t n_lines = 0;
    for (char *q = eol + 1; q < end && *q != '\r'; q++)
        if (*q == '\n')
            n_lines++;
    nghttp2_nv *nv = malloc((n_lines + 4) * sizeof *nv);
    if (!nv)
        return -1;
    const cmx_up_origin *o = call->origin;
    size_t n = 0;
    nv[n++] = NV(":method", 7, p, (size_t)(sp1 - p));
    nv[n++] = NV(":scheme", 7, o->tls ? "https" : "http", o->tls ? 5u : 4u);
    size_t authority_at = n++;
    nv[authority_at] = NV(":authority", 10, o->host, strlen(o->host));
    nv[n++] = NV(":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    char *line = eol + 1;
    while (line + 1 < end && !(line[0] == '\r' && line[1] == '\n')) {
        char *lend = memchr(line, '\r', (size_t)(end - line));
        char *colon = lend ? memchr(line, ':', (size_t)(lend - line)) : NULL;
        if (!colon)
            break;
        size_t name_len = (size_t)(colon - line);
        char *value = colon + 1;
        while (value < lend && (*value == ' ' || *value == '\t'))
            value++;
        for (char *c = line; c < colon; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + ('a' - 'A'));
        if (name_len == 4 && memcmp(line, "host", 4) == 0)
            nv[authority_at] = NV(":authority", 10, value, (size_t)(lend - value));
        else if (!drop_field(line, name_len) && n < n_lines + 4)
            nv[n++] = NV(line, name_len, value, (size_t)(lend - value));
        line = lend + 2;
    }
    size_t body_at = (size_t)(line + 2 - call->req);
    call->h2_body_off = body_at;
    nghttp2_data_provider body = {.source.ptr = call, .read_callback = body_read_cb};
    int has_body = body_at < call->req_len;
    int32_t id = nghttp2_submit_request(h2->session, NULL, nv, n, has_body ? &body : NULL, call);
    free(nv);
    if (id < 0)
        return -1;
    call->conn = h2->conn;
    call->h2_stream = id;
    forget_response(call);
    call->state = CMX_UP_SENDING;
    link_call(h2, call);
    h2->n_streams++;
    cmx_up_stat_add(call->up, CMX_UP_STAT_H2_STREAMS_NOW, 1);
    cmx_up_stat_add(call->up, CMX_UP_STAT_H2_STREAMS, 1);
    event_del(&h2->idle_timer);
    if (!h2->ping_outstanding)
        event_del(&h2->ping_timer);
    cmx_up_arm_phase(call, call->timeouts.first_byte_ms);
    h2_flush(h2);
    return 0;
}

/* A connection of o with room for one more stream, other than `avoid`, or
 * NULL. */
cmx_up_h2 *cmx_up_h2_pick(cmx_up_origin *o, const cmx_up_h2 *avoid)
{
    for (cmx_up_h2 *h2 = o->h2_conns; h2; h2 = h2->next)
        if (h2 != avoid && !h2->dead && !h2->goaway && h2->n_streams < stream_limit(h2))
            return h2;
    return NULL;
}

/* Gives waiting calls streams while connections have room; wakes a few
 * more to open connections when the ones coming will not hold them all. */
void cmx_up_h2_serve_waiters(cmx_up_origin *o)
{
    cmx_up_h2 *h2;
    while (o->wait_head && (h2 = cmx_up_h2_pick(o, NULL))) {
        cmx_upstream_call *call = o->wait_head;
        cmx_up_origin_dequeue(o, call);
        cmx_up_call_note_wait_over(call);
        if (cmx_up_h2_submit(call, h2) != 0) {
            call->state = CMX_UP_STARTING;
            event_active(&call->start_ev, 0, 0); /* fails or finds another from the loop */
        }
    }
    if (o->wait_head && o->h2_connecting * o->h2_stream_limit < o->n_waiting &&
        o->n_conns < o->up->settings.max_conns_per_origin) {
        cmx_upstream_call *call = o->wait_head;
        cmx_up_origin_dequeue(o, call);
        event_active(&call->start_ev, 0, 0); /* opens one (upstream.c) */
    }
}

/* ---- timers -------------------------------------------------------------- */

static void arm_ms(struct event *ev, uint32_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
}

static void h2_went_idle(cmx_up_h2 *h2)
{
    const cmx_upstream_settings *s = &up_of(h2)->settings;
    arm_ms(&h2->idle_timer, s->idle_expiry_ms);
    if (s->http2_ping_interval_ms && !h2->ping_outstanding)
        arm_ms(&h2->ping_timer, s->http2_ping_interval_ms);
}

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_up_h2 *h2 = arg;
    char target[300];
    if (h2->ping_outstanding) {
        cmx_up_stat_add(up_of(h2), CMX_UP_STAT_H2_PING_FAILURES, 1);
        h2_fail(h2, "%s did not answer a PING within %u ms", h2_target(h2, target, sizeof target),
                (unsigned)up_of(h2)->settings.http2_ping_interval_ms);
        return;
    }
    if (nghttp2_submit_ping(h2->session, NGHTTP2_FLAG_NONE, NULL) != 0)
        return;
    h2->ping_outstanding = 1;
    arm_ms(&h2->ping_timer, up_of(h2)->settings.http2_ping_interval_ms);
    h2_flush(h2);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_up_h2 *h2 = arg;
    if (h2->n_streams == 0)
        cmx_up_h2_close(h2);
}

/* Streams withheld for slow consumers: give their window back to those
 * whose backlog has drained. */
static void backlog_cb(evutil_socket_t fd, short what, void *arg)
{
    cmx_up_h2 *h2 = arg;
    for (cmx_upstream_call *call = h2->calls; call; call = call->h2_next) {
        if (!call->h2_paused)
            continue;
        size_t backlog = call->backlog ? call->backlog(call->ctx) : 0;
        if (backlog > CMX_UPSTREAM_BACKLOG_MAX)
            continue;
        call->h2_paused = 0;
        h2->paused_streams--;
        nghttp2_session_consume_stream(h2->session, call->h2_stream, call->h2_withheld);
        call->h2_withheld = 0;
    }
    if (h2->paused_streams)
        arm_ms(&h2->backlog_timer, CMX_H2_BACKLOG_POLL_MS);
    h2_flush(h2);
}

/* ---- nghttp2 callbacks --------------------------------------------------- */

static cmx_upstream_call *call_of(nghttp2_session *session, int32_t id)
{
    return id > 0 ? nghttp2_session_get_stream_user_data(session, id) : NULL;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    cmx_upstream_call *call = call_of(session, frame->hd.stream_id);
    if (call && frame->hd.type == NGHTTP2_HEADERS) {
        call->head_len = 0; /* a 1xx head is forgotten when the real one comes */
        call->n_headers = 0;
        call->status_h2 = 0;
        if (call->state < CMX_UP_READING)
            cmx_up_note_input(call);
    }
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    cmx_upstream_call *call = call_of(session, frame->hd.stream_id);
    if (!call || call->head_done)
        return 0; /* trailers: not passed on */
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int status = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            status = status * 10 + (value[i] - '0');
        call->status_h2 = status;
        return 0;
    }
    if (cmx_up_head_add(call, (const char *)name, namelen, (const char *)value, valuelen) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    return 0;
}

static void deliver_head(cmx_upstream_call *call)
{
    call->head_done = 1;
    cmx_up_head_publish(call);
    if (call->cb.on_head) {
        call->busy++;
        call->cb.on_head(call->ctx, call->status_h2, call->headers, call->n_headers);
        call->busy--;
    }
}

/* After a user callback: a cancel from inside it takes effect now. */
static int cancelled_now(cmx_upstream_call *call)
{
    if (!call->cancelled)
        return 0;
    cmx_up_call_abandon(call);
    return 1;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    cmx_up_h2 *h2 = user_data;
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS: {
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            return 0;
        cmx_up_origin *o = h2->conn->origin;
        if (!h2->settings_seen)
            o->h2_connecting--; /* arrived: its room is known now */
        h2->settings_seen = 1;
        o->h2_limit_known = 1;
        o->h2_stream_limit = stream_limit(h2);
        if (o->h2_stream_limit == 0)
            o->h2_stream_limit = 1;
        cmx_up_h2_serve_waiters(o);
        return 0;
    }
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
            h2->ping_outstanding = 0;
            if (h2->n_streams == 0)
                arm_ms(&h2->ping_timer, up_of(h2)->settings.http2_ping_interval_ms);
        }
        return 0;
    case NGHTTP2_GOAWAY:
        /* nghttp2 closes the streams above last_stream_id as refused. */
        h2->goaway = 1;
        cmx_up_stat_add(up_of(h2), CMX_UP_STAT_H2_GOAWAYS, 1);
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: break;
    default: return 0;
    }
    cmx_upstream_call *call = call_of(session, frame->hd.stream_id);
    if (!call)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && !call->head_done) {
        if (call->status_h2 / 100 == 1 && call->status_h2 != 101)
            return 0; /* interim answer; the real one follows */
        if (call->status_h2 < 200) {
            stream_lost(call, 0, "malformed response: no valid :status");
            return 0;
        }
        deliver_head(call);
        if (cancelled_now(call))
            return 0;
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        call->complete = 1;
        cmx_up_call_finish(call);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    cmx_up_h2 *h2 = user_data;
    nghttp2_session_consume_connection(session, len);
    cmx_upstream_call *call = call_of(session, stream_id);
    if (!call || !call->head_done) {
        nghttp2_session_consume_stream(session, stream_id, len);
        return 0;
    }
    call->body_bytes += len;
    cmx_up_note_input(call);
    if (call->cb.on_body) {
        call->busy++;
        call->cb.on_body(call->ctx, (const char *)data, len);
        call->busy--;
        if (cancelled_now(call))
            return 0;
    }
    size_t backlog = call->backlog ? call->backlog(call->ctx) : 0;
    if (backlog > CMX_UPSTREAM_BACKLOG_MAX || call->h2_paused) {
        call->h2_withheld += len;
        if (!call->h2_paused) {
            call->h2_paused = 1;
            if (h2->paused_streams++ == 0)
                arm_ms(&h2->backlog_timer, CMX_H2_BACKLOG_POLL_MS);
        }
    } else {
        nghttp2_session_consume_stream(session, stream_id, len);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    cmx_upstream_call *call = call_of(session, frame->hd.stream_id);
    if (!call)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS)
        call->h2_sent = 1;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && call->state == CMX_UP_SENDING) {
        call->state = CMX_UP_WAITING;
        cmx_up_arm_phase(call, call->timeouts.first_byte_ms);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    cmx_up_h2 *h2 = user_data;
    cmx_upstream_call *call = call_of(session, stream_id);
    if (h2->n_streams) {
        h2->n_streams--;
        cmx_up_stat_add(up_of(h2), CMX_UP_STAT_H2_STREAMS_NOW, -1);
    }
    if (call) {
        char target[300], why[400];
        call->h2_stream = 0; /* closed: nothing to reset */
        if (call->complete || call->parse_failed) {
            cmx_up_call_finish(call);
        } else if (error_code == NGHTTP2_REFUSED_STREAM) {
            snprintf(why, sizeof why, "%s refused the stream (%s)",
                     h2_target(h2, target, sizeof target),
                     h2->goaway ? "GOAWAY" : "REFUSED_STREAM");
            stream_lost(call, 1, why);
        } else if (error_code == NGHTTP2_ENHANCE_YOUR_CALM) {
            cmx_up_call_fail(call, CMX_ERR_RATE_LIMITED, CMX_CAUSE_RESET,
                             "%s reset the stream: ENHANCE_YOUR_CALM",
                             h2_target(h2, target, sizeof target));
        } else {
            snprintf(why, sizeof why, "%s reset the stream (%s)",
                     h2_target(h2, target, sizeof target),
                     error_code == NGHTTP2_NO_ERROR ? "ended without END_STREAM"
                                                    : h2_error_name(error_code));
            stream_lost(call, 0, why);
        }
    }
    if (h2->dead)
        return 0;
    if (h2->n_streams == 0 && !h2->goaway)
        h2_went_idle(h2);
    if (!h2->goaway)
        cmx_up_h2_serve_waiters(h2->conn->origin);
    return 0;
}

static nghttp2_session_callbacks *callbacks_new(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* ---- the connection ------------------------------------------------------ */

static void h2_destroy(cmx_up_h2 *h2)
{
    cmx_up_conn *conn = h2->conn;
    cmx_up_origin *o = conn->origin;
    event_del(&h2->ping_timer);
    event_del(&h2->idle_timer);
    event_del(&h2->backlog_timer);
    if (h2->prev)
        h2->prev->next = h2->next;
    else
        o->h2_conns = h2->next;
    if (h2->next)
        h2->next->prev = h2->prev;
    nghttp2_session_del(h2->session);
    if (!h2->settings_seen)
        o->h2_connecting--; /* it never arrived */
    cmx_up_stat_add(o->up, CMX_UP_STAT_H2_CONNS_NOW, -1);
    cmx_up_stat_add(o->up, CMX_UP_STAT_H2_STREAMS_NOW, -(int64_t)h2->n_streams);
    free(h2);
    conn->h2 = NULL;
    cmx_up_conn_close(conn); /* frees the bufferevent, wakes waiters */
}

/* The connection is lost: every call on it is retried (never seen by the
 * server) or failed, each once; the connection goes when nghttp2 is not
 * on the stack. */
static void h2_fail(cmx_up_h2 *h2, const char *fmt, ...)
{
    if (h2->dead)
        return;
    h2->dead = 1;
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    while (h2->calls) {
        cmx_upstream_call *call = h2->calls;
        stream_lost(call, 0, why);
        if (call->h2 == h2) /* not released by the above: cannot happen, but never loop */
            unlink_call(call);
    }
    if (!h2->in_recv)
        h2_destroy(h2);
}

void cmx_up_h2_close(cmx_up_h2 *h2)
{
    h2_fail(h2, "connection closed");
}

static void h2_flush(cmx_up_h2 *h2)
{
    if (h2->dead)
        return;
    if (h2->in_recv) {
        h2->want_send = 1;
        return;
    }
    h2->want_send = 0;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h2->session, &data);
        if (n < 0) {
            h2_fail(h2, "HTTP/2 error sending: %s", nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        if (bufferevent_write(h2->conn->bev, data, (size_t)n) != 0) {
            h2_fail(h2, "out of memory sending");
            return;
        }
    }
    if (h2->goaway && h2->n_streams == 0)
        h2_fail(h2, "connection closed after GOAWAY");
}

static void h2_read_cb(struct bufferevent *bev, void *arg)
{
    cmx_up_h2 *h2 = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    h2->in_recv++;
    while (!h2->dead && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(h2->session, v.iov_base, v.iov_len);
        if (n < 0) {
            char target[300];
            h2_fail(h2, "%s broke the HTTP/2 protocol: %s", h2_target(h2, target, sizeof target),
                    nghttp2_strerror((int)n));
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    h2->in_recv--;
    if (h2->dead) {
        if (!h2->in_recv)
            h2_destroy(h2);
        return;
    }
    h2_flush(h2);
}

static void h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
    cmx_up_h2 *h2 = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    char target[300];
    int sock_err = EVUTIL_SOCKET_ERROR();
    if (what & BEV_EVENT_EOF)
        h2_fail(h2, "%s closed the connection%s", h2_target(h2, target, sizeof target),
                h2->goaway ? " after GOAWAY" : "");
    else
        h2_fail(h2, "connection to %s reset (%s)", h2_target(h2, target, sizeof target),
                sock_err ? strerror(sock_err) : "error");
}

/* An established connection that speaks HTTP/2 (ALPN said "h2", or h2c by
 * prior knowledge): sets up the session, opens the opener's stream. */
int cmx_up_h2_start(cmx_up_conn *conn, cmx_upstream_call *opener)
{
    cmx_up_origin *o = conn->origin;
    cmx_up_h2 *h2 = calloc(1, sizeof *h2);
    if (!h2)
        return -1;
    h2->conn = conn;
    nghttp2_session_callbacks *cbs = callbacks_new();
    nghttp2_option *opt = NULL;
    int rc = cbs && nghttp2_option_new(&opt) == 0 ? 0 : -1;
    if (rc == 0) {
        nghttp2_option_set_no_auto_window_update(opt, 1);
        rc = nghttp2_session_client_new2(&h2->session, cbs, h2, opt);
    }
    if (cbs)
        nghttp2_session_callbacks_del(cbs);
    if (opt)
        nghttp2_option_del(opt);
    if (rc != 0) {
        free(h2);
        return -1;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CMX_H2_STREAM_WINDOW},
    };
    nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, settings,
                            sizeof settings / sizeof settings[0]);
    nghttp2_session_set_local_window_size(h2->session, NGHTTP2_FLAG_NONE, 0, CMX_H2_CONN_WINDOW);
    struct event_base *base = o->up->base;
    event_assign(&h2->ping_timer, base, -1, 0, ping_cb, h2);
    event_assign(&h2->idle_timer, base, -1, 0, idle_cb, h2);
    event_assign(&h2->backlog_timer, base, -1, 0, backlog_cb, h2);
    conn->h2 = h2;
    h2->next = o->h2_conns;
    if (o->h2_conns)
        o->h2_conns->prev = h2;
    o->h2_conns = h2;
    cmx_up_stat_add(o->up, CMX_UP_STAT_H2_CONNS_NOW, 1);
    bufferevent_setcb(conn->bev, h2_read_cb, NULL, h2_event_cb, h2);
    bufferevent_set_timeouts(conn->bev, NULL, NULL);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    if (opener && cmx_up_h2_submit(opener, h2) != 0) {
        opener->state = CMX_UP_STARTING;
        event_active(&opener->start_ev, 0, 0);
    }
    if (!opener)
        h2_flush(h2);
    cmx_up_h2_serve_waiters(o);
    return 0;
}

/* The client goes: connections close without a word to their calls (there
 * are none left, see cmx_upstream_free). */
void cmx_up_h2_free_all(cmx_up_origin *o)
{
    while (o->h2_conns) {
        cmx_up_h2 *h2 = o->h2_conns;
        o->h2_conns = h2->next;
        event_del(&h2->ping_timer);
        event_del(&h2->idle_timer);
        event_del(&h2->backlog_timer);
        nghttp2_session_del(h2->session);
        cmx_up_conn *conn = h2->conn;
        conn->h2 = NULL;
        if (conn->bev)
            bufferevent_free(conn->bev);
        free(conn);
        free(h2);
    }
}
