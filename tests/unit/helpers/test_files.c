/* test_files.c — the unit tests' file reading and directory listings; see
 * test_files.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/test_files.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"

char *cmx_test_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *cmx_test_shared_path(const char *format, ...)
{
    const char *shared = getenv("CMX_SHARED_DIR");
    const char *src = getenv("CMX_SOURCE_DIR");
    char sub[2048];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(sub, sizeof sub, format, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof sub);
    char *p = malloc(4096);
    assert_non_null(p);
    if (shared)
        snprintf(p, 4096, "%s/testdata/%s", shared, sub);
    else
        snprintf(p, 4096, "%s/../shared/testdata/%s", src ? src : "..", sub);
    return p;
}

char *cmx_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    cmx_buf b = CMX_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(cmx_buf_append(&b, chunk, n), 0);
    fclose(f);
    assert_int_equal(cmx_buf_append(&b, "", 0), 0); /* an empty file is "" too */
    if (len)
        *len = b.len;
    return b.data;
}

char *cmx_test_read_file_or_fail(const char *path, size_t *len)
{
    char *text = cmx_test_read_file(path, len);
    if (!text)
        fail_msg("cannot read %s (is CMX_SHARED_DIR set?)", path);
    return text;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *dir, const char *name)
{
    char *full = cmx_test_path_join(dir, name);
    struct stat st;
    int yes = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
    free(full);
    return yes;
}

char **cmx_test_dir_names(const char *dir, int dirs_only, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    assert_non_null(names);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (dirs_only && !is_dir(dir, e->d_name)))
            continue;
        if (n + 1 == cap) {
            cap *= 2;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    names[n] = NULL;
    qsort(names, n, sizeof *names, compare_names);
    if (n_out)
        *n_out = n;
    return names;
}

char **cmx_test_list_dir(const char *dir, int dirs_only)
{
    char **names = cmx_test_dir_names(dir, dirs_only, NULL);
    if (!names)
        fail_msg("cannot open %s (is CMX_SHARED_DIR set?)", dir);
    return names;
}

void cmx_test_names_free(char **names)
{
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}
