/* policy.h — virtual keys and teams as the request path sees them: what
 * each may use, its limits and budget, and the counters that enforce them.
 *
 * A cmx_gov_key or cmx_gov_team is an immutable, reference-counted picture
 * of one record (from the config or the store), rebuilt whenever keys
 * change.  Its counters (cmx_gov_usage: the current minute's requests and
 * tokens, requests in flight, the budget counter) are not part of the
 * picture: they are found by id in a registry when a picture is built, so an
 * update of a key's budget keeps what it has spent.
 *
 * A request must fit its key and its key's team: the groups it may use,
 * rpm/tpm/max_parallel (per process, fixed one-minute windows) and the
 * budget.  cmx_gov_policy_admit checks and counts; cmx_gov_policy_settle ends the request:
 * it gives the parallel slot back, settles the tokens and charges the cost. */
#ifndef CMX_GOVERNANCE_POLICY_H
#define CMX_GOVERNANCE_POLICY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "governance/budget_counters.h"
#include "governance/period.h"
#include "store/store.h"

typedef struct cmx_gov_usage {
    pthread_mutex_t lock;
    int64_t minute_ms; /* start of the minute the counts below are for */
    uint64_t minute_requests;
    int64_t minute_tokens;
    uint32_t in_flight;
    int64_t warned_period_ms; /* the period whose soft warning was given */
    cmx_budget_counter *budget;
    char *name; /* "key:ID" or "team:ID" */
} cmx_gov_usage;

/* id → usage, for the life of the governance. */
typedef struct cmx_gov_usage_registry cmx_gov_usage_registry;
cmx_gov_usage_registry *cmx_gov_usage_registry_new(cmx_budget_counters *counters);
void cmx_gov_usage_registry_free(cmx_gov_usage_registry *r);
/* NULL when out of memory. */
cmx_gov_usage *cmx_gov_usage_get(cmx_gov_usage_registry *r, const char *kind, const char *id);

typedef struct cmx_gov_budget {
    int set;
    double usd;
    cmx_period period;
    double warn_at;
} cmx_gov_budget;

typedef struct cmx_gov_principal {
    char *id;
    char *name;
    char **models; /* names or globs; none: any group */
    size_t n_models;
    uint64_t rpm, tpm;
    uint32_t max_parallel;
    cmx_gov_budget budget;
    int disabled;
    int from_config;
    char *tags_json; /* JSON object text, or NULL */
    int64_t created_ms, updated_ms;
    cmx_gov_usage *usage;
} cmx_gov_principal;

typedef struct cmx_gov_team {
    atomic_int refs;
    cmx_gov_principal p;
} cmx_gov_team;

typedef struct cmx_gov_key {
    atomic_int refs;
    cmx_gov_principal p;
    char *team_id;      /* as recorded, even when the team does not exist */
    cmx_gov_team *team; /* NULL: no team, or a missing one (team_id set) */
    int64_t expires_ms; /* 0: never */
    int64_t revoked_ms; /* 0: not revoked */
    char *residency;
    char *hint;
} cmx_gov_key;

cmx_gov_key *cmx_gov_key_ref(cmx_gov_key *k);
void cmx_gov_key_unref(cmx_gov_key *k);
cmx_gov_team *cmx_gov_team_ref(cmx_gov_team *t);
void cmx_gov_team_unref(cmx_gov_team *t);

/* Pictures of records (config entries are turned into records first,
 * admin_records.h).  NULL when out of memory. */
cmx_gov_team *cmx_gov_team_from_record(const cmx_team_rec *rec, cmx_gov_usage_registry *r);
cmx_gov_key *cmx_gov_key_from_record(const cmx_key_rec *rec, cmx_gov_usage_registry *r);

/* Does a group name match one of the patterns (`*` any run, `?` one char)?
 * No patterns: every group. */
int cmx_gov_models_allow(char *const *patterns, size_t n, const char *group);

/* What a request holds between admission and its end. */
typedef struct cmx_gov_ticket {
    cmx_gov_key *key; /* a reference; NULL when the request has no virtual key */
    int counted;      /* in_flight and the minute's counts were taken */
    int64_t minute_ms;
    uint64_t tokens_reserved;
} cmx_gov_ticket;

/* Things the policy reports to its owner (metrics, logs). */
typedef enum {
    CMX_GOV_REFUSED_MODEL = 0,
    CMX_GOV_REFUSED_RATE,
    CMX_GOV_REFUSED_BUDGET,
    CMX_GOV_REFUSED__COUNT
} cmx_gov_refusal;

typedef struct cmx_gov_policy_env {
    cmx_budget_counters *counters;
    /* A soft budget warning: scope "key" or "team"; called at most once per
     * principal and period. */
    void (*on_warning)(void *ctx, const char *scope, const cmx_gov_principal *p, double spent,
                       int64_t resets_at_ms);
    void (*on_refusal)(void *ctx, cmx_gov_refusal why);
    void *ctx;
} cmx_gov_policy_env;

/* Admits the ticket's key (and its team) for `group`, expecting `tokens`.
 * On a refusal returns its kind with err filled: status, message, and for
 * limits retry_after_ms.  On CMX_OK the ticket holds a parallel slot and the
 * minute's counts until cmx_gov_policy_settle. */
cmx_err cmx_gov_policy_admit(const cmx_gov_policy_env *env, cmx_gov_ticket *t, const char *group,
                             uint64_t tokens, int64_t now_ms, cmx_error *err);

/* Ends the request: gives back the slot, settles tokens (-1: unknown) and
 * charges cost_usd (< 0: unknown, nothing charged).  Fills the periods the
 * charge went to (for the ledger's commit notice).  Drops the key reference. */
typedef struct cmx_gov_charge {
    cmx_gov_usage *key_usage, *team_usage;
    int64_t key_period_ms, team_period_ms;         /* the periods' starts */
    int64_t key_period_len_ms, team_period_len_ms; /* and lengths (a long one for total) */
    double usd;                                    /* what was charged; 0 when nothing */
} cmx_gov_charge;
void cmx_gov_policy_settle(const cmx_gov_policy_env *env, cmx_gov_ticket *t, int64_t total_tokens,
                           double cost_usd, int64_t now_ms, cmx_gov_charge *charge);

/* A budget's current state, for listings and messages. */
double cmx_gov_spent(const cmx_gov_policy_env *env, const cmx_gov_principal *p, int64_t now_ms,
                     int64_t *resets_at_ms);

/* "$10.00", "$0.0125": at least two decimals, at most six. */
void cmx_usd_text(double usd, char *buf, size_t len);

#endif
