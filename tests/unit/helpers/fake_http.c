/* fake_http.c — the unit tests' fake HTTP endpoints, clock and loop
 * runners; see fake_http.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/fake_http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int cmx_fake_http_start(cmx_fake_http *s, struct event_base *base,
                        void (*handler)(struct evhttp_request *req, void *arg), void *arg)
{
    memset(s, 0, sizeof *s);
    s->http = evhttp_new(base);
    if (!s->http)
        return -1;
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!bs) {
        evhttp_free(s->http);
        s->http = NULL;
        return -1;
    }
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    snprintf(s->origin, sizeof s->origin, "http://127.0.0.1:%d", s->port);
    evhttp_set_gencb(s->http, handler, arg);
    return 0;
}

void cmx_fake_http_stop(cmx_fake_http *s)
{
    if (s->http)
        evhttp_free(s->http);
    s->http = NULL;
}

void cmx_fake_http_reply(struct evhttp_request *req, int status, const char *content_type,
                         const char *body)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, status, "X", out);
    evbuffer_free(out);
}

void cmx_fake_http_body(struct evhttp_request *req, char *out, size_t cap)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n >= cap)
        n = cap - 1;
    evbuffer_remove(in, out, n);
    out[n] = '\0';
}

void cmx_fake_http_header(struct evhttp_request *req, const char *name, char *out, size_t cap)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    snprintf(out, cap, "%s", v ? v : "");
}

static uint64_t fake_now(void *ctx)
{
    return ((cmx_fake_clock *)ctx)->now_us;
}

void cmx_fake_clock_init(cmx_fake_clock *c, uint64_t now_us)
{
    c->now_us = now_us;
    c->clock = (cmx_clock){fake_now, c};
}

void cmx_run_until_count(struct event_base *base, const int *counter, int target, int max_steps)
{
    for (int i = 0; i < max_steps && *counter < target; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

void cmx_run_until(struct event_base *base, const int *flag, int max_steps)
{
    cmx_run_until_count(base, flag, 1, max_steps);
}

void cmx_run_for(struct event_base *base, int steps)
{
    int never = 0;
    cmx_run_until_count(base, &never, 1, steps);
}

void cmx_fake_bench_open(cmx_fake_bench *b, void (*handler)(struct evhttp_request *req, void *arg),
                         void *arg)
{
    b->base = event_base_new();
    assert_non_null(b->base);
    b->up = cmx_upstream_new(b->base, NULL, NULL);
    assert_non_null(b->up);
    assert_int_equal(cmx_fake_http_start(&b->srv, b->base, handler, arg), 0);
    cmx_fake_clock_init(&b->clock, 1000000);
}

void cmx_fake_bench_close(cmx_fake_bench *b)
{
    cmx_upstream_free(b->up);
    cmx_fake_http_stop(&b->srv);
    event_base_free(b->base);
}

void cmx_fake_provider(cmx_provider_config *cfg, char *name, void *settings)
{
    cfg->name = name;
    cfg->settings = settings;
    cfg->tls_verify = 1;
    cfg->timeouts = (cmx_timeouts_config){2000, 2000, 2000, 5000};
}
