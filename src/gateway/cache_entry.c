/* cache_entry.c — encoding cached answers and replaying them as a body or as
 * stream chunks; see cache_entry.h.  Replays use jansson: a cache hit skips
 * the provider's whole round trip, so a parse of a few kilobytes is cheap in
 * comparison, and it keeps every field of the stored answer. */
#include "gateway/cache_entry.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmx_cache_entry_encode(cmx_buf *out, int is_stream, const cmx_usage *usage,
                            const char *provider, const char *model, const char *payload,
                            size_t payload_len)
{
    provider = provider ? provider : "";
    model = model ? model : "";
    cmx_buf_printf(out, "CMX1 %c %lld %lld %zu %zu\n", is_stream ? 's' : 'j',
                   (long long)usage->prompt_tokens, (long long)usage->completion_tokens,
                   strlen(provider), strlen(model));
    cmx_buf_append_str(out, provider);
    cmx_buf_append_str(out, model);
    cmx_buf_append(out, payload, payload_len);
}

void cmx_cache_append_chunk(cmx_buf *payload, const char *json, size_t len)
{
    cmx_buf_printf(payload, "%zu\n", len);
    cmx_buf_append(payload, json, len);
}

int cmx_cache_entry_decode(const char *value, size_t len, cmx_arena *arena, cmx_cache_entry *e)
{
    const char *nl = memchr(value, '\n', len < 128 ? len : 128);
    if (!nl || len < CMX_LIT_LEN("CMX1 ") || memcmp(value, CMX_LIT("CMX1 ")) != 0)
        return -1;
    char head[128];
    memcpy(head, value, (size_t)(nl - value));
    head[nl - value] = '\0';
    char kind;
    long long prompt, completion;
    size_t plen, mlen;
    if (sscanf(head, "CMX1 %c %lld %lld %zu %zu", &kind, &prompt, &completion, &plen, &mlen) != 5 ||
        (kind != 'j' && kind != 's'))
        return -1;
    const char *p = nl + 1;
    size_t rest = len - (size_t)(p - value);
    if (plen > rest || mlen > rest - plen)
        return -1;
    memset(e, 0, sizeof *e);
    e->is_stream = kind == 's';
    cmx_usage_init(&e->usage);
    e->usage.prompt_tokens = prompt;
    e->usage.completion_tokens = completion;
    if (prompt >= 0 && completion >= 0)
        e->usage.total_tokens = prompt + completion;
    e->provider = cmx_arena_strndup(arena, p, plen);
    e->model = cmx_arena_strndup(arena, p + plen, mlen);
    e->payload = p + plen + mlen;
    e->payload_len = rest - plen - mlen;
    return e->provider && e->model ? 0 : -1;
}

/* Calls fn for each stored chunk; -1 when the payload is malformed. */
static int each_chunk(const cmx_cache_entry *e, int (*fn)(void *ctx, const char *json, size_t len),
                      void *ctx)
{
    const char *p = e->payload, *end = e->payload + e->payload_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return -1;
        char *num_end;
        unsigned long long n = strtoull(p, &num_end, 10);
        if (num_end != nl || n > (unsigned long long)(end - nl - 1))
            return -1;
        if (fn(ctx, nl + 1, (size_t)n) != 0)
            return -1;
        p = nl + 1 + n;
    }
    return 0;
}

static int count_chunk(void *ctx, const char *json, size_t len)
{
    (void)ctx, (void)json, (void)len;
    return 0;
}

static json_t *usage_json(const cmx_usage *u)
{
    if (u->prompt_tokens < 0 || u->completion_tokens < 0)
        return json_null();
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)(u->prompt_tokens + u->completion_tokens));
}

/* --- a stored stream as one body ----------------------------------------- */

typedef struct assembly {
    json_t *first;   /* the first chunk: id, created, model */
    json_t *choices; /* array of {index, message, finish_reason}, by index */
} assembly;

static json_t *choice_at(assembly *a, size_t index)
{
    while (json_array_size(a->choices) <= index)
        json_array_append_new(a->choices,
                              json_pack("{s:I, s:{s:s, s:s}, s:n}", "index",
                                        (json_int_t)json_array_size(a->choices), "message", "role",
                                        "assistant", "content", "", "finish_reason"));
    return json_array_get(a->choices, index);
}

static void append_string(json_t *obj, const char *key, json_t *piece)
{
    if (!json_is_string(piece))
        return;
    json_t *cur = json_object_get(obj, key);
    if (!json_is_string(cur)) {
        json_object_set(obj, key, piece);
        return;
    }
    size_t a = json_string_length(cur), b = json_string_length(piece);
    char *joined = malloc(a + b + 1);
    if (!joined)
        return;
    memcpy(joined, json_string_value(cur), a);
    memcpy(joined + a, json_string_value(piece), b);
    json_object_set_new(obj, key, json_stringn(joined, a + b));
    free(joined);
}

static void merge_tool_calls(json_t *message, json_t *deltas)
{
    json_t *calls = json_object_get(message, "tool_calls");
    if (!calls) {
        calls = json_array();
        json_object_set_new(message, "tool_calls", calls);
    }
    size_t i;
    json_t *d;
    json_array_foreach(deltas, i, d)
    {
        json_int_t index = json_integer_value(json_object_get(d, "index"));
        if (index < 0 || index > 1024)
            continue;
        while (json_array_size(calls) <= (size_t)index)
            json_array_append_new(calls,
                                  json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "", "type",
                                            "function", "function", "name", "", "arguments", ""));
        json_t *call = json_array_get(calls, (size_t)index);
        json_t *id = json_object_get(d, "id");
        if (json_is_string(id))
            json_object_set(call, "id", id);
        json_t *fn = json_object_get(d, "function");
        json_t *cfn = json_object_get(call, "function");
        append_string(cfn, "name", json_object_get(fn, "name"));
        append_string(cfn, "arguments", json_object_get(fn, "arguments"));
    }
}

static int assemble_chunk(void *ctx, const char *json, size_t len)
{
    assembly *a = ctx;
    json_t *chunk = json_loadb(json, len, 0, NULL);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        return -1;
    }
    if (!a->first)
        a->first = json_incref(chunk);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(chunk, "choices"), i, c)
    {
        json_int_t index = json_integer_value(json_object_get(c, "index"));
        if (index < 0 || index > 1024)
            continue;
        json_t *choice = choice_at(a, (size_t)index);
        json_t *message = json_object_get(choice, "message");
        json_t *delta = json_object_get(c, "delta");
        append_string(message, "content", json_object_get(delta, "content"));
        json_t *calls = json_object_get(delta, "tool_calls");
        if (json_is_array(calls))
            merge_tool_calls(message, calls);
        json_t *finish = json_object_get(c, "finish_reason");
        if (json_is_string(finish))
            json_object_set(choice, "finish_reason", finish);
    }
    json_decref(chunk);
    return 0;
}

int cmx_cache_entry_as_json(const cmx_cache_entry *e, cmx_buf *out)
{
    if (!e->is_stream) {
        cmx_buf_append(out, e->payload, e->payload_len);
        return cmx_buf_failed(out) ? -1 : 0;
    }
    assembly a = {NULL, json_array()};
    int rc = each_chunk(e, assemble_chunk, &a);
    json_t *root = NULL;
    if (rc == 0 && a.first) {
        root =
            json_pack("{s:O, s:s, s:O, s:O, s:O, s:o}", "id", json_object_get(a.first, "id"),
                      "object", "chat.completion", "created", json_object_get(a.first, "created"),
                      "model", json_object_get(a.first, "model"), "choices", a.choices, "usage",
                      usage_json(&e->usage));
    }
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    json_decref(a.first);
    json_decref(a.choices);
    if (!text)
        return -1;
    rc = cmx_buf_append_str(out, text);
    free(text);
    return rc;
}

/* --- as stream chunks ----------------------------------------------------- */

typedef struct replay {
    cmx_cache_chunk_fn fn;
    void *ctx;
    json_t *first;
} replay;

/* Chunks go out as stored; only the first is parsed (its id, created and
 * model head a usage chunk made later).  A usage-only chunk is recognised by
 * its empty choices, as every OpenAI-shaped stream writes it. */
static int replay_chunk(void *ctx, const char *json, size_t len)
{
    replay *r = ctx;
    if (!r->first) {
        r->first = json_loadb(json, len, 0, NULL);
        if (!json_is_object(r->first))
            return -1;
    }
    int usage_only = memmem(json, len, CMX_LIT("\"choices\":[]")) != NULL &&
                     memmem(json, len, CMX_LIT("\"usage\"")) != NULL;
    if (!usage_only)
        r->fn(r->ctx, json, len);
    return 0;
}

static void emit(replay *r, json_t *chunk)
{
    char *text = json_dumps(chunk, JSON_COMPACT);
    if (text)
        r->fn(r->ctx, text, strlen(text));
    free(text);
    json_decref(chunk);
}

/* A whole chat.completion as chunks: per choice, the message as one delta,
 * then its finish reason. */
static int body_as_chunks(const cmx_cache_entry *e, replay *r)
{
    json_t *body = json_loadb(e->payload, e->payload_len, 0, NULL);
    json_t *choices = json_object_get(body, "choices");
    if (!json_is_array(choices)) {
        json_decref(body);
        return -1;
    }
    r->first = json_pack("{s:O, s:O, s:O}", "id", json_object_get(body, "id"), "created",
                         json_object_get(body, "created"), "model", json_object_get(body, "model"));
    size_t i;
    json_t *c;
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(choices, i, c)
        {
            json_t *delta = pass ? json_object() : json_deep_copy(json_object_get(c, "message"));
            if (!delta)
                delta = json_object();
            json_t *calls = json_object_get(delta, "tool_calls");
            size_t k;
            json_t *call;
            json_array_foreach(calls, k, call)
                json_object_set_new(call, "index", json_integer((json_int_t)k));
            json_object_del(delta, "refusal");
            emit(r, json_pack("{s:O, s:s, s:O, s:O, s:[{s:O, s:o, s:O}]}", "id",
                              json_object_get(r->first, "id"), "object", "chat.completion.chunk",
                              "created", json_object_get(r->first, "created"), "model",
                              json_object_get(r->first, "model"), "choices", "index",
                              json_object_get(c, "index"), "delta", delta, "finish_reason",
                              pass ? json_object_get(c, "finish_reason") : json_null()));
        }
    }
    json_decref(body);
    return 0;
}

int cmx_cache_entry_as_chunks(const cmx_cache_entry *e, int include_usage, cmx_cache_chunk_fn fn,
                              void *ctx)
{
    replay r = {fn, ctx, NULL};
    /* The framing is checked whole first, so a damaged entry emits nothing. */
    if (e->is_stream && each_chunk(e, count_chunk, NULL) != 0)
        return -1;
    int rc = e->is_stream ? each_chunk(e, replay_chunk, &r) : body_as_chunks(e, &r);
    if (rc == 0 && include_usage && r.first)
        emit(&r, json_pack("{s:O, s:s, s:O, s:O, s:[], s:o}", "id", json_object_get(r.first, "id"),
                           "object", "chat.completion.chunk", "created",
                           json_object_get(r.first, "created"), "model",
                           json_object_get(r.first, "model"), "choices", "usage",
                           usage_json(&e->usage)));
    json_decref(r.first);
    return rc;
}
