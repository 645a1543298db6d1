/* cold_start.c — time from exec to the first 200 on /health/ready.
 *
 * usage: cold_start PORT CLOUDMUX CONFIG
 * Forks and execs `CLOUDMUX serve --config CONFIG --listen 127.0.0.1:PORT
 * --workers 1`, polls GET /health/ready over loopback in a tight loop, prints
 * the elapsed milliseconds, then stops the process with SIGTERM.  A poller in
 * C, not a shell loop, so the figure is the gateway's and not the shell's. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        char buf[64];
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            ok = n > 12 && memcmp(buf + 9, CMX_LIT("200")) == 0;
        }
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CLOUDMUX CONFIG\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[2], argv[2], "serve", "--config", argv[3], "--listen", listen, "--workers", "1",
              (char *)NULL);
        _exit(127);
    }
    int rc = 1;
    while (now_ms() - t0 < 5000) {
        if (ready(port)) {
            printf("%.2f\n", now_ms() - t0);
            rc = 0;
            break;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 1;
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return rc;
}
