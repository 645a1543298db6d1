/* json_event.c — the name of one stream event, from its JSON's "type".
 *
 * Anthropic's Messages events and OpenAI's Responses events both name
 * themselves in a "type" member, written first; the gateway and the
 * providers that pass those streams through read it for every event, so the
 * usual case is a prefix compare, and only an event that puts "type"
 * elsewhere (or escapes it) is tokenized. */
#include "http/json_doc.h"
#include "http/json_scan.h"
#include "core/str.h"

#include <string.h>

size_t cmx_json_event_type(const char *json, size_t len, char *out, size_t cap)
{
    static const char head[] = "{\"type\":\"";
    if (len > sizeof head && memcmp(json, head, sizeof head - 1) == 0) {
        const char *name = json + sizeof head - 1;
        const char *q = memchr(name, '"', len - (sizeof head - 1));
        size_t n = q ? (size_t)(q - name) : 0;
        if (q && n > 0 && n < cap && !memchr(name, '\\', n)) {
            memcpy(out, name, n);
            out[n] = '\0';
            return n;
        }
    }
    /* "type" elsewhere (or escaped): find it properly */
    cmx_json_doc doc;
    size_t got = 0;
    if (cmx_json_doc_parse(&doc, json, len, NULL, NULL) == CMX_OK &&
        cmx_json_doc_type(&doc, 0) == CMX_JSON_OBJECT) {
        int t = cmx_json_doc_member(&doc, 0, CMX_LIT("type"), NULL);
        if (t >= 0 && cmx_json_doc_type(&doc, t) == CMX_JSON_STRING) {
            long n = cmx_json_doc_unescape(&doc, t, out, cap - 1);
            if (n > 0) {
                out[n] = '\0';
                got = (size_t)n;
            }
        }
    }
    cmx_json_doc_release(&doc);
    return got;
}
