/* json_usage.c — token counts from an upstream answer, read by scanning.
 *
 * Every upstream answer (a whole body or one stream chunk) passes through
 * here, so this is one tokenize-and-validate pass and a walk over at most the
 * top-level keys and the usage object: the gateway needs to know both that
 * the answer is valid JSON (a 200 with garbage becomes a 502) and what it
 * cost.  Only a top-level "usage" counts; a "usage" key nested anywhere else
 * (inside a tool call's arguments, say) is content, not accounting.
 *
 * The Responses API names the same counts input_tokens, output_tokens and
 * input_tokens_details.cached_tokens, and its stream events carry the
 * usage inside their "response": both are read too. */
#include "http/json_scan.h"

#include "http/json_doc.h"
#include "core/str.h"

/* A count is a non-negative integer; anything else is "not reported". */
static void read_count(const cmx_json_doc *doc, int obj, const char *name, size_t name_len,
                       int64_t *dst)
{
    int v = cmx_json_doc_member(doc, obj, name, name_len, NULL);
    int64_t n;
    if (v >= 0 && cmx_json_doc_int64(doc, v, &n) == 0 && n >= 0)
        *dst = n;
}

int cmx_json_find_usage(const char *bytes, size_t len, cmx_arena *arena, cmx_usage *out)
{
    cmx_usage_init(out);
    cmx_json_doc doc;
    if (cmx_json_doc_parse(&doc, bytes, len, arena, NULL) != CMX_OK) {
        cmx_json_doc_release(&doc);
        return -1;
    }
    int found = 0;
    int top = cmx_json_doc_type(&doc, 0) == CMX_JSON_OBJECT ? 0 : -1;
    int usage = top >= 0 ? cmx_json_doc_member(&doc, top, CMX_LIT("usage"), NULL) : -1;
    if (usage < 0 && top >= 0) {
        int response = cmx_json_doc_member(&doc, top, CMX_LIT("response"), NULL);
        if (response >= 0 && cmx_json_doc_type(&doc, response) == CMX_JSON_OBJECT)
            usage = cmx_json_doc_member(&doc, response, CMX_LIT("usage"), NULL);
    }
    if (usage >= 0 && cmx_json_doc_type(&doc, usage) == CMX_JSON_OBJECT) {
        found = 1;
        read_count(&doc, usage, CMX_LIT("prompt_tokens"), &out->prompt_tokens);
        read_count(&doc, usage, CMX_LIT("input_tokens"), &out->prompt_tokens);
        read_count(&doc, usage, CMX_LIT("completion_tokens"), &out->completion_tokens);
        read_count(&doc, usage, CMX_LIT("output_tokens"), &out->completion_tokens);
        read_count(&doc, usage, CMX_LIT("total_tokens"), &out->total_tokens);
        int details = cmx_json_doc_member(&doc, usage, CMX_LIT("prompt_tokens_details"), NULL);
        if (details < 0)
            details = cmx_json_doc_member(&doc, usage, CMX_LIT("input_tokens_details"), NULL);
        if (details >= 0 && cmx_json_doc_type(&doc, details) == CMX_JSON_OBJECT) {
            read_count(&doc, details, CMX_LIT("cached_tokens"), &out->cached_tokens);
            /* an OpenAI-format upstream that writes prompt caches says so here, as
             * cloudmux's own answers do */
            read_count(&doc, details, CMX_LIT("cache_write_tokens"), &out->cache_write_tokens);
        }
        details = cmx_json_doc_member(&doc, usage, CMX_LIT("completion_tokens_details"), NULL);
        if (details >= 0 && cmx_json_doc_type(&doc, details) == CMX_JSON_OBJECT)
            read_count(&doc, details, CMX_LIT("reasoning_tokens"), &out->reasoning_tokens);
    }
    cmx_json_doc_release(&doc);
    return found;
}
