/* spend.c — `cloudmux spend`: spend reports from the ledger's roll-ups,
 * printed by the same code as GET /admin/spend, so both give the same
 * numbers.  A daily report per provider:
 *     cloudmux spend --config FILE --by day,provider */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/buf.h"
#include "gov_cli.h"

static const char usage_text[] =
    "usage: cloudmux spend --config FILE [--from TIME] [--to TIME]\n"
    "                      [--by day,hour,key,team,group,provider,model]\n"
    "                      [--format table|csv|json] [--top N]\n"
    "TIME is a UTC date (2026-01-31) or time (2026-01-31T12:00:00Z); from is inclusive, to\n"
    "exclusive; the default is the last 30 days.\n";

int cmx_cmd_spend(int argc, char **argv)
{
    const char *config = NULL;
    cmx_buf query = CMX_BUF_INIT;
    static const char *const options[] = {"from", "to", "by", "format", "top"};
    for (int i = 1; i < argc; i++) {
        int known = 0;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
            continue;
        }
        for (size_t k = 0; k < 5 && i + 1 < argc; k++)
            if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, options[k]) == 0) {
                /* As a query string, the admin API's own input: percent-encode. */
                cmx_buf_printf(&query, "%s%s=", query.len ? "&" : "", options[k]);
                for (const char *p = argv[++i]; *p; p++) {
                    unsigned char ch = (unsigned char)*p;
                    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || strchr("-_.:,", ch))
                        cmx_buf_append(&query, p, 1);
                    else
                        cmx_buf_printf(&query, "%%%02X", ch);
                }
                known = 1;
                break;
            }
        if (!known) {
            fprintf(stderr, "cloudmux spend: unexpected argument '%s'\n%s", argv[i], usage_text);
            cmx_buf_free(&query);
            return 2;
        }
    }
    if (!config) {
        fputs(usage_text, stderr);
        cmx_buf_free(&query);
        return 2;
    }
    cmx_gov_cli g;
    if (cmx_gov_cli_open(&g, config, "spend") != 0) {
        cmx_buf_free(&query);
        return 1;
    }
    cmx_gov_reply reply;
    int rc = cmx_gov_cli_run(&g, "spend", "GET", "/admin/spend", query.data ? query.data : "", NULL,
                             &reply);
    if (rc == 0) {
        fputs(reply.body, stdout);
        cmx_gov_reply_free(&reply);
    }
    cmx_gov_cli_close(&g);
    cmx_buf_free(&query);
    return rc;
}
