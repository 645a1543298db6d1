/* policy.c — keys and teams, and the checks a request must pass; see
 * policy.h.
 *
 * Admission order: the group (403), then the budget (429 insufficient
 * quota), then the limits (429 with Retry-After), key before team.  The
 * budget is checked before anything is counted, so a refused request costs
 * nothing; the limits of key and team are checked and counted under both
 * locks (key's first, then team's) so two workers cannot both take the last
 * slot.  A request over budget is refused only once the budget is reached:
 * requests admitted before that may still finish, which is the overshoot the
 * docs promise (at most the requests in flight). */
#include "governance/policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000
/* Costs are sums of doubles: $0.003 ten times may come to 0.0299999...;
 * a nano-dollar either way is the same amount. */
#define USD_EPSILON 1e-9

/* ---- the usage registry -------------------------------------------------- */

struct cmx_gov_usage_registry {
    pthread_mutex_t lock;
    cmx_budget_counters *counters;
    cmx_gov_usage **slots;
    size_t cap, n;
};

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

cmx_gov_usage_registry *cmx_gov_usage_registry_new(cmx_budget_counters *counters)
{
    cmx_gov_usage_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cap = 64;
    r->slots = calloc(r->cap, sizeof *r->slots);
    if (!r->slots) {
        free(r);
        return NULL;
    }
    r->counters = counters;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void cmx_gov_usage_registry_free(cmx_gov_usage_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++) {
        if (!r->slots[i])
            continue;
        pthread_mutex_destroy(&r->slots[i]->lock);
        free(r->slots[i]->name);
        free(r->slots[i]);
    }
    free(r->slots);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void place(cmx_gov_usage **slots, size_t cap, cmx_gov_usage *u)
{
    size_t at = (size_t)hash_text(u->name) & (cap - 1);
    while (slots[at])
        at = (at + 1) & (cap - 1);
    slots[at] = u;
}

static int grow(cmx_gov_usage_registry *r)
{
    size_t cap = r->cap * 2;
    cmx_gov_usage **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i])
            place(slots, cap, r->slots[i]);
    free(r->slots);
    r->slots = slots;
    r->cap = cap;
    return 0;
}

static cmx_gov_usage *find(cmx_gov_usage_registry *r, const char *name, size_t *free_at)
{
    size_t at = (size_t)hash_text(name) & (r->cap - 1);
    cmx_gov_usage *u;
    while ((u = r->slots[at]) && strcmp(u->name, name) != 0)
        at = (at + 1) & (r->cap - 1);
    *free_at = at;
    return u;
}

static cmx_gov_usage *usage_new(cmx_gov_usage_registry *r, const char *name)
{
    cmx_gov_usage *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->name = strdup(name);
    u->budget = u->name ? r->counters->ops->counter(r->counters, name) : NULL;
    if (!u->budget) {
        free(u->name);
        free(u);
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    u->warned_period_ms = INT64_MIN;
    return u;
}

cmx_gov_usage *cmx_gov_usage_get(cmx_gov_usage_registry *r, const char *kind, const char *id)
{
    char name[96];
    snprintf(name, sizeof name, "%s:%s", kind, id);
    pthread_mutex_lock(&r->lock);
    size_t at;
    cmx_gov_usage *u = find(r, name, &at);
    if (!u && ((r->n + 1) * 2 <= r->cap || grow(r) == 0)) {
        find(r, name, &at); /* the table may have grown */
        if ((u = usage_new(r, name))) {
            r->slots[at] = u;
            r->n++;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return u;
}

/* ---- pictures of keys and teams -------------------------------------------- */

static void principal_free(cmx_gov_principal *p)
{
    free(p->id);
    free(p->name);
    for (size_t i = 0; i < p->n_models; i++)
        free(p->models[i]);
    free(p->models);
    free(p->tags_json);
}

cmx_gov_team *cmx_gov_team_ref(cmx_gov_team *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void cmx_gov_team_unref(cmx_gov_team *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        principal_free(&t->p);
        free(t);
    }
}

cmx_gov_key *cmx_gov_key_ref(cmx_gov_key *k)
{
    if (k)
        atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void cmx_gov_key_unref(cmx_gov_key *k)
{
    if (k && atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1) {
        principal_free(&k->p);
        cmx_gov_team_unref(k->team);
        free(k->team_id);
        free(k->residency);
        free(k->hint);
        free(k);
    }
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (!c)
        *oom = 1;
    return c;
}

/* A JSON array of strings from the store; anything else allows every group. */
static int models_from_json(cmx_gov_principal *p, const char *text)
{
    if (!text)
        return 0;
    json_t *arr = json_loads(text, 0, NULL);
    int rc = 0;
    if (json_is_array(arr) && json_array_size(arr)) {
        p->models = calloc(json_array_size(arr), sizeof *p->models);
        if (!p->models)
            rc = -1;
        for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
            const char *s = json_string_value(json_array_get(arr, i));
            if (s && !(p->models[p->n_models++] = strdup(s)))
                rc = -1;
        }
    }
    json_decref(arr);
    return rc;
}

static int budget_from(cmx_gov_budget *b, int set, double usd, const char *period, int64_t start_ms,
                       double warn_at)
{
    memset(b, 0, sizeof *b);
    if (!set)
        return 0;
    b->set = 1;
    b->usd = usd;
    b->warn_at = warn_at;
    return cmx_period_from_text(period, start_ms, &b->period);
}

static int principal_from_record(cmx_gov_principal *p, const char *id, const char *name,
                                 const char *models_json, const cmx_limits_rec *l,
                                 const cmx_budget_rec *b, int disabled, const char *tags,
                                 cmx_gov_usage_registry *r, const char *kind)
{
    int oom = 0;
    p->id = dup_or_null(id, &oom);
    p->name = dup_or_null(name ? name : id, &oom);
    p->rpm = l->rpm > 0 ? (uint64_t)l->rpm : 0;
    p->tpm = l->tpm > 0 ? (uint64_t)l->tpm : 0;
    p->max_parallel = l->max_parallel > 0 ? (uint32_t)l->max_parallel : 0;
    p->disabled = disabled;
    p->tags_json = dup_or_null(tags, &oom);
    if (oom || !p->id || models_from_json(p, models_json) != 0)
        return -1;
    if (budget_from(&p->budget, b->set, b->usd, b->period, b->start_ms, b->warn_at) != 0)
        p->budget.set = 0; /* a period this version cannot read: no budget rather than none */
    p->usage = cmx_gov_usage_get(r, kind, p->id);
    return p->usage ? 0 : -1;
}

cmx_gov_team *cmx_gov_team_from_record(const cmx_team_rec *rec, cmx_gov_usage_registry *r)
{
    cmx_gov_team *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    t->p.created_ms = rec->created_ms;
    t->p.updated_ms = rec->updated_ms;
    if (principal_from_record(&t->p, rec->id, rec->name, rec->models_json, &rec->limits,
                              &rec->budget, rec->disabled, rec->tags_json, r, "team") != 0) {
        cmx_gov_team_unref(t);
        return NULL;
    }
    return t;
}

cmx_gov_key *cmx_gov_key_from_record(const cmx_key_rec *rec, cmx_gov_usage_registry *r)
{
    cmx_gov_key *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    atomic_init(&k->refs, 1);
    int oom = 0;
    k->team_id = dup_or_null(rec->team_id, &oom);
    k->residency = dup_or_null(rec->residency, &oom);
    k->hint = dup_or_null(rec->hint, &oom);
    k->expires_ms = rec->expires_ms;
    k->revoked_ms = rec->revoked_ms;
    k->p.created_ms = rec->created_ms;
    k->p.updated_ms = rec->updated_ms;
    if (oom || principal_from_record(&k->p, rec->id, rec->name, rec->models_json, &rec->limits,
                                     &rec->budget, rec->disabled, rec->tags_json, r, "key") != 0) {
        cmx_gov_key_unref(k);
        return NULL;
    }
    return k;
}

/* ---- groups ---------------------------------------------------------------- */

static int glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

int cmx_gov_models_allow(char *const *patterns, size_t n, const char *group)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (glob_match(patterns[i], group))
            return 1;
    return 0;
}

/* ---- messages ---------------------------------------------------------------- */

void cmx_usd_text(double usd, char *buf, size_t len)
{
    snprintf(buf, len, "$%.6f", usd);
    /* Trim zeros past the second decimal. */
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *end = buf + strlen(buf) - 1;
    while (end > dot + 2 && *end == '0')
        *end-- = '\0';
}

static const char *scope_of(const cmx_gov_key *k, const cmx_gov_principal *p)
{
    return p == &k->p ? "key" : "team";
}

static cmx_err refuse_model(const cmx_gov_key *k, const cmx_gov_principal *p, const char *group,
                            cmx_error *err)
{
    char allowed[160] = "";
    size_t at = 0;
    for (size_t i = 0; i < p->n_models && at + 4 < sizeof allowed; i++) {
        int w = snprintf(allowed + at, sizeof allowed - at, "%s%s", i ? ", " : "", p->models[i]);
        at += w > 0 ? (size_t)w : 0;
    }
    if (at >= sizeof allowed)
        at = sizeof allowed - 1;
    cmx_error_set(err, CMX_ERR_FORBIDDEN,
                  "%s '%.64s' (%.64s) may not use model '%.100s'; it may use: %s. Ask an "
                  "administrator to add the model to the %s's models",
                  scope_of(k, p), p->name, p->id, group, allowed, scope_of(k, p));
    err->status = 403;
    return CMX_ERR_FORBIDDEN;
}

double cmx_gov_spent(const cmx_gov_policy_env *env, const cmx_gov_principal *p, int64_t now_ms,
                     int64_t *resets_at_ms)
{
    int64_t start, end;
    cmx_period_window(&p->budget.period, now_ms, &start, &end);
    if (resets_at_ms)
        *resets_at_ms = end;
    return env->counters->ops->spent(env->counters, p->usage->budget, start);
}

static cmx_err refuse_budget(const cmx_gov_key *k, const cmx_gov_principal *p, double spent,
                             int64_t resets_at, cmx_error *err)
{
    char s_spent[32], s_cap[32], words[24], when[40];
    cmx_usd_text(spent, s_spent, sizeof s_spent);
    cmx_usd_text(p->budget.usd, s_cap, sizeof s_cap);
    cmx_period_words(&p->budget.period, words, sizeof words);
    if (resets_at == CMX_PERIOD_NEVER) {
        cmx_error_set(err, CMX_ERR_BUDGET,
                      "budget exceeded for %s '%.64s' (%.64s): spent %s of its %s total budget, "
                      "which does not reset. Ask an administrator to raise the budget",
                      scope_of(k, p), p->name, p->id, s_spent, s_cap);
    } else {
        cmx_time_iso(resets_at, when, sizeof when);
        cmx_error_set(err, CMX_ERR_BUDGET,
                      "budget exceeded for %s '%.64s' (%.64s): spent %s of its %s %s budget; it "
                      "resets at %s. Ask an administrator to raise the budget, or wait for the "
                      "reset",
                      scope_of(k, p), p->name, p->id, s_spent, s_cap, words, when);
    }
    err->status = 429;
    return CMX_ERR_BUDGET;
}

/* ---- admission ------------------------------------------------------------- */

static void roll_minute(cmx_gov_usage *u, int64_t minute)
{
    if (u->minute_ms != minute) {
        u->minute_ms = minute;
        u->minute_requests = 0;
        u->minute_tokens = 0;
    }
}

/* Under u->lock: the limit that refuses, or NULL. */
static const char *over_limit(const cmx_gov_principal *p, const cmx_gov_usage *u, uint64_t tokens,
                              char *detail, size_t len)
{
    if (p->max_parallel && u->in_flight >= p->max_parallel) {
        snprintf(detail, len, "%u requests at a time", p->max_parallel);
        return "parallel";
    }
    if (p->rpm && u->minute_requests >= p->rpm) {
        snprintf(detail, len, "%llu requests per minute", (unsigned long long)p->rpm);
        return "rpm";
    }
    uint64_t used = u->minute_tokens > 0 ? (uint64_t)u->minute_tokens : 0;
    if (p->tpm && used > 0 && used + tokens > p->tpm) {
        snprintf(detail, len, "%llu tokens per minute", (unsigned long long)p->tpm);
        return "tpm";
    }
    return NULL;
}

static cmx_err refuse_limit(const cmx_gov_key *k, const cmx_gov_principal *p, const char *which,
                            const char *detail, int64_t now_ms, int64_t minute, cmx_error *err)
{
    uint32_t wait_ms =
        strcmp(which, "parallel") == 0 ? 1000 : (uint32_t)(minute + MINUTE_MS - now_ms);
    cmx_error_set(err, CMX_ERR_RATE_LIMITED,
                  "rate limit reached for %s '%.64s' (%.64s): at most %s; retry after %u s%s",
                  scope_of(k, p), p->name, p->id, detail, (wait_ms + 999) / 1000,
                  strcmp(which, "parallel") == 0 ? " or when a request of this key finishes" : "");
    err->status = 429;
    err->retry_after_ms = wait_ms;
    return CMX_ERR_RATE_LIMITED;
}

cmx_err cmx_gov_policy_admit(const cmx_gov_policy_env *env, cmx_gov_ticket *t, const char *group,
                             uint64_t tokens, int64_t now_ms, cmx_error *err)
{
    cmx_gov_key *k = t->key;
    const cmx_gov_principal *ps[2] = {&k->p, k->team ? &k->team->p : NULL};
    for (int i = 0; i < 2 && ps[i]; i++)
        if (!cmx_gov_models_allow(ps[i]->models, ps[i]->n_models, group)) {
            if (env->on_refusal)
                env->on_refusal(env->ctx, CMX_GOV_REFUSED_MODEL);
            return refuse_model(k, ps[i], group, err);
        }
    for (int i = 0; i < 2 && ps[i]; i++) {
        if (!ps[i]->budget.set)
            continue;
        int64_t resets;
        double spent = cmx_gov_spent(env, ps[i], now_ms, &resets);
        if (spent >= ps[i]->budget.usd - USD_EPSILON) {
            if (env->on_refusal)
                env->on_refusal(env->ctx, CMX_GOV_REFUSED_BUDGET);
            return refuse_budget(k, ps[i], spent, resets, err);
        }
    }
    int64_t minute = now_ms - now_ms % MINUTE_MS;
    cmx_gov_usage *us[2] = {k->p.usage, ps[1] ? ps[1]->usage : NULL};
    for (int i = 0; i < 2 && us[i]; i++) {
        pthread_mutex_lock(&us[i]->lock);
        roll_minute(us[i], minute);
    }
    char detail[64];
    const char *which = NULL;
    int at = 0;
    for (; at < 2 && us[at] && !which; at++)
        which = over_limit(ps[at], us[at], tokens, detail, sizeof detail);
    if (!which)
        for (int i = 0; i < 2 && us[i]; i++) {
            us[i]->in_flight++;
            us[i]->minute_requests++;
            us[i]->minute_tokens += (int64_t)tokens;
        }
    for (int i = 1; i >= 0; i--)
        if (us[i])
            pthread_mutex_unlock(&us[i]->lock);
    if (which) {
        if (env->on_refusal)
            env->on_refusal(env->ctx, CMX_GOV_REFUSED_RATE);
        return refuse_limit(k, ps[at - 1], which, detail, now_ms, minute, err);
    }
    t->counted = 1;
    t->minute_ms = minute;
    t->tokens_reserved = tokens;
    return CMX_OK;
}

static void release(cmx_gov_usage *u, const cmx_gov_ticket *t, int64_t total_tokens)
{
    pthread_mutex_lock(&u->lock);
    if (u->in_flight)
        u->in_flight--;
    /* Tokens settle in the minute they were reserved in, if it is still the one counted. */
    if (total_tokens >= 0 && u->minute_ms == t->minute_ms)
        u->minute_tokens += total_tokens - (int64_t)t->tokens_reserved;
    pthread_mutex_unlock(&u->lock);
}

/* A total budget's "period", for counters that need a length. */
#define TOTAL_PERIOD_MS (INT64_C(1) << 40)

static void charge(const cmx_gov_policy_env *env, const char *scope, const cmx_gov_principal *p,
                   double usd, int64_t now_ms, int64_t *period_ms, int64_t *period_len_ms)
{
    int64_t start, end;
    cmx_period_window(&p->budget.period, now_ms, &start, &end);
    *period_ms = start;
    *period_len_ms = end == CMX_PERIOD_NEVER ? TOTAL_PERIOD_MS : end - start;
    cmx_budget_counters *bc = env->counters;
    bc->ops->charge(bc, p->usage->budget, start, usd);
    if (!p->budget.set || !env->on_warning)
        return;
    double spent = bc->ops->spent(bc, p->usage->budget, start);
    if (spent < p->budget.warn_at * p->budget.usd - USD_EPSILON)
        return;
    int warn = 0;
    pthread_mutex_lock(&p->usage->lock);
    if (p->usage->warned_period_ms != start) {
        p->usage->warned_period_ms = start;
        warn = 1;
    }
    pthread_mutex_unlock(&p->usage->lock);
    if (warn)
        env->on_warning(env->ctx, scope, p, spent, end);
}

void cmx_gov_policy_settle(const cmx_gov_policy_env *env, cmx_gov_ticket *t, int64_t total_tokens,
                           double cost_usd, int64_t now_ms, cmx_gov_charge *out)
{
    memset(out, 0, sizeof *out);
    cmx_gov_key *k = t->key;
    if (!k)
        return;
    cmx_gov_team *team = k->team;
    if (t->counted) {
        release(k->p.usage, t, total_tokens);
        if (team)
            release(team->p.usage, t, total_tokens);
        t->counted = 0;
    }
    out->key_usage = k->p.usage;
    out->team_usage = team ? team->p.usage : NULL;
    if (cost_usd > 0) {
        out->usd = cost_usd;
        charge(env, "key", &k->p, cost_usd, now_ms, &out->key_period_ms, &out->key_period_len_ms);
        if (team)
            charge(env, "team", &team->p, cost_usd, now_ms, &out->team_period_ms,
                   &out->team_period_len_ms);
    }
    t->key = NULL;
    cmx_gov_key_unref(k);
}
