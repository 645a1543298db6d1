/* redis_conn.h — one asynchronous, pipelined connection to Redis on one
 * event loop.
 *
 * The wire is RESP: replies read with hiredis's own reply reader, commands
 * written by hand (redis_conn.c), over a libevent bufferevent: plain TCP (redis://), TLS through
 * OpenSSL (rediss://, which this hiredis release cannot do itself) or a unix
 * socket (unix://).  Commands are written as they come and answered in
 * order, so everything a loop turn sends goes out in one write.
 *
 * Nothing waits on Redis: a command sent while the connection is down is
 * refused at once (cmx_redis_command returns 0) and the caller decides
 * locally; a command not answered within the timeout gets its callback with
 * reply NULL, and its late answer is dropped when it comes.  A connection
 * that stops answering altogether, or drops, is closed and reconnected with
 * backoff (100 ms doubling to 5 s).  `on_state` tells the owner each time the
 * connection becomes usable (after AUTH, SELECT and the setup commands) or is
 * lost.
 *
 * A subscriber connection (`on_push` set) hands every reply to on_push:
 * after SUBSCRIBE Redis sends messages, not answers.
 *
 * All calls on the thread of the event loop it was made on. */
#ifndef CMX_STATE_REDIS_CONN_H
#define CMX_STATE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "config/redis_url.h"
#include "core/err.h"

struct event_base;
struct evdns_base;

/* Where and how to connect. */
typedef struct cmx_redis_address {
    cmx_redis_url url; /* its password: the URL's or state.redis.password */
    int tls_verify;
    char *ca_file;
} cmx_redis_address;

void cmx_redis_address_free(cmx_redis_address *a);
/* "redis://host:port/db" without credentials, for log lines. */
void cmx_redis_address_describe(const cmx_redis_address *a, char *out, size_t n);

typedef struct cmx_redis cmx_redis;

/* reply is NULL when the command timed out or the connection was lost;
 * it is freed after the callback returns. */
typedef void (*cmx_redis_reply_cb)(void *ctx, const redisReply *reply);

typedef struct cmx_redis_hooks {
    /* up = 1: connected and set up; 0: lost (pending commands failed first). */
    void (*on_state)(void *ctx, int up);
    /* Subscriber connections only: every reply. */
    void (*on_push)(void *ctx, const redisReply *reply);
    /* Commands sent on every (re)connect before the connection counts as
     * up (SCRIPT LOAD, SUBSCRIBE); may be NULL. */
    void (*on_setup)(void *ctx, cmx_redis *r);
    /* A connect or setup that failed while the connection was not up,
     * and why (never a credential); may be NULL. */
    void (*on_fail)(void *ctx, const char *why);
    void *ctx;
} cmx_redis_hooks;

/* Starts connecting at once.  timeout_ms bounds every command. */
cmx_redis *cmx_redis_new(struct event_base *base, struct evdns_base *dns,
                         const cmx_redis_address *addr, uint32_t timeout_ms,
                         const cmx_redis_hooks *hooks, cmx_error *err);
/* Pending callbacks are called with NULL first. */
void cmx_redis_free(cmx_redis *r);
int cmx_redis_is_up(const cmx_redis *r);

/* Sends one command.  Returns a non-zero id, or 0 when the connection is
 * not up (nothing was sent, cb will not be called).  Otherwise cb is called
 * exactly once: with the reply, or NULL on timeout, loss or free. */
uint64_t cmx_redis_command(cmx_redis *r, cmx_redis_reply_cb cb, void *ctx, int argc,
                           const char **argv, const size_t *lens);
/* During on_setup: a command whose error reply fails the setup (the
 * connection is then closed and tried again later).  0 when sent. */
int cmx_redis_setup_command(cmx_redis *r, int argc, const char **argv, const size_t *lens);
/* A command whose replies come as pushes (SUBSCRIBE on a subscriber
 * connection), outside the FIFO.  0 when sent. */
int cmx_redis_send_unanswered(cmx_redis *r, int argc, const char **argv, const size_t *lens);

/* Counts since the connection was made, for metrics. */
typedef struct cmx_redis_stats {
    uint64_t timeouts;
    uint64_t errors; /* error replies and failed connects */
    uint64_t disconnects;
} cmx_redis_stats;
void cmx_redis_get_stats(const cmx_redis *r, cmx_redis_stats *out);

#endif
