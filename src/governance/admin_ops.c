/* admin_ops.c — the admin API's routes and operations; see admin_ops.h.
 *
 * Every write goes to the store first and is then recorded in the audit
 * log (actor, action, target, what changed — never a secret).  A key's
 * secret is made here, shown once in the reply and never kept: the store
 * gets its digest and a four-character hint. */
#include "governance/admin_ops.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"
#include "governance/admin_records.h"
#include "governance/period.h"
#include "governance/spend.h"

#define ID_HEX 16

typedef struct route {
    enum { R_NONE, R_KEYS, R_KEY, R_KEY_ROTATE, R_KEY_REVOKE, R_TEAMS, R_TEAM, R_SPEND } what;
    char id[72];
} route;

int cmx_gov_admin_path(const char *path, size_t len)
{
    static const char *const roots[] = {"/admin/keys", "/admin/teams", "/admin/spend"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(roots[i]);
        if (len >= n && strncmp(path, roots[i], n) == 0 && (len == n || path[n] == '/'))
            return 1;
    }
    return 0;
}

static route parse_route(const char *path)
{
    route r = {R_NONE, ""};
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    const char *rest;
    int keys = strncmp(p, "/admin/keys", 11) == 0, teams = strncmp(p, "/admin/teams", 12) == 0;
    if (strcmp(p, "/admin/spend") == 0) {
        r.what = R_SPEND;
    } else if (keys || teams) {
        rest = p + (keys ? 11 : 12);
        if (!*rest) {
            r.what = keys ? R_KEYS : R_TEAMS;
        } else if (*rest == '/') {
            rest++;
            const char *slash = strchr(rest, '/');
            size_t id_len = slash ? (size_t)(slash - rest) : strlen(rest);
            if (id_len == 0 || id_len >= sizeof r.id)
                return r;
            memcpy(r.id, rest, id_len);
            r.id[id_len] = '\0';
            if (!slash)
                r.what = keys ? R_KEY : R_TEAM;
            else if (keys && strcmp(slash, "/rotate") == 0)
                r.what = R_KEY_ROTATE;
            else if (keys && strcmp(slash, "/revoke") == 0)
                r.what = R_KEY_REVOKE;
        }
    }
    return r;
}

static void fail(cmx_gov_reply *out, int status, cmx_err kind, const char *code, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static void fail(cmx_gov_reply *out, int status, cmx_err kind, const char *code, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->status = status;
    out->kind = kind;
    snprintf(out->code, sizeof out->code, "%s", code ? code : "");
}

static void fail_err(cmx_gov_reply *out, const cmx_error *err)
{
    int status = err->kind == CMX_ERR_IO ? 503 : cmx_err_http_status(err->kind);
    const char *code = err->kind == CMX_ERR_NOT_FOUND  ? "not_found"
                       : err->kind == CMX_ERR_CONFLICT ? "conflict"
                       : err->kind == CMX_ERR_IO       ? "store_unavailable"
                                                       : "invalid_request";
    fail(out, status, err->kind, code, "%s", err->message);
}

/* Takes the JSON value (steals it). */
static void reply_json(cmx_gov_reply *out, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(v);
    if (!text) {
        fail(out, 500, CMX_ERR_NOMEM, NULL, "out of memory");
        return;
    }
    out->status = status;
    out->body = text;
    out->kind = CMX_OK;
}

static void audit(const cmx_gov_ops *ops, const char *action, const char *kind, const char *id,
                  json_t *details)
{
    if (!ops->audit)
        return;
    char target[96];
    snprintf(target, sizeof target, "%s:%s", kind, id);
    cmx_error err;
    if (cmx_audit_append(ops->audit, ops->now_ms, ops->actor, action, target, details, 1, &err) !=
        CMX_OK)
        fprintf(stderr, "%s\n", err.message);
}

/* ---- config-defined ids -------------------------------------------------------- */

static long config_index(const cmx_gov_ops *ops, int teams, const char *id);

static int fail_if_config(const cmx_gov_ops *ops, const char *kind, const char *id,
                          cmx_gov_reply *out)
{
    int in_config = config_index(ops, kind[0] == 't', id) >= 0;
    if (in_config)
        fail(out, 409, CMX_ERR_CONFLICT, "defined_in_config",
             "%s '%.64s' is defined in the configuration file; change it there and reload", kind,
             id);
    return in_config;
}

static int team_exists(const cmx_gov_ops *ops, const char *id, cmx_gov_reply *out)
{
    if (!id || config_index(ops, 1, id) >= 0)
        return 1;
    cmx_team_rec t;
    cmx_error err;
    cmx_err rc = cmx_store_get_team(ops->store, id, &t, &err);
    cmx_team_rec_free(&t);
    if (rc == CMX_OK)
        return 1;
    if (rc == CMX_ERR_NOT_FOUND)
        fail(out, 400, CMX_ERR_BAD_REQUEST, "unknown_team",
             "team '%.64s' does not exist; create it first (POST /admin/teams)", id);
    else
        fail_err(out, &err);
    return 0;
}

/* ---- spend shown with keys and teams -------------------------------------------- */

typedef struct find_spend {
    const char *id;
    double usd;
} find_spend;

static void match_spend(void *ctx, const char *id, double usd)
{
    find_spend *f = ctx;
    if (strcmp(f->id, id) == 0)
        f->usd = usd;
}

static double spent_of(const cmx_gov_ops *ops, const char *scope, const char *id,
                       const cmx_budget_rec *b)
{
    if (!b->set)
        return -1;
    if (ops->spent)
        return ops->spent(ops->spent_ctx, scope, id, ops->now_ms);
    cmx_period p;
    int64_t start, end;
    if (cmx_period_from_text(b->period, b->start_ms, &p) != 0)
        return -1;
    cmx_period_window(&p, ops->now_ms, &start, &end);
    find_spend f = {id, 0};
    cmx_error err;
    if (cmx_store_spend_since(ops->store, scope[0] == 't' ? CMX_SPEND_BY_TEAM : CMX_SPEND_BY_KEY,
                              start, match_spend, &f, &err) != CMX_OK)
        return -1;
    return f.usd;
}

static json_t *key_json(const cmx_gov_ops *ops, const cmx_key_rec *k, const char *source)
{
    return cmx_key_rec_json(k, source, spent_of(ops, "key", k->id, &k->budget), ops->now_ms);
}

static json_t *team_json(const cmx_gov_ops *ops, const cmx_team_rec *t, const char *source)
{
    return cmx_team_rec_json(t, source, spent_of(ops, "team", t->id, &t->budget), ops->now_ms);
}

/* What changed between two JSON pictures: {"field": {"from": .., "to": ..}}. */
static json_t *changes(json_t *before, json_t *after)
{
    json_t *out = json_object();
    const char *name;
    json_t *v;
    json_object_foreach(after, name, v)
    {
        if (strcmp(name, "updated_at") == 0 || strcmp(name, "status") == 0)
            continue;
        json_t *old = json_object_get(before, name);
        if (!old || !json_equal(old, v))
            json_object_set_new(out, name,
                                json_pack("{s:O, s:O}", "from", old ? old : json_null(), "to", v));
    }
    return out;
}

/* Budgets compared without what is spent (it moves on its own). */
static int budget_changed(const cmx_budget_rec *a, const cmx_budget_rec *b)
{
    return a->set != b->set || (a->set && (a->usd != b->usd || strcmp(a->period, b->period) != 0 ||
                                           a->start_ms != b->start_ms || a->warn_at != b->warn_at));
}

static json_t *budget_pair(const cmx_budget_rec *from, const cmx_budget_rec *to, int64_t now)
{
    return json_pack("{s:o, s:o}", "from", cmx_budget_rec_json(from, -1, now), "to",
                     cmx_budget_rec_json(to, -1, now));
}

/* ---- keys ------------------------------------------------------------------------ */

/* One key or team of the config, by position, as JSON (NULL: out of memory). */
static json_t *config_entry_json(const cmx_gov_ops *ops, int teams, size_t i)
{
    json_t *j = NULL;
    if (teams) {
        cmx_team_rec t;
        if (cmx_team_rec_from_config(&ops->cfg->teams[i], &t) == 0)
            j = team_json(ops, &t, "config");
        cmx_team_rec_free(&t);
    } else {
        cmx_key_rec k;
        if (cmx_key_rec_from_config(&ops->cfg->keys[i], &k) == 0)
            j = key_json(ops, &k, "config");
        cmx_key_rec_free(&k);
    }
    return j;
}

/* Where a key's or team's id is in the config, or -1. */
static long config_index(const cmx_gov_ops *ops, int teams, const char *id)
{
    size_t n = !ops->cfg ? 0 : teams ? ops->cfg->n_teams : ops->cfg->n_keys;
    for (size_t i = 0; i < n; i++)
        if (strcmp(teams ? ops->cfg->teams[i].id : ops->cfg->keys[i].p.id, id) == 0)
            return (long)i;
    return -1;
}

/* GET /admin/keys or /admin/teams: the config's first, then the store's. */
static void list(const cmx_gov_ops *ops, int teams, cmx_gov_reply *out)
{
    json_t *data = json_array();
    size_t n = !ops->cfg ? 0 : teams ? ops->cfg->n_teams : ops->cfg->n_keys;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, config_entry_json(ops, teams, i));
    cmx_store_snapshot snap;
    cmx_error err;
    if (cmx_store_load(ops->store, &snap, &err) != CMX_OK) {
        json_decref(data);
        fail_err(out, &err);
        return;
    }
    size_t m = teams ? snap.n_teams : snap.n_keys;
    for (size_t i = 0; i < m; i++) {
        const char *id = teams ? snap.teams[i].id : snap.keys[i].id;
        if (config_index(ops, teams, id) < 0)
            json_array_append_new(data, teams ? team_json(ops, &snap.teams[i], "store")
                                              : key_json(ops, &snap.keys[i], "store"));
    }
    cmx_store_snapshot_free(&snap);
    reply_json(out, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* GET /admin/keys/ID or /admin/teams/ID. */
static void get_one(const cmx_gov_ops *ops, int teams, const char *id, cmx_gov_reply *out)
{
    long at = config_index(ops, teams, id);
    json_t *j = NULL;
    cmx_error err;
    cmx_err rc = CMX_OK;
    if (at >= 0) {
        j = config_entry_json(ops, teams, (size_t)at);
    } else if (teams) {
        cmx_team_rec t;
        if ((rc = cmx_store_get_team(ops->store, id, &t, &err)) == CMX_OK)
            j = team_json(ops, &t, "store");
        cmx_team_rec_free(&t);
    } else {
        cmx_key_rec k;
        if ((rc = cmx_store_get_key(ops->store, id, &k, &err)) == CMX_OK)
            j = key_json(ops, &k, "store");
        cmx_key_rec_free(&k);
    }
    if (rc != CMX_OK)
        fail_err(out, &err);
    else
        reply_json(out, 200, j);
}

/* After an update was written: what changed goes to the audit log (the
 * budget on a record of its own), and the record is the answer. */
static void updated(const cmx_gov_ops *ops, const char *kind, const char *id, json_t *before,
                    json_t *after, const cmx_budget_rec *old_budget,
                    const cmx_budget_rec *new_budget, cmx_gov_reply *out)
{
    char action[40];
    json_t *diff = json_pack("{s:o}", "changes", changes(before, after));
    snprintf(action, sizeof action, "%s.updated", kind);
    audit(ops, action, kind, id, diff);
    json_decref(diff);
    if (budget_changed(old_budget, new_budget)) {
        json_t *b = budget_pair(old_budget, new_budget, ops->now_ms);
        snprintf(action, sizeof action, "%s.budget_changed", kind);
        audit(ops, action, kind, id, b);
        json_decref(b);
    }
    reply_json(out, 200, after);
    out->changed = 1;
}

/* A fresh secret, its digest and hint. */
static int new_secret(const cmx_gov_ops *ops, char secret[CMX_KEY_SECRET_LEN + 1],
                      char digest_hex[CMX_DIGEST_HEX], char hint[CMX_KEY_HINT_LEN],
                      cmx_gov_reply *out)
{
    cmx_error err;
    if (cmx_key_secret_new(secret, &err) != CMX_OK) {
        fail_err(out, &err);
        return -1;
    }
    uint8_t d[CMX_DIGEST_LEN];
    cmx_key_digest(ops->hasher, secret, strlen(secret), d);
    cmx_sha256_hex_of(d, digest_hex);
    cmx_key_hint(secret, hint);
    return 0;
}

static void reply_with_secret(const cmx_gov_ops *ops, int status, const cmx_key_rec *k,
                              char *secret, cmx_gov_reply *out)
{
    reply_json(out, status,
               json_pack("{s:o, s:s}", "key", key_json(ops, k, "store"), "secret", secret));
    explicit_bzero(secret, strlen(secret));
    out->changed = 1;
}

static void create_key(const cmx_gov_ops *ops, json_t *in, cmx_gov_reply *out)
{
    cmx_key_rec k = {0};
    cmx_error err;
    double warn = ops->cfg ? ops->cfg->governance.warn_at : 0.8;
    char secret[CMX_KEY_SECRET_LEN + 1], digest[CMX_DIGEST_HEX], hint[CMX_KEY_HINT_LEN];
    if (cmx_key_fields_apply(&k, in, 1, warn, ops->now_ms, &err) != CMX_OK) {
        fail_err(out, &err);
        goto done;
    }
    if (!k.id) {
        char hex[ID_HEX + 1];
        if (cmx_random_hex(hex, ID_HEX, &err) != CMX_OK || !(k.id = malloc(4 + ID_HEX + 1))) {
            fail(out, 500, CMX_ERR_INTERNAL, NULL, "cannot make a key id");
            goto done;
        }
        sprintf(k.id, "key_%s", hex);
    }
    if (config_index(ops, 0, k.id) >= 0) {
        fail(out, 409, CMX_ERR_CONFLICT, "conflict",
             "key '%.64s' is defined in the configuration file", k.id);
        goto done;
    }
    if (!team_exists(ops, k.team_id, out) || new_secret(ops, secret, digest, hint, out) != 0)
        goto done;
    k.hint = strdup(hint);
    k.created_ms = k.updated_ms = ops->now_ms;
    if (cmx_store_create_key(ops->store, &k, digest, &err) != CMX_OK) {
        explicit_bzero(secret, sizeof secret);
        fail_err(out, &err);
        goto done;
    }
    json_t *details = key_json(ops, &k, "store");
    audit(ops, "key.created", "key", k.id, details);
    json_decref(details);
    reply_with_secret(ops, 201, &k, secret, out);
done:
    cmx_key_rec_free(&k);
}

static void update_key(const cmx_gov_ops *ops, const char *id, json_t *in, cmx_gov_reply *out)
{
    if (fail_if_config(ops, "key", id, out))
        return;
    cmx_key_rec k;
    cmx_error err;
    if (cmx_store_get_key(ops->store, id, &k, &err) != CMX_OK) {
        fail_err(out, &err);
        return;
    }
    json_t *before = key_json(ops, &k, "store");
    cmx_budget_rec old_budget = k.budget;
    double warn = ops->cfg ? ops->cfg->governance.warn_at : 0.8;
    if (cmx_key_fields_apply(&k, in, 0, warn, ops->now_ms, &err) != CMX_OK) {
        fail_err(out, &err);
    } else if (team_exists(ops, k.team_id, out)) {
        k.updated_ms = ops->now_ms;
        if (cmx_store_update_key(ops->store, &k, &err) != CMX_OK) {
            fail_err(out, &err);
        } else {
            updated(ops, "key", id, before, key_json(ops, &k, "store"), &old_budget, &k.budget,
                    out);
        }
    }
    json_decref(before);
    cmx_key_rec_free(&k);
}

static int parse_grace(json_t *in, int64_t *grace_ms, cmx_gov_reply *out)
{
    *grace_ms = 0;
    json_t *g = in ? json_object_get(in, "grace") : NULL;
    if (in && (json_object_size(in) > (g ? 1u : 0u))) {
        fail(out, 400, CMX_ERR_BAD_REQUEST, "invalid_request",
             "rotate takes one optional field: grace");
        return -1;
    }
    if (!g)
        return 0;
    uint64_t ms;
    const char *s = json_string_value(g);
    if (!s || cmx_parse_duration_ms(s, &ms) != 0 || ms > 366ULL * 86400000) {
        fail(out, 400, CMX_ERR_BAD_REQUEST, "invalid_request",
             "'grace' must be a duration such as \"1h\" or \"30m\" (\"0s\": the old secret "
             "stops at once)");
        return -1;
    }
    *grace_ms = (int64_t)ms;
    return 0;
}

static void rotate_key(const cmx_gov_ops *ops, const char *id, json_t *in, cmx_gov_reply *out)
{
    int64_t grace;
    if (fail_if_config(ops, "key", id, out) || parse_grace(in, &grace, out) != 0)
        return;
    cmx_key_rec k;
    cmx_error err;
    char secret[CMX_KEY_SECRET_LEN + 1], digest[CMX_DIGEST_HEX], hint[CMX_KEY_HINT_LEN];
    if (cmx_store_get_key(ops->store, id, &k, &err) != CMX_OK) {
        fail_err(out, &err);
    } else if (k.revoked_ms) {
        fail(out, 409, CMX_ERR_CONFLICT, "key_revoked",
             "key '%.64s' is revoked; a revoked key cannot be rotated (create a new one)", id);
    } else if (new_secret(ops, secret, digest, hint, out) == 0) {
        if (cmx_store_rotate_key(ops->store, id, digest, hint, ops->now_ms, ops->now_ms + grace,
                                 &err) != CMX_OK) {
            explicit_bzero(secret, sizeof secret);
            fail_err(out, &err);
        } else {
            char ends[40];
            cmx_time_iso(ops->now_ms + grace, ends, sizeof ends);
            json_t *d = json_pack("{s:I, s:s, s:s}", "grace_ms", (json_int_t)grace,
                                  "old_secrets_end", ends, "hint", hint);
            audit(ops, "key.rotated", "key", id, d);
            json_decref(d);
            free(k.hint);
            k.hint = strdup(hint);
            k.updated_ms = ops->now_ms;
            reply_with_secret(ops, 200, &k, secret, out);
        }
    }
    cmx_key_rec_free(&k);
}

static void revoke_key(const cmx_gov_ops *ops, const char *id, cmx_gov_reply *out)
{
    if (fail_if_config(ops, "key", id, out))
        return;
    cmx_key_rec k;
    cmx_error err;
    if (cmx_store_get_key(ops->store, id, &k, &err) != CMX_OK) {
        fail_err(out, &err);
        return;
    }
    if (!k.revoked_ms) {
        k.revoked_ms = ops->now_ms;
        k.updated_ms = ops->now_ms;
        if (cmx_store_update_key(ops->store, &k, &err) != CMX_OK) {
            fail_err(out, &err);
            cmx_key_rec_free(&k);
            return;
        }
        audit(ops, "key.revoked", "key", id, NULL);
        out->changed = 1;
    }
    reply_json(out, 200, key_json(ops, &k, "store"));
    cmx_key_rec_free(&k);
}

/* ---- teams ----------------------------------------------------------------------- */

static void create_team(const cmx_gov_ops *ops, json_t *in, cmx_gov_reply *out)
{
    cmx_team_rec t = {0};
    cmx_error err;
    double warn = ops->cfg ? ops->cfg->governance.warn_at : 0.8;
    if (cmx_team_fields_apply(&t, in, 1, warn, &err) != CMX_OK) {
        fail_err(out, &err);
    } else if (config_index(ops, 1, t.id) >= 0) {
        fail(out, 409, CMX_ERR_CONFLICT, "conflict",
             "team '%.64s' is defined in the configuration file", t.id);
    } else {
        t.created_ms = t.updated_ms = ops->now_ms;
        if (cmx_store_create_team(ops->store, &t, &err) != CMX_OK) {
            fail_err(out, &err);
        } else {
            json_t *j = team_json(ops, &t, "store");
            audit(ops, "team.created", "team", t.id, j);
            reply_json(out, 201, j);
            out->changed = 1;
        }
    }
    cmx_team_rec_free(&t);
}

static void update_team(const cmx_gov_ops *ops, const char *id, json_t *in, cmx_gov_reply *out)
{
    if (fail_if_config(ops, "team", id, out))
        return;
    cmx_team_rec t;
    cmx_error err;
    if (cmx_store_get_team(ops->store, id, &t, &err) != CMX_OK) {
        fail_err(out, &err);
        return;
    }
    json_t *before = team_json(ops, &t, "store");
    cmx_budget_rec old_budget = t.budget;
    double warn = ops->cfg ? ops->cfg->governance.warn_at : 0.8;
    if (cmx_team_fields_apply(&t, in, 0, warn, &err) != CMX_OK) {
        fail_err(out, &err);
    } else {
        t.updated_ms = ops->now_ms;
        if (cmx_store_update_team(ops->store, &t, &err) != CMX_OK) {
            fail_err(out, &err);
        } else {
            updated(ops, "team", id, before, team_json(ops, &t, "store"), &old_budget, &t.budget,
                    out);
        }
    }
    json_decref(before);
    cmx_team_rec_free(&t);
}

/* ---- spend ------------------------------------------------------------------------ */

static void spend(const cmx_gov_ops *ops, const char *query, cmx_gov_reply *out)
{
    cmx_spend_request req;
    cmx_spend_report rep;
    cmx_error err;
    cmx_spend_request_init(&req);
    if (cmx_spend_request_parse_query(&req, query ? query : "", query ? strlen(query) : 0, &err) !=
            CMX_OK ||
        cmx_spend_request_finish(&req, ops->now_ms, &err) != CMX_OK ||
        cmx_store_report(ops->store, &req.query, &rep, &err) != CMX_OK) {
        fail_err(out, &err);
        return;
    }
    cmx_buf b = CMX_BUF_INIT;
    cmx_spend_print(&rep, req.format, &b);
    cmx_spend_report_free(&rep);
    if (!b.data) {
        fail(out, 500, CMX_ERR_NOMEM, NULL, "out of memory");
        return;
    }
    out->status = 200;
    out->body = b.data; /* the buffer's memory is the body's */
    out->content_type = cmx_spend_content_type(req.format);
}

/* ---- dispatch --------------------------------------------------------------------- */

static int method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

void cmx_gov_admin(const cmx_gov_ops *ops, const char *method, const char *path, const char *query,
                   const char *body, size_t body_len, cmx_gov_reply *out)
{
    memset(out, 0, sizeof *out);
    out->content_type = "application/json";
    route r = parse_route(path);
    static const char *const allow[] = {
        [R_NONE] = "",           [R_KEYS] = "GET, POST",  [R_KEY] = "GET, PATCH",
        [R_KEY_ROTATE] = "POST", [R_KEY_REVOKE] = "POST", [R_TEAMS] = "GET, POST",
        [R_TEAM] = "GET, PATCH", [R_SPEND] = "GET"};
    if (r.what == R_NONE) {
        fail(out, 404, CMX_ERR_NOT_FOUND, "unknown_url",
             "unknown admin path '%.100s'; see docs/governance.md for the admin API", path);
        return;
    }
    int get = method_is(method, "GET"), post = method_is(method, "POST"),
        patch = method_is(method, "PATCH");
    json_t *in = NULL;
    if ((post || patch) && body_len) {
        json_error_t jerr;
        in = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!in) {
            fail(out, 400, CMX_ERR_BAD_REQUEST, "invalid_json", "invalid JSON body: %s", jerr.text);
            return;
        }
    }
    if ((post || patch) && !in)
        in = json_object();
    /* A collection lists on GET and creates on POST; one record reads on GET
     * and updates on PATCH; rotate and revoke are POSTs. */
    int teams = r.what == R_TEAMS || r.what == R_TEAM;
    int collection = r.what == R_KEYS || r.what == R_TEAMS;
    int record = r.what == R_KEY || r.what == R_TEAM;
    if (collection && get)
        list(ops, teams, out);
    else if (collection && post)
        (teams ? create_team : create_key)(ops, in, out);
    else if (record && get)
        get_one(ops, teams, r.id, out);
    else if (record && patch)
        (teams ? update_team : update_key)(ops, r.id, in, out);
    else if (r.what == R_KEY_ROTATE && post)
        rotate_key(ops, r.id, body_len ? in : NULL, out);
    else if (r.what == R_KEY_REVOKE && post)
        revoke_key(ops, r.id, out);
    else if (r.what == R_SPEND && get)
        spend(ops, query, out);
    else {
        snprintf(out->allow, sizeof out->allow, "%s", allow[r.what]);
        fail(out, 405, CMX_ERR_METHOD, "method_not_allowed",
             "method %.16s not allowed on %.100s; use %s", method, path, allow[r.what]);
    }
    json_decref(in);
}

void cmx_gov_reply_free(cmx_gov_reply *r)
{
    free(r->body);
    r->body = NULL;
}
