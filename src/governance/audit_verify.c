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
 * record that is in the log with the same hash. */
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
        cmx_hmac_sha256(hmac_key, data, len, d);
    else
        cmx_sha256(data, len, d);
    cmx_digest_hex(d, out);
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

static int fail(cmx_audit_verdict *v, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cmx_audit_verdict *v, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    v->ok = 0;
    v->bad_line = line;
    return -1;
}

/* Record i breaks the chain after record i-1 (or at the start): says how. */
static void explain_break(const record *recs, size_t n, size_t i, cmx_audit_verdict *v)
{
    const record *r = &recs[i];
    long long expected = i ? recs[i - 1].seq + 1 : 1;
    for (size_t j = 0; i >= 2 && j + 1 < i; j++)
        if (strcmp(recs[j].hash, r->prev) == 0 && r->seq == recs[j].seq + 1) {
            fail(v, recs[j + 1].line,
                 "line %zu (seq %lld): inserted: the chain runs from line %zu (seq %lld) "
                 "straight to line %zu (seq %lld) without it",
                 recs[j + 1].line, recs[j + 1].seq, recs[j].line, recs[j].seq, r->line, r->seq);
            return;
        }
    for (size_t k = i + 1; k < n; k++)
        if (recs[k].seq == expected) {
            fail(v, r->line,
                 "line %zu (seq %lld): reordered: seq %lld should come here but is at line %zu",
                 r->line, r->seq, expected, recs[k].line);
            return;
        }
    if (r->seq > expected) {
        if (r->seq == expected + 1)
            fail(v, r->line, "line %zu (seq %lld): record seq %lld before it was removed", r->line,
                 r->seq, expected);
        else
            fail(v, r->line, "line %zu (seq %lld): records seq %lld to %lld before it were removed",
                 r->line, r->seq, expected, r->seq - 1);
        return;
    }
    if (r->seq == expected && i > 0) {
        fail(v, recs[i - 1].line,
             "line %zu (seq %lld): edited: its hash was recomputed, but the next record (line "
             "%zu) still links to the original",
             recs[i - 1].line, recs[i - 1].seq, r->line);
        return;
    }
    fail(v, r->line, "line %zu (seq %lld): out of sequence (expected seq %lld)", r->line, r->seq,
         expected);
}

static void check_checkpoint(const char *path, const char *hmac_key, const record *recs, size_t n,
                             cmx_audit_verdict *v)
{
    size_t len = 0;
    cmx_error ignored;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        snprintf(v->message, sizeof v->message,
                 "%zu records, seq %llu to %llu, chain intact; no checkpoint at %s, so a log "
                 "cut short cannot be detected",
                 n, (unsigned long long)v->first_seq, (unsigned long long)v->last_seq, path);
        return;
    }
    fclose(probe);
    char *text = read_file(path, &len, &ignored);
    json_t *cp = text ? json_loads(text, 0, NULL) : NULL;
    json_t *seq = json_object_get(cp, "seq");
    const char *hash = json_string_value(json_object_get(cp, "hash"));
    const char *when = json_string_value(json_object_get(cp, "time"));
    const char *mac = json_string_value(json_object_get(cp, "hmac"));
    v->checkpoint = 1;
    if (!json_is_integer(seq) || !hash || !when) {
        fail(v, 0, "the checkpoint %s is not a checkpoint (edited?)", path);
    } else if (hmac_key) {
        char body[256], computed[HEX_LEN + 1];
        snprintf(body, sizeof body, "{\"seq\":%lld,\"hash\":\"%s\",\"time\":\"%s\"}",
                 (long long)json_integer_value(seq), hash, when);
        hex_of(body, strlen(body), hmac_key, computed);
        if (!mac || strcmp(mac, computed) != 0)
            fail(v, 0, "the checkpoint %s is forged: its HMAC does not match", path);
    }
    if (v->ok) {
        long long at = json_integer_value(seq);
        const record *hit = NULL;
        for (size_t i = 0; i < n && !hit; i++)
            if (recs[i].seq == at)
                hit = &recs[i];
        if (at > (long long)v->last_seq)
            fail(v, 0,
                 "truncated: the checkpoint of %s covers records up to seq %lld, but the log "
                 "ends at seq %llu: records seq %llu to %lld are missing",
                 when, at, (unsigned long long)v->last_seq, (unsigned long long)v->last_seq + 1,
                 at);
        else if (!hit || strcmp(hit->hash, hash) != 0)
            fail(v, hit ? hit->line : 0,
                 "the record seq %lld is not the one the checkpoint of %s names (the log was "
                 "rewritten)",
                 at, when);
        else
            snprintf(v->message, sizeof v->message,
                     "%zu records, seq %llu to %llu, chain intact; checkpoint of %s at seq %lld "
                     "matches",
                     n, (unsigned long long)v->first_seq, (unsigned long long)v->last_seq, when,
                     at);
    }
    json_decref(cp);
    free(text);
}

cmx_err cmx_audit_verify(const char *file, const char *checkpoint_file, const char *hmac_key,
                         cmx_audit_verdict *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = read_file(file, &len, err);
    if (!text)
        return err->kind;
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    record *recs = calloc(n_lines + 1, sizeof *recs);
    if (!recs) {
        free(text);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    out->ok = 1;
    size_t n = 0, line_no = 0;
    char *p = text;
    while (out->ok && p < text + len) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        line_no++;
        if (!nl) {
            fail(out, line_no,
                 "line %zu: a last record without its end of line (a write cut "
                 "short, or the log was truncated mid-record)",
                 line_no);
            break;
        }
        record *r = &recs[n];
        r->line = line_no;
        const char *why = check_line(p, (size_t)(nl - p), hmac_key, r);
        if (why) {
            if (r->seq)
                fail(out, line_no, "line %zu (seq %lld): %s", line_no, r->seq, why);
            else
                fail(out, line_no, "line %zu: %s", line_no, why);
            break;
        }
        n++;
        p = nl + 1;
    }
    /* The chain, with every parsed record known (explain_break looks ahead). */
    if (out->ok) {
        for (size_t i = 0; i < n; i++) {
            long long expected = i ? recs[i - 1].seq + 1 : 1;
            const char *want = i ? recs[i - 1].hash
                                 : "0000000000000000000000000000000000000000000000000000000000"
                                   "000000";
            if (recs[i].seq != expected || strcmp(recs[i].prev, want) != 0) {
                explain_break(recs, n, i, out);
                break;
            }
        }
    }
    out->records = n;
    if (n) {
        out->first_seq = (uint64_t)recs[0].seq;
        out->last_seq = (uint64_t)recs[n - 1].seq;
    }
    if (out->ok) {
        char *cp = NULL;
        if (!checkpoint_file && (cp = malloc(strlen(file) + 6)))
            sprintf(cp, "%s.head", file);
        check_checkpoint(checkpoint_file ? checkpoint_file
                         : cp            ? cp
                                         : file,
                         hmac_key, recs, n, out);
        free(cp);
    }
    free(recs);
    free(text);
    return CMX_OK;
}
