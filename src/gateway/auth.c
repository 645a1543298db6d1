/* auth.c — bearer tokens against configured keys; see auth.h. */
#include "auth.h"
#include "core/str.h"

#include <string.h>
#include <strings.h>

cmx_slice cmx_bearer_token(const cmx_http_request *req)
{
    const cmx_slice *auth = cmx_http_header_get(req, "authorization");
    if (!auth || auth->len < CMX_LIT_LEN("Bearer ") || !CMX_STARTS_WITH_CASE(auth->ptr, "Bearer "))
        return (cmx_slice){"", 0};
    return (cmx_slice){auth->ptr + CMX_LIT_LEN("Bearer "), auth->len - CMX_LIT_LEN("Bearer ")};
}

/* Every key compared, each in constant time. */
static long match_token(cmx_slice token, char *const *keys, size_t n_keys)
{
    long match = -1;
    for (size_t i = 0; i < n_keys; i++)
        if (cmx_secure_eq(token.ptr, token.len, keys[i], strlen(keys[i])))
            match = (long)i;
    return match;
}

long cmx_bearer_match(const cmx_http_request *req, char *const *keys, size_t n_keys)
{
    const cmx_slice *auth = cmx_http_header_get(req, "authorization");
    if (!auth || auth->len < CMX_LIT_LEN("Bearer ") || !CMX_STARTS_WITH_CASE(auth->ptr, "Bearer "))
        return -1; /* no token at all: not even an empty one matches */
    return match_token(cmx_bearer_token(req), keys, n_keys);
}

long cmx_header_key_match(const cmx_http_request *req, const char *header, char *const *keys,
                          size_t n_keys)
{
    const cmx_slice *key = cmx_http_header_get(req, header);
    return key ? match_token(*key, keys, n_keys) : -1;
}
