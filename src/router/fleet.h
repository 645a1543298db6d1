/* fleet.h — the replica's mirror of the fleet's shared state kept in step
 * through the state store: events out, events in, resync on reconnect
 * (fleet.c says how). */
#ifndef CMX_ROUTER_FLEET_H
#define CMX_ROUTER_FLEET_H

#include <stdint.h>

#include "router/group_state.h"
#include "state/state.h"

/* Another replica's event (or one read back) applied to the mirror. */
void cmx_fleet_apply(cmx_router_shared *s, const cmx_state_event *ev, uint64_t now_us,
                     uint64_t now_wall_ms);
/* Target i of gs changed state here; a verdict on a probe also gives the
 * fleet's probe lease back.  w NULL: nothing to do. */
void cmx_fleet_publish_breaker(cmx_state_worker *w, cmx_group_state *gs, size_t i,
                               cmx_breaker_transition t, uint64_t now_us, uint64_t now_wall_ms);
void cmx_fleet_publish_cooldown(cmx_state_worker *w, cmx_group_state *gs, size_t i,
                                uint64_t until_us, uint64_t now_us, uint64_t now_wall_ms);
void cmx_fleet_publish_health(cmx_state_worker *w, const char *provider, int down, uint32_t ttl_ms);
/* On (re)connect: publish what this replica knows, read back the rest. */
void cmx_fleet_resync(cmx_router_shared *s, cmx_state_worker *w, uint64_t now_us,
                      uint64_t now_wall_ms);

#endif
