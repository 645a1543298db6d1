/* admin.c — the operators' endpoints: GET /metrics (Prometheus) and
 * GET /v1/status (JSON), and who may call them.
 *
 * Both are guarded by server.admin_keys, never by the clients' api_keys: a
 * client key lets an application spend tokens, it should not let it read the
 * state of every provider.  When no admin key is configured, /metrics stays
 * open — Prometheus scrapers usually carry no credentials and the exposition
 * holds no secret, only config names and counts — while /v1/status, which
 * says more about the deployment, is refused with 403 and a message saying
 * what to configure.  Both run on the worker that got the request and read
 * the other workers' shards and the shared router state; they cost a few
 * tens of microseconds and are off the request path. */
#include "admin.h"
#include "auth.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cloudmux.h"
#include "core/clock.h"
#include "router/group_state.h"

/* Bearer token against every admin key; constant-time compares, all of them. */
/* "2025-01-31T12:00:00.250Z" */
static void iso_time(uint64_t wall_ms, char *out, size_t n)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03uZ", base, (unsigned)(wall_ms % 1000));
}

static json_t *limit_json(uint64_t used, uint64_t limit)
{
    return json_pack("{s:I, s:o}", "used", (json_int_t)used, "limit",
                     limit ? json_integer((json_int_t)limit) : json_null());
}

static json_t *breaker_json(cmx_breaker *b, uint64_t now_us, uint64_t wall_ms)
{
    cmx_breaker_status st;
    cmx_breaker_get_status(b, now_us, &st);
    json_t *open_until = json_null();
    if (st.state == CMX_BREAKER_OPEN && st.open_until_us > now_us) {
        char iso[40];
        iso_time(wall_ms + (st.open_until_us - now_us) / 1000, iso, sizeof iso);
        open_until = json_string(iso);
    }
    return json_pack("{s:s, s:o, s:i, s:I, s:I, s:i, s:I}", "state",
                     cmx_breaker_state_name(st.state), "open_until", open_until,
                     "consecutive_failures", (int)st.consecutive_failures, "window_requests",
                     (json_int_t)st.window_requests, "window_failures",
                     (json_int_t)st.window_failures, "cooldown_ms", (int)st.cooldown_ms, "trips",
                     (json_int_t)st.trips);
}

static json_t *target_json(const cmx_model_group *g, cmx_group_state *gs, size_t i, uint64_t now_us,
                           uint64_t wall_ms)
{
    const cmx_target_config *t = &g->targets[i];
    uint64_t requests = 0, tokens = 0;
    cmx_ratelimit_usage(&gs->limits[i], now_us, &requests, &tokens);
    double ewma_ms = (double)cmx_strategy_latency_us(gs->strategy, i) / 1000.0;
    return json_pack("{s:s, s:s, s:o, s:i, s:f, s:o, s:o}", "provider", t->provider->name, "model",
                     t->model ? t->model : g->name, "breaker",
                     gs->breakers ? breaker_json(&gs->breakers[i], now_us, wall_ms) : json_null(),
                     "in_flight", (int)cmx_strategy_in_flight(gs->strategy, i), "latency_ewma_ms",
                     ewma_ms, "rpm", limit_json(requests, t->rpm), "tpm",
                     limit_json(tokens, t->tpm));
}

/* The whole status document; NULL when out of memory. */
static char *status_json(cmx_api_ctx *c)
{
    cmx_worker *w = c->worker;
    const cmx_config *cfg = c->cfg;
    cmx_router_shared *shared = c->wgen->gen->shared;
    uint64_t now_us = cmx_now_us();
    uint64_t wall_ms = cmx_wall_ms();
    char started[40];
    iso_time(w->started_wall_ms, started, sizeof started);
    json_t *models = json_array();
    for (size_t gi = 0; gi < cfg->n_models; gi++) {
        const cmx_model_group *g = &cfg->models[gi];
        cmx_group_state *gs = cmx_router_shared_group(shared, g);
        json_t *targets = json_array();
        for (size_t i = 0; i < g->n_targets; i++)
            json_array_append_new(targets, target_json(g, gs, i, now_us, wall_ms));
        json_array_append_new(models, json_pack("{s:s, s:s, s:b, s:o}", "name", g->name, "strategy",
                                                g->strategy ? g->strategy : "priority", "breakers",
                                                gs->breakers != NULL, "targets", targets));
    }
    cmx_state_stats ss;
    cmx_state_get_stats(cmx_router_shared_state(shared), &ss);
    json_t *store = json_pack("{s:s, s:b}", "backend", ss.shared ? "redis" : "local", "up", ss.up);
    json_t *root = json_pack(
        "{s:s, s:s, s:I, s:i, s:I, s:I, s:o, s:o}", "version", CMX_VERSION_STRING, "started_at",
        started, "uptime_s", (json_int_t)((now_us - w->started_us) / 1000000), "workers",
        cmx_gateway_workers(w->gateway), "in_flight_requests",
        (json_int_t)cmx_metrics_in_flight(c->wgen->gen->metrics), "config_generation",
        (json_int_t)c->wgen->gen->number, "state_store", store, "models", models);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(root);
    return text;
}

static void answer(cmx_api_ctx *c, const char *content_type, const char *body, size_t len)
{
    cmx_reply_log(c, 200, NULL, NULL);
    cmx_http_respond(c->ex, 200, content_type,
                     cmx_reply_headers(c, NULL, "Cache-Control: no-store\r\n"), body, len);
}

static json_t *string_list(char **items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

/* POST /admin/reload: the same reload as SIGHUP, answered with its outcome.
 * It runs on this worker's thread (reading and checking a config file takes
 * milliseconds); the workers, this one included, take the new generation
 * from their next loop turn. */
static void reload(cmx_api_ctx *c, long key_index)
{
    cmx_reload_result res;
    char actor[24] = "admin";
    if (key_index >= 0 && (size_t)key_index < c->cfg->server.n_admin_keys)
        cmx_admin_key_id(c->cfg->server.admin_keys[key_index], actor);
    cmx_gateway_reload(c->worker->gateway, actor, &res);
    json_t *root;
    if (res.ok)
        root = json_pack("{s:s, s:I, s:o}", "status", "reloaded", "generation",
                         (json_int_t)res.generation, "restart_required",
                         string_list(res.restart_only, res.n_restart_only));
    else
        root = json_pack("{s:{s:s, s:s, s:s, s:o}, s:I}", "error", "message",
                         "the config file is invalid; nothing was changed", "type",
                         "invalid_request_error", "code", "invalid_config", "errors",
                         string_list(res.errors, res.n_errors), "generation",
                         (json_int_t)res.generation);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    int ok = res.ok;
    cmx_reload_result_free(&res);
    if (!text) {
        cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
        return;
    }
    int status = ok ? 200 : 422;
    cmx_reply_log(c, status, NULL, ok ? NULL : "invalid_config");
    cmx_http_respond(c->ex, status, "application/json",
                     cmx_reply_headers(c, NULL, "Cache-Control: no-store\r\n"), text, strlen(text));
    free(text);
}

void cmx_admin_handle(cmx_api_ctx *c, cmx_admin_endpoint ep)
{
    const cmx_server_config *sc = &c->cfg->server;
    if (sc->n_admin_keys == 0 && ep != CMX_ADMIN_METRICS) {
        const char *what = ep == CMX_ADMIN_STATUS   ? "/v1/status"
                           : ep == CMX_ADMIN_RELOAD ? "/admin/reload"
                                                    : "the admin API";
        char *msg = cmx_arena_sprintf(c->req->arena,
                                      "%s is off: configure server.admin_keys and send one of "
                                      "them as 'Authorization: Bearer <key>'",
                                      what);
        cmx_reply_error(c, 403, CMX_ERR_AUTH, NULL, "admin_keys_not_configured", msg, NULL, NULL);
        return;
    }
    long key_index = -1;
    if (sc->n_admin_keys > 0 &&
        (key_index = cmx_bearer_match(c->req, sc->admin_keys, sc->n_admin_keys)) < 0) {
        if (c->worker->gov) {
            char *method = cmx_arena_strndup(c->req->arena, c->req->method.ptr,
                                             c->req->method.len > 16 ? 16 : c->req->method.len);
            char *path = cmx_arena_strndup(c->req->arena, c->req->path.ptr,
                                           c->req->path.len > 200 ? 200 : c->req->path.len);
            if (method && path)
                cmx_gov_audit_admin_auth_failed(c->worker->gov, method, path);
        }
        cmx_reply_error(c, 401, CMX_ERR_AUTH, NULL, "invalid_admin_key",
                        "missing or invalid admin key: send 'Authorization: Bearer <key>' with "
                        "one of the keys in server.admin_keys",
                        NULL, "WWW-Authenticate: Bearer\r\n");
        return;
    }
    if (ep == CMX_ADMIN_GOVERNANCE) {
        cmx_admin_governance(c, key_index);
        return;
    }
    if (ep == CMX_ADMIN_METRICS) {
        /* Scrapes come every few seconds, like probes: no log line, and they
         * do not count themselves. */
        c->quiet = 1;
        if (c->in_flight) {
            c->in_flight = 0;
            cmx_metrics_request_end(c->worker->shard);
        }
        /* The registry of the generation new requests use: it holds what
         * the ones before counted too (carried over at each swap). */
        cmx_generation *g = c->worker->current->gen;
        cmx_buf b = CMX_BUF_INIT;
        cmx_err rc =
            cmx_metrics_format(g->metrics, g->shared, cmx_now_us(), CMX_VERSION_STRING, &b);
        cmx_gateway_format_metrics(c->worker->gateway, &b);
        cmx_upstream_stats ups;
        cmx_gateway_upstream_stats(c->worker->gateway, &ups);
        cmx_metrics_format_upstream(&ups, &b);
        cmx_gov_metrics_format(c->worker->gov, &b);
        if (rc != CMX_OK || cmx_buf_failed(&b)) /* never a partial page */
            cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
        else
            answer(c, CMX_METRICS_CONTENT_TYPE, b.data ? b.data : "", b.len);
        cmx_buf_free(&b);
        return;
    }
    if (ep == CMX_ADMIN_RELOAD) {
        reload(c, key_index);
        return;
    }
    char *text = status_json(c);
    if (!text) {
        cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
        return;
    }
    answer(c, "application/json", text, strlen(text));
    free(text);
}
