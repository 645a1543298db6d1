/* test_json_doc_differential.c — the JSON reader (http/json_doc.h) against
 * jansson, a parser written independently: on many texts both must give the
 * same verdict, and for an accepted text our token tree must be jansson's
 * tree (types, child counts, keys and string values, numbers, spans).
 *
 * The texts: real request and answer samples from tests/data with every
 * byte replaced by a few others, deleted, doubled or cut there; random
 * documents (escapes, non-ASCII text, numbers) and mutations of them; deep
 * nesting; every escape byte; a grid of UTF-8 sequences.
 *
 * Where the two differ on purpose:
 *  - nesting: we refuse more than CMX_JSON_MAX_DEPTH (128) levels, jansson
 *    2048; a text jansson accepts that is deeper than 128 must be refused
 *    with "nesting deeper than 128 levels";
 *  - a raw NUL byte: we refuse the text wherever it is, jansson takes some
 *    (so such texts are only checked to be refused);
 *  - \u escapes of lone UTF-16 surrogates, and "\u0000" in an object key:
 *    jansson refuses the text, we accept it (the readers refuse a lone
 *    surrogate when they unescape the string); the text is compared with
 *    every surrogate and \u0000 escape rewritten to \u0041, which changes no
 *    byte position;
 *  - numbers beyond double range ("1e400"): jansson refuses, we accept any
 *    number the grammar allows; such texts are counted and skipped (a
 *    handful at most, which the test checks).
 * jansson runs with JSON_ALLOW_NUL (so "\u0000" is a valid escape, as in
 * RFC 8259) and JSON_DECODE_INT_AS_REAL (no integer-size limit). */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/json_doc.h"

typedef struct stats {
    long texts, accepted, too_deep, surrogates, nul, skipped;
} stats;

static stats st;

static void dump(const char *what, const char *s, size_t len)
{
    print_error("%s (%zu bytes): ", what, len);
    for (size_t i = 0; i < len && i < 400; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            print_error("%c", c);
        else
            print_error("\\x%02x", c);
    }
    print_error("\n");
}

static int tree_depth(const json_t *v)
{
    int d = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            int k = tree_depth(e);
            d = k > d ? k : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e)
        {
            int k = tree_depth(e);
            d = k > d ? k : d;
        }
        return d + 1;
    }
    return 0;
}

/* Token i and its subtree against v; the index after the subtree, or -1. */
static int same_tree(const cmx_json_doc *doc, int i, const json_t *v);

/* A subtree with no jansson counterpart (a key given again later): only its
 * own consistency. */
static int well_formed(const cmx_json_doc *doc, int i)
{
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    int next = cmx_json_doc_next(doc, i);
    if (next <= i || next > doc->n || sp.end > doc->len || sp.start >= sp.end)
        return -1;
    for (int k = i + 1; k < next; k = well_formed(doc, k)) {
        if (k < 0)
            return -1;
        cmx_json_span c = cmx_json_doc_span(doc, k);
        if (c.start <= sp.start || c.end >= sp.end)
            return -1;
    }
    return next;
}

static int same_string(const cmx_json_doc *doc, int i, const char *want, size_t want_len)
{
    size_t cap = cmx_json_doc_len(doc, i) + 1;
    char *buf = malloc(cap);
    long got = cmx_json_doc_unescape(doc, i, buf, cap);
    int ok = got >= 0 && (size_t)got == want_len && memcmp(buf, want, want_len) == 0;
    /* escaped says exactly whether the inside holds a backslash */
    ok = ok && cmx_json_doc_escaped(doc, i) ==
                   (memchr(cmx_json_doc_ptr(doc, i), '\\', cmx_json_doc_len(doc, i)) != NULL);
    free(buf);
    return ok;
}

static int same_tree(const cmx_json_doc *doc, int i, const json_t *v)
{
    if (i >= doc->n)
        return -1;
    cmx_json_span sp = cmx_json_doc_span(doc, i);
    const char *s = doc->bytes;
    if (sp.start >= sp.end || sp.end > doc->len)
        return -1;
    switch (cmx_json_doc_type(doc, i)) {
    case CMX_JSON_STRING:
        if (!json_is_string(v) || s[sp.start] != '"' || s[sp.end - 1] != '"' ||
            !same_string(doc, i, json_string_value(v), json_string_length(v)))
            return -1;
        break;
    case CMX_JSON_NUMBER: {
        double d;
        if (!json_is_real(v) || cmx_json_doc_double(doc, i, &d) != 0 || d != json_real_value(v))
            return -1;
        break;
    }
    case CMX_JSON_TRUE:
        if (!json_is_true(v) || !CMX_SPAN_IS(s + sp.start, sp.end - sp.start, "true"))
            return -1;
        break;
    case CMX_JSON_FALSE:
        if (!json_is_false(v) || !CMX_SPAN_IS(s + sp.start, sp.end - sp.start, "false"))
            return -1;
        break;
    case CMX_JSON_NULL:
        if (!json_is_null(v) || !CMX_SPAN_IS(s + sp.start, sp.end - sp.start, "null"))
            return -1;
        break;
    case CMX_JSON_ARRAY: {
        if (!json_is_array(v) || s[sp.start] != '[' || s[sp.end - 1] != ']' ||
            cmx_json_doc_count(doc, i) != json_array_size(v))
            return -1;
        size_t k = 0;
        int e = i + 1;
        while (e < cmx_json_doc_next(doc, i)) {
            cmx_json_span c = cmx_json_doc_span(doc, e);
            if (c.start <= sp.start || c.end >= sp.end)
                return -1;
            int after = same_tree(doc, e, json_array_get(v, k++));
            if (after != cmx_json_doc_next(doc, e))
                return -1;
            e = after;
        }
        if (e != cmx_json_doc_next(doc, i))
            return -1;
        break;
    }
    case CMX_JSON_OBJECT: {
        if (!json_is_object(v) || s[sp.start] != '{' || s[sp.end - 1] != '}')
            return -1;
        size_t distinct = 0;
        CMX_JSON_EACH_KEY(doc, i, k)
        {
            if (cmx_json_doc_type(doc, k) != CMX_JSON_STRING)
                return -1;
            size_t cap = cmx_json_doc_len(doc, k) + 1;
            char *key = malloc(cap);
            long kl = cmx_json_doc_unescape(doc, k, key, cap);
            int ok = kl >= 0;
            if (ok) {
                /* Compared only where the key is given for the last time. */
                int last = 1;
                for (int later = cmx_json_doc_next(doc, k + 1); later < cmx_json_doc_next(doc, i);
                     later = cmx_json_doc_next(doc, later + 1)) {
                    size_t cap2 = cmx_json_doc_len(doc, later) + 1;
                    char *other = malloc(cap2);
                    long ol = cmx_json_doc_unescape(doc, later, other, cap2);
                    if (ol == kl && memcmp(other, key, (size_t)kl) == 0)
                        last = 0;
                    free(other);
                }
                if (last) {
                    distinct++;
                    json_t *val = json_object_getn(v, key, (size_t)kl);
                    ok = val && same_tree(doc, k + 1, val) == cmx_json_doc_next(doc, k + 1);
                } else {
                    ok = well_formed(doc, k + 1) == cmx_json_doc_next(doc, k + 1);
                }
            }
            free(key);
            if (!ok)
                return -1;
        }
        if (distinct != json_object_size(v))
            return -1;
        break;
    }
    default: return -1;
    }
    return cmx_json_doc_next(doc, i);
}

/* Every \u escape of a UTF-16 surrogate or of NUL (inside or outside a
 * string: outside the text is wrong either way) rewritten to \u0041, same
 * length. */
static void rewrite_surrogates(char *s, size_t len)
{
    for (size_t i = 0; i + 5 < len; i++) {
        if (s[i] != '\\')
            continue;
        int surrogate = (s[i + 2] == 'd' || s[i + 2] == 'D') && s[i + 3] &&
                        strchr("89abcdefABCDEF", s[i + 3]) && isxdigit((unsigned char)s[i + 4]) &&
                        isxdigit((unsigned char)s[i + 5]);
        if (s[i + 1] == 'u' && (surrogate || memcmp(s + i + 2, "0000", 4) == 0)) {
            memcpy(s + i + 2, "0041", 4);
            i += 5;
        } else {
            i++; /* the escaped byte is not a backslash of its own */
        }
    }
}

/* One text: both verdicts, and the trees when accepted. */
static void compare(const char *text, size_t len)
{
    char *s = malloc(len ? len : 1); /* exact size, for ASan */
    memcpy(s, text, len);
    st.texts++;
    if (memchr(s, '\0', len)) {
        cmx_json_doc doc;
        cmx_error err;
        if (cmx_json_doc_parse(&doc, s, len, NULL, &err) != CMX_ERR_BAD_REQUEST) {
            dump("a raw NUL byte not refused", text, len);
            fail();
        }
        cmx_json_doc_release(&doc);
        st.nul++;
        free(s);
        return;
    }
    json_error_t jerr;
    json_t *j =
        json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!j && (strstr(jerr.text, "surrogate") || strstr(jerr.text, "nvalid Unicode") ||
               strstr(jerr.text, "NUL byte in object key"))) {
        cmx_json_doc before;
        cmx_err rc_before = cmx_json_doc_parse(&before, s, len, NULL, NULL);
        cmx_json_doc_release(&before);
        rewrite_surrogates(s, len);
        cmx_json_doc after;
        cmx_err rc_after = cmx_json_doc_parse(&after, s, len, NULL, NULL);
        cmx_json_doc_release(&after);
        if (rc_before != rc_after) {
            dump("verdict changed by rewriting surrogate escapes", text, len);
            fail();
        }
        st.surrogates++;
        j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    }
    if (!j && strstr(jerr.text, "overflow")) {
        st.skipped++;
        free(s);
        return;
    }
    cmx_json_doc doc;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = cmx_json_doc_parse(&doc, s, len, NULL, &err);
    if (j && tree_depth(j) > CMX_JSON_MAX_DEPTH) {
        st.too_deep++;
        if (rc != CMX_ERR_BAD_REQUEST || !strstr(err.message, "nesting deeper than 128")) {
            dump("deeper than the limit, not refused as such", text, len);
            fail();
        }
    } else if ((j != NULL) != (rc == CMX_OK)) {
        dump(j ? "jansson accepts, we refuse" : "jansson refuses, we accept", text, len);
        print_error("ours: %s / jansson: %s\n", rc ? err.message : "ok", j ? "ok" : jerr.text);
        fail();
    } else if (j) {
        st.accepted++;
        if (same_tree(&doc, 0, j) != doc.n) {
            dump("token tree differs from jansson's", text, len);
            fail();
        }
    } else if (rc != CMX_ERR_BAD_REQUEST || strncmp(err.message, "invalid JSON", 12) != 0) {
        dump("refused without an \"invalid JSON\" error", text, len);
        fail();
    }
    cmx_json_doc_release(&doc);
    json_decref(j);
    free(s);
}

/* ---- a small deterministic random source ------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Bytes that change what a text means when put anywhere. */
static const char interesting[] =
    "\"\\,:[]{}0 1-.eE+tfnu/\n\t\x01\x1f\x7f\x80\xbf\xc2\xc3\xe2\xed\xf0"
    "\xf4\xf5\xff";

static void mutate_all(const char *s, size_t len, int per_byte)
{
    char *m = malloc(len + 2);
    for (size_t i = 0; i < len; i++) {
        compare(s, i); /* cut here */
        memcpy(m, s, len);
        for (int k = 0; k < per_byte; k++) {
            m[i] = interesting[rnd(sizeof interesting - 1)];
            compare(m, len);
        }
        m[i] = '\0';
        compare(m, len);
        memcpy(m, s, i); /* deleted */
        memcpy(m + i, s + i + 1, len - i - 1);
        compare(m, len - 1);
        memcpy(m, s, i + 1); /* doubled */
        memcpy(m + i + 1, s + i, len - i);
        compare(m, len + 1);
    }
    compare(s, len);
    free(m);
}

/* ---- samples from tests/data -------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void agrees_on_every_mutation_of_the_data_samples(void **state)
{
    (void)state;
    const char *src = getenv("CMX_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data", src ? src : ".");
    /* In each provider's folder, the first case's request and answer files:
     * real requests and answers of every provider and client API. */
    DIR *top = opendir(dir);
    assert_non_null(top);
    char *paths[64];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(top)) && n < 60) {
        if (de->d_name[0] == '.')
            continue;
        char sub[1400];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *c;
        static const char *const names[] = {"canonical_request.json", "provider_response.json",
                                            "request.json", "expected_provider_request.json"};
        char *best[4] = {NULL, NULL, NULL, NULL};
        while ((c = readdir(d))) {
            if (c->d_name[0] == '.')
                continue;
            for (int w = 0; w < 4; w++) {
                char p[2000];
                snprintf(p, sizeof p, "%s/%s/%s", sub, c->d_name, names[w]);
                FILE *f = fopen(p, "rb");
                if (f) {
                    fclose(f);
                    if (!best[w] || strcmp(p, best[w]) < 0) {
                        free(best[w]);
                        best[w] = strdup(p);
                    }
                }
            }
        }
        closedir(d);
        for (int w = 0; w < 4; w++)
            if (best[w] && n < 64)
                paths[n++] = best[w];
            else
                free(best[w]);
    }
    closedir(top);
    qsort(paths, (size_t)n, sizeof *paths, by_name);
    assert_true(n >= 10); /* the data folders were found */
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        char *s = read_file(paths[i], &len);
        assert_non_null(s);
        mutate_all(s, len, 2);
        free(s);
        free(paths[i]);
    }
}

/* ---- generated documents ------------------------------------------------------- */

static void gen_string(char *b, size_t *n)
{
    static const char *const pieces[] = {
        "a",
        "hello ",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\u0000",
        "\\uD83D\\uDE00",
        "\\ud800",
        "\\uDFFF",
        "\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",
        "\xef\xbf\xbf",
        "\xf4\x8f\xbf\xbf",
        "\x7f",
        "\\b\\f\\r\\t",
        "0123456789abcdef",
        "{[,:]}",
    };
    b[(*n)++] = '"';
    int parts = (int)rnd(6);
    for (int i = 0; i < parts; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        memcpy(b + *n, p, l);
        *n += l;
    }
    b[(*n)++] = '"';
}

static void gen_value(char *b, size_t *n, int depth)
{
    static const char *const scalars[] = {
        "0",       "-0",   "1",     "-12.5e+3", "1E-7",
        "0.25",    "true", "false", "null",     "123456789012345678901",
        "3.14159", "-1e2"};
    static const char *const ws[] = {"", "", "", " ", "\n\t", "\r\n "};
    uint32_t k = depth > 6 ? rnd(3) : rnd(6);
    const char *w = ws[rnd(6)];
    memcpy(b + *n, w, strlen(w));
    *n += strlen(w);
    if (k == 0) {
        const char *sc = scalars[rnd(sizeof scalars / sizeof scalars[0])];
        memcpy(b + *n, sc, strlen(sc));
        *n += strlen(sc);
    } else if (k <= 2) {
        gen_string(b, n);
    } else {
        int obj = k >= 4;
        b[(*n)++] = obj ? '{' : '[';
        int count = (int)rnd(5);
        for (int i = 0; i < count; i++) {
            if (i)
                b[(*n)++] = ',';
            if (obj) {
                gen_string(b, n);
                b[(*n)++] = ':';
            }
            gen_value(b, n, depth + 1);
        }
        b[(*n)++] = obj ? '}' : ']';
    }
    w = ws[rnd(6)];
    memcpy(b + *n, w, strlen(w));
    *n += strlen(w);
}

static void agrees_on_random_documents_and_their_mutations(void **state)
{
    (void)state;
    char *b = malloc(1 << 20);
    for (int i = 0; i < 3000; i++) {
        size_t n = 0;
        gen_value(b, &n, 0);
        compare(b, n);
        for (int m = 0; m < 8 && n > 0; m++) {
            size_t at = rnd((uint32_t)n);
            char keep = b[at];
            b[at] = interesting[rnd(sizeof interesting - 1)];
            compare(b, n);
            compare(b, at);
            b[at] = keep;
        }
    }
    free(b);
}

static void agrees_on_deep_nesting(void **state)
{
    (void)state;
    char *b = malloc(4096);
    for (int depth = 1; depth <= 140; depth++) {
        for (int shape = 0; shape < 3; shape++) {
            size_t n = 0;
            for (int d = 0; d < depth; d++) {
                if (shape == 1 && d % 2) {
                    memcpy(b + n, "{\"k\":", 5);
                    n += 5;
                } else {
                    b[n++] = '[';
                    if (shape == 2)
                        b[n++] = '1', b[n++] = ',';
                }
            }
            for (int d = depth - 1; d >= 0; d--)
                b[n++] = shape == 1 && d % 2 ? '}' : ']';
            compare(b, n);
            compare(b, n - 1); /* one bracket short */
        }
    }
    free(b);
    assert_true(st.too_deep > 0);
}

static void agrees_on_every_escape_and_utf8_sequence(void **state)
{
    (void)state;
    char b[32];
    for (int c = 0; c < 256; c++) { /* "\<c>" */
        int n = snprintf(b, sizeof b, "[\"a\\");
        b[n++] = (char)c;
        memcpy(b + n, "b\"]", 3);
        compare(b, (size_t)n + 3);
    }
    static const char hex_or_not[] = "0aF9gG\"\\ dD8";
    for (size_t i = 0; i < sizeof hex_or_not - 1; i++)
        for (size_t k = 0; k < sizeof hex_or_not - 1; k++) {
            int n =
                snprintf(b, sizeof b, "\"\\u%c%c%c%c\"", hex_or_not[i], '0', hex_or_not[k], 'a');
            compare(b, (size_t)n);
        }
    /* A non-ASCII byte and one to three bytes after it, from sets around the
     * edges of the valid ranges (second byte) and of continuation bytes. */
    static const unsigned char second[] = {0x00, 0x22, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                           0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff};
    static const int more[] = {-1, 0x41, 0x80, 0xbf, 0xc0};
    for (int lead = 0x80; lead < 0x100; lead++)
        for (size_t x = 0; x < sizeof second; x++)
            for (size_t y = 0; y < 5; y++)
                for (size_t z = 0; z < 5; z++) {
                    size_t n = 0;
                    b[n++] = '"';
                    b[n++] = (char)lead;
                    b[n++] = (char)second[x];
                    if (more[y] >= 0)
                        b[n++] = (char)more[y];
                    if (more[z] >= 0)
                        b[n++] = (char)more[z];
                    b[n++] = '"';
                    compare(b, n);
                }
}

static void says_how_much_was_compared(void **state)
{
    (void)state;
    print_message("differential: %ld texts, %ld accepted by both, %ld deeper than the limit, "
                  "%ld with surrogate or NUL escapes, %ld with a raw NUL byte, %ld skipped (number "
                  "overflow)\n",
                  st.texts, st.accepted, st.too_deep, st.surrogates, st.nul, st.skipped);
    assert_true(st.texts > 100000);
    assert_true(st.accepted > 10000);
    assert_true(st.surrogates > 0);
    assert_true(st.skipped * 1000 < st.texts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_on_every_mutation_of_the_data_samples),
        cmocka_unit_test(agrees_on_random_documents_and_their_mutations),
        cmocka_unit_test(agrees_on_deep_nesting),
        cmocka_unit_test(agrees_on_every_escape_and_utf8_sequence),
        cmocka_unit_test(says_how_much_was_compared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
