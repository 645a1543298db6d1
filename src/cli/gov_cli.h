/* gov_cli.h — what `cloudmux keys`, `cloudmux teams` and `cloudmux spend`
 * share: the config's store and audit log opened for one command, the admin
 * operations run against them exactly as the gateway's admin API runs them,
 * and the flags that set a key's or team's fields (gov_fields.c). */
#ifndef CMX_CLI_GOV_CLI_H
#define CMX_CLI_GOV_CLI_H

#include <jansson.h>
#include <stddef.h>

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

/* One admin request from a command: opens the config's store, runs the
 * operation (body NULL: none) and prints the answer, as JSON with `json`,
 * else through print(sub, answer).  Returns the exit code (0 done, 1 failed:
 * the reason printed). */
int cmx_gov_cli_request(const char *command, const char *config_path, const char *method,
                        const char *path, json_t *body, int json, const char *sub,
                        void (*print)(const char *sub, json_t *answer));

/* Prints "cloudmux COMMAND: why" (when why is given) and the usage text to
 * stderr; returns 2, the exit code of a usage mistake. */
int cmx_gov_cli_usage(const char *command, const char *usage_text, const char *why);

/* ---- field flags (gov_fields.c) ------------------------------------------------ */

typedef enum { CMX_GOV_FIELDS_KEY, CMX_GOV_FIELDS_TEAM } cmx_gov_fields_kind;

/* Reads the field flag at argv[*i] and its value into the admin API's body:
 * --name, --id, --models A,B, --rpm, --tpm, --max-parallel, --tag K=V
 * (repeatable), --enable/--disable, --clear FIELD (null: none), and for keys
 * --team, --expires, --expires-in, --residency; the budget flags (--budget,
 * --period, --budget-start, --warn-at) gather in `budget`.  Returns 1 when it
 * read one (*i moved past its value), 0 when argv[*i] is not a field flag,
 * -1 after printing why not. */
int cmx_gov_fields_flag(const char *command, cmx_gov_fields_kind kind, int argc, char **argv,
                        int *i, json_t *body, json_t *budget);
/* Puts the gathered budget flags into the body (the whole budget, as the
 * admin API takes it); -1 (printed) when they clash with --clear budget. */
int cmx_gov_fields_finish(const char *command, json_t *body, json_t *budget);
/* "$12.3000 of $50.00 7d", "$50.00 monthly" or "-": a listing's budget column. */
void cmx_gov_budget_text(json_t *budget, char *out, size_t len);

#endif
