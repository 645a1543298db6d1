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
 * says.  The role chunk goes out with the first event, as OpenAI's does.
 * Events are read by token scan; texts are copied as Gemini escaped them. */
#include "vertex.h"
#include "chunk_emit.h"
#include "translate_util.h"
#include "core/str.h"

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
                              .ctx = s->ctx,
                              .head = &s->head};
}

static void start(cmx_vertex_stream *s, const cmx_json_doc *doc)
{
    char rid[140];
    cmx_translate_copy_string(rid, sizeof rid, doc, CMX_JSON_GET(doc, 0, "responseId"));
    snprintf(s->id, sizeof s->id, "chatcmpl-%s", rid[0] ? rid : "vertex");
    int mv = cmx_json_doc_get_typed(doc, 0, CMX_LIT("modelVersion"), CMX_JSON_STRING);
    if (mv >= 0)
        cmx_translate_copy_string(s->model, sizeof s->model, doc, mv);
    s->started = 1;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_role(&w);
}

/* A functionCall part (fc its call) as one tool_calls delta, the part's
 * thought signature with it. */
static void emit_call(cmx_vertex_stream *s, const cmx_json_doc *doc, int part, int fc)
{
    /* the id as the whole response would have it: response id + position */
    const char *rid =
        CMX_STARTS_WITH(s->id, "chatcmpl-") ? s->id + CMX_LIT_LEN("chatcmpl-") : s->id;
    char storage[sizeof s->id + 32];
    cmx_buf id;
    cmx_buf_init_fixed(&id, storage, sizeof storage);
    cmx_vertex_call_id(&id, CMX_JW_RAW(rid, strlen(rid)), s->tool_calls);
    int args = CMX_JSON_GET(doc, fc, "args");
    cmx_json_span sp = args >= 0 ? cmx_json_doc_span(doc, args) : (cmx_json_span){0, 0};
    cmx_chunk_writer w = writer(s);
    cmx_chunk_tool_call(&w, s->tool_calls, CMX_JW_ESC(id.data, id.len),
                        cmx_translate_str(doc, fc, "name"),
                        args >= 0 ? doc->bytes + sp.start : "{}", args >= 0 ? sp.end - sp.start : 2,
                        cmx_translate_str(doc, part, "thoughtSignature"));
    s->tool_calls++;
    s->content_seen = 1;
}

static void read_usage(cmx_vertex_stream *s, const cmx_json_doc *doc)
{
    int u = cmx_json_doc_get_typed(doc, 0, CMX_LIT("usageMetadata"), CMX_JSON_OBJECT);
    if (u >= 0)
        cmx_vertex_read_usage(doc, u, &s->usage);
}

/* An error object in the stream: Google's error answer, as a whole answer
 * would have it. */
static cmx_err on_error(cmx_vertex_stream *s, const cmx_json_doc *doc, int e, const char *data,
                        size_t len, cmx_error *err)
{
    int64_t code = cmx_translate_count(doc, e, "code", 500);
    cmx_err rc = cmx_vertex_error_kind((int)code, data, len, "vertex", 0, err);
    return rc != CMX_OK ? rc : fail(s, err, CMX_ERR_UNAVAILABLE, "an error object");
}

/* The first candidate's parts and finish reason. */
static cmx_err on_candidate(cmx_vertex_stream *s, const cmx_json_doc *doc, int cand, cmx_error *err)
{
    int parts = CMX_JSON_GET(doc, CMX_JSON_GET(doc, cand, "content"), "parts");
    if (cmx_json_doc_type(doc, parts) == CMX_JSON_ARRAY) {
        CMX_JSON_EACH(doc, parts, p)
        {
            int fc = cmx_json_doc_get_typed(doc, p, CMX_LIT("functionCall"), CMX_JSON_OBJECT);
            if (cmx_vertex_is_text_part(doc, p)) {
                int t = CMX_JSON_GET(doc, p, "text");
                if (cmx_json_doc_len(doc, t)) {
                    cmx_chunk_writer w = writer(s);
                    cmx_chunk_content(
                        &w, CMX_JW_ESC(cmx_json_doc_ptr(doc, t), cmx_json_doc_len(doc, t)));
                    s->content_seen = 1;
                }
            } else if (cmx_vertex_is_thought_part(doc, p)) {
                cmx_jw_str t = cmx_translate_str(doc, p, "text");
                cmx_chunk_writer w = writer(s);
                if (t.len)
                    cmx_chunk_reasoning(&w, t);
            } else if (fc >= 0) {
                emit_call(s, doc, p, fc);
            }
        }
    }
    int reason = cmx_json_doc_get_typed(doc, cand, CMX_LIT("finishReason"), CMX_JSON_STRING);
    const char *finish = reason < 0 ? NULL
                                    : cmx_vertex_finish_reason(cmx_json_doc_ptr(doc, reason),
                                                               cmx_json_doc_len(doc, reason));
    if (finish && strcmp(finish, "content_filter") == 0 && !s->content_seen)
        return fail(s, err, CMX_ERR_CONTENT_POLICY, "the answer was withheld for safety");
    if (finish) {
        if (s->tool_calls && strcmp(finish, "stop") == 0)
            finish = "tool_calls";
        cmx_chunk_writer w = writer(s);
        cmx_chunk_finish(&w, finish);
        s->finished = 1;
    }
    return CMX_OK;
}

cmx_err cmx_vertex_stream_event(cmx_vertex_stream *s, const char *data, size_t len, cmx_error *err)
{
    cmx_json_doc doc;
    int object = cmx_json_doc_parse(&doc, data, len, NULL, NULL) == CMX_OK &&
                 cmx_json_doc_type(&doc, 0) == CMX_JSON_OBJECT;
    cmx_err rc = CMX_OK;
    if (s->finished) { /* only a late usage count may still matter */
        if (object)
            read_usage(s, &doc);
    } else if (!object) {
        rc = fail(s, err, CMX_ERR_UPSTREAM_PROTOCOL, "an event that is not a JSON object");
    } else {
        int e = cmx_json_doc_get_typed(&doc, 0, CMX_LIT("error"), CMX_JSON_OBJECT);
        int block = cmx_json_doc_get_typed(&doc, CMX_JSON_GET(&doc, 0, "promptFeedback"),
                                           CMX_LIT("blockReason"), CMX_JSON_STRING);
        int cands = cmx_json_doc_get_typed(&doc, 0, CMX_LIT("candidates"), CMX_JSON_ARRAY);
        int cand = cands >= 0 && cands + 1 < cmx_json_doc_next(&doc, cands) ? cands + 1 : -1;
        if (e >= 0) {
            rc = on_error(s, &doc, e, data, len, err);
        } else if (block >= 0 && cand < 0) {
            rc = fail(s, err, CMX_ERR_CONTENT_POLICY, "the prompt was blocked");
        } else {
            if (!s->started)
                start(s, &doc);
            read_usage(s, &doc);
            rc = on_candidate(s, &doc, cand, err);
        }
        s->events++;
    }
    cmx_json_doc_release(&doc);
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
