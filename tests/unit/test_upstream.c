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
#include "helpers/cases.h"
#include "helpers/fake_http.h"
#include "helpers/loopback.h"
#include "helpers/upstream_client.h"
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
    cmx_loopback_server ls;
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
    for (int waited = 0; !atomic_load(&c->s->ls.stop) && (max_ms < 0 || waited < max_ms);
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

/* Reads a request and sends `response`: 0, or -1 when the client went away. */
static int sc_answer(sconn *c, const char *response)
{
    return sc_read_request(c) < 0 ? -1 : sc_say(c, response);
}

/* Sends n body bytes "x", gap_ms apart: 0, or -1 when the client went away. */
static int sc_trickle(sconn *c, int n, int gap_ms)
{
    for (int i = 0; i < n && !atomic_load(&c->s->ls.stop); i++) {
        if (sc_say(c, "x") != 0)
            return -1;
        sleep_ms(gap_ms);
    }
    return 0;
}

/* Blocks until the client closes (or the server stops); records the close. */
static void sc_wait_close(sconn *c)
{
    char tmp[4096];
    while (sc_recv(c, tmp, sizeof tmp) > 0)
        ;
    if (!atomic_load(&c->s->ls.stop))
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
    int n = 0, fd;
    while ((fd = cmx_loopback_server_accept(&s->ls)) >= 0) {
        if (n == 64) {
            close(fd);
            continue;
        }
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

static srv *srv_start(srv_script script, SSL_CTX *tls)
{
    srv *s = calloc(1, sizeof *s);
    s->script = script;
    s->tls = tls;
    pthread_mutex_init(&s->lock, NULL);
    cmx_loopback_server_start(&s->ls, 0, srv_main, s);
    return s;
}

static void srv_stop(void *server)
{
    srv *s = server;
    cmx_loopback_server_stop(&s->ls);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---------- scripts ---------- */

static const char ok_response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\nContent-Type: text/plain\r\n\r\nhello";

static void script_keepalive_hello(sconn *c)
{
    while (sc_answer(c, ok_response) == 0)
        ;
}

/* Connections after the first answer every request normally: 1 when this
 * was one of them (and it is over). */
static int later_connection_answered(sconn *c)
{
    if (c->index == 0)
        return 0;
    script_keepalive_hello(c);
    return 1;
}

static void script_echo(sconn *c)
{
    while (sc_read_request(c) >= 0) {
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
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: text/event-stream\r\n\r\n6\r\ndata:1\r\n") != 0)
        return;
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
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of this ") != 0)
        return;
    sleep_ms(20);
    sc_say(c, "until the close");
}

/* First connection: answers one request, then reads the next and closes. */
static void script_close_after_second_request(sconn *c)
{
    if (!later_connection_answered(c) && sc_answer(c, ok_response) == 0)
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
    if (sc_answer(c, ok_response) != 0 ||
        sc_answer(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial") != 0)
        return;
    sleep_ms(50);
    reset_now(c);
}

static void script_read_then_silence(sconn *c)
{
    if (sc_read_request(c) >= 0)
        sc_wait_close(c);
}

static void script_silence(sconn *c)
{
    sc_wait_close(c);
}

static void script_head_then_stall(sconn *c)
{
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc") == 0)
        sc_wait_close(c);
}

/* A body byte every 20 ms, for 4 s. */
static void script_trickle(sconn *c)
{
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n") == 0)
        sc_trickle(c, 200, 20);
}

/* 15 body bytes 50 ms apart (750 ms in all), then nothing. */
static void script_trickle_then_stall(sconn *c)
{
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") == 0 &&
        sc_trickle(c, 15, 50) == 0)
        sc_wait_close(c);
}

static void script_garbage(sconn *c)
{
    if (sc_answer(c, "SMTP ready, not HTTP\r\n\r\n") == 0)
        sc_wait_close(c);
}

static void script_continue_then_ok(sconn *c)
{
    if (sc_answer(c, "HTTP/1.1 100 Continue\r\n\r\n") != 0)
        return;
    sc_say(c, ok_response);
    script_keepalive_hello(c);
}

static void script_stream_until_closed(sconn *c)
{
    if (sc_answer(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") != 0)
        return;
    for (int i = 0; i < 250 && !atomic_load(&c->s->ls.stop); i++) {
        if (sc_say(c, "5\r\nchunk\r\n") != 0)
            break;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0) {
            char tmp[64];
            if (recv(c->fd, tmp, sizeof tmp, 0) <= 0)
                break;
        }
    }
    if (!atomic_load(&c->s->ls.stop))
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
    if (sc_answer(c, "HTTP/1.1 200 OK\r\n") != 0)
        return;
    for (int i = 0; i < 150; i++)
        sc_say(c, "X-Many: header\r\n");
    sc_say(c, "Content-Length: 0\r\n\r\n");
    sc_wait_close(c);
}

/* The first connection answers with stray bytes right behind the response
 * (in the same write); later ones answer normally. */
static void script_answer_with_stray_bytes(sconn *c)
{
    char out[256];
    snprintf(out, sizeof out, "%sHTTP/1.1 200 OK\r\n", ok_response);
    if (!later_connection_answered(c) && sc_answer(c, out) == 0)
        sc_wait_close(c);
}

/* The first connection answers once and closes; later ones keep alive. */
static void script_answer_then_close(sconn *c)
{
    if (!later_connection_answered(c))
        sc_answer(c, ok_response);
}

/* The second answer on a connection comes after a pause. */
static void script_slow_second_answer(sconn *c)
{
    if (sc_answer(c, ok_response) != 0 || sc_read_request(c) < 0)
        return;
    sleep_ms(400);
    sc_say(c, ok_response);
    sc_wait_close(c);
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

/* ---------- the client side ---------- */

typedef struct fixture {
    cmx_test_upstream u;      /* first: the helpers' setup and teardown */
    srv *s;                   /* the test's server, stopped at teardown */
    cmx_upstream_request req; /* to the server; GET / unless the test says otherwise */
    cmx_test_call r;          /* the last call() */
} fixture;

static void set_request(fixture *f, const char *method, const char *path, const char *body)
{
    cmx_upstream_request *req = &f->req;
    memset(req, 0, sizeof *req);
    req->origin = &f->u.origin;
    req->tls_verify = 1;
    req->method = method;
    req->path = path;
    req->headers = "X-Client: test\r\n";
    req->headers_len = strlen(req->headers);
    req->body = body;
    req->body_len = body ? strlen(body) : 0;
    req->timeouts.connect_ms = 2000;
    req->timeouts.first_byte_ms = 2000;
    req->timeouts.idle_ms = 2000;
    req->timeouts.total_ms = 5000;
}

/* Starts the test's server with `script` (over TLS with a context) and
 * aims a GET / at it by the name `host`. */
static fixture *serve_as(fixture *f, srv_script script, SSL_CTX *tls, const char *host)
{
    f->s = f->u.server = srv_start(script, tls);
    f->u.stop_server = srv_stop;
    cmx_test_upstream_origin(&f->u, tls != NULL, host, f->s->ls.port);
    set_request(f, "GET", "/", NULL);
    return f;
}

static fixture *serve(void *state, srv_script script)
{
    return serve_as(state, script, NULL, "127.0.0.1");
}

/* Sends the fixture's request on up and waits for its end. */
static const cmx_test_call *call_on(fixture *f, cmx_upstream *up)
{
    memset(&f->r, 0, sizeof f->r);
    cmx_test_call_run(f->u.base, up, &f->req, &f->r);
    return &f->r;
}

/* The same on the fixture's client, the call ending well. */
static const cmx_test_call *call_ok(fixture *f)
{
    call_on(f, f->u.up);
    cmx_test_call_expect(&f->r, CMX_OK);
    return &f->r;
}

/* The same, the call failing with this kind, cause and message part. */
static const cmx_test_call *call_fails(fixture *f, cmx_err kind, cmx_cause cause,
                                       const char *needle)
{
    call_on(f, f->u.up);
    cmx_test_call_expect_failure(&f->r, kind, cause, needle);
    return &f->r;
}

/* Makes n calls one after another on up, each answered "hello". */
static void expect_hellos(fixture *f, cmx_upstream *up, int n)
{
    for (int i = 0; i < n; i++) {
        call_on(f, up);
        cmx_test_call_expect(&f->r, CMX_OK);
        assert_string_equal(f->r.body, "hello");
    }
}

static cmx_upstream_stats stats(fixture *f)
{
    return cmx_test_upstream_stats(&f->u);
}

/* The client opened this many connections, and the server accepted as
 * many; calls went out on a pooled one `reused` times. */
static void expect_connections(fixture *f, int opened, int reused)
{
    assert_int_equal(stats(f).connections_opened, opened);
    assert_int_equal(stats(f).connections_reused, reused);
    assert_int_equal(atomic_load(&f->s->accepted), opened);
}

/* Waits up to max_ms for the server to see the client close, running the
 * client's loop meanwhile only when asked (when its timers do the closing). */
static void expect_client_close(fixture *f, int max_ms, int run_loop)
{
    for (int i = 0; i < max_ms / 10 && !atomic_load(&f->s->saw_client_close); i++)
        if (run_loop)
            cmx_run_for(f->u.base, 2);
        else
            sleep_ms(10);
    assert_true(atomic_load(&f->s->saw_client_close));
}

/* Sends n calls at once, each counting up *done when it completes. */
static void send_all(fixture *f, cmx_test_call *r, int n, int *done)
{
    for (int i = 0; i < n; i++) {
        r[i].done_counter = done;
        r[i].call = cmx_upstream_send(f->u.up, &f->req, &cmx_test_call_callbacks, &r[i]);
        assert_non_null(r[i].call);
    }
}

static int setup(void **state)
{
    return cmx_test_upstream_setup(state, sizeof(fixture), NULL);
}

static int setup_one_conn(void **state)
{
    cmx_upstream_settings s;
    cmx_test_upstream_settings(&s);
    s.max_conns_per_origin = 1;
    return cmx_test_upstream_setup(state, sizeof(fixture), &s);
}

static int setup_short_idle_expiry(void **state)
{
    cmx_upstream_settings s;
    cmx_test_upstream_settings(&s);
    s.idle_expiry_ms = 150;
    return cmx_test_upstream_setup(state, sizeof(fixture), &s);
}

static int setup_one_conn_short_queue(void **state)
{
    cmx_upstream_settings s;
    cmx_test_upstream_settings(&s);
    s.max_conns_per_origin = 1;
    s.queue_timeout_ms = 200;
    return cmx_test_upstream_setup(state, sizeof(fixture), &s);
}

/* ---------- plain HTTP ---------- */

static void gets_body_with_content_length_and_headers(void **state)
{
    fixture *f = serve(*state, script_keepalive_hello);
    set_request(f, "GET", "/v1/models?x=1", NULL);
    const cmx_test_call *r = call_ok(f);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->head_calls, 1);
    assert_string_equal(r->x_test, "yes");
    assert_int_equal(r->body_len, 5);
    assert_memory_equal(r->body, "hello", 5);
    char expect_host[64];
    snprintf(expect_host, sizeof expect_host, "Host: 127.0.0.1:%d\r\n", f->s->ls.port);
    assert_non_null(strstr(f->s->last_request, "GET /v1/models?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(f->s->last_request, expect_host));
    assert_non_null(strstr(f->s->last_request, "X-Client: test\r\n"));
    assert_null(strstr(f->s->last_request, "Content-Length"));
    assert_int_equal(stats(f).connections_opened, 1);
    assert_int_equal(stats(f).idle_now, 1);
}

static void posts_body_with_content_length(void **state)
{
    fixture *f = serve_as(*state, script_echo, NULL, "localhost");
    set_request(f, "POST", "/v1/chat/completions", "{\"model\":\"m\"}");
    const cmx_test_call *r = call_ok(f);
    assert_int_equal(r->status, 201);
    assert_int_equal(r->body_len, 13);
    assert_memory_equal(r->body, "{\"model\":\"m\"}", 13);
    assert_non_null(strstr(f->s->last_request, "Content-Length: 13\r\n\r\n{\"model\":\"m\"}"));
}

static void delivers_chunked_body_piece_by_piece(void **state)
{
    fixture *f = serve(*state, script_chunked_slow);
    set_request(f, "POST", "/stream", "{}");
    cmx_test_call r = {.got_body = &f->s->client_got_first};
    cmx_test_call_run(f->u.base, f->u.up, &f->req, &r);
    cmx_test_call_expect(&r, CMX_OK);
    assert_true(atomic_load(&f->s->saw_first_before_rest)); /* streamed, not buffered */
    assert_true(r.body_calls >= 2);
    assert_int_equal(r.body_len, 18);
    assert_memory_equal(r.body, "data:1data:2data:3", 18);
    assert_int_equal(stats(f).idle_now, 1); /* a chunked response ends cleanly: pooled */
}

static void reads_close_delimited_body_and_does_not_pool(void **state)
{
    fixture *f = serve(*state, script_close_delimited);
    assert_string_equal(call_ok(f)->body, "all of this until the close");
    assert_int_equal(stats(f).idle_now, 0);
}

static void ignores_interim_1xx_answer(void **state)
{
    fixture *f = serve(*state, script_continue_then_ok);
    set_request(f, "POST", "/", "x");
    const cmx_test_call *r = call_ok(f);
    assert_int_equal(r->head_calls, 1);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "hello");
}

static void assembles_headers_split_across_reads(void **state)
{
    const cmx_test_call *r = call_ok(serve(*state, script_head_in_pieces));
    assert_string_equal(r->x_test, "split");
    assert_string_equal(r->body, "ok");
}

static void rejects_response_with_too_many_headers(void **state)
{
    fixture *f = serve(*state, script_too_many_headers);
    const cmx_test_call *r = call_on(f, f->u.up);
    cmx_test_call_expect(r, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_string_equal(r->err.message, "malformed response: more than 100 headers");
    assert_int_equal(r->head_calls, 0);
}

static void reuses_pooled_connection(void **state)
{
    fixture *f = serve(*state, script_keepalive_hello);
    expect_hellos(f, f->u.up, 2);
    expect_connections(f, 1, 1);
    assert_int_equal(atomic_load(&f->s->requests), 2);
}

static void does_not_pool_connection_with_bytes_after_the_response(void **state)
{
    fixture *f = serve(*state, script_answer_with_stray_bytes);
    expect_hellos(f, f->u.up, 2);
    expect_connections(f, 2, 0);
}

/* An idle pooled connection that the origin closes leaves the pool at once,
 * so the next call opens a fresh one instead of meeting a dead one. */
static void drops_pooled_connection_the_origin_closed(void **state)
{
    fixture *f = serve(*state, script_answer_then_close);
    expect_hellos(f, f->u.up, 1);
    for (int i = 0; i < 200 && stats(f).idle_now != 0; i++)
        cmx_run_for(f->u.base, 2);
    assert_int_equal(stats(f).idle_now, 0);
    expect_hellos(f, f->u.up, 1);
    assert_int_equal(stats(f).stale_retries, 0);
    expect_connections(f, 2, 0);
}

/* The idle expiry belongs to the pool: a call on a reused connection may
 * take longer than it, and the connection expires once idle again. */
static void idle_expiry_spares_calls_and_closes_idle_connections(void **state)
{
    fixture *f = serve(*state, script_slow_second_answer);
    expect_hellos(f, f->u.up, 2); /* the second after 400 ms, beyond the 150 ms expiry */
    assert_int_equal(stats(f).connections_reused, 1);
    assert_int_equal(stats(f).idle_now, 1);
    expect_client_close(f, 3000, 1);
    assert_int_equal(stats(f).idle_now, 0);
}

static void queues_requests_beyond_max_conns_per_origin(void **state)
{
    fixture *f = serve(*state, script_keepalive_hello);
    cmx_test_call r[3] = {{0}};
    int done = 0;
    send_all(f, r, 3, &done);
    cmx_run_until_count(f->u.base, &done, 3, 2000);
    for (int i = 0; i < 3; i++) {
        cmx_test_call_expect(&r[i], CMX_OK);
        assert_string_equal(r[i].body, "hello");
    }
    expect_connections(f, 1, 2);
}

static void queued_call_fails_as_pool_saturated_after_queue_timeout(void **state)
{
    fixture *f = serve(*state, script_slow_answers);
    cmx_test_call r[2] = {{0}}; /* the first answered after 600 ms, the second queued */
    int done = 0;
    send_all(f, r, 2, &done);
    uint64_t t0 = cmx_now_us();
    cmx_run_until(f->u.base, &r[1].completes, 2000);
    uint64_t waited_ms = (cmx_now_us() - t0) / 1000;
    cmx_test_call_expect_failure(&r[1], CMX_ERR_UNAVAILABLE, CMX_CAUSE_POOL_SATURATED,
                                 "within 200 ms");
    assert_true(waited_ms >= 190 && waited_ms < 550); /* before the first answer (600 ms) */
    assert_int_equal(r[0].completes, 0);
    cmx_upstream_stats st = stats(f);
    assert_int_equal(st.queue_waits, 1);
    assert_int_equal(st.queue_timeouts, 1);
    assert_int_equal(st.queue_length, 0);
    assert_true(st.queue_wait_us >= 190000);
    cmx_run_until_count(f->u.base, &done, 2, 2000);
    cmx_test_call_expect(&r[0], CMX_OK);
}

static void queue_length_is_reported_while_calls_wait(void **state)
{
    fixture *f = serve(*state, script_slow_answers);
    cmx_test_call r[3] = {{0}};
    int done = 0;
    send_all(f, r, 3, &done);
    cmx_run_for(f->u.base, 10);
    assert_int_equal(stats(f).queue_length, 2);
    cmx_run_until_count(f->u.base, &done, 3, 2000);
    assert_int_equal(stats(f).queue_length, 0);
    assert_int_equal(stats(f).queue_timeouts, 2);
}

static void retries_once_when_pooled_connection_was_closed(void **state)
{
    fixture *f = serve(*state, script_close_after_second_request);
    set_request(f, "POST", "/", "again");
    expect_hellos(f, f->u.up, 2);
    assert_int_equal(stats(f).stale_retries, 1);
    expect_connections(f, 2, 1);
    assert_int_equal(atomic_load(&f->s->requests), 3);
}

static void does_not_retry_after_a_response_byte(void **state)
{
    fixture *f = serve(*state, script_half_then_reset);
    expect_hellos(f, f->u.up, 1);
    /* on the reused connection */
    const cmx_test_call *r =
        call_fails(f, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET, "after 7 body bytes");
    assert_int_equal(r->body_len, 7);
    assert_int_equal(stats(f).stale_retries, 0);
    assert_int_equal(stats(f).idle_now, 0);
    assert_int_equal(atomic_load(&f->s->accepted), 1);
    assert_int_equal(atomic_load(&f->s->requests), 2);
}

static void reports_connect_refused(void **state)
{
    fixture *f = *state;
    int port;
    int fd = cmx_loopback_listen(&port, -1); /* bound, not listening: SYN gets RST */
    cmx_test_upstream_origin(&f->u, 0, "127.0.0.1", port);
    set_request(f, "POST", "/", "secret-body");
    f->req.headers = "Authorization: Bearer sk-very-secret\r\n";
    f->req.headers_len = strlen(f->req.headers);
    char expect[64];
    snprintf(expect, sizeof expect, "connect to 127.0.0.1:%d refused", port);
    const cmx_test_call *r =
        call_fails(f, CMX_ERR_UNAVAILABLE, CMX_CAUSE_CONNECT_REFUSED, "refused");
    assert_string_equal(r->err.message, expect);
    assert_int_equal(r->head_calls, 0);
    close(fd);
}

static void times_out_connecting_when_tls_handshake_never_answers(void **state)
{
    fixture *f = serve(*state, script_silence); /* TCP accepted, ClientHello ignored */
    cmx_test_upstream_origin(&f->u, 1, "127.0.0.1", f->s->ls.port);
    f->req.timeouts.connect_ms = 150;
    uint64_t t0 = cmx_now_us();
    const cmx_test_call *r =
        call_fails(f, CMX_ERR_TIMEOUT, CMX_CAUSE_CONNECT_TIMEOUT, "TLS handshake");
    uint64_t took_ms = (cmx_now_us() - t0) / 1000;
    assert_non_null(strstr(r->err.message, "150 ms"));
    assert_true(took_ms >= 140 && took_ms < 150 * 5);
}

static void times_out_waiting_for_first_byte(void **state)
{
    fixture *f = serve(*state, script_read_then_silence);
    f->req.timeouts.first_byte_ms = 150;
    const cmx_test_call *r =
        call_fails(f, CMX_ERR_TIMEOUT, CMX_CAUSE_FIRST_BYTE_TIMEOUT, "no response byte");
    assert_string_equal(r->err.message, "no response byte within 150 ms");
    /* The timed-out connection is closed, not pooled. */
    cmx_run_for(f->u.base, 20);
    expect_client_close(f, 1000, 0);
    assert_int_equal(stats(f).idle_now, 0);
}

static void times_out_when_response_stalls(void **state)
{
    fixture *f = serve(*state, script_head_then_stall);
    f->req.timeouts.idle_ms = 150;
    assert_int_equal(
        call_fails(f, CMX_ERR_TIMEOUT, CMX_CAUSE_IDLE_TIMEOUT, "after 3 body bytes")->head_calls,
        1);
}

/* The idle deadline counts from the last byte, not from the first: a
 * response trickling for longer than idle_ms is not cut while bytes come. */
static void idle_deadline_follows_the_last_byte(void **state)
{
    fixture *f = serve(*state, script_trickle_then_stall);
    f->req.timeouts.idle_ms = 400;
    uint64_t t0 = cmx_now_us();
    call_fails(f, CMX_ERR_TIMEOUT, CMX_CAUSE_IDLE_TIMEOUT, "after 15 body bytes");
    assert_true((cmx_now_us() - t0) / 1000 >= 700 + 400 - 50);
}

static void times_out_on_total_deadline_while_bytes_trickle(void **state)
{
    fixture *f = serve(*state, script_trickle);
    f->req.timeouts.idle_ms = 1000;
    f->req.timeouts.total_ms = 300;
    assert_true(call_fails(f, CMX_ERR_TIMEOUT, CMX_CAUSE_TOTAL_TIMEOUT, "300 ms")->body_calls > 1);
}

static void reports_malformed_response_as_protocol_error(void **state)
{
    fixture *f = serve(*state, script_garbage);
    const cmx_test_call *r =
        call_fails(f, CMX_ERR_UPSTREAM_PROTOCOL, CMX_CAUSE_PROTOCOL, "malformed response");
    assert_int_equal(r->head_calls, 0);
}

/* A second client on the fixture's loop (with its own resolver or proxies). */
static cmx_upstream *second_client(fixture *f, struct evdns_base *dns,
                                   const cmx_upstream_settings *settings)
{
    cmx_upstream *up = cmx_upstream_new(f->u.base, dns, settings);
    assert_non_null(up);
    return up;
}

static void reports_dns_failure_without_nameservers(void **state)
{
    fixture *f = *state;
    struct evdns_base *dns = evdns_base_new(f->u.base, 0); /* no nameservers at all */
    cmx_upstream_settings set;
    cmx_test_upstream_settings(&set);
    cmx_upstream *up = second_client(f, dns, &set);
    cmx_error err;
    assert_int_equal(cmx_url_parse("http://api.example.invalid:8080", &f->u.origin, &err), CMX_OK);
    set_request(f, "GET", "/", NULL);
    cmx_test_call_expect_failure(call_on(f, up), CMX_ERR_UNAVAILABLE, CMX_CAUSE_DNS,
                                 "api.example.invalid");
    cmx_upstream_free(up);
    evdns_base_free(dns, 0);
}

/* ---------- a tiny DNS server for evdns ---------- */

typedef struct dns_srv {
    cmx_loopback_server ls;
    atomic_int queries; /* for "api.test" */
} dns_srv;

/* Answers A 127.0.0.1 for api.test, nothing for its AAAA, NXDOMAIN otherwise. */
static void *dns_main(void *arg)
{
    dns_srv *d = arg;
    while (cmx_loopback_server_wait(&d->ls)) {
        unsigned char q[512], a[600];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(d->ls.fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
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
        sendto(d->ls.fd, a, len, 0, (struct sockaddr *)&from, flen);
    }
    return NULL;
}

static dns_srv *dns_start(void)
{
    dns_srv *d = calloc(1, sizeof *d);
    cmx_loopback_server_start(&d->ls, 1, dns_main, d);
    return d;
}

static void resolves_names_with_evdns_and_caches_them(void **state)
{
    fixture *f = *state;
    dns_srv *d = dns_start();
    struct evdns_base *dns = evdns_base_new(f->u.base, 0);
    char ns[64];
    snprintf(ns, sizeof ns, "127.0.0.1:%d", d->ls.port);
    assert_int_equal(evdns_base_nameserver_ip_add(dns, ns), 0);
    cmx_upstream_settings set;
    cmx_test_upstream_settings(&set);
    set.max_idle_per_origin = 0; /* every request connects, and so resolves */
    cmx_upstream *up = second_client(f, dns, &set);

    serve_as(f, script_keepalive_hello, NULL, "api.test");
    expect_hellos(f, up, 2);
    assert_int_equal(atomic_load(&d->queries), 1); /* the second came from the cache */
    assert_int_equal(atomic_load(&f->s->accepted), 2);
    char expect_host[64];
    snprintf(expect_host, sizeof expect_host, "Host: api.test:%d\r\n", f->s->ls.port);
    assert_non_null(strstr(f->s->last_request, expect_host));

    cmx_test_upstream_origin(&f->u, 0, "nx.test", f->s->ls.port);
    cmx_test_call_expect_failure(call_on(f, up), CMX_ERR_UNAVAILABLE, CMX_CAUSE_DNS,
                                 "cannot resolve nx.test");
    cmx_upstream_free(up);
    evdns_base_free(dns, 0);
    cmx_loopback_server_stop(&d->ls);
    free(d);
}

/* Sends the fixture's request without waiting for it. */
static cmx_test_call *start_call(fixture *f)
{
    f->r.call = cmx_upstream_send(f->u.up, &f->req, &cmx_test_call_callbacks, &f->r);
    assert_non_null(f->r.call);
    return &f->r;
}

static void cancel_inside_on_body_stops_callbacks_and_closes(void **state)
{
    fixture *f = serve(*state, script_stream_until_closed);
    f->r.cancel_in_body = 1;
    const cmx_test_call *r = start_call(f);
    cmx_run_until(f->u.base, &r->body_calls, 2000);
    cmx_run_for(f->u.base, 20);
    assert_int_equal(r->body_calls, 1);
    assert_int_equal(r->completes, 0);
    expect_client_close(f, 2000, 0);
    assert_int_equal(stats(f).idle_now, 0);
}

static void cancel_before_start_runs_no_callback(void **state)
{
    fixture *f = serve(*state, script_keepalive_hello);
    const cmx_test_call *r = start_call(f);
    cmx_upstream_cancel(r->call);
    cmx_run_for(f->u.base, 20);
    assert_int_equal(r->head_calls + r->body_calls + r->completes, 0);
    assert_int_equal(atomic_load(&f->s->requests), 0);
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
    fixture *f = serve_as(*state, script_keepalive_hello, tls_good, "localhost");
    f->req.ca_file = ca_path();
    expect_hellos(f, f->u.up, 2);
    /* and by IP address, verified against the IP SAN */
    cmx_test_upstream_origin(&f->u, 1, "127.0.0.1", f->s->ls.port);
    expect_hellos(f, f->u.up, 1);
    expect_connections(f, 2, 1);
}

static void tls_fails_against_system_store(void **state)
{
    fixture *f = serve_as(*state, script_keepalive_hello, tls_good, "localhost");
    call_fails(f, CMX_ERR_UNAVAILABLE, CMX_CAUSE_TLS, "certificate verification failed");
    assert_int_equal(atomic_load(&f->s->requests), 0);
}

static void tls_succeeds_without_verification(void **state)
{
    fixture *f = serve_as(*state, script_keepalive_hello, tls_wrong_name, "127.0.0.1");
    f->req.tls_verify = 0;
    expect_hellos(f, f->u.up, 1);
}

static void tls_fails_on_host_name_mismatch(void **state)
{
    fixture *f = serve_as(*state, script_keepalive_hello, tls_wrong_name, "localhost");
    f->req.ca_file = ca_path();
    call_fails(f, CMX_ERR_UNAVAILABLE, CMX_CAUSE_TLS, "mismatch");
}

/* ---------- CONNECT proxy ---------- */

/* Tunnels CONNECT 127.0.0.1:PORT, answers 502 to anything else. */
typedef struct proxy {
    char seen[256]; /* the last request line */
    atomic_int connects;
    cmx_loopback_server ls;
} proxy;

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    int cfd;
    while ((cfd = cmx_loopback_server_accept(&p->ls)) >= 0) {
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
        int ofd = port ? cmx_loopback_connect(port, 0) : -1;
        if (ofd < 0) {
            const char *no = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
            send(cfd, no, strlen(no), MSG_NOSIGNAL);
        } else {
            const char *yes = "HTTP/1.1 200 Connection established\r\n\r\n";
            send(cfd, yes, strlen(yes), MSG_NOSIGNAL);
            struct pollfd fds[2] = {{cfd, POLLIN, 0}, {ofd, POLLIN, 0}};
            while (!atomic_load(&p->ls.stop)) {
                if (poll(fds, 2, 20) <= 0)
                    continue;
                int from = fds[0].revents ? 0 : 1;
                ssize_t n = recv(fds[from].fd, buf, sizeof buf, 0);
                if (n <= 0 || send(fds[1 - from].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                    break;
            }
            close(ofd);
        }
        close(cfd);
    }
    return NULL;
}

static proxy *proxy_start(void)
{
    proxy *p = calloc(1, sizeof *p);
    cmx_loopback_server_start(&p->ls, 0, proxy_main, p);
    return p;
}

static void proxy_stop(proxy *p)
{
    cmx_loopback_server_stop(&p->ls);
    free(p);
}

static void goes_through_connect_proxy_unless_no_proxy_matches(void **state)
{
    proxy *p = proxy_start();
    fixture *f = serve_as(*state, script_keepalive_hello, tls_good, "127.0.0.1");
    f->req.ca_file = ca_path();
    char proxy_url[64], no_proxy[64];
    snprintf(proxy_url, sizeof proxy_url, "http://user:pa%%40ss@127.0.0.1:%d", p->ls.port);
    cmx_upstream_settings set;
    cmx_test_upstream_settings(&set);
    set.https_proxy = set.http_proxy = proxy_url;
    set.no_proxy = "example.com, .internal";
    cmx_upstream *up = second_client(f, NULL, &set);
    proxy_url[0] = '\0'; /* the client keeps its own copy */

    /* https through the tunnel, verified end to end */
    expect_hellos(f, up, 1);
    assert_int_equal(atomic_load(&p->connects), 1);
    char expect[64];
    snprintf(expect, sizeof expect, "CONNECT 127.0.0.1:%d HTTP/1.1", f->s->ls.port);
    assert_string_equal(p->seen, expect);
    cmx_upstream_free(up);

    /* no_proxy listing the host: straight to the server */
    snprintf(no_proxy, sizeof no_proxy, "foo.example, 127.0.0.1");
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", p->ls.port);
    set.no_proxy = no_proxy;
    up = second_client(f, NULL, &set);
    expect_hellos(f, up, 1);
    assert_int_equal(atomic_load(&p->connects), 1);
    cmx_upstream_free(up);
    proxy_stop(p);
}

static void reports_proxy_refusing_connect(void **state)
{
    fixture *f = *state;
    proxy *p = proxy_start();
    char proxy_url[64];
    snprintf(proxy_url, sizeof proxy_url, "127.0.0.1:%d", p->ls.port); /* scheme optional */
    cmx_upstream_settings set;
    cmx_test_upstream_settings(&set);
    set.http_proxy = proxy_url;
    cmx_upstream *up = second_client(f, NULL, &set);
    cmx_test_upstream_origin(&f->u, 0, "localhost",
                             9); /* the proxy answers 502 for non-IP targets */
    set_request(f, "GET", "/", NULL);
    const cmx_test_call *r = call_on(f, up);
    cmx_test_call_expect_failure(r, CMX_ERR_UNAVAILABLE, CMX_CAUSE_CONNECT_REFUSED, "proxy");
    assert_string_equal(r->err.message, "proxy refused CONNECT localhost:9 with status 502");
    cmx_upstream_free(up);
    proxy_stop(p);
}

/* ---------- pure functions ---------- */

static void matches_no_proxy_like_curl(void **state)
{
    cmx_cases cs;
    cmx_cases_open(&cs, "no_proxy.txt", 4);
    while (cmx_cases_next(&cs)) {
        int exempt = cmx_up_no_proxy_matches(cmx_case_text(&cs, 0), cmx_case_text(&cs, 1),
                                             (int)cmx_case_int(&cs, 2)) != 0;
        assert_int_equal(exempt, cmx_case_yes(&cs, 3));
    }
    cmx_cases_close(&cs);
}

static void parses_upstream_urls(void **state)
{
    cmx_url u;
    cmx_error err;
    cmx_cases cs;
    cmx_cases_open(&cs, "upstream_urls.txt", 5);
    while (cmx_cases_next(&cs)) {
        assert_int_equal(cmx_url_parse(cmx_case_text(&cs, 0), &u, &err), CMX_OK);
        assert_int_equal(u.tls, cmx_case_yes(&cs, 1));
        assert_string_equal(u.host, cmx_case_text(&cs, 2));
        assert_int_equal(u.port, cmx_case_int(&cs, 3));
        assert_string_equal(u.path, cmx_case_text(&cs, 4));
    }
    cmx_cases_close(&cs);
    cmx_cases_open(&cs, "upstream_urls_refused.txt", 3);
    while (cmx_cases_next(&cs)) {
        assert_int_equal(cmx_url_parse(cmx_case_text(&cs, 0), &u, &err), CMX_ERR_CONFIG);
        if (cmx_case_text(&cs, 1))
            assert_non_null(strstr(err.message, cmx_case_text(&cs, 1)));
        if (cmx_case_text(&cs, 2))
            assert_null(strstr(err.message, cmx_case_text(&cs, 2)));
    }
    cmx_cases_close(&cs);
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
#define T(name) cmocka_unit_test_setup_teardown(name, setup, cmx_test_upstream_teardown)
#define T_WITH(name, with_setup)                                                                   \
    cmocka_unit_test_setup_teardown(name, with_setup, cmx_test_upstream_teardown)
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(parses_upstream_urls),
        cmocka_unit_test(matches_no_proxy_like_curl),
        cmocka_unit_test(reads_proxy_settings_from_environment),
        T(gets_body_with_content_length_and_headers),
        T(posts_body_with_content_length),
        T(delivers_chunked_body_piece_by_piece),
        T(reads_close_delimited_body_and_does_not_pool),
        T(ignores_interim_1xx_answer),
        T(assembles_headers_split_across_reads),
        T(rejects_response_with_too_many_headers),
        T(reuses_pooled_connection),
        T(does_not_pool_connection_with_bytes_after_the_response),
        T(drops_pooled_connection_the_origin_closed),
        T_WITH(idle_expiry_spares_calls_and_closes_idle_connections, setup_short_idle_expiry),
        T_WITH(queues_requests_beyond_max_conns_per_origin, setup_one_conn),
        T_WITH(queued_call_fails_as_pool_saturated_after_queue_timeout, setup_one_conn_short_queue),
        T_WITH(queue_length_is_reported_while_calls_wait, setup_one_conn_short_queue),
        T(retries_once_when_pooled_connection_was_closed),
        T(does_not_retry_after_a_response_byte),
        T(reports_connect_refused),
        T(times_out_connecting_when_tls_handshake_never_answers),
        T(times_out_waiting_for_first_byte),
        T(times_out_when_response_stalls),
        T(idle_deadline_follows_the_last_byte),
        T(times_out_on_total_deadline_while_bytes_trickle),
        T(reports_malformed_response_as_protocol_error),
        T(reports_dns_failure_without_nameservers),
        T(resolves_names_with_evdns_and_caches_them),
        T(cancel_inside_on_body_stops_callbacks_and_closes),
        T(cancel_before_start_runs_no_callback),
        T(reports_proxy_refusing_connect),
    };
    const struct CMUnitTest tls[] = {
        T(tls_succeeds_with_configured_ca),
        T(tls_fails_against_system_store),
        T(tls_succeeds_without_verification),
        T(tls_fails_on_host_name_mismatch),
        T(goes_through_connect_proxy_unless_no_proxy_matches),
    };
#undef T
#undef T_WITH
    int failed = cmocka_run_group_tests_name("upstream", plain, NULL, NULL);
    failed += cmocka_run_group_tests_name("upstream_tls", tls, tls_group_setup, tls_group_teardown);
    return failed;
}
