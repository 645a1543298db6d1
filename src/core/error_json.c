/* error_json.c — error bodies in OpenAI's and Anthropic's shapes; see error_json.h. */
#include "error_json.h"

#include <string.h>

#include "str.h"

void cmx_json_put_string(cmx_buf *b, const char *s)
{
    if (!s) {
        cmx_buf_append(b, CMX_LIT("null"));
        return;
    }
    cmx_buf_append(b, CMX_LIT("\""));
    cmx_buf_append_json_escaped(b, s, strlen(s));
    cmx_buf_append(b, CMX_LIT("\""));
}

void cmx_error_json_open(cmx_buf *b, const cmx_error_body *e)
{
    cmx_buf_append(b, CMX_LIT("{\"error\":{\"message\":"));
    cmx_json_put_string(b, e->message ? e->message : cmx_err_name(e->kind));
    cmx_buf_append(b, CMX_LIT(",\"type\":"));
    cmx_json_put_string(b, e->type ? e->type : cmx_err_openai_type(e->kind));
    cmx_buf_append(b, CMX_LIT(",\"param\":"));
    cmx_json_put_string(b, e->param);
    cmx_buf_append(b, CMX_LIT(",\"code\":"));
    cmx_json_put_string(b, e->code ? e->code : cmx_err_name(e->kind));
}

void cmx_error_json_close(cmx_buf *b)
{
    cmx_buf_append(b, CMX_LIT("}}"));
}

void cmx_error_json(cmx_buf *b, const cmx_error_body *e)
{
    cmx_error_json_open(b, e);
    cmx_error_json_close(b);
}

const char *cmx_err_anthropic_type(cmx_err kind)
{
    switch (kind) {
    case CMX_ERR_BAD_REQUEST:
    case CMX_ERR_METHOD:
    case CMX_ERR_CONTEXT_WINDOW:
    case CMX_ERR_CONTENT_POLICY: return "invalid_request_error";
    case CMX_ERR_AUTH: return "authentication_error";
    case CMX_ERR_RESIDENCY:
    case CMX_ERR_FORBIDDEN: return "permission_error";
    case CMX_ERR_NOT_FOUND: return "not_found_error";
    case CMX_ERR_TOO_LARGE: return "request_too_large";
    case CMX_ERR_RATE_LIMITED:
    case CMX_ERR_BUDGET: return "rate_limit_error";
    case CMX_ERR_TIMEOUT: return "timeout_error";
    case CMX_ERR_UNAVAILABLE: return "overloaded_error";
    default: return "api_error";
    }
}

void cmx_error_json_anthropic_open(cmx_buf *b, cmx_err kind, const char *message)
{
    cmx_buf_append(b, CMX_LIT("{\"type\":\"error\",\"error\":{\"type\":"));
    cmx_json_put_string(b, cmx_err_anthropic_type(kind));
    cmx_buf_append(b, CMX_LIT(",\"message\":"));
    cmx_json_put_string(b, message ? message : cmx_err_name(kind));
}

void cmx_error_json_anthropic(cmx_buf *b, cmx_err kind, const char *message)
{
    cmx_error_json_anthropic_open(b, kind, message);
    cmx_error_json_close(b);
}
