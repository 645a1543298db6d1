/* credential_share.c — the process's credential caches, one per credential,
 * and the workers' handles on them (see credential_share.h).
 *
 * The registry of shares is this module's own global state: a list under
 * one lock, touched only when a worker's provider is made or freed.  Each
 * share has its own lock for its value, its fetcher and the workers waiting
 * for news.  A worker that is told news only gets a byte on its eventfd;
 * it reads the share itself, on its own thread. */
#include "credential_share.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "providers/sigv4.h"
#include "core/wipe.h"

struct cmx_credential_share {
    char *key;
    int refs; /* under registry_lock */
    struct cmx_credential_share *next;
    pthread_mutex_t lock;
    _Atomic uint64_t gen; /* bumped when the value changes (or goes) */
    cmx_buf value;
    int has_value;
    uint64_t expires_us, refresh_us;
    cmx_credential_local *fetcher; /* the worker whose fetch is in flight */
    cmx_error failure;
    uint64_t failed_until_us;
    cmx_credential_local *subscribers; /* workers waiting for news */
    _Atomic uint64_t fetches;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static cmx_credential_share *registry;

/* Forgets a value; the buffer is a secret one from then on, so what is
 * written into it next never leaves a copy behind when it grows. */
static void wipe(cmx_buf *b)
{
    cmx_wipe(b->data, b->cap);
    cmx_buf_free(b);
    b->secret = 1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    cmx_credential_local *l = arg;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    l->on_news(l->ctx);
}

static cmx_credential_share *share_get(const char *key)
{
    pthread_mutex_lock(&registry_lock);
    cmx_credential_share *s = registry;
    while (s && strcmp(s->key, key) != 0)
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s))) {
        s->key = strdup(key);
        if (!s->key) {
            free(s);
            s = NULL;
        } else {
            pthread_mutex_init(&s->lock, NULL);
            s->next = registry;
            registry = s;
        }
    }
    if (s)
        s->refs++;
    pthread_mutex_unlock(&registry_lock);
    return s;
}

static void share_put(cmx_credential_share *s)
{
    pthread_mutex_lock(&registry_lock);
    int last = --s->refs == 0;
    if (last) {
        cmx_credential_share **p = &registry;
        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
    }
    pthread_mutex_unlock(&registry_lock);
    if (!last)
        return;
    wipe(&s->value);
    pthread_mutex_destroy(&s->lock);
    free(s->key);
    free(s);
}

cmx_err cmx_credential_local_init(cmx_credential_local *l, const char *key, struct event_base *base,
                                  void (*on_news)(void *ctx), void *ctx, cmx_error *err)
{
    memset(l, 0, sizeof *l);
    l->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->fd < 0)
        return cmx_error_set(err, CMX_ERR_IO, "eventfd: %s", strerror(errno));
    l->fd_open = 1;
    l->on_news = on_news;
    l->ctx = ctx;
    l->wake = event_new(base, l->fd, EV_READ | EV_PERSIST, on_wake, l);
    if (!l->wake || event_add(l->wake, NULL) != 0) {
        cmx_credential_local_release(l);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    l->share = share_get(key);
    if (!l->share) {
        cmx_credential_local_release(l);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    return CMX_OK;
}

/* Under the share's lock: every waiting worker gets a byte on its eventfd. */
static void wake_subscribers(cmx_credential_share *s)
{
    cmx_credential_local *l = s->subscribers;
    s->subscribers = NULL;
    while (l) {
        cmx_credential_local *next = l->next_subscriber;
        l->subscribed = 0;
        l->next_subscriber = NULL;
        uint64_t one = 1;
        ssize_t r = write(l->fd, &one, sizeof one);
        (void)r;
        l = next;
    }
}

static void unsubscribe(cmx_credential_share *s, cmx_credential_local *l)
{
    for (cmx_credential_local **p = &s->subscribers; *p; p = &(*p)->next_subscriber) {
        if (*p == l) {
            *p = l->next_subscriber;
            break;
        }
    }
    l->subscribed = 0;
    l->next_subscriber = NULL;
}

void cmx_credential_local_release(cmx_credential_local *l)
{
    cmx_credential_share *s = l->share;
    if (s) {
        pthread_mutex_lock(&s->lock);
        if (l->subscribed)
            unsubscribe(s, l);
        if (s->fetcher == l) {
            s->fetcher = NULL;
            wake_subscribers(s); /* one of them fetches instead */
        }
        pthread_mutex_unlock(&s->lock);
        share_put(s);
    }
    if (l->wake)
        event_free(l->wake);
    if (l->fd_open)
        close(l->fd);
    wipe(&l->value);
    memset(l, 0, sizeof *l);
}

/* Under the lock: brings the worker's copy up to the share's generation. */
static void copy_value(cmx_credential_local *l, cmx_credential_share *s)
{
    uint64_t gen = atomic_load(&s->gen);
    if (gen == l->seen_gen && l->has_value == s->has_value)
        return;
    wipe(&l->value);
    l->has_value = s->has_value && cmx_buf_append(&l->value, s->value.data, s->value.len) == 0 &&
                   cmx_buf_append(&l->value, "", 1) == 0;
    if (l->has_value)
        l->value.len--; /* NUL-terminated for token strings, not counted */
    l->refresh_us = s->refresh_us;
    l->seen_gen = gen;
    l->changed = 1;
}

cmx_credential_state cmx_credential_local_get(cmx_credential_local *l, uint64_t now_us,
                                              cmx_error *err)
{
    cmx_credential_share *s = l->share;
    /* The request path: the worker's copy is current and not yet due. */
    if (l->has_value && atomic_load_explicit(&s->gen, memory_order_acquire) == l->seen_gen &&
        (l->refresh_us == 0 || now_us < l->refresh_us))
        return CMX_CREDENTIAL_FRESH;

    cmx_credential_state state;
    pthread_mutex_lock(&s->lock);
    copy_value(l, s);
    int valid = s->has_value && l->has_value && (s->expires_us == 0 || now_us < s->expires_us);
    if (valid) {
        state = CMX_CREDENTIAL_FRESH;
        if (s->refresh_us && now_us >= s->refresh_us && !s->fetcher &&
            now_us >= s->failed_until_us) {
            s->fetcher = l;
            atomic_fetch_add(&s->fetches, 1);
            state = CMX_CREDENTIAL_REFRESH;
        }
    } else if (s->fetcher) {
        if (s->fetcher != l && !l->subscribed) {
            l->subscribed = 1;
            l->next_subscriber = s->subscribers;
            s->subscribers = l;
        }
        state = CMX_CREDENTIAL_WAIT;
    } else if (now_us < s->failed_until_us) {
        *err = s->failure;
        state = CMX_CREDENTIAL_FAILED;
    } else {
        s->fetcher = l;
        atomic_fetch_add(&s->fetches, 1);
        state = CMX_CREDENTIAL_FETCH;
    }
    pthread_mutex_unlock(&s->lock);
    return state;
}

void cmx_credential_local_publish(cmx_credential_local *l, const void *value, size_t len,
                                  uint64_t expires_us, uint64_t refresh_us)
{
    cmx_credential_share *s = l->share;
    if (expires_us && (!refresh_us || refresh_us > expires_us))
        refresh_us = expires_us;
    pthread_mutex_lock(&s->lock);
    wipe(&s->value);
    s->has_value = cmx_buf_append(&s->value, value, len) == 0;
    s->expires_us = expires_us;
    s->refresh_us = refresh_us;
    s->failed_until_us = 0;
    atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
    if (s->fetcher == l)
        s->fetcher = NULL;
    copy_value(l, s);
    wake_subscribers(s);
    pthread_mutex_unlock(&s->lock);
}

void cmx_credential_local_publish_failure(cmx_credential_local *l, const cmx_error *err,
                                          uint64_t hold_until_us)
{
    cmx_credential_share *s = l->share;
    pthread_mutex_lock(&s->lock);
    s->failure = *err;
    s->failed_until_us = hold_until_us;
    if (s->fetcher == l)
        s->fetcher = NULL;
    wake_subscribers(s);
    pthread_mutex_unlock(&s->lock);
}

void cmx_credential_local_abandon(cmx_credential_local *l)
{
    cmx_credential_share *s = l->share;
    pthread_mutex_lock(&s->lock);
    if (s->fetcher == l) {
        s->fetcher = NULL;
        wake_subscribers(s);
    }
    pthread_mutex_unlock(&s->lock);
}

void cmx_credential_local_invalidate(cmx_credential_local *l, const void *value, size_t len)
{
    cmx_credential_share *s = l->share;
    pthread_mutex_lock(&s->lock);
    if (s->has_value && s->value.len == len && memcmp(s->value.data, value, len) == 0) {
        wipe(&s->value);
        s->has_value = 0;
        s->expires_us = s->refresh_us = 0;
        atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
    }
    pthread_mutex_unlock(&s->lock);
}

int cmx_credential_local_settle(cmx_credential_local *l, uint64_t now_us,
                                int (*start_fetch)(void *ctx, cmx_error *err), void *ctx,
                                cmx_error *err)
{
    switch (cmx_credential_local_get(l, now_us, err)) {
    case CMX_CREDENTIAL_FRESH: return 1;
    case CMX_CREDENTIAL_REFRESH: {
        cmx_error ignored;
        if (start_fetch(ctx, &ignored) != 0) /* the current value still serves */
            cmx_credential_local_abandon(l);
        return 1;
    }
    case CMX_CREDENTIAL_FETCH:
        if (start_fetch(ctx, err) == 0)
            return 0;
        cmx_credential_local_abandon(l);
        return -1;
    case CMX_CREDENTIAL_WAIT: return 0;
    case CMX_CREDENTIAL_FAILED: break;
    }
    return -1;
}

uint64_t cmx_credential_share_fetches(const cmx_credential_local *l)
{
    return l->share ? atomic_load(&l->share->fetches) : 0;
}

cmx_err cmx_credential_local_join(cmx_credential_local *l, const char *prefix, cmx_buf *material,
                                  struct event_base *base, void (*on_news)(void *ctx), void *ctx,
                                  cmx_error *err)
{
    char hex[CMX_SIGV4_HEX_LEN + 1];
    char key[256];
    int ok =
        material->data && cmx_sigv4_sha256_hex(material->data, material->len, hex, NULL) == CMX_OK;
    wipe(material);
    if (!ok) {
        memset(l, 0, sizeof *l);
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    snprintf(key, sizeof key, "%s%s", prefix, hex);
    return cmx_credential_local_init(l, key, base, on_news, ctx, err);
}
