/* bedrock_invoke.c — Claude through InvokeModel: the unwrapping of
 * InvokeModelWithResponseStream's `chunk` events (the Messages body with
 * Bedrock's anthropic_version is cmx_claude_cloud_request's).
 *
 * Each `chunk` event's payload is {"bytes": "<base64>"} and the bytes are
 * one Anthropic stream event's JSON (message_start, content_block_delta,
 * ...), the same JSON Anthropic sends as SSE data; its "type" names the
 * event, so the anthropic stream translator takes it with no SSE event
 * name.  Exceptions inside the stream are mapped as for Converse. */
#include "bedrock_invoke.h"
#include "core/base64.h"
#include "core/str.h"

#include "http/json_doc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmx_bedrock_is_anthropic(const char *model)
{
    if (!model)
        return 0;
    if (CMX_STARTS_WITH(model, "anthropic."))
        return 1;
    /* a cross-region inference profile: one geography segment first */
    const char *dot = strchr(model, '.');
    return dot && CMX_STARTS_WITH(dot + 1, "anthropic.");
}

static cmx_err protocol(const cmx_anthropic_stream *s, cmx_error *err, const char *what)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "bedrock sent %s in the invoke stream after %zu events", what, s->events);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

cmx_err cmx_bedrock_invoke_stream_message(cmx_anthropic_stream *s,
                                          const cmx_eventstream_message *msg, cmx_error *err)
{
    cmx_err failed;
    if (cmx_bedrock_stream_exception(msg, s->events, &failed, err))
        return failed;
    const cmx_eventstream_header *mtype = cmx_eventstream_find_header(msg, ":message-type");
    if (mtype && !cmx_eventstream_header_is(mtype, "event"))
        return protocol(s, err, "a message of an unknown :message-type");
    const cmx_eventstream_header *etype = cmx_eventstream_find_header(msg, ":event-type");
    if (!cmx_eventstream_header_is(etype, "chunk"))
        return protocol(s, err, "an event that is not a chunk");
    cmx_json_doc payload;
    int b = cmx_json_doc_parse(&payload, msg->payload, msg->payload_len, NULL, NULL) == CMX_OK
                ? cmx_json_doc_get_typed(&payload, 0, CMX_LIT("bytes"), CMX_JSON_STRING)
                : -1;
    size_t tlen = b >= 0 ? cmx_json_doc_len(&payload, b) : 0;
    char *text = b >= 0 ? malloc(tlen + 1) : NULL;
    long got = text ? cmx_json_doc_unescape(&payload, b, text, tlen) : -1; /* "\/" may be there */
    unsigned char *raw = got > 0 ? malloc((size_t)got / 4 * 3 + 3) : NULL;
    long n = raw ? cmx_base64_decode(text, (size_t)got, raw) : -1;
    cmx_err rc;
    if (b < 0)
        rc = protocol(s, err, "a chunk without \"bytes\"");
    else if (!text || (got > 0 && !raw))
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    else if (n < 0)
        rc = protocol(s, err, "a chunk whose bytes are not base64");
    else
        rc = cmx_anthropic_stream_event(s, CMX_LIT(""), (const char *)raw, (size_t)n, err);
    free(text);
    free(raw);
    cmx_json_doc_release(&payload);
    return rc;
}
