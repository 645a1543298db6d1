/* pricing_attach.c — where the price list comes from, and giving each
 * target of a freshly loaded config its price.
 *
 * The list is looked for in a fixed order, first match wins:
 *   1. the CLOUDMUX_PRICING environment variable (a path),
 *   2. `pricing.file` in the config,
 *   3. data/pricing.yaml in the config file's directory,
 *   4. ../data/pricing.yaml from the binary (a build directory in the repo),
 *   5. ../share/cloudmux/pricing.yaml from the binary (an installed prefix),
 *   6. /usr/share/cloudmux/pricing.yaml,
 *   7. the copy of data/pricing.yaml built into the binary.
 * A path named explicitly (1 or 2) that does not exist is a warning and the
 * search stops there: falling back to another list would price requests by
 * a file the operator did not choose (costs are then unknown except for
 * targets with their own `price:`).  A list that exists but is broken is an
 * error, like a broken config. */
#include "governance/pricing.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void diag_add(char ***list, size_t *n, const char *msg)
{
    char *copy = strdup(msg);
    char **grown = copy ? realloc(*list, (*n + 1) * sizeof **list) : NULL;
    if (!grown) {
        free(copy);
        return;
    }
    grown[(*n)++] = copy;
    *list = grown;
}

static void warn(cmx_config_diag *diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(cmx_config_diag *diag, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (diag)
        diag_add(&diag->warnings, &diag->n_warnings, msg);
}

static char *joined(const char *dir, size_t dir_len, const char *rest)
{
    char *out = NULL;
    if (asprintf(&out, "%.*s/%s", (int)dir_len, dir, rest) < 0)
        return NULL;
    return out;
}

/* Candidates 3 to 6, in order, into out[]; returns how many. */
static size_t implicit_candidates(const cmx_config *c, char *out[4])
{
    size_t n = 0;
    const char *path = c->path ? c->path : "";
    const char *slash = strrchr(path, '/');
    out[n] = slash ? joined(path, (size_t)(slash - path), "data/pricing.yaml")
                   : strdup("data/pricing.yaml");
    n += out[n] != NULL;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *dir_end = strrchr(exe, '/');
        if (dir_end) {
            size_t dl = (size_t)(dir_end - exe);
            out[n] = joined(exe, dl, "../data/pricing.yaml");
            n += out[n] != NULL;
            out[n] = joined(exe, dl, "../share/cloudmux/pricing.yaml");
            n += out[n] != NULL;
        }
    }
    out[n] = strdup("/usr/share/cloudmux/pricing.yaml");
    n += out[n] != NULL;
    return n;
}

#define BUILTIN "built-in"

/* Picks the file; returns a malloc'd path, BUILTIN when none is found, or
 * NULL when a named file cannot be read (with the warning given). */
static char *choose_file(const cmx_config *c, cmx_config_diag *diag)
{
    const char *env = getenv("CLOUDMUX_PRICING");
    const char *explicit_path = env && *env ? env : c->pricing.file;
    const char *from = env && *env ? "CLOUDMUX_PRICING" : "pricing.file";
    if (explicit_path) {
        if (access(explicit_path, R_OK) == 0)
            return strdup(explicit_path);
        warn(diag,
             "%s: cannot read the price list '%s' named by %s: %s; request costs are "
             "unknown except for targets with their own 'price'",
             c->path ? c->path : "<config>", explicit_path, from, strerror(errno));
        return NULL;
    }
    char *cand[4] = {0};
    size_t n = implicit_candidates(c, cand);
    char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!found && access(cand[i], R_OK) == 0) {
            found = cand[i];
            continue;
        }
        free(cand[i]);
    }
    return found ? found : strdup(BUILTIN);
}

cmx_err cmx_pricing_attach(cmx_config *c, cmx_config_diag *diag, char **used_path)
{
    if (used_path)
        *used_path = NULL;
    char *file = choose_file(c, diag);
    cmx_pricing *list = NULL;
    if (file) {
        cmx_error err;
        cmx_error_clear(&err);
        cmx_err rc = strcmp(file, BUILTIN) == 0
                         ? cmx_pricing_parse(cmx_pricing_builtin, cmx_pricing_builtin_len,
                                             "the built-in price list", &list, &err)
                         : cmx_pricing_load(file, &list, &err);
        if (rc != CMX_OK) {
            if (diag)
                diag_add(&diag->errors, &diag->n_errors, err.message);
            free(file);
            return err.kind;
        }
    }
    cmx_pricing_apply(list, c);
    cmx_pricing_free(list);
    if (used_path)
        *used_path = file;
    else
        free(file);
    return CMX_OK;
}

cmx_config *cmx_config_load_priced(const char *path, cmx_config_diag *diag)
{
    cmx_config *cfg = cmx_config_load(path, diag);
    /* Prices are resolved into the targets before the snapshot is shared. */
    if (cfg && cmx_pricing_attach(cfg, diag, NULL) != CMX_OK) {
        cmx_config_unref(cfg);
        cfg = NULL;
    }
    return cfg;
}
