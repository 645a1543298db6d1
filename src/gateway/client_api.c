/* client_api.c — POST /v1/messages, /v1/messages/count_tokens and
 * /v1/responses: Anthropic's Messages API and OpenAI's Responses API on the
 * gateway's routing (see client_api.h).
 *
 * The body is checked in its API's terms (ingress/) and routed like a chat
 * completion: the model names a group, and strategies, retries, breakers,
 * limits, residency and failover apply as for chat.  A target that speaks
 * the API gets the body as it came; the others get its chat form, made
 * here once, on the first attempt that needs it (so a request that Claude
 * answers is never converted at all).  The route's result says in which
 * API the answer came, and this file's sink hands it on as it is or
 * converts it: a whole answer at once, a stream event by event as the
 * chunks arrive.
 *
 * A stream fails over only before its first event reached the client (the
 * router's rule); after that a failure ends it with the API's error: an
 * Anthropic `error` event and no message_stop, or a Responses `error` and
 * response.failed and no response.completed. */
#include "client_api.h"

#include <string.h>
#include <time.h>

#include "completions.h"
#include "core/str.h"
#include "governance/usage_estimate.h"
#include "http/sse_relay.h"
#include "ingress/ingress.h"
#include "providers/anthropic_beta.h"

struct cmx_client_api {
    cmx_api_ctx *c;
    cmx_ingress_request req;
    cmx_call_as_chat as_chat;
    int converted; /* the chat form: 0 not made yet, 1 made, -1 refused */
    cmx_error refused;
    const char *chat_body;
    size_t chat_len;
    cmx_request_scan chat_scan;
    const char *dropped; /* what the chat form dropped (", "-separated), or NULL */
    int converting;      /* the answer comes as chat and is converted here */
    cmx_error broken;    /* a converted stream that cannot go on whole */
    /* a converted stream's state, in the arena once it starts (large:
     * passed-through answers never pay for it) */
    cmx_messages_stream *ms;
    cmx_responses_stream *rs;
    cmx_responses_meta meta;
    char response_id[64];
    int64_t relayed;      /* Responses events passed through (the next sequence_number) */
    char upstream_id[96]; /* the response id a passed-through stream announced */
};

static void release_client(void *arg)
{
    struct cmx_client_api *st = arg;
    if (st->ms)
        cmx_messages_stream_free(st->ms);
    if (st->rs)
        cmx_responses_stream_free(st->rs);
    st->ms = NULL;
    st->rs = NULL;
}

/* ---- the chat form ------------------------------------------------------- */

static cmx_err convert(void *ctx, cmx_call *out, cmx_error *err)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    cmx_arena *arena = c->req->arena;
    if (st->converted == 0) {
        cmx_buf body = CMX_BUF_INIT, dropped = CMX_BUF_INIT;
        cmx_error why;
        cmx_error_clear(&why);
        cmx_err rc = c->api == CMX_API_MESSAGES
                         ? cmx_messages_to_chat(&st->req, c->call.anthropic_beta, arena, &body,
                                                &dropped, &why)
                         : cmx_responses_to_chat(&st->req, arena, &body, &dropped, &why);
        if (rc == CMX_OK && (cmx_buf_failed(&body) || cmx_buf_failed(&dropped)))
            rc = cmx_error_set(&why, CMX_ERR_NOMEM, "out of memory");
        const char *copy = rc == CMX_OK ? cmx_arena_strndup(arena, body.data, body.len) : NULL;
        if (rc == CMX_OK && !copy)
            rc = cmx_error_set(&why, CMX_ERR_NOMEM, "out of memory");
        if (rc == CMX_OK)
            rc = cmx_json_scan_request(CMX_API_CHAT, copy, body.len, arena, &st->chat_scan, &why);
        st->chat_body = copy;
        st->chat_len = body.len;
        if (rc == CMX_OK && dropped.len)
            st->dropped = cmx_arena_strndup(arena, dropped.data, dropped.len);
        cmx_buf_free(&body);
        cmx_buf_free(&dropped);
        st->converted = rc == CMX_OK ? 1 : -1;
        st->refused = why;
    }
    if (st->converted < 0) {
        *err = st->refused;
        return err->kind;
    }
    out->api = CMX_API_CHAT;
    out->body = st->chat_body;
    out->body_len = st->chat_len;
    out->scan = &st->chat_scan;
    out->as_chat = NULL;
    return CMX_OK;
}

/* ---- answers ------------------------------------------------------------- */

/* A Claude target answered a Messages call (or counted one) itself: the anthropic-beta
 * names its provider does not take did not go, and are named as dropped,
 * each as "anthropic-beta=NAME". */
static const char *dropped_betas(cmx_api_ctx *c, const cmx_route_result *r)
{
    const char *out = NULL;
    if ((r->api != CMX_API_MESSAGES && r->api != CMX_API_COUNT_TOKENS) || !c->call.anthropic_beta ||
        !r->target)
        return NULL;
    cmx_buf names = CMX_BUF_INIT, note = CMX_BUF_INIT;
    if (cmx_anthropic_beta_filter(c->call.anthropic_beta,
                                  cmx_anthropic_betas_of(r->target->provider), NULL, &names)) {
        const char *p = names.data, *end = names.data + names.len;
        while (p && p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            cmx_buf_append_str(&note, note.len ? ", anthropic-beta=" : "anthropic-beta=");
            cmx_buf_append(&note, p, (size_t)(stop - p));
            p = comma ? comma + 2 : NULL; /* ", " */
        }
        if (!cmx_buf_failed(&names) && !cmx_buf_failed(&note))
            out = cmx_arena_strndup(c->req->arena, note.data, note.len);
    }
    cmx_buf_free(&names);
    cmx_buf_free(&note);
    return out;
}

/* Response headers beside cloudmux's own: what was dropped (by the chat
 * form when the answer came through it, else the betas the target does
 * not take), and the request id under Anthropic's name for the Messages
 * API's clients. */
static const char *extra_headers(cmx_api_ctx *c, const cmx_route_result *r, int stream)
{
    struct cmx_client_api *st = c->client;
    const char *dropped = r->api == c->api ? dropped_betas(c, r) : st->dropped;
    const char *parts[7];
    size_t n = 0, len = 0;
    if (stream)
        parts[n++] = "Cache-Control: no-cache\r\n";
    if (c->api != CMX_API_RESPONSES) {
        parts[n++] = "request-id: ";
        parts[n++] = c->request_id;
        parts[n++] = "\r\n";
    }
    if (dropped) {
        parts[n++] = "x-cloudmux-dropped: ";
        parts[n++] = dropped;
        parts[n++] = "\r\n";
    }
    size_t lens[7];
    for (size_t i = 0; i < n; i++)
        len += lens[i] = strlen(parts[i]);
    char *out = cmx_arena_alloc(c->req->arena, len + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i], lens[i]);
        p += lens[i];
    }
    *p = '\0';
    return out;
}

static void on_response(void *ctx, const cmx_route_result *r, const char *body, size_t len)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    if (r->api == c->api) {
        cmx_reply_json(c, 200, extra_headers(c, r, 0), body, len, r);
        return;
    }
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = c->api == CMX_API_MESSAGES
                     ? cmx_messages_from_chat(body, len, c->req->arena, &out, &err)
                     : cmx_responses_from_chat(&st->meta, body, len, c->req->arena, &out, &err);
    if (rc == CMX_OK && cmx_buf_failed(&out))
        rc = cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory while writing the answer");
    if (rc == CMX_OK)
        cmx_reply_json(c, 200, extra_headers(c, r, 0), out.data, out.len, r);
    else
        cmx_reply_error(c, 0, rc, NULL, NULL, err.message, r, NULL);
    cmx_buf_free(&out);
}

static void emit_event(void *ctx, const char *event, const char *json, size_t len)
{
    cmx_reply_sse_event(ctx, event, json, len);
}

static void on_stream_start(void *ctx, const cmx_route_result *r)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    c->stream_started = 1;
    c->stream_result = r;
    st->converting = r->api != c->api;
    if (st->converting && c->api == CMX_API_MESSAGES) {
        st->ms = cmx_arena_alloc(c->req->arena, sizeof *st->ms);
        if (st->ms)
            cmx_messages_stream_init(st->ms, c->req->arena, emit_event, c);
    } else if (st->converting) {
        st->rs = cmx_arena_alloc(c->req->arena, sizeof *st->rs);
        if (st->rs)
            cmx_responses_stream_init(st->rs, &st->meta, emit_event, c);
    }
    if (st->converting && !st->ms && !st->rs)
        cmx_error_set(&st->broken, CMX_ERR_NOMEM, "out of memory for the stream's conversion");
    cmx_http_stream_begin(c->ex, 200, "text/event-stream",
                          cmx_reply_headers(c, r, extra_headers(c, r, 1)));
}

/* A passed-through Responses stream: the id its first event announces. */
static void note_response_id(struct cmx_client_api *st, const char *json, size_t len)
{
    static const char key[] = "\"response\":{\"id\":\"";
    const char *at = memmem(json, len, key, sizeof key - 1);
    if (!at)
        return;
    at += sizeof key - 1;
    const char *q = memchr(at, '"', (size_t)(json + len - at));
    size_t n = q ? (size_t)(q - at) : 0;
    if (n && n < sizeof st->upstream_id && !memchr(at, '\\', n)) {
        memcpy(st->upstream_id, at, n);
        st->upstream_id[n] = '\0';
    }
}

static void on_stream_chunk(void *ctx, const char *json, size_t len)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    if (st->broken.kind != CMX_OK)
        return;
    if (st->converting) {
        /* What a cut stream produced is charged: count it on the way. */
        if (c->governed)
            c->stream_chars += cmx_chunk_text_chars(json, len);
        if (c->api == CMX_API_MESSAGES)
            cmx_messages_stream_chunk(st->ms, json, len, &st->broken);
        else
            cmx_responses_stream_chunk(st->rs, json, len, &st->broken);
        return;
    }
    char type[64];
    if (!cmx_json_event_type(json, len, type, sizeof type)) {
        cmx_error_set(&st->broken, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream sent an event without a type");
        return;
    }
    if (c->api == CMX_API_RESPONSES && st->relayed++ == 0)
        note_response_id(st, json, len);
    if (c->governed)
        c->stream_chars += cmx_event_delta_chars(type, json, len);
    cmx_reply_sse_event(c, type, json, len);
}

/* A run of n passed-through events in the upstream's framing, which is the
 * client's (http/sse_relay.h): counted, and written in one piece. */
static void on_stream_events(void *ctx, const char *sse, size_t len, size_t n)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    if (st->broken.kind != CMX_OK)
        return;
    st->relayed += (int64_t)n;
    if (c->governed) {
        cmx_sse_plain ev;
        for (size_t at = 0;
             at < len && cmx_sse_plain_event(sse + at, len - at, &ev) == CMX_SSE_PLAIN;
             at += ev.len) {
            char type[64];
            size_t tn = ev.type_len < sizeof type ? ev.type_len : sizeof type - 1;
            memcpy(type, ev.type, tn);
            type[tn] = '\0';
            c->stream_chars += cmx_event_delta_chars(type, ev.data, ev.data_len);
        }
    }
    cmx_http_stream_write(c->ex, sse, len);
}

void cmx_client_api_stream_fail(cmx_api_ctx *c, cmx_err kind, const char *message)
{
    struct cmx_client_api *st = c->client;
    if (c->api == CMX_API_RESPONSES) {
        if (st->rs)
            cmx_responses_stream_fail(st->rs, kind, message);
        else
            cmx_responses_fail_events(emit_event, c, st->relayed,
                                      st->upstream_id[0] ? st->upstream_id : NULL, kind, message);
        return;
    }
    char mem[1024];
    cmx_buf b;
    cmx_buf_init_fixed(&b, mem, sizeof mem);
    cmx_messages_error_event(&b, kind, message);
    if (!cmx_buf_failed(&b))
        cmx_reply_sse_event(c, "error", b.data, b.len);
}

static void on_stream_end(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    cmx_api_ctx *c = ctx;
    struct cmx_client_api *st = c->client;
    cmx_error done;
    cmx_error_clear(&done);
    if (!err && st->broken.kind == CMX_OK && st->converting) {
        if (c->api == CMX_API_MESSAGES)
            cmx_messages_stream_end(st->ms, &done);
        else
            cmx_responses_stream_end(st->rs, &done);
    }
    const cmx_error *failed = err                         ? err
                              : st->broken.kind != CMX_OK ? &st->broken
                              : done.kind != CMX_OK       ? &done
                                                          : NULL;
    if (failed) {
        cmx_reply_stream_fail(c, r, failed->kind, "upstream_stream_cut", failed->message,
                              cmx_err_name(failed->kind));
        return;
    }
    cmx_reply_log(c, 200, r, NULL);
    cmx_http_stream_end(c->ex);
}

static void on_failure(void *ctx, const cmx_route_result *r, const cmx_error *err)
{
    cmx_reply_route_failure(ctx, r, err);
}

const cmx_route_sink cmx_client_api_route_sink = {
    .on_response = on_response,
    .on_stream_start = on_stream_start,
    .on_stream_chunk = on_stream_chunk,
    .on_stream_end = on_stream_end,
    .on_failure = on_failure,
    .on_stream_events = on_stream_events,
};

/* ---- the request --------------------------------------------------------- */

static const char *header_copy(const cmx_http_request *req, const char *name)
{
    const cmx_slice *v = cmx_http_header_get(req, name);
    return v ? cmx_arena_strndup(req->arena, v->ptr, v->len) : NULL;
}

void cmx_client_api_handle(cmx_api_ctx *c)
{
    const cmx_http_request *req = c->req;
    struct cmx_client_api *st = cmx_arena_calloc(req->arena, 1, sizeof *st);
    if (!st || cmx_arena_on_release(req->arena, release_client, st) != 0) {
        cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
        return;
    }
    st->c = c;
    c->client = st;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc =
        c->api == CMX_API_RESPONSES
            ? cmx_responses_check(req->body, req->body_len, req->arena, &st->req, &c->scan, &err)
            : cmx_messages_check(c->api, req->body, req->body_len, req->arena, &st->req, &c->scan,
                                 &err);
    if (rc != CMX_OK) {
        cmx_reply_error(c, 0, rc, NULL, "invalid_request", err.message, NULL, NULL);
        return;
    }
    const char *body = req->body;
    size_t len = req->body_len;
    if (c->api == CMX_API_RESPONSES) {
        size_t n = strnlen(c->request_id, sizeof st->response_id - 6);
        memcpy(st->response_id, "resp_", 5);
        memcpy(st->response_id + 5, c->request_id, n);
        st->response_id[5 + n] = '\0';
        st->meta = (cmx_responses_meta){&st->req, st->response_id, (int64_t)time(NULL)};
        body = cmx_responses_stateless_body(&st->req, body, len, &c->scan, req->arena, &len);
        if (!body) {
            cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
            return;
        }
    }
    if (!cmx_completions_prepare(c, c->api, body, len))
        return;
    if (c->api != CMX_API_RESPONSES) {
        c->call.anthropic_version = header_copy(req, "anthropic-version");
        c->call.anthropic_beta = header_copy(req, "anthropic-beta");
    }
    if (c->api != CMX_API_COUNT_TOKENS) {
        st->as_chat = (cmx_call_as_chat){convert, c};
        c->call.as_chat = &st->as_chat;
    }
    cmx_completions_route(c);
}
