/* drill.h — the pieces of `cloudmux drill`, a failover drill with measured
 * recovery figures.
 *
 * A drill is three things on one event loop: a load generator sending small
 * chat requests at a steady rate (drill_load.c), a fault injector that makes
 * one target of the group fail at a set time and recover at another (through
 * an emulator's fault endpoint, or through a TCP relay of the drill's own,
 * drill_relay.c), and a report computed afterwards from the request log alone
 * (drill_report.c).  The report is a pure function of the log and the fault
 * times, so it is unit-tested with synthetic logs.
 *
 * All times in a drill are microseconds since the load started. */
#ifndef CMX_CLI_DRILL_H
#define CMX_CLI_DRILL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct event_base;

/* One request of the drill, as the load generator saw it. */
typedef struct cmx_drill_record {
    uint64_t sent_us;    /* when it was sent */
    uint64_t latency_us; /* sent → whole answer (or failure) */
    int status;          /* HTTP status; 0 when there was no answer at all */
    int attempts;        /* x-cloudmux-attempts; 0 when absent */
    char provider[64];   /* x-cloudmux-provider; "" when absent */
    char model[128];     /* x-cloudmux-model; "" when absent */
    char error[96];      /* transport error ("connect_refused", "first_byte_timeout"), "" if none */
} cmx_drill_record;

/* A record with no answer: connection error, reset or timeout. */
static inline int cmx_drill_record_lost(const cmx_drill_record *r)
{
    return r->status == 0;
}

/* ---- report (drill_report.c) ---- */

enum { CMX_DRILL_BEFORE = 0, CMX_DRILL_DURING, CMX_DRILL_AFTER, CMX_DRILL_PHASES };

typedef struct cmx_drill_phase_stats {
    size_t sent;
    size_t ok;     /* 2xx */
    size_t errors; /* answered, not 2xx */
    size_t lost;   /* no answer */
    double p50_ms; /* over answered requests; -1 when there were none */
    double p95_ms;
    double max_ms;
} cmx_drill_phase_stats;

typedef struct cmx_drill_provider_count {
    char name[64]; /* provider (or "provider/model" when the target names a model);
                      "(error)" for answers without the header, "(lost)" for no answer */
    size_t count[CMX_DRILL_PHASES];
} cmx_drill_provider_count;

typedef struct cmx_drill_input {
    const char *target_provider;
    const char *target_model; /* NULL: any model of that provider */
    uint64_t fail_at_us;      /* when the fault took effect */
    uint64_t recover_at_us;   /* when it was lifted */
    uint64_t end_us;          /* when the last request was scheduled to be sent */
    double rps;
    double duration_s;
} cmx_drill_input;

typedef struct cmx_drill_report {
    size_t total;    /* requests recorded */
    size_t expected; /* rps × duration */
    cmx_drill_phase_stats phase[CMX_DRILL_PHASES];
    /* Figures; -1 when the event was not observed. */
    double detection_ms;         /* fail → first answer showing a failover (attempts > 1 or not
                                    from the target) */
    double first_fallback_ms;    /* fail → first 2xx answer not from the target */
    double failback_ms;          /* recover → first 2xx answer from the target again */
    size_t failover_errors;      /* answered non-2xx, sent while failed */
    size_t failover_lost;        /* no answer, sent while failed */
    size_t target_served_during; /* 2xx from the target while failed (should be 0) */
    cmx_drill_provider_count *providers;
    size_t n_providers;
} cmx_drill_report;

/* Nearest-rank percentile (p in 0..100) of n values; sorts `values` in place.
 * -1 when n is 0. */
double cmx_drill_percentile(double *values, size_t n, double p);

/* 1 when the record's answer came from the target (provider, and model when
 * the target names one), else 0. */
int cmx_drill_from_target(const cmx_drill_input *in, const cmx_drill_record *r);

/* Computes the report from the log.  Returns 0, or -1 when out of memory. */
int cmx_drill_report_compute(const cmx_drill_input *in, const cmx_drill_record *recs, size_t n,
                             cmx_drill_report *out);
void cmx_drill_report_free(cmx_drill_report *r);

/* Human-readable and JSON forms. `how` says how the fault was made. */
void cmx_drill_report_print_text(FILE *out, const cmx_drill_input *in, const cmx_drill_report *r,
                                 const char *how);
void cmx_drill_report_print_json(FILE *out, const cmx_drill_input *in, const cmx_drill_report *r,
                                 const char *how);

/* ---- relay (drill_relay.c) ---- */

typedef struct cmx_drill_relay cmx_drill_relay;

/* A TCP relay on 127.0.0.1 (any free port) to host:port, on `base`.
 * NULL with a message in errbuf on failure. */
cmx_drill_relay *cmx_drill_relay_new(struct event_base *base, const char *host, int port,
                                     char *errbuf, size_t errlen);
int cmx_drill_relay_port(const cmx_drill_relay *r);
/* failing=1: every open connection is reset and new ones are accepted and
 * reset at once; failing=0: relays again. */
void cmx_drill_relay_set_failing(cmx_drill_relay *r, int failing);
void cmx_drill_relay_free(cmx_drill_relay *r);

/* ---- load (drill_load.c) ---- */

typedef struct cmx_drill_fault_ops {
    /* Called on the loop at the fail and recover times.  They report when the
     * fault really took (or stopped taking) effect with cmx_drill_load_mark. */
    void (*fail)(void *ctx);
    void (*recover)(void *ctx);
    void *ctx;
} cmx_drill_fault_ops;

typedef struct cmx_drill_load_options {
    const char *gateway_url; /* http://host:port */
    const char *group;
    const char *api_key; /* NULL: no Authorization header */
    double rps;
    double duration_s;
    double fail_at_s;
    double recover_at_s;
    uint32_t timeout_ms; /* per request (first byte and total) */
} cmx_drill_load_options;

typedef struct cmx_drill_load cmx_drill_load;

cmx_drill_load *cmx_drill_load_new(struct event_base *base, const cmx_drill_load_options *opts,
                                   const cmx_drill_fault_ops *ops, char *errbuf, size_t errlen);
/* The fault injector says the fault took effect (failing=1) or was lifted,
 * at drill time at_us (see cmx_drill_load_now). */
void cmx_drill_load_mark(cmx_drill_load *l, int failing, uint64_t at_us);
/* The injector could not do its job; the drill stops and reports it. */
void cmx_drill_load_fault_error(cmx_drill_load *l, const char *message);
/* Runs the event loop until every request has an outcome (answered, failed,
 * or cut off at the timeout).  Returns 0, or -1 on a fault injection error
 * (message in errbuf). */
int cmx_drill_load_run(cmx_drill_load *l, char *errbuf, size_t errlen);
/* The results: the log (in send order) and the fault times actually seen. */
const cmx_drill_record *cmx_drill_load_records(const cmx_drill_load *l, size_t *n);
uint64_t cmx_drill_load_fail_us(const cmx_drill_load *l);
uint64_t cmx_drill_load_recover_us(const cmx_drill_load *l);
uint64_t cmx_drill_load_end_us(const cmx_drill_load *l);
/* Sends one control request (fault endpoint) on the load's client; `done`
 * gets the HTTP status or 0 with an error message. */
void cmx_drill_load_control(cmx_drill_load *l, const char *method, const char *url,
                            const char *body,
                            void (*done)(void *ctx, int status, const char *error), void *ctx);
void cmx_drill_load_free(cmx_drill_load *l);

/* Monotonic microseconds since the load started. */
uint64_t cmx_drill_load_now(const cmx_drill_load *l);

#endif
