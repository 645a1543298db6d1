/* test_audit.c — the audit log's chain: records appended by one or two
 * writers verify; every kind of tampering is named at the right record
 * (edited, edited with a recomputed hash, removed, reordered, inserted,
 * forged without the HMAC key, truncated against the checkpoint, a forged
 * checkpoint); a half-written last line left by a crash is cut off before
 * the next append; secrets in the config never reach it.  A rotated log
 * verifies as one chain across its files, also when a second writer finds
 * its file rotated under it; a rotated file removed, cut short, edited or
 * with a forged head is named. */
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

/* Removes the rotated files (and their heads). */
static void remove_rotated(void)
{
    char **names;
    size_t n;
    cmx_error err;
    if (cmx_audit_rotated_files(file, &names, &n, &err) != CMX_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char h[200];
        snprintf(h, sizeof h, "%s.head", names[i]);
        unlink(names[i]);
        unlink(h);
    }
    cmx_audit_free_names(names, n);
}

static int teardown(void **state)
{
    remove_rotated();
    unlink(file);
    unlink(head);
    return rmdir(dir);
}

/* Five admin records (synchronous: each writes a checkpoint). */
static void write_log(const char *hmac_key, int n)
{
    unlink(file);
    unlink(head);
    cmx_audit_settings s = {file, NULL, hmac_key, 1, 0};
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
    cmx_sha256_of(line, (size_t)(at - line) + 1, d);
    cmx_sha256_hex_of(d, hex);
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

/* An empty key is no key: records carry no "hmac", and verifying with an
 * empty key checks the chain alone. */
static void an_empty_key_is_no_key(void **state)
{
    write_log("", 3);
    lines ls = read_lines();
    assert_int_equal(ls.n, 3);
    for (size_t i = 0; i < ls.n; i++)
        assert_null(strstr(ls.l[i], "\"hmac\""));
    free_lines(&ls);
    cmx_audit_verdict v = verify("");
    assert_true(v.ok);
    assert_int_equal(v.records, 3);
    /* a key given later finds the HMACs missing */
    expect_bad("audit-hmac-key", 1, "HMAC");
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
    cmx_audit_settings s = {file, NULL, "k", 1, 0};
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

/* Ten admin records (about 450 bytes each) with files rotated at 1500 bytes (three records
 * each): FILE.000000000003, ...06, ...09 and FILE holding seq 10.  A second
 * writer, opened before the first rotation, appends the last record. */
static void write_rotated_log(const char *key)
{
    remove_rotated();
    unlink(file);
    unlink(head);
    cmx_audit_settings s = {file, NULL, key, 1, 1500};
    cmx_error err;
    cmx_audit *a = cmx_audit_open(&s, &err);
    cmx_audit *b = cmx_audit_open(&s, &err);
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 10; i++) {
        json_t *d = json_pack("{s:i, s:s}", "n", i, "pad",
                              "0123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789");
        assert_int_equal(cmx_audit_append(i == 9 ? b : a, T0 + i, "admin:1a2b3c4d", "key.updated",
                                          "key:k", d, 1, &err),
                         CMX_OK);
        json_decref(d);
    }
    cmx_audit_close(a, T0 + 100);
    cmx_audit_close(b, T0 + 100);
}

static char *rotated_name(int last_seq)
{
    static char name[200];
    snprintf(name, sizeof name, "%s.%012d", file, last_seq);
    return name;
}

/* The three records of a rotated file, read into buf. */
static void read_three(const char *path, char buf[3][2048])
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (int i = 0; i < 3; i++)
        assert_non_null(fgets(buf[i], 2048, f));
    fclose(f);
}

static void a_rotated_log_verifies_as_one_chain(void **state)
{
    write_rotated_log("k");
    char **names;
    size_t n;
    cmx_error err;
    assert_int_equal(cmx_audit_rotated_files(file, &names, &n, &err), CMX_OK);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], rotated_name(3));
    assert_string_equal(names[2], rotated_name(9));
    cmx_audit_free_names(names, n);
    cmx_audit_verdict v = verify("k");
    if (!v.ok)
        fail_msg("%s: %s", v.bad_file, v.message);
    assert_int_equal(v.records, 10);
    assert_int_equal(v.files, 4);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, 10);
    assert_true(v.checkpoint);
    assert_non_null(strstr(v.message, "10 records in 4 files, seq 1 to 10, chain intact"));
    /* The file just rotated is empty: its chain's head is in the rotated one. */
    cmx_audit_settings s = {file, NULL, "k", 1, 1500};
    cmx_audit *a = cmx_audit_open(&s, &err);
    assert_non_null(a);
    for (int i = 0; i < 8; i++)
        assert_int_equal(cmx_audit_append(a, T0, "cli:root", "key.revoked", "key:k", NULL, 1, &err),
                         CMX_OK);
    cmx_audit_close(a, T0);
    v = verify("k");
    assert_true(v.ok);
    assert_int_equal(v.last_seq, 18);
    /* Rotated by hand (moved to FILE.<its last seq>): a writer that finds
     * FILE missing or empty goes on from the newest rotated file. */
    assert_int_equal(rename(file, rotated_name(18)), 0);
    a = cmx_audit_open(&s, &err);
    assert_non_null(a);
    assert_int_equal(cmx_audit_append(a, T0, "cli:root", "key.revoked", "key:k", NULL, 1, &err),
                     CMX_OK);
    cmx_audit_close(a, T0);
    v = verify("k");
    if (!v.ok)
        fail_msg("%s: %s", v.bad_file, v.message);
    assert_int_equal(v.last_seq, 19);
    remove_rotated();
}

static void expect_bad_in(const char *in, size_t line, const char *words)
{
    cmx_audit_verdict v = verify("k");
    if (v.ok || v.bad_line != line || strcmp(v.bad_file, in) != 0 || !strstr(v.message, words))
        fail_msg("expected %s line %zu with \"%s\"; got ok=%d %s line=%zu: %s", in, line, words,
                 v.ok, v.bad_file, v.bad_line, v.message);
}

static void a_missing_or_cut_rotated_file_is_named(void **state)
{
    /* A middle file removed: the next one starts four records late. */
    write_rotated_log("k");
    unlink(rotated_name(6));
    expect_bad_in(rotated_name(9), 1,
                  "records seq 4 to 6 before it were removed (a rotated file that held them is "
                  "missing or cut short)");
    /* The newest rotated file removed, FILE holding seq 10 only. */
    write_rotated_log("k");
    unlink(rotated_name(9));
    expect_bad_in(file, 1, "records seq 7 to 9 before it were removed");
    /* A rotated file's last record cut off. */
    write_rotated_log("k");
    char buf[3][2048];
    read_three(rotated_name(3), buf);
    FILE *f = fopen(rotated_name(3), "w");
    fputs(buf[0], f);
    fputs(buf[1], f);
    fclose(f);
    expect_bad_in(rotated_name(6), 1, "record seq 3 before it was removed");
    /* Every file from seq 7 on removed: FILE's checkpoint names seq 10. */
    write_rotated_log("k");
    unlink(rotated_name(9));
    unlink(file);
    f = fopen(file, "w");
    fclose(f);
    expect_bad_in(file, 0, "truncated: the checkpoint of");
    remove_rotated();
}

static void an_edited_rotated_file_or_forged_head_is_named(void **state)
{
    write_rotated_log("k");
    /* Edited in the middle of a rotated file. */
    char buf[3][2048];
    read_three(rotated_name(6), buf);
    char *at = strstr(buf[1], "\"n\":4");
    assert_non_null(at);
    at[4] = '7';
    FILE *f = fopen(rotated_name(6), "w");
    for (int i = 0; i < 3; i++)
        fputs(buf[i], f);
    fclose(f);
    expect_bad_in(rotated_name(6), 2, "line 2 (seq 5): edited: its hash does not match");
    /* A rotated file's head that was not written with the key. */
    write_rotated_log("k");
    char h[220];
    snprintf(h, sizeof h, "%s.head", rotated_name(6));
    f = fopen(h, "w");
    fputs("{\"seq\":6,\"hash\":\""
          "0000000000000000000000000000000000000000000000000000000000000000"
          "\",\"time\":\"2026-01-01T00:00:00Z\",\"hmac\":\"00\"}\n",
          f);
    fclose(f);
    expect_bad_in(rotated_name(6), 0, "is forged: its HMAC does not match");
    /* A rotated file renamed: its name no longer says where it ends. */
    write_rotated_log("k");
    char moved[200];
    snprintf(moved, sizeof moved, "%s", rotated_name(7));
    assert_int_equal(rename(rotated_name(6), moved), 0);
    expect_bad_in(moved, 0, "must end at the seq its name gives (7)");
    snprintf(h, sizeof h, "%s.head", rotated_name(6));
    unlink(h);
    remove_rotated();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_untouched_log_verifies_with_and_without_the_key),
        cmocka_unit_test(an_empty_key_is_no_key),
        cmocka_unit_test(an_edited_record_is_named),
        cmocka_unit_test(a_removed_record_is_named),
        cmocka_unit_test(reordered_records_are_named),
        cmocka_unit_test(an_inserted_record_is_named),
        cmocka_unit_test(a_cut_off_tail_is_found_by_the_checkpoint),
        cmocka_unit_test(a_forged_checkpoint_is_refused),
        cmocka_unit_test(two_writers_extend_one_chain_and_a_torn_tail_is_cut),
        cmocka_unit_test(a_rotated_log_verifies_as_one_chain),
        cmocka_unit_test(a_missing_or_cut_rotated_file_is_named),
        cmocka_unit_test(an_edited_rotated_file_or_forged_head_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
