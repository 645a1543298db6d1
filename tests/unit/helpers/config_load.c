/* config_load.c — the unit tests' configuration loading and diagnostics
 * checks; see config_load.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/config_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cmx_config *cmx_test_config_load(const char *yaml, const char *name, cmx_config_diag *d)
{
    memset(d, 0, sizeof *d);
    return cmx_config_load_string(yaml, strlen(yaml), name, d);
}

cmx_config *cmx_test_config_ok(const char *yaml, const char *name)
{
    cmx_config_diag d;
    cmx_config *c = cmx_test_config_load(yaml, name, &d);
    if (!c)
        cmx_test_diag_print(&d);
    cmx_config_diag_free(&d);
    assert_non_null(c);
    return c;
}

cmx_config *cmx_test_config_clean(const char *yaml, const char *name)
{
    cmx_config_diag d;
    cmx_config *c = cmx_test_config_load(yaml, name, &d);
    cmx_test_config_expect_clean(c, &d);
    cmx_config_diag_free(&d);
    return c;
}

void cmx_test_config_expect_clean(const cmx_config *c, const cmx_config_diag *d)
{
    if (!c || d->n_errors || d->n_warnings)
        cmx_test_diag_print(d);
    assert_non_null(c);
    assert_int_equal(d->n_errors, 0);
    assert_int_equal(d->n_warnings, 0);
}

void cmx_test_diag_print(const cmx_config_diag *d)
{
    for (size_t i = 0; i < d->n_errors; i++)
        fprintf(stderr, "  error: %s\n", d->errors[i]);
    for (size_t i = 0; i < d->n_warnings; i++)
        fprintf(stderr, "  warning: %s\n", d->warnings[i]);
}

int cmx_test_diag_has(char *const *msgs, size_t n, const char *name, int line, const char *needle)
{
    char prefix[512] = "";
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d:", name, line);
    else if (line == CMX_TEST_NO_LINE)
        snprintf(prefix, sizeof prefix, "%s: ", name);
    for (size_t i = 0; i < n; i++)
        if (strncmp(msgs[i], prefix, strlen(prefix)) == 0 && strstr(msgs[i], needle))
            return 1;
    return 0;
}

static void expect_hidden(char *const *msgs, size_t n, const char *secret)
{
    for (size_t i = 0; i < n; i++) {
        if (strstr(msgs[i], secret))
            print_error("a message shows '%s': %s\n", secret, msgs[i]);
        assert_null(strstr(msgs[i], secret));
    }
}

void cmx_test_diag_hides(const cmx_config_diag *d, const char *secret)
{
    expect_hidden(d->errors, d->n_errors, secret);
    expect_hidden(d->warnings, d->n_warnings, secret);
}

void cmx_test_config_refused(const char *yaml, const char *name, int line, const char *needle,
                             cmx_config_diag *d)
{
    cmx_config *c = cmx_test_config_load(yaml, name, d);
    int found = cmx_test_diag_has(d->errors, d->n_errors, name, line, needle);
    if (c || !found || getenv("CMX_TEST_VERBOSE")) {
        fprintf(stderr, "expected %s refused with an error at line %d containing \"%s\"; got:\n",
                name, line, needle);
        cmx_test_diag_print(d);
    }
    cmx_config_unref(c);
    assert_null(c);
    assert_true(found);
}

/* Calls set(name, value) for each NAME=value of assignments. */
static void each_assignment(const char *assignments, void (*set)(const char *, const char *))
{
    const char *p = assignments;
    while (*(p += strspn(p, " \t\n"))) {
        size_t len = strcspn(p, " \t\n");
        char one[512];
        assert_true(len < sizeof one);
        memcpy(one, p, len);
        one[len] = '\0';
        char *eq = strchr(one, '=');
        assert_non_null(eq);
        *eq = '\0';
        set(one, eq + 1);
        p += len;
    }
}

static void set_one(const char *name, const char *value)
{
    assert_int_equal(setenv(name, value, 1), 0);
}

static void unset_one(const char *name, const char *value)
{
    unsetenv(name);
}

void cmx_test_setenv(const char *assignments)
{
    each_assignment(assignments, set_one);
}

void cmx_test_unsetenv(const char *assignments)
{
    each_assignment(assignments, unset_one);
}
