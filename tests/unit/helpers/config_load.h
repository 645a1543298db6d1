/* config_load.h — what the unit tests that read configuration share:
 * loading YAML text as if it were a file, finding a message among the
 * diagnostics (at a line, or anywhere), and the checks a refused config
 * gets: refused, with the expected error, hiding every secret. */
#ifndef CMX_TEST_HELPERS_CONFIG_LOAD_H
#define CMX_TEST_HELPERS_CONFIG_LOAD_H

#include "config/config.h"

/* Where a message must stand: at a line ("NAME:LINE:..."), without a
 * position ("NAME: ..."), or anywhere. */
enum { CMX_TEST_NO_LINE = 0, CMX_TEST_ANY_LINE = -1 };

/* Loads yaml as the file `name`; the diagnostics in *d. */
cmx_config *cmx_test_config_load(const char *yaml, const char *name, cmx_config_diag *d);
/* The same for a config the test needs: it must load, or the test fails
 * with its errors shown. */
cmx_config *cmx_test_config_ok(const char *yaml, const char *name);
/* The same, also without a warning. */
cmx_config *cmx_test_config_clean(const char *yaml, const char *name);
/* Fails the test unless c loaded without errors or warnings (shown if any). */
void cmx_test_config_expect_clean(const cmx_config *c, const cmx_config_diag *d);

void cmx_test_diag_print(const cmx_config_diag *d);
/* Whether one of the n messages of file `name` stands at `line` (or as
 * CMX_TEST_NO_LINE / CMX_TEST_ANY_LINE say) and contains needle. */
int cmx_test_diag_has(char *const *msgs, size_t n, const char *name, int line, const char *needle);
/* Fails the test when a message (error or warning) contains secret. */
void cmx_test_diag_hides(const cmx_config_diag *d, const char *secret);

/* Loads yaml as the file `name` and fails the test unless it is refused
 * with an error at `line` containing needle (the diagnostics are shown
 * then, and always with CMX_TEST_VERBOSE).  The diagnostics stay in *d for
 * more checks: the caller frees them. */
void cmx_test_config_refused(const char *yaml, const char *name, int line, const char *needle,
                             cmx_config_diag *d);

/* Sets (unsets) the environment variables a config refers to, written
 * "NAME=value NAME2=value2" (values without white space). */
void cmx_test_setenv(const char *assignments);
void cmx_test_unsetenv(const char *assignments);

#endif
