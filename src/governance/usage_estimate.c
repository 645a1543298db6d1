/* usage_estimate.c — counting what a stream produced; see usage_estimate.h.
 * A chunk is a few hundred bytes: a chat chunk is searched once for both
 * field names (every chunk of every governed stream is, so this is
 * tuned), an event's fields with a memmem each; then a walk to the
 * string's end. */
#include "governance/usage_estimate.h"

#include <pthread.h>
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

/* After a field name ending just before p: the characters of its string
 * value, if it has one; *next is where the search for the name goes on. */
static size_t value_chars(const char *p, const char *end, const char **next)
{
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    *next = p;
    return p < end && *p == '"' ? string_chars(p + 1, end) : 0;
}

size_t cmx_field_text_chars(const char *json, size_t len, const char *name, size_t name_len)
{
    size_t total = 0;
    const char *p = json, *end = json + len;
    while ((p = memmem(p, (size_t)(end - p), name, name_len)))
        total += value_chars(p + name_len, end, &p);
    return total;
}

/* "content" and "arguments" (quotes included) found in one pass, by
 * Horspool's method for a set of patterns: a window of WINDOW bytes is
 * compared with "content" and with the last WINDOW bytes of "arguments"
 * (its first two checked on a hit), then moved by how far its last byte
 * allows.  Every place either name occurs is visited, in order; each
 * name's matches are then taken as separate memmem searches would (from
 * where its previous value's search went on), so the count is the same. */
#define WINDOW 9
static const char content_name[] = "\"content\"";
static const char arguments_name[] = "\"arguments\"";

/* shift[c]: how far the window may move when its last byte is c. */
static unsigned char set_shift[256];
static void set_shift_init(void)
{
    const char *keys[2] = {content_name, arguments_name + sizeof arguments_name - 1 - WINDOW};
    for (int c = 0; c < 256; c++)
        set_shift[c] = WINDOW;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < WINDOW - 1; i++) {
            unsigned char c = (unsigned char)keys[k][i];
            if (set_shift[c] > WINDOW - 1 - i)
                set_shift[c] = (unsigned char)(WINDOW - 1 - i);
        }
}

size_t cmx_chunk_text_chars(const char *json, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_shift_init);
    const char *end = json + len;
    const char *next[2] = {json, json}; /* content, arguments */
    const char *arguments_tail = arguments_name + sizeof arguments_name - 1 - WINDOW;
    size_t total = 0;
    for (size_t at = WINDOW - 1; at < len; at += set_shift[(unsigned char)json[at]]) {
        if (json[at] != '"')
            continue;
        const char *w = json + at + 1 - WINDOW;
        if (memcmp(w, content_name, WINDOW) == 0) {
            if (w >= next[0])
                total += value_chars(w + WINDOW, end, &next[0]);
        } else if (at >= WINDOW + 1 && memcmp(w, arguments_tail, WINDOW) == 0 &&
                   memcmp(w - 2, arguments_name, 2) == 0) { /* at: w - 2 is in the chunk */
            if (w - 2 >= next[1])
                total += value_chars(w + WINDOW, end, &next[1]);
        }
    }
    return total;
}

size_t cmx_event_delta_chars(const char *type, const char *json, size_t len)
{
    size_t n = strlen(type);
    if (strcmp(type, "content_block_delta") == 0) /* Messages: delta is an object */
        return cmx_field_text_chars(json, len, "\"text\"", 6) +
               cmx_field_text_chars(json, len, "\"partial_json\"", 14) +
               cmx_field_text_chars(json, len, "\"thinking\"", 10);
    if (n > 6 && memcmp(type + n - 6, ".delta", 6) == 0) /* Responses: delta is a string */
        return cmx_field_text_chars(json, len, "\"delta\"", 7);
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
