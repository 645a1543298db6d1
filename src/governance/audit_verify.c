/* audit_verify.c — checking an audit log's chain and checkpoint, and naming
 * the first record that is wrong.
 *
 * Each record is checked on its own first (its hash against its canonical
 * bytes, its HMAC when a key is given), then against the one before it (the
 * sequence number follows, "prev" is the previous hash).  When the chain
 * breaks, the whole file is used to say how:
 *   - the record links to one further back, and the records between were
 *     added: inserted;
 *   - the expected sequence number turns up later: reordered;
 *   - it never turns up and the numbers jump: removed;
 *   - the number follows but "prev" does not match: the record before was
 *     edited and its hash recomputed (without the HMAC key that is the only
 *     trace such an edit leaves).
 * A log cut short is only visible against a checkpoint, which must name a
 * record that is in the log with the same hash.
 *
 * A rotated log is one chain over several files: the rotated ones
 * (FILE.<last seq>, oldest first) and FILE.  Their records are read into
 * one list and checked as above, so a rotated file that is missing or cut
 * short shows as records removed at the start of the next file; each
 * rotated file must also end at the sequence number its name gives, and
 * match its own signed head (FILE.<seq>.head) when there is one. */
#include "governance/audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "governance/key_secret.h"

#define HEX_LEN (2 * CMX_DIGEST_LEN)
#define MAX_LOG (1024L * 1024 * 1024)

typedef struct record {
    size_t line;
    size_t file; /* which of the files read (verify_ctx.files) */
    long long seq;
    char hash[HEX_LEN + 1];
    char prev[HEX_LEN + 1];
    int valid; /* parsed and self-consistent */
} record;

static char *read_file(const char *path, size_t *len, cmx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cmx_error_set(err, CMX_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= (size_t)MAX_LOG)
            break;
        char *more = realloc(buf, cap * 2 + 1);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        cmx_error_set(err, CMX_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void hex_of(const char *data, size_t len, const char *hmac_key, char out[HEX_LEN + 1])
{
    uint8_t d[CMX_DIGEST_LEN];
    if (hmac_key)
        cmx_hmac_sha256_once(hmac_key, strlen(hmac_key), data, len, d);
    else
        cmx_sha256_of(data, len, d);
    cmx_sha256_hex_of(d, out);
}

static int copy_hex(const char *s, char out[HEX_LEN + 1])
{
    if (!s || strlen(s) != HEX_LEN)
        return -1;
    memcpy(out, s, HEX_LEN + 1);
    return 0;
}

/* Checks one line on its own; fills r.  Returns NULL when it is fine, else
 * what is wrong with it. */
static const char *check_line(char *line, size_t len, const char *hmac_key, record *r)
{
    json_t *rec = json_loadb(line, len, 0, NULL);
    json_t *seq = json_object_get(rec, "seq");
    const char *hash = json_string_value(json_object_get(rec, "hash"));
    const char *prev = json_string_value(json_object_get(rec, "prev"));
    const char *mac = json_string_value(json_object_get(rec, "hmac"));
    const char *why = NULL;
    if (!json_is_integer(seq) || copy_hex(hash, r->hash) || copy_hex(prev, r->prev))
        why = "not an audit record (edited, or not from this log)";
    if (!why) {
        r->seq = json_integer_value(seq);
        /* The canonical bytes: the line up to its last ,"hash": and a closing brace. */
        char *at = NULL;
        for (char *p = line; (p = memmem(p, len - (size_t)(p - line), ",\"hash\":\"", 9)); p++)
            at = p;
        char computed[HEX_LEN + 1], keyed[HEX_LEN + 1];
        size_t canon = at ? (size_t)(at - line) : 0;
        char saved = at ? *at : 0;
        if (at) {
            *at = '}';
            hex_of(line, canon + 1, NULL, computed);
            if (hmac_key)
                hex_of(line, canon + 1, hmac_key, keyed);
            *at = saved;
        }
        if (!at || strcmp(computed, r->hash) != 0)
            why = "edited: its hash does not match its content";
        else if (hmac_key && !mac)
            why = "edited or forged: it has no HMAC";
        else if (hmac_key && strcmp(keyed, mac) != 0)
            why = "edited or forged: its HMAC does not match (or the key is not the log's)";
    }
    json_decref(rec);
    r->valid = why == NULL;
    return why;
}

/* The files of one chain and their records. */
typedef struct verify_ctx {
    char **files; /* rotated ones, oldest first, then FILE */
    size_t n_files;
    record *recs;
    size_t n, cap;
    cmx_audit_verdict *v;
} verify_ctx;

static void failv(cmx_audit_verdict *v, const char *file, size_t line, const char *fmt, va_list ap)
{
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    v->ok = 0;
    v->bad_line = line;
    snprintf(v->bad_file, sizeof v->bad_file, "%s", file);
}

/* The first bad thing, in file number f at line (0: the file as a whole). */
static int fail(verify_ctx *cx, size_t f, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(verify_ctx *cx, size_t f, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(cx->v, cx->files[f], line, fmt, ap);
    va_end(ap);
    return -1;
}

/* Record i breaks the chain after record i-1 (or at the start): says how. */
static void explain_break(verify_ctx *cx, size_t i)
{
    const record *recs = cx->recs;
    size_t n = cx->n;
    const record *r = &recs[i];
    long long expected = i ? recs[i - 1].seq + 1 : 1;
    int file_start = i == 0 || recs[i - 1].file != r->file;
    for (size_t j = 0; i >= 2 && j + 1 < i; j++)
        if (strcmp(recs[j].hash, r->prev) == 0 && r->seq == recs[j].seq + 1) {
            fail(cx, recs[j + 1].file, recs[j + 1].line,
                 "line %zu (seq %lld): inserted: the chain runs from line %zu (seq %lld) "
                 "straight to line %zu (seq %lld) without it",
                 recs[j + 1].line, recs[j + 1].seq, recs[j].line, recs[j].seq, r->line, r->seq);
            return;
        }
    for (size_t k = i + 1; k < n; k++)
        if (recs[k].seq == expected) {
            fail(cx, r->file, r->line,
                 "line %zu (seq %lld): reordered: seq %lld should come here but is at line %zu",
                 r->line, r->seq, expected, recs[k].line);
            return;
        }
    if (r->seq > expected) {
        const char *where = file_start && cx->n_files > 1
                                ? " (a rotated file that held them is missing or cut short)"
                                : "";
        if (r->seq == expected + 1)
            fail(cx, r->file, r->line,
                 "line %zu (seq %lld): record seq %lld before it was removed%s", r->line, r->seq,
                 expected, where);
        else
            fail(cx, r->file, r->line,
                 "line %zu (seq %lld): records seq %lld to %lld before it were removed%s", r->line,
                 r->seq, expected, r->seq - 1, where);
        return;
    }
    if (r->seq == expected && i > 0) {
        fail(cx, recs[i - 1].file, recs[i - 1].line,
             "line %zu (seq %lld): edited: its hash was recomputed, but the next record (line "
             "%zu) still links to the original",
             recs[i - 1].line, recs[i - 1].seq, r->line);
        return;
    }
    fail(cx, r->file, r->line, "line %zu (seq %lld): out of sequence (expected seq %lld)", r->line,
         r->seq, expected);
}

/* Checks the signed head at path (of file number f) against the records
 * up to seq `last` (the end of that file).  Returns 1 when it matches, 0
 * when there is none, -1 when it does not (the verdict says why); *at and
 * when (its seq and time) are set when it was read. */
static int check_head(verify_ctx *cx, size_t f, const char *path, const char *hmac_key,
                      long long last, long long *at_out, char when_out[40])
{
    cmx_error ignored;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return 0;
    fclose(probe);
    size_t len = 0;
    char *text = read_file(path, &len, &ignored);
    json_t *cp = text ? json_loads(text, 0, NULL) : NULL;
    json_t *seq = json_object_get(cp, "seq");
    const char *hash = json_string_value(json_object_get(cp, "hash"));
    const char *when = json_string_value(json_object_get(cp, "time"));
    const char *mac = json_string_value(json_object_get(cp, "hmac"));
    int rc = 1;
    if (!json_is_integer(seq) || !hash || !when) {
        rc = fail(cx, f, 0, "the checkpoint %s is not a checkpoint (edited?)", path);
    } else if (hmac_key) {
        char body[256], computed[HEX_LEN + 1];
        snprintf(body, sizeof body, "{\"seq\":%lld,\"hash\":\"%s\",\"time\":\"%s\"}",
                 (long long)json_integer_value(seq), hash, when);
        hex_of(body, strlen(body), hmac_key, computed);
        if (!mac || strcmp(mac, computed) != 0)
            rc = fail(cx, f, 0, "the checkpoint %s is forged: its HMAC does not match", path);
    }
    if (rc == 1) {
        long long at = json_integer_value(seq);
        const record *hit = NULL;
        for (size_t i = 0; i < cx->n && !hit; i++)
            if (cx->recs[i].seq == at)
                hit = &cx->recs[i];
        *at_out = at;
        snprintf(when_out, 40, "%s", when);
        if (at > last)
            rc = fail(cx, f, 0,
                      "truncated: the checkpoint of %s covers records up to seq %lld, but the "
                      "log ends at seq %lld: records seq %lld to %lld are missing",
                      when, at, last, last + 1, at);
        else if (!hit || strcmp(hit->hash, hash) != 0)
            rc = fail(cx, hit ? hit->file : f, hit ? hit->line : 0,
                      "the record seq %lld is not the one the checkpoint of %s names (the log "
                      "was rewritten)",
                      at, when);
    }
    json_decref(cp);
    free(text);
    return rc;
}

/* Reads file number f's records onto cx->recs; -1 when a line is bad (the
 * verdict says which) or the file cannot be read (err). */
static int read_records(verify_ctx *cx, size_t f, const char *hmac_key, cmx_error *err)
{
    size_t len;
    char *text = read_file(cx->files[f], &len, err);
    if (!text)
        return -2;
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    if (cx->n + n_lines + 1 > cx->cap) {
        size_t cap = (cx->n + n_lines + 1) * 2;
        record *more = realloc(cx->recs, cap * sizeof *more);
        if (!more) {
            free(text);
            cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
            return -2;
        }
        cx->recs = more;
        cx->cap = cap;
    }
    int rc = 0;
    size_t line_no = 0;
    char *p = text;
    while (rc == 0 && p < text + len) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        line_no++;
        if (!nl) {
            rc = fail(cx, f, line_no,
                      "line %zu: a last record without its end of line (a write cut "
                      "short, or the log was truncated mid-record)",
                      line_no);
            break;
        }
        record *r = &cx->recs[cx->n];
        memset(r, 0, sizeof *r);
        r->line = line_no;
        r->file = f;
        const char *why = check_line(p, (size_t)(nl - p), hmac_key, r);
        if (why) {
            if (r->seq)
                rc = fail(cx, f, line_no, "line %zu (seq %lld): %s", line_no, r->seq, why);
            else
                rc = fail(cx, f, line_no, "line %zu: %s", line_no, why);
            break;
        }
        cx->n++;
        p = nl + 1;
    }
    free(text);
    return rc;
}

/* The rotated file number f, named for its last seq: ends there, and
 * matches its head when it has one. */
static int check_rotated(verify_ctx *cx, size_t f, const char *hmac_key)
{
    const char *path = cx->files[f];
    long long named = strtoll(path + strlen(path) - CMX_AUDIT_SEQ_DIGITS, NULL, 10);
    long long last = -1;
    for (size_t i = 0; i < cx->n; i++)
        if (cx->recs[i].file == f)
            last = cx->recs[i].seq;
    if (last != named)
        return fail(cx, f, 0,
                    "a rotated file must end at the seq its name gives (%lld), but %s %lld: "
                    "cut short or renamed",
                    named, last < 0 ? "it has no records, so it ends before seq" : "it ends at seq",
                    last < 0 ? named : last);
    char head[1024], when[40];
    long long at;
    snprintf(head, sizeof head, "%s.head", path);
    return check_head(cx, f, head, hmac_key, last, &at, when) < 0 ? -1 : 0;
}

cmx_err cmx_audit_verify(const char *file, const char *checkpoint_file, const char *hmac_key,
                         cmx_audit_verdict *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    if (hmac_key && !*hmac_key)
        hmac_key = NULL; /* an empty key is no key, as when writing */
    verify_ctx cx = {.v = out};
    char **rotated;
    size_t n_rotated;
    cmx_err rc = cmx_audit_rotated_files(file, &rotated, &n_rotated, err);
    if (rc != CMX_OK)
        return rc;
    cx.files = realloc(rotated, (n_rotated + 1) * sizeof *cx.files);
    if (!cx.files || !(cx.files[n_rotated] = strdup(file))) {
        cmx_audit_free_names(cx.files ? cx.files : rotated, n_rotated);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    cx.n_files = n_rotated + 1;
    out->files = cx.n_files;
    out->ok = 1;
    for (size_t f = 0; f < cx.n_files && out->ok; f++)
        if (read_records(&cx, f, hmac_key, err) == -2) {
            rc = err->kind;
            goto done;
        }
    /* The chain, with every parsed record known (explain_break looks ahead). */
    if (out->ok) {
        for (size_t i = 0; i < cx.n; i++) {
            long long expected = i ? cx.recs[i - 1].seq + 1 : 1;
            const char *want = i ? cx.recs[i - 1].hash
                                 : "0000000000000000000000000000000000000000000000000000000000"
                                   "000000";
            if (cx.recs[i].seq != expected || strcmp(cx.recs[i].prev, want) != 0) {
                explain_break(&cx, i);
                break;
            }
        }
    }
    for (size_t f = 0; f < n_rotated && out->ok; f++)
        check_rotated(&cx, f, hmac_key);
    out->records = cx.n;
    if (cx.n) {
        out->first_seq = (uint64_t)cx.recs[0].seq;
        out->last_seq = (uint64_t)cx.recs[cx.n - 1].seq;
    }
    if (out->ok) {
        char *cp = NULL;
        if (!checkpoint_file && asprintf(&cp, "%s.head", file) < 0)
            cp = NULL;
        const char *head = checkpoint_file ? checkpoint_file : cp;
        char files[48] = "", when[40] = "";
        long long at = 0;
        if (cx.n_files > 1)
            snprintf(files, sizeof files, " in %zu files", cx.n_files);
        int seen =
            head ? check_head(&cx, n_rotated, head, hmac_key, (long long)out->last_seq, &at, when)
                 : 0;
        if (head && seen >= 0)
            out->checkpoint = seen;
        if (seen == 1)
            snprintf(out->message, sizeof out->message,
                     "%zu records%s, seq %llu to %llu, chain intact; checkpoint of %s at seq "
                     "%lld matches",
                     cx.n, files, (unsigned long long)out->first_seq,
                     (unsigned long long)out->last_seq, when, at);
        else if (seen == 0)
            snprintf(out->message, sizeof out->message,
                     "%zu records%s, seq %llu to %llu, chain intact; no checkpoint at %s, so a "
                     "log cut short cannot be detected",
                     cx.n, files, (unsigned long long)out->first_seq,
                     (unsigned long long)out->last_seq, head ? head : "FILE.head");
        else
            out->checkpoint = 1;
        free(cp);
    }
done:
    cmx_audit_free_names(cx.files, cx.n_files);
    free(cx.recs);
    return rc;
}
