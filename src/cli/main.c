/* main.c — the cloudmux command: dispatches to one subcommand.  Started as
 * `bootstrap` inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set), it is the
 * Lambda runtime whatever its arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef CMX_VERSION
#define CMX_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fprintf(
        out,
        "cloudmux %s — one OpenAI-compatible API in front of every LLM cloud\n\n"
        "usage:\n"
        "  cloudmux serve --config FILE [--listen ADDR:PORT] [--workers N] [--drain-delay "
        "DURATION]\n"
        "  cloudmux check --config FILE\n"
        "  cloudmux health [--url URL] [--timeout MS]\n"
        "  cloudmux lambda [--config FILE] [--streaming]\n"
        "  cloudmux drill --config FILE --group NAME --fail TARGET [--rps N] [--duration S]\n"
        "                 [--fail-at S] [--recover-at S] [--json] [--fault-url URL] [--url URL]\n"
        "  cloudmux keys create|list|rotate|revoke --config FILE ...\n"
        "  cloudmux spend --config FILE [--from TIME] [--to TIME] [--by DIMS] [--format F] "
        "[--top N]\n"
        "  cloudmux audit verify FILE [--hmac-key env:NAME] [--checkpoint PATH]\n"
        "  cloudmux version\n",
        CMX_VERSION);
}

static int started_as_lambda_bootstrap(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    return strcmp(base ? base + 1 : argv0, "bootstrap") == 0 && api && *api;
}

int main(int argc, char **argv)
{
    if (argc >= 1 && started_as_lambda_bootstrap(argv[0])) {
        char *none[] = {"lambda", NULL};
        return cmx_cmd_lambda(1, none);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmx_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmx_cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "drill") == 0)
        return cmx_cmd_drill(argc - 1, argv + 1);
    if (strcmp(cmd, "health") == 0)
        return cmx_cmd_health(argc - 1, argv + 1);
    if (strcmp(cmd, "lambda") == 0)
        return cmx_cmd_lambda(argc - 1, argv + 1);
    if (strcmp(cmd, "keys") == 0)
        return cmx_cmd_keys(argc - 1, argv + 1);
    if (strcmp(cmd, "spend") == 0)
        return cmx_cmd_spend(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return cmx_cmd_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("cloudmux %s\n", CMX_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "cloudmux: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
