/* provider_error.c — a service's error answer as the router's kind and a
 * message; see provider_error.h. */
#include "provider_error.h"

#include <string.h>
#include <strings.h>

static int mentions_any(const char *text, const char *const *phrases)
{
    if (!text || !phrases)
        return 0;
    for (size_t i = 0; phrases[i]; i++)
        if (strcasestr(text, phrases[i]))
            return 1;
    return 0;
}

cmx_err cmx_provider_error_kind(const cmx_provider_error *e, cmx_err fallback)
{
    cmx_err kind = fallback;
    size_t n = e->type ? e->type_len : 0;
    for (const cmx_error_rule *r = e->rules; r && r->type && n; r++)
        if (strlen(r->type) == n && strncasecmp(r->type, e->type, n) == 0) {
            kind = r->kind;
            break;
        }
    if (kind == CMX_ERR_BAD_REQUEST && mentions_any(e->message, e->context_phrases))
        kind = CMX_ERR_CONTEXT_WINDOW;
    return kind;
}

cmx_err cmx_provider_error_set(const cmx_provider_error *e, cmx_error *err)
{
    cmx_err kind = cmx_provider_error_kind(e, cmx_err_from_http_status(e->status));
    const char *name = e->provider ? e->provider : "?";
    const char *ptype = e->provider_type ? e->provider_type : "provider";
    int tlen = e->type ? (int)(e->type_len > 64 ? 64 : e->type_len) : 0;
    const char *type = e->type ? e->type : "";
    if (kind == CMX_ERR_PROVIDER_AUTH)
        cmx_error_set(err, kind, "provider '%s' (%s) rejected the credentials (HTTP %d%s%.*s)",
                      name, ptype, e->status, tlen ? ", " : "", tlen, type);
    else if (e->message)
        cmx_error_set(err, kind, "provider '%s' (%s) answered %d: %.*s%s%.160s", name, ptype,
                      e->status, tlen, type, tlen ? ": " : "", e->message);
    else
        cmx_error_set(err, kind, "provider '%s' (%s) answered %d%s%.*s", name, ptype, e->status,
                      tlen ? ": " : "", tlen, type);
    if (err) {
        err->cause = CMX_CAUSE_HTTP_STATUS;
        err->upstream_status = e->status;
        err->retry_after_ms = e->retry_after_ms;
    }
    return kind;
}
