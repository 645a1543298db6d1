/* health.c — active health checks: every interval, a cheap request to each
 * provider that configures `health_check` (its probe method, e.g. GET
 * /models).  `unhealthy_threshold` failures in a row mark the provider down,
 * taking all its targets out of routing in every worker; `healthy_threshold`
 * successes bring it back.  Passive failures of real traffic are the
 * breakers' business; this catches a provider that is down before users
 * find out, and tells when it is back.
 *
 * In a fleet one replica probes each provider per interval: the probe goes
 * out only with the provider's health lease (held for most of an interval),
 * and its verdict is published, so every replica takes the provider out (or
 * back) together.  When the store cannot say who holds the lease, this
 * replica probes anyway. */
#include "router_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "router/fleet.h"

typedef struct cmx_health_probe {
    cmx_router *router;
    const cmx_provider_config *provider;
    cmx_provider *instance;
    struct event *timer;
    cmx_probe *in_flight;
    uint64_t lease_op; /* the health lease being asked for, or 0 */
    uint32_t failures_in_row;
    uint32_t successes_in_row;
} cmx_health_probe;

static void arm(cmx_health_probe *hp)
{
    uint32_t ms = hp->provider->health.interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(hp->timer, &tv);
}

static void on_probe_done(void *ctx, const cmx_error *err)
{
    cmx_health_probe *hp = ctx;
    const cmx_health_check_config *h = &hp->provider->health;
    atomic_int *down = cmx_router_shared_provider_down(hp->router->shared, hp->provider);
    hp->in_flight = NULL;
    if (err) {
        hp->successes_in_row = 0;
        if (++hp->failures_in_row >= h->unhealthy_threshold && !atomic_exchange(down, 1))
            cmx_warn("provider '%s' marked down by its health check: %s", hp->provider->name,
                     err->message);
    } else {
        hp->failures_in_row = 0;
        if (++hp->successes_in_row >= h->healthy_threshold && atomic_exchange(down, 0))
            cmx_info("provider '%s' is healthy again", hp->provider->name);
    }
    cmx_fleet_publish_health(cmx_router_fleet(hp->router), hp->provider->name, atomic_load(down),
                             h->interval_ms * 3);
    arm(hp);
}

static void send_probe(cmx_health_probe *hp)
{
    const cmx_health_check_config *h = &hp->provider->health;
    hp->in_flight =
        hp->instance->vt->probe(hp->instance->state, h->path, h->timeout_ms, on_probe_done, hp);
    if (!hp->in_flight) {
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_NOMEM, "cannot start the health probe");
        on_probe_done(hp, &err);
    }
}

static void on_lease(void *ctx, cmx_state_verdict v)
{
    cmx_health_probe *hp = ctx;
    hp->lease_op = 0;
    if (v == CMX_STATE_NO)
        arm(hp); /* another replica probes this interval */
    else
        send_probe(hp);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_health_probe *hp = arg;
    cmx_state_worker *sw = cmx_router_fleet(hp->router);
    if (!sw) {
        send_probe(hp);
        return;
    }
    char name[300];
    snprintf(name, sizeof name, "health:%s", hp->provider->name);
    /* Held for 90% of an interval: the next interval's prober, here or
     * elsewhere, finds it free. */
    uint32_t ttl = hp->provider->health.interval_ms / 10 * 9;
    hp->lease_op = cmx_state_lease(sw, name, ttl ? ttl : 1, on_lease, hp);
}

cmx_err cmx_router_start_health_checks(cmx_router *r, cmx_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < r->cfg->n_providers; i++)
        n += r->cfg->providers[i].health.enabled && r->providers[i].vt->probe;
    if (!n)
        return CMX_OK;
    r->probes = calloc(n, sizeof *r->probes);
    if (!r->probes)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->cfg->n_providers; i++) {
        const cmx_provider_config *pc = &r->cfg->providers[i];
        if (!pc->health.enabled || !r->providers[i].vt->probe)
            continue;
        cmx_health_probe *hp = &r->probes[r->n_probes];
        hp->router = r;
        hp->provider = pc;
        hp->instance = &r->providers[i];
        hp->timer = evtimer_new(r->env.base, on_timer, hp);
        if (!hp->timer)
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        r->n_probes++;
        /* The first probe goes out at once: a provider that is down at start
         * is known before traffic finds out. */
        struct timeval now = {0, 0};
        evtimer_add(hp->timer, &now);
    }
    return CMX_OK;
}

void cmx_health_stop(cmx_router *r)
{
    for (size_t i = 0; i < r->n_probes; i++) {
        cmx_state_cancel(r->state, r->probes[i].lease_op);
        cmx_probe_cancel(r->probes[i].in_flight);
        event_free(r->probes[i].timer);
    }
    free(r->probes);
    r->probes = NULL;
    r->n_probes = 0;
}
