/* access_log.c — buffered JSON access log lines; see access_log.h. */
#include "access_log.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define FLUSH_BYTES (32u << 10)
#define FLUSH_INTERVAL_MS 100

struct cmx_access_log {
    int fd;
    cmx_buf buf;
    struct event *timer;
    int timer_pending;
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

static void put_str_field(cmx_buf *b, const char *key, const char *v, size_t len)
{
    cmx_buf_printf(b, ",\"%s\":", key);
    if (!v) {
        cmx_buf_append_str(b, "null");
        return;
    }
    cmx_buf_append(b, "\"", 1);
    cmx_buf_append_json_escaped(b, v, len);
    cmx_buf_append(b, "\"", 1);
}

static void put_tokens(cmx_buf *b, const char *key, int64_t v)
{
    if (v >= 0)
        cmx_buf_printf(b, ",\"%s\":%lld", key, (long long)v);
}

void cmx_access_log_write(cmx_access_log *log, const cmx_access_entry *e)
{
    cmx_buf *b = &log->buf;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    cmx_buf_printf(b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000);
    put_str_field(b, "request_id", e->request_id, e->request_id ? strlen(e->request_id) : 0);
    put_str_field(b, "method", e->method, e->method_len);
    put_str_field(b, "path", e->path, e->path_len);
    put_str_field(b, "model", e->model, e->model ? strlen(e->model) : 0);
    put_str_field(b, "provider", e->provider, e->provider ? strlen(e->provider) : 0);
    put_str_field(b, "target_model", e->target_model,
                  e->target_model ? strlen(e->target_model) : 0);
    uint64_t overhead = e->latency_us > e->upstream_us ? e->latency_us - e->upstream_us : 0;
    cmx_buf_printf(b, ",\"status\":%d,\"attempts\":%zu,\"stream\":%s,\"latency_ms\":%.3f,"
                      "\"upstream_ms\":%.3f,\"overhead_us\":%llu",
                   e->status, e->attempts, e->stream ? "true" : "false",
                   (double)e->latency_us / 1000.0, (double)e->upstream_us / 1000.0,
                   (unsigned long long)overhead);
    put_tokens(b, "prompt_tokens", e->usage.prompt_tokens);
    put_tokens(b, "completion_tokens", e->usage.completion_tokens);
    put_tokens(b, "total_tokens", e->usage.total_tokens);
    put_tokens(b, "cached_tokens", e->usage.cached_tokens);
    if (e->error)
        put_str_field(b, "error", e->error, strlen(e->error));
    cmx_buf_append(b, "}\n", 2);

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
