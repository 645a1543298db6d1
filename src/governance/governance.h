/* governance.h — virtual keys, teams, budgets, the spend ledger and the
 * audit log, as one service the gateway owns.
 *
 * The request path calls three functions, none of which blocks or
 * allocates: cmx_gov_authenticate (the bearer token → a key), cmx_gov_admit
 * (may this key use this group now: groups, budget, limits) and
 * cmx_gov_request_end (settle, charge, queue the ledger row).  Everything
 * else runs on the governance's own threads:
 *   - the service thread owns a store connection: it notices key changes
 *     (the store's change counter, every governance.poll) and publishes a
 *     new key table, re-reads every budget's spend from the shared ledger
 *     (every governance.budget_sync), runs the admin API's operations and
 *     audit appends, and writes audit checkpoints;
 *   - the ledger's writer thread commits rows in batches (ledger.h).
 * Workers pick up a new key table at their next request (one atomic load
 * when nothing changed), so an admin change is in force on every worker
 * within governance.poll, and on every replica sharing the store too.
 *
 * Times (budget periods, expiry, ledger rows) come from the governance's
 * clock: the wall clock, plus an offset read from the file named by
 * CLOUDMUX_TEST_CLOCK_OFFSET_FILE when that is set (tests move time with
 * it; nothing else should set it). */
#ifndef CMX_GOVERNANCE_GOVERNANCE_H
#define CMX_GOVERNANCE_GOVERNANCE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "governance/admin_ops.h"
#include "governance/policy.h"
#include "http/json_scan.h"

typedef struct cmx_governance cmx_governance;
struct cmx_keyring;

/* NULL with err set when the store or the audit log cannot be opened.  Call
 * only when cfg->governance.enabled or cfg->audit.file is set.  Loads the
 * keys and rebuilds every budget from the ledger before returning. */
cmx_governance *cmx_governance_new(const cmx_config *cfg, size_t n_workers, cmx_error *err);
/* Stops the threads after writing every queued ledger row and a checkpoint. */
void cmx_governance_free(cmx_governance *g);

/* Virtual keys are checked (a governance, keys or teams section exists). */
int cmx_governance_keys_on(const cmx_governance *g);
int64_t cmx_gov_now_ms(cmx_governance *g);

/* ---- the request path --------------------------------------------------------- */

/* A worker's reference to the current key table. */
typedef struct cmx_gov_view {
    struct cmx_keyring *keyring;
    uint64_t generation;
} cmx_gov_view;
void cmx_gov_view_release(cmx_gov_view *v);

/* The key whose secret is `token` (a reference), or NULL with err filled
 * (status 401 or 403, a message saying what to do) and *code the OpenAI
 * error code: invalid_api_key, key_revoked, key_expired, key_rotated,
 * key_disabled, team_missing, team_disabled. */
cmx_gov_key *cmx_gov_authenticate(cmx_governance *g, cmx_gov_view *v, const char *token, size_t len,
                                  const char **code, cmx_error *err);

/* Admission for a request of `group` expecting `tokens`; t->key may be NULL
 * (a request authenticated otherwise: only the ledger applies).  On a
 * refusal: the kind, err->status, err->retry_after_ms and *code. */
cmx_err cmx_gov_admit(cmx_governance *g, cmx_gov_ticket *t, const char *group, uint64_t tokens,
                      const char **code, cmx_error *err);

typedef struct cmx_gov_outcome {
    const char *request_id;
    const char *group;
    const char *provider;
    const char *model;
    const char *error; /* error kind name, or NULL */
    int status;
    size_t attempts;
    cmx_usage usage;
    double cost_usd; /* < 0: unknown */
    uint64_t latency_us;
    int estimated; /* usage estimated (a cut stream) */
    int cache_hit;
} cmx_gov_outcome;

/* Worker i's link to the state store: with state.redis its charges are also
 * counted in the fleet's shared budget counters (budget_fleet.c).  Called on
 * the worker's thread or before it runs; NULL detaches. */
struct cmx_state_worker;
void cmx_gov_fleet_attach(cmx_governance *g, size_t worker, struct cmx_state_worker *sw);

/* Settles the ticket (if any) and queues the ledger row, from worker i. */
void cmx_gov_request_end(cmx_governance *g, size_t worker, cmx_gov_ticket *t,
                         const cmx_gov_outcome *o);

/* ---- the admin API -------------------------------------------------------------- */

/* Runs an admin request on the service thread; `done` is called there with
 * the reply (the callee frees it with cmx_gov_reply_free).  Inputs are
 * copied.  actor: the admin key's id. */
typedef void (*cmx_gov_admin_done)(void *arg, cmx_gov_reply *reply);
void cmx_gov_admin_submit(cmx_governance *g, const char *actor, const char *method,
                          const char *path, const char *query, const char *body, size_t body_len,
                          cmx_gov_admin_done done, void *arg);

/* "admin:" and 8 hex digits of the key's SHA-256: who did it, without the key. */
void cmx_admin_key_id(const char *secret, char out[24]);

/* ---- audit events from elsewhere ------------------------------------------------------ */

/* A request to an admin endpoint with a missing or wrong key (recorded off
 * the event loop, at most a few per second; the rest are counted). */
void cmx_gov_audit_admin_auth_failed(cmx_governance *g, const char *method, const char *path);
/* The reload path calls this after a new config is in force: keys and teams
 * from the new file take effect and the reload is recorded. */
void cmx_governance_config_reloaded(cmx_governance *g, const cmx_config *cfg, const char *actor);

/* Prometheus lines for /metrics. */
void cmx_gov_metrics_format(cmx_governance *g, cmx_buf *out);

#endif
