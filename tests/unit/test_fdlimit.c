/* test_fdlimit.c — the open-file limit is raised to the hard limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include "core/fdlimit.h"

static void soft_limit_is_raised_to_the_hard_limit(void **state)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max < 128)
        skip();
    rlim_t hard = rl.rlim_max;
    rl.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);

    uint64_t before = 0, after = 0;
    cmx_error err;
    assert_int_equal(cmx_fd_limit_raise(&before, &after, &err), CMX_OK);
    assert_int_equal(before, 64);
    assert_int_equal(after, (uint64_t)hard);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(rl.rlim_cur, hard);

    /* Already at the hard limit: nothing to change, same figure twice. */
    assert_int_equal(cmx_fd_limit_raise(&before, &after, &err), CMX_OK);
    assert_int_equal(before, (uint64_t)hard);
    assert_int_equal(after, (uint64_t)hard);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(soft_limit_is_raised_to_the_hard_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
