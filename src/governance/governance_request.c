/* governance_request.c — the governance's request-path calls and its
 * metrics; see governance.h.
 *
 * Nothing here allocates or blocks: a token is digested on the stack and
 * looked up in the worker's key table, admission takes two small mutexes
 * (key, team), and the ledger row is copied into the worker's ring. */
#include "governance/governance_internal.h"

#include <stdio.h>
#include <string.h>

#include "governance/period.h"

void cmx_gov_view_release(cmx_gov_view *v)
{
    cmx_keyring_unref(v->keyring);
    v->keyring = NULL;
    v->generation = 0;
}

/* One atomic load when nothing changed. */
static void refresh(cmx_governance *g, cmx_gov_view *v)
{
    uint64_t gen = atomic_load_explicit(&g->generation, memory_order_acquire);
    if (v->keyring && gen == v->generation)
        return;
    cmx_keyring *kr = cmx_gov_current_keyring(g, &gen);
    cmx_keyring_unref(v->keyring);
    v->keyring = kr;
    v->generation = gen;
}

static cmx_gov_key *refuse(cmx_governance *g, int reason, const char **code, const char *c,
                           cmx_error *err, int status)
{
    atomic_fetch_add_explicit(&g->refusals[reason], 1, memory_order_relaxed);
    *code = c;
    err->status = status;
    return NULL;
}

cmx_gov_key *cmx_gov_authenticate(cmx_governance *g, cmx_gov_view *v, const char *token, size_t len,
                                  const char **code, cmx_error *err)
{
    refresh(g, v);
    uint8_t digest[CMX_DIGEST_LEN];
    cmx_key_digest(&g->hasher, token, len, digest);
    const cmx_keyring_slot *slot = cmx_keyring_find(v->keyring, digest);
    int64_t now = cmx_gov_now_ms(g);
    char when[40];
    if (!slot) {
        cmx_error_set(err, CMX_ERR_AUTH,
                      "invalid API key: send 'Authorization: Bearer <key>' with a key issued by "
                      "this gateway (made with 'cloudmux keys create' or POST /admin/keys, or "
                      "listed under keys: in its configuration)");
        return refuse(g, GOV_REASON_UNKNOWN_KEY, code, "invalid_api_key", err, 401);
    }
    cmx_gov_key *k = slot->key;
    const cmx_gov_principal *p = &k->p;
    if (slot->not_after_ms && now >= slot->not_after_ms) {
        cmx_time_iso(slot->not_after_ms, when, sizeof when);
        cmx_error_set(err, CMX_ERR_AUTH,
                      "this secret of API key '%.64s' (%.64s) was rotated and stopped working at "
                      "%s; use the key's new secret",
                      p->name, p->id, when);
        return refuse(g, GOV_REASON_ROTATED, code, "key_rotated", err, 401);
    }
    if (k->revoked_ms) {
        cmx_time_iso(k->revoked_ms, when, sizeof when);
        cmx_error_set(err, CMX_ERR_AUTH,
                      "API key '%.64s' (%.64s) was revoked at %s; ask an administrator for a new "
                      "key",
                      p->name, p->id, when);
        return refuse(g, GOV_REASON_REVOKED, code, "key_revoked", err, 401);
    }
    if (k->expires_ms && now >= k->expires_ms) {
        cmx_time_iso(k->expires_ms, when, sizeof when);
        cmx_error_set(err, CMX_ERR_AUTH,
                      "API key '%.64s' (%.64s) expired at %s; ask an administrator to extend it "
                      "or to issue a new key",
                      p->name, p->id, when);
        return refuse(g, GOV_REASON_EXPIRED, code, "key_expired", err, 401);
    }
    if (p->disabled) {
        cmx_error_set(err, CMX_ERR_AUTH,
                      "API key '%.64s' (%.64s) is disabled; ask an administrator to enable it",
                      p->name, p->id);
        return refuse(g, GOV_REASON_DISABLED, code, "key_disabled", err, 401);
    }
    if (k->team_id && !k->team) {
        cmx_error_set(err, CMX_ERR_FORBIDDEN,
                      "API key '%.64s' (%.64s) belongs to team '%.64s', which does not exist; "
                      "ask an administrator to create the team or to move the key",
                      p->name, p->id, k->team_id);
        return refuse(g, GOV_REASON_TEAM, code, "team_missing", err, 403);
    }
    if (k->team && k->team->p.disabled) {
        cmx_error_set(err, CMX_ERR_FORBIDDEN,
                      "team '%.64s' (%.64s) of API key '%.64s' is disabled; ask an administrator "
                      "to enable it",
                      k->team->p.name, k->team->p.id, p->id);
        return refuse(g, GOV_REASON_TEAM, code, "team_disabled", err, 403);
    }
    return cmx_gov_key_ref(k);
}

cmx_err cmx_gov_admit(cmx_governance *g, cmx_gov_ticket *t, const char *group, uint64_t tokens,
                      const char **code, cmx_error *err)
{
    if (g->ledger && g->fail_closed && !cmx_ledger_healthy(g->ledger)) {
        atomic_fetch_add_explicit(&g->refusals[GOV_REASON_LEDGER], 1, memory_order_relaxed);
        *code = "ledger_unavailable";
        cmx_error_set(err, CMX_ERR_UNAVAILABLE,
                      "the spend ledger cannot be written, and this gateway refuses requests "
                      "until it can (governance.ledger.on_failure: closed); retry shortly");
        err->status = 503;
        err->retry_after_ms = 1000;
        return CMX_ERR_UNAVAILABLE;
    }
    if (!t->key)
        return CMX_OK;
    cmx_err rc = cmx_gov_policy_admit(&g->env, t, group, tokens, cmx_gov_now_ms(g), err);
    *code = rc == CMX_ERR_FORBIDDEN ? "model_not_allowed"
            : rc == CMX_ERR_BUDGET  ? "budget_exceeded"
                                    : "rate_limit_exceeded";
    return rc;
}

/* What the request took from its key's tpm: nothing, for a cached answer. */
static int64_t total_tokens(const cmx_gov_outcome *o)
{
    const cmx_usage *u = &o->usage;
    if (o->cache_hit)
        return 0;
    if (u->total_tokens >= 0)
        return u->total_tokens;
    if (u->prompt_tokens >= 0 && u->completion_tokens >= 0)
        return u->prompt_tokens + u->completion_tokens;
    return -1;
}

void cmx_gov_request_end(cmx_governance *g, size_t worker, cmx_gov_ticket *t,
                         const cmx_gov_outcome *o)
{
    int64_t now = cmx_gov_now_ms(g);
    if (!g->ledger) {
        cmx_gov_charge charge;
        cmx_gov_policy_settle(&g->env, t, total_tokens(o), o->cost_usd, now, &charge);
        cmx_gov_fleet_charge(g, worker, &charge);
        return;
    }
    cmx_ledger_item item;
    cmx_ledger_row *r = &item.row;
    r->ts_ms = now;
    r->prompt_tokens = o->usage.prompt_tokens;
    r->completion_tokens = o->usage.completion_tokens;
    r->cached_tokens = o->usage.cached_tokens;
    r->cost_usd = o->cost_usd;
    r->latency_ms = (uint32_t)(o->latency_us / 1000);
    r->status = (uint16_t)o->status;
    r->attempts = (uint16_t)(o->attempts > UINT16_MAX ? UINT16_MAX : o->attempts);
    r->cache_hit = (uint8_t)o->cache_hit;
    r->estimated = (uint8_t)o->estimated;
    /* The strings are copied before the key's reference is dropped. */
    const char *strings[CMX_LEDGER__STRINGS] = {
        [CMX_LEDGER_REQUEST_ID] = o->request_id,
        [CMX_LEDGER_KEY] = t->key ? t->key->p.id : NULL,
        [CMX_LEDGER_TEAM] = t->key ? t->key->team_id : NULL,
        [CMX_LEDGER_GROUP] = o->group,
        [CMX_LEDGER_PROVIDER] = o->provider,
        [CMX_LEDGER_MODEL] = o->model,
        [CMX_LEDGER_ERROR] = o->error,
    };
    cmx_ledger_row_set_strings(r, strings);
    cmx_gov_policy_settle(&g->env, t, total_tokens(o), o->cost_usd, now, &item.charge);
    cmx_gov_fleet_charge(g, worker, &item.charge);
    if (cmx_ledger_put(g->ledger, worker, &item) != 0) {
        /* Fail-open: the request was served; the row is counted as dropped
         * and the charge stays pending, so the budget still sees it. */
    }
}

/* ---- metrics ---------------------------------------------------------------------------- */

void cmx_gov_metrics_format(cmx_governance *g, cmx_buf *out)
{
    static const char *const reasons[GOV_REASON__COUNT] = {
        "unknown_key", "revoked_key", "expired_key", "rotated_secret", "disabled_key",
        "team",        "model",       "rate_limit",  "budget",         "ledger_unavailable"};
    if (!g)
        return;
    if (g->keys_on) {
        cmx_buf_append_str(out, "# HELP cloudmux_governance_refusals_total Requests refused by "
                                "virtual key policy, by reason.\n"
                                "# TYPE cloudmux_governance_refusals_total counter\n");
        for (int i = 0; i < GOV_REASON__COUNT; i++)
            cmx_buf_printf(out, "cloudmux_governance_refusals_total{reason=\"%s\"} %llu\n",
                           reasons[i], (unsigned long long)atomic_load(&g->refusals[i]));
        cmx_buf_printf(out,
                       "# HELP cloudmux_budget_warnings_total Soft budget warnings given (once "
                       "per key or team and period).\n"
                       "# TYPE cloudmux_budget_warnings_total counter\n"
                       "cloudmux_budget_warnings_total{scope=\"key\"} %llu\n"
                       "cloudmux_budget_warnings_total{scope=\"team\"} %llu\n"
                       "# HELP cloudmux_governance_keys Virtual keys loaded.\n"
                       "# TYPE cloudmux_governance_keys gauge\n"
                       "cloudmux_governance_keys %zu\n",
                       (unsigned long long)atomic_load(&g->warnings[0]),
                       (unsigned long long)atomic_load(&g->warnings[1]),
                       (size_t)atomic_load(&g->n_keys));
    }
    if (g->ledger) {
        cmx_ledger_stats st;
        cmx_ledger_get_stats(g->ledger, &st);
        cmx_buf_printf(out,
                       "# HELP cloudmux_ledger_rows_written_total Spend ledger rows committed.\n"
                       "# TYPE cloudmux_ledger_rows_written_total counter\n"
                       "cloudmux_ledger_rows_written_total %llu\n"
                       "# HELP cloudmux_ledger_rows_dropped_total Spend ledger rows lost because "
                       "the queue was full.\n"
                       "# TYPE cloudmux_ledger_rows_dropped_total counter\n"
                       "cloudmux_ledger_rows_dropped_total %llu\n"
                       "# HELP cloudmux_ledger_write_errors_total Failed ledger commits (the "
                       "batch is retried).\n"
                       "# TYPE cloudmux_ledger_write_errors_total counter\n"
                       "cloudmux_ledger_write_errors_total %llu\n"
                       "# HELP cloudmux_ledger_commits_total Ledger batches committed.\n"
                       "# TYPE cloudmux_ledger_commits_total counter\n"
                       "cloudmux_ledger_commits_total %llu\n"
                       "# HELP cloudmux_ledger_queue_rows Rows waiting to be written.\n"
                       "# TYPE cloudmux_ledger_queue_rows gauge\n"
                       "cloudmux_ledger_queue_rows %llu\n",
                       (unsigned long long)st.rows_written, (unsigned long long)st.rows_dropped,
                       (unsigned long long)st.write_errors, (unsigned long long)st.commits,
                       (unsigned long long)st.queued);
    }
    if (g->audit)
        cmx_buf_printf(out,
                       "# HELP cloudmux_audit_records_total Audit records written by this "
                       "process.\n"
                       "# TYPE cloudmux_audit_records_total counter\n"
                       "cloudmux_audit_records_total %llu\n",
                       (unsigned long long)cmx_audit_records_written(g->audit));
}
