/* governance_internal.h — the governance service's state, shared by
 * governance.c (threads, publication, jobs) and governance_request.c (the
 * request path and metrics). */
#ifndef CMX_GOVERNANCE_GOVERNANCE_INTERNAL_H
#define CMX_GOVERNANCE_GOVERNANCE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "governance/audit.h"
#include "governance/governance.h"
#include "governance/keyring.h"
#include "governance/ledger.h"
#include "state/state.h"
#include "store/store.h"

/* Why a request was refused, for cloudmux_governance_refusals_total. */
enum {
    GOV_REASON_UNKNOWN_KEY = 0,
    GOV_REASON_REVOKED,
    GOV_REASON_EXPIRED,
    GOV_REASON_ROTATED,
    GOV_REASON_DISABLED,
    GOV_REASON_TEAM,
    GOV_REASON_MODEL,
    GOV_REASON_RATE,
    GOV_REASON_BUDGET,
    GOV_REASON_LEDGER,
    GOV_REASON__COUNT
};

typedef enum { JOB_ADMIN, JOB_AUDIT, JOB_RELOAD } gov_job_kind;

typedef struct gov_job {
    gov_job_kind kind;
    struct gov_job *next;
    char *actor;
    /* admin */
    char *method, *path, *query, *body;
    size_t body_len;
    cmx_gov_admin_done done;
    void *arg;
    /* audit, reload */
    char *action, *target;
    json_t *details;
    cmx_config *cfg;
} gov_job;

struct cmx_governance {
    cmx_config *cfg; /* the service thread's; swapped by a reload job */
    int keys_on;
    int fail_closed;
    cmx_key_hasher hasher;
    cmx_budget_counters *counters;
    cmx_gov_usage_registry *registry;
    cmx_gov_policy_env env;
    cmx_store *store; /* the service thread's connection */
    cmx_ledger *ledger;
    cmx_audit *audit;
    char *replica;
    pthread_mutex_t commit_lock; /* ledger commits vs. budget syncs */
    cmx_state_worker **fleet;    /* per worker: its link to a shared state store, or NULL */
    size_t n_fleet;

    /* the published key table */
    pthread_mutex_t publish_lock;
    cmx_keyring *keyring;
    _Atomic uint64_t generation;
    _Atomic size_t n_keys;
    int64_t store_changes;

    /* the service thread */
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    gov_job *jobs_head, *jobs_tail;
    int64_t last_poll_error_ms, last_sync_error_ms;

    /* the clock */
    _Atomic int64_t clock_offset_ms;
    char *clock_file;

    /* admin auth failures recorded per second */
    pthread_mutex_t auth_fail_lock;
    int64_t auth_fail_second;
    int auth_fail_records;
    uint64_t auth_fail_suppressed;

    /* metrics */
    _Atomic uint64_t refusals[GOV_REASON__COUNT];
    _Atomic uint64_t warnings[2]; /* key, team */
};

/* Adds a charge to the fleet's shared budget counters (budget_fleet.c). */
void cmx_gov_fleet_charge(cmx_governance *g, size_t worker, const cmx_gov_charge *c);

/* A reference to the table now published, and its generation. */
cmx_keyring *cmx_gov_current_keyring(cmx_governance *g, uint64_t *generation);

#endif
