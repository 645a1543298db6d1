/* test_slab.c — the slab pool hands out zeroed, distinct objects and gives
 * its slabs back to the system when they empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/slab.h"

enum { OBJ = 344, MANY = 5000 };

static void objects_are_zeroed_aligned_and_distinct(void **state)
{
    cmx_slab_pool p;
    cmx_slab_pool_init(&p, OBJ);
    char **objs = calloc(MANY, sizeof *objs);
    for (int i = 0; i < MANY; i++) {
        objs[i] = cmx_slab_alloc(&p);
        assert_non_null(objs[i]);
        assert_true(((uintptr_t)objs[i] % 16) == 0);
        for (int k = 0; k < OBJ; k++)
            assert_int_equal(objs[i][k], 0);
        memset(objs[i], i & 0xff, OBJ);
    }
    /* No two overlap: each still holds its own byte. */
    for (int i = 0; i < MANY; i++)
        for (int k = 0; k < OBJ; k += 61)
            assert_int_equal((unsigned char)objs[i][k], (unsigned)(i & 0xff));
    /* A freed object comes back zeroed. */
    cmx_slab_free(&p, objs[7]);
    objs[7] = cmx_slab_alloc(&p);
    for (int k = 0; k < OBJ; k++)
        assert_int_equal(objs[7][k], 0);
    for (int i = 0; i < MANY; i++)
        cmx_slab_free(&p, objs[i]);
    free(objs);
    cmx_slab_pool_destroy(&p);
}

#if !defined(__SANITIZE_ADDRESS__)
static void empty_slabs_are_unmapped_but_one_spare(void **state)
{
    cmx_slab_pool p;
    cmx_slab_pool_init(&p, OBJ);
    void **objs = calloc(MANY, sizeof *objs);
    for (int i = 0; i < MANY; i++)
        objs[i] = cmx_slab_alloc(&p);
    size_t peak = p.n_slabs;
    assert_true(peak >= (size_t)MANY * OBJ / (64 * 1024));
    /* Every other object freed: no slab is empty, none goes. */
    for (int i = 0; i < MANY; i += 2)
        cmx_slab_free(&p, objs[i]);
    assert_int_equal(p.n_slabs, peak);
    for (int i = 1; i < MANY; i += 2)
        cmx_slab_free(&p, objs[i]);
    assert_int_equal(p.n_slabs, 1); /* the spare */
    /* The spare serves the next allocation without a new mapping. */
    void *again = cmx_slab_alloc(&p);
    assert_non_null(again);
    assert_int_equal(p.n_slabs, 1);
    cmx_slab_free(&p, again);
    free(objs);
    cmx_slab_pool_destroy(&p);
    assert_int_equal(p.n_slabs, 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(objects_are_zeroed_aligned_and_distinct),
#if !defined(__SANITIZE_ADDRESS__)
        cmocka_unit_test(empty_slabs_are_unmapped_but_one_spare),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
