/* conn_hold.c — opens many client connections to a server and holds them,
 * for measuring what an idle connection costs the server.
 *
 *   conn_hold PORT N MODE [PATH BODY_FILE]
 *
 * MODE "unused": connect and send nothing.  MODE "idle": send one request on
 * each (POST PATH with the body in BODY_FILE, keep-alive) and read its whole
 * answer, so each connection is an idle keep-alive connection afterwards.
 * Prints "held N" once all are open, then waits until stdin closes (or a
 * line arrives) and closes them all, printing "closed".  Exits non-zero if a
 * connection or an answer fails. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char request[65536];
static size_t request_len;

/* Reads one HTTP/1.1 answer with Content-Length or chunked framing. */
static int read_answer(int fd)
{
    char buf[16384];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t head = (size_t)(end + 4 - buf);
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl && cl < end) {
            size_t len = strtoul(cl + 17, NULL, 10);
            if (have >= head + len)
                return 0;
        } else if (strstr(end + 4, "0\r\n\r\n")) {
            return 0;
        }
        if (have >= sizeof buf - 1)
            return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: conn_hold PORT N unused|idle [PATH BODY_FILE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    int idle = strcmp(argv[3], "idle") == 0;
    if (idle) {
        if (argc < 6) {
            fprintf(stderr, "conn_hold: idle needs PATH and BODY_FILE\n");
            return 2;
        }
        FILE *f = fopen(argv[5], "rb");
        char body[32768];
        size_t blen = f ? fread(body, 1, sizeof body, f) : 0;
        if (f)
            fclose(f);
        request_len = (size_t)snprintf(request, sizeof request,
                                       "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                       "application/json\r\nContent-Length: %zu\r\n\r\n",
                                       argv[4], blen);
        memcpy(request + request_len, body, blen);
        request_len += blen;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int *fds = calloc((size_t)n, sizeof *fds);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = {5, 0};
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            fprintf(stderr, "conn_hold: socket %d: %s\n", i, strerror(errno));
            return 1;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fprintf(stderr, "conn_hold: connect %d: %s\n", i, strerror(errno));
            return 1;
        }
        if (idle &&
            (send(fd, request, request_len, 0) != (ssize_t)request_len || read_answer(fd))) {
            fprintf(stderr, "conn_hold: request on connection %d failed\n", i);
            return 1;
        }
        fds[i] = fd;
    }
    printf("held %d\n", n);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) {
        /* stdin closed: close too */
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    printf("closed\n");
    fflush(stdout);
    free(fds);
    return 0;
}
