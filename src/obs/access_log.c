/* access_log.c — buffered JSON access log lines; see access_log.h. */
#include "access_log.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/str.h"

#define FLUSH_BYTES (32u << 10)
#define FLUSH_INTERVAL_MS 100

struct cmx_access_log {
    int fd;
    cmx_buf buf;
    struct event *timer;
    int timer_pending;
    time_t stamp_sec; /* the second `stamp` was formatted for */
    size_t stamp_len;
    char stamp[64]; /* "2026-01-02T03:04:05." */
};

/* Workers share the file descriptor; a write holds whole lines, and the lock
 * keeps two workers' writes from interleaving on a pipe. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_access_log *log = arg;
    log->timer_pending = 0;
    cmx_access_log_flush(log);
}

cmx_access_log *cmx_access_log_new(struct event_base *base, int fd)
{
    cmx_access_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->fd = fd;
    log->timer = evtimer_new(base, on_timer, log);
    if (!log->timer || cmx_buf_reserve(&log->buf, FLUSH_BYTES + 1024) < 0) {
        if (log->timer)
            event_free(log->timer);
        cmx_buf_free(&log->buf);
        free(log);
        return NULL;
    }
    return log;
}

void cmx_access_log_flush(cmx_access_log *log)
{
    if (!log->buf.len)
        return;
    pthread_mutex_lock(&write_lock);
    size_t off = 0;
    while (off < log->buf.len) {
        ssize_t n = write(log->fd, log->buf.data + off, log->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the log is best effort: never block serving on it */
        off += (size_t)n;
    }
    pthread_mutex_unlock(&write_lock);
    cmx_buf_reset(&log->buf);
}

/* Formatting by hand: a line per request is on the hot path, and the
 * printf family cost as much as the rest of the request's own work. */

/* The buffer keeps room for a flush's worth of lines, so an append almost
 * always fits: then it is a copy, without a call into buf.c. */
static inline void put_raw(cmx_buf *b, const char *s, size_t n)
{
    if (b->len + n < b->cap && !b->failed) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    cmx_buf_append(b, s, n);
}

#define PUT_LIT(b, lit) put_raw((b), CMX_LIT(lit))

static void put_u64(cmx_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(b, tmp + i, sizeof tmp - i);
}

/* Microseconds as milliseconds with three decimals. */
static void put_ms(cmx_buf *b, uint64_t us)
{
    char frac[4] = {(char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10),
                    0};
    put_u64(b, us / 1000);
    put_raw(b, CMX_LIT("."));
    put_raw(b, frac, 3);
}

static void put_str_field(cmx_buf *b, const char *key, const char *v, size_t len)
{
    put_raw(b, CMX_LIT(",\""));
    put_raw(b, key, strlen(key));
    put_raw(b, CMX_LIT("\":"));
    if (!v) {
        PUT_LIT(b, "null");
        return;
    }
    put_raw(b, CMX_LIT("\""));
    cmx_buf_append_json_escaped(b, v, len);
    put_raw(b, CMX_LIT("\""));
}

static void put_tokens(cmx_buf *b, const char *key, int64_t v)
{
    if (v < 0)
        return;
    put_raw(b, CMX_LIT(",\""));
    put_raw(b, key, strlen(key));
    put_raw(b, CMX_LIT("\":"));
    put_u64(b, (uint64_t)v);
}

/* "2026-01-02T03:04:05.678Z": the part up to the second formatted once per
 * second, the milliseconds by hand. */
static void put_timestamp(cmx_access_log *log, cmx_buf *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != log->stamp_sec || !log->stamp_len) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(log->stamp, sizeof log->stamp, "%04d-%02d-%02dT%02d:%02d:%02d.",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
        log->stamp_len = n > 0 && (size_t)n < sizeof log->stamp ? (size_t)n : 0;
        log->stamp_sec = ts.tv_sec;
    }
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
    char tail[6] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z',
                    '"'};
    PUT_LIT(b, "{\"ts\":\"");
    put_raw(b, log->stamp, log->stamp_len);
    put_raw(b, tail, 5);
}

void cmx_access_log_write(cmx_access_log *log, const cmx_access_entry *e)
{
    cmx_buf *b = &log->buf;
    size_t line_start = b->len;
    put_timestamp(log, b);
    put_str_field(b, "request_id", e->request_id, e->request_id ? strlen(e->request_id) : 0);
    put_str_field(b, "method", e->method, e->method_len);
    put_str_field(b, "path", e->path, e->path_len);
    if (e->api)
        put_str_field(b, "api", e->api, strlen(e->api));
    put_str_field(b, "model", e->model, e->model ? strlen(e->model) : 0);
    put_str_field(b, "provider", e->provider, e->provider ? strlen(e->provider) : 0);
    put_str_field(b, "target_model", e->target_model,
                  e->target_model ? strlen(e->target_model) : 0);
    if (e->upstream_request_id)
        put_str_field(b, "upstream_request_id", e->upstream_request_id,
                      strlen(e->upstream_request_id));
    uint64_t overhead = e->latency_us > e->upstream_us ? e->latency_us - e->upstream_us : 0;
    PUT_LIT(b, ",\"status\":");
    put_u64(b, (uint64_t)(e->status < 0 ? 0 : e->status));
    PUT_LIT(b, ",\"attempts\":");
    put_u64(b, e->attempts);
    if (e->stream)
        PUT_LIT(b, ",\"stream\":true,\"latency_ms\":");
    else
        PUT_LIT(b, ",\"stream\":false,\"latency_ms\":");
    put_ms(b, e->latency_us);
    PUT_LIT(b, ",\"upstream_ms\":");
    put_ms(b, e->upstream_us);
    PUT_LIT(b, ",\"overhead_us\":");
    put_u64(b, overhead);
    put_tokens(b, "prompt_tokens", e->usage.prompt_tokens);
    put_tokens(b, "completion_tokens", e->usage.completion_tokens);
    put_tokens(b, "total_tokens", e->usage.total_tokens);
    put_tokens(b, "cached_tokens", e->usage.cached_tokens);
    put_tokens(b, "reasoning_tokens", e->usage.reasoning_tokens);
    if (e->cost_usd) {
        /* A JSON number, already formatted by the caller without exponent. */
        PUT_LIT(b, ",\"cost_usd\":");
        put_raw(b, e->cost_usd, strlen(e->cost_usd));
    }
    if (e->error)
        put_str_field(b, "error", e->error, strlen(e->error));
    if (e->cache)
        put_str_field(b, "cache", e->cache, strlen(e->cache));
    put_raw(b, CMX_LIT("}\n"));
    if (cmx_buf_failed(b)) {
        /* out of memory: the line is dropped whole, never written cut */
        cmx_buf_truncate(b, line_start);
        return;
    }

    if (b->len >= FLUSH_BYTES) {
        cmx_access_log_flush(log);
    } else if (!log->timer_pending) {
        struct timeval tv = {0, FLUSH_INTERVAL_MS * 1000};
        evtimer_add(log->timer, &tv);
        log->timer_pending = 1;
    }
}

void cmx_access_log_free(cmx_access_log *log)
{
    if (!log)
        return;
    cmx_access_log_flush(log);
    event_free(log->timer);
    cmx_buf_free(&log->buf);
    free(log);
}
