/* auth.c — bearer tokens against configured keys; see auth.h. */
#include "auth.h"

#include <string.h>
#include <strings.h>

int cmx_bearer_token(const cmx_http_request *req, const char **token, size_t *len)
{
    const cmx_slice *auth = cmx_http_header_get(req, "authorization");
    if (!auth || auth->len <= 7 || strncasecmp(auth->ptr, "Bearer ", 7) != 0)
        return 0;
    *token = auth->ptr + 7;
    *len = auth->len - 7;
    return 1;
}

long cmx_bearer_match(const cmx_http_request *req, char *const *keys, size_t n_keys)
{
    const char *token;
    size_t token_len;
    if (!cmx_bearer_token(req, &token, &token_len))
        return -1;
    long match = -1;
    for (size_t i = 0; i < n_keys; i++)
        if (cmx_secure_eq(token, token_len, keys[i], strlen(keys[i])))
            match = (long)i;
    return match;
}
