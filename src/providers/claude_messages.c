/* claude_messages.c — Anthropic's Messages API passed through to Claude on
 * Anthropic, Bedrock and Vertex, and their token counts (see
 * claude_messages.h).
 *
 * The request is the client's bytes with at most a few members changed,
 * written by copying the members around them; the model's span comes from
 * the request scan, so the Anthropic road — the one Claude Code takes most
 * — never tokenizes the body again.  Answers are checked to be JSON and
 * read for their usage, then handed on as they are; stream events are
 * named by their "type" and handed on one by one as they arrive, the
 * message_start and message_delta among them read for the usage. */
#include "providers/claude_messages.h"

#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/json_write.h"
#include "core/str.h"
#include "http/json_doc.h"
#include "http/sse_relay.h"
#include "providers/anthropic.h"
#include "providers/anthropic_beta.h"
#include "providers/bedrock.h"
#include "providers/provider_error.h"
#include "providers/translate_portable.h"

#define EVENTSTREAM "application/vnd.amazon.eventstream"

/* What one attempt's translator holds. */
typedef struct claude_state {
    cmx_translate_params p;
    cmx_sse_framing sse;
    cmx_sse_relay relay; /* an SSE stream the sink takes in runs (p.emit_events) */
    cmx_eventstream_framing es;
    cmx_buf scratch; /* a decoded Bedrock chunk */
    cmx_error *feed_err;
    size_t events;
    int started; /* message_start seen */
    int stopped; /* message_stop seen: the answer is whole */
    /* Anthropic's counts: input excludes the cache reads and writes */
    int64_t input, cache_read, cache_write, cache_write_1h, output;
} claude_state;

static cmx_err init(void *t, const cmx_translate_params *p, cmx_error *err)
{
    (void)err;
    claude_state *s = t;
    s->p = *p;
    s->input = s->cache_read = s->cache_write = s->cache_write_1h = s->output = -1;
    s->relay.max_event_bytes = CMX_SSE_UPSTREAM_EVENT_MAX;
    return CMX_OK;
}

static void release(void *t)
{
    claude_state *s = t;
    cmx_sse_framing_free(&s->sse);
    cmx_sse_relay_free(&s->relay);
    cmx_eventstream_framing_free(&s->es);
    cmx_buf_free(&s->scratch);
}

static cmx_err protocol(cmx_error *err, const char *road, const char *what, size_t events)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "%s sent %s (after %zu events)", road, what,
                  events);
    if (err)
        err->cause = CMX_CAUSE_PROTOCOL;
    return CMX_ERR_UPSTREAM_PROTOCOL;
}

/* ---- requests ------------------------------------------------------------ */

/* How a road changes the client's body. */
typedef struct rewrite {
    const char *model;   /* the value "model" gets, or NULL to take it out */
    const char *version; /* anthropic_version put first, or NULL */
    int beta_in_body;    /* the anthropic-beta header as "anthropic_beta" */
    int drop_stream;     /* "stream" taken out (the path says it) */
    int max_tokens_one;  /* "max_tokens": 1 in place of any (counting) */
} rewrite;

/* The names of the anthropic-beta header the target takes, as a JSON
 * array appended to out; 0 (nothing appended) when it takes none. */
static int beta_array(cmx_buf *out, const char *beta, const char *allowed)
{
    cmx_buf kept = CMX_BUF_INIT;
    cmx_anthropic_beta_filter(beta, allowed, &kept, NULL);
    int any = kept.len > 0 && !cmx_buf_failed(&kept);
    if (any) {
        cmx_buf_append(out, CMX_LIT("["));
        const char *name = kept.data, *end = kept.data + kept.len;
        for (;;) {
            const char *comma = memchr(name, ',', (size_t)(end - name));
            const char *name_end = comma ? comma : end;
            cmx_buf_append(out, CMX_LIT("\""));
            cmx_buf_append_json_escaped(out, name, (size_t)(name_end - name));
            cmx_buf_append(out, CMX_LIT("\""));
            if (!comma)
                break;
            cmx_buf_append(out, CMX_LIT(","));
            name = comma + 1;
        }
        cmx_buf_append(out, CMX_LIT("]"));
    }
    cmx_buf_free(&kept);
    return any;
}

static void put_model(cmx_buf *out, const char *model)
{
    cmx_buf_append(out, CMX_LIT("\""));
    cmx_buf_append_json_escaped(out, model, strlen(model));
    cmx_buf_append(out, CMX_LIT("\""));
}

/* The body with the model replaced where the scan found it: no tokens. */
static int splice_by_scan(const cmx_translate_input *in, const char *model, cmx_buf *out)
{
    if (!in->scan || in->scan->model.end <= in->scan->model.start || in->scan->model.end > in->len)
        return 0;
    cmx_buf_reserve(out, in->len + strlen(model) + 8);
    cmx_buf_append(out, in->body, in->scan->model.start);
    put_model(out, model);
    cmx_buf_append(out, in->body + in->scan->model.end, in->len - in->scan->model.end);
    return 1;
}

static cmx_err rewrite_body(const cmx_translate_input *in, const rewrite *rw,
                            const char *allowed_betas, cmx_buf *out, cmx_error *err)
{
    if (rw->model && !rw->version && !rw->beta_in_body && !rw->drop_stream && !rw->max_tokens_one &&
        splice_by_scan(in, rw->model, out))
        return CMX_OK;
    cmx_json_doc doc;
    cmx_err rc = cmx_json_doc_parse(&doc, in->body, in->len, in->arena, err);
    if (rc == CMX_OK && cmx_json_doc_type(&doc, 0) != CMX_JSON_OBJECT)
        rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST, "request body must be a JSON object");
    if (rc != CMX_OK) {
        cmx_json_doc_release(&doc);
        return rc;
    }
    cmx_buf_reserve(out, in->len + 128);
    cmx_buf_append(out, CMX_LIT("{"));
    int n = 0;
    if (rw->version) {
        cmx_buf_append(out, CMX_LIT("\"anthropic_version\":\""));
        cmx_buf_append_str(out, rw->version);
        cmx_buf_append(out, CMX_LIT("\""));
        n++;
    }
    if (rw->beta_in_body && in->anthropic_beta) {
        size_t mark = out->len;
        cmx_buf_append_str(out, n ? ",\"anthropic_beta\":" : "\"anthropic_beta\":");
        if (beta_array(out, in->anthropic_beta, allowed_betas))
            n++;
        else
            out->len = mark;
    }
    if (rw->max_tokens_one)
        cmx_buf_append_str(out, n++ ? ",\"max_tokens\":1" : "\"max_tokens\":1");
    int end = cmx_json_doc_next(&doc, 0);
    for (int k = 1; k < end; k = cmx_json_doc_next(&doc, k + 1)) {
        int is_model = cmx_json_doc_key_is(&doc, k, CMX_LIT("model"));
        if ((is_model && !rw->model) ||
            (rw->drop_stream && cmx_json_doc_key_is(&doc, k, CMX_LIT("stream"))) ||
            (rw->max_tokens_one && cmx_json_doc_key_is(&doc, k, CMX_LIT("max_tokens"))) ||
            (rw->version && cmx_json_doc_key_is(&doc, k, CMX_LIT("anthropic_version"))) ||
            (rw->beta_in_body && in->anthropic_beta &&
             cmx_json_doc_key_is(&doc, k, CMX_LIT("anthropic_beta"))))
            continue;
        if (n++)
            cmx_buf_append(out, CMX_LIT(","));
        cmx_json_span key = cmx_json_doc_span(&doc, k);
        cmx_json_span value = cmx_json_doc_span(&doc, k + 1);
        if (is_model) {
            cmx_buf_append(out, in->body + key.start, value.start - key.start);
            put_model(out, rw->model);
        } else {
            cmx_buf_append(out, in->body + key.start, value.end - key.start);
        }
    }
    cmx_buf_append(out, CMX_LIT("}"));
    cmx_json_doc_release(&doc);
    return CMX_OK;
}

static cmx_err anthropic_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    claude_state *s = t;
    if (!s->p.model) { /* no model of the target's own: the client's stands */
        cmx_buf_append(out, in->body, in->len);
        return CMX_OK;
    }
    rewrite rw = {.model = s->p.model};
    return rewrite_body(in, &rw, s->p.anthropic_betas, out, err);
}

static cmx_err bedrock_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    const claude_state *s = t;
    rewrite rw = {.version = "bedrock-2023-05-31", .beta_in_body = 1, .drop_stream = 1};
    return rewrite_body(in, &rw, s->p.anthropic_betas, out, err);
}

static cmx_err vertex_write(void *t, const cmx_translate_input *in, cmx_buf *out, cmx_error *err)
{
    const claude_state *s = t;
    rewrite rw = {.version = "vertex-2023-10-16"};
    return rewrite_body(in, &rw, s->p.anthropic_betas, out, err);
}

/* Bedrock's CountTokens: {"input":{"invokeModel":{"body": base64 of the
 * InvokeModel body}}}. */
static cmx_err bedrock_count_write(void *t, const cmx_translate_input *in, cmx_buf *out,
                                   cmx_error *err)
{
    const claude_state *s = t;
    rewrite rw = {
        .version = "bedrock-2023-05-31", .beta_in_body = 1, .drop_stream = 1, .max_tokens_one = 1};
    cmx_buf invoke = CMX_BUF_INIT;
    cmx_err rc = rewrite_body(in, &rw, s->p.anthropic_betas, &invoke, err);
    if (rc == CMX_OK && cmx_buf_failed(&invoke))
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (rc == CMX_OK) {
        cmx_buf_append(out, CMX_LIT("{\"input\":{\"invokeModel\":{\"body\":\""));
        if (cmx_buf_reserve(out, (invoke.len + 2) / 3 * 4 + 8) == 0)
            out->len += cmx_base64_encode((const unsigned char *)invoke.data, invoke.len,
                                          out->data + out->len);
        cmx_buf_append(out, CMX_LIT("\"}}}"));
    }
    cmx_buf_free(&invoke);
    return rc;
}

/* ---- answers ------------------------------------------------------------- */

static void read_count(const cmx_json_doc *d, int obj, const char *name, size_t n, int64_t *dst)
{
    int v = cmx_json_doc_member(d, obj, name, n, NULL);
    int64_t x;
    if (v >= 0 && cmx_json_doc_int64(d, v, &x) == 0 && x >= 0)
        *dst = x;
}

/* A usage object's counts over the ones known so far (message_delta
 * repeats some of message_start's: the later one counts). */
static void read_usage(claude_state *s, const cmx_json_doc *d, int u)
{
    if (u < 0 || cmx_json_doc_type(d, u) != CMX_JSON_OBJECT)
        return;
    read_count(d, u, CMX_LIT("input_tokens"), &s->input);
    read_count(d, u, CMX_LIT("cache_read_input_tokens"), &s->cache_read);
    read_count(d, u, CMX_LIT("cache_creation_input_tokens"), &s->cache_write);
    s->cache_write_1h = cmx_anthropic_cache_1h(d, u, s->cache_write_1h);
    read_count(d, u, CMX_LIT("output_tokens"), &s->output);
}

static void usage_of(const void *t, cmx_usage *u)
{
    const claude_state *s = t;
    cmx_usage_init(u);
    if (s->input < 0 && s->output < 0)
        return;
    int64_t read = s->cache_read > 0 ? s->cache_read : 0;
    int64_t write = s->cache_write > 0 ? s->cache_write : 0;
    /* the prompt, as everywhere in cloudmux, counts the cache reads and writes */
    u->prompt_tokens = (s->input > 0 ? s->input : 0) + read + write;
    u->cached_tokens = read;
    u->cache_write_tokens = s->cache_write;
    u->cache_write_1h_tokens = s->cache_write_1h;
    u->completion_tokens = s->output > 0 ? s->output : 0;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
}

static cmx_err read_message(void *t, const char *body, size_t len, cmx_buf *out, cmx_usage *usage,
                            cmx_error *err)
{
    claude_state *s = t;
    cmx_json_doc d;
    cmx_err rc = cmx_json_doc_parse(&d, body, len, NULL, NULL);
    int ok = rc == CMX_OK && cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT;
    if (ok)
        read_usage(s, &d, cmx_json_doc_member(&d, 0, CMX_LIT("usage"), NULL));
    cmx_json_doc_release(&d);
    if (!ok)
        return protocol(err, "claude", "an answer that is not a JSON object", 0);
    usage_of(s, usage);
    cmx_buf_append(out, body, len);
    return CMX_OK;
}

/* {"input_tokens": N} from `name` of the answer. */
static cmx_err read_count_answer(const char *body, size_t len, const char *name, size_t name_len,
                                 cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    cmx_json_doc d;
    int64_t n = -1;
    if (cmx_json_doc_parse(&d, body, len, NULL, NULL) == CMX_OK &&
        cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT)
        read_count(&d, 0, name, name_len, &n);
    cmx_json_doc_release(&d);
    if (n < 0) {
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream answered a token count without \"%.*s\"", (int)name_len, name);
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    cmx_usage_init(usage);
    cmx_buf_printf(out, "{\"input_tokens\":%lld}", (long long)n);
    return CMX_OK;
}

static cmx_err anthropic_count_read(void *t, const char *body, size_t len, cmx_buf *out,
                                    cmx_usage *usage, cmx_error *err)
{
    (void)t;
    return read_count_answer(body, len, CMX_LIT("input_tokens"), out, usage, err);
}

static cmx_err bedrock_count_read(void *t, const char *body, size_t len, cmx_buf *out,
                                  cmx_usage *usage, cmx_error *err)
{
    (void)t;
    return read_count_answer(body, len, CMX_LIT("inputTokens"), out, usage, err);
}

/* ---- streams ------------------------------------------------------------- */

/* The cheap check for the events nobody reads: one JSON object, by its ends. */
static int looks_like_object(const char *data, size_t len)
{
    while (len && (data[len - 1] == ' ' || data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    while (len && (*data == ' ' || *data == '\n' || *data == '\r')) {
        data++;
        len--;
    }
    return len >= 2 && data[0] == '{' && data[len - 1] == '}';
}

/* An `error` event: the stream failed upstream. */
static cmx_err stream_error(claude_state *s, const cmx_json_doc *d, cmx_error *err)
{
    int e = cmx_json_doc_member(d, 0, CMX_LIT("error"), NULL);
    int type = e >= 0 ? cmx_json_doc_member(d, e, CMX_LIT("type"), NULL) : -1;
    int msg = e >= 0 ? cmx_json_doc_member(d, e, CMX_LIT("message"), NULL) : -1;
    char tbuf[64] = "error", mbuf[200] = "";
    if (type >= 0 && cmx_json_doc_type(d, type) == CMX_JSON_STRING) {
        long n = cmx_json_doc_unescape(d, type, tbuf, sizeof tbuf - 1);
        tbuf[n > 0 ? n : 0] = '\0';
    }
    if (msg >= 0 && cmx_json_doc_type(d, msg) == CMX_JSON_STRING) {
        long n = cmx_json_doc_unescape(d, msg, mbuf, sizeof mbuf - 1);
        mbuf[n > 0 ? n : 0] = '\0';
    }
    cmx_provider_error pe = {.type = tbuf,
                             .type_len = strlen(tbuf),
                             .message = mbuf,
                             .rules = cmx_anthropic_error_rules};
    cmx_err kind = cmx_provider_error_kind(&pe, CMX_ERR_UNAVAILABLE);
    cmx_error_set(err, kind,
                  "claude sent an error event in the stream after %zu events: %s: %.160s",
                  s->events, tbuf, mbuf);
    return kind;
}

/* One Anthropic stream event (its JSON, its type tn bytes, 0 when it has
 * none), judged and counted: CMX_OK when it goes on to the client. */
static cmx_err judge_event(claude_state *s, const char *data, size_t len, const char *type,
                           size_t tn, cmx_error *err)
{
    int start = CMX_SPAN_IS(type, tn, "message_start");
    int delta = CMX_SPAN_IS(type, tn, "message_delta");
    int error = CMX_SPAN_IS(type, tn, "error");
    if (s->events == 0 && !start && !error)
        return protocol(err, "claude", "a stream that does not begin with message_start", 0);
    if (start && s->started)
        return protocol(err, "claude", "a second message_start", s->events);
    if (start || delta || error) {
        cmx_json_doc d;
        int ok = cmx_json_doc_parse(&d, data, len, NULL, NULL) == CMX_OK &&
                 cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT;
        cmx_err rc = CMX_OK;
        if (!ok)
            rc = protocol(err, "claude", "an event that is not a JSON object", s->events);
        else if (error)
            rc = stream_error(s, &d, err);
        else if (start) {
            int m = cmx_json_doc_member(&d, 0, CMX_LIT("message"), NULL);
            if (m >= 0 && cmx_json_doc_type(&d, m) == CMX_JSON_OBJECT)
                read_usage(s, &d, cmx_json_doc_member(&d, m, CMX_LIT("usage"), NULL));
            s->started = 1;
        } else {
            read_usage(s, &d, cmx_json_doc_member(&d, 0, CMX_LIT("usage"), NULL));
        }
        cmx_json_doc_release(&d);
        if (rc != CMX_OK)
            return rc;
    } else if (!tn || !looks_like_object(data, len)) {
        return protocol(err, "claude", "an event that is not a JSON object", s->events);
    }
    s->events++;
    if (CMX_SPAN_IS(type, tn, "message_stop"))
        s->stopped = 1;
    return CMX_OK;
}

/* One Anthropic stream event (its JSON), from either framing. */
static cmx_err on_event(claude_state *s, const char *data, size_t len, cmx_error *err)
{
    if (s->stopped)
        return CMX_OK; /* nothing after message_stop is part of the answer */
    char type[40];
    size_t tn = cmx_json_event_type(data, len, type, sizeof type);
    cmx_err rc = judge_event(s, data, len, type, tn, err);
    if (rc == CMX_OK)
        s->p.emit(s->p.emit_ctx, data, len);
    return rc;
}

static int on_sse(void *ctx, const cmx_sse_event *ev)
{
    claude_state *s = ctx;
    return on_event(s, ev->data, ev->data_len, s->feed_err) != CMX_OK;
}

/* A stream passed on in runs (http/sse_relay.h). */
static cmx_sse_relay_verdict relay_judge(void *ctx, const cmx_sse_plain *ev)
{
    claude_state *s = ctx;
    size_t tn = ev->type_len < 40 ? ev->type_len : 0; /* as on_event's */
    if (judge_event(s, ev->data, ev->data_len, ev->type, tn, s->feed_err) != CMX_OK)
        return CMX_SSE_RELAY_STOP;
    return s->stopped ? CMX_SSE_RELAY_LAST : CMX_SSE_RELAY_PASS;
}

static void relay_first(void *ctx, const cmx_sse_plain *ev)
{
    claude_state *s = ctx;
    s->p.emit(s->p.emit_ctx, ev->data, ev->data_len);
}

static void relay_run(void *ctx, const char *sse, size_t len, size_t n)
{
    claude_state *s = ctx;
    s->p.emit_events(s->p.emit_ctx, sse, len, n);
}

static int relay_rest(void *ctx, const char *bytes, size_t len, int at_start)
{
    claude_state *s = ctx;
    if (!s->sse.ready)
        s->sse.mid_stream = !at_start;
    return cmx_sse_framing_feed(&s->sse, bytes, len, on_sse, s, s->feed_err) != CMX_OK;
}

static const cmx_sse_relay_ops relay_ops = {relay_judge, relay_first, relay_run, relay_rest};

static cmx_err feed_sse(void *t, const char *data, size_t len, cmx_error *err)
{
    claude_state *s = t;
    s->feed_err = err;
    if (!s->p.emit_events)
        return cmx_sse_framing_feed(&s->sse, data, len, on_sse, s, err);
    if (cmx_sse_relay_feed(&s->relay, data, len, &relay_ops, s) == 0)
        return CMX_OK;
    return err->kind == CMX_OK ? cmx_sse_upstream_event_refused(err) : err->kind;
}

/* One InvokeModelWithResponseStream message: {"bytes": base64(event)}. */
static cmx_err on_bedrock_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    claude_state *s = ctx;
    cmx_err failed;
    if (cmx_bedrock_stream_exception(msg, s->events, &failed, err))
        return failed;
    const cmx_eventstream_header *et = cmx_eventstream_find_header(msg, ":event-type");
    if (!cmx_eventstream_header_is(et, "chunk"))
        return protocol(err, "bedrock", "an event that is not a chunk", s->events);
    cmx_json_doc d;
    size_t n = 0;
    const char *b64 = NULL;
    if (cmx_json_doc_parse(&d, msg->payload, msg->payload_len, NULL, NULL) == CMX_OK &&
        cmx_json_doc_type(&d, 0) == CMX_JSON_OBJECT) {
        int b = cmx_json_doc_member(&d, 0, CMX_LIT("bytes"), NULL);
        if (b >= 0 && cmx_json_doc_type(&d, b) == CMX_JSON_STRING) {
            /* base64 has no escapes: the bytes are the token's own */
            cmx_json_span sp = cmx_json_doc_span(&d, b);
            b64 = msg->payload + sp.start + 1;
            n = sp.end - sp.start - 2;
        }
    }
    cmx_json_doc_release(&d);
    if (!b64)
        return protocol(err, "bedrock", "a chunk without \"bytes\"", s->events);
    cmx_buf_reset(&s->scratch);
    if (cmx_buf_reserve(&s->scratch, n / 4 * 3 + 4) != 0)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    long got = n ? cmx_base64_decode(b64, n, (unsigned char *)s->scratch.data) : -1;
    if (got < 0)
        return protocol(err, "bedrock", "a chunk whose bytes are not base64", s->events);
    return on_event(s, s->scratch.data, (size_t)got, err);
}

static cmx_err feed_eventstream(void *t, const char *data, size_t len, cmx_error *err)
{
    claude_state *s = t;
    return cmx_eventstream_framing_feed(&s->es, data, len, on_bedrock_message, s, err);
}

static cmx_err end(void *t, cmx_error *err)
{
    claude_state *s = t;
    if (s->stopped)
        return CMX_OK;
    return cmx_translate_cut(err, "message_stop", s->events,
                             cmx_sse_framing_partial(&s->sse) || cmx_sse_relay_partial(&s->relay) ||
                                 cmx_eventstream_framing_partial(&s->es));
}

static size_t events(const void *t)
{
    return ((const claude_state *)t)->events;
}

/* ---- the ops ------------------------------------------------------------- */

#define MESSAGES_TRANSLATOR(NAME, CONTENT_TYPE, WRITE, FEED)                                       \
    {                                                                                              \
        .name = NAME, .api = CMX_API_MESSAGES, .stream_content_type = CONTENT_TYPE,                \
        .state_size = sizeof(claude_state), .init = init, .write_request = WRITE,                  \
        .read_answer = read_message, .feed = FEED, .end = end, .events = events,                   \
        .usage = usage_of, .release = release,                                                     \
    }

#define COUNT_TRANSLATOR(NAME, WRITE, READ)                                                        \
    {                                                                                              \
        .name = NAME, .api = CMX_API_COUNT_TOKENS, .state_size = sizeof(claude_state),             \
        .init = init, .write_request = WRITE, .read_answer = READ, .release = release,             \
    }

const cmx_translator_ops cmx_anthropic_messages_translator =
    MESSAGES_TRANSLATOR("anthropic_messages", "text/event-stream", anthropic_write, feed_sse);
const cmx_translator_ops cmx_bedrock_messages_translator =
    MESSAGES_TRANSLATOR("bedrock_messages", EVENTSTREAM, bedrock_write, feed_eventstream);
const cmx_translator_ops cmx_vertex_messages_translator =
    MESSAGES_TRANSLATOR("vertex_messages", "text/event-stream", vertex_write, feed_sse);

const cmx_translator_ops cmx_anthropic_count_translator =
    COUNT_TRANSLATOR("anthropic_count_tokens", anthropic_write, anthropic_count_read);
const cmx_translator_ops cmx_bedrock_count_translator =
    COUNT_TRANSLATOR("bedrock_count_tokens", bedrock_count_write, bedrock_count_read);
/* Vertex counts with the model in the body (the URL names no model) and
 * its anthropic_version, as Anthropic's Vertex SDK sends it. */
static cmx_err vertex_count_write(void *t, const cmx_translate_input *in, cmx_buf *out,
                                  cmx_error *err)
{
    claude_state *s = t;
    rewrite rw = {.model = s->p.model, .version = "vertex-2023-10-16"};
    return rewrite_body(in, &rw, s->p.anthropic_betas, out, err);
}

const cmx_translator_ops cmx_vertex_count_translator =
    COUNT_TRANSLATOR("vertex_count_tokens", vertex_count_write, anthropic_count_read);
