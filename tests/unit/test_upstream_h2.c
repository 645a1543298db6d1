/* test_upstream_h2.c — the upstream client's HTTP/2 (h2c) against a
 * server that writes raw frames, so each test decides exactly what goes on
 * the wire: a refused stream, a reset after the head, a connection lost
 * after the request went out, a PING left unanswered, a cancel.
 *
 * The server runs in a thread, takes connections one after another and
 * runs the test's script on each.  Frames are built by hand: a response
 * head is HPACK's static-table entry 8 (":status: 200", one byte 0x88). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "http/upstream.h"

enum { F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4, F_PING = 6, F_GOAWAY = 7 };
enum { END_STREAM = 1, ACK = 1, END_HEADERS = 4 };
enum { ERR_INTERNAL = 2, ERR_REFUSED = 7, ERR_CANCEL = 8 };

typedef struct h2srv h2srv;
typedef void (*h2_script)(h2srv *s, int fd, int index);

struct h2srv {
    int lfd, port;
    pthread_t thread;
    h2_script script;
    atomic_int accepted;
    atomic_int stop;
    atomic_int pings_seen;
    atomic_int rst_code; /* last RST_STREAM code from the client, -1 none */
};

/* ---- frames ---------------------------------------------------------------- */

static void send_frame(int fd, int type, int flags, uint32_t stream, const void *payload,
                       size_t len)
{
    unsigned char h[9] = {
        (unsigned char)(len >> 16),    (unsigned char)(len >> 8),    (unsigned char)len,
        (unsigned char)type,           (unsigned char)flags,         (unsigned char)(stream >> 24),
        (unsigned char)(stream >> 16), (unsigned char)(stream >> 8), (unsigned char)stream};
    send(fd, h, sizeof h, MSG_NOSIGNAL);
    if (len)
        send(fd, payload, len, MSG_NOSIGNAL);
}

static void send_rst(int fd, uint32_t stream, uint32_t code)
{
    unsigned char p[4] = {(unsigned char)(code >> 24), (unsigned char)(code >> 16),
                          (unsigned char)(code >> 8), (unsigned char)code};
    send_frame(fd, F_RST, 0, stream, p, 4);
}

static int read_full(h2srv *s, int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        if (atomic_load(&s->stop))
            return -1;
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one frame; notes PINGs and RST_STREAMs.  -1 when the client is gone. */
static int read_frame(h2srv *s, int fd, int *type, int *flags, uint32_t *stream)
{
    unsigned char h[9], payload[65536];
    if (read_full(s, fd, h, 9) != 0)
        return -1;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    if (len > sizeof payload || read_full(s, fd, payload, len) != 0)
        return -1;
    *type = h[3];
    *flags = h[4];
    *stream =
        ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) & 0x7fffffff;
    if (*type == F_PING && !(*flags & ACK))
        atomic_fetch_add(&s->pings_seen, 1);
    if (*type == F_RST && len == 4)
        atomic_store(&s->rst_code, (int)payload[3]);
    return 0;
}

/* Preface and SETTINGS both ways, then the first request's end: the stream
 * id, or 0 when the client went away. */
static uint32_t await_request(h2srv *s, int fd)
{
    unsigned char preface[24];
    if (read_full(s, fd, preface, sizeof preface) != 0)
        return 0;
    send_frame(fd, F_SETTINGS, 0, 0, NULL, 0);
    int type, flags;
    uint32_t stream;
    while (read_frame(s, fd, &type, &flags, &stream) == 0) {
        if (type == F_SETTINGS && !(flags & ACK))
            send_frame(fd, F_SETTINGS, ACK, 0, NULL, 0);
        if ((type == F_HEADERS || type == F_DATA) && (flags & END_STREAM))
            return stream;
    }
    return 0;
}

static void drain_until_closed(h2srv *s, int fd)
{
    int type, flags;
    uint32_t stream;
    while (read_frame(s, fd, &type, &flags, &stream) == 0)
        ;
}

static const unsigned char status_200 = 0x88;

static void answer_hello(int fd, uint32_t stream)
{
    send_frame(fd, F_HEADERS, END_HEADERS, stream, &status_200, 1);
    send_frame(fd, F_DATA, END_STREAM, stream, "hello", 5);
}

/* ---- scripts --------------------------------------------------------------- */

static void script_hello(h2srv *s, int fd, int index)
{
    uint32_t id = await_request(s, fd);
    if (id)
        answer_hello(fd, id);
    drain_until_closed(s, fd); /* PINGs are read and never answered */
}

static void script_refuse_first(h2srv *s, int fd, int index)
{
    uint32_t id = await_request(s, fd);
    if (!id)
        return;
    if (index == 0)
        send_rst(fd, id, ERR_REFUSED);
    else
        answer_hello(fd, id);
    drain_until_closed(s, fd);
}

static void script_reset_after_head(h2srv *s, int fd, int index)
{
    uint32_t id = await_request(s, fd);
    if (!id)
        return;
    send_frame(fd, F_HEADERS, END_HEADERS, id, &status_200, 1);
    send_frame(fd, F_DATA, 0, id, "par", 3);
    send_rst(fd, id, ERR_INTERNAL);
    drain_until_closed(s, fd);
}

static void script_close_after_request(h2srv *s, int fd, int index)
{
    await_request(s, fd);
}

static void script_head_then_wait(h2srv *s, int fd, int index)
{
    uint32_t id = await_request(s, fd);
    if (!id)
        return;
    send_frame(fd, F_HEADERS, END_HEADERS, id, &status_200, 1);
    drain_until_closed(s, fd);
}

/* ---- the server thread ----------------------------------------------------- */

static void *srv_main(void *arg)
{
    h2srv *s = arg;
    for (int index = 0; !atomic_load(&s->stop); index++) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            index--;
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        s->script(s, fd, index);
        close(fd);
    }
    return NULL;
}

static h2srv *srv_start(h2_script script)
{
    h2srv *s = calloc(1, sizeof *s);
    s->script = script;
    atomic_store(&s->rst_code, -1);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    getsockname(s->lfd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->thread, NULL, srv_main, s);
    return s;
}

static void srv_stop(h2srv *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    free(s);
}

/* ---- the client side ------------------------------------------------------- */

typedef struct result {
    int status, completes;
    char body[256];
    size_t body_len;
    cmx_error err;
    cmx_upstream_call *call;
    int cancel_on_head;
} result;

static void on_head(void *ctx, int status, const cmx_http_header *h, size_t n)
{
    result *r = ctx;
    r->status = status;
    if (r->cancel_on_head)
        cmx_upstream_cancel(r->call);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    result *r = ctx;
    if (r->body_len + len < sizeof r->body) {
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
    }
}

static void on_complete(void *ctx, const cmx_error *err)
{
    result *r = ctx;
    r->completes++;
    r->err = *err;
}

static const cmx_upstream_callbacks callbacks = {on_head, on_body, on_complete};

typedef struct fixture {
    struct event_base *base;
    cmx_upstream *up;
    cmx_url origin;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.https_proxy = s.http_proxy = s.no_proxy = NULL;
    s.http2_ping_interval_ms = 100;
    f->up = cmx_upstream_new(f->base, NULL, &s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cmx_upstream_free(f->up);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void run_ms(fixture *f, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void run_call(fixture *f, h2srv *s, result *r)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    cmx_error err;
    assert_int_equal(cmx_url_parse(url, &f->origin, &err), CMX_OK);
    cmx_upstream_request req = {
        .origin = &f->origin,
        .tls_verify = 1,
        .http2 = CMX_HTTP2_ON,
        .method = "GET",
        .path = "/v1/models",
        .headers = "X-Client: test\r\n",
        .headers_len = 16,
        .timeouts = {1000, 1000, 1000, 3000},
    };
    r->call = cmx_upstream_send(f->up, &req, &callbacks, r);
    assert_non_null(r->call);
    uint64_t deadline = cmx_now_us() + 5000000;
    while (!r->completes && cmx_now_us() < deadline)
        run_ms(f, 10);
    assert_int_equal(r->completes, 1);
}

static void stats_of(fixture *f, cmx_upstream_stats *st)
{
    cmx_upstream_get_stats(f->up, st);
}

/* ---- tests ----------------------------------------------------------------- */

static void h2c_answer_arrives_with_status_and_body(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_hello);
    result r = {0};
    run_call(f, s, &r);
    assert_int_equal(r.err.kind, CMX_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    cmx_upstream_stats st;
    stats_of(f, &st);
    assert_int_equal(st.h2_streams, 1);
    assert_int_equal(st.h2_connections_now, 1);
    assert_int_equal(st.h2_streams_now, 0);
    srv_stop(s);
}

static void unanswered_ping_closes_the_idle_connection(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_hello);
    result r = {0};
    run_call(f, s, &r);
    assert_int_equal(r.err.kind, CMX_OK);
    run_ms(f, 400); /* a PING at 100 ms, no answer by 200 ms */
    cmx_upstream_stats st;
    stats_of(f, &st);
    assert_true(atomic_load(&s->pings_seen) >= 1);
    assert_int_equal(st.h2_ping_failures, 1);
    assert_int_equal(st.h2_connections_now, 0);
    srv_stop(s);
}

static void refused_stream_is_sent_again_on_a_new_connection(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_refuse_first);
    result r = {0};
    run_call(f, s, &r);
    assert_int_equal(r.err.kind, CMX_OK);
    assert_memory_equal(r.body, "hello", 5);
    cmx_upstream_stats st;
    stats_of(f, &st);
    assert_int_equal(st.h2_refused_retries, 1);
    assert_int_equal(atomic_load(&s->accepted), 2);
    srv_stop(s);
}

static void reset_after_the_head_fails_once_as_unavailable(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_reset_after_head);
    result r = {0};
    run_call(f, s, &r);
    assert_int_equal(r.err.kind, CMX_ERR_UNAVAILABLE);
    assert_int_equal(r.err.cause, CMX_CAUSE_RESET);
    assert_non_null(strstr(r.err.message, "INTERNAL_ERROR"));
    assert_non_null(strstr(r.err.message, "after 3 body bytes"));
    assert_memory_equal(r.body, "par", 3);
    run_ms(f, 50);
    assert_int_equal(r.completes, 1);
    assert_int_equal(atomic_load(&s->accepted), 1); /* processed: never sent again */
    srv_stop(s);
}

static void connection_lost_after_the_request_went_out_is_not_sent_again(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_close_after_request);
    result r = {0};
    run_call(f, s, &r);
    assert_int_equal(r.err.kind, CMX_ERR_UNAVAILABLE);
    assert_non_null(strstr(r.err.message, "before any response byte"));
    run_ms(f, 50);
    assert_int_equal(atomic_load(&s->accepted), 1);
    srv_stop(s);
}

static void cancel_resets_the_stream(void **state)
{
    fixture *f = *state;
    h2srv *s = srv_start(script_head_then_wait);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    cmx_error err;
    assert_int_equal(cmx_url_parse(url, &f->origin, &err), CMX_OK);
    cmx_upstream_request req = {
        .origin = &f->origin,
        .http2 = CMX_HTTP2_ON,
        .method = "GET",
        .path = "/",
        .timeouts = {1000, 1000, 1000, 3000},
    };
    result r = {.cancel_on_head = 1};
    r.call = cmx_upstream_send(f->up, &req, &callbacks, &r);
    for (int i = 0; i < 100 && atomic_load(&s->rst_code) < 0; i++)
        run_ms(f, 10);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.completes, 0); /* cancelled: no on_complete */
    assert_int_equal(atomic_load(&s->rst_code), ERR_CANCEL);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(h2c_answer_arrives_with_status_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(unanswered_ping_closes_the_idle_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_stream_is_sent_again_on_a_new_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reset_after_the_head_fails_once_as_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            connection_lost_after_the_request_went_out_is_not_sent_again, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_resets_the_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
