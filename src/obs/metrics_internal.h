/* metrics_internal.h — the registry's layout, shared by metrics.c (recording)
 * and metrics_format.c (the scrape); nobody else sees it. */
#ifndef CMX_OBS_METRICS_INTERNAL_H
#define CMX_OBS_METRICS_INTERNAL_H

#include <stdatomic.h>

#include "obs/metrics.h"

/* Status codes get their own label value; any other is counted as its class
 * ("2xx" ... "5xx"), so the code label has a fixed, small set of values. */
#define CMX_METRICS_N_CODES 20
extern const int cmx_metrics_codes[CMX_METRICS_N_CODES]; /* 0 for the class slots */
extern const char *const cmx_metrics_code_names[CMX_METRICS_N_CODES];

#define CMX_METRICS_N_DURATION_BUCKETS 15
#define CMX_METRICS_N_OVERHEAD_BUCKETS 13
extern const uint64_t cmx_metrics_duration_bounds_us[CMX_METRICS_N_DURATION_BUCKETS];
extern const uint64_t cmx_metrics_overhead_bounds_us[CMX_METRICS_N_OVERHEAD_BUCKETS];

typedef _Atomic uint64_t cmx_counter;

/* Counters live in one flat array per shard; these are the offsets.
 * A "slot" is a (group, target) pair: slot_base[g] is the group's "no target"
 * slot and slot_base[g] + 1 + t its target t; the last slot is "no group". */
typedef struct cmx_metrics_layout {
    const cmx_config *cfg; /* groups are found by their position in cfg->models */
    size_t n_groups;
    size_t *slot_base; /* per group */
    size_t n_slots;
    size_t in_flight;       /* one counter, wrapping: begins minus ends */
    size_t requests;        /* [slot][code][stream] */
    size_t attempts;        /* [slot][outcome: CMX_ERR__COUNT] */
    size_t tokens;          /* [slot][prompt, completion] */
    size_t duration;        /* [group or n_groups for none][bucket + 1 for +Inf] */
    size_t duration_sum_us; /* [group or none] */
    size_t overhead;        /* [bucket + 1] */
    size_t overhead_sum_us;
    size_t cache;        /* [group][cmx_cache_result] */
    size_t api_requests; /* [cmx_api][code] */
    size_t n_counters;
} cmx_metrics_layout;

/* counters is its own cache-aligned block, so workers never share a line. */
struct cmx_metrics_shard {
    cmx_counter *counters;
    const cmx_metrics_layout *layout;
};

struct cmx_metrics {
    const cmx_config *cfg;
    cmx_metrics_layout layout;
    cmx_metrics_shard *shards;
    size_t n_shards;
};

#endif
