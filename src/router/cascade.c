/* cascade.c — judging an answer for the cascade strategy; see cascade.h.
 * This runs only for cascade groups, once per candidate answer, so it may
 * parse the answer (and the request's response_format) with jansson. */
#include "router/cascade.h"
#include "core/str.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

/* Whether the client asked for JSON output (json_object or json_schema). */
static int wants_json(const cmx_call *call)
{
    if (!memmem(call->body, call->body_len, CMX_LIT("response_format")))
        return 0;
    json_t *req = json_loadb(call->body, call->body_len, 0, NULL);
    const char *type =
        json_string_value(json_object_get(json_object_get(req, "response_format"), "type"));
    int json = type && (strcmp(type, "json_object") == 0 || strcmp(type, "json_schema") == 0);
    json_decref(req);
    return json;
}

const char *cmx_cascade_reject_reason(const cmx_model_group *g, const cmx_call *call,
                                      const char *body, size_t len)
{
    const cmx_cascade_config *c = &g->cascade;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *message =
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
    const char *reason = NULL;
    if (json_array_size(json_object_get(message, "tool_calls")) > 0) {
        json_decref(root); /* a tool call is an answer in itself */
        return NULL;
    }
    const char *content = json_string_value(json_object_get(message, "content"));
    size_t n = content ? strlen(content) : 0;
    if (n < c->min_length) {
        reason = "too short";
    } else {
        const char *start = content;
        while (*start == ' ' || *start == '\n' || *start == '\t')
            start++;
        for (size_t i = 0; i < c->n_refusal_prefixes && !reason; i++)
            if (strncasecmp(start, c->refusal_prefixes[i], strlen(c->refusal_prefixes[i])) == 0)
                reason = "a refusal";
        if (!reason && wants_json(call)) {
            json_t *parsed = json_loads(content, 0, NULL);
            if (!parsed)
                reason = "not valid JSON";
            json_decref(parsed);
        }
    }
    json_decref(root);
    return reason;
}
