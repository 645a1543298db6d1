/* governance.c — the governance service: its threads, the key table's
 * publication, budget syncs and admin jobs; see governance.h.  The request
 * path's three calls are in governance_request.c. */
#include "governance/governance_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define SERVICE_TICK_MS 50
#define AUTH_FAIL_RECORDS_PER_S 5

int64_t cmx_gov_now_ms(cmx_governance *g)
{
    return (int64_t)cmx_wall_ms() + atomic_load_explicit(&g->clock_offset_ms, memory_order_relaxed);
}

static int64_t clock_cb(void *ctx)
{
    return cmx_gov_now_ms(ctx);
}

int cmx_governance_keys_on(const cmx_governance *g)
{
    return g && g->keys_on;
}

void cmx_admin_key_id(const char *secret, char out[24])
{
    uint8_t d[CMX_DIGEST_LEN];
    char hex[2 * CMX_DIGEST_LEN + 1];
    cmx_sha256_of(secret, strlen(secret), d);
    cmx_sha256_hex_of(d, hex);
    snprintf(out, 24, "admin:%.8s", hex);
}

/* ---- the key table ---------------------------------------------------------------- */

static void publish(cmx_governance *g, cmx_keyring *kr)
{
    pthread_mutex_lock(&g->publish_lock);
    cmx_keyring *old = g->keyring;
    g->keyring = kr;
    atomic_fetch_add_explicit(&g->generation, 1, memory_order_release);
    pthread_mutex_unlock(&g->publish_lock);
    cmx_keyring_unref(old);
}

cmx_keyring *cmx_gov_current_keyring(cmx_governance *g, uint64_t *generation)
{
    pthread_mutex_lock(&g->publish_lock);
    cmx_keyring *kr = cmx_keyring_ref(g->keyring);
    *generation = atomic_load_explicit(&g->generation, memory_order_relaxed);
    pthread_mutex_unlock(&g->publish_lock);
    return kr;
}

/* Rebuilds the key table from the config and the store (service thread). */
static cmx_err reload_keys(cmx_governance *g, cmx_error *err)
{
    cmx_store_snapshot snap = {0};
    int64_t changes = 0;
    if (g->store && (cmx_store_changes(g->store, &changes, err) != CMX_OK ||
                     cmx_store_load(g->store, &snap, err) != CMX_OK))
        return err->kind;
    cmx_keyring *kr =
        cmx_keyring_build(g->cfg, g->store ? &snap : NULL, &g->hasher, g->registry, err);
    cmx_store_snapshot_free(&snap);
    if (!kr)
        return err->kind;
    g->store_changes = changes;
    atomic_store(&g->n_keys, kr->n_keys);
    publish(g, kr);
    return CMX_OK;
}

/* ---- budgets from the ledger ---------------------------------------------------------- */

typedef struct spend_entry {
    char *id;
    double usd;
} spend_entry;

typedef struct spend_list {
    spend_entry *items;
    size_t n, cap;
    int oom;
} spend_list;

static void collect_spend(void *ctx, const char *id, double usd)
{
    spend_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        spend_entry *more = realloc(l->items, cap * sizeof *more);
        if (!more) {
            l->oom = 1;
            return;
        }
        l->items = more;
        l->cap = cap;
    }
    if (!(l->items[l->n].id = strdup(id))) {
        l->oom = 1;
        return;
    }
    l->items[l->n++].usd = usd;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const spend_entry *)a)->id, ((const spend_entry *)b)->id);
}

static void spend_list_free(spend_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].id);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Sets every budgeted principal of kr in `scope` whose period starts at
 * `start` from the list (0 when it has no row). */
static void apply_spend(cmx_governance *g, cmx_gov_principal *const *ps, size_t n, int64_t start,
                        int64_t now, spend_list *l)
{
    for (size_t i = 0; i < n; i++) {
        const cmx_gov_principal *p = ps[i];
        int64_t s, e;
        if (!p->budget.set)
            continue;
        cmx_period_window(&p->budget.period, now, &s, &e);
        if (s != start)
            continue;
        spend_entry key = {p->id, 0};
        spend_entry *hit = l->n ? bsearch(&key, l->items, l->n, sizeof *l->items, by_id) : NULL;
        g->counters->ops->from_ledger(g->counters, p->usage->budget, start, hit ? hit->usd : 0);
    }
}

/* One query per distinct period start and scope, under the commit lock so a
 * batch is either in what is read or still pending, never both or neither. */
static void sync_scope(cmx_governance *g, cmx_spend_scope scope, cmx_gov_principal *const *ps,
                       size_t n, int64_t now)
{
    int64_t *starts = calloc(n ? n : 1, sizeof *starts);
    size_t n_starts = 0;
    if (!starts)
        return;
    for (size_t i = 0; i < n; i++) {
        int64_t s, e;
        if (!ps[i]->budget.set)
            continue;
        cmx_period_window(&ps[i]->budget.period, now, &s, &e);
        size_t j = 0;
        while (j < n_starts && starts[j] != s)
            j++;
        if (j == n_starts)
            starts[n_starts++] = s;
    }
    for (size_t j = 0; j < n_starts; j++) {
        spend_list l = {0};
        cmx_error err;
        pthread_mutex_lock(&g->commit_lock);
        cmx_err rc = cmx_store_spend_since(g->store, scope, starts[j], collect_spend, &l, &err);
        if (rc == CMX_OK && !l.oom) {
            if (l.n)
                qsort(l.items, l.n, sizeof *l.items, by_id);
            apply_spend(g, ps, n, starts[j], now, &l);
        }
        pthread_mutex_unlock(&g->commit_lock);
        if (rc != CMX_OK && now - g->last_sync_error_ms > 10000) {
            g->last_sync_error_ms = now;
            cmx_warn("budgets: cannot read spend from the ledger (keeping the last values): %s",
                     err.message);
        }
        spend_list_free(&l);
    }
    free(starts);
}

static void sync_budgets(cmx_governance *g)
{
    cmx_keyring *kr = g->keyring;
    if (!g->store || !kr)
        return;
    int64_t now = cmx_gov_now_ms(g);
    cmx_gov_principal **ps = calloc(kr->n_keys + kr->n_teams + 1, sizeof *ps);
    if (!ps)
        return;
    for (size_t i = 0; i < kr->n_keys; i++)
        ps[i] = &kr->keys[i]->p;
    sync_scope(g, CMX_SPEND_BY_KEY, ps, kr->n_keys, now);
    for (size_t i = 0; i < kr->n_teams; i++)
        ps[i] = &kr->teams[i]->p;
    sync_scope(g, CMX_SPEND_BY_TEAM, ps, kr->n_teams, now);
    free(ps);
}

/* ---- jobs --------------------------------------------------------------------------- */

static void job_free(gov_job *j)
{
    free(j->actor);
    free(j->method);
    free(j->path);
    free(j->query);
    free(j->body);
    free(j->action);
    free(j->target);
    json_decref(j->details);
    cmx_config_unref(j->cfg);
    free(j);
}

static void submit(cmx_governance *g, gov_job *j)
{
    pthread_mutex_lock(&g->lock);
    if (g->jobs_tail)
        g->jobs_tail->next = j;
    else
        g->jobs_head = j;
    g->jobs_tail = j;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static double service_spent(void *ctx, const char *scope, const char *id, int64_t now_ms)
{
    cmx_governance *g = ctx;
    cmx_gov_principal *p = NULL;
    if (scope[0] == 't') {
        cmx_gov_team *t = cmx_keyring_team(g->keyring, id);
        p = t ? &t->p : NULL;
    } else {
        cmx_gov_key *k = cmx_keyring_key(g->keyring, id);
        p = k ? &k->p : NULL;
    }
    return p && p->budget.set ? cmx_gov_spent(&g->env, p, now_ms, NULL) : -1;
}

static void run_admin(cmx_governance *g, gov_job *j)
{
    cmx_gov_reply reply;
    if (!g->store) {
        memset(&reply, 0, sizeof reply);
        reply.status = 404;
        reply.kind = CMX_ERR_NOT_FOUND;
        snprintf(reply.code, sizeof reply.code, "governance_off");
        snprintf(reply.message, sizeof reply.message,
                 "the admin API for keys, teams and spend needs a 'governance' section (a "
                 "store) in the configuration");
    } else {
        cmx_gov_ops ops = {g->store,          g->audit, g->cfg,        &g->hasher,
                           cmx_gov_now_ms(g), j->actor, service_spent, g};
        cmx_gov_admin(&ops, j->method, j->path, j->query, j->body, j->body_len, &reply);
        if (reply.changed) {
            /* In force at once here; other replicas see the change counter. */
            cmx_error err;
            if (reload_keys(g, &err) != CMX_OK)
                cmx_error_log("keys: reload after an admin change failed: %s", err.message);
            else
                sync_budgets(g);
        }
    }
    j->done(j->arg, &reply);
}

static void run_job(cmx_governance *g, gov_job *j)
{
    cmx_error err;
    switch (j->kind) {
    case JOB_ADMIN: run_admin(g, j); break;
    case JOB_AUDIT:
        if (g->audit && cmx_audit_append(g->audit, cmx_gov_now_ms(g), j->actor, j->action,
                                         j->target, j->details, 1, &err) != CMX_OK)
            cmx_error_log("%s", err.message);
        break;
    case JOB_RELOAD:
        cmx_config_unref(g->cfg);
        g->cfg = cmx_config_ref(j->cfg);
        if (g->keys_on && reload_keys(g, &err) != CMX_OK)
            cmx_error_log("keys: reload after a config reload failed: %s", err.message);
        if (g->audit && cmx_audit_append(g->audit, cmx_gov_now_ms(g), j->actor, "config.reloaded",
                                         j->cfg->path, j->details, 1, &err) != CMX_OK)
            cmx_error_log("%s", err.message);
        break;
    }
    job_free(j);
}

/* ---- the service thread ----------------------------------------------------------------- */

static void read_clock_offset(cmx_governance *g)
{
    if (!g->clock_file)
        return;
    FILE *f = fopen(g->clock_file, "r");
    long long v = 0;
    if (f) {
        if (fscanf(f, "%lld", &v) == 1)
            atomic_store(&g->clock_offset_ms, (int64_t)v);
        fclose(f);
    }
}

static void poll_changes(cmx_governance *g)
{
    int64_t changes;
    cmx_error err;
    if (cmx_store_changes(g->store, &changes, &err) != CMX_OK) {
        int64_t now = cmx_gov_now_ms(g);
        if (now - g->last_poll_error_ms > 10000) {
            g->last_poll_error_ms = now;
            cmx_warn("keys: cannot read the store (keeping the current keys): %s", err.message);
        }
        return;
    }
    if (changes != g->store_changes && reload_keys(g, &err) != CMX_OK)
        cmx_error_log("keys: reload failed (keeping the current keys): %s", err.message);
}

static void *service_main(void *arg)
{
    cmx_governance *g = arg;
    uint64_t next_poll = 0, next_sync = 0, next_checkpoint = 0;
    const cmx_config *c0 = g->cfg;
    uint64_t poll_us = (uint64_t)c0->governance.poll_ms * 1000;
    uint64_t sync_us = (uint64_t)c0->governance.budget_sync_ms * 1000;
    uint64_t checkpoint_us = (uint64_t)c0->audit.checkpoint_interval_ms * 1000;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        if (!g->jobs_head && !g->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += SERVICE_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
        gov_job *jobs = g->jobs_head;
        g->jobs_head = g->jobs_tail = NULL;
        int stop = g->stop;
        pthread_mutex_unlock(&g->lock);
        while (jobs) {
            gov_job *next = jobs->next;
            run_job(g, jobs);
            jobs = next;
        }
        if (stop)
            return NULL;
        read_clock_offset(g);
        uint64_t now = cmx_now_us();
        if (g->store && poll_us && now >= next_poll) {
            poll_changes(g);
            next_poll = now + poll_us;
        }
        if (g->store && sync_us && now >= next_sync) {
            sync_budgets(g);
            next_sync = now + sync_us;
        }
        if (g->audit && checkpoint_us && now >= next_checkpoint) {
            cmx_error err;
            if (next_checkpoint && cmx_audit_checkpoint(g->audit, cmx_gov_now_ms(g), &err))
                cmx_error_log("%s", err.message);
            next_checkpoint = now + checkpoint_us;
        }
        pthread_mutex_lock(&g->lock);
    }
}

/* ---- life ------------------------------------------------------------------------------- */

static void on_warning(void *ctx, const char *scope, const cmx_gov_principal *p, double spent,
                       int64_t resets_at_ms)
{
    cmx_governance *g = ctx;
    char s_spent[32], s_cap[32], words[24], when[64];
    cmx_usd_text(spent, s_spent, sizeof s_spent);
    cmx_usd_text(p->budget.usd, s_cap, sizeof s_cap);
    cmx_period_words(&p->budget.period, words, sizeof words);
    if (resets_at_ms == CMX_PERIOD_NEVER)
        snprintf(when, sizeof when, "it does not reset");
    else {
        char iso[32];
        cmx_time_iso(resets_at_ms, iso, sizeof iso);
        snprintf(when, sizeof when, "it resets at %s", iso);
    }
    atomic_fetch_add(&g->warnings[scope[0] == 't'], 1);
    cmx_warn("budget warning: %s '%s' (%s) has spent %s of its %s %s budget (%.0f%%); %s", scope,
             p->name, p->id, s_spent, s_cap, words,
             p->budget.usd > 0 ? 100 * spent / p->budget.usd : 100.0, when);
}

static void on_refusal(void *ctx, cmx_gov_refusal why)
{
    cmx_governance *g = ctx;
    static const int reason[CMX_GOV_REFUSED__COUNT] = {GOV_REASON_MODEL, GOV_REASON_RATE,
                                                       GOV_REASON_BUDGET};
    atomic_fetch_add(&g->refusals[reason[why]], 1);
}

static char *default_replica(void)
{
    char host[128] = "cloudmux";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    char *r = malloc(strlen(host) + 24);
    if (r)
        sprintf(r, "%s-%d", host, (int)getpid());
    return r;
}

cmx_governance *cmx_governance_new(const cmx_config *cfg, size_t n_workers, cmx_error *err)
{
    cmx_governance *g = calloc(1, sizeof *g);
    if (!g) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    g->cfg = cmx_config_ref((cmx_config *)cfg);
    g->keys_on = cfg->governance.enabled;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    pthread_mutex_init(&g->publish_lock, NULL);
    pthread_mutex_init(&g->commit_lock, NULL);
    pthread_mutex_init(&g->auth_fail_lock, NULL);
    g->fail_closed = cfg->governance.fail_closed;
    cmx_key_hasher_init(&g->hasher, cfg->governance.pepper);
    const char *clock_file = getenv("CLOUDMUX_TEST_CLOCK_OFFSET_FILE");
    g->clock_file = clock_file && *clock_file ? strdup(clock_file) : NULL;
    read_clock_offset(g);
    g->counters = cmx_budget_counters_local_new();
    g->registry = g->counters ? cmx_gov_usage_registry_new(g->counters) : NULL;
    g->replica = cfg->governance.replica ? strdup(cfg->governance.replica) : default_replica();
    g->n_fleet = n_workers;
    g->fleet = calloc(n_workers ? n_workers : 1, sizeof *g->fleet);
    if (!g->registry || !g->replica || !g->fleet) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        goto fail;
    }
    g->env = (cmx_gov_policy_env){g->counters, on_warning, on_refusal, g};
    if (cfg->audit.file) {
        cmx_audit_settings as = {cfg->audit.file, cfg->audit.checkpoint_file, cfg->audit.hmac_key,
                                 cfg->audit.fsync == CMX_AUDIT_FSYNC_ALWAYS,
                                 cfg->audit.rotate_bytes};
        if (!(g->audit = cmx_audit_open(&as, err)))
            goto fail;
    }
    if (g->keys_on) {
        if (!(g->store = cmx_store_open(cfg->governance.store, err)))
            goto fail;
        if (reload_keys(g, err) != CMX_OK)
            goto fail;
        sync_budgets(g); /* every budget rebuilt from the ledger before serving */
        cmx_ledger_settings ls = {
            .store_url = cfg->governance.store,
            .replica = g->replica,
            .producers = n_workers,
            .batch_rows = cfg->governance.batch_rows,
            .batch_interval_ms = cfg->governance.batch_interval_ms,
            .queue_rows = cfg->governance.queue_rows,
            .retention_ms = cfg->governance.retention_ms,
            .counters = g->counters,
            .audit = cfg->audit.requests ? g->audit : NULL,
            .commit_lock = &g->commit_lock,
            .now_ms = clock_cb,
            .clock_ctx = g,
        };
        if (!(g->ledger = cmx_ledger_start(&ls, err)))
            goto fail;
    }
    if (pthread_create(&g->thread, NULL, service_main, g) != 0) {
        cmx_error_set(err, CMX_ERR_INTERNAL, "cannot start the governance thread");
        goto fail;
    }
    g->started = 1;
    if (g->keys_on)
        cmx_info("governance: %zu virtual key%s, store %s, ledger replica %s",
                 (size_t)atomic_load(&g->n_keys), atomic_load(&g->n_keys) == 1 ? "" : "s",
                 cmx_store_kind(g->store), g->replica);
    return g;
fail:
    cmx_governance_free(g);
    return NULL;
}

void cmx_governance_free(cmx_governance *g)
{
    if (!g)
        return;
    if (g->started) {
        pthread_mutex_lock(&g->lock);
        g->stop = 1;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    cmx_ledger_stop(g->ledger);
    cmx_audit_close(g->audit, g->started ? cmx_gov_now_ms(g) : 0);
    cmx_store_close(g->store);
    cmx_keyring_unref(g->keyring);
    cmx_gov_usage_registry_free(g->registry);
    if (g->counters)
        g->counters->ops->free(g->counters);
    cmx_key_hasher_wipe(&g->hasher);
    cmx_config_unref(g->cfg);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->publish_lock);
    pthread_mutex_destroy(&g->commit_lock);
    pthread_mutex_destroy(&g->auth_fail_lock);
    free(g->clock_file);
    free(g->replica);
    free(g->fleet);
    free(g);
}

/* ---- admin and audit entry points ------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void cmx_gov_admin_submit(cmx_governance *g, const char *actor, const char *method,
                          const char *path, const char *query, const char *body, size_t body_len,
                          cmx_gov_admin_done done, void *arg)
{
    gov_job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = JOB_ADMIN;
        j->actor = strdup(actor);
        j->method = strdup(method);
        j->path = strdup(path);
        j->query = strdup(query ? query : "");
        j->body = dup_n(body ? body : "", body_len);
        j->body_len = body_len;
        j->done = done;
        j->arg = arg;
    }
    if (!j || !j->actor || !j->method || !j->path || !j->query || !j->body) {
        cmx_gov_reply reply;
        memset(&reply, 0, sizeof reply);
        reply.status = 500;
        reply.kind = CMX_ERR_NOMEM;
        snprintf(reply.message, sizeof reply.message, "out of memory");
        if (j)
            job_free(j);
        done(arg, &reply);
        return;
    }
    submit(g, j);
}

static void submit_audit(cmx_governance *g, const char *actor, const char *action,
                         const char *target, json_t *details)
{
    gov_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(details);
        return;
    }
    j->kind = JOB_AUDIT;
    j->actor = strdup(actor);
    j->action = strdup(action);
    j->target = strdup(target);
    j->details = details;
    submit(g, j);
}

void cmx_gov_audit_admin_auth_failed(cmx_governance *g, const char *method, const char *path)
{
    if (!g || !g->audit)
        return;
    /* A few records a second at most; the rest are counted into the next one. */
    int64_t second = cmx_gov_now_ms(g) / 1000;
    pthread_mutex_lock(&g->auth_fail_lock);
    if (g->auth_fail_second != second) {
        g->auth_fail_second = second;
        g->auth_fail_records = 0;
    }
    int record = g->auth_fail_records < AUTH_FAIL_RECORDS_PER_S;
    uint64_t suppressed = 0;
    if (record) {
        g->auth_fail_records++;
        suppressed = g->auth_fail_suppressed;
        g->auth_fail_suppressed = 0;
    } else {
        g->auth_fail_suppressed++;
    }
    pthread_mutex_unlock(&g->auth_fail_lock);
    if (!record)
        return;
    json_t *d = json_pack("{s:s, s:s}", "method", method, "path", path);
    if (d && suppressed)
        json_object_set_new(d, "more_failures_not_recorded", json_integer((json_int_t)suppressed));
    submit_audit(g, "unknown", "admin.auth_failed", path, d);
}

void cmx_governance_config_reloaded(cmx_governance *g, const cmx_config *cfg, const char *actor)
{
    if (!g)
        return;
    gov_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = JOB_RELOAD;
    j->cfg = cmx_config_ref((cmx_config *)cfg);
    j->actor = strdup(actor ? actor : "system");
    j->details =
        json_pack("{s:i, s:i, s:i, s:i}", "providers", (int)cfg->n_providers, "models",
                  (int)cfg->n_models, "keys", (int)cfg->n_keys, "teams", (int)cfg->n_teams);
    submit(g, j);
}
