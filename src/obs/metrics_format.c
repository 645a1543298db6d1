/* metrics_format.c — the scrape: every shard summed and written out in the
 * Prometheus text exposition format (version 0.0.4), plus the gauges read
 * from the router's shared state.
 *
 * Counters are kept per target; labels name the provider, so targets of one
 * group on the same provider are summed into one series here (two series with
 * the same labels would be invalid).  Counter series appear once they are
 * non-zero; histograms appear for every configured group from the start, so
 * rates work from the first scrape.  Values in seconds are written from
 * integer microseconds by hand: exact, and the same text on every libc. */
#include "obs/metrics_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "router/group_state.h"

void cmx_metrics_append_label_value(cmx_buf *out, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        cmx_buf_append(out, run, (size_t)(s - run));
        cmx_buf_append_str(out, esc);
        run = s + 1;
    }
    cmx_buf_append(out, run, (size_t)(s - run));
}

/* Microseconds as a decimal number of seconds: 5000 → "0.005", 120000000 → "120". */
static void append_seconds(cmx_buf *out, uint64_t us)
{
    char frac[8];
    snprintf(frac, sizeof frac, "%06" PRIu64, us % 1000000);
    int n = 6;
    while (n > 0 && frac[n - 1] == '0')
        n--;
    frac[n] = '\0';
    cmx_buf_printf(out, "%" PRIu64 "%s%s", us / 1000000, n ? "." : "", frac);
}

static void family(cmx_buf *out, const char *name, const char *type, const char *help)
{
    cmx_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label(cmx_buf *out, int first, const char *name, const char *value)
{
    cmx_buf_printf(out, "%s%s=\"", first ? "" : ",", name);
    cmx_metrics_append_label_value(out, value);
    cmx_buf_append_str(out, "\"");
}

static uint64_t sum_counter(const cmx_metrics *m, size_t index)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_shards; i++)
        total += atomic_load_explicit(&m->shards[i].counters[index], memory_order_relaxed);
    return total;
}

/* One series' worth of targets: a group's targets on one provider, or the
 * group's "no target" slot, or the "no group" slot. */
typedef struct series {
    const char *model;    /* group name or "" */
    const char *provider; /* provider name or "" */
    size_t slots[CMX_STRATEGY_MAX_DEPLOYMENTS];
    size_t n_slots;
} series;

/* Walks every series: fn(series) for each group's "no target" slot, each
 * distinct provider among its targets, and the "no group" slot. */
typedef void (*series_fn)(const cmx_metrics *m, const series *s, cmx_buf *out, const void *arg);

static void for_each_series(const cmx_metrics *m, series_fn fn, cmx_buf *out, const void *arg)
{
    const cmx_metrics_layout *l = &m->layout;
    const cmx_config *cfg = l->cfg;
    for (size_t g = 0; g < cfg->n_models; g++) {
        const cmx_model_group *grp = &cfg->models[g];
        series none = {grp->name, "", {l->slot_base[g]}, 1};
        fn(m, &none, out, arg);
        for (size_t t = 0; t < grp->n_targets; t++) {
            const char *prov = grp->targets[t].provider->name;
            int seen = 0;
            for (size_t u = 0; u < t && !seen; u++)
                seen = strcmp(grp->targets[u].provider->name, prov) == 0;
            if (seen)
                continue;
            series s = {grp->name, prov, {0}, 0};
            for (size_t u = t; u < grp->n_targets && s.n_slots < CMX_STRATEGY_MAX_DEPLOYMENTS; u++)
                if (strcmp(grp->targets[u].provider->name, prov) == 0)
                    s.slots[s.n_slots++] = l->slot_base[g] + 1 + u;
            fn(m, &s, out, arg);
        }
    }
    series nogroup = {"", "", {l->n_slots - 1}, 1};
    fn(m, &nogroup, out, arg);
}

static uint64_t series_sum(const cmx_metrics *m, const series *s, size_t base, size_t stride,
                           size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i < s->n_slots; i++)
        total += sum_counter(m, base + s->slots[i] * stride + offset);
    return total;
}

static void put_series_labels(cmx_buf *out, const char *name, const series *s)
{
    cmx_buf_printf(out, "%s{", name);
    label(out, 1, "model", s->model);
    label(out, 0, "provider", s->provider);
}

static void requests_series(const cmx_metrics *m, const series *s, cmx_buf *out, const void *arg)
{
    for (size_t code = 0; code < CMX_METRICS_N_CODES; code++) {
        for (int stream = 0; stream < 2; stream++) {
            uint64_t v = series_sum(m, s, m->layout.requests, CMX_METRICS_N_CODES * 2,
                                    code * 2 + (size_t)stream);
            if (!v)
                continue;
            put_series_labels(out, "cloudmux_requests_total", s);
            label(out, 0, "code", cmx_metrics_code_names[code]);
            label(out, 0, "stream", stream ? "true" : "false");
            cmx_buf_printf(out, "} %" PRIu64 "\n", v);
        }
    }
}

static void attempts_series(const cmx_metrics *m, const series *s, cmx_buf *out, const void *arg)
{
    for (size_t k = 0; k < CMX_ERR__COUNT; k++) {
        uint64_t v = series_sum(m, s, m->layout.attempts, CMX_ERR__COUNT, k);
        if (!v)
            continue;
        put_series_labels(out, "cloudmux_upstream_attempts_total", s);
        label(out, 0, "outcome", k == CMX_OK ? "ok" : cmx_err_name((cmx_err)k));
        cmx_buf_printf(out, "} %" PRIu64 "\n", v);
    }
}

static void tokens_series(const cmx_metrics *m, const series *s, cmx_buf *out, const void *arg)
{
    static const char *const types[2] = {"prompt", "completion"};
    for (size_t k = 0; k < 2; k++) {
        uint64_t v = series_sum(m, s, m->layout.tokens, 2, k);
        if (!v)
            continue;
        put_series_labels(out, "cloudmux_tokens_total", s);
        label(out, 0, "type", types[k]);
        cmx_buf_printf(out, "} %" PRIu64 "\n", v);
    }
}

/* One histogram's samples.  model NULL: no label besides le. */
static void histogram(const cmx_metrics *m, cmx_buf *out, const char *name, const char *model,
                      const uint64_t *bounds, size_t n_bounds, size_t base, size_t sum_index)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= n_bounds; b++) {
        cumulative += sum_counter(m, base + b);
        cmx_buf_printf(out, "%s_bucket{", name);
        if (model) {
            label(out, 1, "model", model);
            cmx_buf_append_str(out, ",");
        }
        cmx_buf_append_str(out, "le=\"");
        if (b < n_bounds)
            append_seconds(out, bounds[b]);
        else
            cmx_buf_append_str(out, "+Inf");
        cmx_buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    const char *suffixes[2] = {"_sum", "_count"};
    for (int k = 0; k < 2; k++) {
        cmx_buf_printf(out, "%s%s", name, suffixes[k]);
        if (model) {
            cmx_buf_append_str(out, "{");
            label(out, 1, "model", model);
            cmx_buf_append_str(out, "}");
        }
        cmx_buf_append_str(out, " ");
        if (k == 0)
            append_seconds(out, sum_counter(m, sum_index));
        else
            cmx_buf_printf(out, "%" PRIu64, cumulative);
        cmx_buf_append_str(out, "\n");
    }
}

static void durations(const cmx_metrics *m, cmx_buf *out)
{
    const cmx_metrics_layout *l = &m->layout;
    const size_t stride = CMX_METRICS_N_DURATION_BUCKETS + 1;
    for (size_t g = 0; g <= l->n_groups; g++) {
        size_t base = l->duration + g * stride;
        if (g == l->n_groups) { /* "no group": only once something landed there */
            uint64_t any = 0;
            for (size_t b = 0; b < stride; b++)
                any += sum_counter(m, base + b);
            if (!any)
                break;
        }
        histogram(m, out, "cloudmux_request_duration_seconds",
                  g < l->n_groups ? l->cfg->models[g].name : "", cmx_metrics_duration_bounds_us,
                  CMX_METRICS_N_DURATION_BUCKETS, base, l->duration_sum_us + g);
    }
}

/* The target label: the upstream model, with "#index" when the group has
 * the same provider and model twice (series must differ). */
static void target_label(cmx_buf *out, const cmx_model_group *g, size_t t)
{
    const cmx_target_config *tc = &g->targets[t];
    const char *model = tc->model ? tc->model : g->name;
    int twin = 0;
    for (size_t u = 0; u < g->n_targets && !twin; u++) {
        const cmx_target_config *uc = &g->targets[u];
        twin = u != t && uc->provider == tc->provider &&
               strcmp(uc->model ? uc->model : g->name, model) == 0;
    }
    cmx_buf_append_str(out, ",target=\"");
    cmx_metrics_append_label_value(out, model);
    if (twin)
        cmx_buf_printf(out, "#%zu", t);
    cmx_buf_append_str(out, "\"");
}

static void breakers(const cmx_metrics *m, cmx_router_shared *shared, uint64_t now_us, cmx_buf *out)
{
    const cmx_config *cfg = m->layout.cfg;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            family(out, "cloudmux_breaker_state", "gauge",
                   "Circuit breaker of a target: 0 closed, 1 open, 2 half-open.");
        else
            family(out, "cloudmux_breaker_open_total", "counter",
                   "Times a target's circuit breaker opened (tripped or reopened after a failed "
                   "probe).");
        for (size_t g = 0; g < cfg->n_models; g++) {
            const cmx_model_group *grp = &cfg->models[g];
            cmx_group_state *gs = cmx_router_shared_group(shared, grp);
            if (!gs->breakers)
                continue;
            for (size_t t = 0; t < grp->n_targets; t++) {
                cmx_breaker_status st;
                cmx_breaker_get_status(&gs->breakers[t], now_us, &st);
                cmx_buf_printf(out, "%s{",
                               pass ? "cloudmux_breaker_open_total" : "cloudmux_breaker_state");
                label(out, 1, "model", grp->name);
                label(out, 0, "provider", grp->targets[t].provider->name);
                target_label(out, grp, t);
                cmx_buf_printf(out, "} %" PRIu64 "\n", pass ? st.trips : (uint64_t)st.state);
            }
        }
    }
}

static void cache_results(const cmx_metrics *m, cmx_buf *out)
{
    static const char *const names[CMX_CACHE_RESULTS] = {"hit", "miss", "bypass"};
    const cmx_config *cfg = m->layout.cfg;
    size_t caching = 0;
    for (size_t g = 0; g < cfg->n_models; g++)
        caching += cfg->models[g].cache.enabled != 0;
    if (!caching)
        return;
    family(out, "cloudmux_cache_requests_total", "counter",
           "Requests to groups with a response cache, by result: hit (answered from the cache, "
           "at no provider cost), miss, bypass (Cache-Control: no-cache).");
    for (size_t g = 0; g < cfg->n_models; g++) {
        if (!cfg->models[g].cache.enabled)
            continue;
        for (size_t r = 0; r < CMX_CACHE_RESULTS; r++) {
            cmx_buf_append_str(out, "cloudmux_cache_requests_total{");
            label(out, 1, "model", cfg->models[g].name);
            label(out, 0, "result", names[r]);
            cmx_buf_printf(out, "} %" PRIu64 "\n",
                           sum_counter(m, m->layout.cache + g * CMX_CACHE_RESULTS + r));
        }
    }
}

int64_t cmx_metrics_in_flight(cmx_metrics *m)
{
    return (int64_t)sum_counter(m, m->layout.in_flight);
}

cmx_err cmx_metrics_format(cmx_metrics *m, cmx_router_shared *shared, uint64_t now_us,
                           const char *version, cmx_buf *out)
{
    family(out, "cloudmux_build_info", "gauge",
           "Always 1; the labels say which cloudmux is running.");
    cmx_buf_append_str(out, "cloudmux_build_info{");
    label(out, 1, "version", version ? version : "");
    cmx_buf_append_str(out, "} 1\n");

    family(out, "cloudmux_in_flight_requests", "gauge",
           "Client requests being handled now (health probes and scrapes excluded).");
    cmx_buf_printf(out, "cloudmux_in_flight_requests %" PRId64 "\n", cmx_metrics_in_flight(m));

    family(out, "cloudmux_requests_total", "counter",
           "Client requests answered, by model group, provider that answered (or was tried "
           "last), status code and streaming.");
    for_each_series(m, requests_series, out, NULL);

    family(out, "cloudmux_request_duration_seconds", "histogram",
           "Time from a request's first byte to its last response byte handed to the socket.");
    durations(m, out);

    family(out, "cloudmux_gateway_overhead_seconds", "histogram",
           "Time cloudmux itself added to a request: its duration minus the time spent waiting "
           "on providers.");
    histogram(m, out, "cloudmux_gateway_overhead_seconds", NULL, cmx_metrics_overhead_bounds_us,
              CMX_METRICS_N_OVERHEAD_BUCKETS, m->layout.overhead, m->layout.overhead_sum_us);

    family(out, "cloudmux_upstream_attempts_total", "counter",
           "Attempts sent to providers, retries included, by outcome: ok or the error kind.");
    for_each_series(m, attempts_series, out, NULL);

    family(out, "cloudmux_tokens_total", "counter",
           "Tokens the providers reported in their usage, by type.");
    for_each_series(m, tokens_series, out, NULL);

    family(out, "cloudmux_api_requests_total", "counter",
           "Client requests answered, by the API called (chat, embeddings, messages, "
           "count_tokens, responses) and status code.");
    for (size_t a = 0; a < CMX_API__COUNT; a++) {
        for (size_t code = 0; code < CMX_METRICS_N_CODES; code++) {
            uint64_t v = sum_counter(m, m->layout.api_requests + a * CMX_METRICS_N_CODES + code);
            if (!v)
                continue;
            cmx_buf_append_str(out, "cloudmux_api_requests_total{");
            label(out, 1, "api", cmx_api_name((cmx_api)a));
            label(out, 0, "code", cmx_metrics_code_names[code]);
            cmx_buf_printf(out, "} %" PRIu64 "\n", v);
        }
    }

    if (shared)
        breakers(m, shared, now_us, out);
    cache_results(m, out);
    return cmx_buf_failed(out) ? CMX_ERR_NOMEM : CMX_OK;
}
