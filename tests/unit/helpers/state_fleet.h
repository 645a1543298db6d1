/* state_fleet.h — two state stores ("replicas") sharing one real
 * redis-server, each with one worker on a common event loop and both going
 * by one fake clock: the fixture of the state store's fleet tests. */
#ifndef CMX_TEST_HELPERS_STATE_FLEET_H
#define CMX_TEST_HELPERS_STATE_FLEET_H

#include <stdint.h>

#include "helpers/fake_http.h"
#include "helpers/redis_server.h"
#include "state/state.h"

typedef struct cmx_test_fleet {
    cmx_test_redis redis;
    struct event_base *base;
    struct evdns_base *dns;
    cmx_state *a, *b; /* two replicas on one loop */
    cmx_state_worker *wa, *wb;
    cmx_fake_clock clock; /* what their allowances, spares and beats go by */
    const char *prefix;
    uint32_t timeout_ms;
} cmx_test_fleet;

/* What answers came to calls whose ctx is this (cmx_test_count_verdict):
 * how many of each verdict, and the last totals of the first two counters. */
typedef struct cmx_test_tally {
    int yes, no, unavailable, answers;
    int64_t last_total[2];
} cmx_test_tally;
void cmx_test_count_verdict(void *ctx, cmx_state_verdict v, const int64_t *totals, size_t n);

/* A state store on the redis-server at port (key prefix, timeout). */
cmx_state *cmx_test_shared_state(int port, const char *prefix, uint32_t timeout_ms);

/* Starts the redis-server and both replicas (their workers subscribe to
 * events when `subscriber`), and waits until both are up; NULL when they
 * never were. */
cmx_test_fleet *cmx_test_fleet_start(const char *prefix, uint32_t timeout_ms, int subscriber);
void cmx_test_fleet_stop(cmx_test_fleet *f);
/* 1 when both replicas are connected. */
int cmx_test_fleet_up(const cmx_test_fleet *f);

#endif
