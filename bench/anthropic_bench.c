/* anthropic_bench.c — what the Anthropic translation costs per request.
 *
 * Not a test: it prints nanoseconds per call for each direction of the
 * translation on a typical ~1 KB chat request (system prompt, a few turns,
 * a tool, sampling parameters), a whole Messages response, and one streamed
 * text delta, next to a plain jansson parse + serialise of the same request
 * for scale.  Build and run:
 *
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-rel --target anthropic_bench && build-rel/anthropic_bench
 *
 * Each figure is the best of several rounds, to keep other load out of it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "providers/anthropic.h"
#include "core/str.h"

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

static const char response_body[] =
    "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"Berlin is the capital of Germany. It is known for its history, the Brandenburg Gate "
    "and a lively arts scene.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":112,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":64,\"output_tokens\":27}}";

static const char start_event[] =
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":112,"
    "\"output_tokens\":1}}}";
static const char delta_event[] = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                                  "{\"type\":\"text_delta\",\"text\":\" Berlin\"}}";

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
        for (int r = 0; r < ROUNDS; r++) {                                                         \
            double t0 = now_ns();                                                                  \
            for (long it = 0; it < (iters); it++) {                                                \
                body;                                                                              \
            }                                                                                      \
            double per = (now_ns() - t0) / (double)(iters);                                        \
            if (per < best)                                                                        \
                best = per;                                                                        \
        }                                                                                          \
        printf("%-52s %8.0f ns\n", label, best);                                                   \
    } while (0)

int main(void)
{
    const long n = 50000;
    cmx_anthropic_options opt = {.provider_name = "claude", .model = "claude-sonnet-4-5"};
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    if (cmx_anthropic_translate_request(chat_body, sizeof chat_body - 1, &opt, &out, &err) !=
        CMX_OK) {
        fprintf(stderr, "bench body rejected: %s\n", err.message);
        return 1;
    }
    printf("chat request %zu bytes -> Messages request %zu bytes; response %zu bytes\n\n",
           sizeof chat_body - 1, out.len, sizeof response_body - 1);

    BENCH("request: OpenAI chat -> Messages (1 KB)", n, {
        cmx_buf_reset(&out);
        sink += cmx_anthropic_translate_request(chat_body, sizeof chat_body - 1, &opt, &out, &err);
    });
    BENCH("  for scale: jansson parse + dump of the same body", n, {
        json_t *j = json_loadb(chat_body, sizeof chat_body - 1, 0, NULL);
        char *s = json_dumps(j, JSON_COMPACT);
        sink += (long)strlen(s);
        free(s);
        json_decref(j);
    });
    BENCH("response: Messages -> chat.completion", n, {
        cmx_buf_reset(&out);
        cmx_usage u;
        sink += cmx_anthropic_translate_response(response_body, sizeof response_body - 1,
                                                 1700000000, &out, &u, &err);
    });
    cmx_anthropic_stream st;
    cmx_anthropic_stream_init(&st, 0, 1700000000, count_chunk, NULL);
    cmx_anthropic_stream_event(&st, CMX_LIT("message_start"), start_event, sizeof start_event - 1,
                               &err);
    BENCH("stream: one text_delta event -> one chunk", n * 4, {
        sink += cmx_anthropic_stream_event(&st, CMX_LIT("content_block_delta"), delta_event,
                                           sizeof delta_event - 1, &err);
    });
    cmx_anthropic_stream_free(&st);
    cmx_buf_free(&out);
    return (int)(sink & 0);
}
