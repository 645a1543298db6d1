/* test_eventstream.c — the event-stream decoder against aws-sdk-go's vectors
 * (../shared/testdata/eventstream): every positive message decodes to what
 * its JSON says, whole, byte by byte and split at every offset; every
 * negative one is refused with the error its file names.  Then what the
 * vectors do not reach: cut messages waiting for their rest, garbage, each
 * length and header check, the callback stopping the stream, and the encoder
 * writing the vectors back byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <strings.h>

#include "helpers/test_files.h"
#include "providers/eventstream.h"

/* ---- files ---- */

static char *data_path(const char *sub, const char *name)
{
    return cmx_test_shared_path("eventstream/%s/%s", sub, name);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    return (unsigned char *)cmx_test_read_file_or_fail(path, len);
}

/* Sorted file names in encoded/<kind> (NULL-terminated; cmx_test_names_free). */
static char **list_cases(const char *kind)
{
    char *dir = cmx_test_shared_path("eventstream/encoded/%s", kind);
    char **names = cmx_test_list_dir(dir, 0);
    free(dir);
    return names;
}

/* ---- base64, for the JSON ---- */

static size_t base64_decode(const char *in, unsigned char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        const char *pos = strchr(alphabet, *in);
        assert_non_null(pos);
        acc = acc << 6 | (uint32_t)(pos - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

/* ---- a message as text, so decodings compare with one string compare ---- */

static void describe_message(cmx_buf *out, const cmx_eventstream_message *m)
{
    cmx_buf_printf(out, "len=%u hlen=%u pcrc=%08x mcrc=%08x\n", m->total_length, m->headers_length,
                   m->prelude_crc, m->message_crc);
    for (size_t i = 0; i < m->n_headers; i++) {
        const cmx_eventstream_header *h = &m->headers[i];
        cmx_buf_printf(out, "  [%.*s] type %d = ", (int)h->name_len, h->name, (int)h->type);
        switch (h->type) {
        case CMX_EVENTSTREAM_BOOL_TRUE:
        case CMX_EVENTSTREAM_BOOL_FALSE:
            cmx_buf_printf(out, "%s", h->integer ? "true" : "false");
            break;
        case CMX_EVENTSTREAM_BYTE:
        case CMX_EVENTSTREAM_INT16:
        case CMX_EVENTSTREAM_INT32:
        case CMX_EVENTSTREAM_INT64:
        case CMX_EVENTSTREAM_TIMESTAMP: cmx_buf_printf(out, "%lld", (long long)h->integer); break;
        case CMX_EVENTSTREAM_BYTES:
        case CMX_EVENTSTREAM_STRING:
        case CMX_EVENTSTREAM_UUID:
            for (size_t k = 0; k < h->bytes_len; k++)
                cmx_buf_printf(out, "%02x", (unsigned char)h->bytes[k]);
            break;
        }
        cmx_buf_append(out, "\n", 1);
    }
    cmx_buf_append_str(out, "  payload ");
    for (size_t k = 0; k < m->payload_len; k++)
        cmx_buf_printf(out, "%02x", (unsigned char)m->payload[k]);
    cmx_buf_append(out, "\n", 1);
}

/* The same text from a decoded/positive JSON file. */
static void describe_json(cmx_buf *out, const char *file)
{
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", file, jerr.text);
    /* The CRCs are written as signed 32-bit numbers. */
    cmx_buf_printf(out, "len=%u hlen=%u pcrc=%08x mcrc=%08x\n",
                   (unsigned)json_integer_value(json_object_get(root, "total_length")),
                   (unsigned)json_integer_value(json_object_get(root, "headers_length")),
                   (uint32_t)json_integer_value(json_object_get(root, "prelude_crc")),
                   (uint32_t)json_integer_value(json_object_get(root, "message_crc")));
    size_t i;
    json_t *h;
    unsigned char bytes[1024];
    json_array_foreach(json_object_get(root, "headers"), i, h)
    {
        int type = (int)json_integer_value(json_object_get(h, "type"));
        json_t *v = json_object_get(h, "value");
        cmx_buf_printf(out, "  [%s] type %d = ", json_string_value(json_object_get(h, "name")),
                       type);
        if (type == 0 || type == 1) {
            cmx_buf_printf(out, "%s", json_is_true(v) ? "true" : "false");
        } else if (type == 6 || type == 7 || type == 9) {
            size_t n = base64_decode(json_string_value(v), bytes);
            for (size_t k = 0; k < n; k++)
                cmx_buf_printf(out, "%02x", bytes[k]);
        } else {
            cmx_buf_printf(out, "%lld", (long long)json_integer_value(v));
        }
        cmx_buf_append(out, "\n", 1);
    }
    cmx_buf_append_str(out, "  payload ");
    size_t n = base64_decode(json_string_value(json_object_get(root, "payload")), bytes);
    for (size_t k = 0; k < n; k++)
        cmx_buf_printf(out, "%02x", bytes[k]);
    cmx_buf_append(out, "\n", 1);
    json_decref(root);
}

/* ---- feeding ---- */

typedef struct collector {
    cmx_buf text; /* describe_message of each message */
    int count;
    int stop_at; /* stop with CMX_ERR_RATE_LIMITED at this message (0: never) */
} collector;

static cmx_err collect(void *ctx, const cmx_eventstream_message *m, cmx_error *err)
{
    collector *c = ctx;
    describe_message(&c->text, m);
    c->count++;
    if (c->stop_at && c->count == c->stop_at)
        return cmx_error_set(err, CMX_ERR_RATE_LIMITED, "throttlingException from upstream");
    return CMX_OK;
}

typedef struct outcome {
    cmx_err rc;
    cmx_error err;
    char *text; /* caller frees */
    int count;
    int partial;
} outcome;

/* Feeds bytes in pieces ending at the given cuts (ascending), each piece a
 * heap copy so ASan sees any read past it; stops at the first error. */
static outcome feed_cut(const unsigned char *bytes, size_t len, const size_t *cuts, size_t n_cuts)
{
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    outcome o = {CMX_OK, {0}, NULL, 0, 0};
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts && o.rc == CMX_OK; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        unsigned char *piece = malloc(to - at + 1);
        memcpy(piece, bytes + at, to - at);
        o.rc = cmx_eventstream_feed(&d, piece, to - at, &o.err);
        free(piece);
        at = to;
    }
    o.partial = cmx_eventstream_has_partial(&d);
    cmx_eventstream_decoder_free(&d);
    cmx_buf_append(&c.text, "", 0);
    o.text = c.text.data;
    o.count = c.count;
    return o;
}

static outcome feed_whole(const unsigned char *bytes, size_t len)
{
    return feed_cut(bytes, len, NULL, 0);
}

static outcome feed_byte_by_byte(const unsigned char *bytes, size_t len)
{
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    outcome o = feed_cut(bytes, len, cuts, len);
    free(cuts);
    return o;
}

/* ---- the vectors ---- */

static void decodes_every_positive_vector_as_its_json_says(void **state)
{
    (void)state;
    char **names = list_cases("positive");
    int n = 0, passed = 0;
    for (size_t i = 0; names[i]; i++, n++) {
        char *enc = data_path("encoded/positive", names[i]);
        char *dec = data_path("decoded/positive", names[i]);
        size_t len;
        unsigned char *bytes = read_file(enc, &len);
        cmx_buf want = CMX_BUF_INIT;
        describe_json(&want, dec);
        outcome o = feed_whole(bytes, len);
        int ok = o.rc == CMX_OK && o.count == 1 && !o.partial && strcmp(o.text, want.data) == 0;
        if (!ok)
            printf("  MISMATCH %s: %s\n  --- expected ---\n%s  --- got ---\n%s", names[i],
                   o.rc == CMX_OK ? "" : o.err.message, want.data, o.text);
        passed += ok;
        free(o.text);
        cmx_buf_free(&want);
        free(bytes);
        free(enc);
        free(dec);
    }
    cmx_test_names_free(names);
    printf("eventstream positive vectors: %d/%d decoded as described\n", passed, n);
    assert_int_equal(n, 5);
    assert_int_equal(passed, n);
}

static void gives_the_same_messages_fed_byte_by_byte_and_split_anywhere(void **state)
{
    (void)state;
    /* Each vector alone, and all of them as one stream. */
    char **names = list_cases("positive");
    cmx_buf all = CMX_BUF_INIT;
    int n = 0;
    for (size_t i = 0; names[i]; i++, n++) {
        char *enc = data_path("encoded/positive", names[i]);
        size_t len;
        unsigned char *bytes = read_file(enc, &len);
        cmx_buf_append(&all, bytes, len);
        outcome whole = feed_whole(bytes, len);
        outcome bytewise = feed_byte_by_byte(bytes, len);
        assert_int_equal(bytewise.rc, CMX_OK);
        assert_string_equal(bytewise.text, whole.text);
        for (size_t cut = 0; cut <= len; cut++) {
            outcome split = feed_cut(bytes, len, &cut, 1);
            assert_int_equal(split.rc, CMX_OK);
            assert_int_equal(split.count, 1);
            assert_string_equal(split.text, whole.text);
            free(split.text);
        }
        free(whole.text);
        free(bytewise.text);
        free(bytes);
        free(enc);
    }
    cmx_test_names_free(names);

    const unsigned char *s = (const unsigned char *)all.data;
    outcome whole = feed_whole(s, all.len);
    assert_int_equal(whole.count, n);
    outcome bytewise = feed_byte_by_byte(s, all.len);
    assert_string_equal(bytewise.text, whole.text);
    for (size_t a = 0; a <= all.len; a += 7) {
        for (size_t b = a; b <= all.len; b += 5) {
            size_t cuts[2] = {a, b};
            outcome split = feed_cut(s, all.len, cuts, 2);
            assert_int_equal(split.rc, CMX_OK);
            assert_false(split.partial);
            assert_string_equal(split.text, whole.text);
            free(split.text);
        }
    }
    free(whole.text);
    free(bytewise.text);
    cmx_buf_free(&all);
}

static int contains_ignoring_case(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

static void rejects_every_negative_vector_with_its_error(void **state)
{
    (void)state;
    char **names = list_cases("negative");
    int n = 0, passed = 0;
    for (size_t i = 0; names[i]; i++, n++) {
        char *enc = data_path("encoded/negative", names[i]);
        char *dec = data_path("decoded/negative", names[i]);
        size_t len, want_len;
        unsigned char *bytes = read_file(enc, &len);
        char *want = (char *)read_file(dec, &want_len);
        outcome whole = feed_whole(bytes, len);
        outcome bytewise = feed_byte_by_byte(bytes, len);
        printf("  %-22s expected \"%s\"\n  %-22s got      \"%s\"\n", names[i], want, "",
               whole.err.message);
        int ok = whole.rc == CMX_ERR_UPSTREAM_PROTOCOL && whole.count == 0 &&
                 contains_ignoring_case(whole.err.message, want) &&
                 bytewise.rc == CMX_ERR_UPSTREAM_PROTOCOL && bytewise.count == 0 &&
                 strcmp(bytewise.err.message, whole.err.message) == 0;
        passed += ok;
        free(whole.text);
        free(bytewise.text);
        free(want);
        free(bytes);
        free(enc);
        free(dec);
    }
    cmx_test_names_free(names);
    printf("eventstream negative vectors: %d/%d rejected with the expected error\n", passed, n);
    assert_int_equal(n, 4);
    assert_int_equal(passed, n);
}

/* ---- beyond the vectors ---- */

static unsigned char *vector(const char *name, size_t *len)
{
    char *p = data_path("encoded/positive", name);
    unsigned char *b = read_file(p, len);
    free(p);
    return b;
}

static void waits_for_the_rest_of_a_cut_message(void **state)
{
    (void)state;
    size_t len;
    unsigned char *bytes = vector("all_headers", &len);
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    cmx_error err = {0};
    assert_false(cmx_eventstream_has_partial(&d));
    /* Under a prelude, then under the whole message: incomplete, no error. */
    assert_int_equal(cmx_eventstream_feed(&d, bytes, 5, &err), CMX_OK);
    assert_true(cmx_eventstream_has_partial(&d));
    assert_int_equal(cmx_eventstream_feed(&d, bytes + 5, len - 6, &err), CMX_OK);
    assert_true(cmx_eventstream_has_partial(&d));
    assert_int_equal(c.count, 0);
    assert_int_equal(cmx_eventstream_feed(&d, bytes + len - 1, 1, &err), CMX_OK);
    assert_int_equal(c.count, 1);
    assert_false(cmx_eventstream_has_partial(&d));
    /* An empty feed changes nothing. */
    assert_int_equal(cmx_eventstream_feed(&d, bytes, 0, &err), CMX_OK);
    assert_int_equal(c.count, 1);
    assert_int_equal(d.messages, 1);
    assert_int_equal(d.consumed, len);
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&c.text);
    free(bytes);
}

static void rejects_garbage_and_stays_stopped(void **state)
{
    (void)state;
    const char *html = "HTTP/1.1 502 Bad Gateway\r\n\r\n<html>bad gateway</html>";
    outcome o = feed_whole((const unsigned char *)html, strlen(html));
    printf("  html: %s\n", o.err.message);
    assert_int_equal(o.rc, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_true(contains_ignoring_case(o.err.message, "prelude checksum mismatch"));
    assert_non_null(strstr(o.err.message, "message 1 at byte 0"));
    free(o.text);

    /* Pseudo-random bytes, deterministic. */
    unsigned char noise[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (unsigned char)x;
    }
    o = feed_byte_by_byte(noise, sizeof noise);
    assert_int_equal(o.rc, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(o.count, 0);
    free(o.text);

    /* A good message after garbage is not decoded: there is no resync. */
    size_t len;
    unsigned char *good = vector("payload_no_headers", &len);
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_feed(&d, good, len, &err), CMX_OK);
    assert_int_equal(cmx_eventstream_feed(&d, noise, 12, &err), CMX_ERR_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "message 2 at byte 29"));
    assert_int_equal(cmx_eventstream_feed(&d, good, len, &err), CMX_ERR_UPSTREAM_PROTOCOL);
    assert_non_null(strstr(err.message, "already stopped"));
    assert_int_equal(c.count, 1);
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&c.text);
    free(good);
}

/* A 12-byte prelude with a correct CRC. */
static void make_prelude(unsigned char *p, uint32_t total, uint32_t headers_len)
{
    uint32_t v[2] = {total, headers_len};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            p[4 * k + i] = (unsigned char)(v[k] >> (24 - 8 * i));
    uint32_t crc = cmx_eventstream_crc32(0, p, 8);
    for (int i = 0; i < 4; i++)
        p[8 + i] = (unsigned char)(crc >> (24 - 8 * i));
}

static void expect_prelude_refused(uint32_t total, uint32_t headers_len, size_t max,
                                   const char *needle)
{
    unsigned char p[12];
    make_prelude(p, total, headers_len);
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    if (max)
        d.max_message_bytes = max;
    cmx_error err = {0};
    /* Refused from the prelude alone, before the rest arrives. */
    assert_int_equal(cmx_eventstream_feed(&d, p, sizeof p, &err), CMX_ERR_UPSTREAM_PROTOCOL);
    printf("  prelude %u/%u: %s\n", total, headers_len, err.message);
    assert_non_null(strstr(err.message, needle));
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&c.text);
}

static void refuses_lengths_out_of_bounds_from_the_prelude(void **state)
{
    (void)state;
    expect_prelude_refused(15, 0, 0, "total length 15 is under the 16-byte minimum");
    expect_prelude_refused(0, 0, 0, "total length 0 is under the 16-byte minimum");
    expect_prelude_refused(16 * 1024 * 1024 + 1, 0, 0, "over the 16777216-byte limit");
    expect_prelude_refused(0xffffffffu, 0, 0, "over the 16777216-byte limit");
    expect_prelude_refused(205, 0, 204, "total length 205 is over the 204-byte limit");
    expect_prelude_refused(16, 1, 0, "headers length 1 does not fit in a 16-byte message");
    expect_prelude_refused(300000, 140000, 0, "headers length 140000 is over the 131072-byte");

    /* At the limit is fine. */
    size_t len;
    unsigned char *bytes = vector("all_headers", &len);
    collector c = {CMX_BUF_INIT, 0, 0};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    d.max_message_bytes = len;
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_feed(&d, bytes, len, &err), CMX_OK);
    assert_int_equal(c.count, 1);
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&c.text);
    free(bytes);
}

/* A message with the given raw headers section and correct CRCs, so only the
 * header checks can refuse it. */
static size_t make_message(unsigned char *out, const void *headers, size_t headers_len)
{
    uint32_t total = (uint32_t)(16 + headers_len);
    make_prelude(out, total, (uint32_t)headers_len);
    memcpy(out + 12, headers, headers_len);
    uint32_t crc = cmx_eventstream_crc32(0, out, total - 4);
    for (int i = 0; i < 4; i++)
        out[total - 4 + i] = (unsigned char)(crc >> (24 - 8 * i));
    return total;
}

static void expect_headers_refused(const char *headers, size_t len, const char *needle)
{
    unsigned char msg[256];
    size_t total = make_message(msg, headers, len);
    outcome o = feed_whole(msg, total);
    printf("  headers: %s\n", o.err.message);
    assert_int_equal(o.rc, CMX_ERR_UPSTREAM_PROTOCOL);
    assert_int_equal(o.count, 0);
    assert_non_null(strstr(o.err.message, needle));
    free(o.text);
}

static void refuses_malformed_headers(void **state)
{
    (void)state;
    expect_headers_refused("\x00", 1, "header 1 has an empty name");
    expect_headers_refused("\x05"
                           "ab",
                           3, "header 1: name of 5 bytes and type run past");
    expect_headers_refused("\x02"
                           "ab",
                           3, "header 1: name of 2 bytes and type run past");
    expect_headers_refused("\x02"
                           "ab\x0a",
                           4, "header 'ab' has unknown value type 10");
    expect_headers_refused("\x02"
                           "ab\xff",
                           4, "unknown value type 255");
    expect_headers_refused("\x02"
                           "ab\x07\x00",
                           5, "header 'ab': value length runs past");
    expect_headers_refused("\x02"
                           "ab\x07\x00\x05"
                           "xyz",
                           9, "header 'ab': 5-byte value of type 7 runs past");
    expect_headers_refused("\x02"
                           "ab\x04\x00\x00",
                           6, "4-byte value of type 4 runs past");
    expect_headers_refused("\x02"
                           "ab\x09"
                           "0123456789",
                           14, "16-byte value of type 9");
    /* A good header, then a broken second one. */
    expect_headers_refused("\x01"
                           "a\x00\x0a"
                           "x",
                           5, "header 2: name of 10 bytes");
    /* Non-printable names are shown safely. */
    expect_headers_refused("\x02\x01\x7f\x0c", 4,
                           "header '?"
                           "?' has unknown value type 12");
}

static void lets_the_callback_stop_the_stream_with_its_own_error(void **state)
{
    (void)state;
    size_t len;
    unsigned char *bytes = vector("int32_header", &len);
    unsigned char two[256];
    memcpy(two, bytes, len);
    memcpy(two + len, bytes, len);
    collector c = {CMX_BUF_INIT, 0, 1};
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, collect, &c);
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_feed(&d, two, 2 * len, &err), CMX_ERR_RATE_LIMITED);
    assert_int_equal(err.kind, CMX_ERR_RATE_LIMITED);
    assert_string_equal(err.message, "throttlingException from upstream");
    assert_int_equal(c.count, 1); /* the second message is not delivered */
    assert_int_equal(cmx_eventstream_feed(&d, bytes, len, &err), CMX_ERR_RATE_LIMITED);
    assert_int_equal(c.count, 1);
    cmx_eventstream_decoder_free(&d);
    cmx_buf_free(&c.text);
    free(bytes);
}

static cmx_err find_event_type(void *ctx, const cmx_eventstream_message *m, cmx_error *err)
{
    (void)err;
    const cmx_eventstream_header *h = cmx_eventstream_find_header(m, "event-type");
    *(int64_t *)ctx = h ? h->integer : -1;
    assert_null(cmx_eventstream_find_header(m, "event-typ"));
    return CMX_OK;
}

static void finds_a_header_by_name(void **state)
{
    (void)state;
    size_t len;
    unsigned char *bytes = vector("all_headers", &len);
    int64_t found = 0;
    cmx_eventstream_decoder d;
    cmx_eventstream_decoder_init(&d, find_event_type, &found);
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_feed(&d, bytes, len, &err), CMX_OK);
    assert_int_equal(found, 40972);
    cmx_eventstream_decoder_free(&d);
    free(bytes);
}

static void computes_the_standard_crc32(void **state)
{
    (void)state;
    assert_int_equal(cmx_eventstream_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(cmx_eventstream_crc32(0, "", 0), 0);
    /* Continuing a CRC equals computing it at once. */
    uint32_t part = cmx_eventstream_crc32(0, "1234", 4);
    assert_int_equal(cmx_eventstream_crc32(part, "56789", 5), 0xCBF43926u);
    /* Every length and alignment around the eight-byte steps, against
     * the bit-at-a-time definition. */
    unsigned char buf[80];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; off + len <= sizeof buf; len++) {
            uint32_t bits = 0xFFFFFFFFu;
            for (size_t i = 0; i < len; i++) {
                bits ^= buf[off + i];
                for (int k = 0; k < 8; k++)
                    bits = bits & 1 ? 0xEDB88320u ^ (bits >> 1) : bits >> 1;
            }
            assert_int_equal(cmx_eventstream_crc32(0, buf + off, len), ~bits);
            /* split anywhere, continued */
            uint32_t head = cmx_eventstream_crc32(0, buf + off, len / 3);
            assert_int_equal(cmx_eventstream_crc32(head, buf + off + len / 3, len - len / 3),
                             ~bits);
        }
    }
}

/* Headers rebuilt from a decoded message, to feed the encoder. */
typedef struct reencoder {
    cmx_buf out;
    cmx_err rc;
} reencoder;

static cmx_err reencode(void *ctx, const cmx_eventstream_message *m, cmx_error *err)
{
    reencoder *r = ctx;
    r->rc =
        cmx_eventstream_encode(&r->out, m->headers, m->n_headers, m->payload, m->payload_len, err);
    return CMX_OK;
}

static void encodes_every_positive_vector_back_byte_for_byte(void **state)
{
    (void)state;
    char **names = list_cases("positive");
    for (size_t i = 0; names[i]; i++) {
        size_t len;
        unsigned char *bytes = vector(names[i], &len);
        reencoder r = {CMX_BUF_INIT, CMX_ERR_INTERNAL};
        cmx_eventstream_decoder d;
        cmx_eventstream_decoder_init(&d, reencode, &r);
        cmx_error err = {0};
        assert_int_equal(cmx_eventstream_feed(&d, bytes, len, &err), CMX_OK);
        assert_int_equal(r.rc, CMX_OK);
        assert_int_equal(r.out.len, len);
        assert_memory_equal(r.out.data, bytes, len);
        cmx_eventstream_decoder_free(&d);
        cmx_buf_free(&r.out);
        free(bytes);
    }
    cmx_test_names_free(names);
}

static void encodes_every_header_type_and_reads_it_back(void **state)
{
    (void)state;
    static const char uuid[16] = "0123456789abcdef";
    cmx_eventstream_header h[] = {
        {":event-type", 11, CMX_EVENTSTREAM_STRING, 0, "contentBlockDelta", 17},
        {"t", 1, CMX_EVENTSTREAM_BOOL_TRUE, 1, NULL, 0},
        {"f", 1, CMX_EVENTSTREAM_BOOL_FALSE, 0, NULL, 0},
        {"b", 1, CMX_EVENTSTREAM_BYTE, -128, NULL, 0},
        {"s", 1, CMX_EVENTSTREAM_INT16, -32768, NULL, 0},
        {"i", 1, CMX_EVENTSTREAM_INT32, -2147483647 - 1, NULL, 0},
        {"l", 1, CMX_EVENTSTREAM_INT64, INT64_MIN, NULL, 0},
        {"ts", 2, CMX_EVENTSTREAM_TIMESTAMP, 1700000000123, NULL, 0},
        {"u", 1, CMX_EVENTSTREAM_UUID, 0, uuid, 16},
        {"e", 1, CMX_EVENTSTREAM_BYTES, 0, NULL, 0},
    };
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_encode(&out, h, 10, "{}", 2, &err), CMX_OK);
    outcome o = feed_whole((const unsigned char *)out.data, out.len);
    assert_int_equal(o.rc, CMX_OK);
    assert_non_null(strstr(o.text, "[:event-type] type 7 = 636f6e74656e74426c6f636b44656c7461\n"));
    assert_non_null(strstr(o.text, "[t] type 0 = true\n  [f] type 1 = false\n"));
    assert_non_null(strstr(o.text, "[b] type 2 = -128\n  [s] type 3 = -32768\n"));
    assert_non_null(strstr(o.text, "[i] type 4 = -2147483648\n"));
    assert_non_null(strstr(o.text, "[l] type 5 = -9223372036854775808\n"));
    assert_non_null(strstr(o.text, "[ts] type 8 = 1700000000123\n"));
    assert_non_null(strstr(o.text, "[u] type 9 = 30313233343536373839616263646566\n"));
    assert_non_null(strstr(o.text, "[e] type 6 = \n  payload 7b7d\n"));
    free(o.text);
    cmx_buf_free(&out);
}

static void refuses_to_encode_what_cannot_be_sent(void **state)
{
    (void)state;
    char big[300];
    memset(big, 'n', sizeof big);
    cmx_eventstream_header h = {big, 256, CMX_EVENTSTREAM_BOOL_TRUE, 1, NULL, 0};
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "name must be 1 to 255 bytes"));
    h.name_len = 0;
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_ERR_BAD_REQUEST);
    h.name_len = 1;
    h.type = CMX_EVENTSTREAM_UUID;
    h.bytes = big;
    h.bytes_len = 15;
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "a uuid is 16 bytes, not 15"));
    char *long_value = calloc(1, 65536);
    h.type = CMX_EVENTSTREAM_STRING;
    h.bytes = long_value;
    h.bytes_len = 65536;
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "over 65535"));
    h.bytes_len = 65535; /* the most a value may hold */
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_OK);
    assert_int_equal(out.len, 16 + 1 + 1 + 1 + 2 + 65535);
    h.type = (cmx_eventstream_type)10;
    assert_int_equal(cmx_eventstream_encode(&out, &h, 1, NULL, 0, &err), CMX_ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "unknown type 10"));
    assert_int_equal(out.len, 16 + 1 + 1 + 1 + 2 + 65535); /* refusals appended nothing */
    free(long_value);
    cmx_buf_free(&out);
}

/* A Bedrock ConverseStream chunk as @smithy/eventstream-codec (the AWS
 * JavaScript SDK's codec) encodes it, computed once offline: an independent
 * encoder agreeing with both our decoder and our encoder. */
static const char bedrock_chunk_hex[] =
    "0000009f00000057c37babff0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44"
    "656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d"
    "6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a"
    "302c2264656c7461223a7b2274657874223a224869227d2c2270223a2261626364227df2ace5ff";

static void agrees_with_the_js_sdk_codec_on_a_bedrock_chunk(void **state)
{
    (void)state;
    unsigned char msg[256];
    size_t len = strlen(bedrock_chunk_hex) / 2;
    for (size_t i = 0; i < len; i++)
        sscanf(bedrock_chunk_hex + 2 * i, "%2hhx", &msg[i]);
    outcome o = feed_byte_by_byte(msg, len);
    assert_int_equal(o.rc, CMX_OK);
    assert_int_equal(o.count, 1);
    printf("%s", o.text);
    free(o.text);

    const char *payload = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcd\"}";
    cmx_eventstream_header h[] = {
        {":event-type", 11, CMX_EVENTSTREAM_STRING, 0, "contentBlockDelta", 17},
        {":content-type", 13, CMX_EVENTSTREAM_STRING, 0, "application/json", 16},
        {":message-type", 13, CMX_EVENTSTREAM_STRING, 0, "event", 5},
    };
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err = {0};
    assert_int_equal(cmx_eventstream_encode(&out, h, 3, payload, strlen(payload), &err), CMX_OK);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, msg, len);
    cmx_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_every_positive_vector_as_its_json_says),
        cmocka_unit_test(gives_the_same_messages_fed_byte_by_byte_and_split_anywhere),
        cmocka_unit_test(rejects_every_negative_vector_with_its_error),
        cmocka_unit_test(waits_for_the_rest_of_a_cut_message),
        cmocka_unit_test(rejects_garbage_and_stays_stopped),
        cmocka_unit_test(refuses_lengths_out_of_bounds_from_the_prelude),
        cmocka_unit_test(refuses_malformed_headers),
        cmocka_unit_test(lets_the_callback_stop_the_stream_with_its_own_error),
        cmocka_unit_test(finds_a_header_by_name),
        cmocka_unit_test(computes_the_standard_crc32),
        cmocka_unit_test(encodes_every_positive_vector_back_byte_for_byte),
        cmocka_unit_test(encodes_every_header_type_and_reads_it_back),
        cmocka_unit_test(refuses_to_encode_what_cannot_be_sent),
        cmocka_unit_test(agrees_with_the_js_sdk_codec_on_a_bedrock_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
