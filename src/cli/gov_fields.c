/* gov_fields.c — the flags of `cloudmux keys` and `cloudmux teams` that set
 * a key's or a team's fields, turned into the admin API's JSON body.  The
 * flags only carry values over: the admin operations check them, so the
 * command line and the API refuse the same things with the same messages.
 * See gov_cli.h. */
#include "gov_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flags with a string value, and the field each sets. */
typedef struct string_flag {
    const char *flag, *field;
    int keys_only;
} string_flag;

static const string_flag string_flags[] = {
    {"--name", "name", 0},
    {"--id", "id", 0},
    {"--team", "team", 1},
    {"--expires", "expires_at", 1},
    {"--expires-in", "expires_in", 1},
    {"--residency", "residency", 1},
};

/* What --clear takes, and the field it sets to null. */
static const string_flag clearable[] = {
    {"team", "team", 1},
    {"models", "models", 0},
    {"rpm", "rpm", 0},
    {"tpm", "tpm", 0},
    {"max-parallel", "max_parallel", 0},
    {"max_parallel", "max_parallel", 0},
    {"budget", "budget", 0},
    {"expires", "expires_at", 1},
    {"expires_at", "expires_at", 1},
    {"residency", "residency", 1},
    {"tags", "tags", 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int set_int(const char *command, json_t *body, const char *field, const char *flag,
                   const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || v < 0) {
        fprintf(stderr, "cloudmux %s: %s expects a non-negative integer, got '%s'\n", command, flag,
                text);
        return -1;
    }
    json_object_set_new(body, field, json_integer(v));
    return 1;
}

static int set_number(const char *command, json_t *obj, const char *field, const char *flag,
                      const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end) {
        fprintf(stderr, "cloudmux %s: %s expects a number, got '%s'\n", command, flag, text);
        return -1;
    }
    json_object_set_new(obj, field, json_real(v));
    return 1;
}

static int set_models(json_t *body, const char *list_text)
{
    json_t *list = json_array();
    char *copy = strdup(list_text);
    if (!list || !copy) {
        json_decref(list);
        free(copy);
        return -1;
    }
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        json_array_append_new(list, json_string(tok));
    free(copy);
    json_object_set_new(body, "models", list);
    return 1;
}

static int set_tag(const char *command, json_t *body, const char *v)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v) {
        fprintf(stderr, "cloudmux %s: --tag expects NAME=VALUE, got '%s'\n", command, v);
        return -1;
    }
    json_t *tags = json_object_get(body, "tags");
    if (!json_is_object(tags))
        json_object_set_new(body, "tags", tags = json_object());
    char name[80];
    snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
    json_object_set_new(tags, name, json_string(eq + 1));
    return 1;
}

static int clear_field(const char *command, cmx_gov_fields_kind kind, json_t *body,
                       const char *what)
{
    for (size_t k = 0; k < COUNT(clearable); k++)
        if (strcmp(what, clearable[k].flag) == 0 &&
            (kind == CMX_GOV_FIELDS_KEY || !clearable[k].keys_only)) {
            json_object_set_new(body, clearable[k].field, json_null());
            return 1;
        }
    fprintf(stderr, "cloudmux %s: --clear takes %s; got '%s'\n", command,
            kind == CMX_GOV_FIELDS_KEY
                ? "team, models, rpm, tpm, max-parallel, budget, expires, residency or tags"
                : "models, rpm, tpm, max-parallel, budget or tags",
            what);
    return -1;
}

int cmx_gov_fields_flag(const char *command, cmx_gov_fields_kind kind, int argc, char **argv,
                        int *i, json_t *body, json_t *budget)
{
    const char *flag = argv[*i];
    if (strcmp(flag, "--disable") == 0 || strcmp(flag, "--enable") == 0) {
        json_object_set_new(body, "disabled", json_boolean(strcmp(flag, "--disable") == 0));
        return 1;
    }
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    int rc = 0;
    for (size_t k = 0; k < COUNT(string_flags) && !rc; k++)
        if (strcmp(flag, string_flags[k].flag) == 0 &&
            (kind == CMX_GOV_FIELDS_KEY || !string_flags[k].keys_only)) {
            if (v)
                json_object_set_new(body, string_flags[k].field, json_string(v));
            rc = 1;
        }
    if (rc) {
    } else if (strcmp(flag, "--models") == 0) {
        rc = v ? set_models(body, v) : 1;
    } else if (strcmp(flag, "--rpm") == 0 || strcmp(flag, "--tpm") == 0) {
        rc = v ? set_int(command, body, flag + 2, flag, v) : 1;
    } else if (strcmp(flag, "--max-parallel") == 0) {
        rc = v ? set_int(command, body, "max_parallel", flag, v) : 1;
    } else if (strcmp(flag, "--budget") == 0) {
        rc = v ? set_number(command, budget, "usd", flag, v) : 1;
    } else if (strcmp(flag, "--warn-at") == 0) {
        rc = v ? set_number(command, budget, "warn_at", flag, v) : 1;
    } else if (strcmp(flag, "--period") == 0 || strcmp(flag, "--budget-start") == 0) {
        if (v)
            json_object_set_new(budget, flag[2] == 'p' ? "period" : "start", json_string(v));
        rc = 1;
    } else if (strcmp(flag, "--tag") == 0) {
        rc = v ? set_tag(command, body, v) : 1;
    } else if (strcmp(flag, "--clear") == 0) {
        rc = v ? clear_field(command, kind, body, v) : 1;
    } else {
        return 0;
    }
    if (rc == 1 && !v) {
        fprintf(stderr, "cloudmux %s: %s needs a value\n", command, flag);
        return -1;
    }
    if (rc == 1)
        (*i)++;
    return rc;
}

int cmx_gov_fields_finish(const char *command, json_t *body, json_t *budget)
{
    if (!json_object_size(budget))
        return 0;
    if (json_is_null(json_object_get(body, "budget"))) {
        fprintf(stderr, "cloudmux %s: --clear budget and budget flags do not go together\n",
                command);
        return -1;
    }
    json_object_set(body, "budget", budget);
    return 0;
}

void cmx_gov_budget_text(json_t *b, char *out, size_t len)
{
    snprintf(out, len, "-");
    if (!json_is_object(b))
        return;
    json_t *spent = json_object_get(b, "spent_usd");
    const char *period = json_string_value(json_object_get(b, "period"));
    double usd = json_number_value(json_object_get(b, "usd"));
    if (spent)
        snprintf(out, len, "$%.4f of $%.2f %s", json_number_value(spent), usd,
                 period ? period : "");
    else
        snprintf(out, len, "$%.2f %s", usd, period ? period : "");
}
