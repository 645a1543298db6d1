/* usage_estimate.c — counting what a stream produced; see usage_estimate.h.
 * A chunk is a few hundred bytes; a memmem for each field name and a walk
 * to the string's end is all it costs. */
#include "governance/usage_estimate.h"

#include <string.h>

#define CHARS_PER_TOKEN 4

/* Characters of the JSON string starting after its opening quote at s. */
static size_t string_chars(const char *s, const char *end)
{
    size_t n = 0;
    while (s < end && *s != '"') {
        if (*s == '\\' && s + 1 < end) {
            s += s[1] == 'u' ? 6 : 2;
        } else {
            /* UTF-8 continuation bytes are not characters of their own. */
            s++;
            while (s < end && ((unsigned char)*s & 0xC0) == 0x80)
                s++;
        }
        n++;
    }
    return n;
}

static size_t field_chars(const char *json, size_t len, const char *name, size_t name_len)
{
    size_t total = 0;
    const char *p = json, *end = json + len;
    while ((p = memmem(p, (size_t)(end - p), name, name_len))) {
        p += name_len;
        while (p < end && (*p == ' ' || *p == ':'))
            p++;
        if (p < end && *p == '"')
            total += string_chars(p + 1, end);
    }
    return total;
}

size_t cmx_chunk_text_chars(const char *json, size_t len)
{
    return field_chars(json, len, "\"content\"", 9) + field_chars(json, len, "\"arguments\"", 11);
}

size_t cmx_event_delta_chars(const char *type, const char *json, size_t len)
{
    size_t n = strlen(type);
    if (strcmp(type, "content_block_delta") == 0) /* Messages: delta is an object */
        return field_chars(json, len, "\"text\"", 6) +
               field_chars(json, len, "\"partial_json\"", 14) +
               field_chars(json, len, "\"thinking\"", 10);
    if (n > 6 && memcmp(type + n - 6, ".delta", 6) == 0) /* Responses: delta is a string */
        return field_chars(json, len, "\"delta\"", 7);
    return 0;
}

int cmx_usage_estimate(cmx_usage *u, size_t request_bytes, uint64_t produced_chars)
{
    int estimated = 0;
    if (u->prompt_tokens < 0) {
        u->prompt_tokens = (int64_t)(request_bytes / CHARS_PER_TOKEN + 1);
        estimated = 1;
    }
    if (u->completion_tokens < 0) {
        u->completion_tokens = (int64_t)((produced_chars + CHARS_PER_TOKEN - 1) / CHARS_PER_TOKEN);
        estimated = 1;
    }
    if (estimated)
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    return estimated;
}
