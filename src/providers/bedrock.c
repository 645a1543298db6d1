/* bedrock.c — any model on AWS Bedrock.
 *
 * The provider signs and moves bytes; the translation is one of three
 * translators (bedrock_translator.c), chosen once per attempt: Converse for
 * chat (POST {endpoint}/model/{modelId}/converse, or /converse-stream),
 * Claude through InvokeModel for anthropic.* models when the provider says
 * `api: invoke` (/invoke, /invoke-with-response-stream), and InvokeModel
 * for embeddings (Titan, Cohere).  The model id is percent-encoded into the
 * path and the request signed with SigV4 for service "bedrock" at the
 * moment it is sent.  What this file adds: the road for the attempt, the
 * signing, and the mapping of AWS's error answers (x-amzn-ErrorType and the
 * body's message) onto the router's kinds (provider_error.h).  A stream is
 * binary event-stream framing, complete only after its end event; an
 * exception message inside it ends the attempt.
 *
 * A client that speaks Anthropic's Messages API reaches Claude on Bedrock
 * through InvokeModel without a translation (claude_messages.h): the body
 * as the client wrote it, with Bedrock's anthropic_version and the
 * anthropic-beta header in it, and the events of
 * InvokeModelWithResponseStream unwrapped from their `chunk` messages;
 * its count_tokens goes to CountTokens.  Other models get the Messages
 * call as a chat completion, through Converse.
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
#include "core/str.h"
#include "providers/aws_credentials.h"
#include "providers/bedrock.h"
#include "providers/bedrock_invoke.h"
#include "providers/claude_messages.h"
#include "providers/eventstream.h"
#include "providers/sigv4.h"
#include "providers/translating_attempt.h"
#include "core/wipe.h"
#include "core/url_encode.h"
#include "providers/bedrock_config.h"

typedef struct bedrock_state {
    cmx_service svc; /* first: what every service provider holds */
    char host[300];  /* the Host header as the upstream client writes it: signed */
    cmx_aws_credentials *creds;
    cmx_sigv4_key_cache signing_key; /* the day's key: derived once, not per request */
    cmx_sigv4_result signature;      /* reused by every request: its buffers stay grown */
    /* The path of the last request (the model id percent-encoded in it),
     * kept while requests go to the same model and action. */
    cmx_buf path;
    char *path_model;        /* the model id it was made for */
    const char *path_action; /* one of the roads' constants */
    time_t date_second;      /* the second amz_date was written for (0: none yet) */
    char amz_date[CMX_SIGV4_AMZ_DATE_LEN + 1];
} bedrock_state;

/* A road to a model: a translator and the path suffixes it is served at. */
typedef struct bedrock_road {
    const cmx_translator_ops *translator;
    const char *action;        /* "converse", "invoke" */
    const char *stream_action; /* "converse-stream", "invoke-with-response-stream" */
} bedrock_road;

static const bedrock_road converse_road = {&cmx_bedrock_converse_translator, "converse",
                                           "converse-stream"};
static const bedrock_road invoke_road = {&cmx_bedrock_invoke_translator, "invoke",
                                         "invoke-with-response-stream"};
static const bedrock_road embeddings_road = {&cmx_bedrock_embeddings_translator, "invoke",
                                             "invoke-with-response-stream"};
static const bedrock_road messages_road = {&cmx_bedrock_messages_translator, "invoke",
                                           "invoke-with-response-stream"};
static const bedrock_road count_road = {&cmx_bedrock_count_translator, "count-tokens", NULL};

typedef struct bedrock_attempt {
    cmx_translating_attempt base; /* first: the shared plumbing */
    bedrock_state *state;
    const bedrock_road *road;
    char error_type[96]; /* x-amzn-ErrorType, up to its ':' */
    char id[160];
    const char *model;
    cmx_aws_credentials_waiter waiter; /* while the chain fetches keys */
    cmx_call call;                     /* copied: sent once the keys are there */
    char key_id[128];                  /* the access key signed with (not a secret) */
} bedrock_attempt;

static cmx_err bedrock_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                              cmx_error *err)
{
    bedrock_state *s = cmx_service_new(sizeof *s, cfg, env, err);
    if (!s)
        return err ? err->kind : CMX_ERR_NOMEM;
    if (!cmx_bedrock_settings_of(cfg)->region) {
        free(s);
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock) needs a region and an endpoint", cfg->name);
    }
    cmx_sigv4_result_init(&s->signature);
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
    int v6 = strchr(s->svc.url.host, ':') != NULL;
    int default_port = s->svc.url.port == (s->svc.url.tls ? 443 : 80);
    char port[16] = "";
    if (!default_port)
        snprintf(port, sizeof port, ":%d", s->svc.url.port);
    snprintf(s->host, sizeof s->host, "%s%s%s%s", v6 ? "[" : "", s->svc.url.host, v6 ? "]" : "",
             port);
    *out = s;
    return CMX_OK;
}

static void bedrock_destroy(void *state)
{
    bedrock_state *s = state;
    cmx_aws_credentials_free(s->creds);
    cmx_sigv4_key_cache_clear(&s->signing_key);
    cmx_sigv4_result_free(&s->signature);
    cmx_buf_free(&s->path);
    free(s->path_model);
    free(s);
}

/* ---- the attempt's provider part (see translating_attempt.h) -------- */

static void attempt_release(cmx_translating_attempt *base)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    cmx_aws_credentials_cancel(a->state->creds, &a->waiter);
}

static void on_header(cmx_translating_attempt *base, const cmx_http_header *h)
{
    bedrock_attempt *a = (bedrock_attempt *)base;
    if (cmx_slice_case_eq(h->name, "x-amzn-errortype")) {
        /* the name, without a ":http://internal.amazon.com/..." suffix */
        size_t n = cmx_bedrock_error_type_len(h->value.ptr, h->value.len);
        if (n > sizeof a->error_type - 1)
            n = sizeof a->error_type - 1;
        memcpy(a->error_type, h->value.ptr, n);
        a->error_type[n] = '\0';
    } else {
        cmx_translating_retry_after(base, h);
    }
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
        .provider = a->state->svc.cfg->name,
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
    .map_error = map_error_response,
    .header = on_header,
    .release = attempt_release,
};

/* The path for a model and action ("{endpoint path}/model/{id}/converse"),
 * made again only when they differ from the last request's; NULL when out
 * of memory. */
static const char *request_path(bedrock_state *s, const char *model, const char *action)
{
    if (s->path_model && s->path_action == action && strcmp(s->path_model, model) == 0)
        return s->path.data;
    free(s->path_model);
    s->path_model = NULL;
    cmx_buf_reset(&s->path);
    cmx_buf_append_str(&s->path, s->svc.url.path);
    cmx_buf_append_str(&s->path, "/model/");
    cmx_url_encode_str(&s->path, model);
    cmx_buf_append_str(&s->path, "/");
    cmx_buf_append_str(&s->path, action);
    s->path_model = cmx_buf_failed(&s->path) ? NULL : strdup(model);
    s->path_action = action;
    return s->path_model ? s->path.data : NULL;
}

/* The signed header block for one request body to `path`. */
static cmx_err sign_request(bedrock_state *s, const cmx_sigv4_credentials *creds, int stream,
                            const char *path, const cmx_buf *body, cmx_buf *headers, cmx_error *err)
{
    const cmx_provider_config *cfg = s->svc.cfg;
    time_t now = time(NULL);
    if (now != s->date_second) { /* X-Amz-Date written once a second */
        if (cmx_sigv4_format_amz_date(now, s->amz_date) != 0) {
            s->date_second = 0;
            return cmx_error_set(err, CMX_ERR_INTERNAL, "the clock is out of range");
        }
        s->date_second = now;
    }
    const char *amz_date = s->amz_date;
    const char *accept = stream ? "application/vnd.amazon.eventstream" : "application/json";
    cmx_sigv4_header hs[] = {
        {"Host", s->host},
        {"Content-Type", "application/json"},
        {"Accept", accept},
    };
    cmx_sigv4_request req = {
        .method = "POST",
        .path = path,
        .headers = hs,
        .n_headers = sizeof hs / sizeof hs[0],
        .payload = body->data,
        .payload_len = body->len,
    };
    cmx_sigv4_result *r = &s->signature;
    cmx_sigv4_options opts = {.key_cache = &s->signing_key};
    cmx_err e = cmx_sigv4_sign_ex(&req, creds, cmx_bedrock_settings_of(cfg)->region, "bedrock",
                                  amz_date, &opts, r, err);
    if (e == CMX_OK) {
        /* Room for the block at once: a secret buffer is copied and wiped
         * at every growth. */
        size_t need =
            sizeof "Content-Type: application/json\r\nAccept: \r\nUser-Agent: cloudmux\r\n" +
            strlen(accept);
        for (size_t i = 0; i < r->n_added; i++)
            need += strlen(r->added[i].name) + strlen(r->added[i].value) + 4;
        cmx_buf_reserve(headers, need);
        cmx_buf_append_str(headers, "Content-Type: application/json\r\nAccept: ");
        cmx_buf_append_str(headers, accept);
        cmx_buf_append_str(headers, "\r\nUser-Agent: cloudmux\r\n");
        for (size_t i = 0; i < r->n_added; i++) {
            cmx_buf_append_str(headers, r->added[i].name);
            cmx_buf_append_str(headers, ": ");
            cmx_buf_append_str(headers, r->added[i].value);
            cmx_buf_append_str(headers, "\r\n");
        }
    }
    return e;
}

static void *wait_for_credentials(bedrock_attempt *a, const cmx_call *call, cmx_error *err);

/* The road for this call: embeddings through InvokeModel, Claude through
 * InvokeModel when the provider says `api: invoke` or the client speaks the
 * Messages API, its token count through CountTokens, Converse otherwise. */
static const bedrock_road *road_for(const bedrock_state *s, const cmx_call *call, const char *model)
{
    if (call->api == CMX_API_EMBEDDINGS)
        return &embeddings_road;
    if (call->api == CMX_API_MESSAGES)
        return &messages_road;
    if (call->api == CMX_API_COUNT_TOKENS)
        return &count_road;
    if (cmx_bedrock_settings_of(s->svc.cfg)->api == CMX_BEDROCK_API_INVOKE &&
        cmx_bedrock_is_anthropic(model))
        return &invoke_road;
    return &converse_road;
}

/* Claude speaks the Messages API on Bedrock; other models do not. */
static int bedrock_serves(void *state, const cmx_target_config *target, cmx_api api)
{
    (void)state;
    return (api == CMX_API_MESSAGES || api == CMX_API_COUNT_TOKENS) &&
           cmx_bedrock_is_anthropic(target->model);
}

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
    cmx_translating_init(&a->base, &bedrock_ops, s->svc.base, sink, cmx_call_streams(call));
    a->model = target->model;
    memcpy(a->id, CMX_LIT("chatcmpl-"));
    cmx_str_copy(a->id + CMX_LIT_LEN("chatcmpl-"), sizeof a->id - CMX_LIT_LEN("chatcmpl-"),
                 call->request_id ? call->request_id : "bedrock");
    cmx_error why;
    cmx_error_clear(&why);
    if (!a->model || !*a->model) {
        cmx_error_set(&why, CMX_ERR_CONFIG, "provider '%s' (bedrock): the target names no model",
                      s->svc.cfg->name);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    if (call->api == CMX_API_RESPONSES) {
        cmx_error_set(&why, CMX_ERR_BAD_REQUEST,
                      "provider '%s' (bedrock) does not serve the Responses API itself",
                      s->svc.cfg->name);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    a->road = road_for(s, call, a->model);
    cmx_translate_params p = {
        .provider_name = s->svc.cfg->name,
        .model = a->model,
        .id = a->id,
        .drop_unsupported = cmx_bedrock_settings_of(s->svc.cfg)->drop_unsupported_params ||
                            target->drop_unsupported_params,
        .anthropic_betas = cmx_bedrock_settings_of(s->svc.cfg)->anthropic_betas,
    };
    cmx_translate_params_of_target(&p, target);
    if (cmx_translating_translate(&a->base, a->road->translator, call, &p, &why) != CMX_OK)
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
    cmx_str_copy(a->key_id, sizeof a->key_id, creds->access_key_id);
    cmx_buf headers;
    cmx_buf_init_secret(&headers);
    const char *path =
        request_path(s, a->model, a->base.stream ? a->road->stream_action : a->road->action);
    cmx_err signed_ok =
        path ? sign_request(s, creds, a->base.stream, path, &a->base.request, &headers, &why)
             : CMX_ERR_NOMEM;
    if (signed_ok != CMX_OK || cmx_buf_failed(&headers)) {
        if (why.kind == CMX_OK)
            cmx_error_set(&why, CMX_ERR_NOMEM, "out of memory");
        cmx_buf_free(&headers);
        return cmx_translating_fail_later(&a->base, &why, err);
    }
    void *started = cmx_translating_send(&a->base, s->svc.upstream, s->svc.cfg, &s->svc.url, call,
                                         path, headers.data, headers.len, err);
    cmx_buf_free(&headers); /* a secret buffer: the session token is wiped */
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
    .translators = (const cmx_translator_ops *const[]){&cmx_bedrock_converse_translator,
                                                       &cmx_bedrock_invoke_translator,
                                                       &cmx_bedrock_embeddings_translator,
                                                       &cmx_bedrock_messages_translator,
                                                       &cmx_bedrock_count_translator, NULL},
    .create = bedrock_create,
    .destroy = bedrock_destroy,
    .serves = bedrock_serves,
    .start = bedrock_start,
    .cancel = cmx_translating_cancel,
};
