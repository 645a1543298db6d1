/* test_server.c — the HTTP/1.1 server against real sockets on 127.0.0.1.
 *
 * Each test starts a server on its own event_base in a thread and talks to
 * it with blocking client sockets (receive timeout 3 s) from the test thread.
 * The test thread never touches the server directly: it sends one-byte
 * commands over a pipe that the server thread executes (answer the held
 * request, write the next chunk, stop accepting, ...), so everything the
 * server does happens on its own thread, as in production.  What the server
 * side observed is published through atomics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "helpers/loopback.h"
#include "http/server.h"

/* ---- the server side ----------------------------------------------------- */

typedef struct test_server {
    struct event_base *base;
    cmx_http_server *srv;
    pthread_t thread;
    int port;
    int ctl[2];
    struct event *ctl_ev;
    atomic_int handled;        /* handler calls */
    atomic_int closes;         /* on_close calls */
    atomic_int chunks_written; /* chunks of /stream written so far */
    atomic_int open_conns;     /* set by the 'n' command */
    atomic_int busy_conns;     /* set by the 'b' command */
    atomic_int cmds_done;
    atomic_long pending; /* set by the 'p' command */
    /* Server thread only. */
    cmx_http_exchange *late;   /* /late, answered on 'r' */
    cmx_http_exchange *stream; /* /stream and /flood, continued on commands */
} test_server;

static int slice_is(cmx_slice s, const char *lit)
{
    return cmx_slice_eq(s, lit);
}

static void on_close(cmx_http_exchange *ex, void *arg)
{
    test_server *ts = arg;
    atomic_fetch_add(&ts->closes, 1);
    if (ex == ts->late)
        ts->late = NULL;
    if (ex == ts->stream)
        ts->stream = NULL;
}

static void handler(cmx_http_exchange *ex, void *arg)
{
    test_server *ts = arg;
    const cmx_http_request *req = cmx_http_request_of(ex);
    atomic_fetch_add(&ts->handled, 1);
    cmx_http_on_close(ex, on_close, ts);

    if (slice_is(req->path, "/late")) {
        ts->late = ex;
    } else if (slice_is(req->path, "/stream")) {
        cmx_http_stream_begin(ex, 200, "text/event-stream", "X-Stream: yes\r\n");
        /* Counted before the write, so a client that has read a chunk
         * knows the count includes it. */
        atomic_store(&ts->chunks_written, 1);
        cmx_http_stream_write(ex, "one", 3);
        ts->stream = ex;
    } else if (slice_is(req->path, "/flood")) {
        static char block[64 * 1024];
        memset(block, 'x', sizeof block);
        cmx_http_stream_begin(ex, 200, "application/octet-stream", NULL);
        for (int i = 0; i < 256; i++) /* 16 MiB, far more than socket buffers hold */
            cmx_http_stream_write(ex, block, sizeof block);
        ts->stream = ex;
    } else if (slice_is(req->path, "/sync-stream")) {
        cmx_http_stream_begin(ex, 201, "text/plain", NULL);
        cmx_http_stream_write(ex, "a", 1);
        cmx_http_stream_write(ex, "bc", 2);
        cmx_http_stream_end(ex);
    } else if (slice_is(req->path, "/big")) {
        static char big[512 * 1024];
        memset(big, 'B', sizeof big);
        cmx_http_respond(ex, 200, "application/octet-stream", NULL, big, sizeof big);
    } else if (slice_is(req->path, "/empty")) {
        cmx_http_respond(ex, 204, NULL, NULL, NULL, 0);
    } else if (slice_is(req->path, "/count")) {
        char *body =
            cmx_arena_sprintf(req->arena, "%zu", cmx_http_server_open_connections(ts->srv));
        cmx_http_respond(ex, 200, "text/plain", NULL, body, strlen(body));
    } else if (slice_is(req->path, "/hdr")) {
        const cmx_slice *probe = cmx_http_header_get(req, "x-PROBE");
        const cmx_slice *first = cmx_http_header_get(req, "X-First");
        const cmx_slice *big = cmx_http_header_get(req, "X-Big");
        char *body = cmx_arena_sprintf(req->arena, "%.*s|%.*s|%zu", probe ? (int)probe->len : 0,
                                       probe ? probe->ptr : "", first ? (int)first->len : 0,
                                       first ? first->ptr : "", big ? big->len : 0);
        cmx_http_respond(ex, 200, "text/plain", "X-Extra: 1\r\n", body, strlen(body));
    } else {
        unsigned sum = 0;
        for (size_t i = 0; i < req->body_len; i++)
            sum = sum * 31 + (unsigned char)req->body[i];
        char *body = cmx_arena_sprintf(
            req->arena, "%.*s %.*s q=%.*s n=%zu nul=%d b=%.*s sum=%u", (int)req->method.len,
            req->method.ptr, (int)req->path.len, req->path.ptr, (int)req->query.len, req->query.ptr,
            req->body_len, req->body[req->body_len] == '\0',
            req->body_len <= 64 ? (int)req->body_len : 0, req->body, sum);
        cmx_http_respond(ex, 200, "text/plain", NULL, body, strlen(body));
    }
}

static void ctl_cb(evutil_socket_t fd, short what, void *arg)
{
    test_server *ts = arg;
    char cmd;
    if (read(fd, &cmd, 1) != 1)
        return;
    switch (cmd) {
    case 'r':
        cmx_http_respond(ts->late, 200, "text/plain", NULL, "late", 4);
        ts->late = NULL;
        break;
    case 'w':
        atomic_fetch_add(&ts->chunks_written, 1);
        cmx_http_stream_write(ts->stream, "two", 3);
        break;
    case 'e':
        cmx_http_stream_end(ts->stream);
        ts->stream = NULL;
        break;
    case 'a':
        cmx_http_stream_abort(ts->stream);
        ts->stream = NULL;
        break;
    case 'p': atomic_store(&ts->pending, (long)cmx_http_stream_pending(ts->stream)); break;
    case 's': cmx_http_server_stop_accepting(ts->srv); break;
    case 'n': atomic_store(&ts->open_conns, (int)cmx_http_server_open_connections(ts->srv)); break;
    case 'b': atomic_store(&ts->busy_conns, (int)cmx_http_server_busy_connections(ts->srv)); break;
    case 'q': event_base_loopbreak(ts->base); break;
    }
    atomic_fetch_add(&ts->cmds_done, 1);
}

static void *server_thread(void *arg)
{
    test_server *ts = arg;
    event_base_dispatch(ts->base);
    return NULL;
}

/* What a test changes in the test limits below (0: keeps them). */
typedef struct limits_change {
    size_t max_header_bytes, max_body_bytes;
    uint32_t header_timeout_ms, body_timeout_ms, keepalive_timeout_ms, write_timeout_ms;
} limits_change;

/* Limits short enough that timeout tests finish fast, long enough that a
 * loaded machine does not hit them by accident; with a test's changes. */
static void test_limits(cmx_http_limits *lim, const limits_change *change)
{
    cmx_http_limits_default(lim);
    lim->max_header_bytes = 2048;
    lim->max_headers = 20;
    lim->max_body_bytes = 1024 * 1024;
    lim->header_timeout_ms = 2000;
    lim->body_timeout_ms = 2000;
    lim->keepalive_timeout_ms = 2000;
    lim->write_timeout_ms = 2000;
    if (!change)
        return;
#define CHANGE(field)                                                                              \
    if (change->field)                                                                             \
    lim->field = change->field
    CHANGE(max_header_bytes);
    CHANGE(max_body_bytes);
    CHANGE(header_timeout_ms);
    CHANGE(body_timeout_ms);
    CHANGE(keepalive_timeout_ms);
    CHANGE(write_timeout_ms);
#undef CHANGE
}

static test_server *ts_start(const limits_change *change)
{
    cmx_http_limits lim;
    test_limits(&lim, change);
    test_server *ts = calloc(1, sizeof *ts);
    assert_non_null(ts);
    ts->base = event_base_new();
    assert_non_null(ts->base);
    cmx_error err;
    ts->srv = cmx_http_server_new(ts->base, "127.0.0.1", 0, &lim, handler, ts, &err);
    assert_non_null(ts->srv);
    ts->port = cmx_http_server_port(ts->srv);
    assert_true(ts->port > 0);
    assert_int_equal(pipe(ts->ctl), 0);
    ts->ctl_ev = event_new(ts->base, ts->ctl[0], EV_READ | EV_PERSIST, ctl_cb, ts);
    event_add(ts->ctl_ev, NULL);
    assert_int_equal(pthread_create(&ts->thread, NULL, server_thread, ts), 0);
    return ts;
}

/* Runs one command on the server thread and waits until it is done. */
static void ts_cmd(test_server *ts, char cmd)
{
    int before = atomic_load(&ts->cmds_done);
    assert_int_equal(write(ts->ctl[1], &cmd, 1), 1);
    for (int i = 0; i < 5000 && atomic_load(&ts->cmds_done) == before; i++)
        usleep(1000);
    assert_int_not_equal(atomic_load(&ts->cmds_done), before);
}

static int ts_open_connections(test_server *ts)
{
    ts_cmd(ts, 'n');
    return atomic_load(&ts->open_conns);
}

/* Waits up to 5 s for an atomic counter to reach a value. */
static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 5000; i++) {
        if (atomic_load(v) == want)
            return 1;
        usleep(1000);
    }
    return atomic_load(v) == want;
}

/* Ends the server's loop and frees the server: on_close runs for what was
 * still in flight. */
static void ts_free_server(test_server *ts)
{
    ts_cmd(ts, 'q');
    pthread_join(ts->thread, NULL);
    cmx_http_server_free(ts->srv);
    event_free(ts->ctl_ev);
}

static void ts_stop(test_server *ts)
{
    ts_free_server(ts);
    /* libevent closes freed bufferevents' sockets in finalizers, which run
     * at the latest when the base is freed. */
    event_base_free(ts->base);
    close(ts->ctl[0]);
    close(ts->ctl[1]);
    free(ts);
}

/* For cmocka: a server with the test limits and the changes in *state. */
static int setup(void **state)
{
    *state = ts_start(*state);
    return 0;
}

static int teardown(void **state)
{
    ts_stop(*state);
    return 0;
}

/* ---- the client side ----------------------------------------------------- */

typedef struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
} client;

typedef struct response {
    int status;
    char head[4096];
    char body[1 << 16];
    size_t body_len;
} response;

/* A client with a 3 s receive timeout and no Nagle delay; rcvbuf > 0 makes
 * its receive buffer that small. */
static client *client_with(test_server *ts, int rcvbuf)
{
    client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = cmx_loopback_connect(ts->port, rcvbuf);
    assert_true(c->fd >= 0);
    struct timeval tv = {3, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static client *client_new(test_server *ts)
{
    return client_with(ts, 0);
}

static void client_free(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void send_bytes(client *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void send_str(client *c, const char *s)
{
    send_bytes(c, s, strlen(s));
}

/* Reads more into the client's buffer: >0 bytes, 0 at EOF, -1 on timeout. */
static int fill(client *c)
{
    if (c->len == sizeof c->buf)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    c->len += (size_t)n;
    return (int)n;
}

static void consume(client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static char *find(client *c, const char *s)
{
    return memmem(c->buf, c->len, s, strlen(s));
}

/* Reads a line ending in CRLF into out (without it); -1 on EOF/timeout. */
static int read_line(client *c, char *out, size_t cap)
{
    char *eol;
    while (!(eol = find(c, "\r\n")))
        if (fill(c) <= 0)
            return -1;
    size_t n = (size_t)(eol - c->buf);
    assert_true(n < cap);
    memcpy(out, c->buf, n);
    out[n] = '\0';
    consume(c, n + 2);
    return (int)n;
}

static int read_head(client *c, response *r)
{
    char *end;
    while (!(end = find(c, "\r\n\r\n")))
        if (fill(c) <= 0)
            return -1;
    size_t n = (size_t)(end - c->buf) + 4;
    assert_true(n < sizeof r->head);
    memcpy(r->head, c->buf, n);
    r->head[n] = '\0';
    consume(c, n);
    r->status = 0;
    sscanf(r->head, "HTTP/1.%*d %d", &r->status);
    r->body_len = 0;
    return 0;
}

static int has_header(const response *r, const char *line)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\r\n%s\r\n", line);
    return strcasestr(r->head, pat) != NULL;
}

/* Reads one chunk of a chunked body: its size (0 for the last chunk), or -1
 * when the connection ends first. */
static int read_chunk(client *c, char *out, size_t cap)
{
    char line[64];
    if (read_line(c, line, sizeof line) < 0)
        return -1;
    size_t size = strtoul(line, NULL, 16);
    while (c->len < size + 2)
        if (fill(c) <= 0)
            return -1;
    assert_true(size <= cap);
    memcpy(out, c->buf, size);
    assert_memory_equal(c->buf + size, "\r\n", 2);
    consume(c, size + 2);
    return (int)size;
}

static int read_response(client *c, response *r)
{
    if (read_head(c, r) < 0)
        return -1;
    const char *cl = strcasestr(r->head, "\r\nContent-Length:");
    if (r->status < 200 || r->status == 204 || r->status == 304) {
        /* no body */
    } else if (cl) {
        size_t n = strtoul(cl + 17, NULL, 10);
        assert_true(n < sizeof r->body);
        while (c->len < n)
            if (fill(c) <= 0)
                return -1;
        memcpy(r->body, c->buf, n);
        r->body_len = n;
        consume(c, n);
    } else if (has_header(r, "Transfer-Encoding: chunked")) {
        int n;
        while ((n = read_chunk(c, r->body + r->body_len, sizeof r->body - r->body_len)) > 0)
            r->body_len += (size_t)n;
        if (n < 0)
            return -1;
    } else {
        while (fill(c) > 0)
            ;
        assert_true(c->len < sizeof r->body);
        memcpy(r->body, c->buf, c->len);
        r->body_len = c->len;
        consume(c, c->len);
    }
    r->body[r->body_len] = '\0';
    return 0;
}

/* True if the server closes the connection (EOF or reset) within the receive
 * timeout and sends nothing more before that. */
static int closed_without_data(client *c)
{
    if (c->len)
        return 0;
    return fill(c) == 0;
}

static response *request(client *c, const char *raw)
{
    static response r;
    send_str(c, raw);
    assert_int_equal(read_response(c, &r), 0);
    return &r;
}

/* A new client sends a head that asks for 100-continue, reads the 100,
 * then sends the body: the echo handler's answer says `echo`. */
static void expect_echo_after_continue(test_server *ts, const char *head, const char *body,
                                       const char *echo)
{
    client *c = client_new(ts);
    send_str(c, head);
    response r;
    assert_int_equal(read_head(c, &r), 0);
    assert_int_equal(r.status, 100);
    send_str(c, body);
    assert_int_equal(read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, echo));
    client_free(c);
}

/* Sends the head of a POST /echo of n bytes and returns them, not yet
 * sent: 'first', 'first'+1, ... over 26 letters, with the echo handler's
 * checksum of them in *sum; room for 64 more bytes behind. */
static char *post_letters_head(client *c, size_t n, char first, unsigned *sum)
{
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    send_str(c, head);
    char *body = malloc(n + 64);
    assert_non_null(body);
    *sum = 0;
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(first + i % 26);
        *sum = *sum * 31 + (unsigned char)body[i];
    }
    return body;
}

/* The echo handler's answer to the n letters with checksum sum. */
static void expect_echo_of_letters(client *c, size_t n, unsigned sum)
{
    response r;
    assert_int_equal(read_response(c, &r), 0);
    char want[64];
    snprintf(want, sizeof want, "n=%zu nul=1 b= sum=%u", n, sum);
    assert_non_null(strstr(r.body, want));
}

/* At least min_ms and less than below_ms went by since start_us. */
static void expect_took(uint64_t start_us, uint64_t min_ms, uint64_t below_ms)
{
    uint64_t elapsed_ms = (cmx_now_us() - start_us) / 1000;
    assert_true(elapsed_ms >= min_ms);
    assert_true(elapsed_ms < below_ms);
}

/* ---- tests: requests and keep-alive ---------------------------------------- */

static void answers_get_and_post_with_content_length(void **state)
{
    client *c = client_new(*state);
    response *r = request(c, "GET /echo?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "Content-Type: text/plain"));
    assert_false(has_header(r, "Connection: close"));
    assert_string_equal(r->body, "GET /echo q=a=1&b=2 n=0 nul=1 b= sum=0");

    r = request(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "POST /echo q= n=11 nul=1 b=hello world"));
    client_free(c);
}

static void finds_headers_case_insensitively_and_adds_extra_headers(void **state)
{
    client *c = client_new(*state);
    response *r = request(c, "GET /hdr HTTP/1.1\r\nHost: x\r\nX-First: 1st\r\n"
                             "x-probe: found it\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "X-Extra: 1"));
    assert_string_equal(r->body, "found it|1st|0");
    client_free(c);
}

static void reuses_keep_alive_connection(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    for (int i = 0; i < 3; i++) {
        response *r = request(c, "GET /count HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(r->status, 200);
        assert_string_equal(r->body, "1");
    }
    assert_int_equal(atomic_load(&ts->handled), 3);
    client_free(c);
}

static void parses_request_arriving_one_byte_at_a_time(void **state)
{
    client *c = client_new(*state);
    const char *req = "POST /hdr?x HTTP/1.1\r\nHost: x\r\nX-First: first value\r\n"
                      "X-Probe: split across reads\r\nContent-Length: 2\r\n\r\nok";
    for (const char *p = req; *p; p++) {
        send_bytes(c, p, 1);
        usleep(500);
    }
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_string_equal(r.body, "split across reads|first value|0");
    client_free(c);
}

static void keeps_header_slices_valid_when_read_buffer_grows(void **state)
{
    client *c = client_new(*state);
    char big[9000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *req = malloc(12000);
    snprintf(req, 12000,
             "GET /hdr HTTP/1.1\r\nX-First: before\r\nX-Big: %s\r\nX-Probe: after\r\n\r\n", big);
    response *r = request(c, req);
    free(req);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "after|before|8999");
    client_free(c);
}

/* Sends `pipelined` (a /late request first) and checks that only the first
 * is handled while it is in flight, and that its answer is "late". */
static void expect_first_held_then_late(test_server *ts, client *c, const char *pipelined)
{
    send_str(c, pipelined);
    assert_true(wait_for(&ts->handled, 1));
    /* The later requests are buffered, not parsed, while the first is in
     * flight. */
    usleep(100 * 1000);
    assert_int_equal(atomic_load(&ts->handled), 1);
    assert_int_equal(atomic_load(&ts->closes), 0);
    ts_cmd(ts, 'r');
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_string_equal(r.body, "late");
}

static void answers_pipelined_requests_in_order_one_at_a_time(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    expect_first_held_then_late(
        ts, c,
        "GET /late HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /echo?second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        "GET /echo?third HTTP/1.1\r\nHost: x\r\n\r\n");
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_non_null(strstr(r.body, "POST /echo q=second n=3 nul=1 b=abc"));
    assert_int_equal(read_response(c, &r), 0);
    assert_non_null(strstr(r.body, "GET /echo q=third n=0"));
    assert_int_equal(atomic_load(&ts->handled), 3);
    assert_int_equal(atomic_load(&ts->closes), 0);
    client_free(c);
}

/* More pipelined bytes than the read buffer has room for behind the held
 * head: reading pauses while the request is in flight and picks up again
 * once it is answered, and every request is answered, in order. */
static void resumes_reading_pipelined_requests_that_filled_the_buffer(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    enum { N = 400 };
    char *reqs = malloc(N * 40 + 64);
    strcpy(reqs, "GET /late HTTP/1.1\r\n\r\n");
    for (int i = 0; i < N; i++)
        sprintf(reqs + strlen(reqs), "GET /echo?%d HTTP/1.1\r\n\r\n", i);
    assert_true(strlen(reqs) > 8192); /* more than the buffer holds */
    expect_first_held_then_late(ts, c, reqs);
    free(reqs);
    for (int i = 0; i < N; i++) {
        response r;
        assert_int_equal(read_response(c, &r), 0);
        char want[32];
        snprintf(want, sizeof want, "GET /echo q=%d n=0", i);
        assert_non_null(strstr(r.body, want));
    }
    assert_int_equal(atomic_load(&ts->handled), N + 1);
    client_free(c);
}

/* The body behind an already parsed head is received on its own; the next
 * request, sent in the same packet as the body, is still read and answered. */
static void reads_late_body_and_the_request_behind_it(void **state)
{
    client *c = client_new(*state);
    unsigned sum;
    char *body = post_letters_head(c, 3000, 'A', &sum);
    usleep(50 * 1000); /* the head is parsed before the body arrives */
    strcpy(body + 3000, "GET /echo?next HTTP/1.1\r\n\r\n");
    send_str(c, body);
    free(body);
    expect_echo_of_letters(c, 3000, sum);
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_non_null(strstr(r.body, "GET /echo q=next n=0"));
    client_free(c);
}

static void reads_chunked_request_body(void **state)
{
    client *c = client_new(*state);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    usleep(20 * 1000);
    response *r = request(c, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "n=11 nul=1 b=hello world"));
    /* The connection is still good for the next request. */
    assert_string_equal(request(c, "GET /count HTTP/1.1\r\n\r\n")->body, "1");
    client_free(c);
}

static void reads_large_body_arriving_in_pieces(void **state)
{
    client *c = client_new(*state);
    unsigned sum;
    char *body = post_letters_head(c, 300000, 'a', &sum);
    for (size_t off = 0; off < 300000; off += 50000) {
        send_bytes(c, body + off, 50000);
        usleep(2000);
    }
    free(body);
    expect_echo_of_letters(c, 300000, sum);
    client_free(c);
}

static void sends_100_continue_before_reading_body(void **state)
{
    expect_echo_after_continue(
        *state,
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        "hello", "b=hello");
}

static void answers_head_and_204_without_body(void **state)
{
    client *c = client_new(*state);
    send_str(c, "HEAD /echo HTTP/1.1\r\n\r\n");
    response r;
    assert_int_equal(read_head(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strcasestr(r.head, "\r\nContent-Length: 32\r\n")); /* of "HEAD /echo q= n=0 ..." */
    send_str(c, "GET /empty HTTP/1.1\r\n\r\n");
    assert_int_equal(read_head(c, &r), 0); /* no body bytes came before this head */
    assert_int_equal(r.status, 204);
    assert_null(strcasestr(r.head, "Content-Length"));
    assert_string_equal(request(c, "GET /count HTTP/1.1\r\n\r\n")->body, "1");
    client_free(c);
}

static void sends_100_continue_for_chunked_body(void **state)
{
    expect_echo_after_continue(
        *state, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3\r\nabc\r\n0\r\n\r\n", "n=3 nul=1 b=abc");
}

/* A new client's request is answered with 200 and Connection: close, and
 * the server closes the connection then. */
static void expect_answer_then_close(test_server *ts, const char *raw)
{
    client *c = client_new(ts);
    response *r = request(c, raw);
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "Connection: close"));
    assert_true(closed_without_data(c));
    client_free(c);
}

static void http10_closes_unless_keep_alive_is_asked_for(void **state)
{
    test_server *ts = *state;
    expect_answer_then_close(ts, "GET /echo HTTP/1.0\r\n\r\n");
    client *c = client_new(ts);
    response *r = request(c, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_true(has_header(r, "Connection: keep-alive"));
    r = request(c, "GET /count HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_string_equal(r->body, "1");
    client_free(c);
}

static void closes_after_answering_connection_close(void **state)
{
    expect_answer_then_close(*state, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
}

/* ---- tests: limits and framing ------------------------------------------- */

/* The answer is an OpenAI-shaped error with this status and code, and the
 * connection is closed after it. */
static void expect_error_and_close(client *c, int status, const char *code)
{
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_int_equal(r.status, status);
    assert_true(has_header(&r, "Connection: close"));
    assert_true(has_header(&r, "Content-Type: application/json"));
    char want[128];
    snprintf(want, sizeof want,
             "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"%s\"}}", code);
    assert_non_null(strstr(r.body, want));
    assert_memory_equal(r.body, "{\"error\":{\"message\":\"", 21);
    assert_true(closed_without_data(c));
}

/* A new client sends raw and gets that error answer, then the close. */
static void expect_refused(test_server *ts, const char *raw, int status, const char *code)
{
    client *c = client_new(ts);
    send_str(c, raw);
    expect_error_and_close(c, status, code);
    client_free(c);
}

/* A new client sends raw and gets a bare `status` answer, then the close. */
static void expect_status_then_close(test_server *ts, const char *raw, int status)
{
    client *c = client_new(ts);
    send_str(c, raw);
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_int_equal(r.status, status);
    assert_true(has_header(&r, "Connection: close"));
    assert_true(closed_without_data(c));
    client_free(c);
}

static void answers_431_for_too_many_headers(void **state)
{
    test_server *ts = *state;
    char req[2048] = "GET /echo HTTP/1.1\r\n";
    for (int i = 0; i < 21; i++)
        snprintf(req + strlen(req), sizeof req - strlen(req), "X-H%d: v\r\n", i);
    strcat(req, "\r\n");
    expect_refused(ts, req, 431, "request_header_fields_too_large");
    assert_int_equal(atomic_load(&ts->handled), 0);
}

static void answers_431_for_too_many_header_bytes(void **state)
{
    test_server *ts = *state;
    char req[4096];
    char big[3000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
    expect_refused(ts, req, 431, "request_header_fields_too_large");

    /* Also when the head keeps coming without an end. */
    client *c = client_new(ts);
    send_str(c, "GET /echo HTTP/1.1\r\n");
    for (int i = 0; i < 40; i++)
        send_str(c, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_error_and_close(c, 431, "request_header_fields_too_large");
    assert_int_equal(atomic_load(&ts->handled), 0);
    client_free(c);
}

static const limits_change body_of_1000 = {.max_body_bytes = 1000};

static void answers_413_for_content_length_over_limit(void **state)
{
    test_server *ts = *state;
    expect_refused(ts, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413,
                   "request_too_large");
    /* With Expect: 100-continue the refusal comes instead of the 100. */
    expect_refused(ts,
                   "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
                   413, "request_too_large");

    /* Exactly at the limit is fine. */
    client *c = client_new(ts);
    char req[1200];
    int n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    memset(req + n, 'z', 1000);
    send_bytes(c, req, (size_t)n + 1000);
    response r;
    assert_int_equal(read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    client_free(c);
    assert_int_equal(atomic_load(&ts->handled), 1);
}

/* After an error answer the server stops sending, swallows what the client
 * still sends (so no reset destroys the answer) and lets go as soon as the
 * client closes, without waiting out the linger time. */
static void lingers_after_error_until_the_client_closes(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    size_t n = 200000;
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    send_str(c, head);
    char *body = calloc(1, n);
    send_bytes(c, body, n); /* completes only if the server keeps reading */
    free(body);
    expect_error_and_close(c, 413, "request_too_large");
    assert_int_equal(ts_open_connections(ts), 1); /* lingering (2 s at most) */
    close(c->fd);
    c->fd = -1;
    int open = 1;
    for (int i = 0; i < 150 && open; i++) { /* well below the linger time */
        usleep(10 * 1000);
        open = ts_open_connections(ts);
    }
    assert_int_equal(open, 0);
    client_free(c);
}

static void answers_413_for_chunked_body_over_limit(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    send_str(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[507]; /* "1f4\r\n" + 500 bytes + "\r\n" */
    memcpy(chunk, "1f4\r\n", 5);
    memset(chunk + 5, 'c', 500);
    memcpy(chunk + 505, "\r\n", 2);
    for (int i = 0; i < 3; i++)
        send_bytes(c, chunk, 507);
    expect_error_and_close(c, 413, "request_too_large");
    assert_int_equal(atomic_load(&ts->handled), 0);
    client_free(c);
}

static void answers_400_for_content_length_with_transfer_encoding(void **state)
{
    test_server *ts = *state;
    expect_status_then_close(
        ts,
        "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400);
    assert_int_equal(atomic_load(&ts->handled), 0);
}

static void answers_400_for_conflicting_content_lengths(void **state)
{
    test_server *ts = *state;
    expect_status_then_close(
        ts, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", 400);
    expect_status_then_close(
        ts, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400);
    assert_int_equal(atomic_load(&ts->handled), 0);
}

static void answers_400_for_transfer_encoding_other_than_chunked(void **state)
{
    test_server *ts = *state;
    expect_refused(ts, "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                   400, "unsupported_transfer_encoding");
    assert_int_equal(atomic_load(&ts->handled), 0);
}

static void answers_400_for_malformed_request(void **state)
{
    test_server *ts = *state;
    expect_refused(ts, "GET /echo HTTP/1.1\r\nBad Header Name: x\r\n\r\n", 400, "bad_request");
    expect_refused(ts, "HELLO\r\n\r\n", 400, "bad_request");
    /* Folded header lines are refused rather than glued together. */
    expect_refused(ts, "GET /echo HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", 400, "bad_request");
    assert_int_equal(atomic_load(&ts->handled), 0);
}

/* ---- tests: timeouts --------------------------------------------------------- */

/* The 408 answer came 300 ms after start_us (give or take a loaded
 * machine), the connection closed, and nothing was handed to the handler. */
static void expect_timed_out(test_server *ts, client *c, uint64_t start_us)
{
    expect_error_and_close(c, 408, "request_timeout");
    expect_took(start_us, 250, 5 * 300);
    assert_int_equal(atomic_load(&ts->handled), 0);
    client_free(c);
}

static const limits_change header_timeout_300 = {.header_timeout_ms = 300};

static void answers_408_when_head_trickles_past_header_timeout(void **state)
{
    client *c = client_new(*state);
    uint64_t start = cmx_now_us();
    send_str(c, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    /* One byte every 50 ms: the connection is never idle, only slow. */
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    while (poll(&pfd, 1, 50) == 0 && cmx_now_us() - start < 3000000)
        send_str(c, "a");
    expect_timed_out(*state, c, start);
}

static const limits_change body_timeout_300 = {.body_timeout_ms = 300};

static void answers_408_when_body_is_late(void **state)
{
    client *c = client_new(*state);
    uint64_t start = cmx_now_us();
    send_str(c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    expect_timed_out(*state, c, start);
}

static int ts_busy_connections(test_server *ts)
{
    ts_cmd(ts, 'b');
    return atomic_load(&ts->busy_conns);
}

/* Polls until `want` connections hold a request state (5 s at most): an
 * idle connection gives its state back a moment after its answer. */
static int ts_wait_busy(test_server *ts, int want)
{
    for (int i = 0; i < 500 && ts_busy_connections(ts) != want; i++)
        usleep(10000);
    return ts_busy_connections(ts);
}

/* An idle keep-alive connection, or one that has sent nothing, is only its
 * small record: the request state goes back a moment after the answer is
 * out (and stays while requests keep coming). */
static const limits_change long_idle = {
    .keepalive_timeout_ms = 30000, /* the clients idle for seconds here */
    .header_timeout_ms = 10000,
};

static void idle_connections_give_back_their_request_state(void **state)
{
    test_server *ts = *state;
    enum { N = 20 };
    client *served[N], *silent[5];
    for (int i = 0; i < N; i++) {
        served[i] = client_new(ts);
        response *r = request(served[i], "GET /echo HTTP/1.1\r\n\r\n");
        assert_int_equal(r->status, 200);
    }
    for (int i = 0; i < 5; i++)
        silent[i] = client_new(ts);
    while (ts_open_connections(ts) < N + 5)
        usleep(1000);
    /* Just answered: the states are still parked with their connections. */
    assert_true(ts_busy_connections(ts) > 0);
    uint64_t t0 = cmx_now_us();
    assert_int_equal(ts_wait_busy(ts, 0), 0);
    assert_true(cmx_now_us() - t0 < 3000000);

    /* Half a head holds a state until the request is answered. */
    send_str(served[0], "GET /echo HTTP/1.1\r\nX-Half: ");
    assert_int_equal(ts_wait_busy(ts, 1), 1);
    usleep(1500 * 1000); /* longer than a parked state lasts: a request holds it */
    assert_int_equal(ts_busy_connections(ts), 1);
    response *r = request(served[0], "yes\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(ts_wait_busy(ts, 0), 0);

    /* A stream in flight holds one too, and gives it back at its end. */
    send_str(served[1], "GET /stream HTTP/1.1\r\n\r\n");
    assert_true(wait_for(&ts->chunks_written, 1));
    assert_int_equal(ts_busy_connections(ts), 1);
    ts_cmd(ts, 'e');
    assert_int_equal(ts_wait_busy(ts, 0), 0);

    /* Still serving: the states are reused. */
    for (int i = 0; i < N; i += 7) {
        r = request(served[i], "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert_int_equal(r->status, 200);
    }
    assert_int_equal(ts_wait_busy(ts, 0), 0);
    for (int i = 0; i < N; i++)
        client_free(served[i]);
    for (int i = 0; i < 5; i++)
        client_free(silent[i]);
}

static const limits_change keepalive_200 = {.keepalive_timeout_ms = 200};

static void closes_idle_keep_alive_connection_silently(void **state)
{
    client *c = client_new(*state);
    /* Measured from before the request: the idle time starts after it. */
    uint64_t start = cmx_now_us();
    response *r = request(c, "GET /echo HTTP/1.1\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_true(closed_without_data(c));
    expect_took(start, 200, 5 * 200);
    client_free(c);
}

static const limits_change write_timeout_300 = {.write_timeout_ms = 300};

static void write_timeout_drops_client_that_stops_reading(void **state)
{
    test_server *ts = *state;
    client *c = client_with(ts, 4096);
    send_str(c, "GET /flood HTTP/1.1\r\n\r\n");
    /* Never read: the server's writes stop making progress. */
    assert_true(wait_for(&ts->handled, 1));
    ts_cmd(ts, 'p');
    assert_true(atomic_load(&ts->pending) > 1024 * 1024); /* most of the 16 MiB is queued */
    assert_true(wait_for(&ts->closes, 1));
    assert_int_equal(ts_open_connections(ts), 0);
    client_free(c);
}

/* Reads a response of any size, keeping only its length. */
static long skip_response(client *c)
{
    response r;
    if (read_head(c, &r) < 0)
        return -1;
    const char *cl = strcasestr(r.head, "\r\nContent-Length:");
    assert_non_null(cl);
    long left = strtol(cl + 17, NULL, 10), total = left;
    while (left > 0) {
        if (c->len == 0 && fill(c) <= 0)
            return -1;
        size_t n = c->len < (size_t)left ? c->len : (size_t)left;
        consume(c, n);
        left -= (long)n;
    }
    return total;
}

static void holds_pipelined_requests_while_client_does_not_read(void **state)
{
    test_server *ts = *state;
    client *c = client_with(ts, 4096);
    char reqs[40 * 32] = "";
    for (int i = 0; i < 40; i++)
        strcat(reqs, "GET /big HTTP/1.1\r\n\r\n");
    send_str(c, reqs);
    usleep(300 * 1000);
    /* 20 MiB of answers were asked for; far fewer fit in socket buffers. */
    int handled = atomic_load(&ts->handled);
    assert_true(handled >= 1);
    assert_true(handled < 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(skip_response(c), 512 * 1024);
    assert_int_equal(atomic_load(&ts->handled), 40);
    client_free(c);
}

/* ---- tests: streaming and disconnects ---------------------------------------- */

/* A new client asks for /stream and reads its head and its first chunk. */
static client *stream_started(test_server *ts, response *head)
{
    client *c = client_new(ts);
    send_str(c, "GET /stream HTTP/1.1\r\n\r\n");
    assert_int_equal(read_head(c, head), 0);
    char chunk[64];
    assert_int_equal(read_chunk(c, chunk, sizeof chunk), 3);
    assert_memory_equal(chunk, "one", 3);
    return c;
}

static void streams_chunks_as_they_are_written(void **state)
{
    test_server *ts = *state;
    response r;
    client *c = stream_started(ts, &r);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Transfer-Encoding: chunked"));
    assert_true(has_header(&r, "X-Stream: yes"));
    /* The first chunk arrived before the second was written. */
    assert_int_equal(atomic_load(&ts->chunks_written), 1);
    ts_cmd(ts, 'w');
    char chunk[64];
    assert_int_equal(read_chunk(c, chunk, sizeof chunk), 3);
    assert_memory_equal(chunk, "two", 3);
    ts_cmd(ts, 'e');
    assert_int_equal(read_chunk(c, chunk, sizeof chunk), 0);

    /* A finished stream leaves the connection ready for the next request. */
    assert_string_equal(request(c, "GET /count HTTP/1.1\r\n\r\n")->body, "1");
    assert_int_equal(atomic_load(&ts->closes), 0);
    client_free(c);
}

static void streams_synchronously_from_the_handler(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    response *r = request(c, "GET /sync-stream HTTP/1.1\r\n\r\n");
    assert_int_equal(r->status, 201);
    assert_string_equal(r->body, "abc");
    client_free(c);

    /* HTTP/1.0 has no chunked encoding: raw body, then close. */
    c = client_new(ts);
    r = request(c, "GET /sync-stream HTTP/1.0\r\n\r\n");
    assert_int_equal(r->status, 201);
    assert_false(has_header(r, "Transfer-Encoding: chunked"));
    assert_string_equal(r->body, "abc");
    client_free(c);
}

static void stream_abort_leaves_body_unterminated_and_closes(void **state)
{
    test_server *ts = *state;
    response r;
    client *c = stream_started(ts, &r);
    ts_cmd(ts, 'a');
    /* No last chunk: the connection just ends. */
    char chunk[64];
    assert_int_equal(read_chunk(c, chunk, sizeof chunk), -1);
    assert_int_equal(c->len, 0);
    assert_int_equal(atomic_load(&ts->closes), 0); /* the owner ended it, not the client */
    client_free(c);
}

/* The client goes away without a word; the server calls on_close once. */
static void vanish(test_server *ts, client *c)
{
    close(c->fd);
    c->fd = -1;
    assert_true(wait_for(&ts->closes, 1));
    client_free(c);
}

static void client_vanishing_mid_stream_calls_on_close_once(void **state)
{
    test_server *ts = *state;
    response r;
    vanish(ts, stream_started(ts, &r));
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&ts->closes), 1);
    assert_int_equal(ts_open_connections(ts), 0);
}

static void client_vanishing_while_request_in_flight_calls_on_close(void **state)
{
    test_server *ts = *state;
    client *c = client_new(ts);
    /* A pipelined second request must not be parsed after the close either. */
    send_str(c, "GET /late HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    assert_true(wait_for(&ts->handled, 1));
    vanish(ts, c);
    ts_cmd(ts, 'r'); /* the handler's reference was cleared by on_close: a no-op */
    assert_int_equal(atomic_load(&ts->closes), 1);
    assert_int_equal(atomic_load(&ts->handled), 1);
    assert_int_equal(ts_open_connections(ts), 0);
}

/* ---- tests: shutdown --------------------------------------------------------- */

static void stop_accepting_closes_idle_and_finishes_in_flight(void **state)
{
    test_server *ts = *state;
    client *idle = client_new(ts);
    response *r = request(idle, "GET /echo HTTP/1.1\r\n\r\n");
    assert_int_equal(r->status, 200);
    client *busy = client_new(ts);
    send_str(busy, "GET /late HTTP/1.1\r\n\r\n");
    assert_true(wait_for(&ts->handled, 2));
    assert_int_equal(ts_open_connections(ts), 2);

    ts_cmd(ts, 's');
    assert_true(closed_without_data(idle));
    assert_true(cmx_loopback_connect(ts->port, 0) < 0); /* no longer listening */

    ts_cmd(ts, 'r');
    response rr;
    assert_int_equal(read_response(busy, &rr), 0);
    assert_string_equal(rr.body, "late");
    assert_true(has_header(&rr, "Connection: close"));
    assert_true(closed_without_data(busy));
    client_free(busy);
    client_free(idle);
    for (int i = 0; i < 500 && ts_open_connections(ts) != 0; i++)
        usleep(2000);
    assert_int_equal(ts_open_connections(ts), 0);
    assert_int_equal(atomic_load(&ts->closes), 0);
}

static void server_free_tells_owner_of_request_in_flight(void **state)
{
    test_server *ts = ts_start(NULL);
    client *c = client_new(ts);
    send_str(c, "GET /late HTTP/1.1\r\n\r\n");
    assert_true(wait_for(&ts->handled, 1));
    /* Like ts_stop, but the loop ends with /late still pending. */
    ts_free_server(ts);
    assert_int_equal(atomic_load(&ts->closes), 1);
    event_base_free(ts->base);
    assert_true(closed_without_data(c));
    close(ts->ctl[0]);
    close(ts->ctl[1]);
    free(ts);
    client_free(c);
}

static void default_limits_match_the_header(void **state)
{
    cmx_http_limits lim;
    cmx_http_limits_default(&lim);
    assert_int_equal(lim.max_header_bytes, 16 * 1024);
    assert_int_equal(lim.max_headers, 100);
    assert_int_equal(lim.max_body_bytes, 4 * 1024 * 1024);
    assert_int_equal(lim.header_timeout_ms, 10000);
    assert_int_equal(lim.body_timeout_ms, 30000);
    assert_int_equal(lim.keepalive_timeout_ms, 75000);
    assert_int_equal(lim.write_timeout_ms, 60000);
}

static const limits_change header_bytes_16k = {.max_header_bytes = 16 * 1024};

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T_WITH(name, limits)                                                                       \
    cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, (void *)&limits)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_limits_match_the_header),
        T(answers_get_and_post_with_content_length),
        T(finds_headers_case_insensitively_and_adds_extra_headers),
        T(reuses_keep_alive_connection),
        T_WITH(idle_connections_give_back_their_request_state, long_idle),
        T(parses_request_arriving_one_byte_at_a_time),
        T_WITH(keeps_header_slices_valid_when_read_buffer_grows, header_bytes_16k),
        T(answers_pipelined_requests_in_order_one_at_a_time),
        T(resumes_reading_pipelined_requests_that_filled_the_buffer),
        T(reads_late_body_and_the_request_behind_it),
        T(reads_chunked_request_body),
        T(reads_large_body_arriving_in_pieces),
        T(sends_100_continue_before_reading_body),
        T(sends_100_continue_for_chunked_body),
        T(answers_head_and_204_without_body),
        T(http10_closes_unless_keep_alive_is_asked_for),
        T(closes_after_answering_connection_close),
        T(answers_431_for_too_many_headers),
        T(answers_431_for_too_many_header_bytes),
        T_WITH(answers_413_for_content_length_over_limit, body_of_1000),
        T_WITH(lingers_after_error_until_the_client_closes, body_of_1000),
        T_WITH(answers_413_for_chunked_body_over_limit, body_of_1000),
        T(answers_400_for_content_length_with_transfer_encoding),
        T(answers_400_for_conflicting_content_lengths),
        T(answers_400_for_transfer_encoding_other_than_chunked),
        T(answers_400_for_malformed_request),
        T_WITH(answers_408_when_head_trickles_past_header_timeout, header_timeout_300),
        T_WITH(answers_408_when_body_is_late, body_timeout_300),
        T_WITH(closes_idle_keep_alive_connection_silently, keepalive_200),
        T_WITH(write_timeout_drops_client_that_stops_reading, write_timeout_300),
        T(holds_pipelined_requests_while_client_does_not_read),
        T(streams_chunks_as_they_are_written),
        T(streams_synchronously_from_the_handler),
        T(stream_abort_leaves_body_unterminated_and_closes),
        T(client_vanishing_mid_stream_calls_on_close_once),
        T(client_vanishing_while_request_in_flight_calls_on_close),
        T(stop_accepting_closes_idle_and_finishes_in_flight),
        cmocka_unit_test(server_free_tells_owner_of_request_in_flight),
    };
#undef T
#undef T_WITH
    return cmocka_run_group_tests(tests, NULL, NULL);
}
