/* admin_records.c — JSON fields onto key and team records and back; see
 * admin_records.h.
 *
 * Every field is checked the way the config checks its counterpart, and a
 * wrong one is refused with its name and what was expected.  `null` clears
 * a field (no team, no budget, no expiry, every group).  Unknown fields are
 * refused, so a typo never silently does nothing. */
#include "governance/admin_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"
#include "governance/period.h"

#define MAX_NAME 200
#define MAX_MODELS 256
#define MAX_TAGS 64
#define MAX_ID 64

static const char *const key_fields[] = {
    "id",     "name",       "team",       "models",    "rpm",      "tpm",  "max_parallel",
    "budget", "expires_at", "expires_in", "residency", "disabled", "tags", NULL};
static const char *const team_fields[] = {"id",           "name",   "models",   "rpm",  "tpm",
                                          "max_parallel", "budget", "disabled", "tags", NULL};

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

static cmx_err bad(cmx_error *err, const char *field, const char *expected)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "'%s' must be %s", field, expected);
}

static cmx_err check_fields(json_t *in, const char *const *allowed, cmx_error *err)
{
    if (!json_is_object(in))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "the body must be a JSON object");
    const char *name;
    json_t *v;
    json_object_foreach(in, name, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], name) != 0)
            i++;
        if (!allowed[i]) {
            char list[240] = "";
            for (size_t j = 0, at = 0; allowed[j] && at < sizeof list; j++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "",
                                       allowed[j]);
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "unknown field '%.40s'; the fields are %s", name, list);
        }
    }
    return CMX_OK;
}

/* Replaces *out with a copy of a string field (NULL when json null and nullable). */
static cmx_err set_string(json_t *in, const char *field, int nullable, size_t max,
                          int (*valid)(const char *), const char *expected, char **out,
                          cmx_error *err)
{
    json_t *v = json_object_get(in, field);
    if (!v)
        return CMX_OK;
    if (json_is_null(v) && nullable) {
        free(*out);
        *out = NULL;
        return CMX_OK;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > max || (valid && !valid(s)))
        return bad(err, field, expected);
    char *copy = strdup(s);
    if (!copy)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    free(*out);
    *out = copy;
    return CMX_OK;
}

static cmx_err set_limit(json_t *in, const char *field, int64_t max, int64_t *out, cmx_error *err)
{
    json_t *v = json_object_get(in, field);
    if (!v)
        return CMX_OK;
    if (json_is_null(v)) {
        *out = 0;
        return CMX_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return bad(err, field, "a non-negative integer (0 or null: no limit)");
    *out = json_integer_value(v);
    return CMX_OK;
}

static cmx_err set_models(json_t *in, char **out, cmx_error *err)
{
    json_t *v = json_object_get(in, "models");
    if (!v)
        return CMX_OK;
    static const char expected[] = "a list of model group names or globs (null: every group)";
    if (!json_is_null(v) && (!json_is_array(v) || json_array_size(v) > MAX_MODELS))
        return bad(err, "models", expected);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (!s || !*s || strlen(s) > 256)
            return bad(err, "models", expected);
    }
    free(*out);
    *out = json_is_array(v) && json_array_size(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    return CMX_OK;
}

static cmx_err set_tags(json_t *in, char **out, cmx_error *err)
{
    json_t *v = json_object_get(in, "tags");
    if (!v)
        return CMX_OK;
    static const char expected[] = "an object of string values (null: none)";
    if (!json_is_null(v) && (!json_is_object(v) || json_object_size(v) > MAX_TAGS))
        return bad(err, "tags", expected);
    const char *name;
    json_t *item;
    json_object_foreach(v, name, item)
    {
        if (!json_is_string(item) || strlen(name) > 64 || strlen(json_string_value(item)) > 256)
            return bad(err, "tags", expected);
    }
    free(*out);
    *out = json_is_object(v) && json_object_size(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)
                                                    : NULL;
    return CMX_OK;
}

static cmx_err set_budget(json_t *in, double default_warn_at, cmx_budget_rec *b, cmx_error *err)
{
    json_t *v = json_object_get(in, "budget");
    if (!v)
        return CMX_OK;
    if (json_is_null(v)) {
        memset(b, 0, sizeof *b);
        return CMX_OK;
    }
    static const char *const fields[] = {"usd", "period", "start", "warn_at", NULL};
    if (!json_is_object(v))
        return bad(err, "budget",
                   "an object such as {\"usd\": 100, \"period\": \"monthly\"} (null: none)");
    if (check_fields(v, fields, err) != CMX_OK)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "budget: %s", err->message);
    cmx_budget_rec nb = {0};
    nb.set = 1;
    json_t *usd = json_object_get(v, "usd");
    if (!json_is_number(usd) || json_number_value(usd) < 0 || json_number_value(usd) > 1e12)
        return bad(err, "budget.usd", "a number of US dollars, 0 or more");
    nb.usd = json_number_value(usd);
    const char *period = json_string_value(json_object_get(v, "period"));
    cmx_period_kind kind;
    uint32_t days;
    if (json_object_get(v, "period") &&
        (!period || cmx_parse_budget_period(period, &kind, &days) != 0))
        return bad(err, "budget.period", "1d, 7d, 30d (any number of days), monthly or total");
    snprintf(nb.period, sizeof nb.period, "%s", period ? period : "monthly");
    nb.start_ms = CMX_DEFAULT_PERIOD_ANCHOR_MS;
    json_t *start = json_object_get(v, "start");
    if (start &&
        (!json_is_string(start) || cmx_parse_time_ms(json_string_value(start), &nb.start_ms) != 0 ||
         nb.start_ms % 3600000 != 0))
        return bad(err, "budget.start", "a UTC time on the hour, such as \"2026-01-01\"");
    nb.warn_at = default_warn_at;
    json_t *warn = json_object_get(v, "warn_at");
    if (warn &&
        (!json_is_number(warn) || json_number_value(warn) < 0 || json_number_value(warn) > 1))
        return bad(err, "budget.warn_at", "a share of the budget from 0 to 1, such as 0.8");
    if (warn)
        nb.warn_at = json_number_value(warn);
    *b = nb;
    return CMX_OK;
}

static int valid_residency(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static cmx_err set_expiry(json_t *in, int64_t now_ms, int64_t *out, cmx_error *err)
{
    json_t *at = json_object_get(in, "expires_at"), *in_ = json_object_get(in, "expires_in");
    if (at && in_)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "give expires_at or expires_in, not both");
    if (at) {
        if (json_is_null(at)) {
            *out = 0;
            return CMX_OK;
        }
        if (!json_is_string(at) || cmx_parse_time_ms(json_string_value(at), out) != 0)
            return bad(err, "expires_at",
                       "a UTC time such as \"2026-12-31T23:59:59Z\" (null: never)");
    }
    if (in_) {
        uint64_t ms;
        const char *s = json_string_value(in_);
        size_t n = s ? strlen(s) : 0;
        int ok = 0;
        if (n > 1 && s[n - 1] == 'd') {
            char digits[16];
            uint64_t days;
            if (n - 1 < sizeof digits) {
                memcpy(digits, s, n - 1);
                digits[n - 1] = '\0';
                ok = cmx_parse_uint(digits, &days) == 0 && days > 0 && days <= 36600;
                ms = days * 86400000ULL;
            }
        } else if (s) {
            ok = cmx_parse_duration_ms(s, &ms) == 0 && ms > 0;
        }
        if (!ok)
            return bad(err, "expires_in", "a duration such as \"30d\" or \"12h\"");
        *out = now_ms + (int64_t)ms;
    }
    return CMX_OK;
}

static cmx_err set_disabled(json_t *in, int *out, cmx_error *err)
{
    json_t *v = json_object_get(in, "disabled");
    if (!v)
        return CMX_OK;
    if (!json_is_boolean(v))
        return bad(err, "disabled", "true or false");
    *out = json_is_true(v);
    return CMX_OK;
}

cmx_err cmx_key_fields_apply(cmx_key_rec *k, json_t *in, int creating, double default_warn_at,
                             int64_t now_ms, cmx_error *err)
{
    static const char id_expected[] = "1 to 64 letters, digits, '-', '_' or '.'";
    if (check_fields(in, key_fields, err) != CMX_OK)
        return err->kind;
    if (!creating && json_object_get(in, "id"))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "a key's id cannot be changed");
    if (creating && !json_is_string(json_object_get(in, "name")))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "'name' is required: say what the key is for");
    cmx_err rc;
    if ((rc = set_string(in, "id", 0, MAX_ID, valid_id, id_expected, &k->id, err)) ||
        (rc = set_string(in, "name", 0, MAX_NAME, NULL, "a non-empty string", &k->name, err)) ||
        (rc = set_string(in, "team", 1, MAX_ID, valid_id, "a team id (null: no team)", &k->team_id,
                         err)) ||
        (rc = set_string(in, "residency", 1, 32, valid_residency,
                         "a region tag of lower-case letters, digits or '-' (null: none)",
                         &k->residency, err)) ||
        (rc = set_models(in, &k->models_json, err)) || (rc = set_tags(in, &k->tags_json, err)) ||
        (rc = set_limit(in, "rpm", INT64_MAX / 2, &k->limits.rpm, err)) ||
        (rc = set_limit(in, "tpm", INT64_MAX / 2, &k->limits.tpm, err)) ||
        (rc = set_limit(in, "max_parallel", 1000000, &k->limits.max_parallel, err)) ||
        (rc = set_budget(in, default_warn_at, &k->budget, err)) ||
        (rc = set_expiry(in, now_ms, &k->expires_ms, err)) ||
        (rc = set_disabled(in, &k->disabled, err)))
        return rc;
    return CMX_OK;
}

cmx_err cmx_team_fields_apply(cmx_team_rec *t, json_t *in, int creating, double default_warn_at,
                              cmx_error *err)
{
    static const char id_expected[] = "1 to 64 letters, digits, '-', '_' or '.'";
    if (check_fields(in, team_fields, err) != CMX_OK)
        return err->kind;
    if (!creating && json_object_get(in, "id"))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "a team's id cannot be changed");
    if (creating && !json_is_string(json_object_get(in, "id")))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "'id' is required (such as \"web\")");
    cmx_err rc;
    if ((rc = set_string(in, "id", 0, MAX_ID, valid_id, id_expected, &t->id, err)) ||
        (rc = set_string(in, "name", 0, MAX_NAME, NULL, "a non-empty string", &t->name, err)) ||
        (rc = set_models(in, &t->models_json, err)) || (rc = set_tags(in, &t->tags_json, err)) ||
        (rc = set_limit(in, "rpm", INT64_MAX / 2, &t->limits.rpm, err)) ||
        (rc = set_limit(in, "tpm", INT64_MAX / 2, &t->limits.tpm, err)) ||
        (rc = set_limit(in, "max_parallel", 1000000, &t->limits.max_parallel, err)) ||
        (rc = set_budget(in, default_warn_at, &t->budget, err)) ||
        (rc = set_disabled(in, &t->disabled, err)))
        return rc;
    if (!t->name && t->id && !(t->name = strdup(t->id)))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

/* ---- records to JSON -------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    char buf[40];
    cmx_time_iso(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *time_or_null(int64_t ms)
{
    return ms ? time_json(ms) : json_null();
}

static json_t *parsed_or(const char *text, json_t *fallback)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (v) {
        json_decref(fallback);
        return v;
    }
    return fallback;
}

static json_t *limit_or_null(int64_t v)
{
    return v > 0 ? json_integer(v) : json_null();
}

json_t *cmx_budget_rec_json(const cmx_budget_rec *b, double spent, int64_t now_ms)
{
    if (!b->set)
        return json_null();
    json_t *o = json_pack("{s:f, s:s, s:o, s:f}", "usd", b->usd, "period", b->period, "start",
                          time_json(b->start_ms), "warn_at", b->warn_at);
    if (spent >= 0) {
        cmx_period p;
        int64_t start, end;
        json_object_set_new(o, "spent_usd", json_real(spent));
        if (cmx_period_from_text(b->period, b->start_ms, &p) == 0) {
            cmx_period_window(&p, now_ms, &start, &end);
            json_object_set_new(o, "period_start", time_or_null(start));
            json_object_set_new(o, "resets_at",
                                end == CMX_PERIOD_NEVER ? json_null() : time_or_null(end));
        }
    }
    return o;
}

json_t *cmx_key_rec_json(const cmx_key_rec *k, const char *source, double spent_usd, int64_t now_ms)
{
    const char *status = k->revoked_ms                              ? "revoked"
                         : k->expires_ms && k->expires_ms <= now_ms ? "expired"
                         : k->disabled                              ? "disabled"
                                                                    : "active";
    return json_pack(
        "{s:s, s:s, s:s?, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s?, s:b, s:o, s:o, s:s?, s:s, "
        "s:o, s:o}",
        "id", k->id, "name", k->name, "team", k->team_id, "status", status, "models",
        parsed_or(k->models_json, json_null()), "rpm", limit_or_null(k->limits.rpm), "tpm",
        limit_or_null(k->limits.tpm), "max_parallel", limit_or_null(k->limits.max_parallel),
        "budget", cmx_budget_rec_json(&k->budget, spent_usd, now_ms), "expires_at",
        time_or_null(k->expires_ms), "residency", k->residency, "disabled", k->disabled,
        "revoked_at", time_or_null(k->revoked_ms), "tags", parsed_or(k->tags_json, json_object()),
        "hint", k->hint, "source", source, "created_at", time_or_null(k->created_ms), "updated_at",
        time_or_null(k->updated_ms));
}

json_t *cmx_team_rec_json(const cmx_team_rec *t, const char *source, double spent_usd,
                          int64_t now_ms)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:s, s:o, s:o}", "id", t->id,
                     "name", t->name, "models", parsed_or(t->models_json, json_null()), "rpm",
                     limit_or_null(t->limits.rpm), "tpm", limit_or_null(t->limits.tpm),
                     "max_parallel", limit_or_null(t->limits.max_parallel), "budget",
                     cmx_budget_rec_json(&t->budget, spent_usd, now_ms), "disabled", t->disabled,
                     "tags", parsed_or(t->tags_json, json_object()), "source", source, "created_at",
                     time_or_null(t->created_ms), "updated_at", time_or_null(t->updated_ms));
}

/* ---- config entries as records ---------------------------------------------- */

static char *models_text(const cmx_principal_config *c)
{
    if (!c->n_models)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_models; i++)
        json_array_append_new(a, json_string(c->models[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *tags_text(const cmx_principal_config *c)
{
    if (!c->n_tags)
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < c->n_tags; i++)
        json_object_set_new(o, c->tag_names[i], json_string(c->tag_values[i]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static void budget_from_config(const cmx_budget_config *c, cmx_budget_rec *b)
{
    memset(b, 0, sizeof *b);
    if (!c->set)
        return;
    b->set = 1;
    b->usd = c->usd;
    snprintf(b->period, sizeof b->period, "%s", c->period);
    b->start_ms = c->start_ms;
    b->warn_at = c->warn_at;
}

int cmx_team_rec_from_config(const cmx_principal_config *c, cmx_team_rec *out)
{
    memset(out, 0, sizeof *out);
    out->id = strdup(c->id);
    out->name = strdup(c->name ? c->name : c->id);
    out->models_json = models_text(c);
    out->tags_json = tags_text(c);
    out->limits.rpm = (int64_t)c->rpm;
    out->limits.tpm = (int64_t)c->tpm;
    out->limits.max_parallel = c->max_parallel;
    out->disabled = c->disabled;
    budget_from_config(&c->budget, &out->budget);
    return out->id && out->name ? 0 : -1;
}

int cmx_key_rec_from_config(const cmx_vkey_config *c, cmx_key_rec *out)
{
    memset(out, 0, sizeof *out);
    out->id = strdup(c->p.id);
    out->name = strdup(c->p.name ? c->p.name : c->p.id);
    out->team_id = c->team ? strdup(c->team) : NULL;
    out->residency = c->residency ? strdup(c->residency) : NULL;
    out->models_json = models_text(&c->p);
    out->tags_json = tags_text(&c->p);
    out->limits.rpm = (int64_t)c->p.rpm;
    out->limits.tpm = (int64_t)c->p.tpm;
    out->limits.max_parallel = c->p.max_parallel;
    out->disabled = c->p.disabled;
    out->expires_ms = c->expires_ms;
    budget_from_config(&c->p.budget, &out->budget);
    return out->id && out->name ? 0 : -1;
}
