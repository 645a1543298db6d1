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

#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum { ITEM_MESSAGE = 1, ITEM_CALL = 2 };

void cmx_responses_stream_init(cmx_responses_stream *s, const cmx_responses_meta *m,
                               cmx_ingress_emit_fn emit, void *ctx)
{
    /* the items (most of the struct) are cleared as each opens */
    memset(s, 0, offsetof(cmx_responses_stream, items));
    memset(&s->n_items, 0, sizeof *s - offsetof(cmx_responses_stream, n_items));
    s->meta = *m;
    s->emit = emit;
    s->ctx = ctx;
    s->open_item = -1;
    cmx_usage_init(&s->usage);
}

/* Starts an event into s->event: {"type":<name>,"sequence_number":N and
 * the members the caller adds; send() closes it. */
static void head(cmx_responses_stream *s, cmx_jw *w, const char *name)
{
    cmx_jw_init(w, &s->event);
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    cmx_jw_string(w, name, strlen(name));
    CMX_JW_KEY(w, "sequence_number");
    cmx_jw_int(w, s->seq++);
}

static void send(cmx_responses_stream *s, cmx_jw *w, const char *name)
{
    cmx_jw_end(w);
    if (cmx_buf_failed(&s->event))
        s->lost = 1;
    if (!s->lost)
        s->emit(s->ctx, name, s->event.data, s->event.len);
    cmx_buf_rewind(&s->event);
}

static void put_cstr(cmx_jw *w, const char *str)
{
    cmx_jw_string(w, str, strlen(str));
}

/* An item's text or arguments so far (kept as the inside of a string). */
static void put_text(cmx_jw *w, const cmx_responses_item *it)
{
    cmx_jw_string_escaped(w, it->text.data ? it->text.data : "", it->text.len);
}

/* "item_id":"..","output_index":N */
static void item_ref(cmx_responses_stream *s, cmx_jw *w, int i)
{
    CMX_JW_KEY(w, "item_id");
    put_cstr(w, s->items[i].id);
    CMX_JW_KEY(w, "output_index");
    cmx_jw_int(w, i);
}

/* An event about item i's content part: its head, "item_id",
 * "output_index", "content_index"; with_logprobs adds "logprobs":[] (the
 * text events carry it). */
static void part_event(cmx_responses_stream *s, cmx_jw *w, const char *name, int i,
                       int with_logprobs)
{
    head(s, w, name);
    item_ref(s, w, i);
    CMX_JW_KEY(w, "content_index");
    cmx_jw_int(w, 0);
    if (with_logprobs) {
        CMX_JW_KEY(w, "logprobs");
        cmx_jw_array(w);
        cmx_jw_end(w);
    }
}

/* An output_text part: its text so far when `it` is given, else "". */
static void write_part(cmx_jw *w, const cmx_responses_item *it)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "type");
    CMX_JW_LIT(w, "output_text");
    CMX_JW_KEY(w, "annotations");
    cmx_jw_array(w);
    cmx_jw_end(w);
    CMX_JW_KEY(w, "logprobs");
    cmx_jw_array(w);
    cmx_jw_end(w);
    CMX_JW_KEY(w, "text");
    if (it)
        put_text(w, it);
    else
        CMX_JW_LIT(w, "");
    cmx_jw_end(w);
}

/* An item as the response lists it; status "in_progress" while open. */
static void write_item(cmx_jw *w, const cmx_responses_item *it, const char *status)
{
    cmx_jw_object(w);
    CMX_JW_KEY(w, "id");
    put_cstr(w, it->id);
    CMX_JW_KEY(w, "type");
    if (it->kind == ITEM_MESSAGE) {
        CMX_JW_LIT(w, "message");
        CMX_JW_KEY(w, "status");
        put_cstr(w, status);
        CMX_JW_KEY(w, "content");
        cmx_jw_array(w);
        if (it->done)
            write_part(w, it);
        cmx_jw_end(w);
        CMX_JW_KEY(w, "role");
        CMX_JW_LIT(w, "assistant");
    } else {
        CMX_JW_LIT(w, "function_call");
        CMX_JW_KEY(w, "status");
        put_cstr(w, status);
        CMX_JW_KEY(w, "arguments");
        if (it->done)
            put_text(w, it);
        else
            CMX_JW_LIT(w, "");
        CMX_JW_KEY(w, "call_id");
        put_cstr(w, it->call_id);
        CMX_JW_KEY(w, "name");
        put_cstr(w, it->name);
    }
    cmx_jw_end(w);
}

/* The whole response as member "response": head, the items, usage. */
static void write_response(cmx_responses_stream *s, cmx_jw *w, const cmx_responses_state *st,
                           int usage)
{
    CMX_JW_KEY(w, "response");
    cmx_responses_write_head(w, &s->meta, st);
    CMX_JW_KEY(w, "output");
    cmx_jw_array(w);
    const char *item_status = st->incomplete_reason ? "incomplete" : "completed";
    for (int i = 0; i < s->n_items; i++)
        write_item(w, &s->items[i], s->items[i].done ? item_status : "in_progress");
    cmx_jw_end(w);
    CMX_JW_KEY(w, "usage");
    if (usage)
        cmx_responses_write_usage(w, &s->usage);
    else
        cmx_jw_null(w);
    cmx_jw_end(w);
}

void cmx_responses_stream_begin(cmx_responses_stream *s)
{
    if (s->started)
        return;
    s->started = 1;
    cmx_responses_state st = {.status = "in_progress"};
    cmx_jw w;
    head(s, &w, "response.created");
    write_response(s, &w, &st, 0);
    send(s, &w, "response.created");
    head(s, &w, "response.in_progress");
    write_response(s, &w, &st, 0);
    send(s, &w, "response.in_progress");
}

static void finish_item(cmx_responses_stream *s, int i)
{
    cmx_responses_item *it = &s->items[i];
    if (it->done)
        return;
    it->done = 1;
    const char *status = strcmp(s->finish_reason, "length") == 0 ? "incomplete" : "completed";
    cmx_jw w;
    if (it->kind == ITEM_MESSAGE) {
        part_event(s, &w, "response.output_text.done", i, 1);
        CMX_JW_KEY(&w, "text");
        put_text(&w, it);
        send(s, &w, "response.output_text.done");
        part_event(s, &w, "response.content_part.done", i, 0);
        CMX_JW_KEY(&w, "part");
        write_part(&w, it);
        send(s, &w, "response.content_part.done");
    } else {
        head(s, &w, "response.function_call_arguments.done");
        item_ref(s, &w, i);
        CMX_JW_KEY(&w, "name");
        put_cstr(&w, it->name);
        CMX_JW_KEY(&w, "arguments");
        put_text(&w, it);
        send(s, &w, "response.function_call_arguments.done");
    }
    head(s, &w, "response.output_item.done");
    CMX_JW_KEY(&w, "output_index");
    cmx_jw_int(&w, i);
    CMX_JW_KEY(&w, "item");
    write_item(&w, it, status);
    send(s, &w, "response.output_item.done");
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
    cmx_jw w;
    head(s, &w, "response.output_item.added");
    CMX_JW_KEY(&w, "output_index");
    cmx_jw_int(&w, i);
    CMX_JW_KEY(&w, "item");
    write_item(&w, &s->items[i], "in_progress");
    send(s, &w, "response.output_item.added");
    if (s->items[i].kind != ITEM_MESSAGE)
        return;
    part_event(s, &w, "response.content_part.added", i, 0);
    CMX_JW_KEY(&w, "part");
    write_part(&w, NULL);
    send(s, &w, "response.content_part.added");
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

/* Keeps string token v's inside (escaped as it came) in item i's text. */
static void keep(cmx_responses_item *it, const cmx_json_doc *d, int v)
{
    cmx_json_span sp = cmx_json_doc_span(d, v);
    cmx_buf_append(&it->text, d->bytes + sp.start + 1, sp.end - sp.start - 2);
}

/* A piece of text (string token `piece`) into item i. */
static void text_delta(cmx_responses_stream *s, int i, const cmx_json_doc *d, int piece)
{
    keep(&s->items[i], d, piece);
    cmx_jw w;
    part_event(s, &w, "response.output_text.delta", i, 1);
    CMX_JW_KEY(&w, "delta");
    cmx_jd_put(&w, d, piece);
    send(s, &w, "response.output_text.delta");
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
    if (!cmx_jd_non_empty_string(d, args))
        return;
    if (s->items[i].as_text) {
        text_delta(s, i, d, args);
        return;
    }
    keep(&s->items[i], d, args);
    cmx_jw w;
    head(s, &w, "response.function_call_arguments.delta");
    item_ref(s, &w, i);
    CMX_JW_KEY(&w, "delta");
    cmx_jd_put(&w, d, args);
    send(s, &w, "response.function_call_arguments.delta");
}

static cmx_err lost(const cmx_responses_stream *s, cmx_error *err)
{
    return s->lost ? cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while writing a stream event")
                   : CMX_OK;
}

static void on_begin(void *ctx, const cmx_json_doc *d)
{
    (void)d;
    cmx_responses_stream_begin(ctx);
}

static void on_text(void *ctx, const cmx_json_doc *d, int content)
{
    cmx_responses_stream *s = ctx;
    int i = s->open_item;
    if (i < 0 || s->items[i].kind != ITEM_MESSAGE || s->items[i].as_text)
        i = open_message(s);
    if (i >= 0)
        text_delta(s, i, d, content);
}

static void on_tool_call(void *ctx, const cmx_json_doc *d, int tc)
{
    tool_delta(ctx, d, tc);
}

static void on_finish(void *ctx, const cmx_json_doc *d, int fr)
{
    cmx_responses_stream *s = ctx;
    copy_string(d, fr, s->finish_reason, sizeof s->finish_reason);
}

cmx_err cmx_responses_stream_chunk(cmx_responses_stream *s, const char *json, size_t len,
                                   cmx_error *err)
{
    static const cmx_chunk_visitor visitor = {on_begin, on_text, on_tool_call, on_finish};
    if (cmx_ingress_visit_chunk(json, len, NULL, &visitor, s, &s->usage, err) != CMX_OK)
        return CMX_ERR_UPSTREAM_PROTOCOL;
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
    cmx_jw w;
    head(s, &w, name);
    write_response(s, &w, &st, 1);
    send(s, &w, name);
    return lost(s, err);
}

void cmx_responses_stream_fail(cmx_responses_stream *s, cmx_err kind, const char *message)
{
    cmx_responses_stream_begin(s);
    const char *code = cmx_responses_error_code(kind);
    cmx_jw w;
    head(s, &w, "error");
    CMX_JW_KEY(&w, "code");
    put_cstr(&w, code);
    CMX_JW_KEY(&w, "message");
    put_cstr(&w, message);
    CMX_JW_KEY(&w, "param");
    cmx_jw_null(&w);
    send(s, &w, "error");
    cmx_responses_state st = {.status = "failed", .error_code = code, .error_message = message};
    head(s, &w, "response.failed");
    write_response(s, &w, &st, 0);
    send(s, &w, "response.failed");
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
    cmx_jw w;
    const char *code = cmx_responses_error_code(kind);
    for (int k = 0; k < 2; k++) {
        cmx_buf_init_fixed(&b, mem, sizeof mem);
        cmx_jw_init(&w, &b);
        cmx_jw_object(&w);
        CMX_JW_KEY(&w, "type");
        put_cstr(&w, k ? "response.failed" : "error");
        CMX_JW_KEY(&w, "sequence_number");
        cmx_jw_int(&w, seq + k);
        if (k) {
            CMX_JW_KEY(&w, "response");
            cmx_jw_object(&w);
            CMX_JW_KEY(&w, "id");
            put_cstr(&w, response_id ? response_id : "resp_cloudmux");
            CMX_JW_KEY(&w, "object");
            CMX_JW_LIT(&w, "response");
            CMX_JW_KEY(&w, "status");
            CMX_JW_LIT(&w, "failed");
            CMX_JW_KEY(&w, "output");
            cmx_jw_array(&w);
            cmx_jw_end(&w);
            CMX_JW_KEY(&w, "error");
            cmx_jw_object(&w);
        }
        CMX_JW_KEY(&w, "code");
        put_cstr(&w, code);
        CMX_JW_KEY(&w, "message");
        cmx_jw_string(&w, message, strnlen(message, 600));
        if (!k) {
            CMX_JW_KEY(&w, "param");
            cmx_jw_null(&w);
        }
        while (w.depth > 0)
            cmx_jw_end(&w);
        if (!cmx_buf_failed(&b))
            emit(ctx, k ? "response.failed" : "error", b.data, b.len);
    }
}
