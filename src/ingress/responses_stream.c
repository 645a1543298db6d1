/* responses_stream.c — a chat completion stream as OpenAI's Responses
 * stream, chunk by chunk, for the targets that do not speak the Responses
 * API.
 *
 * The stream opens with response.created and response.in_progress (the
 * response as requested, no output yet).  Text deltas go into a message
 * item (response.output_item.added, response.content_part.added, then
 * response.output_text.delta per chunk); each tool call becomes a
 * function_call item whose arguments go out as
 * response.function_call_arguments.delta the moment they arrive — a call
 * of the JSON-schema tool (responses_chat.c) is the message's text instead.
 * An item is finished (its ...done events and response.output_item.done)
 * when the next one opens or the stream ends; the end is
 * response.completed, or response.incomplete with reason max_output_tokens
 * when the answer was cut for length.  A failure after the first byte is
 * an `error` event and response.failed.  Every event carries the next
 * sequence_number. */
#include "ingress/ingress.h"
#include "ingress/ingress_internal.h"
#include "ingress/ingress_json.h"

#include <stdio.h>
#include <string.h>

enum { ITEM_MESSAGE = 1, ITEM_CALL = 2 };

void cmx_responses_stream_init(cmx_responses_stream *s, const cmx_responses_meta *m,
                               cmx_ingress_emit_fn emit, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->meta = *m;
    s->emit = emit;
    s->ctx = ctx;
    s->open_item = -1;
    cmx_usage_init(&s->usage);
}

/* Starts an event: {"type":<name>,"sequence_number":N */
static void head(cmx_responses_stream *s, const char *name)
{
    cmx_buf_append(&s->event, CMX_LIT("{\"type\":\""));
    cmx_buf_append_str(&s->event, name);
    cmx_buf_append(&s->event, CMX_LIT("\",\"sequence_number\":"));
    cmx_jw_int(&s->event, s->seq++);
}

static void send(cmx_responses_stream *s, const char *name)
{
    cmx_buf_append(&s->event, CMX_LIT("}"));
    if (cmx_buf_failed(&s->event))
        s->lost = 1;
    if (!s->lost)
        s->emit(s->ctx, name, s->event.data, s->event.len);
    cmx_buf_rewind(&s->event);
}

/* ,"item_id":"..","output_index":N */
static void item_ref(cmx_responses_stream *s, int i)
{
    cmx_buf_append(&s->event, CMX_LIT(",\"item_id\":\""));
    cmx_buf_append_str(&s->event, s->items[i].id);
    cmx_buf_append(&s->event, CMX_LIT("\",\"output_index\":"));
    cmx_jw_int(&s->event, i);
}

/* An item as the response lists it; status "in_progress" while open. */
static void write_item(cmx_buf *b, const cmx_responses_item *it, const char *status)
{
    if (it->kind == ITEM_MESSAGE) {
        cmx_buf_append(b, CMX_LIT("{\"id\":\""));
        cmx_buf_append_str(b, it->id);
        cmx_buf_append(b, CMX_LIT("\",\"type\":\"message\",\"status\":\""));
        cmx_buf_append_str(b, status);
        cmx_buf_append(b, CMX_LIT("\",\"content\":["));
        if (it->done) {
            cmx_buf_append(b,
                           CMX_LIT("{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],"
                                   "\"text\":\""));
            cmx_buf_append(b, it->text.data ? it->text.data : "", it->text.len);
            cmx_buf_append(b, CMX_LIT("\"}"));
        }
        cmx_buf_append(b, CMX_LIT("],\"role\":\"assistant\"}"));
        return;
    }
    cmx_buf_append(b, CMX_LIT("{\"id\":\""));
    cmx_buf_append_str(b, it->id);
    cmx_buf_append(b, CMX_LIT("\",\"type\":\"function_call\",\"status\":\""));
    cmx_buf_append_str(b, status);
    cmx_buf_append(b, CMX_LIT("\",\"arguments\":\""));
    if (it->done)
        cmx_buf_append(b, it->text.data ? it->text.data : "", it->text.len);
    cmx_buf_append(b, CMX_LIT("\",\"call_id\":"));
    cmx_jw_cstr(b, it->call_id);
    cmx_buf_append(b, CMX_LIT(",\"name\":"));
    cmx_jw_cstr(b, it->name);
    cmx_buf_append(b, CMX_LIT("}"));
}

/* The whole response: head, the items, usage. */
static void write_response(cmx_responses_stream *s, const cmx_responses_state *st, int usage)
{
    cmx_buf *b = &s->event;
    cmx_buf_append(b, CMX_LIT(",\"response\":"));
    cmx_responses_write_head(b, &s->meta, st);
    cmx_buf_append(b, CMX_LIT(",\"output\":["));
    const char *item_status = st->incomplete_reason ? "incomplete" : "completed";
    for (int i = 0; i < s->n_items; i++) {
        if (i)
            cmx_buf_append(b, CMX_LIT(","));
        write_item(b, &s->items[i], s->items[i].done ? item_status : "in_progress");
    }
    cmx_buf_append(b, CMX_LIT("],\"usage\":"));
    if (usage)
        cmx_responses_write_usage(b, &s->usage);
    else
        cmx_buf_append(b, CMX_LIT("null"));
    cmx_buf_append(b, CMX_LIT("}"));
}

void cmx_responses_stream_begin(cmx_responses_stream *s)
{
    if (s->started)
        return;
    s->started = 1;
    cmx_responses_state st = {.status = "in_progress"};
    head(s, "response.created");
    write_response(s, &st, 0);
    send(s, "response.created");
    head(s, "response.in_progress");
    write_response(s, &st, 0);
    send(s, "response.in_progress");
}

static void finish_item(cmx_responses_stream *s, int i)
{
    cmx_responses_item *it = &s->items[i];
    if (it->done)
        return;
    it->done = 1;
    const char *status = strcmp(s->finish_reason, "length") == 0 ? "incomplete" : "completed";
    const char *text = it->text.data ? it->text.data : "";
    if (it->kind == ITEM_MESSAGE) {
        head(s, "response.output_text.done");
        item_ref(s, i);
        cmx_buf_append(&s->event, CMX_LIT(",\"content_index\":0,\"logprobs\":[],\"text\":\""));
        cmx_buf_append(&s->event, text, it->text.len);
        cmx_buf_append(&s->event, CMX_LIT("\""));
        send(s, "response.output_text.done");
        head(s, "response.content_part.done");
        item_ref(s, i);
        cmx_buf_append(&s->event, CMX_LIT(",\"content_index\":0,\"part\":{\"type\":\"output_text\","
                                          "\"annotations\":[],\"logprobs\":[],\"text\":\""));
        cmx_buf_append(&s->event, text, it->text.len);
        cmx_buf_append(&s->event, CMX_LIT("\"}"));
        send(s, "response.content_part.done");
    } else {
        head(s, "response.function_call_arguments.done");
        item_ref(s, i);
        cmx_buf_append(&s->event, CMX_LIT(",\"name\":"));
        cmx_jw_cstr(&s->event, it->name);
        cmx_buf_append(&s->event, CMX_LIT(",\"arguments\":\""));
        cmx_buf_append(&s->event, text, it->text.len);
        cmx_buf_append(&s->event, CMX_LIT("\""));
        send(s, "response.function_call_arguments.done");
    }
    head(s, "response.output_item.done");
    cmx_buf_append(&s->event, CMX_LIT(",\"output_index\":"));
    cmx_jw_int(&s->event, i);
    cmx_buf_append(&s->event, CMX_LIT(",\"item\":"));
    write_item(&s->event, it, status);
    send(s, "response.output_item.done");
}

/* Opens a new item (finishing the one before); -1 when there is no room. */
static int open_item(cmx_responses_stream *s, int kind)
{
    if (s->open_item >= 0)
        finish_item(s, s->open_item);
    if (s->n_items >= (int)(sizeof s->items / sizeof s->items[0]))
        return -1;
    int i = s->n_items++;
    cmx_responses_item *it = &s->items[i];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->chat_index = -1;
    s->open_item = i;
    return i;
}

static void announce_item(cmx_responses_stream *s, int i)
{
    head(s, "response.output_item.added");
    cmx_buf_append(&s->event, CMX_LIT(",\"output_index\":"));
    cmx_jw_int(&s->event, i);
    cmx_buf_append(&s->event, CMX_LIT(",\"item\":"));
    write_item(&s->event, &s->items[i], "in_progress");
    send(s, "response.output_item.added");
    if (s->items[i].kind != ITEM_MESSAGE)
        return;
    head(s, "response.content_part.added");
    item_ref(s, i);
    cmx_buf_append(&s->event, CMX_LIT(",\"content_index\":0,\"part\":{\"type\":\"output_text\","
                                      "\"annotations\":[],\"logprobs\":[],\"text\":\"\"}"));
    send(s, "response.content_part.added");
}

static int open_message(cmx_responses_stream *s)
{
    int i = open_item(s, ITEM_MESSAGE);
    if (i < 0)
        return -1;
    snprintf(s->items[i].id, sizeof s->items[i].id, "msg_%d_%.36s", i, s->meta.id);
    announce_item(s, i);
    return i;
}

/* A piece of text (the inside of a JSON string, escaped) into item i. */
static void text_delta(cmx_responses_stream *s, int i, const cmx_json_doc *d, int piece)
{
    cmx_jw_inner(&s->items[i].text, d, piece);
    head(s, "response.output_text.delta");
    item_ref(s, i);
    cmx_buf_append(&s->event, CMX_LIT(",\"content_index\":0,\"logprobs\":[],\"delta\":"));
    cmx_jw_copy(&s->event, d, piece);
    send(s, "response.output_text.delta");
}

static int non_empty_string(const cmx_json_doc *d, int v)
{
    if (cmx_jd_type(d, v) != CMX_JSON_STRING)
        return 0;
    cmx_json_span sp = cmx_json_doc_span(d, v);
    return sp.end - sp.start > 2;
}

static int item_of_call(const cmx_responses_stream *s, int64_t ci)
{
    for (int i = 0; i < s->n_items; i++)
        if (s->items[i].chat_index == ci)
            return i;
    return -1;
}

static void copy_string(const cmx_json_doc *d, int v, char *out, size_t cap)
{
    out[0] = '\0';
    if (cmx_jd_type(d, v) != CMX_JSON_STRING)
        return;
    long n = cmx_json_doc_unescape(d, v, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

static void tool_delta(cmx_responses_stream *s, const cmx_json_doc *d, int tc)
{
    int64_t ci = 0;
    int index = CMX_JD_MEMBER(d, tc, "index");
    if (index >= 0 && (cmx_json_doc_int64(d, index, &ci) != 0 || ci < 0))
        ci = 0;
    int fn = CMX_JD_MEMBER(d, tc, "function");
    int args = fn >= 0 ? CMX_JD_MEMBER(d, fn, "arguments") : -1;
    int i = item_of_call(s, ci);
    if (i < 0) {
        int name = fn >= 0 ? CMX_JD_MEMBER(d, fn, "name") : -1;
        const cmx_ingress_request *req = s->meta.req;
        if (req->schema_tool && cmx_jd_string_is(d, name, req->schema_tool, req->schema_tool_len)) {
            i = open_message(s);
            if (i < 0)
                return;
            s->items[i].as_text = 1;
        } else {
            i = open_item(s, ITEM_CALL);
            if (i < 0)
                return;
            cmx_responses_item *it = &s->items[i];
            copy_string(d, CMX_JD_MEMBER(d, tc, "id"), it->call_id, sizeof it->call_id);
            copy_string(d, name, it->name, sizeof it->name);
            size_t n = strnlen(it->call_id, sizeof it->id - 4);
            memcpy(it->id, "fc_", 3);
            memcpy(it->id + 3, it->call_id, n);
            it->id[3 + n] = '\0';
            announce_item(s, i);
        }
        s->items[i].chat_index = (int)ci;
    }
    if (!non_empty_string(d, args))
        return;
    if (s->items[i].as_text) {
        text_delta(s, i, d, args);
        return;
    }
    cmx_jw_inner(&s->items[i].text, d, args);
    head(s, "response.function_call_arguments.delta");
    item_ref(s, i);
    cmx_buf_append(&s->event, CMX_LIT(",\"delta\":"));
    cmx_jw_copy(&s->event, d, args);
    send(s, "response.function_call_arguments.delta");
}

static cmx_err lost(const cmx_responses_stream *s, cmx_error *err)
{
    return s->lost ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while writing a stream event")
                   : CMX_OK;
}

cmx_err cmx_responses_stream_chunk(cmx_responses_stream *s, const char *json, size_t len,
                                   cmx_error *err)
{
    cmx_json_doc d;
    cmx_err rc = cmx_json_doc_parse(&d, json, len, NULL, NULL);
    if (rc != CMX_OK || cmx_json_doc_type(&d, 0) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&d);
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "a stream chunk is not a JSON object");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    cmx_responses_stream_begin(s);
    int usage = CMX_JD_MEMBER(&d, 0, "usage");
    if (cmx_jd_type(&d, usage) == CMX_JSON_OBJECT)
        cmx_jd_read_chat_usage(&d, usage, &s->usage);
    int choices = CMX_JD_MEMBER(&d, 0, "choices");
    if (cmx_jd_type(&d, choices) == CMX_JSON_ARRAY) {
        CMX_JD_EACH_ELEMENT(&d, choices, ch)
        {
            int delta = CMX_JD_MEMBER(&d, ch, "delta");
            int content = delta >= 0 ? CMX_JD_MEMBER(&d, delta, "content") : -1;
            if (non_empty_string(&d, content)) {
                int i = s->open_item;
                if (i < 0 || s->items[i].kind != ITEM_MESSAGE || s->items[i].as_text)
                    i = open_message(s);
                if (i >= 0)
                    text_delta(s, i, &d, content);
            }
            int calls = delta >= 0 ? CMX_JD_MEMBER(&d, delta, "tool_calls") : -1;
            if (cmx_jd_type(&d, calls) == CMX_JSON_ARRAY) {
                CMX_JD_EACH_ELEMENT(&d, calls, tc)
                tool_delta(s, &d, tc);
            }
            int fr = CMX_JD_MEMBER(&d, ch, "finish_reason");
            if (cmx_jd_type(&d, fr) == CMX_JSON_STRING)
                copy_string(&d, fr, s->finish_reason, sizeof s->finish_reason);
        }
    }
    cmx_json_doc_release(&d);
    return lost(s, err);
}

cmx_err cmx_responses_stream_end(cmx_responses_stream *s, cmx_error *err)
{
    cmx_responses_stream_begin(s);
    for (int i = 0; i < s->n_items; i++)
        finish_item(s, i);
    const char *reason = strcmp(s->finish_reason, "length") == 0           ? "max_output_tokens"
                         : strcmp(s->finish_reason, "content_filter") == 0 ? "content_filter"
                                                                           : NULL;
    cmx_responses_state st = {.status = reason ? "incomplete" : "completed",
                              .incomplete_reason = reason};
    const char *name = reason ? "response.incomplete" : "response.completed";
    head(s, name);
    write_response(s, &st, 1);
    send(s, name);
    return lost(s, err);
}

void cmx_responses_stream_fail(cmx_responses_stream *s, cmx_err kind, const char *message)
{
    cmx_responses_stream_begin(s);
    const char *code = cmx_responses_error_code(kind);
    head(s, "error");
    cmx_buf_append(&s->event, CMX_LIT(",\"code\":"));
    cmx_jw_cstr(&s->event, code);
    cmx_buf_append(&s->event, CMX_LIT(",\"message\":"));
    cmx_jw_cstr(&s->event, message);
    cmx_buf_append(&s->event, CMX_LIT(",\"param\":null"));
    send(s, "error");
    cmx_responses_state st = {.status = "failed", .error_code = code, .error_message = message};
    head(s, "response.failed");
    write_response(s, &st, 0);
    send(s, "response.failed");
}

void cmx_responses_stream_free(cmx_responses_stream *s)
{
    for (int i = 0; i < s->n_items; i++)
        cmx_buf_free(&s->items[i].text);
    cmx_buf_free(&s->event);
}

void cmx_responses_fail_events(cmx_ingress_emit_fn emit, void *ctx, int64_t seq,
                               const char *response_id, cmx_err kind, const char *message)
{
    char mem[2048];
    cmx_buf b;
    const char *code = cmx_responses_error_code(kind);
    for (int k = 0; k < 2; k++) {
        cmx_buf_init_fixed(&b, mem, sizeof mem);
        cmx_buf_append_str(&b, k ? "{\"type\":\"response.failed\"" : "{\"type\":\"error\"");
        cmx_buf_append(&b, CMX_LIT(",\"sequence_number\":"));
        cmx_jw_int(&b, seq + k);
        if (k)
            cmx_buf_append(&b, CMX_LIT(",\"response\":{\"id\":"));
        if (k)
            cmx_jw_cstr(&b, response_id ? response_id : "resp_cloudmux");
        if (k)
            cmx_buf_append(&b, CMX_LIT(",\"object\":\"response\",\"status\":\"failed\","
                                       "\"output\":[],\"error\":{"));
        else
            cmx_buf_append(&b, CMX_LIT(","));
        cmx_buf_append(&b, CMX_LIT("\"code\":"));
        cmx_jw_cstr(&b, code);
        cmx_buf_append(&b, CMX_LIT(",\"message\":"));
        cmx_buf_append(&b, CMX_LIT("\""));
        cmx_buf_append_json_escaped(&b, message, strnlen(message, 600));
        cmx_buf_append(&b, CMX_LIT("\""));
        cmx_buf_append_str(&b, k ? "}}}" : ",\"param\":null}");
        if (!cmx_buf_failed(&b))
            emit(ctx, k ? "response.failed" : "error", b.data, b.len);
    }
}
