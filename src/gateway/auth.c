/* auth.c — bearer tokens against configured keys; see auth.h. */
#include "auth.h"
#include "core/str.h"

#include <string.h>
#include <strings.h>

long cmx_bearer_match(const cmx_http_request *req, char *const *keys, size_t n_keys)
{
    const cmx_slice *auth = cmx_http_header_get(req, "authorization");
    if (!auth || auth->len < CMX_LIT_LEN("Bearer ") || !CMX_STARTS_WITH_CASE(auth->ptr, "Bearer "))
        return -1;
    const char *token = auth->ptr + CMX_LIT_LEN("Bearer ");
    size_t token_len = auth->len - 7;
    long match = -1;
    for (size_t i = 0; i < n_keys; i++)
        if (cmx_secure_eq(token, token_len, keys[i], strlen(keys[i])))
            match = (long)i;
    return match;
}
