/* redis_conn.c — the asynchronous Redis connection; see redis_conn.h.
 *
 * Pending commands form a FIFO (Redis answers in order).  A command whose
 * time is up gets its callback with NULL at once and stays in the FIFO with
 * no callback, so its late answer lines up and is dropped.  When the oldest
 * command has waited STALL_FACTOR timeouts (at least a second) the server is
 * taken for gone: the connection is closed, every pending callback gets
 * NULL, and a reconnect is scheduled. */
#include "state/redis_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STALL_FACTOR 20
#define STALL_MIN_MS 1000
#define HEARTBEAT_MS 1000

typedef struct pending_op {
    uint64_t id;
    cmx_redis_reply_cb cb; /* NULL once answered by timeout or forgotten */
    void *ctx;
    uint64_t sent_us;
    uint64_t deadline_us;
} pending_op;

struct cmx_redis {
    struct event_base *base;
    struct evdns_base *dns;
    cmx_redis_address addr;
    uint32_t timeout_ms;
    cmx_redis_hooks hooks;
    struct bufferevent *bev;
    SSL_CTX *ssl_ctx;
    redisReader *reader;
    struct event *timer;     /* command deadlines */
    struct event *reconnect; /* backoff */
    struct event *heartbeat; /* an idle connection is still checked */
    uint64_t last_rx_us;
    char setup_error[240]; /* why the last setup was refused */
    uint32_t backoff_ms;
    int connected; /* socket (and TLS) established */
    int up;        /* set up and usable by callers */
    int setting_up;
    pending_op *ops; /* ring */
    size_t ops_cap, ops_head, ops_len;
    uint64_t next_id;
    atomic_uint_fast64_t timeouts, errors, disconnects;
};

/* --- addresses ---------------------------------------------------------- */

void cmx_redis_address_describe(const cmx_redis_address *a, char *out, size_t n)
{
    cmx_redis_url_describe(&a->url, out, n);
}

static int copy_address(cmx_redis_address *dst, const cmx_redis_address *src)
{
    *dst = *src;
    cmx_redis_url *u = &dst->url;
    u->username = src->url.username ? strdup(src->url.username) : NULL;
    u->password = src->url.password ? strdup(src->url.password) : NULL;
    dst->ca_file = src->ca_file ? strdup(src->ca_file) : NULL;
    return (src->url.username && !u->username) || (src->url.password && !u->password) ||
                   (src->ca_file && !dst->ca_file)
               ? -1
               : 0;
}

void cmx_redis_address_free(cmx_redis_address *a)
{
    cmx_redis_url_free(&a->url);
    free(a->ca_file);
    a->ca_file = NULL;
}

/* --- the pending FIFO --------------------------------------------------- */

static pending_op *op_at(cmx_redis *r, size_t i)
{
    return &r->ops[(r->ops_head + i) % r->ops_cap];
}

static pending_op *op_push(cmx_redis *r)
{
    if (r->ops_len == r->ops_cap) {
        size_t cap = r->ops_cap ? r->ops_cap * 2 : 64;
        pending_op *ops = malloc(cap * sizeof *ops);
        if (!ops)
            return NULL;
        for (size_t i = 0; i < r->ops_len; i++)
            ops[i] = *op_at(r, i);
        free(r->ops);
        r->ops = ops;
        r->ops_cap = cap;
        r->ops_head = 0;
    }
    pending_op *op = op_at(r, r->ops_len++);
    memset(op, 0, sizeof *op);
    return op;
}

static void op_pop(cmx_redis *r)
{
    r->ops_head = (r->ops_head + 1) % r->ops_cap;
    r->ops_len--;
}

static void arm_timer(cmx_redis *r)
{
    for (size_t i = 0; i < r->ops_len; i++) {
        pending_op *op = op_at(r, i);
        if (!op->cb && i + 1 < r->ops_len)
            continue;
        /* The first op still waiting for its callback, or the stall check
         * of the oldest one. */
        uint64_t now = cmx_now_us();
        uint64_t stall_us = (uint64_t)r->timeout_ms * 1000 * STALL_FACTOR;
        if (stall_us < STALL_MIN_MS * 1000)
            stall_us = STALL_MIN_MS * 1000;
        uint64_t when = op->cb ? op->deadline_us : op_at(r, 0)->sent_us + stall_us;
        if (op_at(r, 0)->sent_us + stall_us < when)
            when = op_at(r, 0)->sent_us + stall_us;
        uint64_t wait = when > now ? when - now : 0;
        struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
        evtimer_add(r->timer, &tv);
        return;
    }
    evtimer_del(r->timer);
}

/* --- connection lifecycle ----------------------------------------------- */

static void start_connect(cmx_redis *r);

static void fail_pending(cmx_redis *r)
{
    while (r->ops_len) {
        pending_op op = *op_at(r, 0);
        op_pop(r);
        if (op.cb)
            op.cb(op.ctx, NULL);
    }
}

/* Closes the connection and schedules the next try. */
static void reset(cmx_redis *r, const char *why)
{
    int was_up = r->up;
    if (r->bev) {
        bufferevent_free(r->bev);
        r->bev = NULL;
    }
    if (r->reader) {
        redisReaderFree(r->reader);
        r->reader = NULL;
    }
    r->connected = r->up = r->setting_up = 0;
    evtimer_del(r->timer);
    atomic_fetch_add(&r->disconnects, 1);
    char where[300];
    cmx_redis_address_describe(&r->addr, where, sizeof where);
    cmx_debug("redis %s: %s; reconnecting in %u ms", where, why, r->backoff_ms);
    if (!was_up && r->hooks.on_fail)
        r->hooks.on_fail(r->hooks.ctx, why);
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->reconnect, &tv);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
    fail_pending(r);
    if (was_up && r->hooks.on_state)
        r->hooks.on_state(r->hooks.ctx, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    cmx_redis *r = arg;
    uint64_t now = cmx_now_us();
    uint64_t stall_us = (uint64_t)r->timeout_ms * 1000 * STALL_FACTOR;
    if (stall_us < STALL_MIN_MS * 1000)
        stall_us = STALL_MIN_MS * 1000;
    if (r->ops_len && now >= op_at(r, 0)->sent_us + stall_us) {
        reset(r, "no answer for too long");
        return;
    }
    for (size_t i = 0; i < r->ops_len; i++) {
        pending_op *op = op_at(r, i);
        if (!op->cb || op->deadline_us > now)
            continue;
        cmx_redis_reply_cb cb = op->cb;
        op->cb = NULL;
        atomic_fetch_add(&r->timeouts, 1);
        cb(op->ctx, NULL);
        if (!r->bev)
            return; /* the callback's work reset the connection */
    }
    arm_timer(r);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    start_connect(arg);
}

static uint64_t send_command(cmx_redis *r, cmx_redis_reply_cb cb, void *ctx, int argc,
                             const char **argv, const size_t *lens);

static void on_pong(void *ctx, const redisReply *reply)
{
    (void)ctx, (void)reply;
}

/* A connection with nothing pending would never notice a server that went
 * silent: every second it sends a PING (as a command, or on a subscriber
 * connection as a push) and is reset when nothing has come back for the
 * stall time. */
static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    cmx_redis *r = arg;
    if (r->up) {
        uint64_t stall_us = (uint64_t)r->timeout_ms * 1000 * STALL_FACTOR;
        if (stall_us < STALL_MIN_MS * 1000)
            stall_us = STALL_MIN_MS * 1000;
        const char *ping[1] = {"PING"};
        if (r->hooks.on_push) {
            if (cmx_now_us() - r->last_rx_us > stall_us + HEARTBEAT_MS * 1000) {
                reset(r, "no answer for too long");
                return;
            }
            cmx_redis_send_unanswered(r, 1, ping, NULL);
        } else if (r->ops_len == 0) {
            send_command(r, on_pong, r, 1, ping, NULL);
        }
    }
}

/* Appends "<mark><n>\r\n" at p; returns the end. */
static char *put_header(char *p, char mark, uint64_t n)
{
    *p++ = mark;
    p += cmx_dec_u64(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Writes one command in the protocol's request form (an array of bulk
 * strings), built in one buffer with the lengths written by hand: it is on
 * the path of every request that asks the store. */
static int write_command(cmx_redis *r, int argc, const char **argv, const size_t *lens)
{
    enum { HEADER_MAX = 1 + CMX_DEC_MAX + 2 };
    size_t total = HEADER_MAX;
    for (int i = 0; i < argc; i++)
        total += HEADER_MAX + (lens ? lens[i] : strlen(argv[i])) + 2;
    char small[2048];
    char *cmd = total <= sizeof small ? small : malloc(total);
    if (!cmd)
        return -1;
    char *p = put_header(cmd, '*', (uint64_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        p = put_header(p, '$', len);
        memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    int rc = bufferevent_write(r->bev, cmd, (size_t)(p - cmd));
    if (cmd != small)
        free(cmd);
    return rc;
}

static uint64_t send_command(cmx_redis *r, cmx_redis_reply_cb cb, void *ctx, int argc,
                             const char **argv, const size_t *lens)
{
    pending_op *op = op_push(r);
    if (!op || write_command(r, argc, argv, lens) != 0) {
        if (op)
            r->ops_len--;
        return 0;
    }
    op->id = ++r->next_id;
    op->cb = cb;
    op->ctx = ctx;
    op->sent_us = cmx_now_us();
    op->deadline_us = op->sent_us + (uint64_t)r->timeout_ms * 1000;
    if (r->ops_len == 1 || !evtimer_pending(r->timer, NULL))
        arm_timer(r);
    return op->id;
}

/* Setup replies: any error means the server will not have us (wrong
 * password, unknown database, scripts disabled). */
static void on_setup_reply(void *ctx, const redisReply *reply)
{
    cmx_redis *r = ctx;
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return;
    char where[300];
    cmx_redis_address_describe(&r->addr, where, sizeof where);
    if (reply) {
        atomic_fetch_add(&r->errors, 1);
        cmx_debug("redis %s refused the connection's setup: %.200s", where, reply->str);
        snprintf(r->setup_error, sizeof r->setup_error, "refused the setup: %.200s", reply->str);
    }
    r->setting_up = 0; /* the marker's reply must not bring it up */
}

static void on_marker(void *ctx, const redisReply *reply)
{
    cmx_redis *r = ctx;
    if (!reply || !r->setting_up) {
        if (r->bev)
            reset(r, r->setup_error[0] ? r->setup_error : "setup failed");
        return;
    }
    r->setup_error[0] = '\0';
    r->setting_up = 0;
    r->up = 1;
    r->last_rx_us = cmx_now_us();
    r->backoff_ms = BACKOFF_MIN_MS;
    if (r->hooks.on_state)
        r->hooks.on_state(r->hooks.ctx, 1);
}

static void run_setup(cmx_redis *r)
{
    r->setting_up = 1;
    if (r->addr.url.password) {
        const char *argv[3] = {"AUTH", r->addr.url.username, r->addr.url.password};
        if (r->addr.url.username)
            send_command(r, on_setup_reply, r, 3, argv, NULL);
        else {
            argv[1] = r->addr.url.password;
            send_command(r, on_setup_reply, r, 2, argv, NULL);
        }
    }
    if (r->addr.url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->addr.url.db);
        const char *argv[2] = {"SELECT", db};
        send_command(r, on_setup_reply, r, 2, argv, NULL);
    }
    if (r->hooks.on_setup)
        r->hooks.on_setup(r->hooks.ctx, r);
    const char *ping[1] = {"PING"};
    send_command(r, on_marker, r, 1, ping, NULL);
}

static void deliver(cmx_redis *r, redisReply *reply)
{
    if (r->ops_len == 0) {
        if (r->hooks.on_push)
            r->hooks.on_push(r->hooks.ctx, reply);
        return;
    }
    pending_op op = *op_at(r, 0);
    op_pop(r);
    if (reply->type == REDIS_REPLY_ERROR)
        atomic_fetch_add(&r->errors, 1);
    if (op.cb)
        op.cb(op.ctx, reply);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    cmx_redis *r = arg;
    r->last_rx_us = cmx_now_us();
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec vec[8];
    int n = evbuffer_peek(in, -1, NULL, vec, 8);
    size_t fed = 0;
    for (int i = 0; i < n && i < 8; i++) {
        if (redisReaderFeed(r->reader, vec[i].iov_base, vec[i].iov_len) != REDIS_OK) {
            reset(r, "unreadable reply");
            return;
        }
        fed += vec[i].iov_len;
    }
    evbuffer_drain(in, fed);
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
            reset(r, "protocol error in a reply");
            return;
        }
        if (!reply)
            break;
        deliver(r, reply);
        freeReplyObject(reply);
        if (!r->bev)
            return; /* a callback reset or freed the connection's socket */
    }
    arm_timer(r);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    cmx_redis *r = arg;
    if (what & BEV_EVENT_CONNECTED) {
        r->connected = 1;
        run_setup(r);
        return;
    }
    char why[256] = "connection closed";
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = r->ssl_ctx ? bufferevent_get_openssl_error(bev) : 0;
        if (e)
            ERR_error_string_n(e, why, sizeof why);
        else if (EVUTIL_SOCKET_ERROR())
            snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        if (!r->connected)
            atomic_fetch_add(&r->errors, 1);
    }
    reset(r, why);
}

static SSL *new_ssl(cmx_redis *r)
{
    if (!r->ssl_ctx) {
        r->ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (!r->ssl_ctx)
            return NULL;
        SSL_CTX_set_min_proto_version(r->ssl_ctx, TLS1_2_VERSION);
        if (r->addr.tls_verify) {
            int ok = r->addr.ca_file
                         ? SSL_CTX_load_verify_locations(r->ssl_ctx, r->addr.ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(r->ssl_ctx);
            if (!ok)
                cmx_warn("redis: cannot load CA certificates from %s",
                         r->addr.ca_file ? r->addr.ca_file : "the system store");
            SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_PEER, NULL);
        }
    }
    SSL *ssl = SSL_new(r->ssl_ctx);
    if (!ssl)
        return NULL;
    struct in6_addr ip;
    int literal = evutil_inet_pton(AF_INET, r->addr.url.host, &ip) == 1 ||
                  evutil_inet_pton(AF_INET6, r->addr.url.host, &ip) == 1;
    if (!literal)
        SSL_set_tlsext_host_name(ssl, r->addr.url.host);
    if (r->addr.tls_verify) {
        if (literal)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r->addr.url.host);
        else
            SSL_set1_host(ssl, r->addr.url.host);
    }
    return ssl;
}

static void start_connect(cmx_redis *r)
{
    r->reader = redisReaderCreate();
    if (r->reader && r->addr.url.tls) {
        SSL *ssl = new_ssl(r);
        if (ssl)
            r->bev = bufferevent_openssl_socket_new(r->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (ssl && !r->bev)
            SSL_free(ssl);
    } else if (r->reader) {
        r->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!r->bev) {
        reset(r, "cannot create a socket");
        return;
    }
    bufferevent_setcb(r->bev, on_read, NULL, on_event, r);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
    int rc;
    if (r->addr.url.is_unix) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, r->addr.url.host, strlen(r->addr.url.host) + 1);
        rc = bufferevent_socket_connect(r->bev, (struct sockaddr *)&sun, sizeof sun);
    } else {
        rc = bufferevent_socket_connect_hostname(r->bev, r->dns, AF_UNSPEC, r->addr.url.host,
                                                 r->addr.url.port);
    }
    if (rc != 0 && r->bev)
        reset(r, "cannot connect");
}

cmx_redis *cmx_redis_new(struct event_base *base, struct evdns_base *dns,
                         const cmx_redis_address *addr, uint32_t timeout_ms,
                         const cmx_redis_hooks *hooks, cmx_error *err)
{
    cmx_redis *r = calloc(1, sizeof *r);
    if (!r || copy_address(&r->addr, addr) != 0) {
        if (r)
            cmx_redis_address_free(&r->addr);
        free(r);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->base = base;
    r->dns = dns;
    r->timeout_ms = timeout_ms ? timeout_ms : 1;
    if (hooks)
        r->hooks = *hooks;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->timer = evtimer_new(base, on_timer, r);
    r->reconnect = evtimer_new(base, on_reconnect, r);
    r->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, r);
    struct timeval beat = {HEARTBEAT_MS / 1000, (HEARTBEAT_MS % 1000) * 1000};
    if (!r->timer || !r->reconnect || !r->heartbeat || event_add(r->heartbeat, &beat) != 0) {
        cmx_redis_free(r);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    start_connect(r);
    return r;
}

void cmx_redis_free(cmx_redis *r)
{
    if (!r)
        return;
    r->up = r->setting_up = 0;
    fail_pending(r);
    if (r->bev)
        bufferevent_free(r->bev);
    if (r->reader)
        redisReaderFree(r->reader);
    if (r->timer)
        event_free(r->timer);
    if (r->reconnect)
        event_free(r->reconnect);
    if (r->heartbeat)
        event_free(r->heartbeat);
    if (r->ssl_ctx)
        SSL_CTX_free(r->ssl_ctx);
    free(r->ops);
    cmx_redis_address_free(&r->addr);
    free(r);
}

int cmx_redis_is_up(const cmx_redis *r)
{
    return r && r->up;
}

uint64_t cmx_redis_command(cmx_redis *r, cmx_redis_reply_cb cb, void *ctx, int argc,
                           const char **argv, const size_t *lens)
{
    if (!r->up)
        return 0;
    return send_command(r, cb, ctx, argc, argv, lens);
}

int cmx_redis_setup_command(cmx_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->setting_up)
        return -1;
    return send_command(r, on_setup_reply, r, argc, argv, lens) ? 0 : -1;
}

int cmx_redis_send_unanswered(cmx_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->up)
        return -1;
    return write_command(r, argc, argv, lens);
}

void cmx_redis_get_stats(const cmx_redis *r, cmx_redis_stats *out)
{
    out->timeouts = atomic_load(&((cmx_redis *)r)->timeouts);
    out->errors = atomic_load(&((cmx_redis *)r)->errors);
    out->disconnects = atomic_load(&((cmx_redis *)r)->disconnects);
}
