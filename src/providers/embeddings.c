/* embeddings.c — OpenAI embeddings requests read, answers and their base64
 * vectors written (see the header).
 *
 * The bytes are written little-endian by hand rather than copied from
 * memory, so the answer is the same on any host. */
#include "embeddings.h"
#include "translate_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The inputs as a list of strings (a lone string becomes a list of one). */
static cmx_err collect_texts(const json_t *input, json_t *texts, const char *name, const char *type,
                             cmx_error *err)
{
    if (json_is_string(input))
        return json_array_append(texts, (json_t *)input) == 0
                   ? CMX_OK
                   : cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (!json_is_array(input) || json_array_size(input) == 0)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "'input' must be a string or a non-empty array of strings");
    size_t i;
    const json_t *v;
    json_array_foreach(input, i, v)
    {
        if (!json_is_string(v))
            return cmx_error_set(
                err, CMX_ERR_BAD_REQUEST,
                "input[%zu]: provider '%s' (%s) takes text inputs only, not token arrays", i, name,
                type);
        json_array_append(texts, (json_t *)v);
    }
    return CMX_OK;
}

static cmx_err read_field(const char *key, const json_t *v, const char *name, const char *type,
                          int drop_unsupported, cmx_embedding_request *r, cmx_error *err)
{
    if (strcmp(key, "input") == 0)
        return collect_texts(v, r->texts, name, type, err);
    if (strcmp(key, "dimensions") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "'dimensions' must be a positive integer");
        r->dimensions = v;
        return CMX_OK;
    }
    if (strcmp(key, "encoding_format") == 0) {
        const char *f = json_string_value(v);
        if (f && strcmp(f, "base64") == 0)
            r->base64 = 1;
        else if ((!f || strcmp(f, "float") != 0) && !drop_unsupported)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "'encoding_format' must be \"float\" or \"base64\"");
        return CMX_OK;
    }
    if (!drop_unsupported)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "parameter '%.40s' is not supported by provider '%s' (%s)", key, name,
                             type);
    return CMX_OK;
}

cmx_err cmx_embedding_read_request(const char *body, size_t len, const char *name, const char *type,
                                   int drop_unsupported, cmx_embedding_request *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    out->body = json_loadb(body, len, 0, NULL);
    if (!json_is_object(out->body)) {
        cmx_embedding_request_free(out);
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "the request body must be a JSON object");
    }
    out->texts = json_array();
    if (!out->texts) {
        cmx_embedding_request_free(out);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    cmx_err e = CMX_OK;
    const char *key;
    json_t *v;
    json_object_foreach(out->body, key, v)
    {
        if (json_is_null(v) || strcmp(key, "model") == 0 || strcmp(key, "user") == 0)
            continue;
        if ((e = read_field(key, v, name, type, drop_unsupported, out, err)) != CMX_OK)
            break;
    }
    if (e == CMX_OK && json_array_size(out->texts) == 0)
        e = cmx_error_set(err, CMX_ERR_BAD_REQUEST, "missing required field 'input'");
    if (e != CMX_OK)
        cmx_embedding_request_free(out);
    return e;
}

void cmx_embedding_request_free(cmx_embedding_request *r)
{
    json_decref(r->texts);
    json_decref(r->body);
    memset(r, 0, sizeof *r);
}

json_t *cmx_embedding_base64(const json_t *values)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = json_array_size(values), len = n * 4;
    unsigned char *raw = malloc(len + 1);
    char *text = malloc((len + 2) / 3 * 4 + 1);
    json_t *out = NULL;
    if (raw && text) {
        for (size_t i = 0; i < n; i++) {
            float f = (float)json_number_value(json_array_get(values, i));
            uint32_t u;
            memcpy(&u, &f, 4);
            for (int k = 0; k < 4; k++)
                raw[i * 4 + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        size_t t = 0;
        for (size_t i = 0; i < len; i += 3) {
            uint32_t v = (uint32_t)raw[i] << 16;
            if (i + 1 < len)
                v |= (uint32_t)raw[i + 1] << 8;
            if (i + 2 < len)
                v |= raw[i + 2];
            text[t++] = abc[(v >> 18) & 63];
            text[t++] = abc[(v >> 12) & 63];
            text[t++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
            text[t++] = i + 2 < len ? abc[v & 63] : '=';
        }
        out = json_stringn(text, t);
    }
    free(raw);
    free(text);
    return out;
}

void cmx_embedding_append(json_t *data, size_t i, const json_t *vector, int base64)
{
    json_t *value = base64 ? cmx_embedding_base64(vector) : json_incref((json_t *)vector);
    json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                          (json_int_t)i, "embedding", value));
}

cmx_err cmx_embedding_write(const json_t *data, const char *model, int64_t tokens, cmx_buf *out,
                            cmx_usage *usage, cmx_error *err)
{
    cmx_err e = CMX_OK;
    json_t *list = json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                             model ? model : "", "usage", "prompt_tokens", (json_int_t)tokens,
                             "total_tokens", (json_int_t)tokens);
    /* nine significant digits keep a float32 exact without %.17g noise */
    e = cmx_translate_write_json(list, JSON_COMPACT | JSON_REAL_PRECISION(9), out, err);
    json_decref(list);
    if (usage && e == CMX_OK) {
        cmx_usage_init(usage);
        usage->prompt_tokens = tokens;
        usage->completion_tokens = 0;
        usage->total_tokens = tokens;
    }
    return e;
}
