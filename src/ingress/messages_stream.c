/* messages_stream.c — a chat completion stream as Anthropic's Messages
 * stream, chunk by chunk, for the targets that do not speak the Messages
 * API.
 *
 * The first chunk opens the message: exactly one message_start (its usage
 * zero: a chat stream tells its counts only at the end) and a ping.  Text
 * deltas go into a text block, each tool call into a tool_use block whose
 * arguments go out as input_json_delta the moment they arrive; a block is
 * opened by content_block_start and closed by content_block_stop when the
 * next one opens or the stream ends.  The end brings message_delta with the
 * stop reason and the whole usage (input, cache reads, output: clients
 * overwrite message_start's with it), then message_stop.  Nothing is held
 * back: every chunk is written out before the next is read. */
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <string.h>

void cmx_messages_stream_init(cmx_messages_stream *s, cmx_arena *arena, cmx_ingress_emit_fn emit,
                              void *ctx)
{
    memset(s, 0, sizeof *s);
    s->emit = emit;
    s->ctx = ctx;
    s->arena = arena;
    s->open_block = -1;
    for (size_t i = 0; i < sizeof s->tool_block / sizeof s->tool_block[0]; i++)
        s->tool_block[i] = -1;
    cmx_usage_init(&s->usage);
    memcpy(s->stop_reason, "end_turn", sizeof "end_turn");
}

/* Sends the event written into s->event, then empties it. */
static void send(cmx_messages_stream *s, const char *name)
{
    if (cmx_buf_failed(&s->event))
        s->lost = 1;
    if (!s->lost)
        s->emit(s->ctx, name, s->event.data, s->event.len);
    cmx_buf_rewind(&s->event);
}

static cmx_err lost(const cmx_messages_stream *s, cmx_error *err)
{
    return s->lost ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while writing a stream event")
                   : CMX_OK;
}

/* Opens an event object {"type":"<type>", ... into s->event. */
static void event_open(cmx_messages_stream *s, cmx_jw *w, const char *type)
{
    cmx_jw_init(w, &s->event);
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    cmx_jw_string(w, type, strlen(type));
}

/* Writes member `key` as string token v, or as `def` when v is not one. */
static void string_or(cmx_jw *w, const char *key, const cmx_json_doc *d, int v, const char *def)
{
    cmx_jw_key(w, key, strlen(key));
    if (cmx_jd_type(d, v) == CMX_JSON_STRING)
        cmx_jd_put(w, d, v);
    else
        cmx_jw_string(w, def, strlen(def));
}

static void start_message(cmx_messages_stream *s, const cmx_json_doc *d)
{
    cmx_jw w;
    int id = d ? CMX_JD_MEMBER(d, 0, "id") : -1;
    event_open(s, &w, "message_start");
    CMX_JW_KEY(&w, "message");
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "id");
    cmx_jw_string_open(&w);
    cmx_jw_string_piece_escaped(&w, CMX_LIT("msg_"));
    if (cmx_jd_type(d, id) == CMX_JSON_STRING)
        cmx_jd_put_inner(&w, d, id);
    cmx_jw_string_close(&w);
    CMX_JW_KEY(&w, "type");
    CMX_JW_LIT(&w, "message");
    CMX_JW_KEY(&w, "role");
    CMX_JW_LIT(&w, "assistant");
    string_or(&w, "model", d, d ? CMX_JD_MEMBER(d, 0, "model") : -1, "");
    CMX_JW_KEY(&w, "content");
    cmx_jw_array(&w);
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "stop_reason");
    cmx_jw_null(&w);
    CMX_JW_KEY(&w, "stop_sequence");
    cmx_jw_null(&w);
    CMX_JW_KEY(&w, "usage");
    cmx_usage zero;
    cmx_usage_init(&zero);
    cmx_messages_write_usage(&w, &zero);
    cmx_jw_end(&w);
    cmx_jw_end(&w);
    send(s, "message_start");
    event_open(s, &w, "ping");
    cmx_jw_end(&w);
    send(s, "ping");
    s->started = 1;
}

static void close_block(cmx_messages_stream *s)
{
    if (s->open_block < 0)
        return;
    cmx_jw w;
    event_open(s, &w, "content_block_stop");
    CMX_JW_KEY(&w, "index");
    cmx_jw_int(&w, s->open_block);
    cmx_jw_end(&w);
    send(s, "content_block_stop");
    s->open_block = -1;
}

/* content_block_start up to its block's type; the caller adds the block's
 * members and closes both objects. */
static void block_start(cmx_messages_stream *s, cmx_jw *w, int index, const char *type)
{
    event_open(s, w, "content_block_start");
    CMX_JW_KEY(w, "index");
    cmx_jw_int(w, index);
    CMX_JW_KEY(w, "content_block");
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    cmx_jw_string(w, type, strlen(type));
}

/* A content_block_delta carrying string token v as member `key`. */
static void delta(cmx_messages_stream *s, int index, const char *type, const char *key,
                  const cmx_json_doc *d, int v)
{
    cmx_jw w;
    event_open(s, &w, "content_block_delta");
    CMX_JW_KEY(&w, "index");
    cmx_jw_int(&w, index);
    CMX_JW_KEY(&w, "delta");
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "type");
    cmx_jw_string(&w, type, strlen(type));
    cmx_jw_key(&w, key, strlen(key));
    cmx_jd_put(&w, d, v);
    cmx_jw_end(&w);
    cmx_jw_end(&w);
    send(s, "content_block_delta");
}

static void text_delta(cmx_messages_stream *s, const cmx_json_doc *d, int text)
{
    if (s->open_block < 0 || s->open_is_tool) {
        close_block(s);
        s->open_block = s->blocks++;
        s->open_is_tool = 0;
        cmx_jw w;
        block_start(s, &w, s->open_block, "text");
        CMX_JW_KEY(&w, "text");
        CMX_JW_LIT(&w, "");
        cmx_jw_end(&w);
        cmx_jw_end(&w);
        send(s, "content_block_start");
    }
    delta(s, s->open_block, "text_delta", "text", d, text);
}

static void tool_delta(cmx_messages_stream *s, const cmx_json_doc *d, int tc)
{
    int64_t ci = 0;
    int index = CMX_JD_MEMBER(d, tc, "index");
    if (index >= 0 && (cmx_json_doc_int64(d, index, &ci) != 0 || ci < 0))
        ci = 0;
    if (ci >= (int64_t)(sizeof s->tool_block / sizeof s->tool_block[0]))
        ci = sizeof s->tool_block / sizeof s->tool_block[0] - 1;
    int fn = CMX_JD_MEMBER(d, tc, "function");
    int args = fn >= 0 ? CMX_JD_MEMBER(d, fn, "arguments") : -1;
    if (s->tool_block[ci] < 0) {
        close_block(s);
        s->open_block = s->tool_block[ci] = s->blocks++;
        s->open_is_tool = 1;
        cmx_jw w;
        block_start(s, &w, s->open_block, "tool_use");
        string_or(&w, "id", d, CMX_JD_MEMBER(d, tc, "id"), "toolu_cmx");
        string_or(&w, "name", d, fn >= 0 ? CMX_JD_MEMBER(d, fn, "name") : -1, "");
        CMX_JW_KEY(&w, "input");
        cmx_jw_object(&w);
        cmx_jw_end(&w);
        cmx_jw_end(&w);
        cmx_jw_end(&w);
        send(s, "content_block_start");
    }
    if (cmx_jd_non_empty_string(d, args))
        delta(s, s->tool_block[ci], "input_json_delta", "partial_json", d, args);
}

static void set_stop_reason(cmx_messages_stream *s, const cmx_json_doc *d, int fr)
{
    const char *r = CMX_JD_IS(d, fr, "length")           ? "max_tokens"
                    : CMX_JD_IS(d, fr, "tool_calls")     ? "tool_use"
                    : CMX_JD_IS(d, fr, "function_call")  ? "tool_use"
                    : CMX_JD_IS(d, fr, "content_filter") ? "refusal"
                                                         : "end_turn";
    strcpy(s->stop_reason, r);
}

static void on_begin(void *ctx, const cmx_json_doc *d)
{
    cmx_messages_stream *s = ctx;
    if (!s->started)
        start_message(s, d);
}

static void on_text(void *ctx, const cmx_json_doc *d, int content)
{
    text_delta(ctx, d, content);
}

static void on_tool_call(void *ctx, const cmx_json_doc *d, int tc)
{
    tool_delta(ctx, d, tc);
}

static void on_finish(void *ctx, const cmx_json_doc *d, int fr)
{
    set_stop_reason(ctx, d, fr);
}

cmx_err cmx_messages_stream_chunk(cmx_messages_stream *s, const char *json, size_t len,
                                  cmx_error *err)
{
    static const cmx_chunk_visitor visitor = {on_begin, on_text, on_tool_call, on_finish};
    if (cmx_ingress_visit_chunk(json, len, s->arena, &visitor, s, &s->usage, err) != CMX_OK)
        return CMX_ERR_UPSTREAM_PROTOCOL;
    return lost(s, err);
}

cmx_err cmx_messages_stream_end(cmx_messages_stream *s, cmx_error *err)
{
    if (!s->started)
        start_message(s, NULL);
    close_block(s);
    cmx_jw w;
    event_open(s, &w, "message_delta");
    CMX_JW_KEY(&w, "delta");
    cmx_jw_object(&w);
    CMX_JW_KEY(&w, "stop_reason");
    cmx_jw_string(&w, s->stop_reason, strlen(s->stop_reason));
    CMX_JW_KEY(&w, "stop_sequence");
    cmx_jw_null(&w);
    cmx_jw_end(&w);
    CMX_JW_KEY(&w, "usage");
    cmx_messages_write_usage(&w, &s->usage);
    cmx_jw_end(&w);
    send(s, "message_delta");
    event_open(s, &w, "message_stop");
    cmx_jw_end(&w);
    send(s, "message_stop");
    return lost(s, err);
}

void cmx_messages_stream_free(cmx_messages_stream *s)
{
    cmx_buf_free(&s->event);
}
