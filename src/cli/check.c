/* check.c — `cloudmux check --config FILE`: validate and report, nothing else.
 * serve uses the same loader, so what check accepts is what serve runs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "governance/pricing.h"

cmx_config *cmx_cli_load_config(const char *path)
{
    cmx_config_diag diag = {0};
    cmx_config *cfg = cmx_config_load_priced(path, &diag);
    for (size_t i = 0; i < diag.n_warnings; i++)
        fprintf(stderr, "warning: %s\n", diag.warnings[i]);
    for (size_t i = 0; i < diag.n_errors; i++)
        fprintf(stderr, "error: %s\n", diag.errors[i]);
    if (!cfg && diag.n_errors == 0)
        fprintf(stderr, "error: %s: cannot load the configuration\n", path);
    cmx_config_diag_free(&diag);
    return cfg;
}

int cmx_cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else {
            fprintf(stderr, "cloudmux check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: cloudmux check --config FILE\n");
        return 2;
    }
    cmx_config *cfg = cmx_cli_load_config(path);
    if (!cfg)
        return 1;
    printf("%s: ok (%zu provider%s, %zu model group%s)\n", path, cfg->n_providers,
           cfg->n_providers == 1 ? "" : "s", cfg->n_models, cfg->n_models == 1 ? "" : "s");
    cmx_config_unref(cfg);
    return 0;
}
