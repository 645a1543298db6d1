/* chat_write.c — pieces of a chat completion request; see chat_write.h. */
#include "ingress/chat_write.h"

#include <string.h>

#include "ingress/ingress_json.h"

cmx_jw_str cmx_jd_str(const cmx_json_doc *doc, int i)
{
    if (cmx_jd_type(doc, i) != CMX_JSON_STRING)
        return CMX_JW_ESC("", 0);
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    return CMX_JW_ESC(doc->bytes + sp.start + 1, sp.end - sp.start - 2);
}

void cmx_chat_begin_message(cmx_jw *w, cmx_jw_str role)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "role");
    cmx_jw_str_value(w, role);
}

void cmx_chat_text_part(cmx_jw *w, const cmx_json_doc *doc, int text)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "text");
    CMX_JD_PUT_MEMBER(w, "text", doc, text);
    cmx_jw_end(w);
}

void cmx_chat_open_image(cmx_jw *w)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "image_url");
    CMX_JW_KEY(w, "image_url");
    cmx_jw_object(w);
}

void cmx_chat_open_function(cmx_jw *w, cmx_jw_str name)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "function");
    CMX_JW_KEY(w, "function");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "name");
    cmx_jw_str_value(w, name);
}

void cmx_chat_function_tool(cmx_jw *w, const cmx_json_doc *doc, int name, int description,
                            int parameters)
{
    cmx_chat_open_function(w, cmx_jd_str(doc, name));
    if (cmx_jd_type(doc, description) == CMX_JSON_STRING)
        CMX_JD_PUT_MEMBER(w, "description", doc, description);
    if (cmx_jd_type(doc, parameters) == CMX_JSON_OBJECT)
        CMX_JD_PUT_MEMBER(w, "parameters", doc, parameters);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

void cmx_chat_named_choice(cmx_jw *w, cmx_jw_str name)
{
    cmx_chat_open_function(w, name);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

void cmx_chat_tool_call(cmx_jw *w, const cmx_json_doc *doc, int id, int name, int args,
                        int as_string)
{
    cmx_jw_object(w);
    CMX_JD_PUT_MEMBER(w, "id", doc, id);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "function");
    CMX_JW_KEY(w, "function");
    cmx_jw_object(w);
    CMX_JD_PUT_MEMBER(w, "name", doc, name);
    CMX_JW_KEY(w, "arguments");
    if (args < 0)
        CMX_JW_LIT(w, "{}");
    else if (as_string)
        cmx_jd_put_as_string(w, doc, args);
    else
        cmx_jd_put(w, doc, args);
    cmx_jw_end(w);
    cmx_jw_end(w);
}

void cmx_chat_stream_members(cmx_jw *w)
{
    CMX_JW_KEY(w, "stream");
    cmx_jw_bool(w, 1);
    CMX_JW_KEY(w, "stream_options");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "include_usage");
    cmx_jw_bool(w, 1);
    cmx_jw_end(w);
}

void cmx_chat_copy(cmx_chat_copies *c, int token, const char *as)
{
    if (c->n < sizeof c->token / sizeof c->token[0]) {
        c->token[c->n] = token;
        c->as[c->n++] = as;
    }
}

void cmx_chat_put_copies(cmx_jw *w, const cmx_json_doc *doc, const cmx_chat_copies *c,
                         const char *skip)
{
    for (size_t i = 0; i < c->n; i++)
        if (!skip || strcmp(c->as[i], skip) != 0)
            cmx_jd_put_member(w, c->as[i], strlen(c->as[i]), doc, c->token[i]);
}

void cmx_chat_open_request(cmx_jw *w, const cmx_json_doc *doc, int model, const cmx_chat_copies *c,
                           const char *skip, int stream)
{
    cmx_jw_object(w);
    CMX_JD_PUT_MEMBER(w, "model", doc, model);
    cmx_chat_put_copies(w, doc, c, skip);
    if (stream)
        cmx_chat_stream_members(w);
}

cmx_err cmx_chat_no_form(cmx_error *err, const char *key, size_t n, const char *hint)
{
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "'%.*s' has no chat completions form; %s",
                         (int)(n > 60 ? 60 : n), key, hint);
}
