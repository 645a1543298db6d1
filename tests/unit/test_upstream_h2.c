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

#include "helpers/fake_http.h"
#include "helpers/loopback.h"
#include "helpers/upstream_client.h"
#include "http/upstream.h"

enum { F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4, F_PING = 6, F_GOAWAY = 7 };
enum { END_STREAM = 1, ACK = 1, END_HEADERS = 4 };
enum { ERR_INTERNAL = 2, ERR_REFUSED = 7, ERR_CANCEL = 8 };

typedef struct h2srv h2srv;
typedef void (*h2_script)(h2srv *s, int fd, int index);

struct h2srv {
    cmx_loopback_server ls;
    h2_script script;
    atomic_int accepted;
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
        if (atomic_load(&s->ls.stop))
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
    int fd;
    for (int index = 0; (fd = cmx_loopback_server_accept(&s->ls)) >= 0; index++) {
        atomic_fetch_add(&s->accepted, 1);
        s->script(s, fd, index);
        close(fd);
    }
    return NULL;
}

static void srv_stop(void *server)
{
    h2srv *s = server;
    cmx_loopback_server_stop(&s->ls);
    free(s);
}

/* ---- the client side ------------------------------------------------------- */

typedef struct fixture {
    cmx_test_upstream u; /* first: the helpers' setup and teardown */
    h2srv *s;            /* the test's server, stopped at teardown */
    cmx_upstream_request req;
    cmx_test_call r;
} fixture;

static int setup(void **state)
{
    cmx_upstream_settings s;
    cmx_test_upstream_settings(&s);
    s.http2_ping_interval_ms = 100;
    return cmx_test_upstream_setup(state, sizeof(fixture), &s);
}

/* Starts the test's server with `script` and aims an h2c request at it. */
static fixture *serve(void *state, h2_script script)
{
    fixture *f = state;
    f->s = calloc(1, sizeof *f->s);
    f->s->script = script;
    atomic_store(&f->s->rst_code, -1);
    cmx_loopback_server_start(&f->s->ls, 0, srv_main, f->s);
    f->u.server = f->s;
    f->u.stop_server = srv_stop;
    cmx_test_upstream_origin(&f->u, 0, "127.0.0.1", f->s->ls.port);
    f->req = (cmx_upstream_request){
        .origin = &f->u.origin,
        .tls_verify = 1,
        .http2 = CMX_HTTP2_ON,
        .method = "GET",
        .path = "/v1/models",
        .headers = "X-Client: test\r\n",
        .headers_len = 16,
        .timeouts = {1000, 1000, 1000, 3000},
    };
    return f;
}

/* Makes the request and waits for its end. */
static const cmx_test_call *call(fixture *f)
{
    cmx_test_call_run(f->u.base, f->u.up, &f->req, &f->r);
    return &f->r;
}

static cmx_upstream_stats stats(fixture *f)
{
    return cmx_test_upstream_stats(&f->u);
}

/* ---- tests ----------------------------------------------------------------- */

static void h2c_answer_arrives_with_status_and_body(void **state)
{
    fixture *f = serve(*state, script_hello);
    const cmx_test_call *r = call(f);
    cmx_test_call_expect(r, CMX_OK);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 5);
    assert_memory_equal(r->body, "hello", 5);
    cmx_upstream_stats st = stats(f);
    assert_int_equal(st.h2_streams, 1);
    assert_int_equal(st.h2_connections_now, 1);
    assert_int_equal(st.h2_streams_now, 0);
}

static void unanswered_ping_closes_the_idle_connection(void **state)
{
    fixture *f = serve(*state, script_hello);
    cmx_test_call_expect(call(f), CMX_OK);
    cmx_run_for(f->u.base, 80); /* a PING at 100 ms, no answer by 200 ms */
    assert_true(atomic_load(&f->s->pings_seen) >= 1);
    assert_int_equal(stats(f).h2_ping_failures, 1);
    assert_int_equal(stats(f).h2_connections_now, 0);
}

static void refused_stream_is_sent_again_on_a_new_connection(void **state)
{
    fixture *f = serve(*state, script_refuse_first);
    const cmx_test_call *r = call(f);
    cmx_test_call_expect(r, CMX_OK);
    assert_memory_equal(r->body, "hello", 5);
    assert_int_equal(stats(f).h2_refused_retries, 1);
    assert_int_equal(atomic_load(&f->s->accepted), 2);
}

static void reset_after_the_head_fails_once_as_unavailable(void **state)
{
    fixture *f = serve(*state, script_reset_after_head);
    const cmx_test_call *r = call(f);
    cmx_test_call_expect_failure(r, CMX_ERR_UNAVAILABLE, CMX_CAUSE_RESET, "INTERNAL_ERROR");
    assert_non_null(strstr(r->err.message, "after 3 body bytes"));
    assert_memory_equal(r->body, "par", 3);
    cmx_run_for(f->u.base, 10);
    assert_int_equal(r->completes, 1);
    assert_int_equal(atomic_load(&f->s->accepted), 1); /* processed: never sent again */
}

static void connection_lost_after_the_request_went_out_is_not_sent_again(void **state)
{
    fixture *f = serve(*state, script_close_after_request);
    const cmx_test_call *r = call(f);
    cmx_test_call_expect(r, CMX_ERR_UNAVAILABLE);
    assert_non_null(strstr(r->err.message, "before any response byte"));
    cmx_run_for(f->u.base, 10);
    assert_int_equal(atomic_load(&f->s->accepted), 1);
}

static void cancel_resets_the_stream(void **state)
{
    fixture *f = serve(*state, script_head_then_wait);
    f->r.cancel_on_head = 1;
    f->r.call = cmx_upstream_send(f->u.up, &f->req, &cmx_test_call_callbacks, &f->r);
    for (int i = 0; i < 100 && atomic_load(&f->s->rst_code) < 0; i++)
        cmx_run_for(f->u.base, 2);
    assert_int_equal(f->r.status, 200);
    assert_int_equal(f->r.completes, 0); /* cancelled: no on_complete */
    assert_int_equal(atomic_load(&f->s->rst_code), ERR_CANCEL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, cmx_test_upstream_teardown)
    const struct CMUnitTest tests[] = {
        T(h2c_answer_arrives_with_status_and_body),
        T(unanswered_ping_closes_the_idle_connection),
        T(refused_stream_is_sent_again_on_a_new_connection),
        T(reset_after_the_head_fails_once_as_unavailable),
        T(connection_lost_after_the_request_went_out_is_not_sent_again),
        T(cancel_resets_the_stream),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
