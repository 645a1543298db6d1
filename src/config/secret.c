/* secret.c — `env:NAME` and `file:PATH` secret references; see secret.h. */
#include "secret.h"
#include "core/str.h"
#include "core/wipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_env_name(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

char *cmx_path_resolve(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir || !*base_dir)
        return strdup(path);
    size_t bl = strlen(base_dir), pl = strlen(path);
    char *joined = malloc(bl + 1 + pl + 1);
    if (!joined)
        return NULL;
    memcpy(joined, base_dir, bl);
    joined[bl] = '/';
    memcpy(joined + bl + 1, path, pl + 1);
    return joined;
}

static cmx_secret_result from_env(const char *name, char **out, char *why, size_t why_len)
{
    if (!valid_env_name(name)) {
        snprintf(why, why_len,
                 "invalid environment variable name after 'env:' (expected letters, digits "
                 "and '_')");
        return CMX_SECRET_FAILED;
    }
    const char *value = getenv(name);
    if (!value) {
        snprintf(why, why_len, "environment variable %s is not set", name);
        return CMX_SECRET_FAILED;
    }
    if (!*value) {
        snprintf(why, why_len, "environment variable %s is empty", name);
        return CMX_SECRET_FAILED;
    }
    *out = strdup(value);
    if (!*out) {
        snprintf(why, why_len, "out of memory");
        return CMX_SECRET_FAILED;
    }
    return CMX_SECRET_RESOLVED;
}

static cmx_secret_result from_file(const char *path, const char *base_dir, char **out, char *why,
                                   size_t why_len)
{
    if (!*path) {
        snprintf(why, why_len, "empty path after 'file:'");
        return CMX_SECRET_FAILED;
    }
    char *full = cmx_path_resolve(base_dir, path);
    if (!full) {
        snprintf(why, why_len, "out of memory");
        return CMX_SECRET_FAILED;
    }
    FILE *f = fopen(full, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot read secret file '%s': %s", full, strerror(errno));
        free(full);
        return CMX_SECRET_FAILED;
    }
    char *data = malloc(CMX_SECRET_FILE_MAX + 1);
    size_t n = data ? fread(data, 1, CMX_SECRET_FILE_MAX + 1, f) : 0;
    int read_error = ferror(f);
    int saved_errno = errno;
    fclose(f);
    cmx_secret_result rc = CMX_SECRET_FAILED;
    if (!data)
        snprintf(why, why_len, "out of memory");
    else if (read_error)
        snprintf(why, why_len, "cannot read secret file '%s': %s", full, strerror(saved_errno));
    else if (n > CMX_SECRET_FILE_MAX)
        snprintf(why, why_len, "secret file '%s' is larger than %d bytes", full,
                 CMX_SECRET_FILE_MAX);
    else {
        while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
            n--;
        data[n] = '\0';
        if (n == 0)
            snprintf(why, why_len, "secret file '%s' is empty", full);
        else if (memchr(data, '\0', n))
            snprintf(why, why_len, "secret file '%s' contains a NUL byte", full);
        else
            rc = CMX_SECRET_RESOLVED;
    }
    free(full);
    if (rc == CMX_SECRET_RESOLVED) {
        /* a copy of the right size: realloc would free the rest unwiped */
        char *fit = malloc(n + 1);
        if (fit)
            memcpy(fit, data, n + 1);
        *out = fit ? fit : data;
        if (fit)
            cmx_free_wiped(data, CMX_SECRET_FILE_MAX + 1);
    } else if (data) {
        /* The bytes may be a credential: do not leave them in freed memory. */
        cmx_free_wiped(data, CMX_SECRET_FILE_MAX + 1);
    }
    return rc;
}

cmx_secret_result cmx_secret_resolve(const char *ref, const char *base_dir, char **out, char *why,
                                     size_t why_len)
{
    *out = NULL;
    if (why_len)
        why[0] = '\0';
    if (CMX_STARTS_WITH(ref, "env:"))
        return from_env(ref + CMX_LIT_LEN("env:"), out, why, why_len);
    if (CMX_STARTS_WITH(ref, "file:"))
        return from_file(ref + CMX_LIT_LEN("file:"), base_dir, out, why, why_len);
    *out = strdup(ref);
    if (!*out) {
        snprintf(why, why_len, "out of memory");
        return CMX_SECRET_FAILED;
    }
    return CMX_SECRET_INLINE;
}
