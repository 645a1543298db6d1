/* probe.c — the HTTP health probe providers share: one GET through the
 * upstream client, healthy when it answers 2xx within the timeout.  The
 * answer's body is read and dropped; only the status matters. */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmx_probe {
    cmx_upstream_call *call;
    int status;
    void (*done)(void *ctx, const cmx_error *err);
    void *ctx;
};

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    ((cmx_probe *)ctx)->status = status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
}

static void on_complete(void *ctx, const cmx_error *uerr)
{
    cmx_probe *p = ctx;
    cmx_error err;
    const cmx_error *result = NULL;
    if (uerr && uerr->kind != CMX_OK) {
        result = uerr;
    } else if (p->status < 200 || p->status >= 300) {
        cmx_error_set(&err, cmx_err_from_http_status(p->status), "health probe answered %d",
                      p->status);
        err.upstream_status = p->status;
        err.cause = CMX_CAUSE_HTTP_STATUS;
        result = &err;
    }
    void (*done)(void *, const cmx_error *) = p->done;
    void *done_ctx = p->ctx;
    free(p);
    done(done_ctx, result);
}

static const cmx_upstream_callbacks probe_callbacks = {on_head, on_body, on_complete};

cmx_probe *cmx_probe_http(cmx_upstream *up, const cmx_url *origin, int tls_verify, int http2,
                          const char *ca_file, const char *path, const char *headers,
                          size_t headers_len, uint32_t timeout_ms,
                          void (*done)(void *ctx, const cmx_error *err), void *ctx)
{
    cmx_probe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->done = done;
    p->ctx = ctx;
    char full[1400];
    snprintf(full, sizeof full, "%s%s", origin->path, path);
    cmx_upstream_request req = {
        .origin = origin,
        .tls_verify = tls_verify,
        .http2 = http2,
        .ca_file = ca_file,
        .method = "GET",
        .path = full,
        .headers = headers,
        .headers_len = headers_len,
        .timeouts = {timeout_ms, timeout_ms, timeout_ms, timeout_ms},
    };
    p->call = cmx_upstream_send(up, &req, &probe_callbacks, p);
    if (!p->call) {
        free(p);
        return NULL;
    }
    return p;
}

void cmx_probe_cancel(cmx_probe *p)
{
    if (!p)
        return;
    cmx_upstream_cancel(p->call);
    free(p);
}
