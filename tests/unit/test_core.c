/* test_core.c — arena, byte buffer, base64, SHA-256 and HMAC, error mapping and the secret
 * compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/sha256.h"
#include "core/error_json.h"
#include "core/str.h"
#include "core/wipe.h"
#include "core/window.h"
#include "providers/upstream_answer.h"

#include <stdlib.h>

static void arena_allocations_are_aligned_and_distinct(void **state)
{
    cmx_arena *a = cmx_arena_new(256);
    char *p = cmx_arena_alloc(a, 3);
    char *q = cmx_arena_alloc(a, 5);
    assert_true(((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0);
    assert_true(q >= p + 3);
    memset(p, 'x', 3);
    memset(q, 'y', 5);
    assert_int_equal(p[2], 'x');
    cmx_arena_free(a);
}

static void arena_serves_requests_larger_than_a_block(void **state)
{
    cmx_arena *a = cmx_arena_new(256);
    char *big = cmx_arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000); /* ASan would flag an undersized block */
    char *after = cmx_arena_alloc(a, 300);
    assert_non_null(after);
    memset(after, 2, 300);
    assert_int_equal(cmx_arena_used(a), 100300);
    cmx_arena_reset(a);
    assert_int_equal(cmx_arena_used(a), 0);
    assert_non_null(cmx_arena_alloc(a, 64));
    cmx_arena_free(a);
}

static void arena_first_block_grows_to_what_a_use_needed(void **state)
{
    cmx_arena *a = cmx_arena_new(1024);
    assert_int_equal(cmx_arena_first_size(a), 1024);
    /* fits: nothing changes at reset */
    assert_non_null(cmx_arena_alloc(a, 1000));
    cmx_arena_reset(a);
    assert_int_equal(cmx_arena_first_size(a), 1024);
    /* spilled into two more blocks: the next first block holds it all */
    for (int i = 0; i < 3; i++)
        assert_non_null(cmx_arena_alloc(a, 1000));
    cmx_arena_reset(a);
    assert_int_equal(cmx_arena_first_size(a), 3 * 1008); /* 16-byte aligned pieces */
    for (int i = 0; i < 3; i++)
        assert_non_null(cmx_arena_alloc(a, 1000));
    assert_int_equal(cmx_arena_used(a), 3000);
    /* a huge use grows it only up to the cap */
    assert_non_null(cmx_arena_alloc(a, 1 << 20));
    cmx_arena_reset(a);
    assert_int_equal(cmx_arena_first_size(a), 32 * 1024);
    cmx_arena_free(a);
}

static void arena_string_helpers_copy_and_format(void **state)
{
    cmx_arena *a = cmx_arena_new(256);
    assert_string_equal(cmx_arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(cmx_arena_sprintf(a, "%s-%d", "id", 42), "id-42");
    int *z = cmx_arena_calloc(a, 10, sizeof(int));
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    assert_null(cmx_arena_calloc(a, SIZE_MAX / 2, 4)); /* overflow is refused */
    cmx_arena_free(a);
}

static void buf_escapes_json_strings(void **state)
{
    cmx_buf b = CMX_BUF_INIT;
    const char in[] = "a\"b\\c\nd\x01";
    cmx_buf_append_json_escaped(&b, in, sizeof in - 1);
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd\\u0001");
    cmx_buf_reset(&b);
    cmx_buf_printf(&b, "%d-%s", 7, "x");
    assert_string_equal(b.data, "7-x");
    cmx_buf_free(&b);
}

static size_t moves_in_place; /* allocator calls that were asked to move a block */

static void *watching_realloc(void *p, size_t n)
{
    if (p)
        moves_in_place++;
    return realloc(p, n);
}

/* A secret buffer grows by copy-and-wipe, never by realloc (which would
 * free the old block with the secret still in it), and keeps its bytes. */
static void secret_buffers_never_leave_a_copy_behind_when_they_grow(void **state)
{
    cmx_buf b;
    cmx_buf_init_secret(&b);
    moves_in_place = 0;
    cmx_buf_set_realloc(watching_realloc);
    for (int i = 0; i < 200; i++)
        cmx_buf_append_str(&b, "sk-secret-");
    cmx_buf_set_realloc(NULL);
    assert_int_equal(moves_in_place, 0);
    assert_int_equal(b.len, 2000);
    assert_memory_equal(b.data + 1990, "sk-secret-", 10);
    cmx_buf_free(&b);
    assert_true(b.secret); /* still a secret buffer if used again */
    /* an ordinary buffer does use realloc */
    cmx_buf plain = CMX_BUF_INIT;
    cmx_buf_set_realloc(watching_realloc);
    for (int i = 0; i < 200; i++)
        cmx_buf_append_str(&plain, "0123456789");
    cmx_buf_set_realloc(NULL);
    assert_true(moves_in_place > 0);
    cmx_buf_free(&plain);
    char key[] = "sk-live";
    cmx_wipe(key, sizeof key - 1);
    assert_memory_equal(key, "\0\0\0\0\0\0\0", 7);
}

static size_t allocations; /* allocator calls of any kind */
static int refuse_allocations;

static void *counting_realloc(void *p, size_t n)
{
    allocations++;
    return refuse_allocations ? NULL : realloc(p, n);
}

/* A spill buffer writes into the caller's storage without allocating while
 * it fits; past it the content moves to the heap whole; freeing it never
 * frees the storage (ASan would flag a stack free); a refused allocation
 * fails the buffer with its content intact and the storage still in use. */
static void spill_buffers_allocate_only_past_their_storage(void **state)
{
    char mem[16];
    cmx_buf b;
    cmx_buf_init_spill(&b, mem, sizeof mem);
    allocations = 0;
    refuse_allocations = 0;
    cmx_buf_set_realloc(counting_realloc);
    cmx_buf_append_str(&b, "0123456789");
    cmx_buf_append_str(&b, "abcde"); /* 15 bytes and the NUL: still fits */
    assert_int_equal(allocations, 0);
    assert_ptr_equal(b.data, mem);
    assert_string_equal(mem, "0123456789abcde");
    cmx_buf_append_str(&b, "f"); /* one over: moves */
    assert_int_equal(allocations, 1);
    assert_ptr_not_equal(b.data, mem);
    assert_string_equal(b.data, "0123456789abcdef");
    for (int i = 0; i < 10; i++)
        cmx_buf_append_str(&b, "0123456789");
    assert_int_equal(b.len, 116);
    assert_false(cmx_buf_failed(&b));
    cmx_buf_free(&b); /* the heap copy only */
    assert_null(b.data);
    /* reused after a rewind, it stays in its storage */
    cmx_buf_init_spill(&b, mem, sizeof mem);
    cmx_buf_append_str(&b, "abc");
    cmx_buf_rewind(&b);
    cmx_buf_append_str(&b, "xyz");
    assert_ptr_equal(b.data, mem);
    /* a refused move: failed, the storage's content kept, nothing leaked */
    refuse_allocations = 1;
    size_t before = allocations;
    cmx_buf_append_str(&b, "a string that does not fit");
    assert_int_equal(allocations, before + 1);
    assert_true(cmx_buf_failed(&b));
    assert_ptr_equal(b.data, mem);
    assert_string_equal(b.data, "xyz");
    cmx_buf_set_realloc(NULL);
    refuse_allocations = 0;
    cmx_buf_free(&b);
}

/* Every error body comes out of one writer, in OpenAI's shape. */
static void error_bodies_have_the_openai_shape_and_escape_their_text(void **state)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_error_json(&b,
                   &(cmx_error_body){.kind = CMX_ERR_RATE_LIMITED, .message = "slow \"down\"\n"});
    assert_string_equal(b.data, "{\"error\":{\"message\":\"slow \\\"down\\\"\\n\",\"type\":"
                                "\"rate_limit_error\",\"param\":null,\"code\":\"rate_limited\"}}");
    cmx_buf_reset(&b);
    cmx_error_json_open(&b, &(cmx_error_body){.kind = CMX_ERR_BAD_REQUEST,
                                              .type = "invalid_request_error",
                                              .param = "n",
                                              .code = "unsupported_parameter",
                                              .message = "n must be 1"});
    cmx_buf_append_str(&b, ",\"extra\":1");
    cmx_error_json_close(&b);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"n must be 1\",\"type\":"
                                "\"invalid_request_error\",\"param\":\"n\",\"code\":"
                                "\"unsupported_parameter\",\"extra\":1}}");
    cmx_buf_free(&b);
    /* too little room is a failed buffer, never a cut body */
    char mem[40];
    cmx_buf_init_fixed(&b, mem, sizeof mem);
    cmx_error_json(&b, &(cmx_error_body){.kind = CMX_ERR_NOMEM});
    assert_true(cmx_buf_failed(&b));
}

static void http_statuses_map_to_router_kinds(void **state)
{
    assert_int_equal(cmx_err_from_http_status(200), CMX_OK);
    assert_int_equal(cmx_err_from_http_status(429), CMX_ERR_RATE_LIMITED);
    assert_int_equal(cmx_err_from_http_status(401), CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(cmx_err_from_http_status(403), CMX_ERR_PROVIDER_AUTH);
    assert_int_equal(cmx_err_from_http_status(408), CMX_ERR_TIMEOUT);
    assert_int_equal(cmx_err_from_http_status(400), CMX_ERR_BAD_REQUEST);
    assert_int_equal(cmx_err_from_http_status(500), CMX_ERR_UNAVAILABLE);
    assert_int_equal(cmx_err_from_http_status(503), CMX_ERR_UNAVAILABLE);
    assert_int_equal(cmx_err_from_http_status(529), CMX_ERR_UNAVAILABLE);
}

static void only_transient_kinds_fail_over(void **state)
{
    assert_true(cmx_err_fails_over(CMX_ERR_RATE_LIMITED));
    assert_true(cmx_err_fails_over(CMX_ERR_TIMEOUT));
    assert_true(cmx_err_fails_over(CMX_ERR_UNAVAILABLE));
    assert_true(cmx_err_fails_over(CMX_ERR_PROVIDER_AUTH));
    assert_false(cmx_err_fails_over(CMX_ERR_BAD_REQUEST));
    assert_false(cmx_err_fails_over(CMX_ERR_CONTEXT_WINDOW));
    assert_false(cmx_err_fails_over(CMX_ERR_CONTENT_POLICY));
    assert_false(cmx_err_fails_over(CMX_ERR_AUTH));
    assert_false(cmx_err_is_retryable(CMX_ERR_PROVIDER_AUTH));
}

static void every_kind_has_a_name_and_status(void **state)
{
    for (int k = 0; k < CMX_ERR__COUNT; k++) {
        assert_non_null(cmx_err_name((cmx_err)k));
        assert_string_not_equal(cmx_err_name((cmx_err)k), "unknown");
        assert_true(cmx_err_http_status((cmx_err)k) >= 200);
    }
    for (int c = 0; c < CMX_CAUSE__COUNT; c++)
        assert_string_not_equal(cmx_cause_name((cmx_cause)c), "unknown");
    assert_string_equal(cmx_err_name(CMX_ERR__COUNT), "unknown");
}

static void error_set_formats_and_returns_the_kind(void **state)
{
    cmx_error e;
    assert_int_equal(cmx_error_set(&e, CMX_ERR_TIMEOUT, "after %d ms", 50), CMX_ERR_TIMEOUT);
    assert_string_equal(e.message, "after 50 ms");
    assert_int_equal(cmx_error_set(NULL, CMX_ERR_IO, "x"), CMX_ERR_IO);
}

static void upstream_request_id_headers_are_known_in_any_case(void **state)
{
    (void)state;
    const char *known[] = {"x-request-id", "Request-Id", "x-amzn-RequestId", "apim-request-id",
                           "X-MS-REQUEST-ID"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_true(cmx_header_is_request_id(cmx_slice_of(known[i])));
    const char *other[] = {"",
                           "id",
                           "request",
                           "x-request-ids",
                           "x-request-i",
                           "my-request-id",
                           "requestid",
                           "x-amzn-request-id",
                           "content-length",
                           "request-ID "};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        assert_false(cmx_header_is_request_id(cmx_slice_of(other[i])));
}

static void secure_compare_matches_only_equal_secrets(void **state)
{
    assert_true(cmx_secure_eq("sk-abc", 6, "sk-abc", 6));
    assert_false(cmx_secure_eq("sk-abc", 6, "sk-abd", 6));
    assert_false(cmx_secure_eq("sk-abc", 6, "sk-abcd", 7));
    assert_false(cmx_secure_eq("", 0, "x", 1));
    assert_true(cmx_secure_eq("", 0, "", 0));
}

/* RFC 4648 section 10 vectors, both ways. */
static void decimals_match_printf_at_the_edges(void **state)
{
    (void)state;
    char out[CMX_DEC_MAX], want[CMX_DEC_MAX];
    const int64_t signed_cases[] = {0, 7, -7, 10, -10, 999999, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof signed_cases / sizeof signed_cases[0]; i++) {
        int n = snprintf(want, sizeof want, "%lld", (long long)signed_cases[i]);
        assert_int_equal(cmx_dec_i64(out, signed_cases[i]), n);
        assert_string_equal(out, want);
    }
    const uint64_t unsigned_cases[] = {0, 1, 10, 18446744073709551615u};
    for (size_t i = 0; i < sizeof unsigned_cases / sizeof unsigned_cases[0]; i++) {
        int n = snprintf(want, sizeof want, "%llu", (unsigned long long)unsigned_cases[i]);
        assert_int_equal(cmx_dec_u64(out, unsigned_cases[i]), n);
        assert_string_equal(out, want);
    }
}

static void base64_matches_the_rfc_vectors(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char enc[16];
        unsigned char dec[16];
        assert_int_equal(cmx_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), enc),
                         strlen(coded[i]));
        assert_string_equal(enc, coded[i]);
        long n = cmx_base64_decode(coded[i], strlen(coded[i]), dec);
        assert_int_equal(n, (long)strlen(plain[i]));
        assert_memory_equal(dec, plain[i], (size_t)n);
    }
}

/* A copy fits whole, is cut to the room there is, or is "" for NULL. */
static void str_copy_cuts_to_fit_and_always_terminates(void **state)
{
    (void)state;
    char out[6];
    assert_int_equal(cmx_str_copy(out, sizeof out, "abc"), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(cmx_str_copy(out, sizeof out, "abcdefgh"), 5);
    assert_string_equal(out, "abcde");
    assert_int_equal(cmx_str_copy(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
}

static void sha256_hex(const void *data, size_t len, char hex[CMX_SHA256_HEX_LEN + 1])
{
    uint8_t md[CMX_SHA256_LEN];
    cmx_sha256_of(data, len, md);
    cmx_sha256_hex_of(md, hex);
}

/* FIPS 180-2's "abc" and the empty message (NULL with length 0 too). */
static void sha256_matches_the_fips_vectors(void **state)
{
    (void)state;
    char hex[CMX_SHA256_HEX_LEN + 1];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* RFC 4231 cases 1 (a short key) and 6 (a key over a block, hashed
 * first); a prepared key signs any number of messages alike, and the wipe
 * leaves no key bytes behind. */
static void hmac_sha256_matches_the_rfc_4231_vectors(void **state)
{
    (void)state;
    unsigned char short_key[20], long_key[131];
    memset(short_key, 0x0b, sizeof short_key);
    memset(long_key, 0xaa, sizeof long_key);
    static const char long_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    uint8_t mac[CMX_SHA256_LEN];
    char hex[CMX_SHA256_HEX_LEN + 1];

    cmx_hmac_sha256_once(short_key, sizeof short_key, "Hi There", 8, mac);
    cmx_sha256_hex_of(mac, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    cmx_hmac_sha256_key k;
    cmx_hmac_sha256_key_init(&k, long_key, sizeof long_key);
    for (int i = 0; i < 2; i++) {
        cmx_hmac_sha256_keyed(&k, long_msg, sizeof long_msg - 1, mac);
        cmx_sha256_hex_of(mac, hex);
        assert_string_equal(hex,
                            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    cmx_hmac_sha256_key_wipe(&k);
    const unsigned char *bytes = (const unsigned char *)&k;
    for (size_t i = 0; i < sizeof k; i++)
        assert_int_equal(bytes[i], 0);
}

static void base64_refuses_what_is_not_padded_base64(void **state)
{
    unsigned char out[16];
    static const char *const bad[] = {"Zg", "Zg=", "Z===", "Zm9v!", "Zm=v", "Zg==Zg==", "Zm9%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cmx_base64_decode(bad[i], strlen(bad[i]), out), -1);
}

typedef struct release_log {
    char order[8];
    size_t n;
} release_log;

static release_log g_releases;
static void released_a(void *arg)
{
    g_releases.order[g_releases.n++] = 'a';
}
static void released_b(void *arg)
{
    g_releases.order[g_releases.n++] = 'b';
}

static void arena_runs_release_hooks_at_reset_and_free_newest_first(void **state)
{
    cmx_arena *a = cmx_arena_new(256);
    memset(&g_releases, 0, sizeof g_releases);
    assert_int_equal(cmx_arena_on_release(a, released_a, NULL), 0);
    assert_int_equal(cmx_arena_on_release(a, released_b, NULL), 0);
    assert_int_equal(g_releases.n, 0);
    cmx_arena_reset(a);
    assert_string_equal(g_releases.order, "ba");
    /* a reset arena has no hooks left; new ones run at free */
    cmx_arena_reset(a);
    assert_int_equal(g_releases.n, 2);
    assert_int_equal(cmx_arena_on_release(a, released_a, NULL), 0);
    cmx_arena_free(a);
    assert_string_equal(g_releases.order, "baa");
}

/* A minute in 60 one-second buckets: 3 requests at 0.5 s, 2 at 10.5 s. */
static void window_says_when_enough_has_left_it(void **unused)
{
    (void)unused;
    cmx_window w;
    cmx_window_init(&w, 60000000);
    cmx_window_add(&w, 500000, 3, 300);
    cmx_window_add(&w, 10500000, 2, 20);
    uint64_t now = 30000000;
    /* The first bucket leaves at 60 s, the second at 70 s. */
    assert_int_equal(cmx_window_wait_us(&w, now, 0, 1), 30000000);
    assert_int_equal(cmx_window_wait_us(&w, now, 0, 3), 30000000);
    assert_int_equal(cmx_window_wait_us(&w, now, 0, 4), 40000000);
    assert_int_equal(cmx_window_wait_us(&w, now, 1, 301), 40000000);
    /* More than it holds: the whole window; nothing needed: no wait. */
    assert_int_equal(cmx_window_wait_us(&w, now, 0, 6), 60000000);
    assert_int_equal(cmx_window_wait_us(&w, now, 0, 0), 0);
    /* Once the first bucket has gone, its units no longer count. */
    int64_t t[2];
    cmx_window_totals(&w, 60000000, t);
    assert_int_equal(t[0], 2);
    assert_int_equal(cmx_window_wait_us(&w, 60000000, 0, 1), 10000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_allocations_are_aligned_and_distinct),
        cmocka_unit_test(decimals_match_printf_at_the_edges),
        cmocka_unit_test(window_says_when_enough_has_left_it),
        cmocka_unit_test(arena_serves_requests_larger_than_a_block),
        cmocka_unit_test(arena_first_block_grows_to_what_a_use_needed),
        cmocka_unit_test(arena_string_helpers_copy_and_format),
        cmocka_unit_test(arena_runs_release_hooks_at_reset_and_free_newest_first),
        cmocka_unit_test(buf_escapes_json_strings),
        cmocka_unit_test(secret_buffers_never_leave_a_copy_behind_when_they_grow),
        cmocka_unit_test(spill_buffers_allocate_only_past_their_storage),
        cmocka_unit_test(error_bodies_have_the_openai_shape_and_escape_their_text),
        cmocka_unit_test(base64_matches_the_rfc_vectors),
        cmocka_unit_test(str_copy_cuts_to_fit_and_always_terminates),
        cmocka_unit_test(sha256_matches_the_fips_vectors),
        cmocka_unit_test(hmac_sha256_matches_the_rfc_4231_vectors),
        cmocka_unit_test(base64_refuses_what_is_not_padded_base64),
        cmocka_unit_test(http_statuses_map_to_router_kinds),
        cmocka_unit_test(only_transient_kinds_fail_over),
        cmocka_unit_test(every_kind_has_a_name_and_status),
        cmocka_unit_test(error_set_formats_and_returns_the_kind),
        cmocka_unit_test(upstream_request_id_headers_are_known_in_any_case),
        cmocka_unit_test(secure_compare_matches_only_equal_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
