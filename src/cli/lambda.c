/* lambda.c — `cloudmux lambda`: the gateway as an AWS Lambda custom runtime.
 * Also what runs when the executable is started as `bootstrap` with
 * AWS_LAMBDA_RUNTIME_API set, as Lambda starts a provided.al2023 function.
 *
 * The config is --config, else CLOUDMUX_CONFIG, else
 * $LAMBDA_TASK_ROOT/cloudmux.yaml (the function's package).  Answers stream
 * when CLOUDMUX_LAMBDA_INVOKE_MODE is RESPONSE_STREAM (the function URL's or
 * integration's invoke mode) or with --streaming.  A config that does not
 * load, or a gateway that cannot be built, is reported to /init/error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "lambda/lambda_runtime.h"

#define LAMBDA_CONFIG_NAME "cloudmux.yaml"

int cmx_cmd_lambda(int argc, char **argv)
{
    const char *path = getenv("CLOUDMUX_CONFIG");
    const char *mode = getenv("CLOUDMUX_LAMBDA_INVOKE_MODE");
    int streaming = mode && strcasecmp(mode, "RESPONSE_STREAM") == 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--streaming") == 0) {
            streaming = 1;
        } else {
            fprintf(stderr,
                    "cloudmux lambda: unexpected argument '%s'\n"
                    "usage: cloudmux lambda [--config FILE] [--streaming]\n",
                    argv[i]);
            return 2;
        }
    }
    if (mode && *mode && strcasecmp(mode, "RESPONSE_STREAM") != 0 &&
        strcasecmp(mode, "BUFFERED") != 0) {
        fprintf(stderr,
                "cloudmux lambda: CLOUDMUX_LAMBDA_INVOKE_MODE must be BUFFERED or "
                "RESPONSE_STREAM, got '%s'\n",
                mode);
        return 2;
    }
    const char *endpoint = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!endpoint || !*endpoint) {
        fprintf(stderr, "cloudmux lambda: AWS_LAMBDA_RUNTIME_API is not set: this runs inside "
                        "AWS Lambda (or its emulator), which sets it\n");
        return 2;
    }
    char in_task_root[4096];
    if (!path || !*path) {
        const char *root = getenv("LAMBDA_TASK_ROOT");
        snprintf(in_task_root, sizeof in_task_root, "%s/" LAMBDA_CONFIG_NAME,
                 root && *root ? root : ".");
        path = in_task_root;
    }

    cmx_config *cfg = cmx_cli_load_config(path);
    if (!cfg) {
        char msg[4200];
        snprintf(msg, sizeof msg, "the configuration %s does not load (see the log for why)", path);
        cmx_lambda_init_error(endpoint, "Cloudmux.InvalidConfig", msg);
        return 1;
    }
    cmx_error err;
    cmx_error_clear(&err);
    cmx_gateway_options opts = {.listen_port = -1, .workers = 1, .no_listener = 1};
    cmx_gateway *gw = cmx_gateway_new(cfg, &opts, &err);
    if (!gw) {
        cmx_error_log("lambda: %s", err.message);
        cmx_lambda_init_error(endpoint, "Cloudmux.InitFailed", err.message);
        cmx_config_unref(cfg);
        return 1;
    }
    cmx_info("cloudmux lambda runtime (%s answers, %zu model group%s)",
             streaming ? "streamed" : "buffered", cfg->n_models, cfg->n_models == 1 ? "" : "s");
    cmx_lambda_options lo = {endpoint, streaming};
    int rc = cmx_lambda_run(gw, &lo);
    cmx_gateway_free(gw);
    cmx_config_unref(cfg);
    return rc;
}
