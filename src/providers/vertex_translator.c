/* vertex_translator.c — Vertex AI's three roads as translators
 * (translator.h), which the vertex provider chooses from per attempt:
 *
 *   vertex             Gemini's generateContent, streamed over SSE;
 *   vertex_claude      Claude models at publishers/anthropic (rawPredict):
 *                      Anthropic's Messages with Vertex's version in the
 *                      body, answered and streamed in Anthropic's format;
 *   vertex_embeddings  the prediction API's text embeddings.
 *
 * The translations are the pure functions of vertex_request.c,
 * vertex_response.c, vertex_stream.c and vertex_embed.c, and for Claude the
 * anthropic translator's parts. */
#include "providers/vertex.h"

#include "providers/anthropic.h"

/* ---- Gemini ----------------------------------------------------------- */

typedef struct gemini_state {
    cmx_translate_params p;
    cmx_vertex_stream stream;
    cmx_sse_framing sse;
    cmx_error *feed_err; /* during a feed: where the stream's error goes */
} gemini_state;

static cmx_err gemini_init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    (void)err;
    gemini_state *s = t;
    s->p = *p;
    cmx_vertex_stream_init(&s->stream, p->include_usage, p->created, p->model, p->emit,
                           p->emit_ctx);
    return CMX_OK;
}

static cmx_vertex_options options(const cmx_translate_params *p)
{
    return (cmx_vertex_options){.provider_name = p->provider_name,
                                .drop_unsupported = p->drop_unsupported,
                                .model = p->model,
                                .reasoning = p->reasoning,
                                .reasoning_budgets = p->reasoning_budgets};
}

static cmx_err gemini_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    cmx_vertex_options opt = options(&((gemini_state *)t)->p);
    return cmx_vertex_translate_request(in, &opt, out, err);
}

static cmx_err gemini_read(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                           cmx_error *err)
{
    gemini_state *s = t;
    const char *model = s->p.model && *s->p.model ? s->p.model : NULL;
    return cmx_vertex_translate_response(body, len, s->p.created, model, out, usage, err);
}

static int on_gemini_event(void *ctx, const cmx_sse_event *ev)
{
    gemini_state *s = ctx;
    if (ev->data_len == 0)
        return 0;
    cmx_err rc = cmx_vertex_stream_event(&s->stream, ev->data, ev->data_len, s->feed_err);
    if (rc != CMX_OK && s->feed_err->kind == CMX_OK)
        s->feed_err->kind = rc;
    return rc != CMX_OK;
}

static cmx_err gemini_feed(void *t, const char *data, size_t len, cmx_error *err)
{
    gemini_state *s = t;
    s->feed_err = err;
    return cmx_sse_framing_feed(&s->sse, data, len, on_gemini_event, s, err);
}

/* A Gemini stream is whole once a finishReason came. */
static cmx_err gemini_end(void *t, cmx_error *err)
{
    return cmx_vertex_stream_end(&((gemini_state *)t)->stream, err);
}

static size_t gemini_events(const void *t)
{
    return ((const gemini_state *)t)->stream.events;
}

static void gemini_usage(const void *t, cmx_usage *u)
{
    cmx_vertex_stream_usage(&((const gemini_state *)t)->stream, u);
}

static void gemini_release(void *t)
{
    gemini_state *s = t;
    cmx_sse_framing_free(&s->sse);
    cmx_vertex_stream_free(&s->stream);
}

const cmx_translator_ops cmx_vertex_gemini_translator = {
    .name = "vertex",
    .api = CMX_API_CHAT,
    .stream_content_type = "text/event-stream",
    .state_size = sizeof(gemini_state),
    .init = gemini_init,
    .write_request = gemini_write,
    .read_answer = gemini_read,
    .feed = gemini_feed,
    .end = gemini_end,
    .events = gemini_events,
    .usage = gemini_usage,
    .release = gemini_release,
};

/* ---- Claude on Vertex ------------------------------------------------- */

static cmx_err claude_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    return cmx_claude_cloud_request(t, in, "vertex", "vertex-2023-10-16", out, err);
}

const cmx_translator_ops cmx_vertex_claude_translator =
    CMX_CLAUDE_SSE_TRANSLATOR("vertex_claude", claude_write);

/* ---- embeddings ------------------------------------------------------- */

typedef struct embed_state {
    cmx_translate_params p;
    int base64; /* the client asked for encoding_format "base64" */
} embed_state;

static cmx_err embed_init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    (void)err;
    ((embed_state *)t)->p = *p;
    return CMX_OK;
}

static cmx_err embed_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    embed_state *s = t;
    cmx_vertex_options opt = options(&s->p);
    return cmx_vertex_translate_embeddings_request(in->body, in->len, &opt, out, &s->base64, err);
}

static cmx_err embed_read(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                          cmx_error *err)
{
    embed_state *s = t;
    return cmx_vertex_translate_embeddings_response(body, len, s->p.model, s->base64, out, usage,
                                                    err);
}

static void embed_release(void *t)
{
    (void)t;
}

const cmx_translator_ops cmx_vertex_embeddings_translator = {
    .name = "vertex_embeddings",
    .api = CMX_API_EMBEDDINGS,
    .state_size = sizeof(embed_state),
    .init = embed_init,
    .write_request = embed_write,
    .read_answer = embed_read,
    .release = embed_release,
};
