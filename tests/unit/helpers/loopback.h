/* loopback.h — sockets on 127.0.0.1 for the unit tests that play a server
 * or a client themselves: a listener on a free port, a UDP socket on one,
 * a connected client socket, and a port nobody listens on. */
#ifndef CMX_TEST_HELPERS_LOOPBACK_H
#define CMX_TEST_HELPERS_LOOPBACK_H

#include <pthread.h>
#include <stdatomic.h>

/* A TCP socket bound to a free port of 127.0.0.1, its port in *port;
 * listening with `backlog`, or only bound when backlog < 0 (a connect to it
 * is refused).  Fails the test when it cannot bind. */
int cmx_loopback_listen(int *port, int backlog);

/* A UDP socket bound to a free port of 127.0.0.1, its port in *port. */
int cmx_loopback_udp(int *port);

/* A TCP socket connected to 127.0.0.1:port, or -1; rcvbuf > 0 sets the
 * receive buffer first (a small one makes a client that reads slowly). */
int cmx_loopback_connect(int port, int rcvbuf);

/* A port of 127.0.0.1 that was free a moment ago (for a server the test
 * starts as another process). */
int cmx_loopback_free_port(void);

/* A server thread on a socket of 127.0.0.1 (a TCP listener, or a UDP
 * socket), running until the test stops it.  Embed it in the server's own
 * struct and start the thread with that struct as its argument. */
typedef struct cmx_loopback_server {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
} cmx_loopback_server;

void cmx_loopback_server_start(cmx_loopback_server *ls, int udp, void *(*main)(void *), void *arg);
/* Tells the thread to stop, waits for it and closes the socket. */
void cmx_loopback_server_stop(cmx_loopback_server *ls);
/* For the thread: waits in 20 ms polls until the socket is readable (1) or
 * the server is told to stop (0). */
int cmx_loopback_server_wait(cmx_loopback_server *ls);
/* For the thread: the next accepted connection, or -1 once told to stop. */
int cmx_loopback_server_accept(cmx_loopback_server *ls);

#endif
