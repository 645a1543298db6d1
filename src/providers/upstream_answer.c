/* upstream_answer.c — content type, Retry-After and capped bodies as the
 * providers read them (see upstream_answer.h). */
#include "upstream_answer.h"

#include <stdlib.h>
#include <string.h>

void cmx_header_copy_lower(char *dst, size_t cap, cmx_slice v)
{
    size_t l = v.len < cap - 1 ? v.len : cap - 1;
    for (size_t k = 0; k < l; k++) {
        char c = v.ptr[k];
        dst[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    dst[l] = '\0';
}

double cmx_header_decimal(cmx_slice v)
{
    char tmp[32];
    if (v.len == 0 || v.len >= sizeof tmp)
        return -1;
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    char *end;
    double x = strtod(tmp, &end);
    while (*end == ' ')
        end++;
    return end != tmp && *end == '\0' && x >= 0 && x < 86400000 ? x : -1;
}

int64_t cmx_header_retry_after_ms(cmx_slice v)
{
    double secs = cmx_header_decimal(v);
    if (!(secs > 0))
        return -1;
    return (int64_t)(uint32_t)((secs > 86400 ? 86400 : secs) * 1000);
}

cmx_err cmx_body_append_capped(cmx_buf *body, const char *data, size_t len, int ok2xx,
                               cmx_error *err)
{
    size_t cap = ok2xx ? CMX_MAX_RESPONSE_BYTES : CMX_MAX_ERROR_BODY_BYTES;
    if (body->len + len > cap) {
        if (!ok2xx)
            return CMX_OK; /* the start of an error body is enough to explain it */
        return cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                             "upstream response larger than %u bytes", CMX_MAX_RESPONSE_BYTES);
    }
    if (cmx_buf_append(body, data, len) != 0 && ok2xx) {
        /* an error answer's start is still enough; a cut 2xx answer is not one */
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while reading the upstream answer");
    }
    return CMX_OK;
}

int cmx_header_is_request_id(cmx_slice name)
{
    /* every name ends in "request-id" or "requestid": most headers are
     * ruled out by their last letters */
    if (name.len < 10 || (name.ptr[name.len - 1] | 0x20) != 'd' ||
        (name.ptr[name.len - 2] | 0x20) != 'i')
        return 0;
    return cmx_slice_case_eq(name, "x-request-id") || cmx_slice_case_eq(name, "request-id") ||
           cmx_slice_case_eq(name, "x-amzn-requestid") ||
           cmx_slice_case_eq(name, "apim-request-id") || cmx_slice_case_eq(name, "x-ms-request-id");
}
