/* usage_estimate.c — counting what a stream produced; see usage_estimate.h.
 * A chunk is a few hundred bytes: a chat chunk is searched once for both
 * field names (every chunk of every governed stream is, so this is
 * tuned), an event's fields with a memmem each; then a walk to the
 * string's end. */
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

/* "content" and "arguments" (quotes included) found in one pass: they end
 * in t" and s", pairs few elsewhere in a chunk, so the chunk is searched for
 * those pairs sixteen bytes at a time (vector compares, where the compiler has
 * them), and each place it occurs is checked for either name.  Every place
 * either name occurs is visited, in order; each name's matches are then
 * taken as separate memmem searches would (from where its previous value's
 * search went on), so the count is the same. */
static const char content_name[] = "\"content\"";
static const char arguments_name[] = "\"arguments\"";
#define CONTENT_LEN (sizeof content_name - 1)
#define ARGUMENTS_LEN (sizeof arguments_name - 1)

typedef struct chunk_scan {
    const char *json, *end;
    const char *next[2]; /* where each name's search goes on: content, arguments */
    size_t total;
} chunk_scan;

/* json[q] is a '"' after a 't' or an 's': the end of either name? */
static void at_pair(chunk_scan *cs, size_t q)
{
    const char *json = cs->json;
    if (q + 1 >= CONTENT_LEN &&
        memcmp(json + q + 1 - CONTENT_LEN, content_name, CONTENT_LEN) == 0) {
        if (json + q + 1 - CONTENT_LEN >= cs->next[0])
            cs->total += value_chars(json + q + 1, cs->end, &cs->next[0]);
    } else if (q + 1 >= ARGUMENTS_LEN &&
               memcmp(json + q + 1 - ARGUMENTS_LEN, arguments_name, ARGUMENTS_LEN) == 0) {
        if (json + q + 1 - ARGUMENTS_LEN >= cs->next[1])
            cs->total += value_chars(json + q + 1, cs->end, &cs->next[1]);
    }
}

#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PAIR_BLOCKS 1
typedef unsigned char bytes16 __attribute__((vector_size(16)));

/* The quotes at [at+1, at+17) that follow a 't' or an 's': two words of 0xff/0x00
 * bytes, byte k of the block in bits 8k..8k+7. */
static void pairs_in_block(const char *p, uint64_t mask[2])
{
    bytes16 t, q;
    memcpy(&t, p, 16);
    memcpy(&q, p + 1, 16);
    bytes16 hit = (bytes16)(((t == (unsigned char)'t') | (t == (unsigned char)'s')) &
                            (q == (unsigned char)'"'));
    memcpy(mask, &hit, 16);
}
#endif

size_t cmx_chunk_text_chars(const char *json, size_t len)
{
    chunk_scan cs = {json, json + len, {json, json}, 0};
    size_t at = 0; /* the first byte of the next pair to look at */
#ifdef PAIR_BLOCKS
    for (; at + 17 <= len; at += 16) {
        uint64_t mask[2];
        pairs_in_block(json + at, mask);
        for (int w = 0; w < 2; w++)
            for (uint64_t m = mask[w]; m; m &= m - 1)
                at_pair(&cs, at + 8 * (size_t)w + (size_t)__builtin_ctzll(m) / 8 + 1);
    }
#endif
    for (; at + 1 < len; at++)
        if ((json[at] == 't' || json[at] == 's') && json[at + 1] == '"')
            at_pair(&cs, at + 1);
    return cs.total;
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
