/* upstream.h — the lean HTTP client every provider uses: HTTP/1.1, and
 * HTTP/2 (nghttp2) where the provider speaks it.
 *
 * Runs on the calling worker's event_base.  Keeps a keep-alive connection
 * pool per origin (scheme, host, port, TLS settings, HTTP/2 mode); speaks
 * TLS through bufferevent_openssl with SNI and host-name verification
 * against the system CA store (or a configured CA file); resolves names with
 * evdns (cached per TTL, IPv4 and IPv6); tunnels through an HTTP CONNECT
 * proxy when configured.  HTTP/1.1 responses are parsed with http-parser;
 * either way the body is delivered as it arrives, so a stream stays a
 * stream.
 *
 * HTTP/2 is asked for per request (`http2`): offered by ALPN ("h2" first,
 * then "http/1.1") on TLS, or spoken at once without TLS (h2c with prior
 * knowledge).  Many calls then share a few connections per origin, as many
 * streams each as the server allows.
 *
 * A request that finds its pooled HTTP/1.1 connection closed before any
 * response byte arrives is retried once on a fresh connection, and never
 * after.  An HTTP/2 stream the server provably did not process (refused, or
 * above a GOAWAY's last stream id, or never sent) is retried on another
 * connection.  Every other failure ends in on_complete with one cmx_error
 * (kind + cause): connect refused, DNS, TLS, reset, the four timeouts,
 * protocol, pool saturated.
 *
 * All functions must be called on the thread that runs the event_base. */
#ifndef CMX_HTTP_UPSTREAM_H
#define CMX_HTTP_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "http/server.h" /* cmx_http_header */

struct event_base;
struct evdns_base;

typedef struct cmx_url {
    int tls;        /* https */
    char host[256]; /* without brackets for IPv6 literals */
    int port;
    char path[1024]; /* path prefix from the URL, "" or starting with '/', no trailing '/' */
} cmx_url;

/* Parses "http[s]://host[:port][/path]"; errors name what is wrong. */
cmx_err cmx_url_parse(const char *url, cmx_url *out, cmx_error *err);

/* Whether a request may use HTTP/2 (a provider's `http2:` setting). */
typedef enum cmx_http2_mode {
    CMX_HTTP2_OFF = 0, /* HTTP/1.1 only */
    CMX_HTTP2_AUTO,    /* TLS: HTTP/2 when ALPN picks it; plain: HTTP/1.1 */
    CMX_HTTP2_ON       /* TLS: HTTP/2 or fail; plain: h2c with prior knowledge */
} cmx_http2_mode;

/* The mode for a provider's side requests (credentials, tokens): like the
 * provider's, but never forced, since a metadata or token endpoint need not
 * speak HTTP/2 even when the model API does. */
static inline int cmx_http2_for_side_requests(int provider_mode)
{
    return provider_mode == CMX_HTTP2_OFF ? CMX_HTTP2_OFF : CMX_HTTP2_AUTO;
}

typedef struct cmx_upstream_settings {
    size_t max_idle_per_origin;  /* idle keep-alive connections kept; default 32 */
    size_t max_conns_per_origin; /* in use + idle; beyond it requests wait; default 256 */
    uint32_t idle_expiry_ms;     /* idle connection closed after; default 60000 */
    /* A call that waits longer than this for a connection slot fails with
     * kind unavailable, cause pool_saturated; default 2000, 0: no limit. */
    uint32_t queue_timeout_ms;
    /* An HTTP/2 connection without streams is checked with a PING this
     * often, and closed when the answer does not come before the next one;
     * default 30000. */
    uint32_t http2_ping_interval_ms;
    const char *https_proxy; /* "http://host:port" or NULL; from config or env */
    const char *http_proxy;
    const char *no_proxy; /* comma list as in NO_PROXY */
} cmx_upstream_settings;

/* Defaults, then HTTPS_PROXY/HTTP_PROXY/NO_PROXY (either case) from the environment. */
void cmx_upstream_settings_default(cmx_upstream_settings *s);

/* Defaults and environment, then the config's upstream section on top
 * (upstream_config.c).  The strings stay owned by the config. */
struct cmx_upstream_config;
void cmx_upstream_settings_from_config(const struct cmx_upstream_config *uc,
                                       cmx_upstream_settings *s);

typedef struct cmx_upstream_timeouts {
    uint32_t connect_ms;    /* TCP + TLS handshake (and proxy CONNECT) */
    uint32_t first_byte_ms; /* request written → first response byte */
    uint32_t idle_ms;       /* between two response bytes */
    uint32_t total_ms;      /* whole attempt; 0 = none */
} cmx_upstream_timeouts;

typedef struct cmx_upstream_request {
    const cmx_url *origin; /* scheme/host/port; origin->path is NOT prepended */
    int tls_verify;        /* 1 unless configured off */
    const char *ca_file;   /* NULL: system store */
    int http2;             /* a cmx_http2_mode; 0 (off) unless set */
    const char *method;    /* "POST" */
    const char *path;      /* full path with query, e.g. "/v1/chat/completions" */
    const char *headers;   /* NULL or complete "Name: value\r\n" lines; Host,
                              Content-Length and Connection are added by the client */
    size_t headers_len;
    const char *body;
    size_t body_len;
    cmx_upstream_timeouts timeouts;
} cmx_upstream_request;

typedef struct cmx_upstream_callbacks {
    /* Status and headers (slices valid only during the call). */
    void (*on_head)(void *ctx, int status, const cmx_http_header *headers, size_t n_headers);
    /* Body bytes as they arrive (after de-chunking). */
    void (*on_body)(void *ctx, const char *data, size_t len);
    /* Exactly once, last.  err->kind == CMX_OK when the whole response arrived. */
    void (*on_complete)(void *ctx, const cmx_error *err);
} cmx_upstream_callbacks;

typedef struct cmx_upstream cmx_upstream; /* per-worker client with its pools */
typedef struct cmx_upstream_call cmx_upstream_call;

/* `dns` may be NULL: the client then makes its own from /etc/resolv.conf
 * (IP literals and localhost work without any nameserver).  `settings` may be
 * NULL for cmx_upstream_settings_default(); its strings are copied. */
/* The event loop the client runs on (its worker's). */
struct event_base *cmx_upstream_base(const cmx_upstream *up);
cmx_upstream *cmx_upstream_new(struct event_base *base, struct evdns_base *dns,
                               const cmx_upstream_settings *settings);
/* Closes idle connections and frees everything.  Every call must have
 * completed or been cancelled first; free runs no callbacks. */
void cmx_upstream_free(cmx_upstream *up);

/* Starts a request.  The request's strings are copied; the caller may free
 * them on return.  Returns NULL only when out of memory.  No callback runs
 * before this returns. */
cmx_upstream_call *cmx_upstream_send(cmx_upstream *up, const cmx_upstream_request *req,
                                     const cmx_upstream_callbacks *cb, void *ctx);
/* Backpressure, optional: `backlog(ctx)` tells how many bytes delivered by
 * on_body the consumer has not passed on yet (a slow client's unsent
 * output).  Above CMX_UPSTREAM_BACKLOG_MAX an HTTP/2 call stops giving the
 * provider flow-control window for its stream, so the provider stops
 * sending on that stream alone, and looks again every few milliseconds.
 * HTTP/1.1 calls ignore it. */
#define CMX_UPSTREAM_BACKLOG_MAX (256 * 1024)
void cmx_upstream_watch_backlog(cmx_upstream_call *call, size_t (*backlog)(void *ctx));

/* Abandons a call: no further callbacks; its connection is closed, not pooled.
 * Safe inside a callback of the same call; not after on_complete has run. */
void cmx_upstream_cancel(cmx_upstream_call *call);

/* Pool statistics, for tests and metrics. */
typedef struct cmx_upstream_stats {
    uint64_t connections_opened;
    uint64_t connections_reused;
    uint64_t stale_retries;
    uint64_t idle_now;           /* idle pooled connections */
    uint64_t queue_length;       /* calls waiting for a connection slot now */
    uint64_t queue_waits;        /* calls that had to wait for one */
    uint64_t queue_wait_us;      /* the time they waited, summed */
    uint64_t queue_timeouts;     /* waits that ended in pool_saturated */
    uint64_t h2_connections_now; /* HTTP/2 connections open */
    uint64_t h2_streams_now;     /* HTTP/2 streams open */
    uint64_t h2_streams;         /* HTTP/2 streams started */
    uint64_t h2_refused_retries; /* streams the server did not process, sent again */
    uint64_t h2_goaways;         /* GOAWAY frames received */
    uint64_t h2_ping_failures;   /* idle connections closed for an unanswered PING */
} cmx_upstream_stats;
/* May be called from any thread: the worker keeps the figures in relaxed
 * atomics (one writer each), so a reader sees values they really held. */
void cmx_upstream_get_stats(const cmx_upstream *up, cmx_upstream_stats *out);

#endif
