/* upstream_client.c — the upstream client tests' client, recorded calls
 * and checks; see upstream_client.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/upstream_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/fake_http.h"

void cmx_test_upstream_settings(cmx_upstream_settings *s)
{
    cmx_upstream_settings_default(s);
    s->https_proxy = s->http_proxy = s->no_proxy = NULL;
}

void cmx_test_upstream_open(cmx_test_upstream *u, const cmx_upstream_settings *settings)
{
    memset(u, 0, sizeof *u);
    cmx_upstream_settings s;
    cmx_test_upstream_settings(&s);
    u->base = event_base_new();
    assert_non_null(u->base);
    u->up = cmx_upstream_new(u->base, NULL, settings ? settings : &s);
    assert_non_null(u->up);
}

void cmx_test_upstream_close(cmx_test_upstream *u)
{
    if (u->server)
        u->stop_server(u->server);
    cmx_upstream_free(u->up);
    event_base_free(u->base);
}

int cmx_test_upstream_setup(void **state, size_t fixture_size,
                            const cmx_upstream_settings *settings)
{
    cmx_test_upstream *u = calloc(1, fixture_size);
    assert_non_null(u);
    cmx_test_upstream_open(u, settings);
    *state = u;
    return 0;
}

int cmx_test_upstream_teardown(void **state)
{
    cmx_test_upstream_close(*state);
    free(*state);
    return 0;
}

void cmx_test_upstream_origin(cmx_test_upstream *u, int tls, const char *host, int port)
{
    char url[300];
    snprintf(url, sizeof url, "%s://%s:%d", tls ? "https" : "http", host, port);
    cmx_error err;
    assert_int_equal(cmx_url_parse(url, &u->origin, &err), CMX_OK);
}

cmx_upstream_stats cmx_test_upstream_stats(const cmx_test_upstream *u)
{
    cmx_upstream_stats st;
    cmx_upstream_get_stats(u->up, &st);
    return st;
}

static void on_head(void *ctx, int status, const cmx_http_header *h, size_t n)
{
    cmx_test_call *r = ctx;
    r->head_calls++;
    r->status = status;
    for (size_t i = 0; i < n; i++)
        if (cmx_slice_case_eq(h[i].name, "x-test"))
            snprintf(r->x_test, sizeof r->x_test, "%.*s", (int)h[i].value.len, h[i].value.ptr);
    if (r->cancel_on_head)
        cmx_upstream_cancel(r->call);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    cmx_test_call *r = ctx;
    r->body_calls++;
    if (r->body_len + len < sizeof r->body) {
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
    }
    if (r->got_body)
        atomic_store(r->got_body, 1);
    if (r->cancel_in_body)
        cmx_upstream_cancel(r->call);
}

static void on_complete(void *ctx, const cmx_error *err)
{
    cmx_test_call *r = ctx;
    r->completes++;
    r->err = *err;
    if (r->done_counter)
        (*r->done_counter)++;
}

const cmx_upstream_callbacks cmx_test_call_callbacks = {on_head, on_body, on_complete};

void cmx_test_call_run(struct event_base *base, cmx_upstream *up, const cmx_upstream_request *req,
                       cmx_test_call *r)
{
    r->call = cmx_upstream_send(up, req, &cmx_test_call_callbacks, r);
    assert_non_null(r->call);
    assert_int_equal(r->completes, 0); /* no callback inside send */
    cmx_run_until_count(base, &r->completes, 1, 2000);
    assert_int_equal(r->completes, 1);
}

void cmx_test_call_expect(const cmx_test_call *r, cmx_err kind)
{
    if (r->err.kind != kind)
        print_error("got %s (%s): %s\n", cmx_err_name(r->err.kind), cmx_cause_name(r->err.cause),
                    r->err.message);
    assert_int_equal(r->err.kind, kind);
}

void cmx_test_call_expect_failure(const cmx_test_call *r, cmx_err kind, cmx_cause cause,
                                  const char *needle)
{
    cmx_test_call_expect(r, kind);
    assert_int_equal(r->err.cause, cause);
    if (!strstr(r->err.message, needle))
        print_error("'%s' is not in: %s\n", needle, r->err.message);
    assert_non_null(strstr(r->err.message, needle));
}
