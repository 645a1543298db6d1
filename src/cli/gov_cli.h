/* gov_cli.h — what `cloudmux keys` and `cloudmux spend` share: the config's
 * store and audit log opened for one command, and the admin operations run
 * against them exactly as the gateway's admin API runs them. */
#ifndef CMX_CLI_GOV_CLI_H
#define CMX_CLI_GOV_CLI_H

#include "config/config.h"
#include "governance/admin_ops.h"

typedef struct cmx_gov_cli {
    cmx_config *cfg;
    cmx_store *store;
    cmx_audit *audit;
    cmx_key_hasher hasher;
    char actor[64];
} cmx_gov_cli;

/* Loads the config and opens its store (and audit log); prints why not and
 * returns -1. */
int cmx_gov_cli_open(cmx_gov_cli *g, const char *config_path, const char *command);
void cmx_gov_cli_close(cmx_gov_cli *g);

/* Runs one admin operation; on error prints "cloudmux CMD: message" and
 * returns 1.  On success *reply holds the body (free it with
 * cmx_gov_reply_free) and 0 is returned. */
int cmx_gov_cli_run(cmx_gov_cli *g, const char *command, const char *method, const char *path,
                    const char *query, const char *body, cmx_gov_reply *reply);

#endif
