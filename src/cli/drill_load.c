/* drill_load.c — the drill's load generator: a steady open-loop rate of small
 * chat requests to the gateway, every outcome written to a log.
 *
 * It uses the project's own upstream client on one libevent loop.  The load
 * is open-loop: request i is sent at start + i/rps whatever happened to the
 * ones before, so a slow or failing gateway cannot slow the load down and
 * hide its own recovery time (the "coordinated omission" trap of closed-loop
 * generators).  One loop with keep-alive connections sends thousands of
 * requests per second on a core, far above what a drill needs, and it is the
 * same loop that runs the fault timers, so the fault times and the send times
 * share one clock.  Bounds: the number of requests is rps × duration, each
 * has a timeout, and a last timer cuts off anything still open after the
 * timeout, so a drill always ends. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "drill.h"
#include "http/upstream.h"

#define MAX_CONTROL 4

typedef struct load_call {
    cmx_drill_load *load;
    size_t index;
    cmx_upstream_call *call; /* NULL once complete */
} load_call;

typedef struct control_call {
    cmx_drill_load *load;
    int status;
    int busy;
    void (*done)(void *ctx, int status, const char *error);
    void *ctx;
    cmx_upstream_call *call;
} control_call;

struct cmx_drill_load {
    struct event_base *base;
    cmx_upstream *up;
    cmx_drill_load_options opts;
    cmx_drill_fault_ops ops;
    cmx_url gateway;
    char headers[512];
    char body[512];
    size_t body_len;
    char path[1100];

    uint64_t start_mono_us;
    uint64_t interval_us;
    size_t n_planned;
    size_t n_sent;
    size_t in_flight;
    cmx_drill_record *records;
    load_call *calls;

    uint64_t fail_us, recover_us, end_us;
    struct event *send_timer, *fail_timer, *recover_timer, *cutoff_timer;
    control_call control[MAX_CONTROL];
    size_t control_busy;
    int fault_failed;
    char fault_error[256];
    int finished;
};

uint64_t cmx_drill_load_now(const cmx_drill_load *l)
{
    return cmx_now_us() - l->start_mono_us;
}

static void maybe_finish(cmx_drill_load *l)
{
    int all_sent = l->n_sent == l->n_planned || l->fault_failed;
    if (!l->finished && all_sent && l->in_flight == 0 && l->control_busy == 0) {
        l->finished = 1;
        event_base_loopexit(l->base, NULL);
    }
}

static void copy_header(char *dst, size_t size, cmx_slice v)
{
    size_t n = v.len < size - 1 ? v.len : size - 1;
    memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

static int header_is(cmx_slice name, const char *want)
{
    return name.len == strlen(want) && strncasecmp(name.ptr, want, name.len) == 0;
}

static void on_head(void *ctx, int status, const cmx_http_header *h, size_t n)
{
    load_call *c = ctx;
    cmx_drill_record *r = &c->load->records[c->index];
    r->status = status;
    for (size_t i = 0; i < n; i++) {
        if (header_is(h[i].name, "x-cloudmux-provider"))
            copy_header(r->provider, sizeof r->provider, h[i].value);
        else if (header_is(h[i].name, "x-cloudmux-model"))
            copy_header(r->model, sizeof r->model, h[i].value);
        else if (header_is(h[i].name, "x-cloudmux-attempts")) {
            char num[16];
            copy_header(num, sizeof num, h[i].value);
            r->attempts = atoi(num);
        }
    }
}

static void on_body(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len; /* the figures need the head only */
}

static void on_complete(void *ctx, const cmx_error *err)
{
    load_call *c = ctx;
    cmx_drill_load *l = c->load;
    cmx_drill_record *r = &l->records[c->index];
    r->latency_us = cmx_drill_load_now(l) - r->sent_us;
    if (err->kind != CMX_OK) {
        /* A cut answer is no answer: the client could not use it. */
        r->status = 0;
        snprintf(r->error, sizeof r->error, "%s",
                 err->cause != CMX_CAUSE_NONE ? cmx_cause_name(err->cause)
                                              : cmx_err_name(err->kind));
    }
    c->call = NULL;
    l->in_flight--;
    maybe_finish(l);
}

static const cmx_upstream_callbacks load_cb = {on_head, on_body, on_complete};

static void send_one(cmx_drill_load *l)
{
    size_t i = l->n_sent++;
    load_call *c = &l->calls[i];
    c->load = l;
    c->index = i;
    cmx_drill_record *r = &l->records[i];
    r->sent_us = cmx_drill_load_now(l);
    cmx_upstream_request req = {
        .origin = &l->gateway,
        .tls_verify = 1,
        .method = "POST",
        .path = l->path,
        .headers = l->headers,
        .headers_len = strlen(l->headers),
        .body = l->body,
        .body_len = l->body_len,
        .timeouts = {2000, l->opts.timeout_ms, l->opts.timeout_ms, l->opts.timeout_ms},
    };
    l->in_flight++;
    c->call = cmx_upstream_send(l->up, &req, &load_cb, c);
    if (!c->call) {
        r->status = 0;
        snprintf(r->error, sizeof r->error, "out of memory");
        l->in_flight--;
    }
}

static void arm_at(struct event *ev, const cmx_drill_load *l, uint64_t at_us)
{
    uint64_t now = cmx_drill_load_now(l);
    uint64_t wait = at_us > now ? at_us - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
    evtimer_add(ev, &tv);
}

/* Sends every request whose time has come, then sleeps until the next. */
static void on_send_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmx_drill_load *l = arg;
    if (l->fault_failed)
        return;
    uint64_t now = cmx_drill_load_now(l);
    while (l->n_sent < l->n_planned && l->n_sent * l->interval_us <= now)
        send_one(l);
    if (l->n_sent < l->n_planned)
        arm_at(l->send_timer, l, l->n_sent * l->interval_us);
    else {
        l->end_us = now;
        /* Anything still open after the timeout (and a margin) is cut off. */
        arm_at(l->cutoff_timer, l, now + (uint64_t)l->opts.timeout_ms * 1000 + 2000000);
    }
    maybe_finish(l);
}

static void on_fail_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmx_drill_load *l = arg;
    l->ops.fail(l->ops.ctx);
}

static void on_recover_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmx_drill_load *l = arg;
    l->ops.recover(l->ops.ctx);
}

static void on_cutoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmx_drill_load *l = arg;
    for (size_t i = 0; i < l->n_sent; i++) {
        load_call *c = &l->calls[i];
        if (!c->call)
            continue;
        cmx_upstream_cancel(c->call);
        c->call = NULL;
        cmx_drill_record *r = &l->records[i];
        r->status = 0;
        r->latency_us = cmx_drill_load_now(l) - r->sent_us;
        snprintf(r->error, sizeof r->error, "drill_cutoff");
        l->in_flight--;
    }
    for (size_t i = 0; i < MAX_CONTROL; i++) {
        control_call *cc = &l->control[i];
        if (cc->busy && cc->call) {
            cmx_upstream_cancel(cc->call);
            cc->busy = 0;
            l->control_busy--;
            cc->done(cc->ctx, 0, "no answer before the drill's cutoff");
        }
    }
    maybe_finish(l);
}

cmx_drill_load *cmx_drill_load_new(struct event_base *base, const cmx_drill_load_options *opts,
                                   const cmx_drill_fault_ops *ops, char *errbuf, size_t errlen)
{
    cmx_drill_load *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    l->base = base;
    l->opts = *opts;
    l->ops = *ops;
    cmx_error err;
    cmx_error_clear(&err);
    if (cmx_url_parse(opts->gateway_url, &l->gateway, &err) != CMX_OK) {
        snprintf(errbuf, errlen, "gateway url: %s", err.message);
        free(l);
        return NULL;
    }
    snprintf(l->path, sizeof l->path, "%s/v1/chat/completions", l->gateway.path);
    int n = snprintf(l->headers, sizeof l->headers, "Content-Type: application/json\r\n");
    if (opts->api_key)
        snprintf(l->headers + n, sizeof l->headers - (size_t)n, "Authorization: Bearer %s\r\n",
                 opts->api_key);
    int blen = snprintf(l->body, sizeof l->body,
                        "{\"model\":\"%s\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\","
                        "\"content\":\"failover drill\"}]}",
                        opts->group);
    if (blen < 0 || (size_t)blen >= sizeof l->body || strpbrk(opts->group, "\"\\")) {
        snprintf(errbuf, errlen, "group name not usable in a request");
        free(l);
        return NULL;
    }
    l->body_len = (size_t)blen;
    l->n_planned = (size_t)llround(opts->rps * opts->duration_s);
    l->interval_us = (uint64_t)llround(1e6 / opts->rps);
    l->records = calloc(l->n_planned ? l->n_planned : 1, sizeof *l->records);
    l->calls = calloc(l->n_planned ? l->n_planned : 1, sizeof *l->calls);
    cmx_upstream_settings s;
    cmx_upstream_settings_default(&s);
    s.http_proxy = s.https_proxy = NULL; /* the gateway is addressed directly */
    s.max_conns_per_origin = 1024;
    s.max_idle_per_origin = 256;
    l->up = cmx_upstream_new(base, NULL, &s);
    l->send_timer = evtimer_new(base, on_send_timer, l);
    l->fail_timer = evtimer_new(base, on_fail_timer, l);
    l->recover_timer = evtimer_new(base, on_recover_timer, l);
    l->cutoff_timer = evtimer_new(base, on_cutoff, l);
    if (!l->records || !l->calls || !l->up || !l->send_timer || !l->fail_timer ||
        !l->recover_timer || !l->cutoff_timer) {
        snprintf(errbuf, errlen, "out of memory");
        cmx_drill_load_free(l);
        return NULL;
    }
    l->fail_us = l->recover_us = UINT64_MAX;
    return l;
}

void cmx_drill_load_mark(cmx_drill_load *l, int failing, uint64_t at_us)
{
    if (failing)
        l->fail_us = at_us;
    else
        l->recover_us = at_us;
}

void cmx_drill_load_fault_error(cmx_drill_load *l, const char *message)
{
    if (!l->fault_failed)
        snprintf(l->fault_error, sizeof l->fault_error, "%s", message);
    l->fault_failed = 1;
    maybe_finish(l);
}

int cmx_drill_load_run(cmx_drill_load *l, char *errbuf, size_t errlen)
{
    l->start_mono_us = cmx_now_us();
    arm_at(l->send_timer, l, 0);
    arm_at(l->fail_timer, l, (uint64_t)llround(l->opts.fail_at_s * 1e6));
    arm_at(l->recover_timer, l, (uint64_t)llround(l->opts.recover_at_s * 1e6));
    event_base_dispatch(l->base);
    if (l->fault_failed) {
        snprintf(errbuf, errlen, "fault injection failed: %s", l->fault_error);
        return -1;
    }
    if (l->fail_us == UINT64_MAX || l->recover_us == UINT64_MAX) {
        snprintf(errbuf, errlen, "the fault was not %s before the drill ended",
                 l->fail_us == UINT64_MAX ? "applied" : "lifted");
        return -1;
    }
    return 0;
}

const cmx_drill_record *cmx_drill_load_records(const cmx_drill_load *l, size_t *n)
{
    *n = l->n_sent;
    return l->records;
}

uint64_t cmx_drill_load_fail_us(const cmx_drill_load *l)
{
    return l->fail_us;
}

uint64_t cmx_drill_load_recover_us(const cmx_drill_load *l)
{
    return l->recover_us;
}

uint64_t cmx_drill_load_end_us(const cmx_drill_load *l)
{
    return l->end_us;
}

/* ---- control requests (the fault endpoint) ---- */

static void control_head(void *ctx, int status, const cmx_http_header *h, size_t n)
{
    (void)h;
    (void)n;
    ((control_call *)ctx)->status = status;
}

static void control_complete(void *ctx, const cmx_error *err)
{
    control_call *cc = ctx;
    cmx_drill_load *l = cc->load;
    cc->busy = 0;
    cc->call = NULL;
    l->control_busy--;
    if (err->kind != CMX_OK)
        cc->done(cc->ctx, 0, err->message);
    else
        cc->done(cc->ctx, cc->status, NULL);
    maybe_finish(l);
}

static const cmx_upstream_callbacks control_cb = {control_head, on_body, control_complete};

void cmx_drill_load_control(cmx_drill_load *l, const char *method, const char *url,
                            const char *body,
                            void (*done)(void *ctx, int status, const char *error), void *ctx)
{
    control_call *cc = NULL;
    for (size_t i = 0; i < MAX_CONTROL && !cc; i++)
        if (!l->control[i].busy)
            cc = &l->control[i];
    cmx_url u;
    cmx_error err;
    cmx_error_clear(&err);
    if (!cc) {
        done(ctx, 0, "too many control requests at once");
        return;
    }
    if (cmx_url_parse(url, &u, &err) != CMX_OK) {
        done(ctx, 0, err.message);
        return;
    }
    static const char json_headers[] = "Content-Type: application/json\r\n";
    cmx_upstream_request req = {
        .origin = &u,
        .tls_verify = 1,
        .method = method,
        .path = u.path[0] ? u.path : "/",
        .headers = body ? json_headers : NULL,
        .headers_len = body ? strlen(json_headers) : 0,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeouts = {2000, 5000, 5000, 5000},
    };
    *cc = (control_call){l, 0, 1, done, ctx, NULL};
    l->control_busy++;
    cc->call = cmx_upstream_send(l->up, &req, &control_cb, cc);
    if (!cc->call) {
        cc->busy = 0;
        l->control_busy--;
        done(ctx, 0, "out of memory");
    }
}

void cmx_drill_load_free(cmx_drill_load *l)
{
    if (!l)
        return;
    if (l->send_timer)
        event_free(l->send_timer);
    if (l->fail_timer)
        event_free(l->fail_timer);
    if (l->recover_timer)
        event_free(l->recover_timer);
    if (l->cutoff_timer)
        event_free(l->cutoff_timer);
    if (l->up) {
        for (size_t i = 0; i < l->n_sent; i++)
            if (l->calls[i].call)
                cmx_upstream_cancel(l->calls[i].call);
        for (size_t i = 0; i < MAX_CONTROL; i++)
            if (l->control[i].busy && l->control[i].call)
                cmx_upstream_cancel(l->control[i].call);
        cmx_upstream_free(l->up);
    }
    free(l->records);
    free(l->calls);
    free(l);
}
