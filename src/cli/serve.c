/* serve.c — `cloudmux serve`: load the config, start the workers, wait for a
 * signal, drain.  SIGTERM and SIGINT stop accepting, let in-flight requests
 * (streams included) finish for up to the grace period, then exit 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "gateway/gateway.h"

#define SHUTDOWN_GRACE_MS 30000

/* "host:port", "[v6]:port" or ":port". */
static int parse_listen(const char *s, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0) {
        h = "0.0.0.0";
        hlen = 7;
    }
    if (hlen >= host_size)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

int cmx_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    char host[256];
    cmx_gateway_options opts = {NULL, -1, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            if (parse_listen(argv[++i], host, sizeof host, &opts.listen_port) < 0) {
                fprintf(stderr, "cloudmux serve: --listen expects HOST:PORT, got '%s'\n", argv[i]);
                return 2;
            }
            opts.listen_host = host;
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "cloudmux serve: --workers expects 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
            opts.workers = (int)n;
        } else {
            fprintf(stderr, "cloudmux serve: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: cloudmux serve --config FILE [--listen ADDR:PORT] [--workers N]\n");
        return 2;
    }
    cmx_config *cfg = cmx_cli_load_config(path);
    if (!cfg)
        return 1;

    /* Signals are taken by this thread alone, with sigwait; workers inherit
     * the mask and never see them. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    cmx_error err;
    cmx_error_clear(&err);
    cmx_gateway *gw = cmx_gateway_new(cfg, &opts, &err);
    if (!gw) {
        fprintf(stderr, "error: %s\n", err.message);
        cmx_config_unref(cfg);
        return 1;
    }
    if (cfg->server.n_api_keys == 0 && !cfg->governance.enabled)
        cmx_info("client authentication is off (no server.api_keys): anyone who can reach the "
                 "port can use it");
    if (cmx_gateway_start(gw, &err) != CMX_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        cmx_gateway_free(gw);
        cmx_config_unref(cfg);
        return 1;
    }
    cmx_info("cloudmux listening on http://%s:%d (%d worker%s, %zu model group%s)",
             opts.listen_host ? opts.listen_host : cfg->server.listen_host, cmx_gateway_port(gw),
             cmx_gateway_workers(gw), cmx_gateway_workers(gw) == 1 ? "" : "s", cfg->n_models,
             cfg->n_models == 1 ? "" : "s");

    int sig = 0;
    while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
        ;
    cmx_info("received %s: draining in-flight requests (up to %d s)",
             sig == SIGINT ? "SIGINT" : "SIGTERM", SHUTDOWN_GRACE_MS / 1000);
    cmx_gateway_shutdown(gw, SHUTDOWN_GRACE_MS);
    cmx_gateway_free(gw);
    cmx_config_unref(cfg);
    cmx_info("stopped");
    return 0;
}
