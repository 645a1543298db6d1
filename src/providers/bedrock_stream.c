/* bedrock_stream.c — ConverseStream's event-stream messages as OpenAI
 * chat.completion.chunk JSONs.
 *
 * Each message has a :message-type header.  An `event` is named by
 * :event-type and its payload is that event's JSON: messageStart,
 * contentBlockStart (only toolUse blocks announce themselves), contentBlock
 * Delta (text, or a piece of a toolUse's input JSON), contentBlockStop,
 * messageStop (the stop reason: the answer is complete) and metadata (the
 * token counts, which come after messageStop).  An `exception` (named by
 * :exception-type) or an `error` (:error-code) is the stream failing
 * upstream after it started; it becomes the attempt's error.
 *
 * Payloads are read by token scan (http/json_doc.h) and their texts copied
 * into the chunks as Bedrock escaped them.  A text delta, a messageStart
 * and a contentBlockStop written the way Bedrock writes them are read
 * without the scan (they are most of a stream), with the outcome the scan
 * would have.
 *
 * The translator keeps the little state the mapping needs: which content
 * block is an open tool call and which tool_calls index it became (the
 * forced tool of a structured answer streams its input as content), and the
 * open reasoning block: its text goes out as reasoning_content as it comes,
 * and the block whole, with its signature, as thinking_blocks once the next
 * block starts or the message stops.  The id and model are the caller's,
 * since Converse sends neither. */
#include "bedrock.h"
#include "chunk_emit.h"
#include "translate_util.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

void cmx_bedrock_stream_init(cmx_bedrock_stream *s, const char *id, const char *model,
                             int include_usage, int64_t created, cmx_bedrock_emit_fn emit,
                             void *ctx)
{
    memset(s, 0, sizeof *s);
    s->emit = emit;
    s->ctx = ctx;
    s->include_usage = include_usage;
    s->created = created;
    s->tool_block = -1;
    cmx_str_copy(s->id, sizeof s->id, id);
    cmx_str_copy(s->model, sizeof s->model, model);
}

void cmx_bedrock_stream_free(cmx_bedrock_stream *s)
{
    cmx_buf_free(&s->chunk);
    cmx_buf_free(&s->thinking);
    cmx_buf_free(&s->signature);
}

void cmx_bedrock_stream_usage(const cmx_bedrock_stream *s, cmx_usage *out)
{
    cmx_usage_init(out);
    if (!s->have_usage)
        return;
    out->prompt_tokens = s->input_tokens + s->cache_read + s->cache_write;
    out->completion_tokens = s->output_tokens;
    out->total_tokens = out->prompt_tokens + out->completion_tokens;
    out->cached_tokens = s->cache_read;
    out->cache_write_tokens = s->cache_write;
    out->cache_write_1h_tokens = s->cache_write_1h;
}

static cmx_err fail(cmx_bedrock_stream *s, cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "bedrock stream: %s (after %zu events)", what,
                  s->events);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

/* Where this stream's chunks go, and what each repeats. */
static cmx_chunk_writer writer(cmx_bedrock_stream *s)
{
    return (cmx_chunk_writer){s->id, s->model, s->created, &s->chunk, s->emit, s->ctx, &s->head};
}

/* The open reasoning block, whole, with its signature: once it is over. */
static void close_reasoning(cmx_bedrock_stream *s)
{
    if (!s->reasoning_open)
        return;
    s->reasoning_open = 0;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_thinking_block(
        &w, s->redacted, CMX_JW_ESC(s->thinking.data ? s->thinking.data : "", s->thinking.len),
        CMX_JW_ESC(s->signature.data ? s->signature.data : "", s->signature.len));
    if (cmx_buf_failed(&s->thinking) || cmx_buf_failed(&s->signature))
        s->chunk.failed = 1; /* reported as out of memory after this event */
    cmx_buf_rewind(&s->thinking);
    cmx_buf_rewind(&s->signature);
}

static void on_block_start(cmx_bedrock_stream *s, const cmx_json_doc *doc)
{
    close_reasoning(s);
    int use = cmx_json_doc_get_typed(doc, CMX_JSON_GET(doc, 0, "start"), CMX_LIT("toolUse"),
                                     CMX_JSON_OBJECT);
    if (use < 0)
        return;
    s->tool_block = (long)cmx_translate_count(doc, 0, "contentBlockIndex", 0);
    s->json_block = s->plan && s->plan->json_tool[0] &&
                    cmx_json_doc_string_is(doc, CMX_JSON_GET(doc, use, "name"), s->plan->json_tool,
                                           strlen(s->plan->json_tool));
    if (s->json_block)
        return; /* its input pieces are the content */
    cmx_chunk_writer w = writer(s);
    cmx_chunk_tool_call_start(&w, s->tool_calls++, cmx_translate_str(doc, use, "toolUseId"),
                              cmx_translate_str(doc, use, "name"));
}

/* A piece of reasoning: text (sent on), its signature or redacted content
 * (kept for the whole block). */
static void on_reasoning_delta(cmx_bedrock_stream *s, const cmx_json_doc *doc, int rc)
{
    cmx_jw_str text = cmx_translate_str(doc, rc, "text");
    cmx_jw_str sig = cmx_translate_str(doc, rc, "signature");
    cmx_jw_str redacted = cmx_translate_str(doc, rc, "redactedContent");
    s->reasoning_open = 1;
    if (redacted.len) {
        s->redacted = 1;
        cmx_buf_append(&s->signature, redacted.s, redacted.len);
    }
    if (sig.len)
        cmx_buf_append(&s->signature, sig.s, sig.len);
    if (text.len) {
        cmx_buf_append(&s->thinking, text.s, text.len);
        cmx_chunk_writer w = writer(s);
        cmx_chunk_reasoning(&w, text);
    }
}

static void on_block_delta(cmx_bedrock_stream *s, const cmx_json_doc *doc)
{
    int delta = CMX_JSON_GET(doc, 0, "delta");
    cmx_jw_str text = cmx_translate_str(doc, delta, "text");
    int use = cmx_json_doc_get_typed(doc, delta, CMX_LIT("toolUse"), CMX_JSON_OBJECT);
    int rc = cmx_json_doc_get_typed(doc, delta, CMX_LIT("reasoningContent"), CMX_JSON_OBJECT);
    cmx_chunk_writer w = writer(s);
    if (rc >= 0) {
        on_reasoning_delta(s, doc, rc);
    } else if (text.len) {
        close_reasoning(s);
        cmx_chunk_content(&w, text);
    } else if (use >= 0 && s->tool_block >= 0) {
        cmx_jw_str part = cmx_translate_str(doc, use, "input");
        if (part.len && s->json_block)
            cmx_chunk_content(&w, part);
        else if (part.len)
            cmx_chunk_tool_call_arguments(&w, s->tool_calls - 1, part);
    }
    /* citation deltas have no place in a chunk */
}

static void emit_usage(cmx_bedrock_stream *s)
{
    if (!s->include_usage || s->usage_sent)
        return;
    s->usage_sent = 1;
    cmx_usage u;
    cmx_bedrock_stream_usage(s, &u);
    if (u.prompt_tokens < 0) /* no metadata came: say zero rather than lie about a count */
        u.prompt_tokens = u.completion_tokens = u.total_tokens = u.cached_tokens = 0;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_usage(&w, &u);
}

static void on_metadata(cmx_bedrock_stream *s, const cmx_json_doc *doc)
{
    int u = cmx_json_doc_get_typed(doc, 0, CMX_LIT("usage"), CMX_JSON_OBJECT);
    if (u < 0)
        return;
    s->have_usage = 1;
    s->input_tokens = cmx_translate_count(doc, u, "inputTokens", s->input_tokens);
    s->output_tokens = cmx_translate_count(doc, u, "outputTokens", s->output_tokens);
    s->cache_read = cmx_translate_count(doc, u, "cacheReadInputTokens", s->cache_read);
    s->cache_write = cmx_translate_count(doc, u, "cacheWriteInputTokens", s->cache_write);
    s->cache_write_1h = cmx_converse_cache_1h(doc, u, s->cache_write_1h);
    if (s->stopped)
        emit_usage(s);
}

cmx_err cmx_bedrock_stream_finish(cmx_bedrock_stream *s, cmx_error *err)
{
    if (s->stopped)
        emit_usage(s);
    return cmx_chunk_check(&s->chunk, err);
}

/* An exception or error message: the stream failed upstream. */
static cmx_err on_exception(const cmx_eventstream_message *msg, const cmx_eventstream_header *type,
                            size_t events, cmx_error *err)
{
    cmx_json_doc body;
    int text = cmx_json_doc_parse(&body, msg->payload, msg->payload_len, NULL, NULL) == CMX_OK
                   ? cmx_json_doc_get_typed(&body, 0, CMX_LIT("message"), CMX_JSON_STRING)
                   : -1;
    const cmx_eventstream_header *emsg = cmx_eventstream_find_header(msg, ":error-message");
    char message[200];
    if (text >= 0)
        cmx_translate_copy_string(message, sizeof message, &body, text);
    else if (emsg && emsg->type == CMX_EVENTSTREAM_STRING)
        snprintf(message, sizeof message, "%.*s",
                 (int)(emsg->bytes_len < 190 ? emsg->bytes_len : 190), emsg->bytes);
    else
        message[0] = '\0';
    cmx_json_doc_release(&body);
    const char *tname = type && type->type == CMX_EVENTSTREAM_STRING ? type->bytes : "";
    size_t tlen = type && type->type == CMX_EVENTSTREAM_STRING ? type->bytes_len : 0;
    /* mid-stream, anything unnamed is the service failing, not the client */
    cmx_err kind = cmx_bedrock_error_kind(tname, tlen, message, CMX_ERR_UNAVAILABLE);
    cmx_error_set(err, kind, "bedrock sent %.*s in the stream after %zu events: %.160s",
                  (int)(tlen > 64 ? 64 : tlen), tname, events, message);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return kind;
}

#define HEADER_IS CMX_EVENTSTREAM_HEADER_IS
/* 1 with *kind set when mtype says the message is an exception or an error. */
static int exception_of(const cmx_eventstream_message *msg, const cmx_eventstream_header *mtype,
                        size_t events, cmx_err *kind, cmx_error *err)
{
    if (HEADER_IS(mtype, "exception"))
        *kind = on_exception(msg, cmx_eventstream_find_header(msg, ":exception-type"), events, err);
    else if (HEADER_IS(mtype, "error"))
        *kind = on_exception(msg, cmx_eventstream_find_header(msg, ":error-code"), events, err);
    else
        return 0;
    return 1;
}

int cmx_bedrock_stream_exception(const cmx_eventstream_message *msg, size_t events, cmx_err *kind,
                                 cmx_error *err)
{
    return exception_of(msg, cmx_eventstream_find_header(msg, ":message-type"), events, kind, err);
}

/* The :message-type and :event-type headers (the first of each, or NULL),
 * in one pass: every message is routed by them. */
static void routing_headers(const cmx_eventstream_message *msg,
                            const cmx_eventstream_header **mtype,
                            const cmx_eventstream_header **etype)
{
    *mtype = *etype = NULL;
    for (size_t i = 0; i < msg->n_headers; i++) {
        const cmx_eventstream_header *h = &msg->headers[i];
        if (!*mtype && h->name_len == sizeof ":message-type" - 1 &&
            memcmp(h->name, CMX_LIT(":message-type")) == 0)
            *mtype = h;
        else if (!*etype && h->name_len == sizeof ":event-type" - 1 &&
                 memcmp(h->name, CMX_LIT(":event-type")) == 0)
            *etype = h;
    }
}

/* Whether data[at..len) ends a payload as Bedrock writes it: "}", or the
 * padding member and "}" (,"p":"<letters>"}), its string checked as the
 * parser would check it. */
static int ends_as_written(const char *data, size_t len, size_t at)
{
    static const char padding[] = ",\"p\":\"";
    if (len - at > sizeof padding - 1 && memcmp(data + at, padding, sizeof padding - 1) == 0) {
        at += sizeof padding - 1;
        long pad_len = cmx_json_string_content(data + at, len - at);
        if (pad_len < 0)
            return 0;
        at += (size_t)pad_len + 1;
    }
    return len - at == 1 && data[at] == '}';
}

/* The length of `head` followed by an unsigned integer at the start of
 * data, or 0 when data does not start so. */
static size_t head_and_uint(const char *data, size_t len, const char *head, size_t head_len)
{
    if (len < head_len || memcmp(data, head, head_len) != 0)
        return 0;
    size_t digits = cmx_json_uint_length(data + head_len, len - head_len);
    return digits ? head_len + digits : 0;
}

/* A text delta's payload, the message most of a stream is, exactly as
 * Bedrock writes it: {"contentBlockIndex":N,"delta":{"text":"..."}}, with
 * or without the "p" padding member last.  Read byte by byte, its strings
 * checked as the parser would check them, with the outcome the parsed path
 * has; 0 for anything else, which is then parsed. */
static int text_delta_as_written(cmx_bedrock_stream *s, const char *data, size_t len)
{
    static const char middle[] = ",\"delta\":{\"text\":\"";
    size_t at = head_and_uint(data, len, CMX_LIT("{\"contentBlockIndex\":"));
    if (!at || len - at < sizeof middle - 1 || memcmp(data + at, middle, sizeof middle - 1) != 0)
        return 0;
    at += sizeof middle - 1;
    long text_len = cmx_json_string_content(data + at, len - at);
    if (text_len < 0)
        return 0;
    const char *text = data + at;
    at += (size_t)text_len + 1;
    if (len - at < 1 || data[at] != '}' || !ends_as_written(data, len, at + 1))
        return 0;
    if (text_len) {
        close_reasoning(s);
        cmx_chunk_writer w = writer(s);
        cmx_chunk_content(&w, CMX_JW_ESC(text, (size_t)text_len));
    }
    return 1;
}

/* The payloads whose members the translation does not read, exactly as
 * Bedrock writes them (padding or not): messageStart's
 * {"role":"assistant"} and contentBlockStop's {"contentBlockIndex":N}.
 * Taken without the parser, with the parsed path's outcome; 0 for anything
 * else. */
static int start_as_written(const char *data, size_t len)
{
    static const char start[] = "{\"role\":\"assistant\"";
    return len > sizeof start - 1 && memcmp(data, start, sizeof start - 1) == 0 &&
           ends_as_written(data, len, sizeof start - 1);
}

static int block_stop_as_written(const char *data, size_t len)
{
    size_t at = head_and_uint(data, len, CMX_LIT("{\"contentBlockIndex\":"));
    return at && ends_as_written(data, len, at);
}

static void on_block_stop(cmx_bedrock_stream *s)
{
    close_reasoning(s);
    s->tool_block = -1;
    s->json_block = 0;
}

/* The events read without the parser, when written as Bedrock writes
 * them: 1 when this one was. */
static int event_as_written(cmx_bedrock_stream *s, const cmx_eventstream_header *etype,
                            const char *data, size_t len)
{
    if (!s->started) {
        if (!HEADER_IS(etype, "messageStart") || !start_as_written(data, len))
            return 0;
        s->started = 1;
        cmx_chunk_writer w = writer(s);
        cmx_chunk_role(&w);
    } else if (s->stopped) {
        return 0;
    } else if (HEADER_IS(etype, "contentBlockDelta")) {
        if (!text_delta_as_written(s, data, len))
            return 0;
    } else if (HEADER_IS(etype, "contentBlockStop")) {
        if (!block_stop_as_written(data, len))
            return 0;
        on_block_stop(s);
    } else {
        return 0;
    }
    s->unparsed++;
    return 1;
}

cmx_err cmx_bedrock_stream_message(cmx_bedrock_stream *s, const cmx_eventstream_message *msg,
                                   cmx_error *err)
{
    const cmx_eventstream_header *mtype, *etype;
    routing_headers(msg, &mtype, &etype);
    if (mtype && !HEADER_IS(mtype, "event")) {
        cmx_err failed;
        if (exception_of(msg, mtype, s->events, &failed, err))
            return failed;
        return fail(s, err, "a message of an unknown :message-type");
    }
    if (!etype || etype->type != CMX_EVENTSTREAM_STRING)
        return fail(s, err, "an event without :event-type");
    if (event_as_written(s, etype, msg->payload, msg->payload_len)) {
        s->events++;
        return cmx_chunk_check(&s->chunk, err);
    }
    cmx_json_doc ev;
    if (cmx_json_doc_parse(&ev, msg->payload, msg->payload_len, NULL, NULL) != CMX_OK ||
        cmx_json_doc_type(&ev, 0) != CMX_JSON_OBJECT) {
        cmx_json_doc_release(&ev);
        return fail(s, err, "an event whose payload is not a JSON object");
    }
    cmx_err rc = CMX_OK;
    if (HEADER_IS(etype, "metadata")) {
        on_metadata(s, &ev);
    } else if (s->stopped) {
        /* nothing but metadata after messageStop is part of the answer */
    } else if (HEADER_IS(etype, "messageStart")) {
        if (s->started) {
            rc = fail(s, err, "a second messageStart");
        } else {
            s->started = 1;
            cmx_chunk_writer w = writer(s);
            cmx_chunk_role(&w);
        }
    } else if (!s->started) {
        rc = fail(s, err, "an event before messageStart");
    } else if (HEADER_IS(etype, "contentBlockStart")) {
        on_block_start(s, &ev);
    } else if (HEADER_IS(etype, "contentBlockDelta")) {
        on_block_delta(s, &ev);
    } else if (HEADER_IS(etype, "contentBlockStop")) {
        on_block_stop(s);
    } else if (HEADER_IS(etype, "messageStop")) {
        close_reasoning(s);
        int stop = cmx_json_doc_get_typed(&ev, 0, CMX_LIT("stopReason"), CMX_JSON_STRING);
        const char *finish = stop < 0 ? NULL
                                      : cmx_bedrock_finish_reason_of(cmx_json_doc_ptr(&ev, stop),
                                                                     cmx_json_doc_len(&ev, stop));
        if (finish && strcmp(finish, "tool_calls") == 0 && s->tool_calls == 0)
            finish = "stop"; /* only the structured answer's tool was called */
        cmx_chunk_writer w = writer(s);
        cmx_chunk_finish(&w, finish ? finish : "stop");
        s->stopped = 1;
    }
    /* Unknown event types are skipped: AWS may add new ones. */
    s->events++;
    cmx_json_doc_release(&ev);
    if (rc == CMX_OK)
        rc = cmx_chunk_check(&s->chunk, err);
    return rc;
}
