/* test_upstream.c — the upstream client against real local servers.
 *
 * Each test starts a small blocking server on 127.0.0.1 in a pthread.  The
 * server runs a "script" per accepted connection (answer normally, stall,
 * reset half way, close between requests, ...), so every failure path is
 * produced by a real socket, not a mock.  TLS tests make a CA and server
 * certificates with the openssl command line into a temporary directory;
 * the proxy test runs a tiny CONNECT proxy in another thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/clock.h"
#include "http/upstream.h"
#include "http/upstream_internal.h"

/* ---------- a scripted blocking test server ---------- */

typedef struct srv srv;
typedef struct sconn {
    srv *s;
    int fd;
    SSL *ssl;
    int index; /* 0 for the first accepted connection */
    char buf[16384];
    size_t len;
} sconn;
typedef void (*srv_script)(sconn *c);

struct srv {
    int lfd;
    int port;
    pthread_t thread;
    atomic_int stop;
    srv_script script;
    SSL_CTX *tls;
    atomic_int accepted;
    atomic_int requests;
    atomic_int client_got_first; /* set by the test when a first body piece arrived */
    atomic_int saw_first_before_rest;
    atomic_int saw_client_close;
    pthread_mutex_t lock;
    char last_request[8192];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for the connection to be readable, checking stop; 1 readable, 0 stop/timeout. */
static int wait_readable(sconn *c, int max_ms)
{
    if (c->ssl && SSL_pending(c->ssl) > 0)
        return 1;
    for (int waited = 0; !atomic_load(&c->s->stop) && (max_ms < 0 || waited < max_ms);
         waited += 20) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0)
            return 1;
    }
    return 0;
}

static ssize_t sc_recv(sconn *c, char *buf, size_t n)
{
    if (!wait_readable(c, -1))
        return -1;
    if (c->ssl) {
        int r = SSL_read(c->ssl, buf, (int)n);
        return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }
    return recv(c->fd, buf, n, 0);
}

static int sc_send(sconn *c, const char *data, size_t n)
{
    if (c->ssl)
        return SSL_write(c->ssl, data, (int)n) == (int)n ? 0 : -1;
    while (n > 0) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sc_say(sconn *c, const char *s)
{
    return sc_send(c, s, strlen(s));
}

/* Reads one whole request (head + Content-Length body); its length, or -1 at EOF. */
static ssize_t sc_read_request(sconn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end + 4 - c->buf);
            size_t body = 0;
            for (char *h = c->buf; h < end; h++)
                if ((h == c->buf || h[-1] == '\n') && strncasecmp(h, "Content-Length:", 15) == 0)
                    body = strtoul(h + 15, NULL, 10);
            if (c->len >= head + body) {
                size_t total = head + body;
                pthread_mutex_lock(&c->s->lock);
                size_t keep =
                    total < sizeof c->s->last_request - 1 ? total : sizeof c->s->last_request - 1;
                memcpy(c->s->last_request, c->buf, keep);
                c->s->last_request[keep] = '\0';
                pthread_mutex_unlock(&c->s->lock);
                memmove(c->buf, c->buf + total, c->len - total);
                c->len -= total;
                atomic_fetch_add(&c->s->requests, 1);
                return (ssize_t)total;
            }
        }
        if (c->len == sizeof c->buf)
            return -1;
        ssize_t n = sc_recv(c, c->buf + c->len, sizeof c->buf - c->len);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
}

/* Blocks until the client closes (or the server stops); records the close. */
static void sc_wait_close(sconn *c)
{
    char tmp[4096];
    while (sc_recv(c, tmp, sizeof tmp) > 0)
        ;
    if (!atomic_load(&c->s->stop))
        atomic_store(&c->s->saw_client_close, 1);
}

static void *conn_main(void *arg)
{
    sconn *c = arg;
    srv *s = c->s;
    int ok = 1;
    if (s->tls) {
        c->ssl = SSL_new(s->tls);
        SSL_set_fd(c->ssl, c->fd);
        ok = SSL_accept(c->ssl) == 1;
        ERR_clear_error();
    }
    if (ok)
        s->script(c);
    if (c->ssl) {
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    free(c);
    return NULL;
}

/* One thread per connection, so a kept-alive connection never blocks the next. */
static void *srv_main(void *arg)
{
    srv *s = arg;
    pthread_t threads[64];
    int n = 0;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0 || n == 64)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        /* A handshake the client abandons must not block the thread forever. */
        struct timeval tv = {3, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sconn *c = calloc(1, sizeof *c);
        c->s = s;
        c->fd = fd;
        c->index = atomic_fetch_add(&s->accepted, 1);
        pthread_create(&threads[n++], NULL, conn_main, c);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    return NULL;
}

static int listen_loopback(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static srv *srv_start(srv_script script, SSL_CTX *tls)
{
    srv *s = calloc(1, sizeof *s);
    s->script = script;
    s->tls = tls;
    pthread_mutex_init(&s->lock, NULL);
    s->lfd = listen_loopback(&s->port, 16);
    pthread_create(&s->thread, NULL, srv_main, s);
    return s;
}

static void srv_stop(srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---------- scripts ---------- */

static const char ok_response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\nContent-Type: text/plain\r\n\r\nhello";

static void script_keepalive_hello(sconn *c)
{
    while (sc_read_request(c) >= 0)
        if (sc_say(c, ok_response) != 0)
            return;
}

static void script_echo(sconn *c)
{
    ssize_t n;
    while ((n = sc_read_request(c)) >= 0) {
        char *body = strstr(c->s->last_request, "\r\n\r\n") + 4;
        char out[9000];
        int len = snprintf(out, sizeof out, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(body), body);
        if (sc_send(c, out, (size_t)len) != 0)
            return;
    }
}

static void script_chunked_slow(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n"
              "\r\n6\r\ndata:1\r\n");
    /* Only send the rest once the client has seen the first piece. */
    for (int i = 0; i < 150 && !atomic_load(&c->s->client_got_first); i++)
        sleep_ms(20);
    atomic_store(&c->s->saw_first_before_rest, atomic_load(&c->s->client_got_first));
    sc_say(c, "6\r\ndata:2\r\n");
    sleep_ms(30);
    sc_say(c, "6\r\ndata:3\r\n0\r\n\r\n");
    script_keepalive_hello(c);
}

static void script_close_delimited(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of this ");
    sleep_ms(20);
    sc_say(c, "until the close");
}

/* First connection: answers one request, then reads the next and closes. */
static void script_close_after_second_request(sconn *c)
{
    if (c->index > 0) {
        script_keepalive_hello(c);
        return;
    }
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, ok_response);
    sc_read_request(c);
}

static void reset_now(sconn *c)
{
    struct linger l = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* Second request on the connection gets half an answer, then a reset. */
static void script_half_then_reset(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, ok_response);
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    sleep_ms(50);
    reset_now(c);
}

static void script_read_then_silence(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_wait_close(c);
}

static void script_silence(sconn *c)
{
    sc_wait_close(c);
}

static void script_head_then_stall(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
    sc_wait_close(c);
}

static void script_trickle(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    for (int i = 0; i < 200 && !atomic_load(&c->s->stop); i++) {
        if (sc_say(c, "x") != 0)
            return;
        sleep_ms(20);
    }
}

/* 15 body bytes 50 ms apart (750 ms in all), then nothing. */
static void script_trickle_then_stall(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    for (int i = 0; i < 15 && !atomic_load(&c->s->stop); i++) {
        if (sc_say(c, "x") != 0)
            return;
        sleep_ms(50);
    }
    sc_wait_close(c);
}

static void script_garbage(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "SMTP ready, not HTTP\r\n\r\n");
    sc_wait_close(c);
}

static void script_continue_then_ok(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 100 Continue\r\n\r\n");
    sc_say(c, ok_response);
    script_keepalive_hello(c);
}

static void script_stream_until_closed(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 250 && !atomic_load(&c->s->stop); i++) {
        if (sc_say(c, "5\r\nchunk\r\n") != 0)
            break;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0) {
            char tmp[64];
            if (recv(c->fd, tmp, sizeof tmp, 0) <= 0)
                break;
        }
    }
    if (!atomic_load(&c->s->stop))
        atomic_store(&c->s->saw_client_close, 1);
}

static void script_head_in_pieces(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    const char *pieces[] = {"HTTP/1.1 200 OK\r\nX-Te", "st: spl", "it\r\nContent-Le",
                            "ngth: 2\r\n\r\no", "k"};
    for (size_t i = 0; i < 5; i++) {
        sc_say(c, pieces[i]);
        sleep_ms(20);
    }
    script_keepalive_hello(c);
}

static void script_too_many_headers(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 150; i++)
        sc_say(c, "X-Many: header\r\n");
    sc_say(c, "Content-Length: 0\r\n\r\n");
    sc_wait_close(c);
}

/* The first connection answers with stray bytes right behind the response
 * (in the same write); later ones answer normally. */
static void script_answer_with_stray_bytes(sconn *c)
{
    if (c->index > 0) {
        script_keepalive_hello(c);
        return;
    }
    if (sc_read_request(c) < 0)
        return;
    char out[256];
    snprintf(out, sizeof out, "%sHTTP/1.1 200 OK\r\n", ok_response);
    sc_say(c, out);
    sc_wait_close(c);
}

/* The first connection answers once and closes; later ones keep alive. */
static void script_answer_then_close(sconn *c)
{
    if (c->index > 0) {
        script_keepalive_hello(c);
        return;
    }
    if (sc_read_request(c) >= 0)
        sc_say(c, ok_response);
}

/* The second answer on a connection comes after a pause. */
static void script_slow_second_answer(sconn *c)
{
    if (sc_read_request(c) < 0)
        return;
    sc_say(c, ok_response);
    if (sc_read_request(c) < 0)
        return;
    sleep_ms(400);
    sc_say(c, ok_response);
    sc_wait_close(c);
}

/* ---------- the client side ---------- */

typedef struct result {
    struct event_base *base;
    cmx_upstream_call *call;
    int head_calls, body_calls, completes;
    int status;
    char x_test[32];
    char body[65536];
    size_t body_len;
    cmx_error err;
    srv *s;             /* to flag the first body piece */
    int cancel_in_body; /* cancel the call from its first on_body */
    int *done_counter;
} result;

static void on_head(void *ctx, int status, const cmx_http_header *h, size_t n)
{
    result *r = ctx;
    r->head_calls++;
    r->status = status;
    for (size_t i = 0; i < n; i++)
        if (cmx_slice_case_eq(h[i].name, "x-test"))
            snprintf(r->x_test, sizeof r->x_test, "%.*s", (int)h[i].value.len, h[i].value.ptr);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    result *r = ctx;
    r->body_calls++;
    if (r->body_len + len < sizeof r->body) {
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
    }
    if (r->s)
        atomic_store(&r->s->client_got_first, 1);
    if (r->cancel_in_body)
        cmx_upstream_cancel(r->call);
}

static void on_complete(void *ctx, const cmx_error *err)
{
    result *r = ctx;
    r->completes++;
    r->err = *err;
    if (r->done_counter)
        (*r->done_counter)++;
}

static const cmx_upstream_callbacks callbacks = {on_head, on_body, on_complete};

typedef struct fixture {
    struct event_base *base;
    cmx_upstream *up;
    cmx_url origin;
} fixture;

static cmx_upstream_request make_request(fixture *f, const char *method, const char *path,
                                         const char *body)
{
    cmx_upstream_request req = {0};
    req.origin = &f->origin;
    req.tls_verify = 1;
    req.method = method;
    req.path = path;
    req.headers = "X-Client: test\r\n";
    req.headers_len = strlen(req.headers);
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeouts.connect_ms = 2000;
    req.timeouts.first_byte_ms = 2000;
    req.timeouts.idle_ms = 2000;
    req.timeouts.total_ms = 5000;
    return req;
}

/* Runs the loop until *counter reaches target (or 10 s pass). */
static void run_until(struct event_base *base, int *counter, int target)
{
    uint64_t deadline = cmx_now_us() + 10 * 1000000ull;
    struct timeval tick = {0, 10000};
    while (*counter < target && cmx_now_us() < deadline) {
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
}

static void run_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Like assert_int_equal on the kind, but shows the message on failure. */
static void expect_kind(const result *r, cmx_err kind)
{
    if (r->err.kind != kind)
        print_error("got %s (%s): %s\n", cmx_err_name(r->err.kind), cmx_cause_name(r->err.cause),
                    r->err.message);
    assert_int_equal(r->err.kind, kind);
}

static void run_call(fixture *f, const cmx_upstream_request *req, result *r)
{
    r->call = cmx_upstream_send(f->up, req, &callbacks, r);
    assert_non_null(r->call);
    assert_int_equal(r->completes, 0); /* no callback inside send */
    run_until(f->base, &r->completes, 1);
    assert_int_equal(r->completes, 1);
}

static void fixture_origin(fixture *f, int tls, const char *host, int port)
{
    char url[300];
    snprintf(url, sizeof url, "%s://%s:%d", tls ? "https" : "http", host, port);
    cmx_error err;
    assert_int_equal(cmx_url_parse(url, &f->origin, &err), CMX_OK);
}

static int setup_with(void **state, const cmx_upstream_settings *settings)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.https_proxy = s.http_proxy = s.no_proxy = NULL;
    f->up = cmx_upstream_new(f->base, NULL, settings ? settings : &s);
    assert_non_null(f->up);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_upstream_free(f->up);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* ---------- plain HTTP ---------- */

static void gets_body_with_content_length_and_headers(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/v1/models?x=1", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.head_calls, 1);
    assert_string_equal(r.x_test, "yes");
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    char expect_host[64];
    snprintf(expect_host, sizeof expect_host, "Host: 127.0.0.1:%d\r\n", s->port);
    assert_non_null(strstr(s->last_request, "GET /v1/models?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s->last_request, expect_host));
    assert_non_null(strstr(s->last_request, "X-Client: test\r\n"));
    assert_null(strstr(s->last_request, "Content-Length"));
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.idle_now, 1);
    srv_stop(s);
}

static void posts_body_with_content_length(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_echo, NULL);
    fixture_origin(f, 0, "localhost", s->port);
    cmx_upstream_request req = make_request(f, "POST", "/v1/chat/completions", "{\"model\":\"m\"}");
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, 13);
    assert_memory_equal(r.body, "{\"model\":\"m\"}", 13);
    assert_non_null(strstr(s->last_request, "Content-Length: 13\r\n\r\n{\"model\":\"m\"}"));
    srv_stop(s);
}

static void delivers_chunked_body_piece_by_piece(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_chunked_slow, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "POST", "/stream", "{}");
    result r = {0};
    r.s = s;
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_true(atomic_load(&s->saw_first_before_rest)); /* streamed, not buffered */
    assert_true(r.body_calls >= 2);
    assert_int_equal(r.body_len, 18);
    assert_memory_equal(r.body, "data:1data:2data:3", 18);
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.idle_now, 1); /* a chunked response ends cleanly: pooled */
    srv_stop(s);
}

static void reads_close_delimited_body_and_does_not_pool(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_close_delimited, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_string_equal(r.body, "all of this until the close");
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.idle_now, 0);
    srv_stop(s);
}

static void ignores_interim_1xx_answer(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_continue_then_ok, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "POST", "/", "x");
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_int_equal(r.head_calls, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    srv_stop(s);
}

static void assembles_headers_split_across_reads(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_head_in_pieces, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_string_equal(r.x_test, "split");
    assert_string_equal(r.body, "ok");
    srv_stop(s);
}

static void rejects_response_with_too_many_headers(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_too_many_headers, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_string_equal(r.err.message, "malformed response: more than 100 headers");
    assert_int_equal(r.head_calls, 0);
    srv_stop(s);
}

static void reuses_pooled_connection(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    for (int i = 0; i < 2; i++) {
        result r = {0};
        run_call(f, &req, &r);
        expect_kind(&r, CMX_OK);
    }
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.connections_reused, 1);
    assert_int_equal(atomic_load(&s->accepted), 1);
    assert_int_equal(atomic_load(&s->requests), 2);
    srv_stop(s);
}

static int setup_one_conn(void **state)
{
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.https_proxy = s.http_proxy = s.no_proxy = NULL;
    s.max_conns_per_origin = 1;
    return setup_with(state, &s);
}

static void does_not_pool_connection_with_bytes_after_the_response(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_answer_with_stray_bytes, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    for (int i = 0; i < 2; i++) {
        result r = {0};
        run_call(f, &req, &r);
        expect_kind(&r, CMX_OK);
        assert_string_equal(r.body, "hello");
    }
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_reused, 0);
    assert_int_equal(st.connections_opened, 2);
    assert_int_equal(atomic_load(&s->accepted), 2);
    srv_stop(s);
}

/* An idle pooled connection that the origin closes leaves the pool at once,
 * so the next call opens a fresh one instead of meeting a dead one. */
static void drops_pooled_connection_the_origin_closed(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_answer_then_close, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r1 = {0}, r2 = {0};
    run_call(f, &req, &r1);
    expect_kind(&r1, CMX_OK);
    cmx_upstream_stats st;
    for (int i = 0; i < 200; i++) {
        cmx_upstream_get_stats(f->up, &st);
        if (st.idle_now == 0)
            break;
        run_ms(f->base, 10);
    }
    assert_int_equal(st.idle_now, 0);
    run_call(f, &req, &r2);
    expect_kind(&r2, CMX_OK);
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.stale_retries, 0);
    assert_int_equal(st.connections_reused, 0);
    assert_int_equal(st.connections_opened, 2);
    srv_stop(s);
}

static int setup_short_idle_expiry(void **state)
{
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.https_proxy = s.http_proxy = s.no_proxy = NULL;
    s.idle_expiry_ms = 150;
    return setup_with(state, &s);
}

/* The idle expiry belongs to the pool: a call on a reused connection may
 * take longer than it, and the connection expires once idle again. */
static void idle_expiry_spares_calls_and_closes_idle_connections(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_slow_second_answer, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r1 = {0}, r2 = {0};
    run_call(f, &req, &r1);
    expect_kind(&r1, CMX_OK);
    run_call(f, &req, &r2); /* answered after 400 ms, beyond the 150 ms expiry */
    expect_kind(&r2, CMX_OK);
    assert_string_equal(r2.body, "hello");
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_reused, 1);
    assert_int_equal(st.idle_now, 1);
    for (int i = 0; i < 300 && !atomic_load(&s->saw_client_close); i++)
        run_ms(f->base, 10);
    assert_true(atomic_load(&s->saw_client_close));
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.idle_now, 0);
    srv_stop(s);
}

static void queues_requests_beyond_max_conns_per_origin(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r[3] = {{0}};
    int done = 0;
    for (int i = 0; i < 3; i++) {
        r[i].done_counter = &done;
        assert_non_null(cmx_upstream_send(f->up, &req, &callbacks, &r[i]));
    }
    run_until(f->base, &done, 3);
    for (int i = 0; i < 3; i++) {
        expect_kind(&r[i], CMX_OK);
        assert_string_equal(r[i].body, "hello");
    }
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.connections_reused, 2);
    assert_int_equal(atomic_load(&s->accepted), 1);
    srv_stop(s);
}

/* Each answer takes 600 ms. */
static void script_slow_answers(sconn *c)
{
    while (sc_read_request(c) >= 0) {
        sleep_ms(600);
        if (sc_say(c, ok_response) != 0)
            return;
    }
}

static int setup_one_conn_short_queue(void **state)
{
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.https_proxy = s.http_proxy = s.no_proxy = NULL;
    s.max_conns_per_origin = 1;
    s.queue_timeout_ms = 200;
    return setup_with(state, &s);
}

static void queued_call_fails_as_pool_saturated_after_queue_timeout(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_slow_answers, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result first = {0}, second = {0};
    int done = 0;
    first.done_counter = second.done_counter = &done;
    assert_non_null(cmx_upstream_send(f->up, &req, &callbacks, &first));
    assert_non_null(cmx_upstream_send(f->up, &req, &callbacks, &second));
    uint64_t t0 = cmx_now_us();
    run_until(f->base, &second.completes, 1);
    uint64_t waited_ms = (cmx_now_us() - t0) / 1000;
    expect_kind(&second, CMX_ERR_UNAVAILABLE);
    assert_int_equal(second.err.cause, CMX_CAUSE_POOL_SATURATED);
    assert_non_null(strstr(second.err.message, "within 200 ms"));
    assert_true(waited_ms >= 190 && waited_ms < 550); /* before the first answer (600 ms) */
    assert_int_equal(first.completes, 0);
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.queue_waits, 1);
    assert_int_equal(st.queue_timeouts, 1);
    assert_int_equal(st.queue_length, 0);
    assert_true(st.queue_wait_us >= 190000);
    run_until(f->base, &done, 2);
    expect_kind(&first, CMX_OK);
    srv_stop(s);
}

static void queue_length_is_reported_while_calls_wait(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_slow_answers, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r[3] = {{0}};
    int done = 0;
    for (int i = 0; i < 3; i++) {
        r[i].done_counter = &done;
        assert_non_null(cmx_upstream_send(f->up, &req, &callbacks, &r[i]));
    }
    run_ms(f->base, 50);
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.queue_length, 2);
    run_until(f->base, &done, 3);
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.queue_length, 0);
    assert_int_equal(st.queue_timeouts, 2);
    srv_stop(s);
}

static void retries_once_when_pooled_connection_was_closed(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_close_after_second_request, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "POST", "/", "again");
    result r1 = {0}, r2 = {0};
    run_call(f, &req, &r1);
    expect_kind(&r1, CMX_OK);
    run_call(f, &req, &r2);
    expect_kind(&r2, CMX_OK);
    assert_string_equal(r2.body, "hello");
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.stale_retries, 1);
    assert_int_equal(st.connections_reused, 1);
    assert_int_equal(st.connections_opened, 2);
    assert_int_equal(atomic_load(&s->accepted), 2);
    assert_int_equal(atomic_load(&s->requests), 3);
    srv_stop(s);
}

static void does_not_retry_after_a_response_byte(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_half_then_reset, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r1 = {0}, r2 = {0};
    run_call(f, &req, &r1);
    expect_kind(&r1, CMX_OK);
    run_call(f, &req, &r2); /* on the reused connection */
    expect_kind(&r2, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r2.err.cause, CMX_CAUSE_RESET);
    assert_non_null(strstr(r2.err.message, "after 7 body bytes"));
    assert_int_equal(r2.body_len, 7);
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.stale_retries, 0);
    assert_int_equal(st.idle_now, 0);
    assert_int_equal(atomic_load(&s->accepted), 1);
    assert_int_equal(atomic_load(&s->requests), 2);
    srv_stop(s);
}

static void reports_connect_refused(void **state)
{
    fixture *f = *state;
    int port;
    int fd = listen_loopback(&port, -1); /* bound, not listening: SYN gets RST */
    fixture_origin(f, 0, "127.0.0.1", port);
    cmx_upstream_request req = make_request(f, "POST", "/", "secret-body");
    req.headers = "Authorization: Bearer sk-very-secret\r\n";
    req.headers_len = strlen(req.headers);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_CONNECT_REFUSED);
    char expect[64];
    snprintf(expect, sizeof expect, "connect to 127.0.0.1:%d refused", port);
    assert_string_equal(r.err.message, expect);
    assert_int_equal(r.head_calls, 0);
    close(fd);
}

static void times_out_connecting_when_tls_handshake_never_answers(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_silence, NULL); /* TCP accepted, ClientHello ignored */
    fixture_origin(f, 1, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.timeouts.connect_ms = 150;
    result r = {0};
    uint64_t t0 = cmx_now_us();
    run_call(f, &req, &r);
    uint64_t took_ms = (cmx_now_us() - t0) / 1000;
    expect_kind(&r, CMX_ERR_TIMEOUT);
    assert_int_equal(r.err.cause, CMX_CAUSE_CONNECT_TIMEOUT);
    assert_non_null(strstr(r.err.message, "150 ms"));
    assert_non_null(strstr(r.err.message, "TLS handshake"));
    assert_true(took_ms >= 140 && took_ms < 150 * 5);
    srv_stop(s);
}

static void times_out_waiting_for_first_byte(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_read_then_silence, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.timeouts.first_byte_ms = 150;
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_TIMEOUT);
    assert_int_equal(r.err.cause, CMX_CAUSE_FIRST_BYTE_TIMEOUT);
    assert_string_equal(r.err.message, "no response byte within 150 ms");
    /* The timed-out connection is closed, not pooled. */
    run_ms(f->base, 100);
    for (int i = 0; i < 100 && !atomic_load(&s->saw_client_close); i++)
        sleep_ms(10);
    assert_true(atomic_load(&s->saw_client_close));
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.idle_now, 0);
    srv_stop(s);
}

static void times_out_when_response_stalls(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_head_then_stall, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.timeouts.idle_ms = 150;
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_TIMEOUT);
    assert_int_equal(r.err.cause, CMX_CAUSE_IDLE_TIMEOUT);
    assert_non_null(strstr(r.err.message, "after 3 body bytes"));
    assert_int_equal(r.head_calls, 1);
    srv_stop(s);
}

/* The idle deadline counts from the last byte, not from the first: a
 * response trickling for longer than idle_ms is not cut while bytes come. */
static void idle_deadline_follows_the_last_byte(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_trickle_then_stall, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.timeouts.idle_ms = 400;
    result r = {0};
    uint64_t t0 = cmx_now_us();
    run_call(f, &req, &r);
    uint64_t took_ms = (cmx_now_us() - t0) / 1000;
    expect_kind(&r, CMX_ERR_TIMEOUT);
    assert_int_equal(r.err.cause, CMX_CAUSE_IDLE_TIMEOUT);
    assert_non_null(strstr(r.err.message, "after 15 body bytes"));
    assert_true(took_ms >= 700 + 400 - 50);
    srv_stop(s);
}

static void times_out_on_total_deadline_while_bytes_trickle(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_trickle, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.timeouts.idle_ms = 1000;
    req.timeouts.total_ms = 300;
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_TIMEOUT);
    assert_int_equal(r.err.cause, CMX_CAUSE_TOTAL_TIMEOUT);
    assert_non_null(strstr(r.err.message, "300 ms"));
    assert_true(r.body_calls > 1);
    srv_stop(s);
}

static void reports_malformed_response_as_protocol_error(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_garbage, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(r.err.cause, CMX_CAUSE_PROTOCOL);
    assert_non_null(strstr(r.err.message, "malformed response"));
    assert_int_equal(r.head_calls, 0);
    srv_stop(s);
}

static void reports_dns_failure_without_nameservers(void **state)
{
    fixture *f = *state;
    struct evdns_base *dns = evdns_base_new(f->base, 0); /* no nameservers at all */
    cmx_upstream_settings set;
    cmx_upstream_settings_default(&set);
    set.https_proxy = set.http_proxy = set.no_proxy = NULL;
    cmx_upstream *up = cmx_upstream_new(f->base, dns, &set);
    cmx_error err;
    assert_int_equal(cmx_url_parse("http://api.example.invalid:8080", &f->origin, &err), CMX_OK);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    r.call = cmx_upstream_send(up, &req, &callbacks, &r);
    run_until(f->base, &r.completes, 1);
    assert_int_equal(r.completes, 1);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_DNS);
    assert_non_null(strstr(r.err.message, "api.example.invalid"));
    cmx_upstream_free(up);
    evdns_base_free(dns, 0);
}

/* ---------- a tiny DNS server for evdns ---------- */

typedef struct dns_srv {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    atomic_int queries; /* for "api.test" */
} dns_srv;

/* Answers A 127.0.0.1 for api.test, nothing for its AAAA, NXDOMAIN otherwise. */
static void *dns_main(void *arg)
{
    dns_srv *d = arg;
    while (!atomic_load(&d->stop)) {
        struct pollfd p = {d->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        unsigned char q[512], a[600];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(d->fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
        if (n < 17)
            continue;
        size_t i = 12;
        char name[256] = "";
        while (i < (size_t)n && q[i] != 0) {
            size_t l = q[i];
            if (strlen(name) + l + 2 > sizeof name || i + 1 + l > (size_t)n)
                break;
            if (name[0])
                strcat(name, ".");
            strncat(name, (char *)q + i + 1, l);
            i += 1 + l;
        }
        size_t qend = i + 5;
        if (qend > (size_t)n)
            continue;
        int qtype = q[i + 1] << 8 | q[i + 2];
        int known = strcasecmp(name, "api.test") == 0;
        int answer = known && qtype == 1;
        if (known && qtype == 1)
            atomic_fetch_add(&d->queries, 1);
        memcpy(a, q, qend);
        a[2] = 0x81;
        a[3] = known ? 0x80 : 0x83; /* RA, rcode 0 or NXDOMAIN */
        a[4] = 0, a[5] = 1;         /* one question */
        a[6] = 0, a[7] = answer ? 1 : 0;
        memset(a + 8, 0, 4);
        size_t len = qend;
        if (answer) {
            const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
            memcpy(a + len, rr, sizeof rr);
            len += sizeof rr;
        }
        sendto(d->fd, a, len, 0, (struct sockaddr *)&from, flen);
    }
    return NULL;
}

static dns_srv *dns_start(void)
{
    dns_srv *d = calloc(1, sizeof *d);
    d->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(d->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(d->fd, (struct sockaddr *)&a, &len);
    d->port = ntohs(a.sin_port);
    pthread_create(&d->thread, NULL, dns_main, d);
    return d;
}

static void dns_stop(dns_srv *d)
{
    atomic_store(&d->stop, 1);
    pthread_join(d->thread, NULL);
    close(d->fd);
    free(d);
}

static void resolves_names_with_evdns_and_caches_them(void **state)
{
    fixture *f = *state;
    dns_srv *d = dns_start();
    srv *s = srv_start(script_keepalive_hello, NULL);
    struct evdns_base *dns = evdns_base_new(f->base, 0);
    char ns[64];
    snprintf(ns, sizeof ns, "127.0.0.1:%d", d->port);
    assert_int_equal(evdns_base_nameserver_ip_add(dns, ns), 0);
    cmx_upstream_settings set;
    cmx_upstream_settings_default(&set);
    set.https_proxy = set.http_proxy = set.no_proxy = NULL;
    set.max_idle_per_origin = 0; /* every request connects, and so resolves */
    cmx_upstream *up = cmx_upstream_new(f->base, dns, &set);

    fixture_origin(f, 0, "api.test", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    for (int i = 0; i < 2; i++) {
        result r = {0};
        r.call = cmx_upstream_send(up, &req, &callbacks, &r);
        run_until(f->base, &r.completes, 1);
        expect_kind(&r, CMX_OK);
        assert_string_equal(r.body, "hello");
    }
    assert_int_equal(atomic_load(&d->queries), 1); /* the second came from the cache */
    assert_int_equal(atomic_load(&s->accepted), 2);
    char expect_host[64];
    snprintf(expect_host, sizeof expect_host, "Host: api.test:%d\r\n", s->port);
    assert_non_null(strstr(s->last_request, expect_host));

    fixture_origin(f, 0, "nx.test", s->port);
    result r = {0};
    r.call = cmx_upstream_send(up, &req, &callbacks, &r);
    run_until(f->base, &r.completes, 1);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_DNS);
    assert_non_null(strstr(r.err.message, "cannot resolve nx.test"));

    cmx_upstream_free(up);
    evdns_base_free(dns, 0);
    srv_stop(s);
    dns_stop(d);
}

static void cancel_inside_on_body_stops_callbacks_and_closes(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_stream_until_closed, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    r.cancel_in_body = 1;
    r.call = cmx_upstream_send(f->up, &req, &callbacks, &r);
    run_until(f->base, &r.body_calls, 1);
    run_ms(f->base, 100);
    assert_int_equal(r.body_calls, 1);
    assert_int_equal(r.completes, 0);
    for (int i = 0; i < 200 && !atomic_load(&s->saw_client_close); i++)
        sleep_ms(10);
    assert_true(atomic_load(&s->saw_client_close));
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.idle_now, 0);
    srv_stop(s);
}

static void cancel_before_start_runs_no_callback(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, NULL);
    fixture_origin(f, 0, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    r.call = cmx_upstream_send(f->up, &req, &callbacks, &r);
    cmx_upstream_cancel(r.call);
    run_ms(f->base, 100);
    assert_int_equal(r.head_calls + r.body_calls + r.completes, 0);
    assert_int_equal(atomic_load(&s->requests), 0);
    srv_stop(s);
}

/* ---------- TLS ---------- */

static char tls_dir[256];
static SSL_CTX *tls_good, *tls_wrong_name;

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
    char c[512], k[512];
    snprintf(c, sizeof c, "%s/%s", tls_dir, cert);
    snprintf(k, sizeof k, "%s/%s", tls_dir, key);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(ctx, c) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int tls_group_setup(void **state)
{
    snprintf(tls_dir, sizeof tls_dir, "/tmp/cmx-upstream-tls-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > good.ext && "
             "printf 'subjectAltName=DNS:other.example\\n' > wrong.ext && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=cmx-test-ca && "
             "for n in good wrong; do "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout $n.key -out $n.csr -subj /CN=$n && "
             "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -set_serial 0x$(od -An -N8 "
             "-tx1 /dev/urandom | tr -d ' \\n') -days 2 -extfile $n.ext -out $n.pem || exit 1; "
             "done",
             tls_dir);
    char full[4200];
    snprintf(full, sizeof full, "(%s) >/dev/null 2>&1", cmd);
    if (system(full) != 0)
        return -1;
    tls_good = server_ctx("good.pem", "good.key");
    tls_wrong_name = server_ctx("wrong.pem", "wrong.key");
    return tls_good && tls_wrong_name ? 0 : -1;
}

static int tls_group_teardown(void **state)
{
    SSL_CTX_free(tls_good);
    SSL_CTX_free(tls_wrong_name);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *ca_path(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/ca.pem", tls_dir);
    return p;
}

static void tls_succeeds_with_configured_ca(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, tls_good);
    fixture_origin(f, 1, "localhost", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.ca_file = ca_path();
    for (int i = 0; i < 2; i++) {
        result r = {0};
        run_call(f, &req, &r);
        expect_kind(&r, CMX_OK);
        assert_string_equal(r.body, "hello");
    }
    /* and by IP address, verified against the IP SAN */
    fixture_origin(f, 1, "127.0.0.1", s->port);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    cmx_upstream_stats st;
    cmx_upstream_get_stats(f->up, &st);
    assert_int_equal(st.connections_reused, 1);
    assert_int_equal(st.connections_opened, 2);
    srv_stop(s);
}

static void tls_fails_against_system_store(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, tls_good);
    fixture_origin(f, 1, "localhost", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_TLS);
    assert_non_null(strstr(r.err.message, "certificate verification failed"));
    assert_int_equal(atomic_load(&s->requests), 0);
    srv_stop(s);
}

static void tls_succeeds_without_verification(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, tls_wrong_name);
    fixture_origin(f, 1, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.tls_verify = 0;
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_OK);
    assert_string_equal(r.body, "hello");
    srv_stop(s);
}

static void tls_fails_on_host_name_mismatch(void **state)
{
    fixture *f = *state;
    srv *s = srv_start(script_keepalive_hello, tls_wrong_name);
    fixture_origin(f, 1, "localhost", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.ca_file = ca_path();
    result r = {0};
    run_call(f, &req, &r);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_TLS);
    assert_non_null(strstr(r.err.message, "mismatch"));
    srv_stop(s);
}

/* ---------- CONNECT proxy ---------- */

typedef struct proxy {
    int lfd, port;
    pthread_t thread;
    atomic_int stop;
    atomic_int connects;
    char seen[256];
} proxy;

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pl = {p->lfd, POLLIN, 0};
        if (poll(&pl, 1, 20) <= 0)
            continue;
        int cfd = accept(p->lfd, NULL, NULL);
        if (cfd < 0)
            continue;
        char buf[2048];
        size_t len = 0;
        while (len < sizeof buf - 1 && !memmem(buf, len, "\r\n\r\n", 4)) {
            ssize_t n = recv(cfd, buf + len, sizeof buf - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        buf[len] = '\0';
        char *eol = strstr(buf, "\r\n");
        if (eol)
            *eol = '\0';
        snprintf(p->seen, sizeof p->seen, "%.200s", buf);
        atomic_fetch_add(&p->connects, 1);
        int port = 0;
        char *colon = strrchr(buf, ':');
        if (strncmp(buf, "CONNECT 127.0.0.1:", 18) == 0 && colon)
            port = atoi(colon + 1); /* only ever loopback */
        int ofd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (port == 0 || connect(ofd, (struct sockaddr *)&a, sizeof a) != 0) {
            const char *no = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
            send(cfd, no, strlen(no), MSG_NOSIGNAL);
        } else {
            const char *yes = "HTTP/1.1 200 Connection established\r\n\r\n";
            send(cfd, yes, strlen(yes), MSG_NOSIGNAL);
            struct pollfd fds[2] = {{cfd, POLLIN, 0}, {ofd, POLLIN, 0}};
            while (!atomic_load(&p->stop)) {
                if (poll(fds, 2, 20) <= 0)
                    continue;
                int from = fds[0].revents ? 0 : 1;
                ssize_t n = recv(fds[from].fd, buf, sizeof buf, 0);
                if (n <= 0 || send(fds[1 - from].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                    break;
            }
        }
        close(ofd);
        close(cfd);
    }
    return NULL;
}

static proxy *proxy_start(void)
{
    proxy *p = calloc(1, sizeof *p);
    p->lfd = listen_loopback(&p->port, 16);
    pthread_create(&p->thread, NULL, proxy_main, p);
    return p;
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    free(p);
}

static void goes_through_connect_proxy_unless_no_proxy_matches(void **state)
{
    fixture *f = *state;
    proxy *p = proxy_start();
    srv *s = srv_start(script_keepalive_hello, tls_good);
    char proxy_url[64], no_proxy[64];
    snprintf(proxy_url, sizeof proxy_url, "http://user:pa%%40ss@127.0.0.1:%d", p->port);
    cmx_upstream_settings set;
    cmx_upstream_settings_default(&set);
    set.https_proxy = set.http_proxy = proxy_url;
    set.no_proxy = "example.com, .internal";
    cmx_upstream *up = cmx_upstream_new(f->base, NULL, &set);
    proxy_url[0] = '\0'; /* the client keeps its own copy */

    /* https through the tunnel, verified end to end */
    fixture_origin(f, 1, "127.0.0.1", s->port);
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    req.ca_file = ca_path();
    result r = {0};
    r.call = cmx_upstream_send(up, &req, &callbacks, &r);
    run_until(f->base, &r.completes, 1);
    expect_kind(&r, CMX_OK);
    assert_string_equal(r.body, "hello");
    assert_int_equal(atomic_load(&p->connects), 1);
    char expect[64];
    snprintf(expect, sizeof expect, "CONNECT 127.0.0.1:%d HTTP/1.1", s->port);
    assert_string_equal(p->seen, expect);
    cmx_upstream_free(up);

    /* no_proxy listing the host: straight to the server */
    snprintf(no_proxy, sizeof no_proxy, "foo.example, 127.0.0.1");
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", p->port);
    set.https_proxy = set.http_proxy = proxy_url;
    set.no_proxy = no_proxy;
    up = cmx_upstream_new(f->base, NULL, &set);
    result r2 = {0};
    r2.call = cmx_upstream_send(up, &req, &callbacks, &r2);
    run_until(f->base, &r2.completes, 1);
    expect_kind(&r2, CMX_OK);
    assert_int_equal(atomic_load(&p->connects), 1);
    cmx_upstream_free(up);
    srv_stop(s);
    proxy_stop(p);
}

static void reports_proxy_refusing_connect(void **state)
{
    fixture *f = *state;
    proxy *p = proxy_start();
    char proxy_url[64];
    snprintf(proxy_url, sizeof proxy_url, "127.0.0.1:%d", p->port); /* scheme optional */
    cmx_upstream_settings set;
    cmx_upstream_settings_default(&set);
    set.https_proxy = NULL;
    set.http_proxy = proxy_url;
    set.no_proxy = NULL;
    cmx_upstream *up = cmx_upstream_new(f->base, NULL, &set);
    fixture_origin(f, 0, "localhost", 9); /* the proxy answers 502 for non-IP targets */
    cmx_upstream_request req = make_request(f, "GET", "/", NULL);
    result r = {0};
    r.call = cmx_upstream_send(up, &req, &callbacks, &r);
    run_until(f->base, &r.completes, 1);
    expect_kind(&r, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_CONNECT_REFUSED);
    assert_string_equal(r.err.message, "proxy refused CONNECT localhost:9 with status 502");
    cmx_upstream_free(up);
    proxy_stop(p);
}

/* ---------- pure functions ---------- */

static void matches_no_proxy_like_curl(void **state)
{
    assert_true(cmx_up_no_proxy_matches("*", "anything.example", 443));
    assert_true(cmx_up_no_proxy_matches("example.com", "example.com", 443));
    assert_true(cmx_up_no_proxy_matches("example.com", "api.example.com", 443));
    assert_true(cmx_up_no_proxy_matches(".example.com", "api.example.com", 443));
    assert_true(cmx_up_no_proxy_matches(".example.com", "example.com", 443));
    assert_false(cmx_up_no_proxy_matches("example.com", "notexample.com", 443));
    assert_false(cmx_up_no_proxy_matches("example.com", "example.com.org", 443));
    assert_true(cmx_up_no_proxy_matches("a.test, EXAMPLE.com ", "Api.Example.COM", 80));
    assert_false(cmx_up_no_proxy_matches("", "example.com", 80));
    assert_false(cmx_up_no_proxy_matches("example.com", "localhost", 80)); /* not implicit */
    assert_false(cmx_up_no_proxy_matches("example.com", "127.0.0.1", 80));
    assert_true(cmx_up_no_proxy_matches("localhost,127.0.0.1", "127.0.0.1", 80));
    assert_true(cmx_up_no_proxy_matches("10.0.0.0/8", "10.1.2.3", 80));
    assert_false(cmx_up_no_proxy_matches("10.0.0.0/8", "11.1.2.3", 80));
    assert_true(cmx_up_no_proxy_matches("::1", "::1", 80));
    assert_true(cmx_up_no_proxy_matches("[::1]:8080", "::1", 8080));
    assert_false(cmx_up_no_proxy_matches("[::1]:8080", "::1", 80));
    assert_true(cmx_up_no_proxy_matches("example.com:8443", "api.example.com", 8443));
    assert_false(cmx_up_no_proxy_matches("example.com:8443", "api.example.com", 443));
}

static void parses_upstream_urls(void **state)
{
    cmx_url u;
    cmx_error err;
    assert_int_equal(cmx_url_parse("https://api.openai.com/v1/", &u, &err), CMX_OK);
    assert_true(u.tls);
    assert_string_equal(u.host, "api.openai.com");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/v1");
    assert_int_equal(cmx_url_parse("HTTP://[::1]:8080", &u, &err), CMX_OK);
    assert_false(u.tls);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "");
    assert_int_equal(cmx_url_parse("http://127.0.0.1", &u, &err), CMX_OK);
    assert_int_equal(u.port, 80);
    assert_int_equal(cmx_url_parse("ftp://x", &u, &err), CMX_ERR_CONFIG);
    assert_non_null(strstr(err.message, "http://"));
    assert_int_equal(cmx_url_parse("http://h:0", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("http://h:99999", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("http://h:12ab", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("http://:80", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("https://u:secret@h", &u, &err), CMX_ERR_CONFIG);
    assert_null(strstr(err.message, "secret"));
    assert_int_equal(cmx_url_parse("https://h/v1?x=1", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("https://[::1", &u, &err), CMX_ERR_CONFIG);
    assert_int_equal(cmx_url_parse("https://bad host", &u, &err), CMX_ERR_CONFIG);
}

static void reads_proxy_settings_from_environment(void **state)
{
    setenv("HTTPS_PROXY", "http://proxy.test:3128", 1);
    setenv("http_proxy", "http://lower.test:8080", 1);
    setenv("no_proxy", "internal", 1);
    unsetenv("NO_PROXY");
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    assert_string_equal(s.https_proxy, "http://proxy.test:3128");
    assert_string_equal(s.http_proxy, "http://lower.test:8080");
    assert_string_equal(s.no_proxy, "internal");
    assert_int_equal(s.max_idle_per_origin, 32);
    assert_int_equal(s.max_conns_per_origin, 256);
    assert_int_equal(s.idle_expiry_ms, 60000);
    unsetenv("HTTPS_PROXY");
    unsetenv("http_proxy");
    unsetenv("no_proxy");
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(parses_upstream_urls),
        cmocka_unit_test(matches_no_proxy_like_curl),
        cmocka_unit_test(reads_proxy_settings_from_environment),
        cmocka_unit_test_setup_teardown(gets_body_with_content_length_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(posts_body_with_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(delivers_chunked_body_piece_by_piece, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_close_delimited_body_and_does_not_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ignores_interim_1xx_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(assembles_headers_split_across_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_response_with_too_many_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(reuses_pooled_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(does_not_pool_connection_with_bytes_after_the_response,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(drops_pooled_connection_the_origin_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_expiry_spares_calls_and_closes_idle_connections,
                                        setup_short_idle_expiry, teardown),
        cmocka_unit_test_setup_teardown(queues_requests_beyond_max_conns_per_origin, setup_one_conn,
                                        teardown),
        cmocka_unit_test_setup_teardown(queued_call_fails_as_pool_saturated_after_queue_timeout,
                                        setup_one_conn_short_queue, teardown),
        cmocka_unit_test_setup_teardown(queue_length_is_reported_while_calls_wait,
                                        setup_one_conn_short_queue, teardown),
        cmocka_unit_test_setup_teardown(retries_once_when_pooled_connection_was_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(does_not_retry_after_a_response_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(reports_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(times_out_connecting_when_tls_handshake_never_answers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(times_out_waiting_for_first_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(times_out_when_response_stalls, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_deadline_follows_the_last_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(times_out_on_total_deadline_while_bytes_trickle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reports_malformed_response_as_protocol_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reports_dns_failure_without_nameservers, setup, teardown),
        cmocka_unit_test_setup_teardown(resolves_names_with_evdns_and_caches_them, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_inside_on_body_stops_callbacks_and_closes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_before_start_runs_no_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(reports_proxy_refusing_connect, setup, teardown),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test_setup_teardown(tls_succeeds_with_configured_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_fails_against_system_store, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_succeeds_without_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_fails_on_host_name_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(goes_through_connect_proxy_unless_no_proxy_matches, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("upstream", plain, NULL, NULL);
    failed += cmocka_run_group_tests_name("upstream_tls", tls, tls_group_setup, tls_group_teardown);
    return failed;
}
