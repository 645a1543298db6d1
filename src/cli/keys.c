/* keys.c — `cloudmux keys create|list|update|rotate|revoke`: virtual keys
 * managed against the config's store, with the admin API's own operations
 * (same checks, same audit records), so a running gateway picks the change
 * up within governance.poll. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gov_cli.h"

static const char usage_text[] =
    "usage: cloudmux keys create --config FILE --name NAME [--id ID] [FIELDS] [--json]\n"
    "       cloudmux keys list   --config FILE [--json]\n"
    "       cloudmux keys update --config FILE ID [FIELDS] [--enable|--disable]\n"
    "                            [--clear FIELD]... [--json]\n"
    "       cloudmux keys rotate --config FILE ID [--grace DURATION] [--json]\n"
    "       cloudmux keys revoke --config FILE ID [--json]\n"
    "FIELDS: [--name NAME] [--team TEAM] [--models GROUP,GLOB...] [--rpm N] [--tpm N]\n"
    "        [--max-parallel N] [--budget USD [--period 1d|7d|30d|monthly|total]\n"
    "        [--budget-start TIME] [--warn-at SHARE]] [--expires TIME | --expires-in DURATION]\n"
    "        [--residency TAG] [--tag NAME=VALUE]...\n"
    "--clear takes team, models, rpm, tpm, max-parallel, budget, expires, residency or tags.\n";

static int usage(const char *why)
{
    return cmx_gov_cli_usage("keys", usage_text, why);
}

static void print_key_line(json_t *k)
{
    char budget[64];
    cmx_gov_budget_text(json_object_get(k, "budget"), budget, sizeof budget);
    const char *team = json_string_value(json_object_get(k, "team"));
    printf("%-24s %-20s %-12s %-9s %-7s %s\n", json_string_value(json_object_get(k, "id")),
           json_string_value(json_object_get(k, "name")), team ? team : "-",
           json_string_value(json_object_get(k, "status")),
           json_string_value(json_object_get(k, "source")), budget);
}

static void print_answer(const char *sub, json_t *root)
{
    if (strcmp(sub, "list") == 0) {
        printf("%-24s %-20s %-12s %-9s %-7s %s\n", "id", "name", "team", "status", "source",
               "budget");
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(root, "data"), i, k) print_key_line(k);
        return;
    }
    json_t *key = json_object_get(root, "key");
    const char *secret = json_string_value(json_object_get(root, "secret"));
    if (!key)
        key = root;
    printf("%s key %s (%s)\n",
           strcmp(sub, "create") == 0   ? "created"
           : strcmp(sub, "rotate") == 0 ? "rotated"
           : strcmp(sub, "update") == 0 ? "updated"
                                        : "revoked",
           json_string_value(json_object_get(key, "id")),
           json_string_value(json_object_get(key, "name")));
    if (secret)
        printf("secret: %s\nStore it now: it is shown only this once.\n", secret);
}

int cmx_cmd_keys(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *sub = argv[1];
    int create = !strcmp(sub, "create"), list = !strcmp(sub, "list"),
        update = !strcmp(sub, "update"), rotate = !strcmp(sub, "rotate"),
        revoke = !strcmp(sub, "revoke");
    if (!create && !list && !update && !rotate && !revoke)
        return usage("expected create, list, update, rotate or revoke");
    const char *config = NULL, *id = NULL;
    int json = 0, rc = 2;
    json_t *body = json_object(), *budget = json_object();
    for (int i = 2; i < argc; i++) {
        int r = 0;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc && rotate) {
            json_object_set_new(body, "grace", json_string(argv[++i]));
        } else if (argv[i][0] != '-' && !id && (update || rotate || revoke)) {
            id = argv[i];
        } else if ((create || update) && (r = cmx_gov_fields_flag("keys", CMX_GOV_FIELDS_KEY, argc,
                                                                  argv, &i, body, budget)) != 0) {
            if (r < 0)
                goto done;
        } else {
            fprintf(stderr, "cloudmux keys: unexpected argument '%s'\n", argv[i]);
            rc = usage(NULL);
            goto done;
        }
    }
    if (!config || (!create && !list && !id)) {
        rc = usage(!config ? "--config is required" : "which key? give its id");
        goto done;
    }
    if (cmx_gov_fields_finish("keys", body, budget) != 0)
        goto done;
    if (update && !json_object_size(body)) {
        rc = usage("nothing to change: give the fields to update");
        goto done;
    }
    char path[160];
    const char *method = create ? "POST" : list ? "GET" : update ? "PATCH" : "POST";
    if (create || list)
        snprintf(path, sizeof path, "/admin/keys");
    else if (update)
        snprintf(path, sizeof path, "/admin/keys/%.64s", id);
    else
        snprintf(path, sizeof path, "/admin/keys/%.64s/%s", id, sub);
    rc = cmx_gov_cli_request("keys", config, method, path, list ? NULL : body, json, sub,
                             print_answer);
done:
    json_decref(body);
    json_decref(budget);
    return rc;
}
