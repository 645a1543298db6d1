/* access_log.h — one JSON line per request, written to stdout.
 *
 * Each worker has its own log buffer; lines are appended in memory and
 * written with one write() when the buffer fills or at the latest every
 * 100 ms, so the log costs no system call per request.  A line carries ids,
 * routing, status, timings and token counts; never API keys or message
 * content. */
#ifndef CMX_OBS_ACCESS_LOG_H
#define CMX_OBS_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/usage.h"

struct event_base;

typedef struct cmx_access_log cmx_access_log;

typedef struct cmx_access_entry {
    const char *request_id;
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *api;      /* "chat", "messages", "responses" ... (cmx_api_name), or NULL */
    const char *model;    /* the group the client asked for, or NULL */
    const char *provider; /* the target that answered or was tried last */
    const char *target_model;
    int status;
    size_t attempts;
    int stream;
    uint64_t latency_us;  /* request's first byte → response handed to the socket */
    uint64_t upstream_us; /* time spent waiting on providers */
    cmx_usage usage;
    const char *cost_usd;            /* decimal USD ("0.000123"), NULL when unknown */
    const char *error;               /* error kind name, NULL on success */
    const char *upstream_request_id; /* the provider's id of the request, or NULL */
    const char *cache; /* "hit", "miss", "bypass"; NULL when the group does not cache */
} cmx_access_entry;

/* fd is where lines go (1 for stdout); base runs the flush timer. */
cmx_access_log *cmx_access_log_new(struct event_base *base, int fd);
void cmx_access_log_write(cmx_access_log *log, const cmx_access_entry *e);
void cmx_access_log_flush(cmx_access_log *log);
void cmx_access_log_free(cmx_access_log *log); /* flushes first */

#endif
