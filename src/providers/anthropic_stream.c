/* anthropic_stream.c — an Anthropic Messages event stream as OpenAI
 * chat.completion.chunk JSONs.
 *
 * Anthropic frames an answer as a message holding content blocks, each
 * opened, filled with deltas and closed; OpenAI sends flat deltas of one
 * choice.  The translator keeps the little state that mapping needs: the
 * message id and model (sent once, repeated in every chunk), which block is
 * open and, for tool_use blocks, which tool_calls index it became.  The
 * forced tool of a structured answer streams its input as content; a
 * thinking block streams its text as reasoning_content and, once closed,
 * goes out whole with its signature as thinking_blocks, so a client can
 * send it back.  A
 * message_delta carries the stop reason (the finish chunk) and the final
 * output count; message_stop is the only proof that the answer is complete.
 *
 * Events are read by token scan (http/json_doc.h) and their texts copied
 * into the chunks as Anthropic escaped them (a text delta written the way
 * Anthropic writes it is read without the scan: it is most of a stream); the chunks are written by
 * chunk_emit.c, the same for every translating provider. */
#include "anthropic.h"
#include "chunk_emit.h"
#include "provider_error.h"
#include "translate_util.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

void cmx_anthropic_stream_init(cmx_anthropic_stream *s, int include_usage, int64_t created,
                               cmx_anthropic_emit_fn emit, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->emit = emit;
    s->ctx = ctx;
    s->include_usage = include_usage;
    s->created = created;
    s->block_index = -1;
    cmx_usage_init(&s->usage);
}

void cmx_anthropic_stream_free(cmx_anthropic_stream *s)
{
    cmx_buf_free(&s->chunk);
    cmx_buf_free(&s->thinking);
    cmx_buf_free(&s->signature);
}

void cmx_anthropic_stream_usage(const cmx_anthropic_stream *s, cmx_usage *out)
{
    cmx_usage_init(out);
    if (!s->started)
        return;
    out->prompt_tokens = s->input_tokens + s->cache_read + s->cache_creation;
    out->completion_tokens = s->output_tokens;
    out->total_tokens = out->prompt_tokens + out->completion_tokens;
    out->cached_tokens = s->cache_read;
    out->cache_write_tokens = s->cache_creation;
    out->cache_write_1h_tokens = s->cache_creation_1h;
}

static cmx_err fail(cmx_anthropic_stream *s, cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "anthropic stream: %s (after %zu events)", what,
                  s->events);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

/* Where this stream's chunks go, and what each repeats. */
static cmx_chunk_writer writer(cmx_anthropic_stream *s)
{
    return (cmx_chunk_writer){s->id, s->model, s->created, &s->chunk, s->emit, s->ctx, &s->head};
}

/* A string member as the chunk writer takes it: the event's own bytes. */
static cmx_jw_str str_of(const cmx_json_doc *doc, int obj, const char *key)
{
    return cmx_translate_str(doc, obj, key);
}

static void read_usage(cmx_anthropic_stream *s, const cmx_json_doc *doc, int u)
{
    s->input_tokens = cmx_translate_count(doc, u, "input_tokens", s->input_tokens);
    s->cache_read = cmx_translate_count(doc, u, "cache_read_input_tokens", s->cache_read);
    s->cache_creation =
        cmx_translate_count(doc, u, "cache_creation_input_tokens", s->cache_creation);
    s->cache_creation_1h = cmx_anthropic_cache_1h(doc, u, s->cache_creation_1h);
    s->output_tokens = cmx_translate_count(doc, u, "output_tokens", s->output_tokens);
}

static void on_message_start(cmx_anthropic_stream *s, const cmx_json_doc *doc)
{
    int msg = CMX_JSON_GET(doc, 0, "message");
    cmx_translate_copy_string(s->id, sizeof s->id, doc, CMX_JSON_GET(doc, msg, "id"));
    cmx_translate_copy_string(s->model, sizeof s->model, doc, CMX_JSON_GET(doc, msg, "model"));
    read_usage(s, doc, CMX_JSON_GET(doc, msg, "usage"));
    s->started = 1;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_role(&w);
}

/* An escaped string member appended to a buffer. */
static void keep(cmx_buf *b, const cmx_json_doc *doc, int obj, const char *key)
{
    cmx_jw_str v = str_of(doc, obj, key);
    cmx_buf_append(b, v.s, v.len);
}

static void on_block_start(cmx_anthropic_stream *s, const cmx_json_doc *doc)
{
    int block = CMX_JSON_GET(doc, 0, "content_block");
    int type = CMX_JSON_GET(doc, block, "type");
    s->block_index = (long)cmx_translate_count(doc, 0, "index", 0);
    s->block_is_tool = CMX_JSON_STRING_IS(doc, type, "tool_use");
    s->block_is_json = s->block_is_tool && s->plan && s->plan->json_tool[0] &&
                       cmx_json_doc_string_is(doc, CMX_JSON_GET(doc, block, "name"),
                                              s->plan->json_tool, strlen(s->plan->json_tool));
    s->block_thinking = CMX_JSON_STRING_IS(doc, type, "thinking")            ? 1
                        : CMX_JSON_STRING_IS(doc, type, "redacted_thinking") ? 2
                                                                             : 0;
    cmx_buf_rewind(&s->thinking);
    cmx_buf_rewind(&s->signature);
    cmx_chunk_writer w = writer(s);
    if (s->block_thinking == 1) {
        cmx_jw_str text = str_of(doc, block, "thinking");
        keep(&s->thinking, doc, block, "thinking");
        keep(&s->signature, doc, block, "signature");
        if (text.len)
            cmx_chunk_reasoning(&w, text);
    } else if (s->block_thinking == 2) {
        keep(&s->signature, doc, block, "data");
    } else if (s->block_is_json) {
        /* its input arrives as input_json_delta pieces: the content */
    } else if (s->block_is_tool) {
        cmx_chunk_tool_call_start(&w, s->tool_calls++, str_of(doc, block, "id"),
                                  str_of(doc, block, "name"));
    } else if (CMX_JSON_STRING_IS(doc, type, "text")) {
        cmx_jw_str text = str_of(doc, block, "text");
        if (text.len)
            cmx_chunk_content(&w, text);
    }
}

static void on_block_delta(cmx_anthropic_stream *s, const cmx_json_doc *doc)
{
    int delta = CMX_JSON_GET(doc, 0, "delta");
    int type = CMX_JSON_GET(doc, delta, "type");
    cmx_chunk_writer w = writer(s);
    if (CMX_JSON_STRING_IS(doc, type, "text_delta")) {
        cmx_jw_str text = str_of(doc, delta, "text");
        if (text.len)
            cmx_chunk_content(&w, text);
    } else if (CMX_JSON_STRING_IS(doc, type, "input_json_delta") && s->block_is_json) {
        cmx_jw_str part = str_of(doc, delta, "partial_json");
        if (part.len)
            cmx_chunk_content(&w, part);
    } else if (CMX_JSON_STRING_IS(doc, type, "input_json_delta") && s->block_is_tool) {
        cmx_jw_str part = str_of(doc, delta, "partial_json");
        if (part.len)
            cmx_chunk_tool_call_arguments(&w, s->tool_calls - 1, part);
    } else if (CMX_JSON_STRING_IS(doc, type, "thinking_delta") && s->block_thinking == 1) {
        cmx_jw_str text = str_of(doc, delta, "thinking");
        keep(&s->thinking, doc, delta, "thinking");
        if (text.len)
            cmx_chunk_reasoning(&w, text);
    } else if (CMX_JSON_STRING_IS(doc, type, "signature_delta") && s->block_thinking == 1) {
        keep(&s->signature, doc, delta, "signature");
    }
    /* citations deltas have no place in a chunk */
}

/* A closing block: a thinking block goes out whole, with its signature. */
static void on_block_stop(cmx_anthropic_stream *s)
{
    if (s->block_thinking) {
        cmx_chunk_writer w = writer(s);
        cmx_chunk_thinking_block(
            &w, s->block_thinking == 2,
            CMX_JW_ESC(s->thinking.data ? s->thinking.data : "", s->thinking.len),
            CMX_JW_ESC(s->signature.data ? s->signature.data : "", s->signature.len));
        if (cmx_buf_failed(&s->thinking) || cmx_buf_failed(&s->signature))
            s->chunk.failed = 1; /* reported as out of memory after this event */
    }
    s->block_index = -1;
    s->block_is_tool = 0;
    s->block_is_json = 0;
    s->block_thinking = 0;
}

static void on_message_delta(cmx_anthropic_stream *s, const cmx_json_doc *doc)
{
    read_usage(s, doc, CMX_JSON_GET(doc, 0, "usage"));
    int stop = cmx_json_doc_get_typed(doc, CMX_JSON_GET(doc, 0, "delta"), CMX_LIT("stop_reason"),
                                      CMX_JSON_STRING);
    if (stop < 0)
        return;
    const char *finish =
        cmx_anthropic_finish_reason(cmx_json_doc_ptr(doc, stop), cmx_json_doc_len(doc, stop));
    if (strcmp(finish, "tool_calls") == 0 && s->tool_calls == 0)
        finish = "stop"; /* only the structured answer's tool was called */
    cmx_chunk_writer w = writer(s);
    cmx_chunk_finish(&w, finish);
}

static void on_message_stop(cmx_anthropic_stream *s)
{
    s->stopped = 1;
    if (!s->include_usage)
        return;
    cmx_usage u;
    cmx_anthropic_stream_usage(s, &u);
    cmx_chunk_writer w = writer(s);
    cmx_chunk_usage(&w, &u);
}

/* An `error` event: the stream failed upstream after it started. */
static cmx_err on_error(cmx_anthropic_stream *s, const cmx_json_doc *doc, cmx_error *err)
{
    int e = CMX_JSON_GET(doc, 0, "error");
    char type[64], msg[200];
    cmx_translate_copy_string(type, sizeof type, doc, CMX_JSON_GET(doc, e, "type"));
    cmx_translate_copy_string(msg, sizeof msg, doc, CMX_JSON_GET(doc, e, "message"));
    cmx_provider_error pe = {.type = type[0] ? type : NULL,
                             .type_len = strlen(type),
                             .message = msg,
                             .rules = cmx_anthropic_error_rules};
    /* mid-stream, anything unnamed is the service failing, not the client */
    cmx_err kind = cmx_provider_error_kind(&pe, CMX_ERR_UNAVAILABLE);
    cmx_error_set(err, kind,
                  "anthropic sent an error event in the stream after %zu events: %s: %.160s",
                  s->events, type[0] ? type : "error", msg);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return kind;
}

/* The event's type: its data's "type" (as written when it has no escapes,
 * else unescaped into buf), else the SSE event's name. */
static const char *event_type(const cmx_json_doc *doc, const char *event, size_t event_len,
                              char *buf, size_t cap, size_t *len)
{
    int type = cmx_json_doc_get_typed(doc, 0, CMX_LIT("type"), CMX_JSON_STRING);
    if (type >= 0 && !cmx_json_doc_escaped(doc, type)) {
        *len = cmx_json_doc_len(doc, type);
        return cmx_json_doc_ptr(doc, type);
    }
    if (type >= 0)
        cmx_translate_copy_string(buf, cap, doc, type);
    else
        snprintf(buf, cap, "%.*s", (int)(event_len < cap - 1 ? event_len : cap - 1), event);
    *len = strlen(buf);
    return buf;
}

/* A text delta, the event most of a stream is, exactly as Anthropic writes
 * it: {"type":"content_block_delta","index":N,"delta":{"type":"text_delta",
 * "text":"..."}}.  Read byte by byte, its text checked as the parser would
 * check it, with the outcome the parsed path has; 0 for anything else
 * (other spacing, other members, another order), which is then parsed. */
static int text_delta_as_written(cmx_anthropic_stream *s, const char *data, size_t len)
{
    static const char head[] = "{\"type\":\"content_block_delta\",\"index\":";
    static const char middle[] = ",\"delta\":{\"type\":\"text_delta\",\"text\":\"";
    if (!s->started || len < (sizeof head - 1) || memcmp(data, head, (sizeof head - 1)) != 0)
        return 0;
    size_t at = (sizeof head - 1);
    size_t digits = cmx_json_uint_length(data + at, len - at);
    at += digits;
    if (!digits || len - at < (sizeof middle - 1) ||
        memcmp(data + at, middle, (sizeof middle - 1)) != 0)
        return 0;
    at += (sizeof middle - 1);
    long text_len = cmx_json_string_content(data + at, len - at);
    if (text_len < 0 || len - at != (size_t)text_len + 3 ||
        memcmp(data + at + text_len, "\"}}", 3) != 0)
        return 0;
    if (text_len) {
        cmx_chunk_writer w = writer(s);
        cmx_chunk_content(&w, CMX_JW_ESC(data + at, (size_t)text_len));
    }
    return 1;
}

#define is(type, name) CMX_SPAN_IS(type, type##_len, name)

cmx_err cmx_anthropic_stream_event(cmx_anthropic_stream *s, const char *event, size_t event_len,
                                   const char *data, size_t data_len, cmx_error *err)
{
    if (s->stopped)
        return CMX_OK; /* nothing after message_stop is part of the answer */
    if (CMX_SPAN_IS(event, event_len, "ping"))
        return CMX_OK;
    if (text_delta_as_written(s, data, data_len)) {
        s->events++;
        return cmx_chunk_check(&s->chunk, err);
    }
    cmx_json_doc doc;
    if (cmx_json_doc_parse(&doc, data, data_len, NULL, NULL) != CMX_OK ||
        cmx_json_doc_type(&doc, 0) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&doc);
        return fail(s, err, "an event whose data is not a JSON object");
    }
    char buf[32];
    size_t type_len;
    const char *type = event_type(&doc, event, event_len, buf, sizeof buf, &type_len);
    cmx_err rc = CMX_OK;
    if (is(type, "error")) {
        rc = on_error(s, &doc, err);
    } else if (is(type, "message_start")) {
        if (s->started)
            rc = fail(s, err, "a second message_start");
        else
            on_message_start(s, &doc);
    } else if (is(type, "ping")) {
        /* keep-alive */
    } else if (!s->started) {
        rc = fail(s, err, "an event before message_start");
    } else if (is(type, "content_block_start")) {
        on_block_start(s, &doc);
    } else if (is(type, "content_block_delta")) {
        on_block_delta(s, &doc);
    } else if (is(type, "content_block_stop")) {
        on_block_stop(s);
    } else if (is(type, "message_delta")) {
        on_message_delta(s, &doc);
    } else if (is(type, "message_stop")) {
        on_message_stop(s);
    }
    /* Unknown event types are skipped: Anthropic may add new ones. */
    s->events++;
    cmx_json_doc_release(&doc);
    if (rc == CMX_OK)
        rc = cmx_chunk_check(&s->chunk, err);
    return rc;
}
