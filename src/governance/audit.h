/* audit.h — the tamper-evident audit log: JSON lines, hash-chained.
 *
 * Every record holds a sequence number, the time, the actor (an admin key's
 * id, never its secret), the action, its target and details, the previous
 * record's hash and its own: SHA-256 over the record's canonical form — the
 * line as written, without its "hash" and "hmac" fields.  With
 * audit.hmac_key each record also carries an HMAC-SHA-256 of the same bytes,
 * so nobody without the key can rewrite a record and recompute the chain.
 *
 * A checkpoint ("signed head": the last sequence number and hash, with an
 * HMAC when a key is set) is written next to the log after every
 * synchronous record and every checkpoint_interval, atomically (write,
 * fsync, rename), and logged to stderr, so a log cut short is detectable.
 *
 * With rotate_bytes, a record that would take the file past that size goes
 * to a new file instead: the full one is renamed FILE.<its last seq, 12
 * digits> and sealed by a signed head beside it (FILE.<seq>.head), and the
 * chain goes on in the new FILE (its first record links to the rotated
 * file's last).  Verification reads the rotated files and FILE as one
 * chain, so a missing, edited or cut rotated file is found.
 *
 * Appends take an exclusive flock on the file, so `cloudmux keys ...` and a
 * running gateway on the same host extend one chain (a writer that finds
 * the file it has open rotated by another reopens it).  A crash can leave a
 * last line half written; it was never acknowledged, and the next writer
 * cuts it off (and logs that) before appending.  See docs/governance.md for
 * the fsync policy and what a crash can lose. */
#ifndef CMX_GOVERNANCE_AUDIT_H
#define CMX_GOVERNANCE_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct cmx_audit cmx_audit;

typedef struct cmx_audit_settings {
    const char *file;
    const char *checkpoint_file; /* NULL: FILE.head */
    const char *hmac_key;        /* NULL or empty: no HMAC */
    int fsync;                   /* fsync after every synchronous record */
    size_t rotate_bytes;         /* rotate before the file would pass this size; 0: never */
} cmx_audit_settings;

/* The digits of a rotated file's sequence number: FILE.000000001234. */
#define CMX_AUDIT_SEQ_DIGITS 12

cmx_audit *cmx_audit_open(const cmx_audit_settings *s, cmx_error *err);
/* Writes a last checkpoint and closes. */
void cmx_audit_close(cmx_audit *a, int64_t now_ms);

/* Appends one record; details is a JSON object or NULL (borrowed).  sync:
 * fsync (when the policy says so) and write a checkpoint before returning,
 * as admin actions do; per-request records pass 0 and the writer calls
 * cmx_audit_flush once per batch. */
cmx_err cmx_audit_append(cmx_audit *a, int64_t time_ms, const char *actor, const char *action,
                         const char *target, json_t *details, int sync, cmx_error *err);
/* fsync per the policy, and a checkpoint. */
cmx_err cmx_audit_flush(cmx_audit *a, int64_t now_ms, cmx_error *err);
/* A checkpoint when records were added since the last one. */
cmx_err cmx_audit_checkpoint(cmx_audit *a, int64_t now_ms, cmx_error *err);

uint64_t cmx_audit_records_written(cmx_audit *a);

/* The rotated files of `file` (FILE.<12 digits> in its directory), oldest
 * first, as paths; free with cmx_audit_free_names. */
cmx_err cmx_audit_rotated_files(const char *file, char ***names, size_t *n, cmx_error *err);
void cmx_audit_free_names(char **names, size_t n);

/* ---- verification (audit_verify.c) ---------------------------------------- */

typedef struct cmx_audit_verdict {
    int ok;
    size_t records;
    uint64_t first_seq, last_seq;
    int checkpoint;     /* 1: a checkpoint was found and checked */
    size_t files;       /* rotated files read, plus FILE */
    size_t bad_line;    /* the first bad record's line (1-based), 0 if none */
    char bad_file[256]; /* the file the first bad record (or checkpoint) is in */
    char message[512];
} cmx_audit_verdict;

/* Checks the chain of `file`, starting in its oldest rotated file and
 * going on through every rotated one (each checked against its own head,
 * FILE.<seq>.head, when there is one, and its name's sequence number), and
 * its checkpoint: `checkpoint_file`, or FILE.head when NULL; a missing one
 * is reported, not an error.  hmac_key
 * NULL or empty: HMACs are not checked.  Returns CMX_OK when the file could be read;
 * the verdict says whether it is intact and, if not, names the first bad
 * record. */
cmx_err cmx_audit_verify(const char *file, const char *checkpoint_file, const char *hmac_key,
                         cmx_audit_verdict *out, cmx_error *err);

#endif
