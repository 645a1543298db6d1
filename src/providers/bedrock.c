/* bedrock.c — any model on AWS Bedrock through the Converse API.
 *
 * The provider signs and moves bytes; the translation between the canonical
 * OpenAI format and Converse's is in bedrock_request.c, bedrock_response.c
 * and bedrock_stream.c (pure functions, tested from tests/data/bedrock/).
 * What this file adds: the request (POST {endpoint}/model/{modelId}/converse
 * or /converse-stream, the model id percent-encoded, signed with SigV4 for
 * service "bedrock" at the moment it is sent), the mapping of AWS's error
 * answers (x-amzn-ErrorType and the body's message) onto the router's kinds,
 * and the rules that keep a broken stream from passing as a whole one: the
 * stream is binary event-stream framing (eventstream.h), complete only after
 * messageStop, and an exception message inside it ends the attempt.
 *
 * InvokeModel (bedrock_invoke.h) is the other road in: with `api: invoke`
 * an anthropic.* model gets Anthropic's Messages body at /invoke (or
 * /invoke-with-response-stream) and the anthropic translators read the
 * answer; embeddings always go that way (Titan, Cohere).  Signing, errors
 * and the stream rules are the same; the hooks here only pick the road.
 *
 * The attempt's plumbing is shared with the other translating providers
 * (translating_attempt.c): as there, the first chunk (the role) is held back
 * until a second exists, so a stream that fails right after messageStart (a
 * throttlingException before any text) can still fail over.
 *
 * Credentials come from the AWS chain (aws_credentials.h): static ones at
 * once, the others fetched at first use while the request waits in the
 * chain's queue; the request is signed when they are there.  They are never
 * put in a message: AWS's own error text is shown only for kinds that
 * cannot be about them. */
#include "provider.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "providers/aws_credentials.h"
#include "providers/bedrock.h"
#include "providers/bedrock_invoke.h"
#include "providers/eventstream.h"
#include "providers/sigv4.h"
#include "providers/translating_attempt.h"
#include "core/wipe.h"
#include "core/url_encode.h"
#include "providers/bedrock_config.h"

typedef struct bedrock_state {
    const cmx_provider_config *cfg;
    cmx_upstream *upstream;
    struct event_base *base;
    cmx_url url;
    char host[300]; /* the Host header as the upstream client writes it: signed */
    cmx_aws_credentials *creds;
} bedrock_state;

typedef struct bedrock_attempt {
    cmx_translating_attempt base; /* first: the shared plumbing */
    bedrock_state *state;
    char error_type[96]; /* x-amzn-ErrorType, up to its ':' */
    char id[160];
    const char *model;
    cmx_eventstream_decoder decoder;
    int decoder_ready;
    cmx_bedrock_stream translator;
    int translator_ready;
    cmx_aws_credentials_waiter waiter; /* while the chain fetches keys */
    cmx_call call;                     /* copied: sent once the keys are there */
    char key_id[128];                  /* the access key signed with (not a secret) */
    /* InvokeModel (bedrock_invoke.h): Claude in Messages bodies, embeddings */
    int invoke;
    cmx_bedrock_embed_family embed;
    int base64;
    int64_t header_tokens; /* x-amzn-bedrock-input-token-count, -1 when absent */
    cmx_anthropic_stream claude_tr;
} bedrock_attempt;

static cmx_err bedrock_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                              cmx_error *err)
{
    bedrock_state *s = calloc(1, sizeof *s);
    if (!s)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->upstream = env->upstream;
    s->base = env->base;
    if (!cfg->base_url || !cmx_bedrock_settings_of(cfg)->region) {
        free(s);
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock) needs a region and an endpoint", cfg->name);
    }
    if (cmx_url_parse(cfg->base_url, &s->url, err) != CMX_OK) {
        free(s);
        return err ? err->kind : CMX_ERR_CONFIG;
    }
    cmx_error cerr;
    cmx_error_clear(&cerr);
    s->creds = cmx_aws_credentials_new(cfg, env->upstream, NULL, &cerr);
    if (!s->creds) {
        free(s);
        if (err)
            *err = cerr;
        return cerr.kind;
    }
    /* The same Host value upstream.c writes, since it is signed. */
    int v6 = strchr(s->url.host, ':') != NULL;
    int default_port = s->url.port == (s->url.tls ? 443 : 80);
    char port[16] = "";
    if (!default_port)
        snprintf(port, sizeof port, ":%d", s->url.port);
    snprintf(s->host, sizeof s->host, "%s%s%s%s", v6 ? "[" : "", s->url.host, v6 ? "]" : "", port);
    *out = s;
    return CMX_OK;
}

static void bedrock_destroy(void *state)
{
    bedrock_state *s = state;
    cmx_aws_credentials_free(s->creds);
    free(s);
}

/* ---- the attempt's provider part (see translating_attempt.h) -------- */

static void attempt_release(cmx_translating_attempt *base)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    cmx_aws_credentials_cancel(a->state->creds, &a->waiter);
    if (a->decoder_ready)
        cmx_eventstream_decoder_free(&a->decoder);
    a->decoder_ready = 0;
    if (a->translator_ready && a->invoke)
        cmx_anthropic_stream_free(&a->claude_tr);
    else if (a->translator_ready)
        cmx_bedrock_stream_free(&a->translator);
    a->translator_ready = 0;
}

static void stream_usage(const cmx_translating_attempt *base, cmx_usage *u)
{
    const bedrock_attempt *a = (const bedrock_attempt *)base;
    if (a->translator_ready && a->invoke)
        cmx_anthropic_stream_usage(&a->claude_tr, u);
    else if (a->translator_ready)
        cmx_bedrock_stream_usage(&a->translator, u);
    else
        cmx_usage_init(u);
}

static size_t stream_events(const cmx_translating_attempt *base)
{
    const bedrock_attempt *a = (const bedrock_attempt *)base;
    if (!a->translator_ready)
        return 0;
    return a->invoke ? a->claude_tr.events : a->translator.events;
}

static void copy_lower(char *dst, size_t cap, cmx_slice v, int stop_at_colon)
{
    size_t l = v.len < cap - 1 ? v.len : cap - 1, k;
    for (k = 0; k < l; k++) {
        char c = v.ptr[k];
        if (stop_at_colon && c == ':')
            break;
        dst[k] = !stop_at_colon && c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    dst[k] = '\0';
}

static void on_header(cmx_translating_attempt *base, const cmx_http_header *h)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    if (cmx_slice_case_eq(h->name, "x-amzn-errortype")) {
        copy_lower(a->error_type, sizeof a->error_type, h->value, 1);
    } else if (cmx_slice_case_eq(h->name, "retry-after")) {
        char tmp[16];
        copy_lower(tmp, sizeof tmp, h->value, 0);
        long secs = strtol(tmp, NULL, 10);
        if (secs > 0)
            base->retry_after_ms = (uint32_t)((secs > 86400 ? 86400 : secs) * 1000);
    } else if (cmx_slice_case_eq(h->name, "x-amzn-bedrock-input-token-count")) {
        char tmp[24];
        copy_lower(tmp, sizeof tmp, h->value, 0);
        a->header_tokens = strtoll(tmp, NULL, 10);
    }
}

static cmx_err on_stream_message(void *ctx, const cmx_eventstream_message *msg, cmx_error *err)
{
    bedrock_attempt *a = ctx;
    if (a->invoke)
        return cmx_bedrock_invoke_stream_message(&a->claude_tr, msg, err);
    return cmx_bedrock_stream_message(&a->translator, msg, err);
}

static int feed_stream(cmx_translating_attempt *base, const char *data, size_t len)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    if (!a->decoder_ready) {
        cmx_eventstream_decoder_init(&a->decoder, on_stream_message, a);
        a->decoder_ready = 1;
    }
    cmx_error_clear(&base->stream_err);
    if (cmx_eventstream_feed(&a->decoder, data, len, &base->stream_err) == CMX_OK)
        return 0;
    if (base->stream_err.kind == CMX_ERR_UPSTREAM_PROTOCOL)
        base->stream_err.cause = CMX_CAUSE_PROTOCOL;
    return 1;
}

static cmx_err end_stream(cmx_translating_attempt *base, cmx_error *err)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    if (a->invoke) {
        if (a->claude_tr.stopped)
            return CMX_OK;
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "upstream stream ended without message_stop after %zu events",
                      a->claude_tr.events);
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    if (!a->translator.stopped) {
        cmx_error_set(
            err, CMX_ERR_UPSTREAM_PROTOCOL,
            "upstream stream ended without messageStop after %zu events%s", a->translator.events,
            a->decoder_ready && cmx_eventstream_has_partial(&a->decoder) ? " (mid-message)" : "");
        err->cause = CMX_CAUSE_PROTOCOL;
        return CMX_ERR_UPSTREAM_PROTOCOL;
    }
    return cmx_bedrock_stream_finish(&a->translator, err);
}

static cmx_err translate_response(cmx_translating_attempt *base, const char *body, size_t len,
                                  cmx_buf *out, cmx_usage *usage, cmx_error *err)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    if (a->embed)
        return cmx_bedrock_embed_response(a->embed, body, len, a->model, a->base64,
                                          a->header_tokens, out, usage, err);
    if (a->invoke)
        return cmx_anthropic_translate_response(body, len, (int64_t)time(NULL), out, usage, err);
    return cmx_bedrock_translate_response(body, len, a->id, a->model, (int64_t)time(NULL), out,
                                          usage, err);
}

/* AWS's error answer: x-amzn-ErrorType names it (the body's "__type" may
 * too), the body's "message" (or "Message") explains it. */
static void map_error_response(cmx_translating_attempt *base, cmx_error *err)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    json_t *root = json_loadb(base->body.data ? base->body.data : "", base->body.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(root, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(root, "Message"));
    const char *type = a->error_type[0] ? a->error_type : NULL;
    if (!type && json_string_value(json_object_get(root, "__type"))) {
        /* "com.amazon...#ThrottlingException" */
        const char *t = json_string_value(json_object_get(root, "__type"));
        const char *hash = strrchr(t, '#');
        type = hash ? hash + 1 : t;
    }
    cmx_provider_error pe = {
        .provider = a->state->cfg->name,
        .provider_type = "bedrock",
        .status = base->status,
        .type = type,
        .type_len = cmx_bedrock_error_type_len(type, type ? strlen(type) : 0),
        .message = msg,
        .rules = cmx_bedrock_error_rules,
        .context_phrases = cmx_bedrock_context_phrases,
        .retry_after_ms = base->retry_after_ms,
    };
    cmx_err kind = cmx_provider_error_set(&pe, err);
    if (kind == CMX_ERR_PROVIDER_AUTH && type &&
        (strcasecmp(type, "ExpiredTokenException") == 0 ||
         strcasecmp(type, "UnrecognizedClientException") == 0))
        cmx_aws_credentials_invalidate(a->state->creds, a->key_id);
    json_decref(root);
}

static const cmx_translating_ops bedrock_ops = {
    .stream_content_type = "application/vnd.amazon.eventstream",
    .feed_stream = feed_stream,
    .end_stream = end_stream,
    .stream_events = stream_events,
    .translate_response = translate_response,
    .map_error = map_error_response,
    .stream_usage = stream_usage,
    .release = attempt_release,
    .header = on_header,
};

/* The path and the signed header block for one request body. */
static cmx_err sign_request(bedrock_state *s, const cmx_sigv4_credentials *creds, const char *model,
                            int stream, int invoke, const cmx_buf *body, cmx_buf *path,
                            cmx_buf *headers, cmx_error *err)
{
    const cmx_provider_config *cfg = s->cfg;
    cmx_buf_append_str(path, s->url.path);
    cmx_buf_append_str(path, "/model/");
    cmx_url_encode_str(path, model);
    if (invoke)
        cmx_buf_append_str(path, stream ? "/invoke-with-response-stream" : "/invoke");
    else
        cmx_buf_append_str(path, stream ? "/converse-stream" : "/converse");
    char amz_date[CMX_SIGV4_AMZ_DATE_LEN + 1];
    if (cmx_sigv4_format_amz_date(time(NULL), amz_date) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "the clock is out of range");
    const char *accept = stream ? "application/vnd.amazon.eventstream" : "application/json";
    cmx_sigv4_header hs[] = {
        {"Host", s->host},
        {"Content-Type", "application/json"},
        {"Accept", accept},
    };
    cmx_sigv4_request req = {
        .method = "POST",
        .path = path->data,
        .headers = hs,
        .n_headers = sizeof hs / sizeof hs[0],
        .payload = body->data,
        .payload_len = body->len,
    };
    cmx_sigv4_result r;
    cmx_sigv4_result_init(&r);
    cmx_err e = cmx_sigv4_sign(&req, creds, cmx_bedrock_settings_of(cfg)->region, "bedrock",
                               amz_date, &r, err);
    if (e == CMX_OK) {
        cmx_buf_printf(headers, "Content-Type: application/json\r\nAccept: %s\r\n", accept);
        cmx_buf_append_str(headers, "User-Agent: cloudmux\r\n");
        for (size_t i = 0; i < r.n_added; i++)
            cmx_buf_printf(headers, "%s: %s\r\n", r.added[i].name, r.added[i].value);
    }
    cmx_sigv4_result_free(&r);
    return e;
}

static void *wait_for_credentials(bedrock_attempt *a, const cmx_call *call, cmx_error *err);

static void *bedrock_start(void *state, const cmx_call *call, const cmx_target_config *target,
                           const cmx_attempt_sink *sink, cmx_error *err)
{
    bedrock_state *s = state;
    bedrock_attempt *a = cmx_arena_calloc(call->arena, 1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->state = s;
    cmx_translating_init(&a->base, &bedrock_ops, s->base, sink,
                         call->api == CMX_API_CHAT && call->scan->stream);
    a->model = target->model;
    a->header_tokens = -1;
    snprintf(a->id, sizeof a->id, "chatcmpl-%s", call->request_id ? call->request_id : "bedrock");
    cmx_error why;
    cmx_error_clear(&why);
    if (call->api != CMX_API_CHAT) {
        a->embed = cmx_bedrock_embed_family_of(a->model);
        a->invoke = 1;
        if (!a->embed) {
            cmx_error_set(&why, CMX_ERR_BAD_REQUEST,
                          "provider '%s' (bedrock) embeds with amazon.titan-embed-text-* and "
                          "cohere.embed-* models only, not '%.80s'",
                          s->cfg->name, a->model ? a->model : "");
            return cmx_translating_fail_later(&a->base, &why, err);
        }
    } else {
        a->invoke = cmx_bedrock_settings_of(s->cfg)->api == CMX_BEDROCK_API_INVOKE &&
                    cmx_bedrock_is_anthropic(a->model);
    }
    if (!a->model || !*a->model) {
        cmx_error_set(&why, CMX_ERR_CONFIG, "provider '%s' (bedrock): the target names no model",
                      s->cfg->name);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    cmx_bedrock_options opt = {
        .provider_name = s->cfg->name,
        .drop_unsupported = cmx_bedrock_settings_of(s->cfg)->drop_unsupported_params ||
                            target->drop_unsupported_params,
    };
    cmx_buf *req = &a->base.request;
    cmx_err rc = a->embed ? cmx_bedrock_embed_request(a->embed, call->body, call->body_len, &opt,
                                                      req, &a->base64, &why)
                 : a->invoke
                     ? cmx_bedrock_invoke_request(call->body, call->body_len, &opt, 0, req, &why)
                     : cmx_bedrock_translate_request(call->body, call->body_len, &opt, req, &why);
    if (rc != CMX_OK)
        return cmx_translating_fail_later(&a->base, &why, err);
    return wait_for_credentials(a, call, err);
}

/* Signs the translated request with `creds` and sends it, from start or
 * from the event loop once the chain fetched the keys: the attempt, or NULL
 * with err set (the attempt released). */
static void *send_signed(bedrock_attempt *a, const cmx_sigv4_credentials *creds, cmx_error *err)
{
    bedrock_state *s = a->state;
    const cmx_call *call = &a->call;
    cmx_error why;
    cmx_error_clear(&why);
    snprintf(a->key_id, sizeof a->key_id, "%s", creds->access_key_id ? creds->access_key_id : "");
    cmx_buf path = CMX_BUF_INIT, headers;
    cmx_buf_init_secret(&headers);
    cmx_err signed_ok = sign_request(s, creds, a->model, a->base.stream, a->invoke,
                                     &a->base.request, &path, &headers, &why);
    if (signed_ok != CMX_OK || cmx_buf_failed(&path) || cmx_buf_failed(&headers)) {
        if (why.kind == CMX_OK)
            cmx_error_set(&why, CMX_ERR_NOMEM, "out of memory");
        cmx_buf_free(&path);
        cmx_buf_free(&headers);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    if (a->base.stream && a->invoke) {
        cmx_anthropic_stream_init(&a->claude_tr, call->scan->include_usage, (int64_t)time(NULL),
                                  cmx_translating_emit_chunk, &a->base);
        a->translator_ready = 1;
    } else if (a->base.stream) {
        cmx_bedrock_stream_init(&a->translator, a->id, a->model, call->scan->include_usage,
                                (int64_t)time(NULL), cmx_translating_emit_chunk, &a->base);
        a->translator_ready = 1;
    }
    void *started = cmx_translating_send(&a->base, s->upstream, s->cfg, &s->url, call, path.data,
                                         headers.data, headers.len, err);
    cmx_buf_free(&headers); /* a secret buffer: the session token is wiped */
    cmx_buf_free(&path);
    return started;
}

/* The chain answered a request that waited for keys. */
static void on_credentials(void *ctx, const cmx_sigv4_credentials *creds, const cmx_error *cerr)
{
    bedrock_attempt *a = ctx;
    cmx_error err;
    cmx_error_clear(&err);
    if (!creds)
        cmx_translating_fail(&a->base, cerr);
    else if (!send_signed(a, creds, &err))
        cmx_translating_fail(&a->base, &err);
}

/* Sends now when the chain has keys, else queues the attempt for them. */
static void *wait_for_credentials(bedrock_attempt *a, const cmx_call *call, cmx_error *err)
{
    a->call = *call;
    a->waiter.on_credentials = on_credentials;
    a->waiter.ctx = a;
    const cmx_sigv4_credentials *creds = NULL;
    cmx_error why;
    cmx_error_clear(&why);
    cmx_progress got = cmx_aws_credentials_get(a->state->creds, &a->waiter, &creds, &why);
    if (got == CMX_FAILED)
        return cmx_translating_fail_later(&a->base, &why, err);
    if (got == CMX_PENDING)
        return a; /* signed and sent when the keys come */
    return send_signed(a, creds, err);
}

const cmx_provider_vtable cmx_provider_bedrock = {
    .type = "bedrock",
    .schema = &cmx_bedrock_schema,
    .create = bedrock_create,
    .destroy = bedrock_destroy,
    .start = bedrock_start,
    .cancel = cmx_translating_cancel,
};
