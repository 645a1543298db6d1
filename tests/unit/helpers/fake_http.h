/* fake_http.h — what the unit tests of the token and credential caches
 * share: a small HTTP server on 127.0.0.1 that plays a token endpoint, a
 * metadata service or STS (on libevent's evhttp, on the test's own event
 * loop), a clock the test sets, and ways to run the loop until something
 * happened.  Linked into every unit test (CMakeLists.txt). */
#ifndef CMX_TEST_HELPERS_FAKE_HTTP_H
#define CMX_TEST_HELPERS_FAKE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "config/config.h"
#include "core/clock.h"
#include "http/upstream.h"

/* A server on a free port of 127.0.0.1 that hands every request to
 * `handler(req, arg)`; NULL when it cannot bind. */
typedef struct cmx_fake_http {
    struct evhttp *http;
    int port;
    char origin[64]; /* "http://127.0.0.1:PORT" */
} cmx_fake_http;

int cmx_fake_http_start(cmx_fake_http *s, struct event_base *base,
                        void (*handler)(struct evhttp_request *req, void *arg), void *arg);
void cmx_fake_http_stop(cmx_fake_http *s);

/* Answers req with a status, a Content-Type and a body. */
void cmx_fake_http_reply(struct evhttp_request *req, int status, const char *content_type,
                         const char *body);
/* The request's body, cut to cap - 1 bytes, NUL-terminated. */
void cmx_fake_http_body(struct evhttp_request *req, char *out, size_t cap);
/* A request header's value, "" when absent, into out. */
void cmx_fake_http_header(struct evhttp_request *req, const char *name, char *out, size_t cap);

/* A clock that moves only when the test says so. */
typedef struct cmx_fake_clock {
    uint64_t now_us;
    cmx_clock clock; /* pass &clock where a cmx_clock is asked for */
} cmx_fake_clock;

void cmx_fake_clock_init(cmx_fake_clock *c, uint64_t now_us);

/* What a token or credential cache test runs on: a loop, an upstream client
 * on it, a fake server handing requests to handler(req, arg), and a clock
 * at 1 s. */
typedef struct cmx_fake_bench {
    struct event_base *base;
    cmx_upstream *up;
    cmx_fake_http srv;
    cmx_fake_clock clock;
} cmx_fake_bench;

void cmx_fake_bench_open(cmx_fake_bench *b, void (*handler)(struct evhttp_request *req, void *arg),
                         void *arg);
void cmx_fake_bench_close(cmx_fake_bench *b);

/* A provider `name` with its module's settings, verifying TLS, with short
 * timeouts (2 s, a 5 s total): what the caches are built from. */
void cmx_fake_provider(cmx_provider_config *cfg, char *name, void *settings);

/* Runs the loop in 5 ms steps until *counter reaches target or max_steps passed. */
void cmx_run_until_count(struct event_base *base, const int *counter, int target, int max_steps);
/* The same until a count (of calls, of hits) is 1 or more. */
void cmx_run_until(struct event_base *base, const int *flag, int max_steps);
/* Runs the loop for `steps` steps of 5 ms (to let pending work happen). */
void cmx_run_for(struct event_base *base, int steps);

#endif
