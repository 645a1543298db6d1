/* h2_upstream.c — a lean streaming LLM upstream for benchmarks: every POST to
 * a path ending in /chat/completions is answered with an OpenAI SSE stream
 * of timed chunks.
 *
 *   h2_upstream [--mode h2c|tls|h1] [--port N] [--tls CERT KEY]
 *               [--max-streams N] [--chunks N] [--gap MS]
 *
 * Modes: h2c (HTTP/2 with prior knowledge), tls (HTTP/2 over TLS, ALPN "h2"
 * only; a client that does not choose it is dropped) and h1 (plain
 * HTTP/1.1, chunked, keep-alive: the direct baseline for a load client that
 * speaks HTTP/1.1).  HTTP/2 advertises SETTINGS_MAX_CONCURRENT_STREAMS N
 * (--max-streams, 250).
 *
 * Each answer is --chunks content chunks (20), the first as soon as the
 * request has arrived and the others --gap ms (500) apart on a fixed
 * schedule, then a finish_reason chunk and "data: [DONE]".  A chunk's content
 * says when it was due and when it was written:
 *
 *   "t=<write µs> s=<scheduled µs>"     (CLOCK_REALTIME µs, one machine:
 *                                        the clock of the kernel's receive
 *                                        timestamps, see stream_client.c)
 *
 * so a client on the same machine computes what the path behind the write
 * added (arrival - t) and the emitter's own lateness (t - s) is known too.
 * The chunk is written to the socket in the timer callback that formats it
 * (plain modes: one send() at once; TLS: through a bufferevent, so on the
 * next loop turn), so t is the moment the bytes leave, give or take
 * microseconds.
 *
 * One thread, one libevent loop, one timer per stream.  Prints
 * "LISTENING <port>" when ready.  On SIGTERM or SIGINT it prints one line
 * and exits:
 *   connections=.. streams=.. chunks=.. max_open_per_conn=..
 *   lag_p50_us=.. lag_p99_us=.. lag_max_us=..
 * (lag: write time minus scheduled time, over every chunk). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

typedef enum mode { MODE_H2C, MODE_TLS, MODE_H1 } mode;

static struct {
    mode mode;
    int port;
    const char *cert, *key;
    uint32_t max_streams;
    int chunks;
    uint64_t gap_us;
} opt = {MODE_H2C, 0, NULL, NULL, 250, 20, 500000};

static struct event_base *base;
static SSL_CTX *ssl_ctx;
static uint64_t n_connections, n_streams, max_open;
static uint32_t *lag_us; /* one per chunk written */
static size_t n_lag, cap_lag;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void note_lag(uint64_t lag)
{
    if (n_lag == cap_lag) {
        cap_lag = cap_lag ? cap_lag * 2 : 1 << 16;
        lag_us = realloc(lag_us, cap_lag * sizeof *lag_us);
        if (!lag_us)
            abort();
    }
    lag_us[n_lag++] = lag > UINT32_MAX ? UINT32_MAX : (uint32_t)lag;
}

/* ---- connections and streams --------------------------------------------- */

typedef struct conn conn;

typedef struct stream {
    struct stream *next, *prev; /* the connection's streams */
    conn *conn;
    int32_t id;        /* HTTP/2 stream id; 0 over HTTP/1.1 */
    int chat;          /* asks for a chat stream (else: 404) */
    int answering;     /* the timer runs */
    int sent;          /* content chunks written */
    int ended;         /* the last bytes are in `pending` */
    uint64_t start_us; /* chunk i is due at start_us + i * gap */
    struct event timer;
    struct evbuffer *pending; /* HTTP/2: bytes nghttp2 has not taken yet */
} stream;

struct conn {
    int fd;
    struct bufferevent *bev; /* TLS only */
    struct event rev, wev;   /* plain modes */
    struct evbuffer *out;    /* plain modes: what the socket did not take */
    struct evbuffer *in;     /* HTTP/1.1: the request being read */
    nghttp2_session *session;
    stream *streams;
    uint64_t open;
    int in_recv; /* inside nghttp2_session_mem_recv: no sending from there */
    int closing;
};

static void conn_free(conn *c);

/* Sends what is queued: plain sockets at once, TLS on the next loop turn. */
static void conn_write(conn *c, const void *data, size_t len)
{
    if (c->bev) {
        bufferevent_write(c->bev, data, len);
        return;
    }
    if (evbuffer_get_length(c->out) == 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            c->closing = 1;
            return;
        }
        if (n < 0)
            n = 0;
        data = (const char *)data + n;
        len -= (size_t)n;
        if (len == 0)
            return;
        event_add(&c->wev, NULL);
    }
    evbuffer_add(c->out, data, len);
}

static stream *stream_new(conn *c, int32_t id)
{
    stream *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->conn = c;
    s->id = id;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    if (++c->open > max_open)
        max_open = c->open;
    n_streams++;
    return s;
}

static void stream_free(stream *s)
{
    conn *c = s->conn;
    if (s->answering)
        event_del(&s->timer);
    if (s->pending)
        evbuffer_free(s->pending);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->open--;
    free(s);
}

/* ---- the answer ---------------------------------------------------------- */

#define CHUNK_HEAD                                                                                 \
    "data: "                                                                                       \
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"      \
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{"
#define LAST_EVENTS                                                                                \
    CHUNK_HEAD "},\"finish_reason\":\"stop\"}]}\n\n"                                               \
               "data: [DONE]\n\n"

/* SSE bytes of content chunk i (stamped now) and, after the last, the end. */
static size_t format_chunk(stream *s, char *buf, size_t size, uint64_t due)
{
    uint64_t t = now_us();
    note_lag(t > due ? t - due : 0);
    int n = snprintf(buf, size,
                     CHUNK_HEAD "%s\"content\":\"t=%llu s=%llu \"},\"finish_reason\":null}]}\n\n%s",
                     s->sent == 0 ? "\"role\":\"assistant\"," : "", (unsigned long long)t,
                     (unsigned long long)due, s->sent + 1 == opt.chunks ? LAST_EVENTS : "");
    s->sent++;
    return (size_t)n;
}

static void h2_flush(conn *c);

static void h1_write_chunk(conn *c, const char *data, size_t len)
{
    char size_line[24];
    int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
    /* One send for the framing and the data. */
    char buf[1024];
    if ((size_t)n + len + 2 <= sizeof buf) {
        memcpy(buf, size_line, (size_t)n);
        memcpy(buf + n, data, len);
        memcpy(buf + n + len, "\r\n", 2);
        conn_write(c, buf, (size_t)n + len + 2);
    } else {
        conn_write(c, size_line, (size_t)n);
        conn_write(c, data, len);
        conn_write(c, "\r\n", 2);
    }
}

static void h1_answer_done(conn *c);
static void h1_received(conn *c);

static void arm_next(stream *s)
{
    uint64_t due = s->start_us + (uint64_t)s->sent * opt.gap_us, now = now_us();
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
    evtimer_add(&s->timer, &tv);
}

static void chunk_due(evutil_socket_t fd, short what, void *arg)
{
    stream *s = arg;
    conn *c = s->conn;
    char buf[1024];
    size_t len = format_chunk(s, buf, sizeof buf, s->start_us + (uint64_t)s->sent * opt.gap_us);
    int last = s->sent == opt.chunks;
    if (s->id) {
        evbuffer_add(s->pending, buf, len);
        s->ended = last;
        s->answering = !last;
        nghttp2_session_resume_data(c->session, s->id);
        if (!last)
            arm_next(s);
        h2_flush(c); /* may close and free s */
    } else {
        h1_write_chunk(c, buf, len);
        if (!last) {
            arm_next(s);
        } else {
            conn_write(c, "0\r\n\r\n", 5);
            s->answering = 0;
            h1_answer_done(c);
        }
    }
    if (c->closing && (what & EV_TIMEOUT))
        conn_free(c);
}

static void start_answer(stream *s)
{
    s->start_us = now_us();
    s->answering = 1;
    evtimer_assign(&s->timer, base, chunk_due, s);
    chunk_due(-1, 0, s); /* not a timeout: the caller deals with closing */
}

/* ---- HTTP/2 -------------------------------------------------------------- */

static ssize_t data_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    stream *s = source->ptr;
    size_t n = (size_t)evbuffer_remove(s->pending, buf, length);
    if (evbuffer_get_length(s->pending) == 0) {
        if (s->ended)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0)
            return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static int reply_status(nghttp2_session *session, stream *s, const char *status)
{
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/event-stream", 12, 17, NGHTTP2_NV_FLAG_NONE},
    };
    if (strcmp(status, "200") != 0) {
        s->ended = 1;
        return nghttp2_submit_response(session, s->id, nv, 1, NULL);
    }
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = data_read};
    return nghttp2_submit_response(session, s->id, nv, 2, &dp);
}

/* A stream's path is kept only as a verdict: does it ask for a chat stream? */
static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    stream *s = stream_new(user_data, frame->hd.stream_id);
    s->pending = evbuffer_new();
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    static const char suffix[] = "/chat/completions";
    if (s && namelen == 5 && memcmp(name, ":path", 5) == 0 && valuelen >= sizeof suffix - 1 &&
        memcmp(value + valuelen - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0)
        s->chat = 1;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    if (!s->chat) {
        reply_status(session, s, "404");
        return 0;
    }
    if (reply_status(session, s, "200") != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    start_answer(s);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code,
                           void *user_data)
{
    stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (s)
        stream_free(s);
    return 0;
}

static void h2_flush(conn *c)
{
    if (c->in_recv)
        return; /* h2_received sends when nghttp2 is off the stack */
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n <= 0) {
            if (n < 0)
                c->closing = 1;
            break;
        }
        conn_write(c, data, (size_t)n);
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
        c->closing = 1;
}

static int h2_start(conn *c)
{
    static nghttp2_session_callbacks *cbs;
    if (!cbs) {
        nghttp2_session_callbacks_new(&cbs);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    }
    if (nghttp2_session_server_new(&c->session, cbs, c) != 0)
        return -1;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opt.max_streams},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1);
    h2_flush(c);
    return 0;
}

static void h2_received(conn *c, const uint8_t *data, size_t len)
{
    c->in_recv = 1;
    ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
    c->in_recv = 0;
    if (n < 0)
        c->closing = 1;
    else
        h2_flush(c);
}

/* ---- HTTP/1.1 ------------------------------------------------------------ */

static void h1_answer_done(conn *c)
{
    stream_free(c->streams);
    h1_received(c); /* a request that came meanwhile */
}

/* Answers the request at the front of c->in once it is all there. */
static void h1_received(conn *c)
{
    if (c->streams)
        return; /* one at a time: the next request waits for this answer */
    struct evbuffer_ptr end = evbuffer_search(c->in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return;
    size_t head_len = (size_t)end.pos + 4;
    char *head = (char *)evbuffer_pullup(c->in, (ev_ssize_t)head_len);
    size_t body_len = 0;
    for (char *p = head; (p = memchr(p, '\n', (size_t)(head + head_len - p))); p++)
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
            body_len = strtoul(p + 16, NULL, 10);
    if (evbuffer_get_length(c->in) < head_len + body_len)
        return;
    char *sp = memchr(head, ' ', head_len);
    char *path_end = sp ? memchr(sp + 1, ' ', head_len - (size_t)(sp + 1 - head)) : NULL;
    static const char suffix[] = "/chat/completions";
    int chat = path_end && strncmp(head, "POST ", 5) == 0 && path_end - sp > 17 &&
               memcmp(path_end - 17, suffix, 17) == 0;
    evbuffer_drain(c->in, head_len + body_len);
    if (!chat) {
        static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        conn_write(c, nf, sizeof nf - 1);
        return;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n";
    conn_write(c, ok, sizeof ok - 1);
    start_answer(stream_new(c, 0));
}

/* ---- sockets ------------------------------------------------------------- */

static void conn_free(conn *c)
{
    if (c->session)
        nghttp2_session_del(c->session); /* calls no stream-close callbacks */
    while (c->streams)
        stream_free(c->streams);
    if (c->bev) {
        bufferevent_free(c->bev);
    } else {
        event_del(&c->rev);
        event_del(&c->wev);
        close(c->fd);
    }
    if (c->out)
        evbuffer_free(c->out);
    if (c->in)
        evbuffer_free(c->in);
    free(c);
}

static void received(conn *c, const uint8_t *data, size_t len)
{
    if (c->session) {
        h2_received(c, data, len);
    } else {
        evbuffer_add(c->in, data, len);
        h1_received(c);
    }
}

static void plain_read(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c);
        return;
    }
    received(c, buf, (size_t)n);
    if (c->closing)
        conn_free(c);
}

static void plain_write(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
        conn_free(c);
        return;
    }
    if (evbuffer_get_length(c->out) > 0)
        event_add(&c->wev, NULL);
}

static void tls_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    received(c, evbuffer_pullup(in, -1), len);
    evbuffer_drain(in, len);
    if (c->closing)
        conn_free(c);
}

static void tls_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &alpn, &alpn_len);
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0 || h2_start(c) != 0)
            conn_free(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    n_connections++;
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.mode == MODE_TLS) {
        SSL *ssl = SSL_new(ssl_ctx);
        c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, tls_read, NULL, tls_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    c->out = evbuffer_new();
    event_assign(&c->rev, base, fd, EV_READ | EV_PERSIST, plain_read, c);
    event_assign(&c->wev, base, fd, EV_WRITE, plain_write, c);
    event_add(&c->rev, NULL);
    if (opt.mode == MODE_H1)
        c->in = evbuffer_new();
    else if (h2_start(c) != 0)
        conn_free(c);
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == 2 && i + 3 <= inlen && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- the report ---------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
    return n_lag ? lag_us[(size_t)(p * (double)(n_lag - 1) + 0.5)] : 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    qsort(lag_us, n_lag, sizeof *lag_us, cmp_u32);
    printf("connections=%llu streams=%llu chunks=%zu max_open_per_conn=%llu lag_p50_us=%u "
           "lag_p99_us=%u lag_max_us=%u\n",
           (unsigned long long)n_connections, (unsigned long long)n_streams, n_lag,
           (unsigned long long)max_open, pct(0.5), pct(0.99), n_lag ? lag_us[n_lag - 1] : 0);
    fflush(stdout);
    _exit(0);
}

static void usage(void)
{
    fprintf(stderr, "usage: h2_upstream [--mode h2c|tls|h1] [--port N] [--tls CERT KEY]\n"
                    "                   [--max-streams N] [--chunks N] [--gap MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            opt.mode = strcmp(m, "tls") == 0 ? MODE_TLS : strcmp(m, "h1") == 0 ? MODE_H1 : MODE_H2C;
            if (opt.mode == MODE_H2C && strcmp(m, "h2c") != 0)
                usage();
        } else if (strcmp(a, "--port") == 0 && i + 1 < argc) {
            opt.port = atoi(argv[++i]);
        } else if (strcmp(a, "--tls") == 0 && i + 2 < argc) {
            opt.cert = argv[++i];
            opt.key = argv[++i];
        } else if (strcmp(a, "--max-streams") == 0 && i + 1 < argc) {
            opt.max_streams = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--chunks") == 0 && i + 1 < argc) {
            opt.chunks = atoi(argv[++i]);
        } else if (strcmp(a, "--gap") == 0 && i + 1 < argc) {
            opt.gap_us = strtoull(argv[++i], NULL, 10) * 1000u;
        } else {
            usage();
        }
    }
    if (opt.chunks < 1 || (opt.mode == MODE_TLS && !opt.cert))
        usage();
    if (opt.mode == MODE_TLS) {
        ssl_ctx = SSL_CTX_new(TLS_server_method());
        if (!ssl_ctx || SSL_CTX_use_certificate_chain_file(ssl_ctx, opt.cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ssl_ctx, opt.key, SSL_FILETYPE_PEM) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_alpn_select_cb(ssl_ctx, select_alpn, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    /* timerfd: chunks leave on time to the microsecond, not the millisecond */
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct evconnlistener *l =
        evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                4096, (struct sockaddr *)&sa, sizeof sa);
    if (!l) {
        perror("h2_upstream: listen");
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, NULL);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, NULL);
    event_add(term, NULL);
    event_add(intr, NULL);
    printf("LISTENING %d\n", ntohs(bound.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    return 0;
}
