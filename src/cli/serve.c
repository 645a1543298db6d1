/* serve.c — `cloudmux serve`: load the config, start the workers, wait for a
 * signal, drain.
 *
 * SIGTERM is how orchestrators stop a process, and load balancers need time
 * to notice: /health/ready answers 503 at once while the gateway keeps
 * accepting and serving for server.shutdown.drain_delay; then it stops
 * accepting, lets in-flight requests (streams included) finish for up to
 * server.shutdown.grace, ends what is left (streams with an error event) and
 * exits 0.  SIGINT (Ctrl-C) skips the delay.  A second SIGTERM or SIGINT
 * ends everything at once.  SIGHUP reloads the config file (gateway.h): an
 * invalid file changes nothing, a valid one serves new requests while
 * running ones finish.
 *
 * Where it listens, first match wins: --listen; FUNCTIONS_CUSTOMHANDLER_PORT
 * (an Azure Functions custom handler: the Functions host forwards to that
 * port on loopback); the config's server.listen; PORT (Cloud Run, Cloud
 * Functions, App Runner and most container platforms: all interfaces); the
 * default 127.0.0.1:4000.  The config file is --config, else CLOUDMUX_CONFIG. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/clock.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "config/values.h"
#include "gateway/gateway.h"

#define SIGNAL_POLL_MS 50

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

/* Each connection, client or upstream, is a descriptor: take all the system
 * allows, and say how many that is.  At the limit, accepting pauses and
 * resumes (http/server.c). */
static void log_fd_limit(void)
{
    uint64_t before = 0, after = 0;
    cmx_error err;
    if (cmx_fd_limit_raise(&before, &after, &err) != CMX_OK)
        cmx_warn("%s; staying at %llu open files", err.message, (unsigned long long)before);
    else if (after != before)
        cmx_info("open-file limit raised from %llu to %llu", (unsigned long long)before,
                 (unsigned long long)after);
    else
        cmx_info("open-file limit: %llu", (unsigned long long)after);
}

/* A port number from the environment; -1 and a message when it is not one. */
static int env_port(const char *name, const char *value)
{
    char *end;
    long p = strtol(value, &end, 10);
    if (*value == '\0' || *end || p < 1 || p > 65535) {
        fprintf(stderr, "cloudmux serve: %s must be a port number 1..65535, got '%s'\n", name,
                value);
        return -1;
    }
    return (int)p;
}

/* Fills opts from the environment when neither --listen nor (for PORT) the
 * config says where to listen. */
static int listen_from_environment(const cmx_config *cfg, cmx_gateway_options *opts)
{
    if (opts->listen_host)
        return 0;
    const char *functions = getenv("FUNCTIONS_CUSTOMHANDLER_PORT");
    const char *port = getenv("PORT");
    const char *host;
    int value;
    if (functions && *functions) {
        host = "127.0.0.1";
        value = env_port("FUNCTIONS_CUSTOMHANDLER_PORT", functions);
    } else if (port && *port && !cfg->server.listen_configured) {
        host = "0.0.0.0";
        value = env_port("PORT", port);
    } else {
        return 0;
    }
    if (value < 0)
        return -1;
    opts->listen_host = host;
    opts->listen_port = value;
    return 0;
}

/* SIGHUP: the signal operators send to reload a configuration.  While the
 * gateway shuts down (gw NULL) there is nothing left to reload. */
static void handle_sighup(cmx_gateway *gw)
{
    if (!gw) {
        cmx_info("received SIGHUP while shutting down: not reloading");
        return;
    }
    cmx_info("received SIGHUP: reloading the config file");
    cmx_reload_result res;
    cmx_gateway_reload(gw, "signal:SIGHUP", &res);
    cmx_reload_result_free(&res);
}

/* Waits up to timeout_ms (-1: forever) for SIGTERM or SIGINT, reloading on
 * SIGHUP meanwhile (when gw is given); returns the signal, or 0 when the time
 * ran out. */
static int wait_stop_signal(const sigset_t *set, long timeout_ms, cmx_gateway *gw)
{
    uint64_t deadline = timeout_ms < 0 ? 0 : cmx_now_us() + (uint64_t)timeout_ms * 1000;
    for (;;) {
        int sig;
        if (timeout_ms < 0) {
            if (sigwait(set, &sig) != 0)
                continue;
        } else {
            uint64_t now = cmx_now_us();
            if (now >= deadline)
                return 0;
            uint64_t left = deadline - now;
            struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
            sig = sigtimedwait(set, NULL, &ts);
            if (sig < 0)
                continue; /* EAGAIN (time is up: checked above) or EINTR */
        }
        if (sig == SIGHUP)
            handle_sighup(gw);
        else if (sig == SIGTERM || sig == SIGINT)
            return sig;
    }
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

/* The shutdown sequence (see the top of this file). */
static void shut_down(cmx_gateway *gw, const cmx_server_config *sc, uint32_t drain_delay_ms,
                      const sigset_t *set, int sig)
{
    cmx_gateway_drain(gw);
    int at_once = 0;
    if (sig == SIGTERM && drain_delay_ms > 0) {
        cmx_info("received SIGTERM: not ready any more (/health/ready answers 503); serving on "
                 "for %u ms (server.shutdown.drain_delay) before draining",
                 drain_delay_ms);
        int again = wait_stop_signal(set, drain_delay_ms, NULL);
        if (again) {
            cmx_info("received %s again: stopping at once", signal_name(again));
            at_once = 1;
        }
    }
    if (!at_once)
        cmx_info("%s: stopped accepting; draining in-flight requests for up to %u ms "
                 "(server.shutdown.grace)",
                 drain_delay_ms > 0 && sig == SIGTERM
                     ? "drain delay over"
                     : (sig == SIGINT ? "received SIGINT" : "received SIGTERM"),
                 sc->shutdown_grace_ms);
    cmx_gateway_stop(gw, at_once ? 0 : sc->shutdown_grace_ms);
    while (!cmx_gateway_stopped(gw)) {
        int again = wait_stop_signal(set, SIGNAL_POLL_MS, NULL);
        if (again && !at_once) {
            cmx_info("received %s again: ending the requests still in flight now",
                     signal_name(again));
            at_once = 1;
            cmx_gateway_stop(gw, 0);
        }
    }
    cmx_gateway_shutdown(gw, 0);
}

int cmx_cmd_serve(int argc, char **argv)
{
    const char *path = getenv("CLOUDMUX_CONFIG");
    char host[256];
    cmx_gateway_options opts = {.listen_port = -1};
    long drain_delay_ms = -1; /* -1: from the config */
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
        } else if (strcmp(argv[i], "--drain-delay") == 0 && i + 1 < argc) {
            uint64_t ms;
            if (cmx_parse_duration_ms(argv[++i], &ms) != 0 || ms > UINT32_MAX) {
                fprintf(stderr,
                        "cloudmux serve: --drain-delay expects a duration such as 0, 5s or "
                        "500ms, got '%s'\n",
                        argv[i]);
                return 2;
            }
            drain_delay_ms = (long)ms;
        } else {
            fprintf(stderr, "cloudmux serve: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path || !*path) {
        fprintf(stderr, "usage: cloudmux serve --config FILE [--listen ADDR:PORT] [--workers N] "
                        "[--drain-delay DURATION]\n"
                        "       (or the config file in CLOUDMUX_CONFIG)\n");
        return 2;
    }
    cmx_config *cfg = cmx_cli_load_config(path);
    if (!cfg)
        return 1;
    if (listen_from_environment(cfg, &opts) != 0) {
        cmx_config_unref(cfg);
        return 2;
    }

    /* Signals are taken by this thread alone, with sigwait; workers inherit
     * the mask and never see them. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    cmx_error err;
    cmx_error_clear(&err);
    log_fd_limit();
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

    int sig = wait_stop_signal(&set, -1, gw);
    shut_down(gw, &cfg->server,
              drain_delay_ms >= 0 ? (uint32_t)drain_delay_ms : cfg->server.shutdown_drain_delay_ms,
              &set, sig);
    cmx_gateway_free(gw);
    cmx_config_unref(cfg);
    cmx_info("stopped");
    return 0;
}
