/* breaker.c — the per-deployment circuit breaker; the state machine and the
 * locking rules are in breaker.h. */
#include "breaker.h"

#include <string.h>

cmx_breaker_config cmx_breaker_config_default(void)
{
    return (cmx_breaker_config){
        .consecutive_failures = 5,
        .error_rate_threshold = 50,
        .window_ms = 10000,
        .min_requests = 20,
        .cooldown_ms = 30000,
        .max_cooldown_ms = 300000,
        .half_open_probes = 1,
    };
}

bool cmx_breaker_counts_as_failure(cmx_err kind)
{
    switch (kind) {
    case CMX_ERR_RATE_LIMITED:
    case CMX_ERR_TIMEOUT:
    case CMX_ERR_UNAVAILABLE:
    case CMX_ERR_UPSTREAM_PROTOCOL:
    case CMX_ERR_PROVIDER_AUTH: return true;
    default: return false;
    }
}

const char *cmx_breaker_state_name(cmx_breaker_state s)
{
    switch (s) {
    case CMX_BREAKER_CLOSED: return "closed";
    case CMX_BREAKER_OPEN: return "open";
    case CMX_BREAKER_HALF_OPEN: return "half_open";
    }
    return "unknown";
}

cmx_err cmx_breaker_init(cmx_breaker *b, const cmx_breaker_config *cfg, cmx_error *err)
{
    if (cfg->error_rate_threshold > 100)
        return cmx_error_set(err, CMX_ERR_CONFIG, "breaker error_rate_threshold %u is over 100%%",
                             cfg->error_rate_threshold);
    if (cfg->error_rate_threshold && !cfg->window_ms)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "breaker error_rate_threshold needs a window_ms above 0");
    memset(b, 0, sizeof *b);
    if (pthread_mutex_init(&b->lock, NULL) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "breaker: cannot create its mutex");
    b->cfg = *cfg;
    if (!b->cfg.half_open_probes)
        b->cfg.half_open_probes = 1;
    b->cooldown_us = (uint64_t)cfg->cooldown_ms * 1000;
    atomic_init(&b->state, CMX_BREAKER_CLOSED);
    cmx_window_init(&b->window, (uint64_t)(cfg->window_ms ? cfg->window_ms : 1000) * 1000);
    return CMX_OK;
}

void cmx_breaker_destroy(cmx_breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

static void set_state(cmx_breaker *b, cmx_breaker_state s)
{
    atomic_store_explicit(&b->state, s, memory_order_release);
}

static void open_for_cooldown(cmx_breaker *b, uint64_t now_us)
{
    set_state(b, CMX_BREAKER_OPEN);
    b->open_until_us = now_us + b->cooldown_us;
    b->consecutive = 0;
    b->probes_admitted = b->probes_pending = b->probes_succeeded = 0;
    cmx_window_clear(&b->window);
    b->trips++;
}

/* The probe slots a half-open breaker has free at now_us, after forgetting
 * probes that have been silent for a whole cooldown (their worker lost them;
 * without this the breaker would stay half-open and refuse forever). */
static uint32_t free_probe_slots(cmx_breaker *b, uint64_t now_us)
{
    if (b->probes_admitted >= b->cfg.half_open_probes && b->probes_pending &&
        now_us - b->last_probe_us >= b->cooldown_us) {
        b->probes_admitted -= b->probes_pending;
        b->probes_pending = 0;
    }
    return b->cfg.half_open_probes - b->probes_admitted;
}

/* Under the lock: what allow() would answer; reserves a probe if `reserve`. */
static bool decide(cmx_breaker *b, uint64_t now_us, bool reserve)
{
    cmx_breaker_state s = atomic_load_explicit(&b->state, memory_order_relaxed);
    if (s == CMX_BREAKER_CLOSED)
        return true;
    if (s == CMX_BREAKER_OPEN) {
        if (now_us < b->open_until_us)
            return false;
        /* In a fleet only the lease holder probes. */
        if (b->fleet && now_us >= b->lease_until_us)
            return false;
        if (!reserve)
            return true;
        set_state(b, CMX_BREAKER_HALF_OPEN);
        b->probes_admitted = b->probes_pending = b->probes_succeeded = 0;
    }
    if (free_probe_slots(b, now_us) == 0)
        return false;
    if (reserve) {
        b->probes_admitted++;
        b->probes_pending++;
        b->last_probe_us = now_us;
    }
    return true;
}

bool cmx_breaker_allow(cmx_breaker *b, uint64_t now_us)
{
    if (atomic_load_explicit(&b->state, memory_order_acquire) == CMX_BREAKER_CLOSED)
        return true;
    pthread_mutex_lock(&b->lock);
    bool ok = decide(b, now_us, true);
    pthread_mutex_unlock(&b->lock);
    return ok;
}

bool cmx_breaker_would_allow(cmx_breaker *b, uint64_t now_us)
{
    if (atomic_load_explicit(&b->state, memory_order_acquire) == CMX_BREAKER_CLOSED)
        return true;
    pthread_mutex_lock(&b->lock);
    bool ok = decide(b, now_us, false);
    pthread_mutex_unlock(&b->lock);
    return ok;
}

/* A half-open verdict-less end: the slot is free for another probe. */
static void release_probe(cmx_breaker *b)
{
    if (atomic_load_explicit(&b->state, memory_order_relaxed) == CMX_BREAKER_HALF_OPEN &&
        b->probes_pending) {
        b->probes_pending--;
        b->probes_admitted--;
    }
}

void cmx_breaker_cancel(cmx_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    release_probe(b);
    pthread_mutex_unlock(&b->lock);
}

/* Back to closed with a fresh start: base cooldown, no counts, no lease. */
static void close_breaker(cmx_breaker *b)
{
    set_state(b, CMX_BREAKER_CLOSED);
    b->cooldown_us = (uint64_t)b->cfg.cooldown_ms * 1000;
    b->consecutive = 0;
    b->probes_admitted = b->probes_pending = b->probes_succeeded = 0;
    b->lease_until_us = 0;
    cmx_window_clear(&b->window);
}

void cmx_breaker_set_fleet(cmx_breaker *b, bool fleet)
{
    pthread_mutex_lock(&b->lock);
    b->fleet = fleet;
    pthread_mutex_unlock(&b->lock);
}

bool cmx_breaker_wants_lease(cmx_breaker *b, uint64_t now_us)
{
    if (!b->fleet || atomic_load_explicit(&b->state, memory_order_acquire) != CMX_BREAKER_OPEN)
        return false;
    pthread_mutex_lock(&b->lock);
    bool want = atomic_load_explicit(&b->state, memory_order_relaxed) == CMX_BREAKER_OPEN &&
                now_us >= b->open_until_us && now_us >= b->lease_until_us &&
                now_us >= b->lease_retry_us && !b->lease_asked;
    if (want)
        b->lease_asked = true;
    pthread_mutex_unlock(&b->lock);
    return want;
}

void cmx_breaker_lease_answer(cmx_breaker *b, uint64_t now_us, bool granted, uint32_t retry_ms)
{
    pthread_mutex_lock(&b->lock);
    b->lease_asked = false;
    if (granted)
        b->lease_until_us = now_us + b->cooldown_us;
    else
        b->lease_retry_us = now_us + (uint64_t)retry_ms * 1000;
    pthread_mutex_unlock(&b->lock);
}

void cmx_breaker_apply_remote(cmx_breaker *b, uint64_t now_us, bool open, uint64_t open_until_us,
                              uint64_t cooldown_us)
{
    pthread_mutex_lock(&b->lock);
    cmx_breaker_state s = atomic_load_explicit(&b->state, memory_order_relaxed);
    if (open) {
        if (s != CMX_BREAKER_OPEN || open_until_us > b->open_until_us) {
            if (cooldown_us)
                b->cooldown_us = cooldown_us;
            open_for_cooldown(b, now_us);
            b->open_until_us = open_until_us;
            b->lease_until_us = 0;
        }
    } else if (s != CMX_BREAKER_CLOSED) {
        close_breaker(b);
    }
    pthread_mutex_unlock(&b->lock);
}

uint64_t cmx_breaker_cooldown_us(cmx_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t c = b->cooldown_us;
    pthread_mutex_unlock(&b->lock);
    return c;
}

static cmx_breaker_transition record_closed(cmx_breaker *b, uint64_t now_us, bool failed)
{
    cmx_window_add(&b->window, now_us, 1, failed);
    if (!failed) {
        b->consecutive = 0;
        return CMX_BREAKER_UNCHANGED;
    }
    b->consecutive++;
    bool trip = b->cfg.consecutive_failures && b->consecutive >= b->cfg.consecutive_failures;
    if (!trip && b->cfg.error_rate_threshold) {
        int64_t t[2];
        cmx_window_totals(&b->window, now_us, t);
        trip = t[0] >= (int64_t)b->cfg.min_requests && t[0] > 0 &&
               t[1] * 100 >= (int64_t)b->cfg.error_rate_threshold * t[0];
    }
    if (!trip)
        return CMX_BREAKER_UNCHANGED;
    open_for_cooldown(b, now_us);
    return CMX_BREAKER_TRIPPED;
}

/* Results with no probe pending come from attempts admitted before the
 * breaker opened; they are not evidence about the probing and are dropped. */
static cmx_breaker_transition record_half_open(cmx_breaker *b, uint64_t now_us, bool failed)
{
    if (!b->probes_pending)
        return CMX_BREAKER_UNCHANGED;
    b->probes_pending--;
    if (failed) {
        uint64_t max_us = (uint64_t)b->cfg.max_cooldown_ms * 1000;
        if (max_us > b->cooldown_us)
            b->cooldown_us = b->cooldown_us * 2 < max_us ? b->cooldown_us * 2 : max_us;
        open_for_cooldown(b, now_us);
        b->lease_until_us = 0;
        return CMX_BREAKER_REOPENED;
    }
    if (++b->probes_succeeded < b->cfg.half_open_probes)
        return CMX_BREAKER_UNCHANGED;
    close_breaker(b);
    return CMX_BREAKER_RECOVERED;
}

cmx_breaker_transition cmx_breaker_record(cmx_breaker *b, uint64_t now_us, cmx_err kind)
{
    bool failed = cmx_breaker_counts_as_failure(kind);
    cmx_breaker_transition t = CMX_BREAKER_UNCHANGED;
    pthread_mutex_lock(&b->lock);
    if (kind != CMX_OK && !failed) {
        release_probe(b); /* the client's fault: no news about the deployment */
    } else {
        switch ((cmx_breaker_state)atomic_load_explicit(&b->state, memory_order_relaxed)) {
        case CMX_BREAKER_CLOSED: t = record_closed(b, now_us, failed); break;
        case CMX_BREAKER_HALF_OPEN: t = record_half_open(b, now_us, failed); break;
        case CMX_BREAKER_OPEN: break; /* late results of attempts started before it opened */
        }
    }
    pthread_mutex_unlock(&b->lock);
    return t;
}

void cmx_breaker_get_status(cmx_breaker *b, uint64_t now_us, cmx_breaker_status *out)
{
    pthread_mutex_lock(&b->lock);
    cmx_breaker_state s = atomic_load_explicit(&b->state, memory_order_relaxed);
    if (s == CMX_BREAKER_OPEN && now_us >= b->open_until_us &&
        (!b->fleet || now_us < b->lease_until_us))
        s = CMX_BREAKER_HALF_OPEN;
    int64_t t[2];
    cmx_window_totals(&b->window, now_us, t);
    *out = (cmx_breaker_status){
        .state = s,
        .open_until_us = b->open_until_us,
        .consecutive_failures = b->consecutive,
        .window_requests = t[0],
        .window_failures = t[1],
        .cooldown_ms = (uint32_t)(b->cooldown_us / 1000),
        .trips = b->trips,
    };
    pthread_mutex_unlock(&b->lock);
}

cmx_breaker_state cmx_breaker_state_at(cmx_breaker *b, uint64_t now_us)
{
    cmx_breaker_status st;
    cmx_breaker_get_status(b, now_us, &st);
    return st.state;
}
