/* cli.h — the subcommands of the cloudmux command. */
#ifndef CMX_CLI_H
#define CMX_CLI_H

#include "config/config.h"

int cmx_cmd_serve(int argc, char **argv);
int cmx_cmd_check(int argc, char **argv);
int cmx_cmd_drill(int argc, char **argv);
int cmx_cmd_health(int argc, char **argv);
int cmx_cmd_lambda(int argc, char **argv);
int cmx_cmd_keys(int argc, char **argv);
int cmx_cmd_spend(int argc, char **argv);
int cmx_cmd_audit(int argc, char **argv);

/* Loads the config named by --config, printing every error and warning to
 * stderr; NULL when it is invalid. */
cmx_config *cmx_cli_load_config(const char *path);

#endif
