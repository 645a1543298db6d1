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
long cmx_key_match(cmx_slice token, char *const *keys, size_t n_keys)
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
    return cmx_key_match(cmx_bearer_token(req), keys, n_keys);
}

int cmx_client_key(const cmx_http_request *req, int x_api_key, cmx_slice *token)
{
    const cmx_slice *key = x_api_key ? cmx_http_header_get(req, "x-api-key") : NULL;
    if (key) {
        *token = *key;
        return 1;
    }
    *token = cmx_bearer_token(req);
    return cmx_http_header_get(req, "authorization") != NULL && token->len > 0;
}
