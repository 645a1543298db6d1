/* case_files.c — a data-driven test's case folders and files; see
 * case_files.h. */
#include "case_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers/test_files.h"

char **cmx_case_dirs(const char *dir, size_t *n)
{
    *n = 0;
    return cmx_test_dir_names(dir, 1, n);
}

void cmx_case_dirs_free(char **names, size_t n)
{
    (void)n;
    if (names)
        cmx_test_names_free(names);
}

char *cmx_case_read(const char *dir, const char *name, size_t *len)
{
    char *path = cmx_test_path_join(dir, name);
    char *text = cmx_test_read_file(path, len);
    free(path);
    return text;
}

int cmx_case_has(const char *dir, const char *name)
{
    char *path = cmx_test_path_join(dir, name);
    int readable = access(path, R_OK) == 0;
    free(path);
    return readable;
}

int cmx_case_json_differs(const json_t *expected, const json_t *actual, const char *what)
{
    if (json_equal(expected, actual))
        return 0;
    char *e = json_dumps(expected, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *a = json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    fprintf(stderr, "%s differs\nexpected: %s\nactual:   %s\n", what, e ? e : "?", a ? a : "?");
    free(e);
    free(a);
    return 1;
}
