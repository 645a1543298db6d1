/* wipe.c — forgetting secrets with OPENSSL_cleanse; see wipe.h. */
#include "wipe.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void cmx_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void cmx_free_secret(char *s)
{
    if (s)
        cmx_free_wiped(s, strlen(s));
}

void cmx_free_wiped(void *p, size_t size)
{
    if (!p)
        return;
    cmx_wipe(p, size);
    free(p);
}

void cmx_buf_init_secret(cmx_buf *b)
{
    *b = (cmx_buf)CMX_BUF_INIT;
    b->secret = 1;
}
