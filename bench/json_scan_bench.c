/* json_scan_bench.c — how long the request hot path's JSON work takes.
 *
 * Not a test: it prints nanoseconds per call for the scanner on a typical
 * ~1 KB chat request, next to the piece it is made of (the one-pass
 * tokenizer and validator, cmx_json_doc_parse) and a jansson parse for
 * scale, plus find_usage on a response body and on one stream chunk.  Build and run:
 *
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target json_scan_bench && build-rel/json_scan_bench
 *
 * Each figure is the best of several rounds, to keep other load out of it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "http/json_doc.h"
#include "http/json_scan.h"

static const char chat_body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful assistant. Answer briefly and "
    "precisely; when unsure, say so. Use metric units.\"},"
    "{\"role\":\"user\",\"content\":\"What is the capital of France, and what is it known "
    "for? Please include a short note on its history.\"},"
    "{\"role\":\"assistant\",\"content\":\"Paris. It is known for the Eiffel Tower, the "
    "Louvre, caf\\u00e9s and its role in the French Revolution of 1789.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"And Germany? Quote: "
    "\\\"Ich bin ein Berliner\\\"\\n\\tThanks!\"}]}],"
    "\"temperature\":0.7,\"top_p\":1,\"max_tokens\":256,\"presence_penalty\":-0.5,"
    "\"frequency_penalty\":0,\"n\":1,\"stop\":[\"\\n\\n\",\"END\"],\"user\":\"user-1234\","
    "\"metadata\":{\"trace\":\"abc\",\"nested\":{\"k\":{\"v\":1}}},"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":"
    "[\"city\"]}}}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

static const char response_body[] =
    "{\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion\",\"created\":1718000000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Berlin is the capital of Germany. It is known for its "
    "history, the Brandenburg Gate and a lively arts scene.\",\"refusal\":null},\"logprobs\":"
    "null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":112,\"completion_tokens\":"
    "27,\"total_tokens\":139,\"prompt_tokens_details\":{\"cached_tokens\":64,\"audio_tokens\":"
    "0},\"completion_tokens_details\":{\"reasoning_tokens\":0}},\"system_fingerprint\":"
    "\"fp_0ba0d124f1\"}";

static const char stream_chunk[] =
    "{\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Berlin\"},"
    "\"finish_reason\":null}],\"usage\":null}";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile long sink;

#define ROUNDS 7

/* Runs body `iters` times per round and prints the best ns per call. */
#define BENCH(label, iters, body)                                                                  \
    do {                                                                                           \
        double best = 1e30;                                                                        \
        for (int r = 0; r < ROUNDS; r++) {                                                         \
            double t0 = now_ns();                                                                  \
            for (long it = 0; it < (iters); it++) {                                                \
                body;                                                                              \
            }                                                                                      \
            double per = (now_ns() - t0) / (double)(iters);                                        \
            if (per < best)                                                                        \
                best = per;                                                                        \
        }                                                                                          \
        printf("%-46s %8.0f ns\n", label, best);                                                   \
    } while (0)

int main(int argc, char **argv)
{
    const long n = 200000;
    size_t len = sizeof chat_body - 1;
    cmx_arena *arena = cmx_arena_new(16384);
    cmx_error err;
    cmx_request_scan scan;
    cmx_usage usage;

    if (cmx_json_scan_request(CMX_API_CHAT, chat_body, len, arena, &scan, &err) != CMX_OK) {
        fprintf(stderr, "bench body rejected: %s\n", err.message);
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "--profile") == 0) {
        /* Only the scan, long enough for perf record. */
        for (long it = 0; it < 20 * n; it++)
            sink += cmx_json_scan_request(CMX_API_CHAT, chat_body, len, arena, &scan, &err);
        return 0;
    }
    cmx_json_doc doc;
    if (cmx_json_doc_parse(&doc, chat_body, len, arena, &err) != CMX_OK)
        return 1;
    int ntok = doc.n;
    printf("chat request: %zu bytes, %d tokens; response %zu bytes; chunk %zu bytes\n\n", len, ntok,
           sizeof response_body - 1, sizeof stream_chunk - 1);

    BENCH("cmx_json_scan_request (chat, 1 KB)", n, {
        cmx_arena_reset(arena);
        sink += cmx_json_scan_request(CMX_API_CHAT, chat_body, len, arena, &scan, &err);
    });
    BENCH("cmx_json_validate (same body)", n, {
        cmx_arena_reset(arena);
        sink += cmx_json_validate(chat_body, len, arena, &err);
    });
    BENCH("  cmx_json_doc_parse alone (tokens + validation)", n, {
        cmx_arena_reset(arena);
        sink += cmx_json_doc_parse(&doc, chat_body, len, arena, &err);
    });
    BENCH("  jansson json_loadb + json_decref (scale)", n / 4, {
        json_t *j = json_loadb(chat_body, len, 0, NULL);
        sink += j != NULL;
        json_decref(j);
    });
    size_t out_len;
    BENCH("cmx_json_splice_string (model)", n, {
        cmx_arena_reset(arena);
        sink += (long)(size_t)cmx_json_splice_string(arena, chat_body, len, scan.model,
                                                     "gpt-4o-mini-2024-07-18", &out_len);
    });
    BENCH("cmx_json_find_usage (response body)", n, {
        cmx_arena_reset(arena);
        sink += cmx_json_find_usage(response_body, sizeof response_body - 1, arena, &usage);
    });
    BENCH("cmx_json_find_usage (stream chunk)", n, {
        cmx_arena_reset(arena);
        sink += cmx_json_find_usage(stream_chunk, sizeof stream_chunk - 1, arena, &usage);
    });

    /* A long conversation: ~64 KB, far more tokens than the inline array. */
    cmx_buf big = CMX_BUF_INIT;
    cmx_buf_append_str(&big, "{\"model\":\"m\",\"messages\":[");
    for (int m = 0; m < 200; m++)
        cmx_buf_printf(&big,
                       "%s{\"role\":\"%s\",\"content\":\"Message %d: the quick brown fox "
                       "jumps over the lazy dog, again and again, %s\"}",
                       m ? "," : "", m % 2 ? "assistant" : "user", m,
                       "with a long tail of text that makes the body grow to a realistic size "
                       "for a multi-turn chat with a model that keeps context.");
    cmx_buf_append_str(&big, "],\"stream\":false}");
    char label[64];
    snprintf(label, sizeof label, "cmx_json_scan_request (chat, %zu KB)", big.len / 1024);
    BENCH(label, n / 50, {
        cmx_arena_reset(arena);
        sink += cmx_json_scan_request(CMX_API_CHAT, big.data, big.len, arena, &scan, &err);
    });
    cmx_buf_free(&big);
    cmx_arena_free(arena);
    return 0;
}
