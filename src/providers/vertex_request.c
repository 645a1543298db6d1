/* vertex_request.c — an OpenAI chat request as a Gemini generateContent
 * request.
 *
 * Gemini has two roles, user and model, and turns made of parts: text,
 * inline data (images as base64 with a MIME type), function calls and
 * function responses.  System messages become systemInstruction; assistant
 * tool_calls become functionCall parts with the arguments parsed; tool
 * results become functionResponse parts of a user turn, which need the
 * function's name: OpenAI gives only the tool_call_id, so the name is looked
 * up in the earlier assistant turns.  Consecutive turns of the same role are
 * merged, as Gemini wants them alternating.
 *
 * Sampling parameters go into generationConfig; tools into
 * functionDeclarations, tool_choice into toolConfig.  Parameters Gemini lacks
 * are refused with their name, or dropped when configured.  The OpenAI side
 * (content parts, data URLs, tools, tool_choice, stop, the 400s and their
 * wording) is read by translate_util.c, as for the other translating
 * providers; what is Gemini's own stays here. */
#include "vertex.h"
#include "translate_util.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct req_ctx {
    cmx_translate_ctx tc;   /* errors, provider name, dropping (translate_util.h) */
    const json_t *messages; /* for tool_call_id → name */
} req_ctx;

/* ---- content ---------------------------------------------------------- */

static void add_text(json_t *parts, const char *text, size_t len)
{
    if (len == 0) /* Gemini rejects empty text parts */
        return;
    json_array_append_new(parts, json_pack("{s:s%}", "text", text, len));
}

static cmx_err image_part(cmx_translate_ctx *c, const json_t *part, size_t mi, size_t pi,
                          json_t *parts)
{
    const char *url = cmx_translate_image_url(part);
    if (!url)
        return cmx_translate_bad(c, "messages[%zu].content[%zu].image_url.url must be a string", mi,
                                 pi);
    if (CMX_STARTS_WITH(url, "data:")) {
        const char *media, *data;
        size_t media_len;
        if (cmx_translate_split_data_url(url, &media, &media_len, &data) != 0)
            return cmx_translate_bad_data_url(c, mi, pi);
        json_array_append_new(parts, json_pack("{s:{s:s%,s:s}}", "inlineData", "mimeType", media,
                                               media_len, "data", data));
        return CMX_OK;
    }
    if (CMX_STARTS_WITH(url, "gs://") || CMX_STARTS_WITH(url, "https://")) {
        /* Vertex fetches Cloud Storage and public URLs itself; the type is a
         * guess from the extension, as Gemini requires one. */
        const char *dot = strrchr(url, '.');
        const char *mime = dot && (!strcmp(dot, ".png"))    ? "image/png"
                           : dot && (!strcmp(dot, ".gif"))  ? "image/gif"
                           : dot && (!strcmp(dot, ".webp")) ? "image/webp"
                                                            : "image/jpeg";
        json_array_append_new(
            parts, json_pack("{s:{s:s,s:s}}", "fileData", "mimeType", mime, "fileUri", url));
        return CMX_OK;
    }
    return cmx_translate_bad(
        c,
        "messages[%zu].content[%zu].image_url.url must be a base64 data URL, an https "
        "URL or a gs:// URI",
        mi, pi);
}

static const cmx_translate_part_writers part_writers = {add_text, image_part};

static cmx_err content_parts(req_ctx *c, const json_t *content, size_t mi, int images,
                             json_t *parts)
{
    return cmx_translate_content(&c->tc, content, mi, images, &part_writers, parts);
}

static cmx_err function_calls(req_ctx *c, const json_t *calls, size_t mi, json_t *parts)
{
    if (!calls || json_is_null(calls))
        return CMX_OK;
    if (!json_is_array(calls))
        return cmx_translate_bad(&c->tc, "messages[%zu].tool_calls must be an array", mi);
    size_t ti;
    const json_t *call;
    json_array_foreach(calls, ti, call)
    {
        const json_t *fn = json_object_get(call, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        const json_t *args = json_object_get(fn, "arguments");
        if (!name)
            return cmx_translate_bad(
                &c->tc, "messages[%zu].tool_calls[%zu] needs a 'function.name'", mi, ti);
        json_t *parsed;
        if (!args || json_is_null(args) || (json_is_string(args) && !json_string_length(args)))
            parsed = json_object();
        else if (json_is_string(args)) {
            parsed = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
            if (!json_is_object(parsed)) {
                json_decref(parsed);
                return cmx_translate_bad(
                    &c->tc,
                    "messages[%zu].tool_calls[%zu].function.arguments must be a JSON "
                    "object in a string",
                    mi, ti);
            }
        } else if (json_is_object(args))
            parsed = json_incref((json_t *)args);
        else
            return cmx_translate_bad(
                &c->tc, "messages[%zu].tool_calls[%zu].function.arguments must be a string", mi,
                ti);
        json_array_append_new(
            parts, json_pack("{s:{s:s,s:o}}", "functionCall", "name", name, "args", parsed));
    }
    return CMX_OK;
}

/* The function name of an earlier assistant tool call. */
static const char *tool_name_for(const req_ctx *c, const char *id, size_t before)
{
    for (size_t i = before; i-- > 0;) {
        const json_t *m = json_array_get(c->messages, i);
        const json_t *calls = json_object_get(m, "tool_calls");
        size_t k;
        const json_t *call;
        json_array_foreach(calls, k, call)
        {
            const char *cid = json_string_value(json_object_get(call, "id"));
            if (cid && strcmp(cid, id) == 0)
                return json_string_value(
                    json_object_get(json_object_get(call, "function"), "name"));
        }
    }
    return NULL;
}

static cmx_err function_response(req_ctx *c, const json_t *m, size_t mi, json_t *parts)
{
    const char *id = json_string_value(json_object_get(m, "tool_call_id"));
    if (!id)
        return cmx_translate_bad(&c->tc, "messages[%zu] (role tool) needs a 'tool_call_id'", mi);
    const char *name = tool_name_for(c, id, mi);
    if (!name)
        name = json_string_value(json_object_get(m, "name"));
    if (!name)
        return cmx_translate_bad(
            &c->tc,
            "messages[%zu]: tool_call_id '%.60s' matches no earlier assistant tool call "
            "(Gemini needs the function's name)",
            mi, id);
    const json_t *content = json_object_get(m, "content");
    json_t *response;
    if (json_is_string(content)) {
        /* A result that is a JSON object is passed as one; anything else is
         * wrapped, since Gemini's response must be an object. */
        json_t *parsed =
            json_loadb(json_string_value(content), json_string_length(content), 0, NULL);
        if (json_is_object(parsed))
            response = parsed;
        else {
            json_decref(parsed);
            response = json_pack("{s:O}", "content", content);
        }
    } else {
        json_t *tparts = json_array();
        cmx_err e = content_parts(c, content, mi, 0, tparts);
        if (e != CMX_OK) {
            json_decref(tparts);
            return e;
        }
        cmx_buf joined = CMX_BUF_INIT;
        size_t i;
        const json_t *p;
        json_array_foreach(tparts, i, p)
        {
            const json_t *t = json_object_get(p, "text");
            cmx_buf_append(&joined, json_string_value(t), json_string_length(t));
        }
        int lost = cmx_buf_failed(&joined);
        response = lost
                       ? NULL
                       : json_pack("{s:s%}", "content", joined.data ? joined.data : "", joined.len);
        cmx_buf_free(&joined);
        json_decref(tparts);
        if (!response)
            return cmx_error_set(c->tc.err, CMX_ERR_NOMEM, "out of memory");
    }
    json_array_append_new(
        parts, json_pack("{s:{s:s,s:o}}", "functionResponse", "name", name, "response", response));
    return CMX_OK;
}

static void append_turn(json_t *contents, const char *role, json_t *parts)
{
    size_t n = json_array_size(contents);
    json_t *last = n ? json_array_get(contents, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0) {
        json_array_extend(json_object_get(last, "parts"), parts);
        json_decref(parts);
        return;
    }
    json_array_append_new(contents, json_pack("{s:s,s:o}", "role", role, "parts", parts));
}

static cmx_err convert_messages(req_ctx *c, const json_t *msgs, json_t *contents, json_t *system)
{
    if (!json_is_array(msgs))
        return cmx_translate_bad(&c->tc, "'messages' must be an array");
    c->messages = msgs;
    size_t mi;
    const json_t *m;
    json_array_foreach(msgs, mi, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role)
            return cmx_translate_bad(&c->tc, "messages[%zu] has no 'role'", mi);
        const json_t *content = json_object_get(m, "content");
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            cmx_err e = content_parts(c, content, mi, 0, system);
            if (e != CMX_OK)
                return e;
            continue;
        }
        json_t *parts = json_array();
        cmx_err e;
        const char *turn = "user";
        if (strcmp(role, "user") == 0) {
            e = content_parts(c, content, mi, 1, parts);
        } else if (strcmp(role, "assistant") == 0) {
            turn = "model";
            e = content_parts(c, content, mi, 0, parts);
            if (e == CMX_OK)
                e = function_calls(c, json_object_get(m, "tool_calls"), mi, parts);
        } else if (strcmp(role, "tool") == 0) {
            e = function_response(c, m, mi, parts);
        } else {
            e = cmx_translate_bad(
                &c->tc, "messages[%zu]: role '%.40s' is not supported by provider '%s' (vertex)",
                mi, role, cmx_translate_provider_name(&c->tc));
        }
        if (e != CMX_OK) {
            json_decref(parts);
            return e;
        }
        if (json_array_size(parts) == 0) {
            json_decref(parts);
            continue;
        }
        append_turn(contents, turn, parts);
    }
    return CMX_OK;
}

/* ---- tools ------------------------------------------------------------ */

static json_t *function_declaration(const char *name, const json_t *fn)
{
    json_t *decl = json_pack("{s:s}", "name", name);
    const json_t *desc = json_object_get(fn, "description");
    if (json_is_string(desc))
        json_object_set(decl, "description", (json_t *)desc);
    const json_t *params = json_object_get(fn, "parameters");
    if (json_is_object(params))
        json_object_set(decl, "parameters", (json_t *)params);
    return decl;
}

static cmx_err convert_tools(req_ctx *c, const json_t *tools, json_t *req)
{
    json_t *decls = json_array();
    cmx_err e = cmx_translate_tools(&c->tc, tools, function_declaration, decls);
    if (e == CMX_OK && json_array_size(decls))
        json_object_set_new(req, "tools", json_pack("[{s:o}]", "functionDeclarations", decls));
    else
        json_decref(decls);
    return e;
}

static cmx_err convert_tool_choice(req_ctx *c, const json_t *v, json_t *req)
{
    const char *name;
    const char *kind = cmx_translate_tool_choice(v, &name);
    json_t *cfg = NULL;
    if (!kind)
        return cmx_translate_bad_tool_choice(&c->tc, v, 1);
    if (strcmp(kind, "function") == 0)
        cfg = json_pack("{s:s,s:[s]}", "mode", "ANY", "allowedFunctionNames", name);
    else
        cfg = json_pack("{s:s}", "mode",
                        strcmp(kind, "auto") == 0       ? "AUTO"
                        : strcmp(kind, "required") == 0 ? "ANY"
                                                        : "NONE");
    json_object_set_new(req, "toolConfig", json_pack("{s:o}", "functionCallingConfig", cfg));
    return CMX_OK;
}

/* ---- parameters ------------------------------------------------------- */

static cmx_err convert_stop(req_ctx *c, const json_t *v, json_t *gen)
{
    json_t *list;
    cmx_err e = cmx_translate_stop_list(&c->tc, v, &list);
    if (e == CMX_OK)
        json_object_set_new(gen, "stopSequences", list);
    return e;
}

static cmx_err convert_response_format(req_ctx *c, const json_t *v, json_t *gen)
{
    const char *t = json_string_value(json_object_get(v, "type"));
    if (t && strcmp(t, "text") == 0)
        return CMX_OK;
    if (t && strcmp(t, "json_object") == 0) {
        json_object_set_new(gen, "responseMimeType", json_string("application/json"));
        return CMX_OK;
    }
    if (t && strcmp(t, "json_schema") == 0) {
        const json_t *schema = json_object_get(json_object_get(v, "json_schema"), "schema");
        json_object_set_new(gen, "responseMimeType", json_string("application/json"));
        if (json_is_object(schema))
            json_object_set(gen, "responseJsonSchema", (json_t *)schema);
        return CMX_OK;
    }
    return cmx_translate_unsupported(&c->tc, "response_format", v);
}

static int is_harmless_default(const char *key, const json_t *v)
{
    if (strcmp(key, "logprobs") == 0 || strcmp(key, "store") == 0 ||
        strcmp(key, "parallel_tool_calls") == 0)
        return json_is_boolean(v) && (json_is_false(v) || strcmp(key, "parallel_tool_calls") == 0);
    if (strcmp(key, "logit_bias") == 0)
        return json_is_object(v) && json_object_size(v) == 0;
    return 0;
}

static cmx_err number_param(req_ctx *c, const char *key, const json_t *v, json_t *gen,
                            const char *as)
{
    if (!json_is_number(v))
        return cmx_translate_bad(&c->tc, "'%s' must be a number", key);
    json_object_set(gen, as, (json_t *)v);
    return CMX_OK;
}

static cmx_err convert_params(req_ctx *c, const json_t *in, json_t *req, json_t *gen)
{
    const char *key;
    const json_t *v;
    cmx_err e = CMX_OK;
    json_object_foreach((json_t *)in, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "messages") == 0 ||
            strcmp(key, "stream") == 0 || strcmp(key, "stream_options") == 0 ||
            strcmp(key, "user") == 0)
            continue; /* stream: the URL says it; user: Gemini has no field for it */
        if (strcmp(key, "max_tokens") == 0 || strcmp(key, "max_completion_tokens") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                e = cmx_translate_bad(&c->tc, "'%s' must be a positive integer", key);
            else if (strcmp(key, "max_completion_tokens") == 0 ||
                     !json_object_get(gen, "maxOutputTokens"))
                json_object_set(gen, "maxOutputTokens", (json_t *)v);
        } else if (strcmp(key, "temperature") == 0)
            e = number_param(c, key, v, gen, "temperature");
        else if (strcmp(key, "top_p") == 0)
            e = number_param(c, key, v, gen, "topP");
        else if (strcmp(key, "presence_penalty") == 0)
            e = number_param(c, key, v, gen, "presencePenalty");
        else if (strcmp(key, "frequency_penalty") == 0)
            e = number_param(c, key, v, gen, "frequencyPenalty");
        else if (strcmp(key, "seed") == 0) {
            if (!json_is_integer(v))
                e = cmx_translate_bad(&c->tc, "'seed' must be an integer");
            else
                json_object_set(gen, "seed", (json_t *)v);
        } else if (strcmp(key, "n") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                e = cmx_translate_bad(&c->tc, "'n' must be a positive integer");
            else if (json_integer_value(v) > 1)
                e = cmx_translate_unsupported(&c->tc, "n", v);
        } else if (strcmp(key, "stop") == 0)
            e = convert_stop(c, v, gen);
        else if (strcmp(key, "response_format") == 0)
            e = convert_response_format(c, v, gen);
        else if (strcmp(key, "tools") == 0)
            e = convert_tools(c, v, req);
        else if (strcmp(key, "tool_choice") == 0)
            e = convert_tool_choice(c, v, req);
        else if (!is_harmless_default(key, v))
            e = cmx_translate_unsupported(&c->tc, key, v);
        if (e != CMX_OK)
            return e;
    }
    return CMX_OK;
}

cmx_err cmx_vertex_translate_request(const char *body, size_t len, const cmx_vertex_options *opt,
                                     cmx_buf *out, cmx_error *err)
{
    req_ctx c = {{.err = err,
                  .provider_name = opt->provider_name,
                  .provider_type = "vertex",
                  .drop_unsupported = opt->drop_unsupported},
                 NULL};
    json_t *in = json_loadb(body, len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return cmx_translate_bad(&c.tc, "the request body must be a JSON object");
    }
    json_t *req = json_object();
    json_t *contents = json_array();
    json_t *system = json_array();
    json_t *gen = json_object();
    json_t *extra = json_object();
    cmx_err e = convert_params(&c, in, extra, gen);
    if (e == CMX_OK)
        e = convert_messages(&c, json_object_get(in, "messages"), contents, system);
    if (e == CMX_OK && json_array_size(contents) == 0)
        e = cmx_translate_bad(
            &c.tc, "'messages' must hold at least one user or assistant message with content");
    if (e == CMX_OK) {
        json_object_set(req, "contents", contents);
        if (json_array_size(system))
            json_object_set_new(req, "systemInstruction", json_pack("{s:O}", "parts", system));
        if (json_object_size(gen))
            json_object_set(req, "generationConfig", gen);
        json_object_update(req, extra);
        e = cmx_translate_write_json(req, JSON_COMPACT, out, err);
    }
    json_decref(extra);
    json_decref(gen);
    json_decref(system);
    json_decref(contents);
    json_decref(req);
    json_decref(in);
    return e;
}

static int path_safe(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.' || *s == '@'))
            return 0;
    return 1;
}

static cmx_err model_path(const char *prefix, const char *project, const char *location,
                          const char *model, const char *method, cmx_buf *out, cmx_error *err)
{
    if (!path_safe(model)) {
        cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                      "model '%.80s' is not a Vertex model id (letters, digits, '-', '_', '.', "
                      "'@')",
                      model ? model : "");
        if (err)
            err->status = 400;
        return CMX_ERR_BAD_REQUEST;
    }
    if (cmx_buf_printf(out, "%s/v1/projects/%s/locations/%s/publishers/google/models/%s:%s",
                       prefix ? prefix : "", project, location, model, method) != 0)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

cmx_err cmx_vertex_model_path(const char *prefix, const char *project, const char *location,
                              const char *model, int stream, cmx_buf *out, cmx_error *err)
{
    return model_path(prefix, project, location, model,
                      stream ? "streamGenerateContent?alt=sse" : "generateContent", out, err);
}

cmx_err cmx_vertex_embed_path(const char *prefix, const char *project, const char *location,
                              const char *model, cmx_buf *out, cmx_error *err)
{
    return model_path(prefix, project, location, model, "predict", out, err);
}
