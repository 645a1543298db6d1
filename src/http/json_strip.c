/* json_strip.c — a JSON object without some of its top-level members, for
 * the response cache's key: the request minus the fields that do not change
 * the answer (stream, stream_options, user).  The kept members are copied
 * byte for byte, joined by single commas. */
#include <string.h>

#include "http/json_doc.h"
#include "http/json_scan.h"

char *cmx_json_strip_members(cmx_arena *arena, const char *body, size_t len,
                             const char *const *names, size_t n_names, size_t *out_len)
{
    cmx_json_doc doc;
    cmx_error err;
    if (cmx_json_doc_parse(&doc, body, len, arena, &err) != CMX_OK ||
        cmx_json_doc_type(&doc, 0) != CMX_JSON_OBJECT)
        return NULL;
    char *out = cmx_arena_alloc(arena, len + 2);
    if (!out)
        return NULL;
    size_t n = 0;
    out[n++] = '{';
    int end = cmx_json_doc_next(&doc, 0);
    for (int k = 1; k < end; k = cmx_json_doc_next(&doc, k + 1)) {
        int drop = 0;
        for (size_t i = 0; i < n_names && !drop; i++)
            drop = cmx_json_doc_key_is(&doc, k, names[i], strlen(names[i]));
        if (drop)
            continue;
        cmx_json_span key = cmx_json_doc_span(&doc, k);
        cmx_json_span value = cmx_json_doc_span(&doc, k + 1);
        if (n > 1)
            out[n++] = ',';
        memcpy(out + n, body + key.start, value.end - key.start);
        n += value.end - key.start;
    }
    out[n++] = '}';
    *out_len = n;
    return out;
}
