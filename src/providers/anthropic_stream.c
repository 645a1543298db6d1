/* anthropic_stream.c — an Anthropic Messages event stream as OpenAI
 * chat.completion.chunk JSONs.
 *
 * Anthropic frames an answer as a message holding content blocks, each
 * opened, filled with deltas and closed; OpenAI sends flat deltas of one
 * choice.  The translator keeps the little state that mapping needs: the
 * message id and model (sent once, repeated in every chunk), which block is
 * open and, for tool_use blocks, which tool_calls index it became.  A
 * message_delta carries the stop reason (the finish chunk) and the final
 * output count; message_stop is the only proof that the answer is complete.
 *
 * Events are parsed with jansson; the chunks are written by chunk_emit.c,
 * the same for every translating provider. */
#include "anthropic.h"
#include "chunk_emit.h"
#include "provider_error.h"
#include "core/str.h"

#include <jansson.h>
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
    return (cmx_chunk_writer){s->id, s->model, s->created, &s->chunk, s->emit, s->ctx};
}

static void copy_field(char *dst, size_t cap, const json_t *v)
{
    const char *str = json_string_value(v);
    snprintf(dst, cap, "%s", str ? str : "");
}

static void read_usage(cmx_anthropic_stream *s, const json_t *u)
{
    const json_t *v;
    if (json_is_integer(v = json_object_get(u, "input_tokens")))
        s->input_tokens = json_integer_value(v);
    if (json_is_integer(v = json_object_get(u, "cache_read_input_tokens")))
        s->cache_read = json_integer_value(v);
    if (json_is_integer(v = json_object_get(u, "cache_creation_input_tokens")))
        s->cache_creation = json_integer_value(v);
    if (json_is_integer(v = json_object_get(u, "output_tokens")))
        s->output_tokens = json_integer_value(v);
}

static void on_message_start(cmx_anthropic_stream *s, const json_t *ev)
{
    const json_t *msg = json_object_get(ev, "message");
    copy_field(s->id, sizeof s->id, json_object_get(msg, "id"));
    copy_field(s->model, sizeof s->model, json_object_get(msg, "model"));
    read_usage(s, json_object_get(msg, "usage"));
    s->started = 1;
    cmx_chunk_writer w = writer(s);
    cmx_chunk_role(&w);
}

static void on_block_start(cmx_anthropic_stream *s, const json_t *ev)
{
    const json_t *block = json_object_get(ev, "content_block");
    const char *type = json_string_value(json_object_get(block, "type"));
    s->block_index = (long)json_integer_value(json_object_get(ev, "index"));
    s->block_is_tool = type && strcmp(type, "tool_use") == 0;
    cmx_chunk_writer w = writer(s);
    if (s->block_is_tool) {
        const json_t *id = json_object_get(block, "id");
        const json_t *name = json_object_get(block, "name");
        cmx_chunk_tool_call_start(&w, s->tool_calls++, json_string_value(id),
                                  json_string_length(id), json_string_value(name),
                                  json_string_length(name));
    } else if (type && strcmp(type, "text") == 0) {
        const json_t *text = json_object_get(block, "text");
        if (json_string_length(text))
            cmx_chunk_content(&w, json_string_value(text), json_string_length(text));
    }
}

static void on_block_delta(cmx_anthropic_stream *s, const json_t *ev)
{
    const json_t *delta = json_object_get(ev, "delta");
    const char *type = json_string_value(json_object_get(delta, "type"));
    if (!type)
        return;
    cmx_chunk_writer w = writer(s);
    if (strcmp(type, "text_delta") == 0) {
        const json_t *text = json_object_get(delta, "text");
        if (json_string_length(text))
            cmx_chunk_content(&w, json_string_value(text), json_string_length(text));
    } else if (strcmp(type, "input_json_delta") == 0 && s->block_is_tool) {
        const json_t *part = json_object_get(delta, "partial_json");
        if (!json_string_length(part))
            return;
        cmx_chunk_tool_call_arguments(&w, s->tool_calls - 1, json_string_value(part),
                                      json_string_length(part));
    }
    /* thinking, signature and citations deltas have no place in a chunk */
}

static void on_message_delta(cmx_anthropic_stream *s, const json_t *ev)
{
    read_usage(s, json_object_get(ev, "usage"));
    const char *stop =
        json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason"));
    const char *finish = cmx_anthropic_finish_reason(stop);
    if (!finish)
        return;
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
static cmx_err on_error(cmx_anthropic_stream *s, const json_t *ev, cmx_error *err)
{
    const json_t *e = json_object_get(ev, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    cmx_provider_error pe = {.type = type,
                             .type_len = type ? strlen(type) : 0,
                             .message = msg,
                             .rules = cmx_anthropic_error_rules};
    /* mid-stream, anything unnamed is the service failing, not the client */
    cmx_err kind = cmx_provider_error_kind(&pe, CMX_ERR_UNAVAILABLE);
    cmx_error_set(err, kind,
                  "anthropic sent an error event in the stream after %zu events: %s: %.160s",
                  s->events, type ? type : "error", msg ? msg : "");
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return kind;
}

static int is(const char *type, const char *name)
{
    return strcmp(type, name) == 0;
}

cmx_err cmx_anthropic_stream_event(cmx_anthropic_stream *s, const char *event, size_t event_len,
                                   const char *data, size_t data_len, cmx_error *err)
{
    if (s->stopped)
        return CMX_OK; /* nothing after message_stop is part of the answer */
    if (CMX_SPAN_IS(event, event_len, "ping"))
        return CMX_OK;
    json_t *ev = json_loadb(data, data_len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return fail(s, err, "an event whose data is not a JSON object");
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    char name[32];
    if (!type) {
        snprintf(name, sizeof name, "%.*s", (int)(event_len < 31 ? event_len : 31), event);
        type = name;
    }
    cmx_err rc = CMX_OK;
    if (is(type, "error")) {
        rc = on_error(s, ev, err);
    } else if (is(type, "message_start")) {
        if (s->started)
            rc = fail(s, err, "a second message_start");
        else
            on_message_start(s, ev);
    } else if (is(type, "ping")) {
        /* keep-alive */
    } else if (!s->started) {
        rc = fail(s, err, "an event before message_start");
    } else if (is(type, "content_block_start")) {
        on_block_start(s, ev);
    } else if (is(type, "content_block_delta")) {
        on_block_delta(s, ev);
    } else if (is(type, "content_block_stop")) {
        s->block_index = -1;
        s->block_is_tool = 0;
    } else if (is(type, "message_delta")) {
        on_message_delta(s, ev);
    } else if (is(type, "message_stop")) {
        on_message_stop(s);
    }
    /* Unknown event types are skipped: Anthropic may add new ones. */
    s->events++;
    json_decref(ev);
    if (rc == CMX_OK)
        rc = cmx_chunk_check(&s->chunk, err);
    return rc;
}
