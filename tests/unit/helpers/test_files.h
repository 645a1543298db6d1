/* test_files.h — the files the unit tests read: the shared test vectors
 * (../shared/testdata), whole files, and sorted directory listings, so that
 * a test walking a suite of cases names only what it checks. */
#ifndef CMX_TEST_HELPERS_TEST_FILES_H
#define CMX_TEST_HELPERS_TEST_FILES_H

#include <stddef.h>

/* "dir/name"; the caller frees it. */
char *cmx_test_path_join(const char *dir, const char *name);

/* A path under the shared test vectors, its part below testdata/ written as
 * printf's format does: $CMX_SHARED_DIR/testdata/... (ctest sets it), or the
 * source tree's sibling ../shared when run by hand.  The caller frees it. */
char *cmx_test_shared_path(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* The whole file, with a NUL after it (not counted in *len; len may be
 * NULL), or NULL when it cannot be opened.  The caller frees it. */
char *cmx_test_read_file(const char *path, size_t *len);
/* The same, failing the test when the file cannot be opened. */
char *cmx_test_read_file_or_fail(const char *path, size_t *len);

/* The sorted names in dir, those starting with '.' left out, and only the
 * subdirectories when dirs_only; NULL-terminated, their count in *n (n may
 * be NULL); NULL when dir cannot be opened.  Freed with cmx_test_names_free. */
char **cmx_test_dir_names(const char *dir, int dirs_only, size_t *n);
/* The same, failing the test when dir cannot be opened. */
char **cmx_test_list_dir(const char *dir, int dirs_only);
void cmx_test_names_free(char **names);

#endif
