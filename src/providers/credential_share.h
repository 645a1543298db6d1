/* credential_share.h — one cache per credential per process, shared by the
 * workers.
 *
 * The token caches (google_auth.c, azure_auth.c, aws_credentials.c) live on
 * their worker, because fetching runs on the worker's event loop with its
 * upstream client.  Left alone, N workers would each fetch every token: N
 * times the load on endpoints that are rate limited (Azure's instance
 * metadata, STS, Google's token endpoint) and N chances to fail.  Instead
 * each cache holds a cmx_credential_local, its worker's handle on the one
 * cmx_credential_share of its credential (found by a key that names the
 * credential, never holding a secret in clear), and asks it first:
 *
 *   FRESH    a valid value is in the local copy: use it;
 *   REFRESH  the same, and this caller is to fetch a new one in the
 *            background (one refresh in flight per process);
 *   FETCH    no valid value and no fetch in flight: this caller fetches,
 *            its requests wait in its own queue;
 *   WAIT     another worker is fetching: the requests wait in this
 *            worker's queue, and on_news runs on this worker's loop when
 *            the outcome is known (or the fetch was abandoned);
 *   FAILED   the last fetch failed less than its hold ago: *err says why.
 *
 * The fetcher publishes the value (or the failure) and every waiting worker
 * is woken through its own eventfd, read by an event on its own loop: no
 * thread ever touches another's event loop or connections.  Values are
 * copied into each local (and wiped when replaced), so a request uses its
 * worker's copy without a lock; the lock is taken only when the value
 * changed, is due for refresh, or is missing. */
#ifndef CMX_PROVIDERS_CREDENTIAL_SHARE_H
#define CMX_PROVIDERS_CREDENTIAL_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct event;
struct event_base;

typedef struct cmx_credential_share cmx_credential_share;

typedef enum cmx_credential_state {
    CMX_CREDENTIAL_FRESH,
    CMX_CREDENTIAL_REFRESH,
    CMX_CREDENTIAL_FETCH,
    CMX_CREDENTIAL_WAIT,
    CMX_CREDENTIAL_FAILED,
} cmx_credential_state;

/* One worker's handle, inside the worker's token cache. */
typedef struct cmx_credential_local {
    cmx_credential_share *share;
    cmx_buf value; /* this worker's copy of the shared value */
    int has_value;
    int changed;         /* set when the copy was replaced; the cache clears it */
    uint64_t seen_gen;   /* the share's generation the copy is of */
    uint64_t refresh_us; /* the copy's refresh point (0: never) */
    int fd;              /* eventfd: another worker says news are there */
    int fd_open;
    struct event *wake;
    void (*on_news)(void *ctx);
    void *ctx;
    /* under the share's lock */
    int subscribed;
    struct cmx_credential_local *next_subscriber;
} cmx_credential_local;

/* Joins the share of `key` (made on first use); on_news(ctx) will run on
 * `base`'s loop when a WAIT ends.  CMX_ERR_NOMEM / CMX_ERR_IO on failure. */
cmx_err cmx_credential_local_init(cmx_credential_local *l, const char *key, struct event_base *base,
                                  void (*on_news)(void *ctx), void *ctx, cmx_error *err);
/* Leaves the share (a fetch this worker owned is handed to the others) and
 * wipes the copy.  Safe on a zeroed, never-initialised local. */
void cmx_credential_local_release(cmx_credential_local *l);

/* Where things stand at `now_us` (the cache's clock; every worker of a
 * share must use the same clock).  After FRESH or REFRESH, l->value holds
 * the value.  After FAILED, *err is the failure.  After WAIT, on_news will
 * run once. */
cmx_credential_state cmx_credential_local_get(cmx_credential_local *l, uint64_t now_us,
                                              cmx_error *err);

/* The fetch this worker owned succeeded: the value for every worker, valid
 * until expires_us (0: forever), to be refreshed from refresh_us.  Wakes the
 * waiting workers; the caller serves its own queue. */
void cmx_credential_local_publish(cmx_credential_local *l, const void *value, size_t len,
                                  uint64_t expires_us, uint64_t refresh_us);
/* The fetch failed: requests without a valid value fail with `err` until
 * hold_until_us.  A valid value, if any, stays in use. */
void cmx_credential_local_publish_failure(cmx_credential_local *l, const cmx_error *err,
                                          uint64_t hold_until_us);
/* The fetch this worker owned could not start or was given up: another
 * worker may take it over. */
void cmx_credential_local_abandon(cmx_credential_local *l);
/* The service refused the value (revoked, rotated): forget it everywhere,
 * if it is still the current one. */
void cmx_credential_local_invalidate(cmx_credential_local *l, const void *value, size_t len);

/* The usual answer to cmx_credential_local_get for a cache whose fetch is
 * one call: FETCH and REFRESH run start_fetch(ctx, err) (0: started); a
 * fetch that cannot start is abandoned to the other workers.  Returns 1
 * when l->value holds a valid value (a refresh may be under way), 0 when
 * the caller's requests are to wait (its fetch or another worker's), -1
 * with *err when there is none. */
int cmx_credential_local_settle(cmx_credential_local *l, uint64_t now_us,
                                int (*start_fetch)(void *ctx, cmx_error *err), void *ctx,
                                cmx_error *err);

/* Fetches the share has handed out so far (FETCH and REFRESH answers), for
 * tests and metrics. */
uint64_t cmx_credential_share_fetches(const cmx_credential_local *l);

/* cmx_credential_local_init with the key `prefix` + the SHA-256 of
 * `material` in hex: for credentials whose identity includes a secret.
 * The material is wiped and freed here in every case. */
cmx_err cmx_credential_local_join(cmx_credential_local *l, const char *prefix, cmx_buf *material,
                                  struct event_base *base, void (*on_news)(void *ctx), void *ctx,
                                  cmx_error *err);

#endif
