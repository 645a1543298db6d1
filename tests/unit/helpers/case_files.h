/* case_files.h — what the data-driven unit tests share (the translators'
 * and the client APIs' conversions): their case folders under tests/data,
 * reading a case's files, and comparing JSON with a readable difference.
 * Linked into every unit test (CMakeLists.txt). */
#ifndef CMX_TEST_HELPERS_CASE_FILES_H
#define CMX_TEST_HELPERS_CASE_FILES_H

#include <stddef.h>

#include <jansson.h>

/* The names of dir's subdirectories (hidden ones left out), sorted, in an
 * array of *n strings (and a NULL) the caller frees with cmx_case_dirs_free;
 * NULL with *n 0 when dir cannot be opened (cmx_test_dir_names). */
char **cmx_case_dirs(const char *dir, size_t *n);
void cmx_case_dirs_free(char **names, size_t n);

/* The bytes of dir/name (NUL-terminated, malloc'd; *len their count when
 * len is given), or NULL when it cannot be read. */
char *cmx_case_read(const char *dir, const char *name, size_t *len);

/* Whether dir/name can be read. */
int cmx_case_has(const char *dir, const char *name);

/* Whether two JSON values differ (jansson's json_equal); when they do,
 * both are printed, compact with sorted keys, under `what`. */
int cmx_case_json_differs(const json_t *expected, const json_t *actual, const char *what);

#endif
