/* vertex_stream.c — Gemini's streamGenerateContent (alt=sse) as OpenAI
 * chat.completion.chunk JSONs.
 *
 * Each SSE event is a whole GenerateContentResponse holding the next piece
 * of the first candidate: text parts become content deltas, functionCall
 * parts (which Gemini sends whole) become one tool_calls delta each with the
 * complete arguments, and the response that carries finishReason ends the
 * answer.  usageMetadata comes with the chunks, the last one final; it is
 * sent as the usage chunk at the end when the client asked for it.  A
 * stream that ends without a finishReason was cut, whatever the transport
 * says.  The role chunk goes out with the first event, as OpenAI's does. */
#include "vertex.h"
#include "chunk_emit.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void cmx_vertex_stream_init(cmx_vertex_stream *s, int include_usage, int64_t created,
                            const char *model, cmx_vertex_emit_fn emit, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->emit = emit;
    s->ctx = ctx;
    s->include_usage = include_usage;
    s->created = created;
    snprintf(s->model, sizeof s->model, "%s", model ? model : "");
    cmx_usage_init(&s->usage);
}

void cmx_vertex_stream_free(cmx_vertex_stream *s)
{
    cmx_buf_free(&s->chunk);
}

void cmx_vertex_stream_usage(const cmx_vertex_stream *s, cmx_usage *out)
{
    *out = s->usage;
}

static cmx_err fail(cmx_vertex_stream *s, cmx_error *err, cmx_err kind, const char *what)
{
    cmx_error_set(err, kind, "vertex stream: %s (after %zu events)", what, s->events);
    if (err) {
        err->cause = CMX_CAUSE_PROTOCOL;
        if (kind == CMX_ERR_CONTENT_POLICY)
            err->status = 400;
    }
    return kind;
}

/* Where this stream's chunks go, as chunk_emit.c writes them. */
static cmx_chunk_writer writer(cmx_vertex_stream *s)
{
    return (cmx_chunk_writer){.id = s->id,
                              .model = s->model,
                              .created = s->created,
                              .scratch = &s->chunk,
                              .emit = s->emit,
                              .ctx = s->ctx};
}

static void start(cmx_vertex_stream *s, const json_t *r)
{
    const char *rid = json_string_value(json_object_get(r, "responseId"));
    const char *mv = json_string_value(json_object_get(r, "modelVersion"));
    snprintf(s->id, sizeof s->id, "chatcmpl-%.140s", rid ? rid : "vertex");
    if (mv)
        snprintf(s->model, sizeof s->model, "%s", mv);
    s->started = 1;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_role(&w);
}

static void emit_text(cmx_vertex_stream *s, const char *text, size_t len)
{
    cmx_chunk_writer w = writer(s);
    cmx_chunk_content(&w, text, len);
    s->content_seen = 1;
}

static void emit_call(cmx_vertex_stream *s, const json_t *fc)
{
    const json_t *name = json_object_get(fc, "name");
    const json_t *args = json_object_get(fc, "args");
    char *a = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    /* the id as the whole response would have it: response id + position */
    const char *rid =
        CMX_STARTS_WITH(s->id, "chatcmpl-") ? s->id + CMX_LIT_LEN("chatcmpl-") : s->id;
    char id[sizeof s->id + 32];
    int id_len = snprintf(id, sizeof id, "call_%s_%d", rid, s->tool_calls);
    cmx_chunk_writer w = writer(s);
    cmx_chunk_tool_call(&w, s->tool_calls, id, (size_t)id_len, json_string_value(name),
                        json_string_length(name), a ? a : "{}", a ? strlen(a) : 2);
    free(a);
    s->tool_calls++;
    s->content_seen = 1;
}

static void read_usage(cmx_vertex_stream *s, const json_t *u)
{
    if (!json_is_object(u))
        return;
    const json_t *v;
    int64_t thoughts =
        json_is_integer(v = json_object_get(u, "thoughtsTokenCount")) ? json_integer_value(v) : 0;
    s->usage.prompt_tokens = json_integer_value(json_object_get(u, "promptTokenCount"));
    s->usage.completion_tokens =
        json_integer_value(json_object_get(u, "candidatesTokenCount")) + thoughts;
    v = json_object_get(u, "totalTokenCount");
    s->usage.total_tokens = json_is_integer(v)
                                ? json_integer_value(v)
                                : s->usage.prompt_tokens + s->usage.completion_tokens;
    s->usage.cached_tokens = json_integer_value(json_object_get(u, "cachedContentTokenCount"));
}

cmx_err cmx_vertex_stream_event(cmx_vertex_stream *s, const char *data, size_t len, cmx_error *err)
{
    json_t *r = json_loadb(data, len, 0, NULL);
    if (s->finished) { /* only a late usage count may still matter */
        read_usage(s, json_object_get(r, "usageMetadata"));
        json_decref(r);
        return CMX_OK;
    }
    if (!json_is_object(r)) {
        json_decref(r);
        return fail(s, err, CMX_ERR_UPSTREAM_PROTOCOL, "an event that is not a JSON object");
    }
    cmx_err rc = CMX_OK;
    const json_t *e = json_object_get(r, "error");
    const char *block =
        json_string_value(json_object_get(json_object_get(r, "promptFeedback"), "blockReason"));
    const json_t *cand = json_array_get(json_object_get(r, "candidates"), 0);
    if (json_is_object(e)) {
        const json_t *code = json_object_get(e, "code");
        char *body = json_dumps(r, JSON_COMPACT);
        rc = cmx_vertex_error_kind(json_is_integer(code) ? (int)json_integer_value(code) : 500,
                                   body, body ? strlen(body) : 0, "vertex", 0, err);
        free(body);
        if (rc == CMX_OK)
            rc = fail(s, err, CMX_ERR_UNAVAILABLE, "an error object");
    } else if (block && !cand) {
        rc = fail(s, err, CMX_ERR_CONTENT_POLICY, "the prompt was blocked");
    } else {
        if (!s->started)
            start(s, r);
        read_usage(s, json_object_get(r, "usageMetadata"));
        const json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
        size_t i;
        const json_t *p;
        json_array_foreach(parts, i, p)
        {
            const json_t *t = json_object_get(p, "text");
            const json_t *fc = json_object_get(p, "functionCall");
            if (json_is_string(t) && !json_is_true(json_object_get(p, "thought"))) {
                if (json_string_length(t))
                    emit_text(s, json_string_value(t), json_string_length(t));
            } else if (json_is_object(fc))
                emit_call(s, fc);
        }
        const char *reason = json_string_value(json_object_get(cand, "finishReason"));
        const char *finish = cmx_vertex_finish_reason(reason);
        if (finish && strcmp(finish, "content_filter") == 0 && !s->content_seen) {
            rc = fail(s, err, CMX_ERR_CONTENT_POLICY, "the answer was withheld for safety");
        } else if (finish) {
            if (s->tool_calls && strcmp(finish, "stop") == 0)
                finish = "tool_calls";
            cmx_chunk_writer w = writer(s);
            cmx_chunk_finish(&w, finish);
            s->finished = 1;
        }
    }
    s->events++;
    json_decref(r);
    if (rc == CMX_OK)
        rc = cmx_chunk_check(&s->chunk, err);
    return rc;
}

cmx_err cmx_vertex_stream_end(cmx_vertex_stream *s, cmx_error *err)
{
    if (!s->finished)
        return fail(s, err, CMX_ERR_UPSTREAM_PROTOCOL, "the stream ended without a finishReason");
    if (!s->include_usage)
        return CMX_OK;
    /* counts Gemini never sent go out as 0 */
    cmx_usage u = s->usage;
    u.prompt_tokens = u.prompt_tokens > 0 ? u.prompt_tokens : 0;
    u.completion_tokens = u.completion_tokens > 0 ? u.completion_tokens : 0;
    u.total_tokens = u.total_tokens > 0 ? u.total_tokens : 0;
    u.cached_tokens = u.cached_tokens > 0 ? u.cached_tokens : 0;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_usage(&w, &u);
    return cmx_chunk_check(&s->chunk, err);
}
