/* upstream_internal.h — the parts of the upstream client shared between its
 * files, and nobody else's business.
 *
 * The client is split by concern: upstream.c (the public calls and the life
 * of one call), upstream_io.c (writing the request, parsing the response on
 * an established HTTP/1.1 connection), upstream_h2.c (HTTP/2 connections
 * and their streams), upstream_pool.c (origins, idle connections, the wait
 * queue), upstream_connect.c (address → TCP → proxy tunnel → TLS),
 * upstream_tls.c, upstream_dns.c and upstream_proxy.c.
 *
 * An HTTP/1.1 call owns its connection while it runs; such a connection
 * belongs to one origin for its whole life and is either serving a call or
 * idle in the origin's pool.  An HTTP/2 connection carries many calls at
 * once, one stream each, and stays on its origin's list of HTTP/2
 * connections until it closes.  Everything runs on the one thread of the
 * event_base, so nothing here is locked. */
#ifndef CMX_HTTP_UPSTREAM_INTERNAL_H
#define CMX_HTTP_UPSTREAM_INTERNAL_H

#include <http_parser.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "http/upstream.h"

#define CMX_UP_MAX_ADDRS 4
#define CMX_UP_MAX_HEADERS 100
#define CMX_UP_MAX_HEAD_BYTES (64 * 1024)
#define CMX_UP_DNS_TTL_MS 30000 /* evdns_getaddrinfo hides the record TTL */
#define CMX_UP_DNS_CACHE_MAX 256
#define CMX_UP_FREE_CALLS_MAX 64
/* Most bytes one recv() takes from a plain connection. */
#define CMX_UP_READ_BYTES (16 * 1024)

/* Resolved addresses of one host; ports are set by whoever connects. */
typedef struct cmx_up_addrs {
    size_t n;
    struct sockaddr_storage addr[CMX_UP_MAX_ADDRS];
    socklen_t len[CMX_UP_MAX_ADDRS];
} cmx_up_addrs;

struct cmx_up_dns_query;

/* A call waiting for a name.  `done` runs once, from the event loop; `addrs`
 * is NULL and `why` says what failed when resolution failed. */
typedef struct cmx_up_dns_waiter {
    struct cmx_up_dns_waiter *next, *prev;
    struct cmx_up_dns_query *query;
    void (*done)(struct cmx_up_dns_waiter *w, const cmx_up_addrs *addrs, const char *why);
} cmx_up_dns_waiter;

/* A parsed proxy: where to connect and the optional Basic credentials. */
typedef struct cmx_up_proxy {
    char host[256];
    int port;
    char *authorization; /* "Basic ..." or NULL */
} cmx_up_proxy;

struct cmx_up_conn;
typedef struct cmx_up_h2 cmx_up_h2;

typedef struct cmx_up_origin {
    struct cmx_up_origin *next;
    cmx_upstream *up;
    int tls;
    int port;
    int tls_verify;
    char host[256];
    char *ca_file;                 /* NULL: system store */
    const cmx_up_proxy *proxy;     /* decided once per origin; NULL: direct */
    int http2;                     /* a cmx_http2_mode: part of what the origin is */
    int alpn_h1;                   /* the server chose HTTP/1.1 by ALPN: h1 from now on */
    struct cmx_up_conn *idle_head; /* most recently used first */
    size_t n_idle;
    size_t n_conns; /* connecting + busy + idle, HTTP/2 ones included */
    cmx_upstream_call *wait_head, *wait_tail;
    size_t n_waiting;
    /* HTTP/2: open connections, those on their way, and how many streams
     * one connection takes (the server's SETTINGS_MAX_CONCURRENT_STREAMS
     * once seen, within our own cap). */
    struct cmx_up_h2 *h2_conns;
    size_t h2_connecting;
    uint32_t h2_stream_limit;
    int h2_limit_known; /* h2_stream_limit came from a server's SETTINGS */
} cmx_up_origin;

typedef struct cmx_up_conn {
    struct cmx_up_conn *next, *prev; /* in the origin's idle list */
    cmx_up_origin *origin;
    /* TLS: the bufferevent reads and writes.  Plain TCP: it only writes, and
     * `rev` (added once, for the connection's life) reads with recv(). */
    struct bufferevent *bev;
    struct event rev;
    int own_read;            /* rev is assigned and added */
    int unread;              /* bytes beyond the response were received: not reusable */
    cmx_upstream_call *call; /* NULL while idle; unused on HTTP/2 */
    struct cmx_up_h2 *h2;    /* NULL: HTTP/1.1 */
} cmx_up_conn;

typedef struct cmx_up_tls_ctx {
    struct cmx_up_tls_ctx *next;
    int verify;
    char *ca_file;
    SSL_CTX *ctx;
} cmx_up_tls_ctx;

typedef struct cmx_up_dns_entry {
    struct cmx_up_dns_entry *next;
    char host[256];
    uint64_t expires_us;
    cmx_up_addrs addrs;
} cmx_up_dns_entry;

/* The figures behind cmx_upstream_stats, in the same order.  Only the
 * worker writes them; any thread may read them. */
typedef enum cmx_up_stat {
    CMX_UP_STAT_OPENED,
    CMX_UP_STAT_REUSED,
    CMX_UP_STAT_STALE_RETRIES,
    CMX_UP_STAT_IDLE_NOW,
    CMX_UP_STAT_QUEUE_LENGTH,
    CMX_UP_STAT_QUEUE_WAITS,
    CMX_UP_STAT_QUEUE_WAIT_US,
    CMX_UP_STAT_QUEUE_TIMEOUTS,
    CMX_UP_STAT_H2_CONNS_NOW,
    CMX_UP_STAT_H2_STREAMS_NOW,
    CMX_UP_STAT_H2_STREAMS,
    CMX_UP_STAT_H2_REFUSED_RETRIES,
    CMX_UP_STAT_H2_GOAWAYS,
    CMX_UP_STAT_H2_PING_FAILURES,
    CMX_UP_STAT__COUNT
} cmx_up_stat;

struct cmx_upstream {
    struct event_base *base;
    struct evdns_base *dns;
    int own_dns;
    cmx_upstream_settings settings; /* proxy strings owned below */
    char *no_proxy;
    cmx_up_proxy *http_proxy, *https_proxy;
    cmx_up_origin *origins;
    cmx_up_tls_ctx *tls_ctxs;
    cmx_up_dns_entry *dns_cache;
    size_t dns_cache_n;
    struct cmx_up_dns_query *dns_queries;
    cmx_upstream_call *free_calls;
    size_t n_free_calls;
    /* What plain connections receive into.  One for all: a read is parsed
     * to the end inside its own callback, and nothing of it is kept. */
    char *rbuf;
    _Atomic uint64_t stats[CMX_UP_STAT__COUNT];
};

/* Adds to one figure (a gauge may go down: delta wraps). */
static inline void cmx_up_stat_add(cmx_upstream *up, cmx_up_stat which, int64_t delta)
{
    uint64_t v = atomic_load_explicit(&up->stats[which], memory_order_relaxed);
    atomic_store_explicit(&up->stats[which], v + (uint64_t)delta, memory_order_relaxed);
}

typedef enum cmx_up_state {
    CMX_UP_IDLE = 0,  /* recycled */
    CMX_UP_STARTING,  /* sent, start pending on the loop */
    CMX_UP_QUEUED,    /* waiting for a connection slot (in the queue or woken) */
    CMX_UP_RESOLVING, /* the connect phase begins here */
    CMX_UP_CONNECTING,
    CMX_UP_PROXY_WRITE,
    CMX_UP_PROXY_READ,
    CMX_UP_TLS,
    CMX_UP_SENDING, /* request handed to the connection */
    CMX_UP_WAITING, /* request written, no response byte yet */
    CMX_UP_READING, /* at least one response byte */
    CMX_UP_DONE
} cmx_up_state;

/* Where a response header's name and value sit in the call's head buffer. */
typedef struct cmx_up_header_off {
    uint32_t name_off, name_len, value_off, value_len;
} cmx_up_header_off;

struct cmx_upstream_call {
    cmx_upstream *up;
    cmx_upstream_call *next, *prev; /* wait queue or free list */
    cmx_up_origin *origin;
    cmx_upstream_callbacks cb;
    void *ctx;
    size_t (*backlog)(void *ctx); /* NULL: no backpressure */
    cmx_upstream_timeouts timeouts;
    cmx_up_state state;
    int is_head;

    /* The serialized request, kept for a stale-connection retry. */
    char *req;
    size_t req_len, req_cap;

    /* Flags of the current call. */
    unsigned busy;      /* depth of user callbacks running */
    int cancelled;      /* cancel arrived while busy */
    int reused;         /* current connection came from the pool */
    int retried;        /* the one stale retry has been spent */
    int complete;       /* whole response parsed */
    int keep_alive;     /* the response allows reuse */
    int parse_failed;   /* err holds why */
    int in_queue;       /* linked in the origin's wait queue */
    int http2;          /* the request's cmx_http2_mode */
    uint64_t queued_us; /* when it began waiting for a slot; 0: never waited */

    cmx_up_conn *conn;

    /* HTTP/2: the stream this call has on conn->h2. */
    struct cmx_up_h2 *h2;
    cmx_upstream_call *h2_next, *h2_prev; /* the connection's calls */
    int32_t h2_stream;
    int h2_opener;                    /* opened a connection meant for HTTP/2 */
    int h2_refusals;                  /* times the server refused the stream unprocessed */
    const struct cmx_up_h2 *h2_avoid; /* the connection that refused it (compared only) */
    int h2_sent;                      /* its HEADERS went out: the server may have seen it */
    size_t h2_body_off;               /* request body bytes handed to nghttp2 */
    size_t h2_withheld;               /* received bytes not yet given back to the flow window */
    int h2_paused;                    /* the consumer is backed up: window withheld */
    int status_h2;                    /* :status of the head being received */

    /* Connect phase: raw socket until the connection is established. */
    cmx_up_dns_waiter dns;
    int fd;
    struct event io_ev;
    int io_ev_set;
    cmx_up_addrs addrs;
    size_t addr_i;
    int target_port;
    const char *target_host;         /* origin host or proxy host */
    int connect_errno;               /* last connect failure, tried after all addresses */
    char last_addr[64];              /* address last tried, for messages */
    struct bufferevent *pending_bev; /* during the TLS handshake */
    char *proxy_buf;                 /* CONNECT request, then the proxy's answer */
    size_t proxy_len, proxy_off;

    struct event start_ev, phase_timer, total_timer;

    /* Response. */
    http_parser parser;
    uint64_t body_bytes;
    uint64_t input_us; /* last response bytes (READING): the idle deadline counts from here */
    int head_done;
    char *head;
    size_t head_len, head_cap;
    /* Both grow as headers come (at most CMX_UP_MAX_HEADERS) and are kept
     * with the call for the next request: most answers have a dozen. */
    cmx_up_header_off *hoff;
    size_t hdr_cap;
    size_t n_headers;
    int in_value;
    cmx_http_header *headers;

    cmx_error err;
};

/* upstream.c: the call's life. */
void cmx_up_call_attach(cmx_upstream_call *call, cmx_up_conn *conn, int reused);
void cmx_up_call_fail(cmx_upstream_call *call, cmx_err kind, cmx_cause cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cmx_up_call_finish(cmx_upstream_call *call);
void cmx_up_call_abandon(cmx_upstream_call *call);
void cmx_up_call_retry_fresh(cmx_upstream_call *call);
void cmx_up_arm_phase(cmx_upstream_call *call, uint32_t ms);
/* Response bytes arrived: the call is READING and its idle deadline moves
 * to now + idle_ms (see upstream.c). */
void cmx_up_note_input(cmx_upstream_call *call);
void cmx_up_call_start_cb(evutil_socket_t fd, short what, void *arg);
/* The call stops waiting for a connection slot: its wait is counted. */
void cmx_up_call_note_wait_over(cmx_upstream_call *call);

/* upstream_io.c: one request/response exchange on an established connection. */
void cmx_up_io_begin(cmx_upstream_call *call);
void cmx_up_io_set_idle(cmx_up_conn *conn, uint32_t expiry_ms);
/* Stops watching the socket; before the bufferevent (which closes it) goes. */
void cmx_up_io_release(cmx_up_conn *conn);
/* One response header into the call's head buffer: 0, or -1 (err set)
 * when the head is too large or has too many fields. */
int cmx_up_head_add(cmx_upstream_call *call, const char *name, size_t name_len, const char *value,
                    size_t value_len);
/* Points call->headers at the head buffer, for on_head. */
void cmx_up_head_publish(cmx_upstream_call *call);

/* upstream_h2.c */
/* Sets up HTTP/2 on a connection that speaks it and opens the opener's
 * stream (NULL: none): 0, or -1 when out of memory. */
int cmx_up_h2_start(cmx_up_conn *conn, cmx_upstream_call *opener);
/* A connection of the origin with room for a stream, or NULL. */
cmx_up_h2 *cmx_up_h2_pick(cmx_up_origin *o, const cmx_up_h2 *avoid);
/* Opens the call's stream: 0, or -1 when this connection cannot take it. */
int cmx_up_h2_submit(cmx_upstream_call *call, cmx_up_h2 *h2);
/* The call lets go of its stream (reset if still open). */
void cmx_up_h2_release_call(cmx_upstream_call *call);
/* Gives waiting calls streams on connections with room. */
void cmx_up_h2_serve_waiters(cmx_up_origin *o);
void cmx_up_h2_close(cmx_up_h2 *h2);
void cmx_up_h2_free_all(cmx_up_origin *o);

/* upstream_pool.c */
cmx_up_origin *cmx_up_origin_get(cmx_upstream *up, const cmx_upstream_request *req);
cmx_up_conn *cmx_up_pool_take(cmx_up_origin *o);
void cmx_up_pool_put(cmx_up_conn *conn);
void cmx_up_conn_close(cmx_up_conn *conn);
void cmx_up_origin_enqueue(cmx_up_origin *o, cmx_upstream_call *call, int at_front);
void cmx_up_origin_dequeue(cmx_up_origin *o, cmx_upstream_call *call);
void cmx_up_origin_wake(cmx_up_origin *o);
/* Every waiter tries again (the origin's protocol became known). */
void cmx_up_origin_wake_all(cmx_up_origin *o);
void cmx_up_origins_free(cmx_upstream *up);

/* upstream_connect.c */
void cmx_up_connect_begin(cmx_upstream_call *call);
void cmx_up_connect_abort(cmx_upstream_call *call);
/* "host:port" of the connect target, for messages. */
const char *cmx_up_connect_target(const cmx_upstream_call *call, char *buf, size_t size);

/* upstream_tls.c */
SSL *cmx_up_tls_new(cmx_upstream *up, const cmx_up_origin *o, cmx_error *err);
void cmx_up_tls_describe_failure(struct bufferevent *bev, SSL *ssl, char *buf, size_t size);
void cmx_up_tls_free_all(cmx_upstream *up);

/* upstream_dns.c */
/* 1 with `out` filled when the answer is known now (IP literal, localhost,
 * cache), 0 when it needs a query. */
int cmx_up_dns_lookup(cmx_upstream *up, const char *host, cmx_up_addrs *out);
/* Starts or joins a query; `w->done` may run before this returns. */
void cmx_up_dns_wait(cmx_upstream *up, const char *host, cmx_up_dns_waiter *w);
void cmx_up_dns_unwait(cmx_up_dns_waiter *w);
void cmx_up_dns_free_all(cmx_upstream *up);

/* upstream_proxy.c */
cmx_up_proxy *cmx_up_proxy_parse(const char *url, cmx_error *err);
void cmx_up_proxy_free(cmx_up_proxy *p);
/* 1 when no_proxy says host:port goes direct, curl's rules. */
int cmx_up_no_proxy_matches(const char *no_proxy, const char *host, int port);
const cmx_up_proxy *cmx_up_proxy_for(const cmx_upstream *up, int tls, const char *host, int port);
/* Writes the CONNECT request for host:port into a fresh malloc'd buffer. */
char *cmx_up_proxy_connect_request(const cmx_up_proxy *p, const char *host, int port, size_t *len);
/* Looks at the proxy's answer so far: 0 need more, 1 tunnel open, -1 refused
 * or malformed (err filled). */
int cmx_up_proxy_parse_reply(const char *buf, size_t len, const char *target, cmx_error *err);

/* Formats a socket address as "1.2.3.4:80" or "[::1]:80". */
const char *cmx_up_addr_str(const struct sockaddr *sa, char *buf, size_t size);

#endif
