/* teams.c — `cloudmux teams create|list|update|disable`: teams managed
 * against the config's store with the admin API's own operations (same
 * checks, same audit records), as `cloudmux keys` does for keys. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gov_cli.h"

static const char usage_text[] =
    "usage: cloudmux teams create  --config FILE --id ID [FIELDS] [--json]\n"
    "       cloudmux teams list    --config FILE [--json]\n"
    "       cloudmux teams update  --config FILE ID [FIELDS] [--enable|--disable]\n"
    "                              [--clear FIELD]... [--json]\n"
    "       cloudmux teams disable --config FILE ID [--json]\n"
    "FIELDS: [--name NAME] [--models GROUP,GLOB...] [--rpm N] [--tpm N] [--max-parallel N]\n"
    "        [--budget USD [--period 1d|7d|30d|monthly|total] [--budget-start TIME]\n"
    "        [--warn-at SHARE]] [--tag NAME=VALUE]...\n"
    "--clear takes models, rpm, tpm, max-parallel, budget or tags.\n";

static int usage(const char *why)
{
    return cmx_gov_cli_usage("teams", usage_text, why);
}

static void print_team_line(json_t *t)
{
    char budget[64];
    cmx_gov_budget_text(json_object_get(t, "budget"), budget, sizeof budget);
    printf("%-20s %-24s %-9s %-7s %s\n", json_string_value(json_object_get(t, "id")),
           json_string_value(json_object_get(t, "name")),
           json_is_true(json_object_get(t, "disabled")) ? "disabled" : "active",
           json_string_value(json_object_get(t, "source")), budget);
}

static void print_answer(const char *sub, json_t *root)
{
    if (strcmp(sub, "list") == 0) {
        printf("%-20s %-24s %-9s %-7s %s\n", "id", "name", "status", "source", "budget");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(root, "data"), i, t) print_team_line(t);
        return;
    }
    printf("%s team %s (%s)\n",
           strcmp(sub, "create") == 0    ? "created"
           : strcmp(sub, "disable") == 0 ? "disabled"
                                         : "updated",
           json_string_value(json_object_get(root, "id")),
           json_string_value(json_object_get(root, "name")));
}

int cmx_cmd_teams(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *sub = argv[1];
    int create = !strcmp(sub, "create"), list = !strcmp(sub, "list"),
        update = !strcmp(sub, "update"), disable = !strcmp(sub, "disable");
    if (!create && !list && !update && !disable)
        return usage("expected create, list, update or disable");
    const char *config = NULL, *id = NULL;
    int json = 0, rc = 2;
    json_t *body = json_object(), *budget = json_object();
    for (int i = 2; i < argc; i++) {
        int r = 0;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] != '-' && !id && (update || disable)) {
            id = argv[i];
        } else if ((create || update) &&
                   (r = cmx_gov_fields_flag("teams", CMX_GOV_FIELDS_TEAM, argc, argv, &i, body,
                                            budget)) != 0) {
            if (r < 0)
                goto done;
        } else {
            fprintf(stderr, "cloudmux teams: unexpected argument '%s'\n", argv[i]);
            rc = usage(NULL);
            goto done;
        }
    }
    if (!config || ((update || disable) && !id)) {
        rc = usage(!config ? "--config is required" : "which team? give its id");
        goto done;
    }
    if (cmx_gov_fields_finish("teams", body, budget) != 0)
        goto done;
    if (disable)
        json_object_set_new(body, "disabled", json_true());
    if (update && !json_object_size(body)) {
        rc = usage("nothing to change: give the fields to update");
        goto done;
    }
    char path[160];
    if (create || list)
        snprintf(path, sizeof path, "/admin/teams");
    else
        snprintf(path, sizeof path, "/admin/teams/%.64s", id);
    rc = cmx_gov_cli_request("teams", config,
                             create ? "POST"
                             : list ? "GET"
                                    : "PATCH",
                             path, list ? NULL : body, json, sub, print_answer);
done:
    json_decref(body);
    json_decref(budget);
    return rc;
}
