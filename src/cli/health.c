/* health.c — `cloudmux health [--url URL] [--timeout MS]`: the container
 * health check for images without curl.  GETs the gateway's readiness
 * endpoint and exits 0 on 200, 1 on any other answer or none.
 *
 * URL is the gateway's base (http://127.0.0.1:4000, /health/ready is added)
 * or a full URL with its own path (…/health/live for liveness).  Without
 * --url it asks 127.0.0.1 on the port serve would take from the environment
 * (FUNCTIONS_CUSTOMHANDLER_PORT, PORT), else 4000.  It uses the gateway's own
 * upstream client, so a static binary in an image without NSS still
 * resolves localhost. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http/upstream.h"

#define HEALTH_DEFAULT_TIMEOUT_MS 2000
#define HEALTH_READY_PATH "/health/ready"

typedef struct health_probe {
    struct event_base *base;
    int status;
    int done;
    cmx_error err;
} health_probe;

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n_headers)
{
    ((health_probe *)ctx)->status = status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
}

static void on_complete(void *ctx, const cmx_error *err)
{
    health_probe *p = ctx;
    p->err = *err;
    p->done = 1;
    event_base_loopbreak(p->base);
}

static void default_url(char *out, size_t cap)
{
    const char *port = getenv("FUNCTIONS_CUSTOMHANDLER_PORT");
    if (!port || !*port)
        port = getenv("PORT");
    if (!port || !*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        port = "4000";
    snprintf(out, cap, "http://127.0.0.1:%s", port);
}

int cmx_cmd_health(int argc, char **argv)
{
    const char *url_text = NULL;
    long timeout_ms = HEALTH_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url_text = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout_ms = strtol(argv[++i], &end, 10);
            if (*end || timeout_ms < 1 || timeout_ms > 600000) {
                fprintf(stderr, "cloudmux health: --timeout expects milliseconds 1..600000\n");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "cloudmux health: unexpected argument '%s'\n"
                    "usage: cloudmux health [--url URL] [--timeout MS]\n",
                    argv[i]);
            return 2;
        }
    }
    char fallback[64];
    if (!url_text) {
        default_url(fallback, sizeof fallback);
        url_text = fallback;
    }
    cmx_url url;
    cmx_error err;
    cmx_error_clear(&err);
    if (cmx_url_parse(url_text, &url, &err) != CMX_OK) {
        fprintf(stderr, "cloudmux health: %s\n", err.message);
        return 2;
    }
    /* The parsed path has the query cut off; a bare base gets the readiness path. */
    const char *path = url.path[0] ? url.path : HEALTH_READY_PATH;

    health_probe probe = {.base = event_base_new()};
    cmx_upstream *up = probe.base ? cmx_upstream_new(probe.base, NULL, NULL) : NULL;
    uint32_t t = (uint32_t)timeout_ms;
    cmx_upstream_request req = {
        .origin = &url,
        .tls_verify = 1,
        .method = "GET",
        .path = path,
        .timeouts = {.connect_ms = t, .first_byte_ms = t, .idle_ms = t, .total_ms = t},
    };
    static const cmx_upstream_callbacks cb = {on_head, on_body, on_complete};
    int rc = 1;
    if (!up || !cmx_upstream_send(up, &req, &cb, &probe)) {
        fprintf(stderr, "cloudmux health: out of memory\n");
    } else {
        event_base_dispatch(probe.base);
        if (probe.done && probe.err.kind == CMX_OK && probe.status == 200) {
            rc = 0;
        } else if (probe.done && probe.err.kind == CMX_OK) {
            fprintf(stderr, "cloudmux health: %s://%s:%d%s answered %d\n",
                    url.tls ? "https" : "http", url.host, url.port, path, probe.status);
        } else {
            fprintf(stderr, "cloudmux health: %s://%s:%d%s: %s\n", url.tls ? "https" : "http",
                    url.host, url.port, path, probe.err.message);
        }
    }
    if (up)
        cmx_upstream_free(up);
    if (probe.base)
        event_base_free(probe.base);
    return rc;
}
