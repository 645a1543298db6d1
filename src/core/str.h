/* str.h — byte slices and the small string helpers everyone needs.
 * A cmx_slice points into someone else's memory (a read buffer, a config
 * string); it is never freed through the slice. */
#ifndef CMX_CORE_STR_H
#define CMX_CORE_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A string literal and its length as two arguments, for (pointer, length)
 * parameters: `cmx_buf_append(b, CMX_LIT("data: "))`.  No length is ever
 * counted by hand; the "" around s makes anything but a literal a compile
 * error (sizeof of a pointer would silently be wrong). */
#define CMX_LIT(s) ("" s ""), (sizeof("" s "") - 1)
/* The length of a string literal. */
#define CMX_LIT_LEN(s) (sizeof("" s "") - 1)
/* Whether the bytes [p, p + n) are exactly the literal. */
#define CMX_SPAN_IS(p, n, lit) ((n) == CMX_LIT_LEN(lit) && memcmp((p), lit, CMX_LIT_LEN(lit)) == 0)
/* Whether the C string s starts with the literal (case-sensitive / ASCII
 * case-insensitive). */
#define CMX_STARTS_WITH(s, lit) (strncmp((s), lit, CMX_LIT_LEN(lit)) == 0)
#define CMX_STARTS_WITH_CASE(s, lit) (strncasecmp((s), lit, CMX_LIT_LEN(lit)) == 0)
/* Whether the n bytes at s end with the literal. */
#define CMX_ENDS_WITH(s, n, lit)                                                                   \
    ((n) >= CMX_LIT_LEN(lit) && memcmp((s) + (n)-CMX_LIT_LEN(lit), lit, CMX_LIT_LEN(lit)) == 0)

typedef struct cmx_slice {
    const char *ptr;
    size_t len;
} cmx_slice;

static inline cmx_slice cmx_slice_of(const char *s)
{
    cmx_slice sl = {s, s ? strlen(s) : 0};
    return sl;
}

/* Inline, so that a literal's length is known where it is compared. */
static inline int cmx_slice_eq(cmx_slice a, const char *s) /* exact */
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

static inline int cmx_slice_case_eq(cmx_slice a, const char *s) /* ASCII case-insensitive */
{
    size_t n = strlen(s);
    return a.len == n && strncasecmp(a.ptr, s, n) == 0;
}
/* Writes v in decimal at out (room for CMX_DEC_MAX bytes: sign, 20 digits and
 * the NUL) and returns its length; the hot paths' snprintf("%lld") without
 * the format parsing. */
#define CMX_DEC_MAX 22
size_t cmx_dec_i64(char *out, int64_t v);
size_t cmx_dec_u64(char *out, uint64_t v);
/* Constant-time comparison for secrets: time depends only on the lengths. */
int cmx_secure_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
