/* embedding_out.c — the OpenAI embeddings answer and its base64 vectors (see the header).
 *
 * The bytes are written little-endian by hand rather than copied from
 * memory, so the answer is the same on any host. */
#include "embedding_out.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    char *s = list ? json_dumps(list, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (!s || cmx_buf_append_str(out, s) != 0)
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    free(s);
    json_decref(list);
    if (usage && e == CMX_OK) {
        cmx_usage_init(usage);
        usage->prompt_tokens = tokens;
        usage->completion_tokens = 0;
        usage->total_tokens = tokens;
    }
    return e;
}
