/* translator.c — opening and closing translators, the registry walk, and
 * the stream framings they feed; see translator.h. */
#include "providers/translator.h"
#include "providers/provider.h"

#include <stdlib.h>
#include <string.h>

cmx_err cmx_translator_open(cmx_translator *t, const cmx_translator_ops *ops, cmx_arena *arena,
                            const cmx_translate_params *p, cmx_error *err)
{
    t->ops = NULL;
    t->state = arena ? cmx_arena_calloc(arena, 1, ops->state_size) : calloc(1, ops->state_size);
    if (!t->state)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    cmx_err rc = ops->init(t->state, p, err);
    if (rc != CMX_OK) {
        ops->release(t->state);
        if (!arena)
            free(t->state);
        t->state = NULL;
        return rc;
    }
    t->ops = ops;
    return CMX_OK;
}

void cmx_translator_close(cmx_translator *t)
{
    if (t->ops)
        t->ops->release(t->state);
}

const cmx_translator_ops *cmx_translator_at(size_t i)
{
    const cmx_provider_vtable *vt;
    for (size_t p = 0; (vt = cmx_provider_at(p)); p++)
        for (const cmx_translator_ops *const *tr = vt->translators; tr && *tr; tr++)
            if (i-- == 0)
                return *tr;
    return NULL;
}

cmx_err cmx_sse_framing_feed(cmx_sse_framing *f, const char *data, size_t len,
                             cmx_sse_event_cb on_event, void *ctx, cmx_error *err)
{
    if (!f->ready) {
        cmx_sse_parser_init(&f->parser, on_event, ctx);
        f->parser.max_event_bytes = CMX_SSE_UPSTREAM_EVENT_MAX;
        if (f->mid_stream)
            cmx_sse_parser_mid_stream(&f->parser);
        f->ready = 1;
    }
    int rc = cmx_sse_feed(&f->parser, data, len);
    if (rc == 0)
        return CMX_OK;
    if (rc < 0)
        cmx_sse_upstream_event_refused(err);
    else if (err->kind == CMX_OK) {
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "upstream stream stopped");
    }
    return err->kind;
}

int cmx_sse_framing_partial(const cmx_sse_framing *f)
{
    return f->ready && cmx_sse_has_partial(&f->parser);
}

void cmx_sse_framing_free(cmx_sse_framing *f)
{
    if (f->ready)
        cmx_sse_parser_free(&f->parser);
    f->ready = 0;
}

cmx_err cmx_eventstream_framing_feed(cmx_eventstream_framing *f, const char *data, size_t len,
                                     cmx_eventstream_message_cb on_message, void *ctx,
                                     cmx_error *err)
{
    if (!f->ready) {
        cmx_eventstream_decoder_init(&f->decoder, on_message, ctx);
        f->ready = 1;
    }
    cmx_err rc = cmx_eventstream_feed(&f->decoder, data, len, err);
    if (rc == CMX_ERR_UPSTREAM_PROTOCOL)
        err->cause = CMX_CAUSE_PROTOCOL;
    return rc;
}

int cmx_eventstream_framing_partial(const cmx_eventstream_framing *f)
{
    return f->ready && cmx_eventstream_has_partial(&f->decoder);
}

void cmx_eventstream_framing_free(cmx_eventstream_framing *f)
{
    if (f->ready)
        cmx_eventstream_decoder_free(&f->decoder);
    f->ready = 0;
}

cmx_err cmx_translate_cut(cmx_error *err, const char *marker, size_t events, int partial)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "upstream stream ended without %s after %zu events%s", marker, events,
                  partial ? " (mid-event)" : "");
    err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

void cmx_translate_params_of_target(cmx_translate_params *p, const cmx_target_config *target)
{
    if (!target)
        return;
    p->structured_output = target->structured_output;
    p->reasoning = target->reasoning;
    p->reasoning_budgets = target->reasoning_budgets;
    p->cache_prompt = target->cache_prompt;
}
