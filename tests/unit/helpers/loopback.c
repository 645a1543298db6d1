/* loopback.c — the unit tests' sockets on 127.0.0.1; see loopback.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in loopback_address(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int bound_socket(int type, int *port)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback_address(0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

int cmx_loopback_listen(int *port, int backlog)
{
    int fd = bound_socket(SOCK_STREAM, port);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

int cmx_loopback_udp(int *port)
{
    return bound_socket(SOCK_DGRAM, port);
}

int cmx_loopback_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = loopback_address(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int cmx_loopback_free_port(void)
{
    int port;
    close(bound_socket(SOCK_STREAM, &port));
    return port;
}

void cmx_loopback_server_start(cmx_loopback_server *ls, int udp, void *(*main)(void *), void *arg)
{
    atomic_store(&ls->stop, 0);
    ls->fd = udp ? cmx_loopback_udp(&ls->port) : cmx_loopback_listen(&ls->port, 16);
    assert_int_equal(pthread_create(&ls->thread, NULL, main, arg), 0);
}

void cmx_loopback_server_stop(cmx_loopback_server *ls)
{
    atomic_store(&ls->stop, 1);
    pthread_join(ls->thread, NULL);
    close(ls->fd);
}

int cmx_loopback_server_wait(cmx_loopback_server *ls)
{
    while (!atomic_load(&ls->stop)) {
        struct pollfd p = {ls->fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0)
            return 1;
    }
    return 0;
}

int cmx_loopback_server_accept(cmx_loopback_server *ls)
{
    while (cmx_loopback_server_wait(ls)) {
        int fd = accept(ls->fd, NULL, NULL);
        if (fd >= 0)
            return fd;
    }
    return -1;
}
