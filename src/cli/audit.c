/* audit.c — `cloudmux audit verify`: checks an audit log's hash chain (and
 * HMACs, given the key) and its checkpoint, and names the first record that
 * was edited, removed, reordered or inserted, or a tail cut off.  Exit 0:
 * intact; 1: tampered (or unreadable); 2: bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config/secret.h"
#include "governance/audit.h"

static const char usage_text[] =
    "usage: cloudmux audit verify FILE [--hmac-key env:NAME|file:PATH] [--checkpoint PATH]\n"
    "       cloudmux audit verify --config FILE   (the log, key and checkpoint it configures)\n";

int cmx_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *file = NULL, *key_ref = NULL, *checkpoint = NULL, *config = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--hmac-key") == 0 && i + 1 < argc)
            key_ref = argv[++i];
        else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc)
            checkpoint = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            fprintf(stderr, "cloudmux audit: unexpected argument '%s'\n%s", argv[i], usage_text);
            return 2;
        }
    }
    cmx_config *cfg = NULL;
    char *key = NULL;
    if (config) {
        if (!(cfg = cmx_cli_load_config(config)))
            return 1;
        if (!cfg->audit.file) {
            fprintf(stderr, "cloudmux audit: %s configures no audit log\n", config);
            cmx_config_unref(cfg);
            return 1;
        }
        file = file ? file : cfg->audit.file;
        checkpoint = checkpoint ? checkpoint : cfg->audit.checkpoint_file;
        key = cfg->audit.hmac_key ? strdup(cfg->audit.hmac_key) : NULL;
    }
    if (!file) {
        fputs(usage_text, stderr);
        cmx_config_unref(cfg);
        return 2;
    }
    if (key_ref) {
        /* A key on the command line would be in the shell's history. */
        char why[512];
        free(key);
        key = NULL;
        if (strncmp(key_ref, "env:", 4) && strncmp(key_ref, "file:", 5)) {
            fprintf(stderr, "cloudmux audit: --hmac-key takes env:NAME or file:PATH\n");
            cmx_config_unref(cfg);
            return 2;
        }
        if (cmx_secret_resolve(key_ref, ".", &key, why, sizeof why) != CMX_SECRET_RESOLVED) {
            fprintf(stderr, "cloudmux audit: %s\n", why);
            cmx_config_unref(cfg);
            return 1;
        }
    }
    cmx_audit_verdict v;
    cmx_error err;
    int rc;
    if (cmx_audit_verify(file, checkpoint, key, &v, &err) != CMX_OK) {
        fprintf(stderr, "cloudmux audit: %s\n", err.message);
        rc = 1;
    } else if (v.ok) {
        printf("%s: ok: %s%s\n", file, v.message, key ? "; every HMAC matches" : "");
        rc = 0;
    } else {
        printf("%s: TAMPERED: %s\n", file, v.message);
        rc = 1;
    }
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    cmx_config_unref(cfg);
    return rc;
}
