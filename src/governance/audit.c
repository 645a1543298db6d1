/* audit.c — appending to the audit log, writing its checkpoints and
 * rotating it; see audit.h.  Verification is in audit_verify.c. */
#include "governance/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "governance/key_secret.h"
#include "governance/period.h"

#define HEX_LEN (2 * CMX_DIGEST_LEN)
#define TAIL_READ (64 * 1024)
#define MAX_DETAILS (16 * 1024)

struct cmx_audit {
    pthread_mutex_t lock;
    int fd;
    char *file;
    char *checkpoint_file;
    char *hmac_key;
    int fsync;
    size_t rotate_bytes; /* 0: never */
    off_t known_size;    /* the file's size after our last read or write; -1: unknown */
    uint64_t last_seq;
    char last_hash[HEX_LEN + 1];
    uint64_t checkpoint_seq; /* the last checkpoint written */
    uint64_t written;
    int unsynced;
};

static const char zero_hash[HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static cmx_err io_error(cmx_error *err, const char *what, const char *path)
{
    return cmx_error_set(err, CMX_ERR_IO, "audit log: cannot %s %s: %s", what, path,
                         strerror(errno));
}

/* Reads the last complete record's seq and hash of the file open as fd
 * (seq 0 and the zero hash when it is empty) and its size.  A last line
 * without its newline is a write a crash cut short: with may_cut it is cut
 * off, else it is an error. */
static cmx_err tail_of(int fd, const char *path, int may_cut, off_t *size_out, uint64_t *seq_out,
                       char hash_out[HEX_LEN + 1], cmx_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return io_error(err, "stat", path);
    *seq_out = 0;
    memcpy(hash_out, zero_hash, HEX_LEN + 1);
    off_t size = st.st_size;
    *size_out = size;
    if (size == 0)
        return CMX_OK;
    off_t from = size > TAIL_READ ? size - TAIL_READ : 0;
    size_t len = (size_t)(size - from);
    char *buf = malloc(len + 1);
    if (!buf)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    ssize_t got = pread(fd, buf, len, from);
    if (got != (ssize_t)len) {
        free(buf);
        return io_error(err, "read", path);
    }
    buf[len] = '\0';
    size_t end = len;
    if (buf[len - 1] != '\n') {
        char *nl = memrchr(buf, '\n', len);
        end = nl ? (size_t)(nl - buf) + 1 : 0;
        if ((!nl && from > 0) || !may_cut) {
            free(buf);
            return cmx_error_set(err, CMX_ERR_IO,
                                 "audit log %s: its last line is incomplete or longer than "
                                 "64 KiB: run 'cloudmux audit verify'",
                                 path);
        }
        cmx_warn("audit log %s: removing an incomplete last record (%zu bytes) left by a crash",
                 path, len - end);
        if (ftruncate(fd, from + (off_t)end) != 0) {
            free(buf);
            return io_error(err, "truncate", path);
        }
        size = from + (off_t)end;
        *size_out = size;
    }
    if (end == 0) {
        free(buf);
        return CMX_OK;
    }
    buf[end - 1] = '\0';
    char *line = memrchr(buf, '\n', end - 1);
    line = line ? line + 1 : buf;
    json_t *rec = json_loads(line, 0, NULL);
    json_t *seq = json_object_get(rec, "seq");
    const char *hash = json_string_value(json_object_get(rec, "hash"));
    cmx_err rc = CMX_OK;
    if (!json_is_integer(seq) || !hash || strlen(hash) != HEX_LEN) {
        rc = cmx_error_set(err, CMX_ERR_IO,
                           "audit log %s: its last line is not an audit record; run 'cloudmux "
                           "audit verify %s'",
                           path, path);
    } else {
        *seq_out = (uint64_t)json_integer_value(seq);
        memcpy(hash_out, hash, HEX_LEN + 1);
    }
    json_decref(rec);
    free(buf);
    return rc;
}

/* "FILE.<12 digits>": a rotated file of `base` (the name's last part). */
static int is_rotated_name(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || name[n] != '.' ||
        strlen(name + n + 1) != CMX_AUDIT_SEQ_DIGITS)
        return 0;
    for (const char *p = name + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

cmx_err cmx_audit_rotated_files(const char *file, char ***out, size_t *n_out, cmx_error *err)
{
    *out = NULL;
    *n_out = 0;
    char *dcopy = strdup(file), *bcopy = strdup(file);
    if (!dcopy || !bcopy) {
        free(dcopy);
        free(bcopy);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    DIR *d = opendir(dir);
    cmx_err rc = CMX_OK;
    if (!d)
        rc = io_error(err, "list", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; rc == CMX_OK && (e = readdir(d));) {
        if (!is_rotated_name(e->d_name, base))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **more = realloc(names, cap * sizeof *names);
            if (!more) {
                rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
                break;
            }
            names = more;
        }
        if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        else
            n++;
    }
    if (d)
        closedir(d);
    free(dcopy);
    free(bcopy);
    if (rc != CMX_OK) {
        cmx_audit_free_names(names, n);
        return rc;
    }
    /* Zero-padded: the names sort as their sequence numbers. */
    if (n)
        qsort(names, n, sizeof *names, by_name);
    *out = names;
    *n_out = n;
    return CMX_OK;
}

void cmx_audit_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The chain's head: the last record of the file, or, when the file is
 * empty (just rotated), of the newest rotated file. */
static cmx_err read_tail(cmx_audit *a, cmx_error *err)
{
    cmx_err rc = tail_of(a->fd, a->file, 1, &a->known_size, &a->last_seq, a->last_hash, err);
    if (rc != CMX_OK || a->known_size > 0)
        return rc;
    char **names;
    size_t n;
    if ((rc = cmx_audit_rotated_files(a->file, &names, &n, err)) != CMX_OK || n == 0)
        return rc;
    int fd = open(names[n - 1], O_RDONLY | O_CLOEXEC);
    off_t size;
    if (fd < 0)
        rc = io_error(err, "open", names[n - 1]);
    else
        rc = tail_of(fd, names[n - 1], 0, &size, &a->last_seq, a->last_hash, err);
    if (fd >= 0)
        close(fd);
    cmx_audit_free_names(names, n);
    return rc;
}

/* Takes the file's lock, on the file now at the path: another process may
 * have rotated the one this process has open (then it is reopened, and
 * what this process knew of it is read again). */
static cmx_err lock_current(cmx_audit *a, cmx_error *err)
{
    for (int tries = 0; tries < 100; tries++) {
        flock(a->fd, LOCK_EX);
        struct stat at_path, open_one;
        if (stat(a->file, &at_path) == 0 && fstat(a->fd, &open_one) == 0 &&
            at_path.st_ino == open_one.st_ino && at_path.st_dev == open_one.st_dev)
            return CMX_OK;
        flock(a->fd, LOCK_UN);
        int fd = open(a->file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return io_error(err, "open", a->file);
        close(a->fd);
        a->fd = fd;
        a->known_size = -1;
    }
    return cmx_error_set(err, CMX_ERR_IO, "audit log %s: keeps being replaced", a->file);
}

static char *dup_or_default(const char *s, const char *file, const char *suffix)
{
    if (s)
        return strdup(s);
    char *d = malloc(strlen(file) + strlen(suffix) + 1);
    if (d)
        sprintf(d, "%s%s", file, suffix);
    return d;
}

cmx_audit *cmx_audit_open(const cmx_audit_settings *s, cmx_error *err)
{
    cmx_audit *a = calloc(1, sizeof *a);
    if (!a) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->fd = -1;
    pthread_mutex_init(&a->lock, NULL);
    a->file = strdup(s->file);
    a->checkpoint_file = dup_or_default(s->checkpoint_file, s->file, ".head");
    /* an empty key is no key: records carry no "hmac" then */
    a->hmac_key = s->hmac_key && *s->hmac_key ? strdup(s->hmac_key) : NULL;
    a->fsync = s->fsync;
    a->rotate_bytes = s->rotate_bytes;
    if (!a->file || !a->checkpoint_file || (s->hmac_key && *s->hmac_key && !a->hmac_key)) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        goto fail;
    }
    a->fd = open(a->file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (a->fd < 0) {
        io_error(err, "open", a->file);
        goto fail;
    }
    cmx_err rc = lock_current(a, err);
    if (rc == CMX_OK)
        rc = read_tail(a, err);
    flock(a->fd, LOCK_UN);
    if (rc != CMX_OK)
        goto fail;
    a->checkpoint_seq = a->last_seq;
    return a;
fail:
    cmx_audit_close(a, 0);
    return NULL;
}

/* {"seq":N,"hash":"H","time":"T"} and its HMAC, written atomically to path. */
static cmx_err write_head(cmx_audit *a, const char *path, int64_t now_ms, cmx_error *err)
{
    char when[40];
    cmx_time_iso(now_ms, when, sizeof when);
    char body[256];
    snprintf(body, sizeof body, "{\"seq\":%llu,\"hash\":\"%s\",\"time\":\"%s\"",
             (unsigned long long)a->last_seq, a->last_hash, when);
    char line[512];
    if (a->hmac_key) {
        char closed[260];
        uint8_t mac[CMX_DIGEST_LEN];
        char mac_hex[HEX_LEN + 1];
        snprintf(closed, sizeof closed, "%s}", body);
        cmx_hmac_sha256_once(a->hmac_key, strlen(a->hmac_key), closed, strlen(closed), mac);
        cmx_sha256_hex_of(mac, mac_hex);
        snprintf(line, sizeof line, "%s,\"hmac\":\"%s\"}\n", body, mac_hex);
    } else {
        snprintf(line, sizeof line, "%s}\n", body);
    }
    char *tmp = malloc(strlen(path) + 5);
    if (!tmp)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    sprintf(tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    size_t len = strlen(line);
    int ok = fd >= 0 && write(fd, line, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    cmx_err rc = ok ? CMX_OK : io_error(err, "write the checkpoint", path);
    free(tmp);
    return rc;
}

static cmx_err write_checkpoint(cmx_audit *a, int64_t now_ms, cmx_error *err)
{
    cmx_err rc = write_head(a, a->checkpoint_file, now_ms, err);
    if (rc == CMX_OK) {
        a->checkpoint_seq = a->last_seq;
        cmx_info("audit checkpoint: seq=%llu hash=%s", (unsigned long long)a->last_seq,
                 a->last_hash);
    }
    return rc;
}

/* Under both locks, before a record that would take the file past
 * rotate_bytes: the file becomes FILE.<its last seq>, sealed by a signed
 * head beside it (FILE.<seq>.head), and a new FILE continues the chain.
 * The old file stays locked until the new one is, so another writer
 * waiting on it finds it renamed and moves on (lock_current). */
static cmx_err rotate(cmx_audit *a, int64_t now_ms, cmx_error *err)
{
    char *to = NULL, *to_head = NULL;
    cmx_err rc = CMX_OK;
    if (asprintf(&to, "%s.%0*llu", a->file, CMX_AUDIT_SEQ_DIGITS, (unsigned long long)a->last_seq) <
            0 ||
        asprintf(&to_head, "%s.head", to) < 0) {
        to = to_head = NULL;
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    if (rc == CMX_OK && a->unsynced && a->fsync && fdatasync(a->fd) != 0)
        rc = io_error(err, "sync", a->file);
    if (rc == CMX_OK && access(to, F_OK) == 0)
        rc = cmx_error_set(err, CMX_ERR_IO, "audit log: cannot rotate %s: %s already exists",
                           a->file, to);
    if (rc == CMX_OK)
        rc = write_head(a, to_head, now_ms, err);
    if (rc == CMX_OK && rename(a->file, to) != 0)
        rc = io_error(err, "rotate", a->file);
    int fd = -1;
    if (rc == CMX_OK && (fd = open(a->file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
        rc = io_error(err, "open", a->file);
    if (rc == CMX_OK) {
        flock(fd, LOCK_EX);
        flock(a->fd, LOCK_UN);
        close(a->fd);
        a->fd = fd;
        a->known_size = 0;
        a->unsynced = 0;
        cmx_info("audit log: rotated %s to %s (records up to seq %llu)", a->file, to,
                 (unsigned long long)a->last_seq);
    }
    free(to);
    free(to_head);
    return rc;
}

/* Under both locks: the line for the next record. */
static int format_record(cmx_audit *a, cmx_buf *b, int64_t time_ms, const char *actor,
                         const char *action, const char *target, json_t *details)
{
    char when[48], stamp[40];
    cmx_time_iso(time_ms, stamp, sizeof stamp);
    /* "...:SSZ" with milliseconds: "...:SS.mmmZ" */
    snprintf(when, sizeof when, "%.19s.%03dZ", stamp, (int)(((time_ms % 1000) + 1000) % 1000));
    char *det = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                                  JSON_REAL_PRECISION(15))
                        : NULL;
    if (det && strlen(det) > MAX_DETAILS) {
        free(det);
        det = strdup("{\"truncated\":true}");
    }
    cmx_buf_printf(b, "{\"seq\":%llu,\"time\":\"%s\"", (unsigned long long)(a->last_seq + 1), when);
    const char *names[3] = {",\"actor\":", ",\"action\":", ",\"target\":"};
    const char *values[3] = {actor, action, target};
    for (size_t i = 0; i < 3; i++) {
        json_t *str = json_string(values[i] ? values[i] : "");
        char *text =
            str ? json_dumps(str, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY) : NULL;
        json_decref(str);
        cmx_buf_append_str(b, names[i]);
        cmx_buf_append_str(b, text ? text : "\"\"");
        free(text);
    }
    cmx_buf_append_str(b, ",\"details\":");
    cmx_buf_append_str(b, det ? det : "{}");
    free(det);
    cmx_buf_printf(b, ",\"prev\":\"%s\"}", a->last_hash);
    return b->data ? 0 : -1;
}

/* Under both locks: another process (the command line) may have appended
 * since this one last looked; then the chain continues from its record. */
static cmx_err catch_up(cmx_audit *a, cmx_error *err)
{
    struct stat st;
    if (a->known_size < 0 || fstat(a->fd, &st) != 0 || st.st_size != a->known_size)
        return read_tail(a, err);
    return CMX_OK;
}

cmx_err cmx_audit_append(cmx_audit *a, int64_t time_ms, const char *actor, const char *action,
                         const char *target, json_t *details, int sync, cmx_error *err)
{
    pthread_mutex_lock(&a->lock);
    cmx_err rc = lock_current(a, err);
    if (rc == CMX_OK)
        rc = catch_up(a, err);
    cmx_buf b = CMX_BUF_INIT;
    if (rc == CMX_OK && format_record(a, &b, time_ms, actor, action, target, details) != 0)
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    char hash[HEX_LEN + 1];
    if (rc == CMX_OK) {
        uint8_t d[CMX_DIGEST_LEN];
        cmx_sha256_of(b.data, b.len, d);
        cmx_sha256_hex_of(d, hash);
        b.len--; /* reopen the object: the hash (and HMAC) go last */
        cmx_buf_printf(&b, ",\"hash\":\"%s\"", hash);
        if (a->hmac_key) {
            char closed_hex[HEX_LEN + 1];
            /* The HMAC covers the same canonical bytes as the hash. */
            size_t canon = b.len - (sizeof ",\"hash\":\"\"" - 1) - HEX_LEN;
            char saved = b.data[canon];
            b.data[canon] = '}';
            cmx_hmac_sha256_once(a->hmac_key, strlen(a->hmac_key), b.data, canon + 1, d);
            b.data[canon] = saved;
            cmx_sha256_hex_of(d, closed_hex);
            cmx_buf_printf(&b, ",\"hmac\":\"%s\"", closed_hex);
        }
        cmx_buf_append_str(&b, "}\n");
        if (a->rotate_bytes && a->known_size > 0 && (size_t)a->known_size + b.len > a->rotate_bytes)
            rc = rotate(a, time_ms, err);
        size_t done = 0;
        while (rc == CMX_OK && done < b.len) {
            ssize_t w = write(a->fd, b.data + done, b.len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = io_error(err, "write", a->file);
                break;
            }
            done += (size_t)w;
        }
        if (rc == CMX_OK) {
            a->known_size += (off_t)b.len;
            a->last_seq++;
            memcpy(a->last_hash, hash, sizeof hash);
            a->written++;
            a->unsynced = 1;
        } else if (done) {
            /* Half a record must not stay: the chain would be unreadable. */
            if (ftruncate(a->fd, a->known_size) != 0)
                cmx_error_log("audit log %s: cannot remove a half-written record", a->file);
        }
    }
    cmx_buf_free(&b);
    if (rc == CMX_OK && sync) {
        if (a->fsync && fdatasync(a->fd) != 0)
            rc = io_error(err, "sync", a->file);
        a->unsynced = 0;
        if (rc == CMX_OK)
            rc = write_checkpoint(a, time_ms, err);
    }
    flock(a->fd, LOCK_UN);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

cmx_err cmx_audit_flush(cmx_audit *a, int64_t now_ms, cmx_error *err)
{
    pthread_mutex_lock(&a->lock);
    cmx_err rc = lock_current(a, err);
    if (rc == CMX_OK && a->unsynced) {
        if (a->fsync && fdatasync(a->fd) != 0)
            rc = io_error(err, "sync", a->file);
        a->unsynced = 0;
    }
    flock(a->fd, LOCK_UN);
    pthread_mutex_unlock(&a->lock);
    return rc == CMX_OK ? cmx_audit_checkpoint(a, now_ms, err) : rc;
}

cmx_err cmx_audit_checkpoint(cmx_audit *a, int64_t now_ms, cmx_error *err)
{
    pthread_mutex_lock(&a->lock);
    cmx_err rc = lock_current(a, err);
    if (rc == CMX_OK)
        rc = catch_up(a, err);
    if (rc == CMX_OK && a->last_seq != a->checkpoint_seq)
        rc = write_checkpoint(a, now_ms, err);
    flock(a->fd, LOCK_UN);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

uint64_t cmx_audit_records_written(cmx_audit *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t n = a->written;
    pthread_mutex_unlock(&a->lock);
    return n;
}

void cmx_audit_close(cmx_audit *a, int64_t now_ms)
{
    if (!a)
        return;
    if (a->fd >= 0) {
        cmx_error ignored;
        if (now_ms)
            cmx_audit_flush(a, now_ms, &ignored);
        close(a->fd);
    }
    if (a->hmac_key) {
        explicit_bzero(a->hmac_key, strlen(a->hmac_key));
        free(a->hmac_key);
    }
    free(a->file);
    free(a->checkpoint_file);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
