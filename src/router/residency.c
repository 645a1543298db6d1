/* residency.c — which region a request must stay in and which targets are
 * inside it; see residency.h. */
#include "router/residency.h"

#include <string.h>

int cmx_residency_allows(const char *tag, const cmx_provider_config *p)
{
    return !tag || (p && p->residency && strcmp(p->residency, tag) == 0);
}

uint64_t cmx_residency_targets(const char *tag, const cmx_model_group *g)
{
    if (g->residency) {
        if (tag && strcmp(tag, g->residency) != 0)
            return 0; /* a group bound to another region serves none of this request */
        tag = g->residency;
    }
    uint64_t mask = 0;
    for (size_t i = 0; i < g->n_targets && i < 64; i++)
        if (cmx_residency_allows(tag, g->targets[i].provider))
            mask |= UINT64_C(1) << i;
    return mask;
}

cmx_err cmx_residency_decide(const cmx_call *call, const cmx_model_group *g, cmx_residency *out,
                             cmx_error *err)
{
    const char *header = call->residency_header, *key = call->residency_key;
    /* A key tied to a region binds every request made with it. */
    if (header && key && strcmp(header, key) != 0)
        return cmx_error_set(err, CMX_ERR_RESIDENCY,
                             "residency '%.32s' (x-cloudmux-residency header) conflicts with the "
                             "API key, which is restricted to residency '%.32s'",
                             header, key);
    const char *asked = key ? key : header;
    const char *rule = key ? "the API key" : "the x-cloudmux-residency header";
    if (asked && g->residency && strcmp(asked, g->residency) != 0)
        return cmx_error_set(err, CMX_ERR_RESIDENCY,
                             "residency '%.32s' (required by %s) conflicts with model '%.64s', "
                             "which is restricted to residency '%.32s'",
                             asked, rule, g->name, g->residency);
    out->tag = asked ? asked : g->residency;
    out->rule = asked ? rule : "the model's configuration";
    if (out->tag && !cmx_residency_targets(out->tag, g))
        return cmx_error_set(err, CMX_ERR_RESIDENCY,
                             "no target of model '%.64s' is in residency '%.32s' (required by "
                             "%s); the request was not sent anywhere",
                             g->name, out->tag, out->rule);
    return CMX_OK;
}
