/* error_json.c — OpenAI-shaped error bodies; see error_json.h. */
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
