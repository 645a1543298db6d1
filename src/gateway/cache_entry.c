/* cache_entry.c — making a cached answer in both forms and reading it
 * back; see cache_entry.h.  The conversions between a body and a stream use
 * jansson: they run once, when an entry is made from an answer being
 * stored, so a hit copies bytes and parses nothing (unless the entry was too
 * big to hold both forms), and they keep every field of the answer. */
#include "gateway/cache_entry.h"
#include "core/str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A usage-only chunk is recognised by its empty choices, as every
 * OpenAI-shaped stream writes it. */
static int is_usage_only(const char *json, size_t len)
{
    return memmem(json, len, CMX_LIT("\"choices\":[]")) != NULL &&
           memmem(json, len, CMX_LIT("\"usage\"")) != NULL;
}

static void append_event(cmx_buf *out, const char *json, size_t len)
{
    cmx_buf_append(out, CMX_LIT("data: "));
    cmx_buf_append(out, json, len);
    cmx_buf_append(out, CMX_LIT("\n\n"));
}

void cmx_cache_append_chunk(cmx_buf *events, const char *json, size_t len)
{
    if (!is_usage_only(json, len))
        append_event(events, json, len);
}

/* Calls fn with each event's JSON; -1 when the events are malformed. */
static int each_event(const char *p, size_t len, int (*fn)(void *ctx, const char *json, size_t len),
                      void *ctx)
{
    const char *end = p + len;
    while (p < end) {
        if ((size_t)(end - p) < CMX_LIT_LEN("data: \n\n") || memcmp(p, CMX_LIT("data: ")) != 0)
            return -1;
        p += CMX_LIT_LEN("data: ");
        const char *stop = memmem(p, (size_t)(end - p), CMX_LIT("\n\n"));
        if (!stop || fn(ctx, p, (size_t)(stop - p)) != 0)
            return -1;
        p = stop + 2;
    }
    return 0;
}

/* Appends chunk (consumed) as one event; -1 when it could not be written. */
static int emit_event(cmx_buf *out, json_t *chunk)
{
    char *text = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
    json_decref(chunk);
    if (!text)
        return -1;
    append_event(out, text, strlen(text));
    free(text);
    return cmx_buf_failed(out) ? -1 : 0;
}

static json_t *usage_json(const cmx_usage *u)
{
    if (u->prompt_tokens < 0 || u->completion_tokens < 0)
        return json_null();
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)(u->prompt_tokens + u->completion_tokens));
}

/* The event a client that asked for usage gets last: a chunk with no
 * choices and the stored counts, headed like the answer (`first`: id,
 * created, model). */
static int emit_usage_event(cmx_buf *out, const json_t *first, const cmx_usage *u)
{
    return emit_event(
        out,
        json_pack("{s:O, s:s, s:O, s:O, s:[], s:o}", "id", json_object_get(first, "id"), "object",
                  "chat.completion.chunk", "created", json_object_get(first, "created"), "model",
                  json_object_get(first, "model"), "choices", "usage", usage_json(u)));
}

/* --- a stream as one body ------------------------------------------------- */

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

/* The events of a stream as one chat.completion, appended to out; *first
 * (if not NULL) gets the first chunk, for its id, created and model.
 * 0 on success. */
static int assemble(const char *events, size_t len, const cmx_usage *usage, cmx_buf *out,
                    json_t **first)
{
    assembly a = {NULL, json_array()};
    int rc = each_event(events, len, assemble_chunk, &a);
    json_t *root = NULL;
    if (rc == 0 && a.first)
        root = json_pack(
            "{s:O, s:s, s:O, s:O, s:O, s:o}", "id", json_object_get(a.first, "id"), "object",
            "chat.completion", "created", json_object_get(a.first, "created"), "model",
            json_object_get(a.first, "model"), "choices", a.choices, "usage", usage_json(usage));
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    json_decref(a.choices);
    if (first && text)
        *first = a.first;
    else
        json_decref(a.first);
    if (!text)
        return -1;
    rc = cmx_buf_append_str(out, text);
    free(text);
    return rc;
}

/* --- a body as a stream ---------------------------------------------------- */

/* A whole chat.completion as events, appended to out: per choice, the
 * message as one delta, then per choice its finish reason.  *first (if not
 * NULL) gets {id, created, model}.  0 on success. */
static int cut_into_events(const char *json, size_t len, cmx_buf *out, json_t **first)
{
    json_t *body = json_loadb(json, len, 0, NULL);
    json_t *choices = json_object_get(body, "choices");
    if (!json_is_array(choices)) {
        json_decref(body);
        return -1;
    }
    json_t *head =
        json_pack("{s:O, s:O, s:O}", "id", json_object_get(body, "id"), "created",
                  json_object_get(body, "created"), "model", json_object_get(body, "model"));
    int rc = head ? 0 : -1;
    size_t i;
    json_t *c;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
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
            if (emit_event(
                    out, json_pack("{s:O, s:s, s:O, s:O, s:[{s:O, s:o, s:O}]}", "id",
                                   json_object_get(head, "id"), "object", "chat.completion.chunk",
                                   "created", json_object_get(head, "created"), "model",
                                   json_object_get(head, "model"), "choices", "index",
                                   json_object_get(c, "index"), "delta", delta, "finish_reason",
                                   pass ? json_object_get(c, "finish_reason") : json_null())) != 0)
                rc = -1;
        }
    }
    json_decref(body);
    if (first && rc == 0)
        *first = head;
    else
        json_decref(head);
    return rc;
}

/* --- the entry -------------------------------------------------------------- */

int cmx_cache_entry_make(cmx_buf *out, int is_stream, const cmx_usage *usage, const char *provider,
                         const char *model, const char *payload, size_t payload_len, size_t max_len)
{
    provider = provider ? provider : "";
    model = model ? model : "";
    cmx_buf other = CMX_BUF_INIT, usage_event = CMX_BUF_INIT;
    json_t *first = NULL;
    int converted = is_stream ? assemble(payload, payload_len, usage, &other, &first)
                              : cut_into_events(payload, payload_len, &other, &first);
    if (first && emit_usage_event(&usage_event, first, usage) != 0)
        cmx_buf_reset(&usage_event); /* a client asking for usage then gets none */
    json_decref(first);
    char head[160];
    size_t plen = strlen(provider), mlen = strlen(model);
    size_t fixed = sizeof head + plen + mlen + payload_len + usage_event.len;
    int keep_other =
        converted == 0 && !cmx_buf_failed(&other) && other.len > 0 && fixed + other.len <= max_len;
    int rc = -1;
    if (payload_len > 0 && fixed <= max_len) {
        size_t jlen = is_stream ? (keep_other ? other.len : 0) : payload_len;
        size_t slen = is_stream ? payload_len : (keep_other ? other.len : 0);
        int n = snprintf(head, sizeof head, "CMX2 %lld %lld %zu %zu %zu %zu %zu\n",
                         (long long)usage->prompt_tokens, (long long)usage->completion_tokens, plen,
                         mlen, jlen, slen, usage_event.len);
        cmx_buf_append(out, head, (size_t)n);
        cmx_buf_append(out, provider, plen);
        cmx_buf_append(out, model, mlen);
        cmx_buf_append(out, is_stream ? other.data : payload, jlen);
        cmx_buf_append(out, is_stream ? payload : other.data, slen);
        cmx_buf_append(out, usage_event.data, usage_event.len);
        rc = cmx_buf_failed(out) ? -1 : 0;
    }
    cmx_buf_free(&other);
    cmx_buf_free(&usage_event);
    return rc;
}

/* A decimal number at *p (before end), "-1" allowed when may_be_unknown;
 * *p is left after it.  0 when there is none or it is too long. */
static int read_number(const char **p, const char *end, int may_be_unknown, long long *out)
{
    const char *q = *p;
    if (may_be_unknown && end - q >= 2 && q[0] == '-' && q[1] == '1') {
        *out = -1;
        *p = q + 2;
        return 1;
    }
    long long v = 0;
    int digits = 0;
    for (; q < end && *q >= '0' && *q <= '9' && digits < 18; q++, digits++)
        v = v * 10 + (*q - '0');
    if (!digits || (q < end && *q >= '0' && *q <= '9'))
        return 0;
    *out = v;
    *p = q;
    return 1;
}

int cmx_cache_entry_decode(const char *value, size_t len, cmx_arena *arena, cmx_cache_entry *e)
{
    const char *nl = memchr(value, '\n', len < 160 ? len : 160);
    if (!nl || len < CMX_LIT_LEN("CMX2 ") || memcmp(value, CMX_LIT("CMX2 ")) != 0)
        return -1;
    /* prompt, completion (-1: unknown), then the lengths of the provider,
     * the model, the JSON, the events and the usage event */
    long long num[7];
    const char *q = value + CMX_LIT_LEN("CMX2 ");
    for (int i = 0; i < 7; i++) {
        if (!read_number(&q, nl, i < 2, &num[i]) || *q != (i < 6 ? ' ' : '\n'))
            return -1;
        q++;
    }
    long long prompt = num[0], completion = num[1];
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = (size_t)num[i + 2];
    const char *p = nl + 1;
    size_t rest = len - (size_t)(p - value);
    const char *part[5];
    for (int i = 0; i < 5; i++) {
        if (lens[i] > rest)
            return -1;
        part[i] = p;
        p += lens[i];
        rest -= lens[i];
    }
    if (rest != 0 || (lens[2] == 0 && lens[3] == 0))
        return -1;
    memset(e, 0, sizeof *e);
    cmx_usage_init(&e->usage);
    e->usage.prompt_tokens = prompt;
    e->usage.completion_tokens = completion;
    if (prompt >= 0 && completion >= 0)
        e->usage.total_tokens = prompt + completion;
    e->provider = cmx_arena_strndup(arena, part[0], lens[0]);
    e->model = cmx_arena_strndup(arena, part[1], lens[1]);
    e->json = part[2], e->json_len = lens[2];
    e->sse = part[3], e->sse_len = lens[3];
    e->usage_event = part[4], e->usage_event_len = lens[4];
    return e->provider && e->model ? 0 : -1;
}

int cmx_cache_entry_body(const cmx_cache_entry *e, cmx_buf *scratch, const char **body, size_t *len)
{
    if (e->json_len) {
        *body = e->json, *len = e->json_len;
        return 0;
    }
    if (assemble(e->sse, e->sse_len, &e->usage, scratch, NULL) != 0 || cmx_buf_failed(scratch))
        return -1;
    *body = scratch->data, *len = scratch->len;
    return 0;
}

int cmx_cache_entry_events(const cmx_cache_entry *e, cmx_buf *scratch, const char **events,
                           size_t *len)
{
    if (e->sse_len) {
        *events = e->sse, *len = e->sse_len;
        return 0;
    }
    if (cut_into_events(e->json, e->json_len, scratch, NULL) != 0 || cmx_buf_failed(scratch))
        return -1;
    *events = scratch->data, *len = scratch->len;
    return 0;
}
