/* drill.c — `cloudmux drill`: a failover drill as DR runbooks describe it,
 * with measured recovery figures.
 *
 * Steady load runs through a gateway (one started here from --config, or a
 * running one given by --url); one target of a model group is made to fail
 * for the middle third of the run, then recovers; the report says how long
 * the gateway took to notice, to answer from a fallback, and to go back, and
 * what the clients saw meanwhile.  The fault is made either by the emulator's
 * fault endpoint (--fault-url, any gateway) or, for an in-process gateway and
 * an http:// provider, by a relay of the drill's own that the provider's
 * base_url is pointed at.  The command only sets things up and tears them
 * down; load, relay and report live in drill_load.c, drill_relay.c and
 * drill_report.c. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drill.h"
#include "gateway/gateway.h"
#include "http/upstream.h"

static const char usage_text[] =
    "usage: cloudmux drill --config FILE --group NAME --fail TARGET [--rps N] [--duration S]\n"
    "                      [--fail-at S] [--recover-at S] [--json] [--fault-url URL]\n"
    "                      [--fault SPEC] [--url GATEWAY_URL] [--api-key KEY] [--timeout MS]\n"
    "TARGET is a provider of the group, or provider/model.  See docs/drill.md.\n";

typedef struct drill_args {
    const char *config_path;
    const char *group;
    const char *target;
    const char *fault_url;
    const char *fault_spec;
    const char *gateway_url;
    const char *api_key;
    double rps, duration_s, fail_at_s, recover_at_s;
    uint32_t timeout_ms;
    int json;
} drill_args;

static int parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, drill_args *a)
{
    memset(a, 0, sizeof *a);
    a->rps = 20;
    a->duration_s = 30;
    a->fail_at_s = a->recover_at_s = -1;
    a->fault_spec = "status=503";
    a->timeout_ms = 10000;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double num = 0;
        if (strcmp(o, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "cloudmux drill: '%s' needs a value (or is unknown)\n", o);
            return -1;
        }
        i++;
        if (strcmp(o, "--config") == 0)
            a->config_path = v;
        else if (strcmp(o, "--group") == 0)
            a->group = v;
        else if (strcmp(o, "--fail") == 0)
            a->target = v;
        else if (strcmp(o, "--fault-url") == 0)
            a->fault_url = v;
        else if (strcmp(o, "--fault") == 0)
            a->fault_spec = v;
        else if (strcmp(o, "--url") == 0)
            a->gateway_url = v;
        else if (strcmp(o, "--api-key") == 0)
            a->api_key = v;
        else if (strcmp(o, "--rps") == 0 && parse_number(v, 0.1, 5000, &num) == 0)
            a->rps = num;
        else if (strcmp(o, "--duration") == 0 && parse_number(v, 1, 3600, &num) == 0)
            a->duration_s = num;
        else if (strcmp(o, "--fail-at") == 0 && parse_number(v, 0, 3600, &num) == 0)
            a->fail_at_s = num;
        else if (strcmp(o, "--recover-at") == 0 && parse_number(v, 0, 3600, &num) == 0)
            a->recover_at_s = num;
        else if (strcmp(o, "--timeout") == 0 && parse_number(v, 10, 600000, &num) == 0)
            a->timeout_ms = (uint32_t)num;
        else {
            fprintf(stderr, "cloudmux drill: bad option or value: %s %s\n", o, v);
            return -1;
        }
    }
    if (!a->group || !a->target || (!a->config_path && !a->gateway_url)) {
        fprintf(stderr, "cloudmux drill: --group, --fail and --config (or --url) are required\n");
        return -1;
    }
    if (a->fail_at_s < 0)
        a->fail_at_s = a->duration_s / 3;
    if (a->recover_at_s < 0)
        a->recover_at_s = a->duration_s * 2 / 3;
    if (!(a->fail_at_s < a->recover_at_s && a->recover_at_s < a->duration_s)) {
        fprintf(stderr, "cloudmux drill: need --fail-at < --recover-at < --duration\n");
        return -1;
    }
    if ((size_t)(a->rps * a->duration_s) > 1000000) {
        fprintf(stderr, "cloudmux drill: rps × duration is capped at 1,000,000 requests\n");
        return -1;
    }
    if (a->rps * a->duration_s < 1) {
        fprintf(stderr, "cloudmux drill: rps × duration must be at least one request\n");
        return -1;
    }
    return 0;
}

/* ---- the target within the group ---- */

typedef struct drill_target {
    char provider[64];
    const char *model; /* points into the --fail argument; NULL if none */
    size_t matches;    /* targets of the group it covers */
} drill_target;

static int find_target(const cmx_config *cfg, const char *group, const char *spec, drill_target *t)
{
    const char *slash = strchr(spec, '/');
    size_t plen = slash ? (size_t)(slash - spec) : strlen(spec);
    if (plen == 0 || plen >= sizeof t->provider) {
        fprintf(stderr, "cloudmux drill: --fail '%s' is not a provider name\n", spec);
        return -1;
    }
    memcpy(t->provider, spec, plen);
    t->provider[plen] = '\0';
    t->model = slash && slash[1] ? slash + 1 : NULL;
    t->matches = 0;
    if (!cfg)
        return 0;
    const cmx_model_group *g = cmx_config_find_model(cfg, group, strlen(group));
    if (!g) {
        fprintf(stderr, "cloudmux drill: no model group '%s' in the config\n", group);
        return -1;
    }
    size_t same_provider = 0;
    for (size_t i = 0; i < g->n_targets; i++) {
        if (strcmp(g->targets[i].provider_name, t->provider) != 0)
            continue;
        same_provider++;
        if (!t->model || strcmp(g->targets[i].model, t->model) == 0)
            t->matches++;
    }
    if (t->matches == 0) {
        fprintf(stderr, "cloudmux drill: '%s' is not a target of group '%s' (targets:", spec,
                group);
        for (size_t i = 0; i < g->n_targets; i++)
            fprintf(stderr, " %s/%s", g->targets[i].provider_name, g->targets[i].model);
        fprintf(stderr, ")\n");
        return -1;
    }
    if (g->n_targets < 2)
        fprintf(stderr, "warning: group '%s' has one target: there is nothing to fail over to\n",
                group);
    if (!t->model && same_provider > 1)
        fprintf(stderr,
                "warning: provider '%s' appears %zu times in '%s'; all of them fail (name one "
                "as provider/model to tell them apart in the report)\n",
                t->provider, same_provider, group);
    return 0;
}

/* ---- fault injection ---- */

typedef struct drill_fault {
    cmx_drill_load *load;
    cmx_drill_relay *relay; /* built-in relay, or NULL */
    const char *fault_url;  /* or the emulator's endpoint */
    char post_body[512];
    /* When the control request went out: the fault cannot act earlier, and
     * acts before its answer comes back, so the phases start here. */
    uint64_t control_sent_us;
    int preflight_status;
    const char *preflight_error;
    char preflight_msg[256];
} drill_fault;

static void fault_posted(void *ctx, int status, const char *error)
{
    drill_fault *f = ctx;
    char msg[300];
    if (status >= 200 && status < 300) {
        cmx_drill_load_mark(f->load, 1, f->control_sent_us);
        return;
    }
    snprintf(msg, sizeof msg, "POST %s: %s", f->fault_url,
             error    ? error
             : status ? "unexpected status"
                      : "no answer");
    if (status)
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %d", status);
    cmx_drill_load_fault_error(f->load, msg);
}

static void fault_deleted(void *ctx, int status, const char *error)
{
    drill_fault *f = ctx;
    if (status >= 200 && status < 300) {
        cmx_drill_load_mark(f->load, 0, f->control_sent_us);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "DELETE %s: %s (the fault may still be in place)", f->fault_url,
             error ? error : "unexpected status");
    cmx_drill_load_fault_error(f->load, msg);
}

static void fault_fail(void *ctx)
{
    drill_fault *f = ctx;
    if (f->relay) {
        cmx_drill_relay_set_failing(f->relay, 1);
        cmx_drill_load_mark(f->load, 1, cmx_drill_load_now(f->load));
    } else {
        f->control_sent_us = cmx_drill_load_now(f->load);
        cmx_drill_load_control(f->load, "POST", f->fault_url, f->post_body, fault_posted, f);
    }
}

static void fault_recover(void *ctx)
{
    drill_fault *f = ctx;
    if (f->relay) {
        cmx_drill_relay_set_failing(f->relay, 0);
        cmx_drill_load_mark(f->load, 0, cmx_drill_load_now(f->load));
    } else {
        f->control_sent_us = cmx_drill_load_now(f->load);
        cmx_drill_load_control(f->load, "DELETE", f->fault_url, NULL, fault_deleted, f);
    }
}

/* Builds {"spec": ..., "model": ...} with jansson-free escaping of two
 * strings that come from the command line. */
static int build_fault_body(char *out, size_t size, const char *spec, const char *model)
{
    size_t n = 0;
    const char *parts[2] = {spec, model};
    const char *keys[2] = {"spec", "model"};
    n += (size_t)snprintf(out + n, size - n, "{");
    for (int k = 0; k < 2; k++) {
        if (!parts[k])
            continue;
        n += (size_t)snprintf(out + n, size - n, "%s\"%s\":\"", k ? "," : "", keys[k]);
        for (const char *s = parts[k]; *s && n + 8 < size; s++) {
            if (*s == '"' || *s == '\\')
                out[n++] = '\\';
            if ((unsigned char)*s >= 0x20)
                out[n++] = *s;
        }
        if (n + 8 >= size)
            return -1;
        n += (size_t)snprintf(out + n, size - n, "\"");
    }
    snprintf(out + n, size - n, "}");
    return 0;
}

/* Points the target provider at a relay; returns the relay or NULL. */
static cmx_drill_relay *install_relay(struct event_base *base, cmx_config *cfg,
                                      const drill_target *t)
{
    cmx_provider_config *p = NULL;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, t->provider) == 0)
            p = &cfg->providers[i];
    if (!p || !p->base_url) {
        fprintf(stderr,
                "cloudmux drill: provider '%s' has no base_url (type %s): it runs "
                "in-process and cannot be made unreachable\n",
                t->provider, p ? p->type_name : "?");
        return NULL;
    }
    cmx_url u;
    cmx_error err;
    cmx_error_clear(&err);
    if (cmx_url_parse(p->base_url, &u, &err) != CMX_OK) {
        fprintf(stderr, "cloudmux drill: provider '%s': %s\n", t->provider, err.message);
        return NULL;
    }
    if (u.tls) {
        fprintf(stderr,
                "cloudmux drill: provider '%s' is https (%s): the built-in relay cannot stand in "
                "for a TLS endpoint without its certificate.  Use --fault-url with a fault "
                "endpoint in front of it (see docs/drill.md).\n",
                t->provider, p->base_url);
        return NULL;
    }
    char errbuf[256];
    cmx_drill_relay *r = cmx_drill_relay_new(base, u.host, u.port, errbuf, sizeof errbuf);
    if (!r) {
        fprintf(stderr, "cloudmux drill: %s\n", errbuf);
        return NULL;
    }
    /* The snapshot is still private to this process here: no gateway has
     * seen it yet, so changing it before cmx_gateway_new is safe. */
    char url[1200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", cmx_drill_relay_port(r), u.path);
    char *copy = strdup(url);
    if (!copy) {
        cmx_drill_relay_free(r);
        return NULL;
    }
    free(p->base_url);
    p->base_url = copy;
    return r;
}

/* ---- pre-flight: the gateway answers, the fault endpoint answers ---- */

static void preflight_done(void *ctx, int status, const char *error)
{
    drill_fault *f = ctx;
    f->preflight_status = status;
    if (error) {
        snprintf(f->preflight_msg, sizeof f->preflight_msg, "%s", error);
        f->preflight_error = f->preflight_msg;
    }
}

static int preflight(struct event_base *base, drill_fault *f, const char *method, const char *url)
{
    f->preflight_status = -1;
    f->preflight_error = NULL;
    cmx_drill_load_control(f->load, method, url, NULL, preflight_done, f);
    while (f->preflight_status == -1)
        event_base_loop(base, EVLOOP_ONCE);
    if (f->preflight_status >= 200 && f->preflight_status < 300)
        return 0;
    fprintf(stderr, "cloudmux drill: %s %s: %s", method, url,
            f->preflight_error ? f->preflight_error : "unexpected status");
    if (f->preflight_status > 0)
        fprintf(stderr, " %d", f->preflight_status);
    fprintf(stderr, "\n");
    return -1;
}

static const char *fault_how(const drill_fault *f)
{
    return f->relay ? "relay (connections reset)" : "fault endpoint";
}

/* What one drill holds while it runs; released by drill_end. */
typedef struct drill_run {
    drill_args a;
    cmx_config *cfg;
    cmx_gateway *gw;
    struct event_base *base;
    drill_fault fault;
    drill_target target;
    char gateway_url[300];
    char errbuf[300];
} drill_run;

/* Step 1: the config, the target to fail and a consistent set of options. */
static int drill_check(drill_run *r)
{
    if (r->a.config_path && !(r->cfg = cmx_cli_load_config(r->a.config_path)))
        return -1;
    if (find_target(r->cfg, r->a.group, r->a.target, &r->target) < 0)
        return -1;
    if (r->a.gateway_url && !r->a.fault_url) {
        fprintf(stderr, "cloudmux drill: with --url the drill cannot reach inside the gateway; "
                        "give --fault-url to make the target fail\n");
        return -1;
    }
    if (!r->a.gateway_url && !r->cfg) {
        fprintf(stderr, "cloudmux drill: --config is needed to start a gateway\n");
        return -1;
    }
    return 0;
}

/* Step 2: how the target will fail — a relay the drill puts in front of it,
 * or the fault endpoint of the service behind it. */
static int drill_prepare_fault(drill_run *r)
{
    if (!(r->base = event_base_new())) {
        fprintf(stderr, "cloudmux drill: cannot create an event loop\n");
        return -1;
    }
    if (!r->a.fault_url && !(r->fault.relay = install_relay(r->base, r->cfg, &r->target)))
        return -1;
    if (r->a.fault_url && build_fault_body(r->fault.post_body, sizeof r->fault.post_body,
                                           r->a.fault_spec, r->target.model) < 0) {
        fprintf(stderr, "cloudmux drill: --fault spec too long\n");
        return -1;
    }
    r->fault.fault_url = r->a.fault_url;
    return 0;
}

/* Step 3: the gateway under test — the one at --url, or one started here
 * on the config (with the relay in front of the target). */
static int drill_reach_gateway(drill_run *r)
{
    if (r->a.gateway_url) {
        snprintf(r->gateway_url, sizeof r->gateway_url, "%s", r->a.gateway_url);
        size_t n = strlen(r->gateway_url);
        while (n && r->gateway_url[n - 1] == '/')
            r->gateway_url[--n] = '\0';
    } else {
        cmx_error err;
        cmx_error_clear(&err);
        r->cfg->server.access_log = 0; /* stdout is the report's */
        cmx_gateway_options gopts = {.listen_host = "127.0.0.1", .listen_port = 0};
        if (!(r->gw = cmx_gateway_new(r->cfg, &gopts, &err)) ||
            cmx_gateway_start(r->gw, &err) != CMX_OK) {
            fprintf(stderr, "cloudmux drill: cannot start the gateway: %s\n", err.message);
            return -1;
        }
        snprintf(r->gateway_url, sizeof r->gateway_url, "http://127.0.0.1:%d",
                 cmx_gateway_port(r->gw));
        if (!r->a.api_key && r->cfg->server.n_api_keys > 0)
            r->a.api_key = r->cfg->server.api_keys[0];
    }
    if (!r->a.api_key)
        r->a.api_key = getenv("CLOUDMUX_API_KEY");
    return 0;
}

/* Step 4: the load, with the fault and the recovery at their times, after
 * checking that the gateway and the fault endpoint answer at all. */
static int drill_run_load(drill_run *r)
{
    drill_args *a = &r->a;
    cmx_drill_load_options lo = {r->gateway_url, a->group,     a->api_key,      a->rps,
                                 a->duration_s,  a->fail_at_s, a->recover_at_s, a->timeout_ms};
    cmx_drill_fault_ops ops = {fault_fail, fault_recover, &r->fault};
    r->fault.load = cmx_drill_load_new(r->base, &lo, &ops, r->errbuf, sizeof r->errbuf);
    if (!r->fault.load) {
        fprintf(stderr, "cloudmux drill: %s\n", r->errbuf);
        return -1;
    }
    char live_url[400];
    snprintf(live_url, sizeof live_url, "%s/health/live", r->gateway_url);
    if (preflight(r->base, &r->fault, "GET", live_url) < 0)
        return -1;
    /* Clears leftovers of an earlier run, and proves the endpoint is there. */
    if (a->fault_url && preflight(r->base, &r->fault, "DELETE", a->fault_url) < 0)
        return -1;
    if (!a->json)
        fprintf(stderr,
                "drill: %zu requests over %.1f s to %s (group %s); %s fails at %.1f s, "
                "recovers at %.1f s\n",
                (size_t)(a->rps * a->duration_s + 0.5), a->duration_s, r->gateway_url, a->group,
                a->target, a->fail_at_s, a->recover_at_s);
    if (cmx_drill_load_run(r->fault.load, r->errbuf, sizeof r->errbuf) < 0) {
        fprintf(stderr, "cloudmux drill: %s\n", r->errbuf);
        return -1;
    }
    return 0;
}

/* Step 5: what the clients saw, as text or JSON on stdout. */
static int drill_report(drill_run *r)
{
    size_t n;
    const cmx_drill_record *recs = cmx_drill_load_records(r->fault.load, &n);
    cmx_drill_input in = {r->target.provider,
                          r->target.model,
                          cmx_drill_load_fail_us(r->fault.load),
                          cmx_drill_load_recover_us(r->fault.load),
                          cmx_drill_load_end_us(r->fault.load),
                          r->a.rps,
                          r->a.duration_s};
    cmx_drill_report rep;
    if (cmx_drill_report_compute(&in, recs, n, &rep) < 0) {
        fprintf(stderr, "cloudmux drill: out of memory\n");
        return -1;
    }
    if (r->a.json)
        cmx_drill_report_print_json(stdout, &in, &rep, fault_how(&r->fault));
    else
        cmx_drill_report_print_text(stdout, &in, &rep, fault_how(&r->fault));
    fflush(stdout);
    cmx_drill_report_free(&rep);
    return 0;
}

static void drill_end(drill_run *r)
{
    if (r->gw) {
        cmx_gateway_shutdown(r->gw, 2000);
        cmx_gateway_free(r->gw);
    }
    cmx_drill_load_free(r->fault.load);
    cmx_drill_relay_free(r->fault.relay);
    if (r->base)
        event_base_free(r->base);
    if (r->cfg)
        cmx_config_unref(r->cfg);
}

int cmx_cmd_drill(int argc, char **argv)
{
    drill_run r;
    memset(&r, 0, sizeof r);
    if (parse_args(argc, argv, &r.a) < 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ok = drill_check(&r) == 0 && drill_prepare_fault(&r) == 0 && drill_reach_gateway(&r) == 0 &&
             drill_run_load(&r) == 0 && drill_report(&r) == 0;
    drill_end(&r);
    return ok ? 0 : 1;
}
