/* translate_bench.c — what translation costs per request, for every
 * translator of the chat API.
 *
 * Not a test: for each translator (anthropic, bedrock, bedrock_invoke,
 * vertex, vertex_claude) it prints nanoseconds per call, through the one
 * translator interface as an attempt calls it, for a typical ~1 KB chat
 * request (system prompt, a few turns with escapes and unicode, a tool,
 * sampling parameters), the service's whole answer, and one streamed text
 * event; next to a plain jansson parse + serialise of the same request for
 * scale.  Build and run:
 *
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target translate_bench && build-rel/translate_bench
 *
 * The request is timed twice: with the tokens the gateway's request scan
 * kept (as an attempt runs it: the gateway tokenizes and validates every
 * body before routing), and tokenizing here (a body the scan did not see).
 *
 * Each figure is the best of several rounds, to keep other load out of it.
 * `translate_bench NAME N scanned|tokenized` translates only NAME's request
 * N times, for counting instructions under callgrind on a loaded machine:
 *
 *   valgrind --tool=callgrind build-rel/translate_bench anthropic 1000 scanned
 *
 * (instructions per request: the total less a run with N = 0, over N). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/str.h"
#include "http/json_scan.h"
#include "providers/eventstream.h"
#include "providers/translator.h"

static const char chat_body[] =
    "{\"model\":\"claude\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful assistant. Answer briefly and "
    "precisely; when unsure, say so. Use metric units.\"},"
    "{\"role\":\"user\",\"content\":\"What is the capital of France, and what is it known "
    "for? Please include a short note on its history.\"},"
    "{\"role\":\"assistant\",\"content\":\"Paris. It is known for the Eiffel Tower, the "
    "Louvre, caf\\u00e9s and its role in the French Revolution of 1789.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"And Germany? Quote: "
    "\\\"Ich bin ein Berliner\\\"\\n\\tThanks!\"}]}],"
    "\"temperature\":0.7,\"top_p\":1,\"max_tokens\":256,\"presence_penalty\":0,"
    "\"frequency_penalty\":0,\"n\":1,\"stop\":[\"\\n\\n\",\"END\"],\"user\":\"user-1234\","
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
    "\"Current weather for a city, in metric units\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":"
    "\"integer\"}},\"required\":[\"city\"]}}}],\"tool_choice\":\"auto\",\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true}}";

static const char claude_answer[] =
    "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"Berlin is the capital of Germany. It is known for its history, the Brandenburg Gate "
    "and a lively arts scene.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":112,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":64,\"output_tokens\":27}}";
static const char claude_start[] =
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":112,"
    "\"output_tokens\":1}}}";
static const char claude_delta[] = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                   "{\"type\":\"text_delta\",\"text\":\" Berlin\"}}";

static const char converse_answer[] =
    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Berlin is the "
    "capital of Germany. It is known for its history, the Brandenburg Gate and a lively arts "
    "scene.\"}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":112,\"outputTokens\":27,"
    "\"totalTokens\":139},\"metrics\":{\"latencyMs\":412}}";
static const char converse_start[] = "{\"role\":\"assistant\"}";
static const char converse_delta[] = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" Berlin\"}}";

static const char gemini_answer[] =
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Berlin is the "
    "capital of Germany. It is known for its history, the Brandenburg Gate and a lively arts "
    "scene.\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":112,"
    "\"candidatesTokenCount\":27,\"totalTokenCount\":139},\"modelVersion\":\"gemini-2.5-flash\","
    "\"responseId\":\"abc123\"}";
static const char gemini_delta[] =
    "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" Berlin\"}]}}],"
    "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc123\"}\r\n\r\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile long sink;

static void count_chunk(void *ctx, const char *json, size_t len)
{
    (void)ctx;
    (void)json;
    sink += (long)len;
}

#define ROUNDS 7

#define BENCH(label, iters, body)                                                                  \
    do {                                                                                           \
        double best = 1e30;                                                                        \
        for (int round = 0; round < ROUNDS; round++) {                                             \
            double t0 = now_ns();                                                                  \
            for (long it = 0; it < (iters); it++) {                                                \
                body;                                                                              \
            }                                                                                      \
            double per = (now_ns() - t0) / (double)(iters);                                        \
            if (per < best)                                                                        \
                best = per;                                                                        \
        }                                                                                          \
        printf("  %-46s %8.0f ns\n", label, best);                                                 \
    } while (0)

/* A translator's canned answer and one stream event in its framing. */
typedef struct road {
    const char *name;
    const char *answer;
    cmx_buf start_wire, delta_wire; /* a first event (opening the stream) and a text event */
} road;

static void sse(cmx_buf *b, const char *event, const char *data)
{
    cmx_buf_printf(b, "event: %s\r\ndata: %s\r\n\r\n", event, data);
}

static void eventstream(cmx_buf *b, const char *event, const char *payload, size_t len)
{
    cmx_eventstream_header h[3] = {
        {":message-type", CMX_LIT_LEN(":message-type"), CMX_EVENTSTREAM_STRING, 0,
         CMX_LIT("event")},
        {":event-type", CMX_LIT_LEN(":event-type"), CMX_EVENTSTREAM_STRING, 0, event,
         strlen(event)},
        {":content-type", CMX_LIT_LEN(":content-type"), CMX_EVENTSTREAM_STRING, 0,
         CMX_LIT("application/json")},
    };
    cmx_error err;
    cmx_eventstream_encode(b, h, 3, payload, len, &err);
}

/* InvokeModelWithResponseStream: {"bytes": base64(event)} in a chunk event. */
static void invoke_chunk(cmx_buf *b, const char *event)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    cmx_buf p = CMX_BUF_INIT;
    size_t n = strlen(event);
    cmx_buf_append_str(&p, "{\"bytes\":\"");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)event[i] << 16 |
                     (i + 1 < n ? (unsigned char)event[i + 1] << 8 : 0) |
                     (i + 2 < n ? (unsigned char)event[i + 2] : 0);
        char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};
        cmx_buf_append(&p, q, 4);
    }
    cmx_buf_append_str(&p, "\"}");
    eventstream(b, "chunk", p.data, p.len);
    cmx_buf_free(&p);
}

static void make_roads(road *r)
{
    r[0] = (road){"anthropic", claude_answer, CMX_BUF_INIT, CMX_BUF_INIT};
    sse(&r[0].start_wire, "message_start", claude_start);
    sse(&r[0].delta_wire, "content_block_delta", claude_delta);
    r[1] = (road){"vertex_claude", claude_answer, CMX_BUF_INIT, CMX_BUF_INIT};
    sse(&r[1].start_wire, "message_start", claude_start);
    sse(&r[1].delta_wire, "content_block_delta", claude_delta);
    r[2] = (road){"bedrock", converse_answer, CMX_BUF_INIT, CMX_BUF_INIT};
    eventstream(&r[2].start_wire, "messageStart", converse_start, sizeof converse_start - 1);
    eventstream(&r[2].delta_wire, "contentBlockDelta", converse_delta, sizeof converse_delta - 1);
    r[3] = (road){"bedrock_invoke", claude_answer, CMX_BUF_INIT, CMX_BUF_INIT};
    invoke_chunk(&r[3].start_wire, claude_start);
    invoke_chunk(&r[3].delta_wire, claude_delta);
    r[4] = (road){"vertex", gemini_answer, CMX_BUF_INIT, CMX_BUF_INIT};
    cmx_buf_append_str(&r[4].delta_wire, gemini_delta);
}

static const cmx_translator_ops *find(const char *name)
{
    const cmx_translator_ops *ops;
    for (size_t i = 0; (ops = cmx_translator_at(i)); i++)
        if (strcmp(ops->name, name) == 0)
            return ops;
    return NULL;
}

static const cmx_translate_params params = {
    .provider_name = "bench",
    .model = "the-model",
    .id = "chatcmpl-bench",
    .created = 1700000000,
    .include_usage = 1,
    .emit = count_chunk,
};

/* What the gateway's scan found, tokens kept (in their own arena). */
static cmx_request_scan scan;

static int bench_road(road *r, cmx_arena *arena, long n)
{
    const cmx_translator_ops *ops = find(r->name);
    cmx_translator tr;
    cmx_error err;
    cmx_buf out = CMX_BUF_INIT;
    if (!ops || cmx_translator_open(&tr, ops, NULL, &params, &err) != CMX_OK) {
        fprintf(stderr, "%s: no such translator\n", r->name);
        return 1;
    }
    cmx_translate_input in = {chat_body, sizeof chat_body - 1, NULL, arena, NULL};
    if (ops->write_request(tr.state, &in, &out, &err) != CMX_OK) {
        fprintf(stderr, "%s: bench body rejected: %s\n", r->name, err.message);
        return 1;
    }
    printf("%s: 1 KB chat request -> %zu bytes\n", r->name, out.len);
    cmx_translate_input scanned = {chat_body, sizeof chat_body - 1, &scan, arena, NULL};
    BENCH("request (1 KB), tokens from the gateway's scan", n, {
        cmx_buf_rewind(&out);
        cmx_arena_reset(arena);
        sink += ops->write_request(tr.state, &scanned, &out, &err);
    });
    BENCH("request (1 KB), tokenized here", n, {
        cmx_buf_rewind(&out);
        cmx_arena_reset(arena);
        sink += ops->write_request(tr.state, &in, &out, &err);
    });
    BENCH("whole answer", n, {
        cmx_buf_rewind(&out);
        cmx_usage u;
        sink += ops->read_answer(tr.state, r->answer, strlen(r->answer), &out, &u, &err);
    });
    if (r->start_wire.len)
        ops->feed(tr.state, r->start_wire.data, r->start_wire.len, &err);
    BENCH("stream: one text event -> one chunk", n * 4,
          { sink += ops->feed(tr.state, r->delta_wire.data, r->delta_wire.len, &err); });
    cmx_translator_close(&tr);
    free(tr.state);
    cmx_buf_free(&out);
    return 0;
}

/* Only NAME's request, n times: for callgrind. */
static int requests_only(const char *name, long n, int scanned, cmx_arena *arena)
{
    const cmx_translator_ops *ops = find(name);
    cmx_translator tr;
    cmx_error err;
    if (!ops || cmx_translator_open(&tr, ops, NULL, &params, &err) != CMX_OK)
        return 1;
    cmx_buf out = CMX_BUF_INIT;
    cmx_translate_input in = {chat_body, sizeof chat_body - 1, scanned ? &scan : NULL, arena, NULL};
    for (long i = 0; i < n; i++) {
        cmx_buf_rewind(&out);
        cmx_arena_reset(arena);
        sink += ops->write_request(tr.state, &in, &out, &err);
    }
    cmx_translator_close(&tr);
    free(tr.state);
    cmx_buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    cmx_arena *arena = cmx_arena_new(16384);
    cmx_arena *scan_arena = cmx_arena_new(16384);
    cmx_error err;
    if (cmx_json_scan_request(CMX_API_CHAT, chat_body, sizeof chat_body - 1, scan_arena, &scan,
                              &err) != CMX_OK ||
        !scan.tokens) {
        fprintf(stderr, "the scan refused the bench body: %s\n", err.message);
        return 1;
    }
    if (argc == 4)
        return requests_only(argv[1], atol(argv[2]), strcmp(argv[3], "scanned") == 0, arena);
    const long n = 50000;
    road roads[5];
    make_roads(roads);
    printf("for scale: jansson parse + dump of the same %zu-byte request\n", sizeof chat_body - 1);
    BENCH("jansson", n, {
        json_t *j = json_loadb(chat_body, sizeof chat_body - 1, 0, NULL);
        char *s = json_dumps(j, JSON_COMPACT);
        sink += (long)strlen(s);
        free(s);
        json_decref(j);
    });
    int rc = 0;
    for (size_t i = 0; i < sizeof roads / sizeof roads[0]; i++) {
        rc |= bench_road(&roads[i], arena, n);
        cmx_buf_free(&roads[i].start_wire);
        cmx_buf_free(&roads[i].delta_wire);
    }
    cmx_arena_free(arena);
    cmx_arena_free(scan_arena);
    return rc | (int)(sink & 0);
}
