/* fleet.c — keeping this replica's mirror (group_state.h) in step with the
 * fleet through the state store.
 *
 * Out: a breaker that opens or closes here, a Retry-After cooldown learned
 * here and a health check's verdict are published as events (state.h), each
 * stored under its subject for as long as it matters.
 * In: the other replicas' events are applied to the mirror as they arrive,
 * so a target another replica found down is skipped here within one Redis
 * round trip of the publish.
 * On every (re)connect: the stored events of every target and provider are
 * read back (what happened while this replica was cut off), and what this
 * replica learned meanwhile (breakers open, cooldowns) is published again.
 *
 * Times cross the wire as wall-clock milliseconds; the mirror keeps
 * monotonic microseconds.  Conversions go through "now" on both clocks. */
#include "router/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static uint64_t wall_to_mono(uint64_t wall_ms, uint64_t now_us, uint64_t now_wall_ms)
{
    if (wall_ms <= now_wall_ms)
        return now_us;
    return now_us + (wall_ms - now_wall_ms) * 1000;
}

static uint64_t mono_to_wall(uint64_t mono_us, uint64_t now_us, uint64_t now_wall_ms)
{
    if (mono_us <= now_us)
        return now_wall_ms;
    return now_wall_ms + (mono_us - now_us + 999) / 1000;
}

static void apply_to_target(cmx_group_state *gs, size_t i, const cmx_state_event *ev,
                            uint64_t now_us, uint64_t now_wall_ms)
{
    uint64_t until = wall_to_mono(ev->until_wall_ms, now_us, now_wall_ms);
    switch (ev->kind) {
    case CMX_EVENT_BREAKER_OPEN:
        if (gs->breakers && until > now_us)
            cmx_breaker_apply_remote(&gs->breakers[i], now_us, true, until, ev->value * 1000);
        break;
    case CMX_EVENT_BREAKER_CLOSED:
        if (gs->breakers)
            cmx_breaker_apply_remote(&gs->breakers[i], now_us, false, 0, 0);
        break;
    case CMX_EVENT_COOLDOWN: cmx_cooldown_extend(&gs->cooldown_until_us[i], until); break;
    default: break;
    }
}

void cmx_fleet_apply(cmx_router_shared *s, const cmx_state_event *ev, uint64_t now_us,
                     uint64_t now_wall_ms)
{
    const cmx_config *cfg = cmx_router_shared_config(s);
    if (ev->kind == CMX_EVENT_HEALTH_DOWN || ev->kind == CMX_EVENT_HEALTH_UP) {
        const cmx_provider_config *p = cmx_config_find_provider(cfg, ev->subject);
        if (p && atomic_exchange(cmx_router_shared_provider_down(s, p),
                                 ev->kind == CMX_EVENT_HEALTH_DOWN) !=
                     (ev->kind == CMX_EVENT_HEALTH_DOWN))
            cmx_info("provider '%s' marked %s by another replica's health check", p->name,
                     ev->kind == CMX_EVENT_HEALTH_DOWN ? "down" : "healthy");
        return;
    }
    for (size_t g = 0; g < cfg->n_models; g++) {
        cmx_group_state *gs = cmx_router_shared_group(s, &cfg->models[g]);
        for (size_t i = 0; i < cfg->models[g].n_targets; i++)
            if (strcmp(gs->subjects[i], ev->subject) == 0)
                apply_to_target(gs, i, ev, now_us, now_wall_ms);
    }
}

void cmx_fleet_publish_breaker(cmx_state_worker *w, cmx_group_state *gs, size_t i,
                               cmx_breaker_transition t, uint64_t now_us, uint64_t now_wall_ms)
{
    if (!w || !gs->breakers || t == CMX_BREAKER_UNCHANGED)
        return;
    cmx_breaker_status st;
    cmx_breaker_get_status(&gs->breakers[i], now_us, &st);
    cmx_state_event ev = {.subject = gs->subjects[i]};
    uint32_t ttl_ms;
    if (t == CMX_BREAKER_RECOVERED) {
        ev.kind = CMX_EVENT_BREAKER_CLOSED;
        ttl_ms = 60000; /* a replica reconnecting soon learns it closed */
    } else {
        ev.kind = CMX_EVENT_BREAKER_OPEN;
        ev.until_wall_ms = mono_to_wall(st.open_until_us, now_us, now_wall_ms);
        ev.value = st.cooldown_ms;
        ttl_ms = st.cooldown_ms + 1000;
    }
    cmx_state_publish(w, &ev, ttl_ms);
    if (t != CMX_BREAKER_TRIPPED) {
        char lease[600];
        snprintf(lease, sizeof lease, "probe:%s", gs->subjects[i]);
        cmx_state_lease_release(w, lease);
    }
}

void cmx_fleet_publish_cooldown(cmx_state_worker *w, cmx_group_state *gs, size_t i,
                                uint64_t until_us, uint64_t now_us, uint64_t now_wall_ms)
{
    if (!w || until_us <= now_us)
        return;
    cmx_state_event ev = {CMX_EVENT_COOLDOWN, mono_to_wall(until_us, now_us, now_wall_ms), 0,
                          gs->subjects[i]};
    cmx_state_publish(w, &ev, (uint32_t)((until_us - now_us) / 1000) + 1000);
}

void cmx_fleet_publish_health(cmx_state_worker *w, const char *provider, int down, uint32_t ttl_ms)
{
    if (!w)
        return;
    cmx_state_event ev = {down ? CMX_EVENT_HEALTH_DOWN : CMX_EVENT_HEALTH_UP, 0, 0, provider};
    cmx_state_publish(w, &ev, ttl_ms);
}

void cmx_fleet_resync(cmx_router_shared *s, cmx_state_worker *w, uint64_t now_us,
                      uint64_t now_wall_ms)
{
    const cmx_config *cfg = cmx_router_shared_config(s);
    size_t n = 0;
    for (size_t g = 0; g < cfg->n_models; g++)
        n += cfg->models[g].n_targets;
    const char **subjects = calloc(n ? n : 1, sizeof *subjects);
    const char **providers = calloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *providers);
    if (!subjects || !providers) {
        free(subjects);
        free(providers);
        return;
    }
    n = 0;
    for (size_t g = 0; g < cfg->n_models; g++) {
        cmx_group_state *gs = cmx_router_shared_group(s, &cfg->models[g]);
        for (size_t i = 0; i < cfg->models[g].n_targets; i++) {
            subjects[n++] = gs->subjects[i];
            /* What this replica learned alone goes out again. */
            if (gs->breakers) {
                cmx_breaker_status st;
                cmx_breaker_get_status(&gs->breakers[i], now_us, &st);
                if (st.state == CMX_BREAKER_OPEN)
                    cmx_fleet_publish_breaker(w, gs, i, CMX_BREAKER_TRIPPED, now_us, now_wall_ms);
            }
            cmx_fleet_publish_cooldown(w, gs, i, atomic_load(&gs->cooldown_until_us[i]), now_us,
                                       now_wall_ms);
        }
    }
    for (size_t p = 0; p < cfg->n_providers; p++)
        providers[p] = cfg->providers[p].name;
    cmx_state_resync(w, subjects, n, 0);
    cmx_state_resync(w, providers, cfg->n_providers, 1);
    free(subjects);
    free(providers);
}
