/* wipe.h — forgetting secrets.
 *
 * API keys, tokens, signing keys and every buffer that held one are wiped
 * before their memory goes back to the allocator, always with
 * OPENSSL_cleanse: a memset right before free() is a dead store the
 * compiler may drop, and the C library's alternatives differ by platform.
 * A cmx_buf that will hold a secret is made one with cmx_buf_init_secret,
 * so growing it never leaves a copy behind in freed memory either. */
#ifndef CMX_CORE_WIPE_H
#define CMX_CORE_WIPE_H

#include <stddef.h>

#include "buf.h"

/* Overwrites n bytes at p (p may be NULL when n is 0). */
void cmx_wipe(void *p, size_t n);
/* Wipes a NUL-terminated secret and frees it; NULL is fine. */
void cmx_free_secret(char *s);
/* Wipes `size` bytes at p and frees it; NULL is fine. */
void cmx_free_wiped(void *p, size_t size);

/* An empty buffer for secret bytes: it grows by copying and wiping the old
 * block instead of realloc, and cmx_buf_free wipes all of it. */
void cmx_buf_init_secret(cmx_buf *b);

#endif
