/* metrics_upstream.c — the upstream client's figures in the scrape: how many
 * connections to providers were opened and reused, how many sit idle, and
 * the wait for a connection slot (queue length now, waits, time waited,
 * waits that gave up).  The gateway sums every worker's client first. */
#include <inttypes.h>

#include "obs/metrics.h"

static void metric(cmx_buf *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    cmx_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
                   name, value);
}

void cmx_metrics_format_upstream(const cmx_upstream_stats *s, cmx_buf *out)
{
    metric(out, "cloudmux_upstream_connections_opened_total", "counter",
           "Connections opened to providers.", s->connections_opened);
    metric(out, "cloudmux_upstream_connections_reused_total", "counter",
           "Requests sent on a pooled keep-alive connection.", s->connections_reused);
    metric(out, "cloudmux_upstream_connections_idle", "gauge",
           "Idle pooled connections to providers.", s->idle_now);
    metric(out, "cloudmux_upstream_queue_length", "gauge",
           "Requests waiting now for a connection slot (upstream.max_conns_per_origin).",
           s->queue_length);
    metric(out, "cloudmux_upstream_queue_waits_total", "counter",
           "Requests that had to wait for a connection slot.", s->queue_waits);
    cmx_buf_printf(out,
                   "# HELP cloudmux_upstream_queue_wait_seconds_total Time requests waited for a "
                   "connection slot, summed.\n# TYPE cloudmux_upstream_queue_wait_seconds_total "
                   "counter\ncloudmux_upstream_queue_wait_seconds_total %" PRIu64 ".%06" PRIu64
                   "\n",
                   s->queue_wait_us / 1000000, s->queue_wait_us % 1000000);
    metric(out, "cloudmux_upstream_queue_timeouts_total", "counter",
           "Waits for a connection slot that ended after upstream.queue_timeout (pool_saturated).",
           s->queue_timeouts);
    metric(out, "cloudmux_upstream_http2_connections", "gauge",
           "HTTP/2 connections to providers open now.", s->h2_connections_now);
    metric(out, "cloudmux_upstream_http2_streams", "gauge",
           "HTTP/2 streams open now (requests in flight over HTTP/2).", s->h2_streams_now);
    metric(out, "cloudmux_upstream_http2_streams_total", "counter",
           "HTTP/2 streams started, retries of refused streams included.", s->h2_streams);
    metric(out, "cloudmux_upstream_http2_refused_retries_total", "counter",
           "Requests sent again because the server provably did not process them (refused "
           "stream, above a GOAWAY's last stream id, or never sent).",
           s->h2_refused_retries);
    metric(out, "cloudmux_upstream_http2_goaways_total", "counter",
           "GOAWAY frames received from providers.", s->h2_goaways);
    metric(out, "cloudmux_upstream_http2_ping_failures_total", "counter",
           "Idle HTTP/2 connections closed because a PING went unanswered.", s->h2_ping_failures);
}
