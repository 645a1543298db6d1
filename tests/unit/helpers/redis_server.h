/* redis_server.h — a real redis-server (Debian's package) for the unit
 * tests of the state store: started on a loopback port without
 * persistence, stopped (or restarted on the same port) by its PID.  Linked
 * into every unit test (CMakeLists.txt). */
#ifndef CMX_TEST_HELPERS_REDIS_SERVER_H
#define CMX_TEST_HELPERS_REDIS_SERVER_H

#include <sys/types.h>

typedef struct cmx_test_redis {
    pid_t pid;
    int port;
} cmx_test_redis;

/* A free loopback port. */
int cmx_test_free_port(void);
/* Starts it on port (0: a free one) and waits until it listens; 0 when it
 * does, -1 when it never did. */
int cmx_test_redis_start(cmx_test_redis *r, int port);
/* SIGKILL and wait; a no-op when not running. */
void cmx_test_redis_stop(cmx_test_redis *r);

#endif
