/* mock_answer.c — the mock provider's answers in OpenAI's shapes (see the
 * header).
 *
 * Everything is derived from the request, never drawn at random: the same
 * body gets the same text, the same tool call and the same vectors, so
 * tests and demos can compare answers.  A required tool call gets arguments
 * built from the function's JSON schema (every required property, with the
 * first `enum` value or a plain value of its type); `response_format`
 * json_schema gets content built the same way.  Embedding vectors are
 * unit-length, seeded by a hash of each input. */
#include "mock_answer.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/embeddings.h"
#include "providers/translate_portable.h"
#include "providers/translate_util.h"

#define MAX_SCHEMA_DEPTH 8

/* The client's own mistake: a 400, as OpenAI answers it. */
#define bad(err, ...)                                                                              \
    cmx_translate_bad(&(cmx_translate_ctx){.err = (err), .provider_type = "mock"}, __VA_ARGS__)

/* ---- JSON values from a schema ------------------------------------------ */

static const char *schema_type(const json_t *schema)
{
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return json_string_value(t);
    /* ["string", "null"]: the first type that is not null */
    size_t i;
    const json_t *v;
    json_array_foreach(t, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "null") != 0)
            return json_string_value(v);
    }
    if (json_object_get(schema, "properties"))
        return "object";
    return NULL;
}

static json_t *sample_of(const json_t *schema, int depth)
{
    if (!json_is_object(schema) || depth > MAX_SCHEMA_DEPTH)
        return json_object();
    const json_t *v = json_object_get(schema, "const");
    if (v)
        return json_deep_copy(v);
    v = json_object_get(schema, "enum");
    if (json_array_size(v) > 0)
        return json_deep_copy(json_array_get(v, 0));
    const char *alt[] = {"anyOf", "oneOf", "allOf"};
    for (size_t i = 0; i < 3; i++) {
        v = json_object_get(schema, alt[i]);
        if (json_array_size(v) > 0)
            return sample_of(json_array_get(v, 0), depth + 1);
    }
    const char *type = schema_type(schema);
    if (!type || strcmp(type, "object") == 0) {
        json_t *obj = json_object();
        const json_t *props = json_object_get(schema, "properties");
        size_t i;
        const json_t *name;
        json_array_foreach(json_object_get(schema, "required"), i, name)
        {
            if (json_is_string(name))
                json_object_set_new(
                    obj, json_string_value(name),
                    sample_of(json_object_get(props, json_string_value(name)), depth + 1));
        }
        return obj;
    }
    if (strcmp(type, "array") == 0) {
        json_t *arr = json_array();
        json_int_t min = json_integer_value(json_object_get(schema, "minItems"));
        for (json_int_t i = 0; i < min && i < 8; i++)
            json_array_append_new(arr, sample_of(json_object_get(schema, "items"), depth + 1));
        return arr;
    }
    if (strcmp(type, "string") == 0)
        return json_string("mock");
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        const json_t *min = json_object_get(schema, "minimum");
        return json_is_number(min) ? json_deep_copy(min) : json_integer(1);
    }
    if (strcmp(type, "boolean") == 0)
        return json_true();
    return json_null();
}

static char *dump(json_t *value)
{
    char *s = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(value);
    return s;
}

/* ---- reading the request ------------------------------------------------- */

/* The function a tool_choice requires, or NULL when the model may answer
 * in text ("auto", "none", absent). */
static cmx_err required_tool(cmx_mock_plan *p, const json_t *root, cmx_error *err)
{
    const json_t *choice = json_object_get(root, "tool_choice");
    const json_t *tools = json_object_get(root, "tools");
    const char *wanted = NULL;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        if (strcmp(c, "auto") == 0 || strcmp(c, "none") == 0)
            return CMX_OK;
        if (strcmp(c, "required") != 0)
            return bad(err, "Invalid value for 'tool_choice': '%.40s'", c);
    } else if (json_is_object(choice)) {
        wanted = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!wanted)
            return bad(err, "%s", "'tool_choice' names no function ('function.name')");
    } else {
        return CMX_OK;
    }
    if (json_array_size(tools) == 0)
        return bad(err, "%s",
                   "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                   "are specified.");
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool)
    {
        const json_t *fn = json_object_get(tool, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || (wanted && strcmp(name, wanted) != 0))
            continue;
        p->tool_name = strdup(name);
        p->tool_arguments = dump(sample_of(json_object_get(fn, "parameters"), 0));
        if (!p->tool_name || !p->tool_arguments)
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return CMX_OK;
    }
    return bad(err, "Invalid value for 'tool_choice': no function named '%.60s' in 'tools'",
               wanted ? wanted : "");
}

/* json_object / json_schema answers are JSON text, as a real model's are. */
static cmx_err json_content(cmx_mock_plan *p, const json_t *root, const char *text, cmx_error *err)
{
    const json_t *rf = json_object_get(root, "response_format");
    const char *type = json_string_value(json_object_get(rf, "type"));
    json_t *value = NULL;
    if (type && strcmp(type, "json_schema") == 0)
        value = sample_of(json_object_get(json_object_get(rf, "json_schema"), "schema"), 0);
    else if (type && strcmp(type, "json_object") == 0)
        value = json_pack("{s:s}", "message", text);
    else
        return CMX_OK;
    free(p->content);
    p->content = dump(value);
    return p->content ? CMX_OK : cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static cmx_err read_embeddings(cmx_mock_plan *p, const json_t *root, cmx_error *err)
{
    const json_t *v = json_object_get(root, "encoding_format");
    if (v && !json_is_null(v)) {
        const char *f = json_string_value(v);
        if (f && strcmp(f, "base64") == 0)
            p->base64 = 1;
        else if (!f || strcmp(f, "float") != 0)
            return bad(err, "%s", "'encoding_format' must be \"float\" or \"base64\"");
    }
    p->dimensions = CMX_MOCK_DEFAULT_DIMENSIONS;
    v = json_object_get(root, "dimensions");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > CMX_MOCK_MAX_DIMENSIONS)
            return bad(err, "%s",
                       "'dimensions' must be an integer from 1 to 4096 for the mock provider");
        p->dimensions = (unsigned)json_integer_value(v);
    }
    /* A string, a list of strings, a list of token ids (one input) or a
     * list of such lists. */
    const json_t *input = json_object_get(root, "input");
    int several = json_is_array(input) && json_array_size(input) > 0 &&
                  !json_is_integer(json_array_get(input, 0));
    p->n_inputs = several ? json_array_size(input) : 1;
    p->input_hashes = calloc(p->n_inputs, sizeof *p->input_hashes);
    if (!p->input_hashes)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n_inputs; i++) {
        char *text = dump(json_incref(several ? json_array_get(input, i) : (json_t *)input));
        p->input_hashes[i] = fnv1a(text ? text : "");
        free(text);
    }
    return CMX_OK;
}

cmx_err cmx_mock_plan_read(cmx_mock_plan *p, cmx_api api, const char *body, size_t len,
                           const char *model, const char *content, uint64_t seq, cmx_error *err)
{
    memset(p, 0, sizeof *p);
    p->api = api;
    p->model = model;
    p->n = 1;
    p->created = (long)time(NULL);
    snprintf(p->id, sizeof p->id, "%s-mock-%llu", api == CMX_API_EMBEDDINGS ? "emb" : "chatcmpl",
             (unsigned long long)seq);
    snprintf(p->tool_call_id, sizeof p->tool_call_id, "call_mock_%llu", (unsigned long long)seq);
    p->content = strdup(content);
    if (!p->content)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    /* The gateway validated the body already: it is a JSON object. */
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return bad(err, "%s", "the request body must be a JSON object");
    }
    cmx_err e = CMX_OK;
    if (api == CMX_API_EMBEDDINGS) {
        e = read_embeddings(p, root, err);
    } else {
        const json_t *n = json_object_get(root, "n");
        if (n && !json_is_null(n)) {
            if (!json_is_integer(n) || json_integer_value(n) < 1 ||
                json_integer_value(n) > CMX_MOCK_MAX_CHOICES)
                e = bad(err, "%s", "'n' must be an integer from 1 to 128");
            else
                p->n = (unsigned)json_integer_value(n);
        }
        const json_t *stop = json_object_get(root, "stop");
        size_t max_stop = cmx_stop_limits_of(CMX_STOP_OPENAI)->max_items;
        if (e == CMX_OK && json_is_array(stop) && json_array_size(stop) > max_stop)
            e = bad(err,
                    "Invalid 'stop': array too long. Expected an array with maximum length %zu, "
                    "but got an array with length %zu instead.",
                    max_stop, json_array_size(stop));
        if (e == CMX_OK)
            e = required_tool(p, root, err);
        if (e == CMX_OK && !p->tool_name)
            e = json_content(p, root, content, err);
    }
    json_decref(root);
    return e;
}

void cmx_mock_plan_free(cmx_mock_plan *p)
{
    free(p->content);
    free(p->tool_name);
    free(p->tool_arguments);
    free(p->input_hashes);
    memset(p, 0, sizeof *p);
}

static size_t count_words(const char *s)
{
    size_t words = 0;
    int in_word = 0;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\n' || *s == '\t';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}

int64_t cmx_mock_completion_tokens(const cmx_mock_plan *p)
{
    const char *text = p->tool_name ? p->tool_arguments : p->content;
    size_t words = count_words(text);
    return (int64_t)(words ? words : 1) * (int64_t)p->n;
}

/* ---- chat answers -------------------------------------------------------- */

static void put_escaped(cmx_buf *b, const char *s, size_t len)
{
    cmx_buf_append_json_escaped(b, s, len);
}

/* Each choice's tool call has its own id: the first the plan's, the others
 * with their index appended. */
static void put_call_id(cmx_buf *b, const cmx_mock_plan *p, unsigned choice)
{
    cmx_buf_append_str(b, p->tool_call_id);
    if (choice)
        cmx_buf_printf(b, "_%u", choice);
}

static void put_head(cmx_buf *b, const cmx_mock_plan *p, const char *object)
{
    cmx_buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":\"", p->id,
                   object, p->created);
    put_escaped(b, p->model, strlen(p->model));
    cmx_buf_append_str(b, "\",\"system_fingerprint\":\"cloudmux-mock\",");
}

void cmx_mock_write_chat(const cmx_mock_plan *p, const char *usage_json, cmx_buf *out)
{
    put_head(out, p, "chat.completion");
    cmx_buf_append_str(out, "\"choices\":[");
    for (unsigned i = 0; i < p->n; i++) {
        cmx_buf_printf(out, "%s{\"index\":%u,\"message\":{\"role\":\"assistant\",", i ? "," : "",
                       i);
        if (p->tool_name) {
            cmx_buf_append_str(out, "\"content\":null,\"tool_calls\":[{\"id\":\"");
            put_call_id(out, p, i);
            cmx_buf_append_str(out, "\",\"type\":\"function\",\"function\":{\"name\":\"");
            put_escaped(out, p->tool_name, strlen(p->tool_name));
            cmx_buf_append_str(out, "\",\"arguments\":\"");
            put_escaped(out, p->tool_arguments, strlen(p->tool_arguments));
            cmx_buf_append_str(out, "\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}");
        } else {
            cmx_buf_append_str(out, "\"content\":\"");
            put_escaped(out, p->content, strlen(p->content));
            cmx_buf_append_str(out, "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}");
        }
    }
    cmx_buf_append_str(out, "],");
    cmx_buf_append_str(out, usage_json);
    cmx_buf_append_str(out, "}");
}

cmx_err cmx_mock_stream_step(const cmx_mock_plan *p, uint32_t step, uint32_t n_chunks,
                             void (*emit)(void *ctx, const char *json, size_t len), void *ctx)
{
    const char *text = p->tool_name ? p->tool_arguments : p->content;
    size_t text_len = strlen(text);
    cmx_buf b = CMX_BUF_INIT;
    for (unsigned i = 0; i < p->n; i++) {
        cmx_buf_reset(&b);
        put_head(&b, p, "chat.completion.chunk");
        cmx_buf_printf(&b, "\"choices\":[{\"index\":%u,\"delta\":{", i);
        const char *finish = "null";
        if (step == 0 && p->tool_name) {
            cmx_buf_append_str(&b, "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
                                   "\"index\":0,\"id\":\"");
            put_call_id(&b, p, i);
            cmx_buf_append_str(&b, "\",\"type\":\"function\",\"function\":{\"name\":\"");
            put_escaped(&b, p->tool_name, strlen(p->tool_name));
            cmx_buf_append_str(&b, "\",\"arguments\":\"\"}}]");
        } else if (step == 0) {
            cmx_buf_append_str(&b, "\"role\":\"assistant\",\"content\":\"\"");
        } else if (step <= n_chunks) {
            size_t from = text_len * (step - 1) / n_chunks;
            size_t to = text_len * step / n_chunks;
            if (p->tool_name) {
                cmx_buf_append_str(&b,
                                   "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
                put_escaped(&b, text + from, to - from);
                cmx_buf_append_str(&b, "\"}}]");
            } else {
                cmx_buf_append_str(&b, "\"content\":\"");
                put_escaped(&b, text + from, to - from);
                cmx_buf_append_str(&b, "\"");
            }
        } else {
            finish = p->tool_name ? "\"tool_calls\"" : "\"stop\"";
        }
        cmx_buf_printf(&b, "},\"logprobs\":null,\"finish_reason\":%s}]}", finish);
        if (cmx_buf_failed(&b)) {
            cmx_buf_free(&b);
            return CMX_ERR_NOMEM;
        }
        emit(ctx, b.data, b.len);
    }
    cmx_buf_free(&b);
    return CMX_OK;
}

void cmx_mock_write_usage_chunk(const cmx_mock_plan *p, const char *usage_json, cmx_buf *out)
{
    put_head(out, p, "chat.completion.chunk");
    cmx_buf_append_str(out, "\"choices\":[],");
    cmx_buf_append_str(out, usage_json);
    cmx_buf_append_str(out, "}");
}

/* ---- embeddings ---------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A unit-length vector seeded by the input's hash, as float32 values (so the
 * float and base64 encodings carry the same numbers), written as a JSON
 * array into `text`. */
static int vector_for(uint64_t seed, unsigned dims, cmx_buf *text)
{
    double *v = malloc(sizeof *v * dims);
    if (!v)
        return -1;
    double norm = 0;
    uint64_t state = seed;
    for (unsigned d = 0; d < dims; d++) {
        v[d] = (double)(splitmix64(&state) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
        norm += v[d] * v[d];
    }
    norm = norm > 0 ? sqrt(norm) : 1;
    cmx_buf_rewind(text);
    cmx_buf_append_str(text, "[");
    for (unsigned d = 0; d < dims; d++) {
        /* nine significant digits keep a float32 exact */
        char num[32];
        int n = snprintf(num, sizeof num, "%.9g", (double)(float)(v[d] / norm));
        if (!strpbrk(num, ".eEn"))
            n += snprintf(num + n, sizeof num - (size_t)n, ".0");
        cmx_buf_printf(text, "%s%s", d ? "," : "", num);
    }
    cmx_buf_append_str(text, "]");
    free(v);
    return cmx_buf_failed(text) ? -1 : 0;
}

cmx_err cmx_mock_write_embeddings(const cmx_mock_plan *p, int64_t prompt_tokens, cmx_buf *out,
                                  cmx_error *err)
{
    cmx_buf text = CMX_BUF_INIT;
    cmx_embedding_list list;
    cmx_embedding_list_begin(&list, out, p->base64);
    cmx_err e = CMX_OK;
    for (size_t i = 0; i < p->n_inputs && e == CMX_OK; i++) {
        cmx_json_doc doc;
        if (vector_for(p->input_hashes[i], p->dimensions, &text) != 0 ||
            cmx_json_doc_parse(&doc, text.data, text.len, NULL, NULL) != CMX_OK)
            e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        else
            e = cmx_embedding_list_add(&list, &doc, 0, "mock", err);
        cmx_json_doc_release(&doc);
    }
    if (e == CMX_OK)
        e = cmx_embedding_list_end(&list, p->model, prompt_tokens, NULL, err);
    else
        cmx_embedding_list_abandon(&list);
    cmx_buf_free(&text);
    return e;
}
