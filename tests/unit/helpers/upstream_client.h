/* upstream_client.h — what the unit tests of the upstream client share: a
 * client on its own event loop, a call that records what each callback
 * brought, and the checks every such test makes on a finished call.  The
 * servers the calls go to are the tests' own (scripted sockets, raw HTTP/2
 * frames). */
#ifndef CMX_TEST_HELPERS_UPSTREAM_CLIENT_H
#define CMX_TEST_HELPERS_UPSTREAM_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>

#include <event2/event.h>

#include "http/upstream.h"

/* The default settings without the proxies the environment may name. */
void cmx_test_upstream_settings(cmx_upstream_settings *s);

typedef struct cmx_test_upstream {
    struct event_base *base;
    cmx_upstream *up;
    cmx_url origin; /* where the test's requests go */
    /* The test's own server, when it has one: stopped before the client. */
    void *server;
    void (*stop_server)(void *server);
} cmx_test_upstream;

/* A new loop and client with `settings` (NULL: cmx_test_upstream_settings). */
void cmx_test_upstream_open(cmx_test_upstream *u, const cmx_upstream_settings *settings);
void cmx_test_upstream_close(cmx_test_upstream *u);

/* For cmocka: a zeroed fixture of fixture_size bytes that starts with a
 * cmx_test_upstream, opened with `settings`; and its teardown. */
int cmx_test_upstream_setup(void **state, size_t fixture_size,
                            const cmx_upstream_settings *settings);
int cmx_test_upstream_teardown(void **state);
/* Points u->origin at http(s)://host:port. */
void cmx_test_upstream_origin(cmx_test_upstream *u, int tls, const char *host, int port);
cmx_upstream_stats cmx_test_upstream_stats(const cmx_test_upstream *u);

/* One call and what its callbacks brought. */
typedef struct cmx_test_call {
    cmx_upstream_call *call;
    int head_calls, body_calls, completes;
    int status;
    char x_test[32]; /* the answer's X-Test header */
    char body[65536];
    size_t body_len;
    cmx_error err;
    /* Set by the test before the call. */
    int cancel_on_head;   /* cancel the call from its on_head */
    int cancel_in_body;   /* cancel the call from its first on_body */
    atomic_int *got_body; /* set to 1 when a body piece arrives */
    int *done_counter;    /* counted up at on_complete */
} cmx_test_call;

extern const cmx_upstream_callbacks cmx_test_call_callbacks;

/* Sends req on up and runs the loop until the call completes (10 s at
 * most): no callback runs inside the send, and on_complete runs once. */
void cmx_test_call_run(struct event_base *base, cmx_upstream *up, const cmx_upstream_request *req,
                       cmx_test_call *r);
/* The call ended with this kind; shows the error when not. */
void cmx_test_call_expect(const cmx_test_call *r, cmx_err kind);
/* The call failed with this kind and cause, its message containing needle. */
void cmx_test_call_expect_failure(const cmx_test_call *r, cmx_err kind, cmx_cause cause,
                                  const char *needle);

#endif
