/* stream_client.c — a load client for many concurrent slow SSE streams, and
 * what the path in front of it adds to each chunk.
 *
 *   stream_client --port P --streams N --body FILE [--rate R] [--ramp MS]
 *                 [--path PATH] [--timeout S] [--timeline]
 *
 * Opens N HTTP/1.1 connections to 127.0.0.1:P first (at most 256 connecting
 * at once; one stream per connection, as an SDK client holding N concurrent
 * streams must), then sends one streaming request on each (POST PATH, default
 * /v1/chat/completions, the body from FILE, keep-alive) on a fixed schedule:
 * request k is due at k / R seconds (R streams per second; --ramp MS sets
 * R = N / MS * 1000 instead).  Responses are read as real SDK clients read
 * them: the head, then the chunked body decoded, then SSE lines.
 *
 * The upstream (bench/h2_upstream.c) writes chunks whose content is
 * "t=<write µs> s=<scheduled µs>" on CLOCK_REALTIME; this client reads the
 * same clock when a read returns, and asks the kernel for the time the
 * bytes reached its socket (SO_TIMESTAMPNS, the same clock), so per chunk:
 *   added = read - t      everything between the upstream's write and this
 *                         read: the gateway, the kernel, this client's loop
 *   path  = kernel - t    the same without this client's own delay: what the
 *                         gateway and the loopback hops added (with the
 *                         client straight at the upstream: the floor)
 *   lag   = t - s         how late the upstream wrote it
 * The kernel stamp is that of the last segment a read took, so when several
 * chunks come in one read, "path" errs on the high side.
 * and per stream:
 *   start = first response byte - request written
 *   send lag = request written - request due (this client's lateness)
 * A stream is "ok" with a 200, at least one chunk, "data: [DONE]" and the
 * terminating chunk.
 *
 * One thread, one libevent loop.  Prints one line of key=value figures
 * (milliseconds unless named _us; from_us and until_us: when the first
 * request was due and when the run ended, CLOCK_REALTIME); --timeline adds, per second of the run
 * (by arrival), the chunks seen and their path p50/p99/max, on stderr.
 * Exits 1 if any stream failed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#define MAX_CONNECTING 256
#define LINE_MAX_BYTES 1024

typedef enum phase {
    P_NEW,
    P_CONNECTING,
    P_READY,    /* connected, request not sent */
    P_HEAD,     /* request sent, reading the response head */
    P_SIZE,     /* reading a chunk-size line */
    P_DATA,     /* inside a chunk */
    P_DATA_END, /* the CRLF after a chunk */
    P_TRAILER,  /* after the last chunk, until the blank line */
    P_DONE,
    P_FAILED
} phase;

typedef struct conn {
    int fd;
    phase phase;
    int status;
    int done_seen;
    int chunks;
    uint64_t due_us, sent_us, first_us;
    uint64_t left; /* bytes of the current chunk */
    struct event ev;
    size_t frame_len, sse_len;
    char frame[64];           /* a head line (truncated), chunk-size line or CR LF */
    char sse[LINE_MAX_BYTES]; /* the SSE line being read, across chunks */
} conn;

static struct {
    int port;
    int streams;
    double rate; /* streams per second */
    double ramp_ms;
    const char *path;
    const char *body_file;
    double timeout_s;
    int timeline;
} opt = {0, 0, 0, 0, "/v1/chat/completions", NULL, 0, 0};

static struct event_base *base;
static conn *conns;
static char *request;
static size_t request_len;
static struct sockaddr_in target;
static int n_opened, n_connecting, n_connected, n_sent, n_finished, n_ok, n_connect_failed;
static uint64_t t0_us, sched_start_us;
static struct event send_ev, deadline_ev;

/* Samples, in microseconds. */
typedef struct samples {
    uint32_t *v;
    size_t n, cap;
} samples;
static samples start_s, added_s, path_s, lag_s, send_lag_s;
static samples *per_second; /* path (or added), by second of arrival since t0 */
static size_t n_seconds;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void add(samples *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void sort(samples *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_u32);
}

static double pct_ms(const samples *s, double p)
{
    return s->n ? s->v[(size_t)(p * (double)(s->n - 1) + 0.5)] / 1000.0 : 0;
}

static double max_ms(const samples *s)
{
    return s->n ? s->v[s->n - 1] / 1000.0 : 0;
}

/* ---- one stream ---------------------------------------------------------- */

static void finish(conn *c, int ok)
{
    if (c->phase == P_DONE || c->phase == P_FAILED)
        return;
    c->phase = ok ? P_DONE : P_FAILED;
    n_finished++;
    n_ok += ok;
    event_del(&c->ev);
    if (!ok) {
        close(c->fd);
        c->fd = -1;
    }
    if (n_finished == opt.streams)
        event_base_loopexit(base, NULL);
}

/* One SSE line of the decoded body. */
static void on_sse_line(conn *c, const char *line, size_t len, uint64_t arrival, uint64_t kernel)
{
    if (len >= 12 && memcmp(line, "data: [DONE]", 12) == 0) {
        c->done_seen = 1;
        return;
    }
    const char *t = memmem(line, len, "\"content\":\"t=", 13);
    if (!t)
        return;
    char *end;
    uint64_t written = strtoull(t + 13, &end, 10);
    const char *s = strstr(end, " s=");
    c->chunks++;
    int64_t added = (int64_t)(arrival - written);
    add(&added_s, added);
    if (kernel)
        add(&path_s, (int64_t)(kernel - written));
    if (s)
        add(&lag_s, (int64_t)(written - strtoull(s + 3, NULL, 10)));
    if (opt.timeline) {
        size_t sec = (size_t)((arrival - t0_us) / 1000000u);
        if (sec >= n_seconds) {
            size_t n = sec + 16;
            per_second = realloc(per_second, n * sizeof *per_second);
            if (!per_second)
                abort();
            memset(per_second + n_seconds, 0, (n - n_seconds) * sizeof *per_second);
            n_seconds = n;
        }
        add(&per_second[sec], kernel ? (int64_t)(kernel - written) : added);
    }
}

/* Collects a line into buf (cap bytes, the rest of a longer line dropped);
 * returns the bytes of p used and sets *complete when a line feed ended it
 * (the line is then in buf, without CR LF). */
static size_t take_line(char *buf, size_t cap, size_t *len, const char *p, size_t n, int *complete)
{
    const char *nl = memchr(p, '\n', n);
    size_t used = nl ? (size_t)(nl - p) + 1 : n;
    size_t copy = nl ? used - 1 : used;
    if (copy > cap - *len)
        copy = cap - *len;
    memcpy(buf + *len, p, copy);
    *len += copy;
    *complete = nl != NULL;
    if (nl && *len && buf[*len - 1] == '\r')
        (*len)--;
    return used;
}

#define FRAME_LINE(c, p, n, complete)                                                              \
    take_line((c)->frame, sizeof(c)->frame - 1, &(c)->frame_len, (p), (n), (complete))

/* Feeds received bytes through the response framing: head, chunked body,
 * SSE lines (which may span chunks). */
static void on_bytes(conn *c, const char *p, size_t n, uint64_t arrival, uint64_t kernel)
{
    while (n > 0 && c->phase >= P_HEAD && c->phase <= P_TRAILER) {
        int complete = 0;
        size_t used;
        switch (c->phase) {
        case P_HEAD:
            used = FRAME_LINE(c, p, n, &complete);
            if (complete) {
                if (c->status == 0) {
                    if (c->frame_len < 12 || memcmp(c->frame, "HTTP/1.1 ", 9) != 0)
                        return finish(c, 0);
                    c->frame[c->frame_len] = '\0';
                    c->status = atoi(c->frame + 9);
                } else if (c->frame_len == 0) {
                    if (c->status != 200)
                        return finish(c, 0);
                    c->phase = P_SIZE;
                }
                c->frame_len = 0;
            }
            break;
        case P_SIZE:
            used = FRAME_LINE(c, p, n, &complete);
            if (complete) {
                c->frame[c->frame_len] = '\0';
                c->left = strtoull(c->frame, NULL, 16);
                c->frame_len = 0;
                c->phase = c->left ? P_DATA : P_TRAILER;
            }
            break;
        case P_DATA:
            used = n < c->left ? n : (size_t)c->left;
            c->left -= used;
            for (size_t off = 0; off < used;) {
                off +=
                    take_line(c->sse, sizeof c->sse, &c->sse_len, p + off, used - off, &complete);
                if (complete) {
                    on_sse_line(c, c->sse, c->sse_len, arrival, kernel);
                    c->sse_len = 0;
                }
            }
            if (c->left == 0)
                c->phase = P_DATA_END;
            break;
        case P_DATA_END:
            used = FRAME_LINE(c, p, n, &complete);
            if (complete) {
                c->frame_len = 0;
                c->phase = P_SIZE;
            }
            break;
        case P_TRAILER:
            used = FRAME_LINE(c, p, n, &complete);
            if (complete) {
                int blank = c->frame_len == 0;
                c->frame_len = 0;
                if (blank)
                    return finish(c, c->done_seen && c->chunks > 0);
            }
            break;
        default: return;
        }
        p += used;
        n -= used;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    char buf[16384];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = &control,
                         .msg_controllen = sizeof control};
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        finish(c, 0);
        return;
    }
    uint64_t t = now_us(), kernel = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            kernel = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        }
    if (!c->first_us) {
        c->first_us = t;
        add(&start_s, (int64_t)(t - c->sent_us));
    }
    on_bytes(c, buf, (size_t)n, t, kernel);
}

static void send_request(conn *c)
{
    c->sent_us = now_us();
    add(&send_lag_s, (int64_t)(c->sent_us - c->due_us));
    ssize_t w = send(c->fd, request, request_len, MSG_NOSIGNAL);
    n_sent++;
    if (w != (ssize_t)request_len) {
        finish(c, 0); /* a request this small fits an empty socket buffer */
        return;
    }
    c->phase = P_HEAD;
}

/* ---- the schedule -------------------------------------------------------- */

static void arm_at(struct event *ev, uint64_t at_us)
{
    uint64_t now = now_us(), wait = at_us > now ? at_us - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
    evtimer_add(ev, &tv);
}

static uint64_t due_of(int k)
{
    return sched_start_us + (uint64_t)((double)k * 1e6 / opt.rate);
}

static void send_due(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = now_us();
    while (n_sent < opt.streams && due_of(n_sent) <= now) {
        conn *c = &conns[n_sent];
        c->due_us = due_of(n_sent);
        if (c->phase == P_READY)
            send_request(c);
        else
            n_sent++; /* its connect failed: already counted */
    }
    if (n_sent < opt.streams)
        arm_at(&send_ev, due_of(n_sent));
}

static void open_more(void);

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    n_connecting--;
    if (err) {
        n_connect_failed++;
        finish(c, 0);
    } else {
        n_connected++;
        c->phase = P_READY;
        event_assign(&c->ev, base, fd, EV_READ | EV_PERSIST, on_readable, c);
        event_add(&c->ev, NULL);
    }
    open_more();
}

/* Keeps up to MAX_CONNECTING connects in flight; when all are open, the
 * request schedule starts. */
static void open_more(void)
{
    while (n_opened < opt.streams && n_connecting < MAX_CONNECTING) {
        conn *c = &conns[n_opened++];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        if (c->fd >= 0) {
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
        }
        if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0 &&
                          errno != EINPROGRESS)) {
            c->phase = P_CONNECTING;
            n_connect_failed++;
            finish(c, 0);
            continue;
        }
        c->phase = P_CONNECTING;
        n_connecting++;
        event_assign(&c->ev, base, c->fd, EV_WRITE, on_connected, c);
        event_add(&c->ev, NULL);
    }
    if (n_opened == opt.streams && n_connecting == 0 && !sched_start_us) {
        sched_start_us = now_us() + 100000; /* a breath after the last connect */
        arm_at(&send_ev, sched_start_us);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopexit(base, NULL);
}

/* ---- setup and report ---------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: stream_client --port P --streams N --body FILE [--rate R] [--ramp MS]\n"
                    "                     [--path PATH] [--timeout S] [--timeline]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--port") == 0 && more)
            opt.port = atoi(argv[++i]);
        else if (strcmp(a, "--streams") == 0 && more)
            opt.streams = atoi(argv[++i]);
        else if (strcmp(a, "--rate") == 0 && more)
            opt.rate = atof(argv[++i]);
        else if (strcmp(a, "--ramp") == 0 && more)
            opt.ramp_ms = atof(argv[++i]);
        else if (strcmp(a, "--path") == 0 && more)
            opt.path = argv[++i];
        else if (strcmp(a, "--body") == 0 && more)
            opt.body_file = argv[++i];
        else if (strcmp(a, "--timeout") == 0 && more)
            opt.timeout_s = atof(argv[++i]);
        else if (strcmp(a, "--timeline") == 0)
            opt.timeline = 1;
        else
            usage();
    }
    if (opt.port <= 0 || opt.streams <= 0 || !opt.body_file)
        usage();
    if (opt.ramp_ms > 0)
        opt.rate = opt.streams / (opt.ramp_ms / 1000.0);
    if (opt.rate <= 0)
        opt.rate = 1e9; /* all at once */
    if (opt.timeout_s <= 0)
        opt.timeout_s = 120;
}

static void build_request(void)
{
    FILE *f = fopen(opt.body_file, "rb");
    if (!f) {
        perror(opt.body_file);
        exit(2);
    }
    char body[65536];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    request = malloc(blen + 1024);
    if (!request)
        abort();
    request_len = (size_t)snprintf(request, 1024,
                                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   opt.path, blen);
    memcpy(request + request_len, body, blen);
    request_len += blen;
}

static void print_timeline(void)
{
    for (size_t i = 0; i < n_seconds; i++) {
        samples *s = &per_second[i];
        if (!s->n)
            continue;
        sort(s);
        fprintf(stderr,
                "second %zu: chunks=%zu path_p50_ms=%.3f path_p99_ms=%.3f path_max_ms=%.3f\n", i,
                s->n, pct_ms(s, 0.5), pct_ms(s, 0.99), max_ms(s));
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    build_request();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt.streams + 16) {
        fprintf(stderr, "stream_client: open-file limit %llu is too low for %d streams\n",
                (unsigned long long)rl.rlim_cur, opt.streams);
        return 2;
    }

    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    conns = calloc((size_t)opt.streams, sizeof *conns);
    if (!base || !conns)
        return 2;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)opt.port);
    inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);

    t0_us = now_us();
    evtimer_assign(&send_ev, base, send_due, NULL);
    evtimer_assign(&deadline_ev, base, on_deadline, NULL);
    arm_at(&deadline_ev, t0_us + (uint64_t)(opt.timeout_s * 1e6));
    open_more();
    event_base_dispatch(base);
    uint64_t end_us = now_us();

    int failed = opt.streams - n_ok;
    sort(&start_s);
    sort(&added_s);
    sort(&path_s);
    sort(&lag_s);
    sort(&send_lag_s);
    printf("streams=%d ok=%d failed=%d connect_failed=%d start_p50_ms=%.2f start_p99_ms=%.2f "
           "start_max_ms=%.2f chunks=%zu added_p50_ms=%.3f added_p99_ms=%.3f "
           "added_p999_ms=%.3f added_max_ms=%.3f path_p50_ms=%.3f path_p99_ms=%.3f "
           "path_p999_ms=%.3f path_max_ms=%.3f upstream_lag_p99_ms=%.3f "
           "upstream_lag_max_ms=%.3f send_lag_p99_ms=%.3f send_lag_max_ms=%.3f "
           "rate_per_s=%.0f seconds=%.1f from_us=%llu until_us=%llu\n",
           opt.streams, n_ok, failed, n_connect_failed, pct_ms(&start_s, 0.5),
           pct_ms(&start_s, 0.99), max_ms(&start_s), added_s.n, pct_ms(&added_s, 0.5),
           pct_ms(&added_s, 0.99), pct_ms(&added_s, 0.999), max_ms(&added_s), pct_ms(&path_s, 0.5),
           pct_ms(&path_s, 0.99), pct_ms(&path_s, 0.999), max_ms(&path_s), pct_ms(&lag_s, 0.99),
           max_ms(&lag_s), pct_ms(&send_lag_s, 0.99), max_ms(&send_lag_s), opt.rate,
           (double)(end_us - t0_us) / 1e6, (unsigned long long)sched_start_us,
           (unsigned long long)end_us);
    if (opt.timeline)
        print_timeline();
    return failed ? 1 : 0;
}
