/* anthropic_translator.c — the Messages API as a translator (translator.h),
 * and the parts of it every other road to Claude reuses.
 *
 * Claude answers in Anthropic's format wherever it runs: on Anthropic's
 * API, through Bedrock's InvokeModel and on Vertex's rawPredict.  What
 * differs is the request body (no "model" and a cloud's anthropic_version
 * in the body behind another cloud) and the stream's framing (SSE here and
 * on Vertex, AWS event-stream on Bedrock), so those are the only parts the
 * other translators replace. */
#include "providers/anthropic.h"
#include "providers/translate_util.h"

#include <stdlib.h>
#include <string.h>

static cmx_anthropic_options options(cmx_claude_state *s, const char *provider_type,
                                     const char *model)
{
    return (cmx_anthropic_options){
        .provider_name = s->p.provider_name,
        .provider_type = provider_type,
        .model = model,
        .target_model = s->p.model,
        .on_vertex = provider_type && strcmp(provider_type, "vertex") == 0,
        .default_max_tokens = s->p.default_max_tokens,
        .drop_unsupported = s->p.drop_unsupported,
        .structured_output = s->p.structured_output,
        .reasoning = s->p.reasoning,
        .reasoning_budgets = s->p.reasoning_budgets,
        .cache_prompt = s->p.cache_prompt,
        .plan = &s->plan,
    };
}

cmx_err cmx_claude_init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    (void)err;
    cmx_claude_state *s = t;
    s->p = *p;
    cmx_anthropic_stream_init(&s->stream, p->include_usage, p->created, p->emit, p->emit_ctx);
    s->stream.plan = &s->plan;
    return CMX_OK;
}

static cmx_err write_request(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    cmx_claude_state *s = t;
    cmx_anthropic_options opt = options(s, "anthropic", s->p.model);
    return cmx_anthropic_translate_request(in, &opt, out, err);
}

cmx_err cmx_claude_cloud_request(void *t, const cmx_translate_input *in, const char *provider_type,
                                 const char *version, cmx_buf *out, cmx_error *err)
{
    cmx_claude_state *s = t;
    cmx_anthropic_options opt = options(s, provider_type, NULL);
    opt.body_version = version;
    return cmx_anthropic_translate_request(in, &opt, out, err);
}

cmx_err cmx_claude_read_answer(void *t, const char *body, size_t len, cmx_buf *out,
                               cmx_usage *usage, cmx_error *err)
{
    cmx_claude_state *s = t;
    return cmx_anthropic_translate_response(body, len, s->p.created, &s->plan, out, usage, err);
}

static int on_sse_event(void *ctx, const cmx_sse_event *ev)
{
    cmx_claude_state *s = ctx;
    return cmx_anthropic_stream_event(&s->stream, ev->event, ev->event_len, ev->data, ev->data_len,
                                      s->feed_err) != CMX_OK;
}

cmx_err cmx_claude_feed_sse(void *t, const char *data, size_t len, cmx_error *err)
{
    cmx_claude_state *s = t;
    s->feed_err = err;
    return cmx_sse_framing_feed(&s->sse, data, len, on_sse_event, s, err);
}

/* A Claude stream is whole once message_stop came. */
cmx_err cmx_claude_end(void *t, cmx_error *err)
{
    cmx_claude_state *s = t;
    if (s->stream.stopped)
        return CMX_OK;
    return cmx_translate_cut(err, "message_stop", s->stream.events,
                             cmx_sse_framing_partial(&s->sse));
}

size_t cmx_claude_events(const void *t)
{
    return ((const cmx_claude_state *)t)->stream.events;
}

void cmx_claude_usage(const void *t, cmx_usage *u)
{
    cmx_anthropic_stream_usage(&((const cmx_claude_state *)t)->stream, u);
}

void cmx_claude_release(void *t)
{
    cmx_claude_state *s = t;
    cmx_sse_framing_free(&s->sse);
    cmx_anthropic_stream_free(&s->stream);
}

const cmx_translator_ops cmx_anthropic_translator =
    CMX_CLAUDE_SSE_TRANSLATOR("anthropic", write_request);
