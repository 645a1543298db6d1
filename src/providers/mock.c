/* mock.c — an in-process simulated provider.
 *
 * It lets the quickstart and the tests show the product's point (failover,
 * streaming, usage) without a network or credentials.  Behaviour comes from
 * the provider's config: latency before the first byte, interval between
 * stream chunks, a failure rate and status (drawn from a seeded generator, so
 * runs are repeatable), the number of content chunks and the reply text.
 * Every answer says it is simulated: the text by default and always the
 * `system_fingerprint` "cloudmux-mock".  Timing runs on the worker's event
 * loop; nothing blocks. */
#include "provider.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "providers/mock_config.h"

#define DEFAULT_CONTENT                                                                            \
    "This is a simulated response from the cloudmux mock provider. No model was called."

typedef struct mock_state {
    const cmx_provider_config *cfg;
    struct event_base *base;
    uint64_t rng;
    uint64_t next_id;
} mock_state;

typedef struct mock_attempt {
    mock_state *state;
    struct event *timer;
    cmx_attempt_sink sink;
    cmx_api api;
    int stream;
    int include_usage;
    const char *model;
    const char *content;
    size_t content_len;
    uint32_t chunk_index; /* next stream step */
    uint32_t n_chunks;
    int fail_status; /* 0: succeed */
    int times_out;   /* latency beyond the first-byte timeout */
    cmx_usage usage;
    char id[40];
    long created;
    size_t n_inputs; /* embeddings */
} mock_attempt;

static uint64_t next_random(mock_state *s)
{
    /* xorshift64*: tiny, fast and good enough for a failure coin. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static cmx_err mock_create(const cmx_provider_config *cfg, const cmx_worker_env *env, void **out,
                           cmx_error *err)
{
    mock_state *s = calloc(1, sizeof *s);
    if (!s)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->base = env->base;
    s->rng = cmx_mock_settings_of(cfg)->seed ? cmx_mock_settings_of(cfg)->seed : 1;
    *out = s;
    return CMX_OK;
}

static void mock_destroy(void *state)
{
    free(state);
}

static void attempt_free(mock_attempt *a)
{
    event_free(a->timer);
    free(a);
}

static size_t count_words(const char *s, size_t len)
{
    size_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        int space = s[i] == ' ' || s[i] == '\n' || s[i] == '\t';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}

/* Reports the outcome and frees the attempt first, so the sink may end the
 * request from inside on_done. */
static void finish(mock_attempt *a, const cmx_error *err, cmx_buf *body)
{
    cmx_attempt_sink sink = a->sink;
    cmx_usage usage = a->usage;
    attempt_free(a);
    sink.on_done(sink.ctx, err, &usage, body ? body->data : NULL, body ? body->len : 0);
    if (body)
        cmx_buf_free(body);
}

static void fail(mock_attempt *a)
{
    cmx_error err;
    cmx_err kind = cmx_err_from_http_status(a->fail_status);
    cmx_error_set(&err, kind, "simulated failure: mock provider '%s' answered %d",
                  a->state->cfg->name, a->fail_status);
    err.cause = CMX_CAUSE_HTTP_STATUS;
    err.upstream_status = a->fail_status;
    finish(a, &err, NULL);
}

static void append_usage(cmx_buf *b, const cmx_usage *u)
{
    cmx_buf_printf(b,
                   "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                   "\"total_tokens\":%lld}",
                   (long long)u->prompt_tokens, (long long)u->completion_tokens,
                   (long long)u->total_tokens);
}

static void chunk_head(cmx_buf *b, const mock_attempt *a)
{
    cmx_buf_printf(
        b, "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%ld,\"model\":\"",
        a->id, a->created);
    cmx_buf_append_json_escaped(b, a->model, strlen(a->model));
    cmx_buf_append_str(b, "\",\"system_fingerprint\":\"cloudmux-mock\",");
}

static void respond_chat(mock_attempt *a)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_printf(&b, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%ld,\"model\":\"",
                   a->id, a->created);
    cmx_buf_append_json_escaped(&b, a->model, strlen(a->model));
    cmx_buf_append_str(&b, "\",\"system_fingerprint\":\"cloudmux-mock\",\"choices\":[{\"index\":0,"
                           "\"message\":{\"role\":\"assistant\",\"content\":\"");
    cmx_buf_append_json_escaped(&b, a->content, a->content_len);
    cmx_buf_append_str(&b, "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],");
    append_usage(&b, &a->usage);
    cmx_buf_append_str(&b, "}");
    finish(a, NULL, &b);
}

static void respond_embeddings(mock_attempt *a)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_append_str(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < a->n_inputs; i++) {
        cmx_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[",
                       i ? "," : "", i);
        /* A deterministic unit-ish vector that differs per input index. */
        for (int d = 0; d < 8; d++)
            cmx_buf_printf(&b, "%s%.4f", d ? "," : "",
                           ((double)((i * 7 + (size_t)d * 3) % 11) - 5.0) / 10.0);
        cmx_buf_append_str(&b, "]}");
    }
    cmx_buf_append_str(&b, "],\"model\":\"");
    cmx_buf_append_json_escaped(&b, a->model, strlen(a->model));
    cmx_buf_printf(&b, "\",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}",
                   (long long)a->usage.prompt_tokens, (long long)a->usage.prompt_tokens);
    finish(a, NULL, &b);
}

/* Emits the next stream step; returns 1 when the stream is complete. */
static int stream_step(mock_attempt *a)
{
    cmx_buf b = CMX_BUF_INIT;
    uint32_t step = a->chunk_index++;
    int done = 0;
    chunk_head(&b, a);
    if (step == 0) {
        cmx_buf_append_str(&b, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                               "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}");
    } else if (step <= a->n_chunks) {
        /* Content split into n_chunks nearly equal pieces. */
        size_t from = a->content_len * (step - 1) / a->n_chunks;
        size_t to = a->content_len * step / a->n_chunks;
        cmx_buf_append_str(&b, "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        cmx_buf_append_json_escaped(&b, a->content + from, to - from);
        cmx_buf_append_str(&b, "\"},\"logprobs\":null,\"finish_reason\":null}]}");
    } else if (step == a->n_chunks + 1) {
        cmx_buf_append_str(&b, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                               "\"finish_reason\":\"stop\"}]}");
        done = !a->include_usage;
    } else {
        cmx_buf_append_str(&b, "\"choices\":[],");
        append_usage(&b, &a->usage);
        cmx_buf_append_str(&b, "}");
        done = 1;
    }
    a->sink.on_chunk(a->sink.ctx, b.data, b.len);
    cmx_buf_free(&b);
    return done;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    mock_attempt *a = arg;
    if (a->times_out) {
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_TIMEOUT, "no response byte in time (simulated latency %u ms)",
                      cmx_mock_settings_of(a->state->cfg)->latency_ms);
        err.cause = CMX_CAUSE_FIRST_BYTE_TIMEOUT;
        finish(a, &err, NULL);
        return;
    }
    if (a->fail_status) {
        fail(a);
        return;
    }
    if (!a->stream) {
        if (a->api == CMX_API_EMBEDDINGS)
            respond_embeddings(a);
        else
            respond_chat(a);
        return;
    }
    uint32_t interval = cmx_mock_settings_of(a->state->cfg)->chunk_interval_ms;
    for (;;) {
        if (stream_step(a)) {
            finish(a, NULL, NULL);
            return;
        }
        if (interval) {
            struct timeval tv = {interval / 1000, (interval % 1000) * 1000};
            evtimer_add(a->timer, &tv);
            return;
        }
    }
}

static size_t count_inputs(const cmx_call *call)
{
    json_t *root = json_loadb(call->body, call->body_len, 0, NULL);
    json_t *input = root ? json_object_get(root, "input") : NULL;
    size_t n = 1;
    /* An array of strings or of token arrays is several inputs; an array of
     * integers is one tokenized input. */
    if (json_is_array(input) && json_array_size(input) > 0 &&
        !json_is_integer(json_array_get(input, 0)))
        n = json_array_size(input);
    json_decref(root);
    return n;
}

static void *mock_start(void *state, const cmx_call *call, const cmx_target_config *target,
                        const cmx_attempt_sink *sink, cmx_error *err)
{
    mock_state *s = state;
    const cmx_mock_settings *mc = cmx_mock_settings_of(s->cfg);
    mock_attempt *a = calloc(1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->timer = evtimer_new(s->base, on_timer, a);
    if (!a->timer) {
        free(a);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->state = s;
    a->sink = *sink;
    a->api = call->api;
    a->stream = call->api == CMX_API_CHAT && call->scan->stream;
    a->include_usage = call->scan->include_usage;
    a->model = target->model ? target->model : call->scan->model_name;
    a->content = mc->content ? mc->content : DEFAULT_CONTENT;
    a->content_len = strlen(a->content);
    a->n_chunks = mc->stream_chunks ? mc->stream_chunks : 1;
    a->created = (long)time(NULL);
    snprintf(a->id, sizeof a->id, "chatcmpl-mock-%llu", (unsigned long long)++s->next_id);
    if (mc->failure_rate > 0 &&
        (double)(next_random(s) >> 11) / 9007199254740992.0 < mc->failure_rate)
        a->fail_status = mc->failure_status ? mc->failure_status : 503;

    cmx_usage_init(&a->usage);
    /* Roughly four bytes per token, as the usual rule of thumb has it. */
    a->usage.prompt_tokens = (int64_t)(call->body_len / 4);
    if (call->api == CMX_API_EMBEDDINGS) {
        a->n_inputs = count_inputs(call);
        a->usage.completion_tokens = 0;
    } else {
        a->usage.completion_tokens = (int64_t)count_words(a->content, a->content_len);
    }
    a->usage.total_tokens = a->usage.prompt_tokens + a->usage.completion_tokens;

    /* The provider's first-byte timeout applies as it would to a real one. */
    uint32_t latency = mc->latency_ms;
    uint32_t first_byte = s->cfg->timeouts.first_byte_ms;
    uint32_t total = cmx_call_total_ms(call, s->cfg->timeouts.total_ms);
    if (total && (!first_byte || total < first_byte))
        first_byte = total;
    if (first_byte && latency > first_byte) {
        a->times_out = 1;
        latency = first_byte;
    }
    struct timeval tv = {latency / 1000, (latency % 1000) * 1000};
    evtimer_add(a->timer, &tv);
    return a;
}

static void mock_cancel(void *attempt)
{
    attempt_free(attempt);
}

const cmx_provider_vtable cmx_provider_mock = {
    .type = "mock",
    .schema = &cmx_mock_schema,
    .create = mock_create,
    .destroy = mock_destroy,
    .start = mock_start,
    .cancel = mock_cancel,
};
