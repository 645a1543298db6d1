/* test_audit.c — the audit log's chain: records appended by one or two
 * writers verify; every kind of tampering is named at the right record
 * (edited, edited with a recomputed hash, removed, reordered, inserted,
 * forged without the HMAC key, truncated against the checkpoint, a forged
 * checkpoint); a half-written last line left by a crash is cut off before
 * the next append; secrets in the config never reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "governance/audit.h"
#include "governance/key_secret.h"

#define T0 1767225600000LL
#define MAX_LINES 32

static char dir[64];
static char file[128], head[140];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/cmx-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(file, sizeof file, "%s/audit.log", dir);
    snprintf(head, sizeof head, "%s/audit.log.head", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(file);
    unlink(head);
    return rmdir(dir);
}

/* Five admin records (synchronous: each writes a checkpoint). */
static void write_log(const char *hmac_key, int n)
{
    unlink(file);
    unlink(head);
    cmx_audit_settings s = {file, NULL, hmac_key, 1};
    cmx_error err;
    cmx_audit *a = cmx_audit_open(&s, &err);
    assert_non_null(a);
    for (int i = 0; i < n; i++) {
        char target[32];
        snprintf(target, sizeof target, "key:k%d", i);
        json_t *d = json_pack("{s:i, s:s}", "n", i, "note", "caf\xc3\xa9 \"quoted\"");
        assert_int_equal(
            cmx_audit_append(a, T0 + i, "admin:1a2b3c4d", "key.created", target, d, 1, &err),
            CMX_OK);
        json_decref(d);
    }
    cmx_audit_close(a, T0 + 100);
}

typedef struct lines {
    char *l[MAX_LINES];
    size_t n;
} lines;

static lines read_lines(void)
{
    lines ls = {{0}, 0};
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char buf[4096];
    while (fgets(buf, sizeof buf, f) && ls.n < MAX_LINES)
        ls.l[ls.n++] = strdup(buf);
    fclose(f);
    return ls;
}

static void write_lines(lines *ls, int drop_last_newline)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    for (size_t i = 0; i < ls->n; i++) {
        size_t len = strlen(ls->l[i]);
        if (drop_last_newline && i + 1 == ls->n && len && ls->l[i][len - 1] == '\n')
            len--;
        fwrite(ls->l[i], 1, len, f);
    }
    fclose(f);
}

static void free_lines(lines *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->l[i]);
}

static cmx_audit_verdict verify(const char *key)
{
    cmx_audit_verdict v;
    cmx_error err;
    assert_int_equal(cmx_audit_verify(file, NULL, key, &v, &err), CMX_OK);
    return v;
}

static void expect_bad(const char *key, size_t line, const char *words)
{
    cmx_audit_verdict v = verify(key);
    if (v.ok || v.bad_line != line || !strstr(v.message, words))
        fail_msg("expected line %zu with \"%s\"; got ok=%d line=%zu: %s", line, words, v.ok,
                 v.bad_line, v.message);
}

/* Replaces the hash (and HMAC) of line i with a correct one for its
 * content, as someone without the HMAC key would. */
static void rehash(lines *ls, size_t i)
{
    char *line = ls->l[i];
    char *at = strstr(line, ",\"hash\":\"");
    assert_non_null(at);
    *at = '}';
    uint8_t d[CMX_DIGEST_LEN];
    char hex[65];
    cmx_sha256(line, (size_t)(at - line) + 1, d);
    cmx_digest_hex(d, hex);
    *at = '\0';
    char *fixed = malloc(strlen(line) + 100);
    sprintf(fixed, "%s,\"hash\":\"%s\"}\n", line, hex);
    free(ls->l[i]);
    ls->l[i] = fixed;
}

static void an_untouched_log_verifies_with_and_without_the_key(void **state)
{
    write_log("audit-hmac-key", 5);
    cmx_audit_verdict v = verify("audit-hmac-key");
    assert_true(v.ok);
    assert_int_equal(v.records, 5);
    assert_int_equal(v.last_seq, 5);
    assert_true(v.checkpoint);
    assert_non_null(strstr(v.message, "checkpoint"));
    assert_true(verify(NULL).ok);
    /* The wrong key is a failure, not a pass. */
    expect_bad("another-key", 1, "HMAC does not match");
    lines ls = read_lines();
    assert_non_null(strstr(ls.l[0], "\"prev\":\"0000000000"));
    assert_non_null(strstr(ls.l[0], "\"actor\":\"admin:1a2b3c4d\""));
    assert_null(strstr(ls.l[0], "audit-hmac-key"));
    free_lines(&ls);
}

static void an_edited_record_is_named(void **state)
{
    write_log(NULL, 5);
    lines ls = read_lines();
    char *p = strstr(ls.l[2], "key:k2");
    p[5] = '9';
    write_lines(&ls, 0);
    expect_bad(NULL, 3, "edited: its hash does not match");
    /* With its hash recomputed, the chain still gives it away ... */
    rehash(&ls, 2);
    write_lines(&ls, 0);
    expect_bad(NULL, 3, "edited: its hash was recomputed");
    free_lines(&ls);
    /* ... and with the key, its missing HMAC does at once. */
    write_log("k", 5);
    ls = read_lines();
    p = strstr(ls.l[1], "key:k1");
    p[5] = '8';
    rehash(&ls, 1);
    write_lines(&ls, 0);
    expect_bad("k", 2, "no HMAC");
    free_lines(&ls);
}

static void a_removed_record_is_named(void **state)
{
    write_log(NULL, 5);
    lines ls = read_lines();
    free(ls.l[2]);
    memmove(&ls.l[2], &ls.l[3], 2 * sizeof ls.l[0]);
    ls.n--;
    write_lines(&ls, 0);
    expect_bad(NULL, 3, "record seq 3 before it was removed");
    free_lines(&ls);
    /* The first record too. */
    write_log(NULL, 5);
    ls = read_lines();
    free(ls.l[0]);
    memmove(&ls.l[0], &ls.l[1], 4 * sizeof ls.l[0]);
    ls.n--;
    write_lines(&ls, 0);
    expect_bad(NULL, 1, "record seq 1 before it was removed");
    free_lines(&ls);
}

static void reordered_records_are_named(void **state)
{
    write_log(NULL, 5);
    lines ls = read_lines();
    char *t = ls.l[1];
    ls.l[1] = ls.l[2];
    ls.l[2] = t;
    write_lines(&ls, 0);
    expect_bad(NULL, 2, "reordered: seq 2 should come here but is at line 3");
    free_lines(&ls);
}

static void an_inserted_record_is_named(void **state)
{
    write_log(NULL, 5);
    lines ls = read_lines();
    /* A well-formed forgery that links to record 2 and claims seq 3. */
    char *forged = strdup(ls.l[2]);
    char *p = strstr(forged, "key:k2");
    p[5] = 'X';
    for (size_t i = ls.n; i > 2; i--)
        ls.l[i] = ls.l[i - 1];
    ls.l[2] = forged;
    ls.n++;
    rehash(&ls, 2);
    write_lines(&ls, 0);
    expect_bad(NULL, 3, "inserted: the chain runs from line 2 (seq 2) straight to line 4");
    free_lines(&ls);
}

static void a_cut_off_tail_is_found_by_the_checkpoint(void **state)
{
    write_log("k", 5);
    lines ls = read_lines();
    free(ls.l[4]);
    free(ls.l[3]);
    ls.n = 3;
    write_lines(&ls, 0);
    cmx_audit_verdict v = verify("k");
    assert_false(v.ok);
    assert_non_null(strstr(v.message, "truncated"));
    assert_non_null(strstr(v.message, "records seq 4 to 5 are missing"));
    /* Without a checkpoint the cut cannot be seen, and verify says so. */
    unlink(head);
    v = verify("k");
    assert_true(v.ok);
    assert_non_null(strstr(v.message, "cannot be detected"));
    /* A last line without its newline is a cut record. */
    write_lines(&ls, 1);
    expect_bad("k", 3, "without its end of line");
    free_lines(&ls);
}

static void a_forged_checkpoint_is_refused(void **state)
{
    write_log("k", 3);
    FILE *f = fopen(head, "w");
    fputs("{\"seq\":3,\"hash\":\"00\",\"time\":\"2026-01-01T00:00:00Z\",\"hmac\":\"ff\"}\n", f);
    fclose(f);
    cmx_audit_verdict v = verify("k");
    assert_false(v.ok);
    assert_non_null(strstr(v.message, "forged"));
}

static void two_writers_extend_one_chain_and_a_torn_tail_is_cut(void **state)
{
    write_log("k", 2);
    cmx_audit_settings s = {file, NULL, "k", 1};
    cmx_error err;
    cmx_audit *a = cmx_audit_open(&s, &err);
    cmx_audit *b = cmx_audit_open(&s, &err);
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cmx_audit_append(a, T0, "cli:root", "key.revoked", "key:a", NULL, 1, &err),
                         CMX_OK);
        assert_int_equal(
            cmx_audit_append(b, T0, "admin:x", "key.rotated", "key:b", NULL, i == 2, &err), CMX_OK);
    }
    cmx_audit_close(a, T0);
    cmx_audit_close(b, T0);
    cmx_audit_verdict v = verify("k");
    assert_true(v.ok);
    assert_int_equal(v.last_seq, 8);
    /* A crash mid-write: half a line at the end; the next writer cuts it off. */
    FILE *f = fopen(file, "a");
    fputs("{\"seq\":9,\"time\":\"2026-01-01T00:", f);
    fclose(f);
    assert_false(verify("k").ok);
    a = cmx_audit_open(&s, &err);
    assert_non_null(a);
    assert_int_equal(cmx_audit_append(a, T0, "cli:root", "key.revoked", "key:c", NULL, 1, &err),
                     CMX_OK);
    cmx_audit_close(a, T0);
    v = verify("k");
    assert_true(v.ok);
    assert_int_equal(v.last_seq, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_untouched_log_verifies_with_and_without_the_key),
        cmocka_unit_test(an_edited_record_is_named),
        cmocka_unit_test(a_removed_record_is_named),
        cmocka_unit_test(reordered_records_are_named),
        cmocka_unit_test(an_inserted_record_is_named),
        cmocka_unit_test(a_cut_off_tail_is_found_by_the_checkpoint),
        cmocka_unit_test(a_forged_checkpoint_is_refused),
        cmocka_unit_test(two_writers_extend_one_chain_and_a_torn_tail_is_cut),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
