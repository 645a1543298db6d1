/* stream_load.c — many concurrent slow SSE streams through a gateway, and
 * what the gateway adds to each chunk.
 *
 *   stream_load PORT N RAMP_MS BODY_FILE
 *
 * Opens N connections to 127.0.0.1:PORT, starting them evenly over RAMP_MS,
 * and sends on each one streaming chat request (POST /v1/chat/completions,
 * the body from BODY_FILE, Connection: close).  The upstream behind the
 * gateway writes chunks whose content is "t=<µs since the epoch>" (the
 * HTTP/2 emulator's [[fault:timed]]), so each chunk's delay from upstream
 * write to arrival here is known: what the gateway (and the kernel, and this
 * client) added.  One epoll loop, no threads.
 *
 * Prints one line:
 *   streams=N ok=.. failed=.. start_p50_ms=.. start_p99_ms=.. start_max_ms=..
 *   chunks=.. chunk_p50_ms=.. chunk_p99_ms=.. chunk_max_ms=.. seconds=..
 * "start" is request sent → first response byte; "ok" streams ended with
 * data: [DONE]. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int state; /* 0 not started, 1 connecting, 2 sent, 3 done */
    int got_first, done_seen;
    double sent_ms;
    char line[16384];
    size_t line_len;
} conn;

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static char request[65536];
static size_t request_len;
static double *chunk_ms, *start_ms;
static size_t n_chunks, cap_chunks, n_starts;

static void note_chunk(double delay)
{
    if (n_chunks == cap_chunks) {
        cap_chunks = cap_chunks ? cap_chunks * 2 : 65536;
        chunk_ms = realloc(chunk_ms, cap_chunks * sizeof *chunk_ms);
    }
    chunk_ms[n_chunks++] = delay;
}

/* One line of the response (chunk-size lines and headers included). */
static void on_line(conn *c, const char *line, size_t len)
{
    if (len >= 12 && memcmp(line, "data: [DONE]", 12) == 0) {
        c->done_seen = 1;
        return;
    }
    const char *t = memmem(line, len, "\"content\":\"t=", 13);
    if (!t)
        return;
    double sent_us = strtod(t + 13, NULL);
    note_chunk(now_ms(CLOCK_REALTIME) - sent_us / 1000.0);
}

static void on_bytes(conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            on_line(c, c->line, c->line_len);
            c->line_len = 0;
        } else if (c->line_len < sizeof c->line) {
            c->line[c->line_len++] = p[i];
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: stream_load PORT N RAMP_MS BODY_FILE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    double ramp = atof(argv[3]);
    FILE *f = fopen(argv[4], "rb");
    char body[32768];
    size_t blen = f ? fread(body, 1, sizeof body, f) : 0;
    if (f)
        fclose(f);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Content-Type: application/json\r\nConnection: close\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   blen);
    memcpy(request + request_len, body, blen);
    request_len += blen;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    conn *conns = calloc((size_t)n, sizeof *conns);
    start_ms = calloc((size_t)n, sizeof *start_ms);
    int ep = epoll_create1(0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    double t0 = now_ms(CLOCK_MONOTONIC);
    int started = 0, finished = 0, ok = 0, failed = 0;
    struct epoll_event evs[512];
    char buf[65536];
    while (finished < n) {
        double t = now_ms(CLOCK_MONOTONIC) - t0;
        while (started < n && (ramp <= 0 || t >= ramp * started / n)) {
            conn *c = &conns[started];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (c->fd < 0 ||
                (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
                failed++;
                finished++;
                c->state = 3;
                if (c->fd >= 0)
                    close(c->fd);
            } else {
                c->state = 1;
                c->sent_ms = now_ms(CLOCK_MONOTONIC);
                struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
            started++;
        }
        int k = epoll_wait(ep, evs, 512, 1);
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == 1 && (evs[i].events & EPOLLOUT)) {
                ssize_t w = send(c->fd, request, request_len, MSG_NOSIGNAL);
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->state = w == (ssize_t)request_len ? 2 : 3;
                if (c->state == 3) {
                    failed++;
                    finished++;
                    close(c->fd);
                }
                continue;
            }
            if (c->state != 2)
                continue;
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r > 0) {
                if (!c->got_first) {
                    c->got_first = 1;
                    start_ms[n_starts++] = now_ms(CLOCK_MONOTONIC) - c->sent_ms;
                }
                on_bytes(c, buf, (size_t)r);
                continue;
            }
            c->state = 3;
            finished++;
            if (c->done_seen)
                ok++;
            else
                failed++;
            close(c->fd);
        }
    }
    double seconds = (now_ms(CLOCK_MONOTONIC) - t0) / 1000;
    qsort(start_ms, n_starts, sizeof *start_ms, cmp_double);
    qsort(chunk_ms, n_chunks, sizeof *chunk_ms, cmp_double);
    printf("streams=%d ok=%d failed=%d start_p50_ms=%.2f start_p99_ms=%.2f start_max_ms=%.2f "
           "chunks=%zu chunk_p50_ms=%.3f chunk_p99_ms=%.3f chunk_max_ms=%.3f seconds=%.1f\n",
           n, ok, failed, pct(start_ms, n_starts, 0.5), pct(start_ms, n_starts, 0.99),
           n_starts ? start_ms[n_starts - 1] : 0, n_chunks, pct(chunk_ms, n_chunks, 0.5),
           pct(chunk_ms, n_chunks, 0.99), n_chunks ? chunk_ms[n_chunks - 1] : 0, seconds);
    return failed ? 1 : 0;
}
