/* server.h — the HTTP/1.1 server: libevent bufferevents + http-parser.
 *
 * It owns connections, request framing and the limits and timeouts that keep
 * a public listener safe (header size and count → 431, body size → 413,
 * ambiguous framing → 400, slowloris header timeout, body timeout, keep-alive
 * idle timeout, write timeout for clients that stop reading).  It knows
 * nothing about LLMs: a complete request (headers and whole body) is handed
 * to one handler callback, which answers once with cmx_http_respond() or
 * streams with cmx_http_stream_*().
 *
 * Pipelined requests are answered in order: while a request is in flight the
 * connection parses nothing further; the next one is parsed when the response
 * is finished.  Request headers are slices of the connection's read buffer,
 * valid until the response is finished (no allocation per header).  Each
 * request has an arena, released when its response is finished.
 *
 * All functions must be called on the thread running the server's
 * event_base.  One cmx_http_server per worker thread. */
#ifndef CMX_HTTP_SERVER_H
#define CMX_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

struct event_base;

typedef struct cmx_http_limits {
    size_t max_header_bytes;       /* request line + headers; over → 431 */
    size_t max_headers;            /* header count; over → 431 */
    size_t max_body_bytes;         /* over → 413 (checked against Content-Length early) */
    uint32_t header_timeout_ms;    /* whole head must arrive within this (slowloris) */
    uint32_t body_timeout_ms;      /* whole body must arrive within this after the head */
    uint32_t keepalive_timeout_ms; /* idle connection between requests */
    uint32_t write_timeout_ms;     /* no write progress for this long → close */
} cmx_http_limits;

/* Defaults: 16 KiB, 100 headers, 4 MiB body, 10 s, 30 s, 75 s, 60 s. */
void cmx_http_limits_default(cmx_http_limits *limits);

typedef struct cmx_http_header {
    cmx_slice name;
    cmx_slice value;
} cmx_http_header;

typedef struct cmx_http_request {
    cmx_slice method; /* "GET", "POST", ... */
    cmx_slice path;   /* without the query */
    cmx_slice query;  /* without '?', empty if none */
    cmx_http_header *headers;
    size_t n_headers;
    const char *body; /* whole body, contiguous, NUL-terminated; "" if none */
    size_t body_len;
    int keep_alive;    /* the connection stays open after this response */
    uint64_t start_us; /* when the first byte of the request arrived */
    cmx_arena *arena;  /* released when the response is finished */
} cmx_http_request;

/* One request/response exchange.  Valid from the handler call until the
 * response is finished (cmx_http_respond, cmx_http_stream_end or
 * cmx_http_stream_abort) — or, if the client disconnects first, until the
 * on_close callback has returned. */
typedef struct cmx_http_exchange cmx_http_exchange;

typedef void (*cmx_http_handler)(cmx_http_exchange *ex, void *handler_ctx);

/* Called when the client goes away (or the write timeout fires) before the
 * response is finished.  After it returns the exchange is freed: the owner
 * must cancel whatever work it started and never touch `ex` again. */
typedef void (*cmx_http_close_cb)(cmx_http_exchange *ex, void *arg);

const cmx_http_request *cmx_http_request_of(cmx_http_exchange *ex);
/* Case-insensitive header lookup; NULL if absent. */
const cmx_slice *cmx_http_header_get(const cmx_http_request *req, const char *name);

void cmx_http_on_close(cmx_http_exchange *ex, cmx_http_close_cb cb, void *arg);

/* A whole response in one buffer.  `extra_headers` is NULL or a block of
 * complete "Name: value\r\n" lines.  The server adds Content-Length, Date is
 * not added, Connection: close when the connection will close.  Finishes the
 * exchange. */
void cmx_http_respond(cmx_http_exchange *ex, int status, const char *content_type,
                      const char *extra_headers, const char *body, size_t body_len);

/* Streaming response with Transfer-Encoding: chunked.  Each write becomes one
 * chunk and is flushed to the socket as soon as libevent can. */
void cmx_http_stream_begin(cmx_http_exchange *ex, int status, const char *content_type,
                           const char *extra_headers);
void cmx_http_stream_write(cmx_http_exchange *ex, const char *data, size_t len);
/* Bytes written to the stream and not yet sent to the socket (for flow control). */
size_t cmx_http_stream_pending(cmx_http_exchange *ex);
/* Writes the last chunk; finishes the exchange. */
void cmx_http_stream_end(cmx_http_exchange *ex);
/* Ends the stream without the last chunk and closes the connection, so the
 * client sees an incomplete body; finishes the exchange. */
void cmx_http_stream_abort(cmx_http_exchange *ex);

/* "OK", "Not Found", ...: the reason phrase the server sends with status. */
const char *cmx_http_reason_phrase(int status);

/* ---- exchanges without a connection ---------------------------------------
 * A request that arrived some other way (a Lambda event, say) is handed to
 * the same handler as one read from a socket; what the handler answers goes
 * to these callbacks instead.  The owner fills the request (in its arena),
 * calls the handler, and frees the exchange once `finished` has run — never
 * from inside a sink callback. */
typedef struct cmx_http_sink {
    /* A whole response: the exchange is finished. */
    void (*respond)(void *arg, int status, const char *content_type, const char *extra_headers,
                    const char *body, size_t body_len);
    /* A streamed response: its head, then its bytes (no chunk framing). */
    void (*stream_begin)(void *arg, int status, const char *content_type,
                         const char *extra_headers);
    void (*stream_write)(void *arg, const char *data, size_t len);
    /* The stream's end: complete, or aborted (the receiver must see it cut). */
    void (*stream_end)(void *arg, int complete);
    /* Bytes written and not yet delivered; may be NULL (then 0). */
    size_t (*stream_pending)(void *arg);
} cmx_http_sink;

/* A new exchange with an empty request and its own arena; NULL when out of
 * memory.  Fill *cmx_http_exchange_request(ex), then call the handler. */
cmx_http_exchange *cmx_http_exchange_new(const cmx_http_sink *sink, void *sink_arg);
cmx_http_request *cmx_http_exchange_request(cmx_http_exchange *ex);
/* 1 while the handler has not finished its answer. */
int cmx_http_exchange_active(const cmx_http_exchange *ex);
/* The receiver went away: on_close runs (the handler cancels its work). */
void cmx_http_exchange_cancel(cmx_http_exchange *ex);
/* Frees the exchange and its arena; the answer must be finished or cancelled. */
void cmx_http_exchange_free(cmx_http_exchange *ex);

typedef struct cmx_http_server cmx_http_server;

/* Binds host:port for the first (or only) worker.  The port is taken
 * exclusively: when anything else listens on it, another cloudmux included,
 * this fails with "cannot listen on HOST:PORT: Address already in use"
 * instead of sharing it.  port 0 picks a free port; cmx_http_server_port
 * tells it.  Returns NULL with err set (nothing is logged). */
cmx_http_server *cmx_http_server_new(struct event_base *base, const char *host, int port,
                                     const cmx_http_limits *limits, cmx_http_handler handler,
                                     void *handler_ctx, cmx_error *err);
/* Another worker's server on the same address as `first` (SO_REUSEPORT: the
 * kernel spreads new connections over the listeners of this process). */
cmx_http_server *cmx_http_server_new_beside(struct event_base *base, const cmx_http_server *first,
                                            const cmx_http_limits *limits, cmx_http_handler handler,
                                            void *handler_ctx, cmx_error *err);
int cmx_http_server_port(const cmx_http_server *srv);
/* How the body of an error the server answers itself (413 body too large,
 * 431, 400 for broken framing, 408) is written, so each API the handler
 * serves answers in its own shape: `path` is the request's path as far as
 * it was read (without the query; may be empty).  Without one, OpenAI's
 * shape ({"error":{"message","type","param","code"}}). */
typedef void (*cmx_http_error_writer)(cmx_buf *b, cmx_slice path, int status, const char *code,
                                      const char *message);
void cmx_http_server_set_error_writer(cmx_http_server *srv, cmx_http_error_writer writer);
/* Draining: keeps accepting and serving, but every response from now on
 * closes its connection (Connection: close), so keep-alive clients move to
 * another instance while a load balancer takes this one out. */
void cmx_http_server_drain(cmx_http_server *srv);
/* Stops accepting; connections with a request in flight finish it, idle ones
 * are closed.  cmx_http_server_free may be called after the event loop ends. */
void cmx_http_server_stop_accepting(cmx_http_server *srv);
size_t cmx_http_server_open_connections(const cmx_http_server *srv);
/* Connections holding a request's state now (a request, or bytes of one, on
 * them).  The others are idle: a record of a few hundred bytes each. */
size_t cmx_http_server_busy_connections(const cmx_http_server *srv);
void cmx_http_server_free(cmx_http_server *srv);

#endif
