/* ledger.c — per-worker rings and the writer thread; see ledger.h.
 *
 * A ring is a power-of-two array with a head the writer advances and a tail
 * its worker advances; each index is written by one thread only, with
 * release stores and acquire loads, so neither side ever locks.  The worker
 * wakes the writer (an eventfd) only when its ring reaches batch_rows (or
 * half the ring, when that is less); the interval wake-up is the writer's
 * own poll timeout.  Each batch takes a share from every ring. */
#include "governance/ledger.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "governance/audit.h"

#define HOUR_MS 3600000LL
#define PRUNE_STEP 5000
#define RETRY_MS 200
#define ERROR_LOG_EVERY_MS 10000

typedef struct ring {
    _Alignas(64) atomic_size_t head; /* next to read (writer) */
    _Alignas(64) atomic_size_t tail; /* next to write (worker) */
    _Alignas(64) size_t mask;
    cmx_ledger_item *items;
} ring;

struct cmx_ledger {
    cmx_ledger_settings s;
    char *replica;
    cmx_store *store;
    ring *rings;
    size_t n_rings;
    int wake_fd;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_int healthy;
    cmx_ledger_item *batch; /* the writer's: rows taken from the rings, not yet written */
    size_t batch_len, batch_cap;
    size_t wake_rows; /* a ring holding this many wakes the writer */
    int64_t next_prune_ms;
    int64_t last_error_log_ms;
    _Atomic uint64_t written, dropped, errors, commits;
};

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

int cmx_ledger_put(cmx_ledger *l, size_t producer, const cmx_ledger_item *item)
{
    ring *r = &l->rings[producer % l->n_rings];
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail - head > r->mask) {
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        atomic_store_explicit(&l->healthy, 0, memory_order_relaxed);
        return -1;
    }
    r->items[tail & r->mask] = *item;
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    if (tail + 1 - head == l->wake_rows) {
        uint64_t one = 1;
        ssize_t w = write(l->wake_fd, &one, sizeof one);
        (void)w;
    }
    return 0;
}

int cmx_ledger_healthy(const cmx_ledger *l)
{
    return atomic_load_explicit(&l->healthy, memory_order_relaxed);
}

static size_t queued(const cmx_ledger *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_rings; i++)
        n += atomic_load_explicit(&l->rings[i].tail, memory_order_acquire) -
             atomic_load_explicit(&l->rings[i].head, memory_order_acquire);
    return n;
}

void cmx_ledger_get_stats(const cmx_ledger *l, cmx_ledger_stats *out)
{
    out->rows_written = atomic_load(&l->written);
    out->rows_dropped = atomic_load(&l->dropped);
    out->write_errors = atomic_load(&l->errors);
    out->commits = atomic_load(&l->commits);
    out->queued = queued(l) + l->batch_len;
}

/* Moves what the rings hold into the batch, as far as it has room: first
 * an equal share of the room from every ring, then what is left from any,
 * so a backlog in one worker's ring never keeps the others waiting. */
static void drain(cmx_ledger *l)
{
    size_t share = (l->batch_cap - l->batch_len + l->n_rings - 1) / l->n_rings;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < l->n_rings; i++) {
            ring *r = &l->rings[i];
            size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
            size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            size_t limit = pass == 0 ? share : SIZE_MAX;
            for (size_t n = 0; head != tail && n < limit && l->batch_len < l->batch_cap; n++)
                l->batch[l->batch_len++] = r->items[head++ & r->mask];
            atomic_store_explicit(&r->head, head, memory_order_release);
        }
    }
}

static int64_t now_ms(const cmx_ledger *l)
{
    return l->s.now_ms(l->s.clock_ctx);
}

/* Tells the budget counters what is now in the ledger. */
static void confirm(cmx_ledger *l, const cmx_ledger_item *items, size_t n)
{
    cmx_budget_counters *bc = l->s.counters;
    for (size_t i = 0; i < n; i++) {
        const cmx_gov_charge *c = &items[i].charge;
        if (c->usd <= 0)
            continue;
        if (c->key_usage)
            bc->ops->committed(bc, c->key_usage->budget, c->key_period_ms, c->usd);
        if (c->team_usage)
            bc->ops->committed(bc, c->team_usage->budget, c->team_period_ms, c->usd);
    }
}

/* Per-request audit records: metadata only, never content. */
static void audit_requests(cmx_ledger *l, const cmx_ledger_item *items, size_t n)
{
    cmx_error err;
    for (size_t i = 0; i < n; i++) {
        const cmx_ledger_row *r = &items[i].row;
        json_t *d = json_pack("{s:s?, s:s?, s:s?, s:s?, s:i, s:s?, s:I, s:I}", "request_id",
                              cmx_ledger_row_string(r, CMX_LEDGER_REQUEST_ID), "team",
                              cmx_ledger_row_string(r, CMX_LEDGER_TEAM), "provider",
                              cmx_ledger_row_string(r, CMX_LEDGER_PROVIDER), "model",
                              cmx_ledger_row_string(r, CMX_LEDGER_MODEL), "status", r->status,
                              "error", cmx_ledger_row_string(r, CMX_LEDGER_ERROR), "prompt_tokens",
                              (json_int_t)r->prompt_tokens, "completion_tokens",
                              (json_int_t)r->completion_tokens);
        if (d && r->cost_usd >= 0)
            json_object_set_new(d, "cost_usd", json_real(r->cost_usd));
        const char *key = cmx_ledger_row_string(r, CMX_LEDGER_KEY);
        char actor[80];
        snprintf(actor, sizeof actor, "key:%s", key ? key : "-");
        if (cmx_audit_append(l->s.audit, r->ts_ms, actor, "request",
                             cmx_ledger_row_string(r, CMX_LEDGER_GROUP), d, 0, &err) != CMX_OK)
            cmx_error_log("%s", err.message);
        json_decref(d);
    }
    if (n && cmx_audit_flush(l->s.audit, now_ms(l), &err) != CMX_OK)
        cmx_error_log("%s", err.message);
}

/* Writes the batch; on failure keeps it for the next round. */
static void write_batch(cmx_ledger *l)
{
    if (!l->batch_len)
        return;
    cmx_ledger_row *rows = malloc(l->batch_len * sizeof *rows);
    cmx_error err;
    cmx_err rc;
    if (!rows) {
        rc = cmx_error_set(&err, CMX_ERR_NOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < l->batch_len; i++)
            rows[i] = l->batch[i].row;
        pthread_mutex_lock(l->s.commit_lock);
        rc = cmx_store_write_ledger(l->store, rows, l->batch_len, l->replica, &err);
        if (rc == CMX_OK)
            confirm(l, l->batch, l->batch_len);
        pthread_mutex_unlock(l->s.commit_lock);
        free(rows);
    }
    int64_t now = now_ms(l);
    if (rc != CMX_OK) {
        atomic_fetch_add(&l->errors, 1);
        atomic_store(&l->healthy, 0);
        if (now - l->last_error_log_ms >= ERROR_LOG_EVERY_MS) {
            l->last_error_log_ms = now;
            cmx_error_log("spend ledger: cannot write %zu rows (kept, retrying): %s", l->batch_len,
                          err.message);
        }
        return;
    }
    if (l->s.audit)
        audit_requests(l, l->batch, l->batch_len);
    atomic_fetch_add(&l->written, l->batch_len);
    atomic_fetch_add(&l->commits, 1);
    l->batch_len = 0;
    atomic_store(&l->healthy, 1);
}

static void prune(cmx_ledger *l)
{
    int64_t now = now_ms(l);
    if (!l->s.retention_ms || now < l->next_prune_ms)
        return;
    l->next_prune_ms = now + HOUR_MS;
    size_t deleted, total = 0;
    cmx_error err;
    do {
        if (cmx_store_prune_ledger(l->store, now - (int64_t)l->s.retention_ms, PRUNE_STEP, &deleted,
                                   &err) != CMX_OK) {
            cmx_warn("spend ledger: pruning old rows failed: %s", err.message);
            return;
        }
        total += deleted;
    } while (deleted == PRUNE_STEP && !atomic_load(&l->stop));
    if (total)
        cmx_info("spend ledger: removed %zu rows older than the retention", total);
}

static void *writer_main(void *arg)
{
    cmx_ledger *l = arg;
    struct pollfd pfd = {l->wake_fd, POLLIN, 0};
    while (!atomic_load(&l->stop)) {
        /* A failed batch waits to be retried; rows left in the rings by a
         * full batch are taken at once (no wake-up comes for them). */
        int timeout = l->batch_len                   ? RETRY_MS
                      : queued(l) >= l->s.batch_rows ? 0
                                                     : (int)l->s.batch_interval_ms;
        if (poll(&pfd, 1, timeout) > 0) {
            uint64_t v;
            ssize_t r = read(l->wake_fd, &v, sizeof v);
            (void)r;
        }
        drain(l);
        write_batch(l);
        prune(l);
    }
    /* Stopping: everything left, batch after batch; a few tries when
     * writes fail. */
    for (int failures = 0; failures < 5;) {
        drain(l);
        write_batch(l);
        if (!l->batch_len && !queued(l))
            break;
        if (l->batch_len) {
            failures++;
            usleep(RETRY_MS * 1000);
        }
    }
    if (l->batch_len || queued(l))
        cmx_error_log("spend ledger: %zu rows could not be written before stopping",
                      l->batch_len + queued(l));
    return NULL;
}

cmx_ledger *cmx_ledger_start(const cmx_ledger_settings *s, cmx_error *err)
{
    cmx_ledger *l = calloc(1, sizeof *l);
    if (!l) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->s = *s;
    l->wake_fd = -1;
    atomic_init(&l->healthy, 1);
    l->n_rings = s->producers ? s->producers : 1;
    size_t per_ring = pow2_at_least(s->queue_rows / l->n_rings);
    l->replica = strdup(s->replica ? s->replica : "cloudmux");
    l->rings = calloc(l->n_rings, sizeof *l->rings);
    /* The writer takes at most two batches' worth at a time (what is left
     * waits in the rings): the rings are the queue, not twice it. */
    l->batch_cap = per_ring * l->n_rings;
    if (s->batch_rows && l->batch_cap > 2 * (size_t)s->batch_rows)
        l->batch_cap = 2 * (size_t)s->batch_rows;
    /* A ring smaller than two batches (many workers) wakes the writer when
     * half full, so the interval never has to save it. */
    l->wake_rows = s->batch_rows ? s->batch_rows : per_ring / 2;
    if (l->wake_rows > per_ring / 2)
        l->wake_rows = per_ring / 2;
    l->batch = malloc(l->batch_cap * sizeof *l->batch);
    if (!l->replica || !l->rings || !l->batch)
        goto oom;
    for (size_t i = 0; i < l->n_rings; i++) {
        l->rings[i].mask = per_ring - 1;
        l->rings[i].items = malloc(per_ring * sizeof *l->rings[i].items);
        if (!l->rings[i].items)
            goto oom;
    }
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        cmx_error_set(err, CMX_ERR_IO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    l->store = cmx_store_open(s->store_url, err);
    if (!l->store)
        goto fail;
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        cmx_error_set(err, CMX_ERR_INTERNAL, "cannot start the ledger writer thread");
        goto fail;
    }
    l->started = 1;
    return l;
oom:
    cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
fail:
    cmx_ledger_stop(l);
    return NULL;
}

void cmx_ledger_stop(cmx_ledger *l)
{
    if (!l)
        return;
    if (l->started) {
        atomic_store(&l->stop, 1);
        uint64_t one = 1;
        ssize_t w = write(l->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(l->thread, NULL);
    }
    cmx_store_close(l->store);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    for (size_t i = 0; l->rings && i < l->n_rings; i++)
        free(l->rings[i].items);
    free(l->rings);
    free(l->batch);
    free(l->replica);
    free(l);
}
