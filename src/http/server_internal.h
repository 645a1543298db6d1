/* server_internal.h — what the server's files share and nobody else sees.
 *
 * The server is split in three: server.c owns the listener and the set of
 * connections, server_conn.c owns one connection (reading, parsing, limits,
 * timers, closing) and server_write.c turns responses into bytes.  A
 * connection carries at most one exchange at a time, embedded in it, because
 * pipelined requests are answered strictly in order.
 *
 * Connection phases, in order of a request's life:
 *   IDLE      waiting for the first byte of a request (keep-alive timer)
 *   HEAD      head partly received (header timer, from the first byte)
 *   BODY      head parsed, body partly received (body timer)
 *   IN_FLIGHT handler called, response not finished; nothing more is parsed
 *   CLOSING   last response written, waiting for the socket to take it
 *   LINGER    write side shut down, discarding input until the peer closes,
 *             so a client still sending does not get a reset that destroys
 *             the response it has not read yet */
#ifndef CMX_HTTP_SERVER_INTERNAL_H
#define CMX_HTTP_SERVER_INTERNAL_H

#include <http_parser.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event_struct.h>

#include "core/slab.h"
#include "http/server.h"

struct bufferevent;
struct evconnlistener;

typedef enum conn_phase {
    PH_IDLE,
    PH_HEAD,
    PH_BODY,
    PH_IN_FLIGHT,
    PH_CLOSING,
    PH_LINGER
} conn_phase;

typedef enum exchange_state {
    EX_NONE,      /* no request handed to the handler */
    EX_ACTIVE,    /* handler has it, nothing written yet */
    EX_STREAMING, /* stream head written, chunks may follow */
    EX_CLOSING    /* client gone; on_close is running */
} exchange_state;

/* Which deadline the connection's timer stands for.  T_NONE means "armed or
 * not, ignore it when it fires": a request in flight has no read deadline,
 * and not deleting the timer for it saves an event operation per request. */
typedef enum timer_kind { T_NONE, T_IDLE, T_HEAD, T_BODY, T_LINGER } timer_kind;

/* Where http-parser is in a header line: its callbacks may split a name or
 * a value over several calls, which then extend the same header. */
typedef enum cmx_header_state {
    HDR_BEFORE_FIELD = 0, /* a new header starts with the next name */
    HDR_IN_FIELD,         /* inside a name */
    HDR_IN_VALUE,         /* inside a value */
} cmx_header_state;

typedef struct cmx_http_conn cmx_http_conn;

struct cmx_http_exchange {
    cmx_http_conn *conn;       /* NULL for a detached exchange */
    const cmx_http_sink *sink; /* detached: where the answer goes (server_detached.c) */
    void *sink_arg;
    exchange_state state;
    int raw_stream; /* HTTP/1.0 client: no chunked framing, close at end */
    int is_head;    /* HEAD request: headers only */
    cmx_http_close_cb on_close;
    void *on_close_arg;
    cmx_http_request req;
};

/* What a connection needs only while it carries a request: the parser, the
 * read buffer, the header slices, the request arena, the exchange and the
 * writing bufferevent.  It is taken from the server's free list when the
 * first byte of a request arrives, and given back as soon as the connection
 * falls idle with nothing buffered either way (nginx's keep-alive model), so
 * an idle keep-alive connection, or one that has sent nothing yet, is only
 * its small cmx_http_conn record. */
typedef struct cmx_http_rq {
    struct cmx_http_rq *next_free;
    /* Writes only; its socket is set when the state is taken (the same
     * bufferevent serves one connection after another). */
    struct bufferevent *bev;
    struct event resume;     /* deferred "parse what is buffered" */
    struct event flush_soon; /* deferred write of queued stream chunks */
    http_parser parser;

    /* Contiguous read buffer, filled by recv(): the head of the current
     * request stays here (headers are slices of it) until its response is
     * finished; pipelined bytes wait behind it. */
    char *rbuf;
    size_t rcap, rlen, rpos;
    size_t keep; /* bytes at the front that slices point into */

    /* Per-request parse state. */
    cmx_http_header *hdrs;
    size_t hdr_cap, n_hdrs;
    cmx_header_state hdr_state;
    cmx_slice url;
    int body_chunked;
    char *body;
    size_t body_len, body_cap;
    int error_status; /* set by a parser callback that rejected the request */
    const char *error_code;
    char error_msg[160];

    cmx_arena *arena;
    cmx_http_exchange ex;
} cmx_http_rq;

/* One client connection.  This record is all an idle connection costs. */
struct cmx_http_conn {
    cmx_http_server *srv;
    cmx_http_conn *prev, *next; /* the server's list of open connections */
    int fd;
    /* Reading is our own persistent read event and recv() straight into
     * the request state's read buffer (see server_conn.c). */
    struct event rev;
    struct event timer;
    cmx_http_rq *rq; /* NULL while idle (after a moment, see server_rq.c) */
    /* On the server's list of idle connections still holding a state. */
    cmx_http_conn *park_prev, *park_next;
    uint64_t parked_us;
    int parked;
    struct bufferevent *bev; /* rq->bev while there is a request state */
    conn_phase phase;
    timer_kind timer_kind;
    int depth;   /* our own frames on the stack: free only at depth 0 */
    int dead;    /* free as soon as depth drops to 0 */
    int eof;     /* the peer will send nothing more */
    int reading; /* rev is added; off while the read buffer is full */
    /* The socket is backed up: libevent's write event (with the write
     * timeout) sends the queue.  Otherwise we write at once ourselves. */
    int write_waiting;
};

struct cmx_http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *accept_retry; /* re-enables accepting after EMFILE and friends */
    cmx_http_limits limits;
    cmx_http_handler handler;
    void *handler_ctx;
    int port;
    struct sockaddr_storage addr; /* where the listener is bound */
    socklen_t addr_len;
    int stopping;
    int draining;                       /* responses close their connection (Connection: close) */
    cmx_http_error_writer error_writer; /* NULL: OpenAI's shape */
    size_t n_conns;
    cmx_http_conn *conns;
    cmx_slab_pool conn_slab; /* where the connection records live */
    size_t n_busy;           /* connections holding a request state */
    /* Request states of connections gone idle, kept for the next request. */
    cmx_http_rq *free_rqs;
    size_t n_free_rqs;
    /* Memory goes back to the system after a crowd of connections left:
     * the most open since the last trim, and the timer that trims. */
    size_t conns_high;
    struct event *trim_timer;
    /* Idle connections still holding a request state, oldest first, and the
     * timer that takes the states back. */
    cmx_http_conn *parked_head, *parked_tail;
    struct event *park_timer;
    int park_armed;
    size_t released_since_trim;
    /* libevent "common timeouts": many events sharing one duration sit in a
     * queue instead of the heap, so arming one is O(1). */
    const struct timeval *tv_header, *tv_body, *tv_keepalive, *tv_linger;
    struct timeval tv_write;
};

/* server_conn.c */
cmx_http_conn *cmx_http_conn_new(cmx_http_server *srv, int fd);
/* Idle between requests with nothing buffered: safe to close at once. */
int cmx_http_conn_is_idle(const cmx_http_conn *c);
/* Gives the request state back if the connection is idle with nothing
 * buffered either way; 1 if it did. */
int cmx_http_conn_release_rq(cmx_http_conn *c);

/* Closes now; if a request is in flight its on_close runs first. */
void cmx_http_conn_drop(cmx_http_conn *c);
/* Called by the writers when the response is finished. */
void cmx_http_conn_finish(cmx_http_conn *c, int force_close);
/* Starts closing after what is queued has been written. */
void cmx_http_conn_begin_close(cmx_http_conn *c);
/* A stream may last minutes: the read buffer shrinks to what it holds (the
 * head its slices point into) and a little room to read on, so that the
 * client going away is still noticed. */
void cmx_http_conn_shrink_rbuf(cmx_http_conn *c);

/* server_rq.c */
/* A request state from the free list, or a new one; NULL when out of memory. */
cmx_http_rq *cmx_http_rq_get(cmx_http_server *srv);
/* Back to the free list (or freed); its timers and writing are stopped. */
void cmx_http_rq_put(cmx_http_server *srv, cmx_http_rq *rq);
/* Frees the free list (server shutdown). */
void cmx_http_rqs_free(cmx_http_server *srv);
/* After a connection opened or closed: schedules a trim of the heap when
 * many have gone. */
void cmx_http_note_conns(cmx_http_server *srv);
void cmx_http_trim_cb(evutil_socket_t fd, short what, void *arg);
/* An idle connection still holding its state joins the parked list; its
 * state goes back after CMX_HTTP_PARK_MS without a request. */
void cmx_http_rq_park(cmx_http_conn *c);
void cmx_http_rq_unpark(cmx_http_conn *c);
void cmx_http_park_cb(evutil_socket_t fd, short what, void *arg);
#define CMX_HTTP_PARK_MS 1000

/* server_detached.c: the response calls of an exchange without a connection. */
void cmx_http_detached_respond(cmx_http_exchange *ex, int status, const char *content_type,
                               const char *extra_headers, const char *body, size_t body_len);
void cmx_http_detached_stream_begin(cmx_http_exchange *ex, int status, const char *content_type,
                                    const char *extra_headers);
void cmx_http_detached_stream_write(cmx_http_exchange *ex, const char *data, size_t len);
size_t cmx_http_detached_stream_pending(cmx_http_exchange *ex);
void cmx_http_detached_stream_end(cmx_http_exchange *ex, int complete);

/* server_write.c */
/* A whole response in one evbuffer write.  `closing` adds Connection: close. */
void cmx_http_write_response(cmx_http_conn *c, int status, const char *content_type,
                             const char *extra_headers, const char *body, size_t body_len,
                             int closing);
/* Answers with the OpenAI error JSON and closes the connection; for requests
 * the server itself rejects (400, 408, 413, 431). */
void cmx_http_send_error(cmx_http_conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cmx_http_write_continue(cmx_http_conn *c);
/* Sends what is queued now, unless libevent is already waiting to. */
void cmx_http_flush(cmx_http_conn *c);
/* Writes queued bytes once the current callback has returned, so the stream
 * chunks written during one upstream read leave in one system call. */
void cmx_http_flush_soon(cmx_http_conn *c);

#endif
