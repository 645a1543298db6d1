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

static void start_message(cmx_messages_stream *s, const cmx_json_doc *d)
{
    cmx_buf *e = &s->event;
    int id = d ? CMX_JD_MEMBER(d, 0, "id") : -1;
    int model = d ? CMX_JD_MEMBER(d, 0, "model") : -1;
    cmx_buf_append(e, CMX_LIT("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_"));
    if (cmx_jd_type(d, id) == CMX_JSON_STRING) {
        cmx_json_span sp = cmx_json_doc_span(d, id);
        cmx_buf_append(e, d->bytes + sp.start + 1, sp.end - sp.start - 2);
    }
    cmx_buf_append(e, CMX_LIT("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"));
    if (cmx_jd_type(d, model) == CMX_JSON_STRING)
        cmx_jw_copy(e, d, model);
    else
        cmx_buf_append(e, CMX_LIT("\"\""));
    cmx_buf_append(e, CMX_LIT(",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                              "\"usage\":{\"input_tokens\":0,\"cache_creation_input_tokens\":0,"
                              "\"cache_read_input_tokens\":0,\"output_tokens\":0}}}"));
    send(s, "message_start");
    cmx_buf_append(e, CMX_LIT("{\"type\":\"ping\"}"));
    send(s, "ping");
    s->started = 1;
}

static void close_block(cmx_messages_stream *s)
{
    if (s->open_block < 0)
        return;
    cmx_buf_append(&s->event, CMX_LIT("{\"type\":\"content_block_stop\",\"index\":"));
    cmx_jw_int(&s->event, s->open_block);
    cmx_buf_append(&s->event, CMX_LIT("}"));
    send(s, "content_block_stop");
    s->open_block = -1;
}

static void block_start_head(cmx_messages_stream *s, int index)
{
    cmx_buf_append(&s->event, CMX_LIT("{\"type\":\"content_block_start\",\"index\":"));
    cmx_jw_int(&s->event, index);
    cmx_buf_append(&s->event, CMX_LIT(",\"content_block\":"));
}

static void delta_head(cmx_messages_stream *s, int index, const char *type)
{
    cmx_buf_append(&s->event, CMX_LIT("{\"type\":\"content_block_delta\",\"index\":"));
    cmx_jw_int(&s->event, index);
    cmx_buf_append(&s->event, CMX_LIT(",\"delta\":{\"type\":\""));
    cmx_buf_append_str(&s->event, type);
    cmx_buf_append(&s->event, CMX_LIT("\","));
}

static int non_empty_string(const cmx_json_doc *d, int v)
{
    if (cmx_jd_type(d, v) != CMX_JSON_STRING)
        return 0;
    cmx_json_span sp = cmx_json_doc_span(d, v);
    return sp.end - sp.start > 2;
}

static void text_delta(cmx_messages_stream *s, const cmx_json_doc *d, int text)
{
    if (s->open_block < 0 || s->open_is_tool) {
        close_block(s);
        s->open_block = s->blocks++;
        s->open_is_tool = 0;
        block_start_head(s, s->open_block);
        cmx_buf_append(&s->event, CMX_LIT("{\"type\":\"text\",\"text\":\"\"}}"));
        send(s, "content_block_start");
    }
    delta_head(s, s->open_block, "text_delta");
    cmx_buf_append(&s->event, CMX_LIT("\"text\":"));
    cmx_jw_copy(&s->event, d, text);
    cmx_buf_append(&s->event, CMX_LIT("}}"));
    send(s, "content_block_delta");
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
        int id = CMX_JD_MEMBER(d, tc, "id");
        int name = fn >= 0 ? CMX_JD_MEMBER(d, fn, "name") : -1;
        close_block(s);
        s->open_block = s->tool_block[ci] = s->blocks++;
        s->open_is_tool = 1;
        block_start_head(s, s->open_block);
        cmx_buf_append(&s->event, CMX_LIT("{\"type\":\"tool_use\",\"id\":"));
        if (cmx_jd_type(d, id) == CMX_JSON_STRING)
            cmx_jw_copy(&s->event, d, id);
        else
            cmx_buf_append(&s->event, CMX_LIT("\"toolu_cmx\""));
        cmx_buf_append(&s->event, CMX_LIT(",\"name\":"));
        if (cmx_jd_type(d, name) == CMX_JSON_STRING)
            cmx_jw_copy(&s->event, d, name);
        else
            cmx_buf_append(&s->event, CMX_LIT("\"\""));
        cmx_buf_append(&s->event, CMX_LIT(",\"input\":{}}}"));
        send(s, "content_block_start");
    }
    if (!non_empty_string(d, args))
        return;
    delta_head(s, s->tool_block[ci], "input_json_delta");
    cmx_buf_append(&s->event, CMX_LIT("\"partial_json\":"));
    cmx_jw_copy(&s->event, d, args);
    cmx_buf_append(&s->event, CMX_LIT("}}"));
    send(s, "content_block_delta");
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

cmx_err cmx_messages_stream_chunk(cmx_messages_stream *s, const char *json, size_t len,
                                  cmx_error *err)
{
    cmx_json_doc d;
    cmx_err rc = cmx_json_doc_parse(&d, json, len, s->arena, NULL);
    if (rc != CMX_OK || cmx_json_doc_type(&d, 0) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&d);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "a stream chunk is not a JSON object");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    if (!s->started)
        start_message(s, &d);
    int usage = CMX_JD_MEMBER(&d, 0, "usage");
    if (cmx_jd_type(&d, usage) == CMX_JSON_OBJECT)
        cmx_jd_read_chat_usage(&d, usage, &s->usage);
    int choices = CMX_JD_MEMBER(&d, 0, "choices");
    if (cmx_jd_type(&d, choices) == CMX_JSON_ARRAY) {
        CMX_JD_EACH_ELEMENT(&d, choices, ch)
        {
            int delta = CMX_JD_MEMBER(&d, ch, "delta");
            int content = delta >= 0 ? CMX_JD_MEMBER(&d, delta, "content") : -1;
            if (non_empty_string(&d, content))
                text_delta(s, &d, content);
            int calls = delta >= 0 ? CMX_JD_MEMBER(&d, delta, "tool_calls") : -1;
            if (cmx_jd_type(&d, calls) == CMX_JSON_ARRAY) {
                CMX_JD_EACH_ELEMENT(&d, calls, tc)
                tool_delta(s, &d, tc);
            }
            int fr = CMX_JD_MEMBER(&d, ch, "finish_reason");
            if (cmx_jd_type(&d, fr) == CMX_JSON_STRING)
                set_stop_reason(s, &d, fr);
        }
    }
    cmx_json_doc_release(&d);
    return lost(s, err);
}

cmx_err cmx_messages_stream_end(cmx_messages_stream *s, cmx_error *err)
{
    if (!s->started)
        start_message(s, NULL);
    close_block(s);
    cmx_buf *e = &s->event;
    cmx_buf_append(e, CMX_LIT("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""));
    cmx_buf_append_str(e, s->stop_reason);
    cmx_buf_append(e, CMX_LIT("\",\"stop_sequence\":null},\"usage\":"));
    cmx_messages_write_usage(e, &s->usage);
    cmx_buf_append(e, CMX_LIT("}"));
    send(s, "message_delta");
    cmx_buf_append(e, CMX_LIT("{\"type\":\"message_stop\"}"));
    send(s, "message_stop");
    return lost(s, err);
}

void cmx_messages_stream_free(cmx_messages_stream *s)
{
    cmx_buf_free(&s->event);
}
