/* bedrock_invoke.c — Claude through InvokeModel: the Messages body with
 * Bedrock's anthropic_version, and the unwrapping of
 * InvokeModelWithResponseStream's `chunk` events.
 *
 * Each `chunk` event's payload is {"bytes": "<base64>"} and the bytes are
 * one Anthropic stream event's JSON (message_start, content_block_delta,
 * ...), the same JSON Anthropic sends as SSE data; its "type" names the
 * event, so the anthropic stream translator takes it with no SSE event
 * name.  Exceptions inside the stream are mapped as for Converse. */
#include "bedrock_invoke.h"

#include "core/base64.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmx_bedrock_is_anthropic(const char *model)
{
    if (!model)
        return 0;
    if (strncmp(model, "anthropic.", 10) == 0)
        return 1;
    /* a cross-region inference profile: one geography segment first */
    const char *dot = strchr(model, '.');
    return dot && strncmp(dot + 1, "anthropic.", 10) == 0;
}

cmx_err cmx_bedrock_invoke_request(const char *body, size_t len, const cmx_bedrock_options *opt,
                                   uint32_t default_max_tokens, cmx_buf *out, cmx_error *err)
{
    cmx_anthropic_options ao = {
        .provider_name = opt->provider_name,
        .model = "bedrock", /* any name: the URL names the model, so it is taken out */
        .default_max_tokens = default_max_tokens,
        .drop_unsupported = opt->drop_unsupported,
    };
    cmx_buf messages = CMX_BUF_INIT;
    cmx_err e = cmx_anthropic_translate_request(body, len, &ao, &messages, err);
    if (e != CMX_OK) {
        cmx_buf_free(&messages);
        /* the client configured a bedrock provider: name that, not the format */
        char *at = err ? strstr(err->message, "' (anthropic)") : NULL;
        if (at) {
            const char *tail = at + strlen("' (anthropic)");
            memmove(at + strlen("' (bedrock)"), tail, strlen(tail) + 1);
            memcpy(at, "' (bedrock)", strlen("' (bedrock)"));
        }
        return e;
    }
    json_t *req = json_loadb(messages.data, messages.len, JSON_PRESERVE_ORDER, NULL);
    cmx_buf_free(&messages);
    if (!req)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    json_object_del(req, "model");
    /* InvokeModel has no version header: Bedrock wants it in the body */
    json_object_set_new(req, "anthropic_version", json_string("bedrock-2023-05-31"));
    char *s = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s || cmx_buf_append_str(out, s) != 0)
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    free(s);
    json_decref(req);
    return e;
}

static int header_is(const cmx_eventstream_header *h, const char *value)
{
    size_t n = strlen(value);
    return h && h->type == CMX_EVENTSTREAM_STRING && h->bytes_len == n &&
           memcmp(h->bytes, value, n) == 0;
}

static cmx_err protocol(const cmx_anthropic_stream *s, cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "bedrock sent %s in the invoke stream after %zu events", what, s->events);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

static cmx_err on_exception(const cmx_anthropic_stream *s, const cmx_eventstream_message *msg,
                            const cmx_eventstream_header *type, cmx_error *err)
{
    json_t *body = json_loadb(msg->payload, msg->payload_len, 0, NULL);
    const char *text = json_string_value(json_object_get(body, "message"));
    const cmx_eventstream_header *emsg = cmx_eventstream_find_header(msg, ":error-message");
    char message[200] = "";
    if (text)
        snprintf(message, sizeof message, "%s", text);
    else if (emsg && emsg->type == CMX_EVENTSTREAM_STRING)
        snprintf(message, sizeof message, "%.*s",
                 (int)(emsg->bytes_len < 190 ? emsg->bytes_len : 190), emsg->bytes);
    json_decref(body);
    const char *tname = type && type->type == CMX_EVENTSTREAM_STRING ? type->bytes : "";
    size_t tlen = type && type->type == CMX_EVENTSTREAM_STRING ? type->bytes_len : 0;
    /* mid-stream, anything unnamed is the service failing, not the client */
    cmx_err kind = cmx_bedrock_error_kind(tname, tlen, message, CMX_ERR_UNAVAILABLE);
    cmx_error_set(err, kind, "bedrock sent %.*s in the stream after %zu events: %.160s",
                  (int)(tlen > 64 ? 64 : tlen), tname, s->events, message);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return kind;
}

cmx_err cmx_bedrock_invoke_stream_message(cmx_anthropic_stream *s,
                                          const cmx_eventstream_message *msg, cmx_error *err)
{
    const cmx_eventstream_header *mtype = cmx_eventstream_find_header(msg, ":message-type");
    if (header_is(mtype, "exception"))
        return on_exception(s, msg, cmx_eventstream_find_header(msg, ":exception-type"), err);
    if (header_is(mtype, "error"))
        return on_exception(s, msg, cmx_eventstream_find_header(msg, ":error-code"), err);
    if (mtype && !header_is(mtype, "event"))
        return protocol(s, err, "a message of an unknown :message-type");
    const cmx_eventstream_header *etype = cmx_eventstream_find_header(msg, ":event-type");
    if (!header_is(etype, "chunk"))
        return protocol(s, err, "an event that is not a chunk");
    json_t *payload = json_loadb(msg->payload, msg->payload_len, 0, NULL);
    const json_t *b = json_object_get(payload, "bytes");
    const char *text = json_string_value(b);
    size_t tlen = json_string_length(b);
    unsigned char *raw = text ? malloc(tlen / 4 * 3 + 1) : NULL;
    long n = raw && tlen > 0 ? cmx_base64_decode(text, tlen, raw) : -1;
    cmx_err rc;
    if (!text)
        rc = protocol(s, err, "a chunk without \"bytes\"");
    else if (!raw)
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    else if (n < 0)
        rc = protocol(s, err, "a chunk whose bytes are not base64");
    else
        rc = cmx_anthropic_stream_event(s, "", 0, (const char *)raw, (size_t)n, err);
    free(raw);
    json_decref(payload);
    return rc;
}
