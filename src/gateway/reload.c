/* reload.c — reading the config file again without dropping a request.
 *
 * The file is loaded and validated exactly as at start (every error with
 * file:line:col, prices resolved), and then tried: a router is built from it
 * on a scratch event loop, so a provider that cannot be set up fails the
 * reload instead of a worker.  Any failure changes nothing: the old
 * generation keeps serving.  A good file becomes the next generation: the
 * shared state is built from it carrying over every target that still
 * exists, and each worker is told to swap; from its next request on it uses
 * the new generation, while requests and streams already running finish on
 * the old one, which is freed when its last request ends.
 *
 * Settings that are fixed at start (the listener, the worker count, server
 * limits and timeouts, the access log, the upstream pools, the state store)
 * are compared and, when changed, reported as needing a restart; the
 * running values stay. */
#include "gateway/gateway_internal.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "governance/pricing.h"

static int str_differs(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

static void note(cmx_reload_result *out, const char *what)
{
    char **grown = realloc(out->restart_only, (out->n_restart_only + 1) * sizeof *grown);
    if (!grown)
        return;
    out->restart_only = grown;
    if (asprintf(&grown[out->n_restart_only],
                 "%s changed: it needs a restart, the running value stays", what) >= 0)
        out->n_restart_only++;
}

/* Settings a running process cannot take over. */
static void compare_fixed(const cmx_config *a, const cmx_config *b, cmx_reload_result *out)
{
    const cmx_server_config *sa = &a->server, *sb = &b->server;
    if (str_differs(sa->listen_host, sb->listen_host) || sa->listen_port != sb->listen_port)
        note(out, "server.listen");
    if (sa->workers != sb->workers)
        note(out, "server.workers");
    if (sa->max_body_bytes != sb->max_body_bytes || sa->max_header_bytes != sb->max_header_bytes ||
        sa->max_headers != sb->max_headers)
        note(out, "server.max_body_bytes/max_header_bytes/max_headers");
    if (sa->header_timeout_ms != sb->header_timeout_ms ||
        sa->body_timeout_ms != sb->body_timeout_ms ||
        sa->keepalive_timeout_ms != sb->keepalive_timeout_ms ||
        sa->write_timeout_ms != sb->write_timeout_ms)
        note(out, "server.timeouts");
    if (sa->access_log != sb->access_log)
        note(out, "server.access_log");
    const cmx_upstream_config *ua = &a->upstream, *ub = &b->upstream;
    if (ua->max_idle_per_origin != ub->max_idle_per_origin ||
        ua->max_conns_per_origin != ub->max_conns_per_origin ||
        ua->idle_expiry_ms != ub->idle_expiry_ms || str_differs(ua->https_proxy, ub->https_proxy) ||
        str_differs(ua->http_proxy, ub->http_proxy) || str_differs(ua->no_proxy, ub->no_proxy))
        note(out, "upstream");
    const cmx_state_config *ta = &a->state, *tb = &b->state;
    if (str_differs(ta->redis_url, tb->redis_url) ||
        str_differs(ta->redis_password, tb->redis_password) ||
        str_differs(ta->key_prefix, tb->key_prefix) || ta->timeout_ms != tb->timeout_ms ||
        ta->fail_closed != tb->fail_closed || ta->tls_verify != tb->tls_verify ||
        str_differs(ta->ca_file, tb->ca_file) || ta->cache_max_bytes != tb->cache_max_bytes)
        note(out, "state");
    /* Keys and teams reload; where they, the ledger and the audit log live do not. */
    const cmx_governance_config *ga = &a->governance, *gb = &b->governance;
    if (ga->enabled != gb->enabled || str_differs(ga->store, gb->store) ||
        str_differs(ga->pepper, gb->pepper) || str_differs(ga->replica, gb->replica) ||
        ga->poll_ms != gb->poll_ms || ga->budget_sync_ms != gb->budget_sync_ms ||
        ga->batch_rows != gb->batch_rows || ga->batch_interval_ms != gb->batch_interval_ms ||
        ga->queue_rows != gb->queue_rows || ga->retention_ms != gb->retention_ms ||
        ga->fail_closed != gb->fail_closed)
        note(out, "governance (all but keys, teams and warn_at)");
    const cmx_audit_config *aa = &a->audit, *ab = &b->audit;
    if (str_differs(aa->file, ab->file) || str_differs(aa->hmac_key, ab->hmac_key) ||
        str_differs(aa->checkpoint_file, ab->checkpoint_file) || aa->fsync != ab->fsync ||
        aa->requests != ab->requests || aa->checkpoint_interval_ms != ab->checkpoint_interval_ms)
        note(out, "audit");
}

static void take_errors(cmx_config_diag *diag, cmx_reload_result *out)
{
    out->errors = diag->errors;
    out->n_errors = diag->n_errors;
    diag->errors = NULL;
    diag->n_errors = 0;
}

static void one_error(cmx_reload_result *out, const char *message)
{
    out->errors = calloc(1, sizeof *out->errors);
    if (out->errors && (out->errors[0] = strdup(message)))
        out->n_errors = 1;
}

/* Builds a router from cfg on a scratch loop: what each worker will do. */
static cmx_err try_router(cmx_generation *g, cmx_error *err)
{
    struct event_base *base = event_base_new();
    struct evdns_base *dns = base ? evdns_base_new(base, 0) : NULL;
    cmx_upstream_settings us;
    cmx_upstream_settings_from_config(&g->cfg->upstream, &us);
    cmx_upstream *up = dns ? cmx_upstream_new(base, dns, &us) : NULL;
    cmx_err rc = CMX_OK;
    if (!up) {
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    } else {
        cmx_worker_env env = {base, up};
        cmx_router *r = cmx_router_new(g->cfg, g->shared, &env, err);
        if (!r)
            rc = err->kind;
        cmx_router_free(r);
    }
    if (up)
        cmx_upstream_free(up);
    if (dns)
        evdns_base_free(dns, 0);
    if (base)
        event_base_free(base);
    return rc;
}

static cmx_err reload_locked(cmx_gateway *gw, cmx_reload_result *out)
{
    const char *path = gw->current->cfg->path;
    cmx_config_diag diag = {0};
    cmx_config *cfg = cmx_config_load_priced(path, &diag);
    for (size_t i = 0; i < diag.n_warnings; i++)
        cmx_warn("reload: %s", diag.warnings[i]);
    if (!cfg) {
        if (diag.n_errors == 0)
            one_error(out, "cannot load the configuration");
        else
            take_errors(&diag, out);
        cmx_config_diag_free(&diag);
        return CMX_ERR_CONFIG;
    }
    cmx_config_diag_free(&diag);
    cmx_error err;
    cmx_error_clear(&err);
    cmx_generation *next = cmx_generation_new(cfg, gw->state, gw->n_workers, gw->current,
                                              gw->current->number + 1, &err);
    cmx_config_unref(cfg);
    if (!next || try_router(next, &err) != CMX_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", path, err.message);
        one_error(out, msg);
        cmx_generation_unref(next);
        return CMX_ERR_CONFIG;
    }
    compare_fixed(gw->current->cfg, next->cfg, out);
    for (int i = 0; i < gw->n_workers; i++) {
        cmx_worker_msg msg = {CMX_WORKER_SWAP, 0, cmx_generation_ref(next)};
        if (!gw->started) {
            cmx_worker_swap(&gw->workers[i], next); /* no thread yet: swap in place */
            cmx_generation_unref(next);
        } else if (cmx_gateway_post(gw, i, &msg) != 0) {
            cmx_generation_unref(next);
            cmx_error_log("reload: worker %d could not be told; it keeps the old config", i);
        }
    }
    cmx_generation_unref(gw->current);
    gw->current = next;
    out->ok = 1;
    return CMX_OK;
}

cmx_err cmx_gateway_reload(cmx_gateway *gw, const char *actor, cmx_reload_result *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&gw->reload_lock);
    cmx_err rc = reload_locked(gw, out);
    out->generation = gw->current->number;
    /* Keys and teams of the new file take effect; the reload is audited. */
    if (rc == CMX_OK && gw->gov)
        cmx_governance_config_reloaded(gw->gov, gw->current->cfg, actor);
    pthread_mutex_unlock(&gw->reload_lock);
    if (rc == CMX_OK) {
        atomic_fetch_add(&gw->reloads_ok, 1);
        cmx_info("config reloaded: generation %" PRIu64 " serves new requests; requests in "
                 "flight finish on the one before",
                 out->generation);
        for (size_t i = 0; i < out->n_restart_only; i++)
            cmx_warn("reload: %s", out->restart_only[i]);
    } else {
        atomic_fetch_add(&gw->reloads_failed, 1);
        cmx_error_log("config reload failed; generation %" PRIu64 " keeps serving:",
                      out->generation);
        for (size_t i = 0; i < out->n_errors; i++)
            cmx_error_log("  %s", out->errors[i]);
    }
    return rc;
}

void cmx_reload_result_free(cmx_reload_result *r)
{
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i]);
    free(r->errors);
    for (size_t i = 0; i < r->n_restart_only; i++)
        free(r->restart_only[i]);
    free(r->restart_only);
    memset(r, 0, sizeof *r);
}

void cmx_gateway_format_metrics(cmx_gateway *gw, cmx_buf *out)
{
    pthread_mutex_lock(&gw->reload_lock);
    uint64_t generation = gw->current->number;
    pthread_mutex_unlock(&gw->reload_lock);
    cmx_buf_printf(out,
                   "# HELP cloudmux_config_reloads_total Config reloads (SIGHUP or POST "
                   "/admin/reload), by result.\n"
                   "# TYPE cloudmux_config_reloads_total counter\n"
                   "cloudmux_config_reloads_total{result=\"ok\"} %" PRIu64 "\n"
                   "cloudmux_config_reloads_total{result=\"error\"} %" PRIu64 "\n"
                   "# HELP cloudmux_config_generation The config generation new requests use: 1 "
                   "at start, one more per successful reload.\n"
                   "# TYPE cloudmux_config_generation gauge\n"
                   "cloudmux_config_generation %" PRIu64 "\n",
                   (uint64_t)atomic_load(&gw->reloads_ok),
                   (uint64_t)atomic_load(&gw->reloads_failed), generation);
    cmx_state_format_metrics(gw->state, out);
}
