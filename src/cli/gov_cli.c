/* gov_cli.c — opening the store for a command; see gov_cli.h. */
#include "gov_cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/clock.h"

int cmx_gov_cli_open(cmx_gov_cli *g, const char *config_path, const char *command)
{
    memset(g, 0, sizeof *g);
    g->cfg = cmx_cli_load_config(config_path);
    if (!g->cfg)
        return -1;
    if (!g->cfg->governance.enabled) {
        fprintf(stderr,
                "cloudmux %s: %s has no governance section: keys, budgets and the ledger need "
                "one (see docs/governance.md)\n",
                command, config_path);
        cmx_gov_cli_close(g);
        return -1;
    }
    cmx_error err;
    g->store = cmx_store_open(g->cfg->governance.store, &err);
    if (!g->store) {
        fprintf(stderr, "cloudmux %s: %s\n", command, err.message);
        cmx_gov_cli_close(g);
        return -1;
    }
    if (g->cfg->audit.file) {
        cmx_audit_settings as = {
            g->cfg->audit.file, g->cfg->audit.checkpoint_file, g->cfg->audit.hmac_key,
            g->cfg->audit.fsync == CMX_AUDIT_FSYNC_ALWAYS, g->cfg->audit.rotate_bytes};
        if (!(g->audit = cmx_audit_open(&as, &err))) {
            fprintf(stderr, "cloudmux %s: %s\n", command, err.message);
            cmx_gov_cli_close(g);
            return -1;
        }
    }
    cmx_key_hasher_init(&g->hasher, g->cfg->governance.pepper);
    struct passwd *pw = getpwuid(getuid());
    snprintf(g->actor, sizeof g->actor, "cli:%.40s", pw && pw->pw_name ? pw->pw_name : "unknown");
    return 0;
}

void cmx_gov_cli_close(cmx_gov_cli *g)
{
    cmx_audit_close(g->audit, (int64_t)cmx_wall_ms());
    cmx_store_close(g->store);
    cmx_key_hasher_wipe(&g->hasher);
    cmx_config_unref(g->cfg);
    memset(g, 0, sizeof *g);
}

int cmx_gov_cli_run(cmx_gov_cli *g, const char *command, const char *method, const char *path,
                    const char *query, const char *body, cmx_gov_reply *reply)
{
    cmx_gov_ops ops = {g->store, g->audit, g->cfg, &g->hasher, (int64_t)cmx_wall_ms(),
                       g->actor, NULL,     NULL};
    cmx_gov_admin(&ops, method, path, query, body, body ? strlen(body) : 0, reply);
    if (reply->kind != CMX_OK) {
        fprintf(stderr, "cloudmux %s: %s\n", command, reply->message);
        cmx_gov_reply_free(reply);
        return 1;
    }
    return 0;
}

int cmx_gov_cli_request(const char *command, const char *config_path, const char *method,
                        const char *path, json_t *body, int json, const char *sub,
                        void (*print)(const char *sub, json_t *answer))
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        fprintf(stderr, "cloudmux %s: out of memory\n", command);
        return 1;
    }
    cmx_gov_cli g;
    if (cmx_gov_cli_open(&g, config_path, command) != 0) {
        free(text);
        return 1;
    }
    cmx_gov_reply reply;
    int rc = cmx_gov_cli_run(&g, command, method, path, NULL, text, &reply);
    if (rc == 0) {
        if (json) {
            printf("%s\n", reply.body);
        } else {
            json_t *answer = json_loads(reply.body, 0, NULL);
            print(sub, answer);
            json_decref(answer);
        }
        /* It may hold a key's secret, shown once. */
        explicit_bzero(reply.body, strlen(reply.body));
        cmx_gov_reply_free(&reply);
    }
    cmx_gov_cli_close(&g);
    free(text);
    return rc;
}

int cmx_gov_cli_usage(const char *command, const char *usage_text, const char *why)
{
    if (why)
        fprintf(stderr, "cloudmux %s: %s\n", command, why);
    fputs(usage_text, stderr);
    return 2;
}
