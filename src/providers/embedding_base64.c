/* embedding_base64.c — OpenAI's base64 embedding encoding (see the header).
 *
 * The bytes are written little-endian by hand rather than copied from
 * memory, so the answer is the same on any host. */
#include "embedding_base64.h"

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
