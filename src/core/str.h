/* str.h — byte slices and the small string helpers everyone needs.
 * A cmx_slice points into someone else's memory (a read buffer, a config
 * string); it is never freed through the slice. */
#ifndef CMX_CORE_STR_H
#define CMX_CORE_STR_H

#include <stddef.h>
#include <string.h>

typedef struct cmx_slice {
    const char *ptr;
    size_t len;
} cmx_slice;

static inline cmx_slice cmx_slice_of(const char *s)
{
    cmx_slice sl = {s, s ? strlen(s) : 0};
    return sl;
}

int cmx_slice_eq(cmx_slice a, const char *s);      /* exact */
int cmx_slice_case_eq(cmx_slice a, const char *s); /* ASCII case-insensitive */
/* Constant-time comparison for secrets: time depends only on the lengths. */
int cmx_secure_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
