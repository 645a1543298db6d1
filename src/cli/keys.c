/* keys.c — `cloudmux keys create|list|rotate|revoke`: virtual keys managed
 * against the config's store, with the admin API's own operations (same
 * checks, same audit records), so a running gateway picks the change up
 * within governance.poll. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gov_cli.h"

static const char usage_text[] =
    "usage: cloudmux keys create --config FILE --name NAME [--id ID] [--team TEAM]\n"
    "                            [--models GROUP,GLOB...] [--rpm N] [--tpm N] [--max-parallel N]\n"
    "                            [--budget USD [--period 1d|7d|30d|monthly|total]\n"
    "                             [--budget-start TIME] [--warn-at SHARE]]\n"
    "                            [--expires TIME | --expires-in DURATION] [--residency TAG]\n"
    "                            [--tag NAME=VALUE]... [--json]\n"
    "       cloudmux keys list   --config FILE [--json]\n"
    "       cloudmux keys rotate --config FILE ID [--grace DURATION] [--json]\n"
    "       cloudmux keys revoke --config FILE ID [--json]\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "cloudmux keys: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

static int set_int(json_t *body, const char *field, const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || v < 0) {
        fprintf(stderr, "cloudmux keys: --%s expects a non-negative integer, got '%s'\n", field,
                text);
        return -1;
    }
    json_object_set_new(body, field, json_integer(v));
    return 0;
}

static int set_number(json_t *obj, const char *field, const char *flag, const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end) {
        fprintf(stderr, "cloudmux keys: %s expects a number, got '%s'\n", flag, text);
        return -1;
    }
    json_object_set_new(obj, field, json_real(v));
    return 0;
}

/* The create flags as the admin API's JSON body. */
static int create_body(int argc, char **argv, int *i, json_t *body, json_t *budget)
{
    const char *flag = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    static const char *const strings[][2] = {{"--name", "name"},
                                             {"--id", "id"},
                                             {"--team", "team"},
                                             {"--expires", "expires_at"},
                                             {"--expires-in", "expires_in"},
                                             {"--residency", "residency"}};
    if (!v)
        return -2;
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
        if (strcmp(flag, strings[k][0]) == 0) {
            json_object_set_new(body, strings[k][1], json_string(v));
            (*i)++;
            return 0;
        }
    int rc = -2;
    if (strcmp(flag, "--models") == 0) {
        json_t *list = json_array();
        char *copy = strdup(v);
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
            json_array_append_new(list, json_string(tok));
        free(copy);
        json_object_set_new(body, "models", list);
        rc = 0;
    } else if (strcmp(flag, "--rpm") == 0 || strcmp(flag, "--tpm") == 0) {
        rc = set_int(body, flag + 2, v);
    } else if (strcmp(flag, "--max-parallel") == 0) {
        rc = set_int(body, "max_parallel", v);
    } else if (strcmp(flag, "--budget") == 0) {
        rc = set_number(budget, "usd", flag, v);
    } else if (strcmp(flag, "--warn-at") == 0) {
        rc = set_number(budget, "warn_at", flag, v);
    } else if (strcmp(flag, "--period") == 0) {
        json_object_set_new(budget, "period", json_string(v));
        rc = 0;
    } else if (strcmp(flag, "--budget-start") == 0) {
        json_object_set_new(budget, "start", json_string(v));
        rc = 0;
    } else if (strcmp(flag, "--tag") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) {
            fprintf(stderr, "cloudmux keys: --tag expects NAME=VALUE, got '%s'\n", v);
            return -1;
        }
        json_t *tags = json_object_get(body, "tags");
        if (!tags)
            json_object_set_new(body, "tags", tags = json_object());
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
        json_object_set_new(tags, name, json_string(eq + 1));
        rc = 0;
    }
    if (rc == 0)
        (*i)++;
    return rc;
}

static void print_key_line(json_t *k)
{
    json_t *b = json_object_get(k, "budget");
    char budget[64] = "-";
    if (json_is_object(b)) {
        json_t *spent = json_object_get(b, "spent_usd");
        if (spent)
            snprintf(budget, sizeof budget, "$%.4f of $%.2f %s", json_number_value(spent),
                     json_number_value(json_object_get(b, "usd")),
                     json_string_value(json_object_get(b, "period")));
        else
            snprintf(budget, sizeof budget, "$%.2f %s",
                     json_number_value(json_object_get(b, "usd")),
                     json_string_value(json_object_get(b, "period")));
    }
    const char *team = json_string_value(json_object_get(k, "team"));
    printf("%-24s %-20s %-12s %-9s %-7s %s\n", json_string_value(json_object_get(k, "id")),
           json_string_value(json_object_get(k, "name")), team ? team : "-",
           json_string_value(json_object_get(k, "status")),
           json_string_value(json_object_get(k, "source")), budget);
}

static void print_reply(const char *sub, const char *body, int json)
{
    if (json) {
        printf("%s\n", body);
        return;
    }
    json_t *root = json_loads(body, 0, NULL);
    if (strcmp(sub, "list") == 0) {
        printf("%-24s %-20s %-12s %-9s %-7s %s\n", "id", "name", "team", "status", "source",
               "budget");
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(root, "data"), i, k) print_key_line(k);
    } else {
        json_t *key = json_object_get(root, "key");
        const char *secret = json_string_value(json_object_get(root, "secret"));
        if (!key)
            key = root;
        printf("%s key %s (%s)\n",
               strcmp(sub, "create") == 0   ? "created"
               : strcmp(sub, "rotate") == 0 ? "rotated"
                                            : "revoked",
               json_string_value(json_object_get(key, "id")),
               json_string_value(json_object_get(key, "name")));
        if (secret)
            printf("secret: %s\nStore it now: it is shown only this once.\n", secret);
    }
    json_decref(root);
}

int cmx_cmd_keys(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "rotate") &&
        strcmp(sub, "revoke"))
        return usage("expected create, list, rotate or revoke");
    const char *config = NULL, *id = NULL, *grace = NULL;
    int json = 0;
    json_t *body = json_object(), *budget = json_object();
    int rc = 2;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc && !strcmp(sub, "rotate")) {
            grace = argv[++i];
        } else if (argv[i][0] != '-' && !id && (!strcmp(sub, "rotate") || !strcmp(sub, "revoke"))) {
            id = argv[i];
        } else if (!strcmp(sub, "create") && argv[i][0] == '-') {
            int r = create_body(argc, argv, &i, body, budget);
            if (r == -1)
                goto done;
            if (r == -2) {
                fprintf(stderr, "cloudmux keys: unexpected argument '%s'\n", argv[i]);
                rc = usage(NULL);
                goto done;
            }
        } else {
            fprintf(stderr, "cloudmux keys: unexpected argument '%s'\n", argv[i]);
            rc = usage(NULL);
            goto done;
        }
    }
    if (!config || ((!strcmp(sub, "rotate") || !strcmp(sub, "revoke")) && !id)) {
        rc = usage(!config ? "--config is required" : "which key? give its id");
        goto done;
    }
    if (json_object_size(budget))
        json_object_set(body, "budget", budget);
    char path[160];
    const char *method = "POST";
    if (!strcmp(sub, "create")) {
        snprintf(path, sizeof path, "/admin/keys");
    } else if (!strcmp(sub, "list")) {
        snprintf(path, sizeof path, "/admin/keys");
        method = "GET";
    } else {
        snprintf(path, sizeof path, "/admin/keys/%.64s/%s", id, sub);
        json_object_clear(body);
        if (grace)
            json_object_set_new(body, "grace", json_string(grace));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    cmx_gov_cli g;
    if (cmx_gov_cli_open(&g, config, "keys") != 0) {
        free(text);
        rc = 1;
        goto done;
    }
    cmx_gov_reply reply;
    rc = cmx_gov_cli_run(&g, "keys", method, path, NULL, strcmp(method, "GET") ? text : NULL,
                         &reply);
    if (rc == 0) {
        print_reply(sub, reply.body, json);
        explicit_bzero(reply.body, strlen(reply.body));
        cmx_gov_reply_free(&reply);
    }
    cmx_gov_cli_close(&g);
    free(text);
done:
    json_decref(body);
    json_decref(budget);
    return rc;
}
