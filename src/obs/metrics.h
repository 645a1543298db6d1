/* metrics.h — the gateway's Prometheus metrics: counters and histograms kept
 * per worker, gauges read from the router's shared state at scrape time.
 *
 * Every label set a request can produce is known when the config is loaded:
 * a model group, one of its targets, a status code from a fixed list, an
 * error kind.  So each worker's shard is a flat array of counters and a
 * request is recorded by index arithmetic alone — no string hashing, no
 * allocation, no lock.  A label that comes from the client (an unknown model
 * name, a path) is never used: it would let anyone grow the series without
 * bound.  Requests outside any configured group count under model="".
 *
 * Threads: each shard has one writer, its worker.  The scrape runs on some
 * worker and reads every shard.  Counters are C11 atomics that the owner
 * bumps with a relaxed load and a relaxed store (a plain load/add/store on
 * x86-64 and arm64: no lock prefix, no fence, since nobody else writes them),
 * and the scrape reads with relaxed loads, so every value it sees is one the
 * counter really held (never torn).  Values of one shard may be read a
 * request apart (a request's duration counted, its status not yet); for
 * monitoring that is harmless, and a seqlock's retry loop and its barriers on
 * the writer would buy nothing an operator could see.  A histogram's
 * _count is the sum of its buckets as read, so _count always equals the
 * +Inf bucket. */
#ifndef CMX_OBS_METRICS_H
#define CMX_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "http/upstream.h"

typedef struct cmx_metrics cmx_metrics;
typedef struct cmx_metrics_shard cmx_metrics_shard;
struct cmx_router_shared;

/* One registry for a config snapshot, with n_shards shards (one per worker).
 * The config must outlive the registry. */
cmx_metrics *cmx_metrics_new(const cmx_config *cfg, size_t n_shards, cmx_error *err);
void cmx_metrics_free(cmx_metrics *m);
cmx_metrics_shard *cmx_metrics_shard_at(cmx_metrics *m, size_t i);

/* What one finished request contributes.  target is the index in the
 * group's targets of the one that answered (or was tried last), -1 if none. */
typedef struct cmx_metrics_request {
    cmx_api api;                  /* the API the client called; CMX_API__COUNT for none */
    const cmx_model_group *group; /* NULL: not a request for a configured group */
    int target;
    int status;
    int stream;
    uint64_t duration_us;
    uint64_t upstream_us;  /* time spent waiting on providers */
    int64_t prompt_tokens; /* < 0: unknown */
    int64_t completion_tokens;
} cmx_metrics_request;

/* A request arrived / left (the in-flight gauge). */
void cmx_metrics_request_begin(cmx_metrics_shard *s);
void cmx_metrics_request_end(cmx_metrics_shard *s);
/* Counts a finished request: requests_total, duration and overhead. */
void cmx_metrics_record_request(cmx_metrics_shard *s, const cmx_metrics_request *rq);
/* Counts one upstream attempt: outcome CMX_OK or the attempt's error kind. */
void cmx_metrics_record_attempt(cmx_metrics_shard *s, const cmx_model_group *g, int target,
                                cmx_err outcome);

/* A reload: adds what `from` (a shard of the previous snapshot's registry)
 * counted into `to`, series by series: groups matched by name, targets by
 * provider and model; series that no longer exist are dropped.  Called by
 * the shard's worker, the only writer of both. */
void cmx_metrics_shard_carry(cmx_metrics_shard *to, const cmx_metrics_shard *from);

/* The response cache's verdict on a request of a group that caches. */
typedef enum {
    CMX_CACHE_RESULT_HIT = 0,
    CMX_CACHE_RESULT_MISS,
    CMX_CACHE_RESULT_BYPASS
} cmx_cache_result;
#define CMX_CACHE_RESULTS 3
void cmx_metrics_record_cache(cmx_metrics_shard *s, const cmx_model_group *g, cmx_cache_result r);

/* Requests in flight now, all shards. */
int64_t cmx_metrics_in_flight(cmx_metrics *m);

/* The index of the target with this provider and upstream model in g, or -1.
 * The router's results point into the config, so pointers usually match and
 * the names are compared only when they do not. */
int cmx_metrics_target_index(const cmx_model_group *g, const char *provider, const char *model);

/* The whole exposition (text format 0.0.4) appended to out: the shards
 * summed, and when shared is not NULL, the breaker gauges read from it at
 * now_us.  version goes into cloudmux_build_info. */
cmx_err cmx_metrics_format(cmx_metrics *m, struct cmx_router_shared *shared, uint64_t now_us,
                           const char *version, cmx_buf *out);

/* The Content-Type of that exposition. */
#define CMX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The upstream client's figures (summed over the workers) appended to out,
 * in the same format (metrics_upstream.c). */
void cmx_metrics_format_upstream(const cmx_upstream_stats *s, cmx_buf *out);

/* Appends s with the label-value escapes of the text format: \\ \" \n. */
void cmx_metrics_append_label_value(cmx_buf *out, const char *s);

#endif
