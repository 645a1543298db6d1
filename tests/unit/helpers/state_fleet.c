/* state_fleet.c — two replicas sharing a redis-server; see state_fleet.h. */
#include "helpers/state_fleet.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"

cmx_state *cmx_test_shared_state(int port, const char *prefix, uint32_t timeout_ms)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    cmx_state_config cfg = {.redis_url = url,
                            .key_prefix = (char *)prefix,
                            .timeout_ms = timeout_ms,
                            .cache_max_bytes = 1 << 20};
    cmx_error err;
    return cmx_state_new(&cfg, 1, &err);
}

int cmx_test_fleet_up(const cmx_test_fleet *f)
{
    return cmx_state_is_up(f->a) && cmx_state_is_up(f->b);
}

cmx_test_fleet *cmx_test_fleet_start(const char *prefix, uint32_t timeout_ms, int subscriber)
{
    cmx_test_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->prefix = prefix;
    f->timeout_ms = timeout_ms;
    if (cmx_test_redis_start(&f->redis, 0) != 0) {
        free(f);
        return NULL;
    }
    f->base = event_base_new();
    f->dns = evdns_base_new(f->base, 0);
    f->a = cmx_test_shared_state(f->redis.port, prefix, timeout_ms);
    f->b = cmx_test_shared_state(f->redis.port, prefix, timeout_ms);
    if (!f->a || !f->b) {
        cmx_test_fleet_stop(f);
        return NULL;
    }
    cmx_fake_clock_init(&f->clock, 1000000ull * 1000);
    cmx_state_set_clock(f->a, &f->clock.clock);
    cmx_state_set_clock(f->b, &f->clock.clock);
    cmx_error err;
    f->wa = cmx_state_worker_new(f->a, 0, f->base, f->dns, subscriber, &err);
    f->wb = cmx_state_worker_new(f->b, 0, f->base, f->dns, subscriber, &err);
    uint64_t end = cmx_now_us() + 3000000;
    while (!cmx_test_fleet_up(f) && cmx_now_us() < end)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(200);
    if (!cmx_test_fleet_up(f)) {
        cmx_test_fleet_stop(f);
        return NULL;
    }
    return f;
}

void cmx_test_fleet_stop(cmx_test_fleet *f)
{
    if (!f)
        return;
    if (f->wa)
        cmx_state_worker_free(f->wa);
    if (f->wb)
        cmx_state_worker_free(f->wb);
    cmx_state_free(f->a);
    cmx_state_free(f->b);
    if (f->dns)
        evdns_base_free(f->dns, 0);
    if (f->base)
        event_base_free(f->base);
    cmx_test_redis_stop(&f->redis);
    free(f);
}

void cmx_test_count_verdict(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n)
{
    cmx_test_tally *t = ctx;
    t->answers++;
    t->yes += v == CMX_STATE_YES;
    t->no += v == CMX_STATE_NO;
    t->unavailable += v == CMX_STATE_UNAVAILABLE;
    for (size_t i = 0; i < n && i < 2; i++)
        t->last_total[i] = totals[i];
}
