/* mock.c — an in-process simulated provider.
 *
 * It lets the quickstart and the tests show the product's point (failover,
 * streaming, usage) without a network or credentials.  Behaviour comes from
 * the provider's config: latency before the first byte, interval between
 * stream chunks, a failure rate and status (drawn from a seeded generator, so
 * runs are repeatable), the number of content chunks and the reply text.
 * What is answered follows the request as a real model's answer would
 * (`n`, required tool calls, JSON formats, embedding sizes and encodings:
 * mock_answer.c), so client libraries work against it unchanged.  Every
 * answer says it is simulated: the text by default and always the
 * `system_fingerprint` "cloudmux-mock".  Timing runs on the worker's event
 * loop; nothing blocks. */
#include "provider.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "providers/mock_answer.h"
#include "providers/mock_config.h"

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
    cmx_mock_plan plan;   /* what to answer */
    uint32_t chunk_index; /* next stream step */
    uint32_t n_chunks;
    int fail_status; /* 0: succeed */
    int times_out;   /* latency beyond the first-byte timeout */
    cmx_usage usage;
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
    cmx_mock_plan_free(&a->plan);
    free(a);
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

static void usage_json(const cmx_usage *u, char *out, size_t size)
{
    snprintf(out, size,
             "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
             "\"total_tokens\":%lld}",
             (long long)u->prompt_tokens, (long long)u->completion_tokens,
             (long long)u->total_tokens);
}

static void respond(mock_attempt *a)
{
    cmx_buf b = CMX_BUF_INIT;
    if (a->api == CMX_API_EMBEDDINGS) {
        cmx_error err;
        if (cmx_mock_write_embeddings(&a->plan, a->usage.prompt_tokens, &b, &err) != CMX_OK) {
            cmx_buf_free(&b);
            finish(a, &err, NULL);
            return;
        }
    } else {
        char usage[160];
        usage_json(&a->usage, usage, sizeof usage);
        cmx_mock_write_chat(&a->plan, usage, &b);
    }
    if (cmx_buf_failed(&b)) {
        cmx_error err;
        cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory while writing the answer");
        cmx_buf_free(&b);
        finish(a, &err, NULL);
        return;
    }
    finish(a, NULL, &b);
}

static void emit_chunk(void *ctx, const char *json, size_t len)
{
    mock_attempt *a = ctx;
    a->sink.on_chunk(a->sink.ctx, json, len);
}

/* Emits the next stream step; returns 1 when the stream is complete, -1
 * when a chunk could not be written (none of it was sent). */
static int stream_step(mock_attempt *a)
{
    uint32_t step = a->chunk_index++;
    if (step <= a->n_chunks + 1) {
        if (cmx_mock_stream_step(&a->plan, step, a->n_chunks, emit_chunk, a) != CMX_OK)
            return -1;
        return step == a->n_chunks + 1 && !a->include_usage;
    }
    char usage[160];
    usage_json(&a->usage, usage, sizeof usage);
    cmx_buf b = CMX_BUF_INIT;
    cmx_mock_write_usage_chunk(&a->plan, usage, &b);
    int lost = cmx_buf_failed(&b);
    if (!lost)
        a->sink.on_chunk(a->sink.ctx, b.data, b.len);
    cmx_buf_free(&b);
    return lost ? -1 : 1;
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
        respond(a);
        return;
    }
    uint32_t interval = cmx_mock_settings_of(a->state->cfg)->chunk_interval_ms;
    for (;;) {
        int done = stream_step(a);
        if (done < 0) {
            cmx_error err;
            cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory while writing a stream chunk");
            finish(a, &err, NULL);
            return;
        }
        if (done) {
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
    a->stream = cmx_call_streams(call);
    a->include_usage = call->scan->include_usage;
    a->n_chunks = mc->stream_chunks ? mc->stream_chunks : 1;
    /* A request OpenAI would refuse is refused here too, before any delay. */
    if (cmx_mock_plan_read(&a->plan, call->api, call->body, call->body_len,
                           target->model ? target->model : call->scan->model_name,
                           mc->content ? mc->content : "", ++s->next_id, err) != CMX_OK) {
        attempt_free(a);
        return NULL;
    }
    if (mc->failure_rate > 0 &&
        (double)(next_random(s) >> 11) / 9007199254740992.0 < mc->failure_rate)
        a->fail_status = mc->failure_status ? mc->failure_status : 503;

    cmx_usage_init(&a->usage);
    /* Roughly four bytes per token, as the usual rule of thumb has it. */
    a->usage.prompt_tokens = (int64_t)(call->body_len / 4);
    a->usage.completion_tokens =
        call->api == CMX_API_EMBEDDINGS ? 0 : cmx_mock_completion_tokens(&a->plan);
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
