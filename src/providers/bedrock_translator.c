/* bedrock_translator.c — Bedrock's three roads to a model as translators
 * (translator.h), which the bedrock provider chooses from per attempt:
 *
 *   bedrock             Converse: one format for every model, streamed as
 *                       ConverseStream's event-stream messages;
 *   bedrock_invoke      InvokeModel for anthropic.* models with `api:
 *                       invoke`: Anthropic's Messages bodies, its stream
 *                       events wrapped in event-stream `chunk` messages;
 *   bedrock_embeddings  InvokeModel for Titan and Cohere embeddings.
 *
 * The translations are the pure functions of bedrock_request.c,
 * bedrock_response.c, bedrock_stream.c, bedrock_invoke.c and
 * bedrock_embed.c; this file adapts them to the one interface. */
#include "providers/bedrock.h"
#include "providers/bedrock_invoke.h"

#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define EVENTSTREAM "application/vnd.amazon.eventstream"

/* ---- Converse --------------------------------------------------------- */

typedef struct converse_state {
    cmx_translate_params p;
    cmx_answer_plan plan; /* what the request asked of the answer */
    cmx_bedrock_stream stream;
    cmx_eventstream_framing framing;
} converse_state;

static cmx_err converse_init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    (void)err;
    converse_state *s = t;
    s->p = *p;
    cmx_bedrock_stream_init(&s->stream, p->id, p->model, p->include_usage, p->created, p->emit,
                            p->emit_ctx);
    s->stream.plan = &s->plan;
    return CMX_OK;
}

static cmx_bedrock_options options(const cmx_translate_params *p)
{
    return (cmx_bedrock_options){.provider_name = p->provider_name,
                                 .drop_unsupported = p->drop_unsupported,
                                 .model = p->model,
                                 .structured_output = p->structured_output,
                                 .reasoning = p->reasoning,
                                 .reasoning_budgets = p->reasoning_budgets,
                                 .cache_prompt = p->cache_prompt};
}

static cmx_err converse_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    converse_state *s = t;
    cmx_bedrock_options opt = options(&s->p);
    opt.plan = &s->plan;
    return cmx_bedrock_translate_request(in, &opt, out, err);
}

static cmx_err converse_read(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                             cmx_error *err)
{
    converse_state *s = t;
    return cmx_bedrock_translate_response(body, len, s->p.id, s->p.model, s->p.created, &s->plan,
                                          out, usage, err);
}

static cmx_err on_converse_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    return cmx_bedrock_stream_message(&((converse_state *)ctx)->stream, msg, err);
}

static cmx_err converse_feed(void *t, const char *data, size_t len, cmx_error *err)
{
    converse_state *s = t;
    return cmx_eventstream_framing_feed(&s->framing, data, len, on_converse_message, s, err);
}

/* A Converse stream is whole once messageStop came; the usage chunk, when
 * asked for and no metadata brought it, goes out now. */
static cmx_err converse_end(void *t, cmx_error *err)
{
    converse_state *s = t;
    if (!s->stream.stopped)
        return cmx_translate_cut(err, "messageStop", s->stream.events,
                                 cmx_eventstream_framing_partial(&s->framing));
    return cmx_bedrock_stream_finish(&s->stream, err);
}

static size_t converse_events(const void *t)
{
    return ((const converse_state *)t)->stream.events;
}

static void converse_usage(const void *t, cmx_usage *u)
{
    cmx_bedrock_stream_usage(&((const converse_state *)t)->stream, u);
}

static void converse_release(void *t)
{
    converse_state *s = t;
    cmx_eventstream_framing_free(&s->framing);
    cmx_bedrock_stream_free(&s->stream);
}

const cmx_translator_ops cmx_bedrock_converse_translator = {
    .name = "bedrock",
    .api = CMX_API_CHAT,
    .stream_content_type = EVENTSTREAM,
    .state_size = sizeof(converse_state),
    .init = converse_init,
    .write_request = converse_write,
    .read_answer = converse_read,
    .feed = converse_feed,
    .end = converse_end,
    .events = converse_events,
    .usage = converse_usage,
    .release = converse_release,
};

/* ---- Claude through InvokeModel ------------------------------------- */

typedef struct invoke_state {
    cmx_claude_state claude; /* first: the Claude steps take the state as theirs */
    cmx_eventstream_framing framing;
} invoke_state;

static cmx_err invoke_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    return cmx_claude_cloud_request(t, in, "bedrock", "bedrock-2023-05-31", out, err);
}

static cmx_err on_invoke_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    return cmx_bedrock_invoke_stream_message(&((invoke_state *)ctx)->claude.stream, msg, err);
}

static cmx_err invoke_feed(void *t, const char *data, size_t len, cmx_error *err)
{
    invoke_state *s = t;
    return cmx_eventstream_framing_feed(&s->framing, data, len, on_invoke_message, s, err);
}

static cmx_err invoke_end(void *t, cmx_error *err)
{
    invoke_state *s = t;
    if (s->claude.stream.stopped)
        return CMX_OK;
    return cmx_translate_cut(err, "message_stop", s->claude.stream.events,
                             cmx_eventstream_framing_partial(&s->framing));
}

static void invoke_release(void *t)
{
    invoke_state *s = t;
    cmx_eventstream_framing_free(&s->framing);
    cmx_claude_release(&s->claude);
}

const cmx_translator_ops cmx_bedrock_invoke_translator = {
    .name = "bedrock_invoke",
    .api = CMX_API_CHAT,
    .stream_content_type = EVENTSTREAM,
    .state_size = sizeof(invoke_state),
    .init = cmx_claude_init,
    .write_request = invoke_write,
    .read_answer = cmx_claude_read_answer,
    .feed = invoke_feed,
    .end = invoke_end,
    .events = cmx_claude_events,
    .usage = cmx_claude_usage,
    .release = invoke_release,
};

/* ---- embeddings through InvokeModel ---------------------------------- */

typedef struct embed_state {
    cmx_translate_params p;
    cmx_bedrock_embed_family family;
    int base64;            /* the client asked for encoding_format "base64" */
    int64_t header_tokens; /* x-amzn-bedrock-input-token-count, -1 when absent */
} embed_state;

static cmx_err embed_init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    embed_state *s = t;
    s->p = *p;
    s->header_tokens = -1;
    s->family = cmx_bedrock_embed_family_of(p->model);
    if (!s->family)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "provider '%s' (bedrock) embeds with amazon.titan-embed-text-* and "
                             "cohere.embed-* models only, not '%.80s'",
                             p->provider_name ? p->provider_name : "bedrock",
                             p->model ? p->model : "");
    return CMX_OK;
}

static cmx_err embed_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    embed_state *s = t;
    cmx_bedrock_options opt = options(&s->p);
    return cmx_bedrock_embed_request(s->family, in->body, in->len, &opt, out, &s->base64, err);
}

static void embed_header(void *t, const cmx_http_header *h)
{
    embed_state *s = t;
    if (cmx_slice_case_eq(h->name, "x-amzn-bedrock-input-token-count")) {
        char tmp[24];
        size_t n = h->value.len < sizeof tmp - 1 ? h->value.len : sizeof tmp - 1;
        memcpy(tmp, h->value.ptr, n);
        tmp[n] = '\0';
        s->header_tokens = strtoll(tmp, NULL, 10);
    }
}

static cmx_err embed_read(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                          cmx_error *err)
{
    embed_state *s = t;
    return cmx_bedrock_embed_response(s->family, body, len, s->p.model, s->base64, s->header_tokens,
                                      out, usage, err);
}

static void embed_release(void *t)
{
    (void)t;
}

const cmx_translator_ops cmx_bedrock_embeddings_translator = {
    .name = "bedrock_embeddings",
    .api = CMX_API_EMBEDDINGS,
    .state_size = sizeof(embed_state),
    .init = embed_init,
    .write_request = embed_write,
    .header = embed_header,
    .read_answer = embed_read,
    .release = embed_release,
};
