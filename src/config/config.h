/* config.h — the YAML configuration as an immutable snapshot.
 *
 * cmx_config_load() reads one YAML file (libyaml), resolves `env:NAME` and
 * `file:PATH` secret references, applies defaults and validates everything,
 * collecting every problem as "FILE:LINE:COL: what was expected" in a
 * cmx_config_diag instead of stopping at the first.  A snapshot is never
 * changed after load; it is reference-counted so a reload can swap it while
 * in-flight requests finish on the old one.
 *
 * Top-level keys: server, upstream, providers, models, pricing, state,
 * governance, keys, teams, audit (see docs/config.md and docs/governance.md).
 * A provider's own keys are declared by its module (config_module.h);
 * config/ reads them generically and knows no provider by name. */
#ifndef CMX_CONFIG_CONFIG_H
#define CMX_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct cmx_config_diag {
    char **errors; /* "file:line:col: message" */
    size_t n_errors;
    char **warnings;
    size_t n_warnings;
} cmx_config_diag;

void cmx_config_diag_free(cmx_config_diag *d);

typedef struct cmx_timeouts_config {
    uint32_t connect_ms;    /* default 5000 */
    uint32_t first_byte_ms; /* default 60000 */
    uint32_t idle_ms;       /* default 30000 */
    uint32_t total_ms;      /* default 600000 */
} cmx_timeouts_config;

/* Active health checks: a cheap request to the provider every interval;
 * `unhealthy_threshold` failures in a row take its targets out of routing,
 * `healthy_threshold` successes bring them back. */
typedef struct cmx_health_check_config {
    int enabled;                  /* default 0 */
    uint32_t interval_ms;         /* default 15000 */
    uint32_t timeout_ms;          /* default 5000 */
    char *path;                   /* default "/models" (after base_url) */
    uint32_t unhealthy_threshold; /* default 2 */
    uint32_t healthy_threshold;   /* default 1 */
} cmx_health_check_config;

struct cmx_provider_schema;

/* One configured provider.  The settings every provider shares are here;
 * the rest is the provider module's own, in `settings` (a struct its
 * config header declares, read through the module's key table: see
 * config/config_module.h). */
typedef struct cmx_provider_config {
    char *name;
    const char *type_name;                    /* "openai", "bedrock" ...: the module's type */
    const struct cmx_provider_schema *schema; /* the module's keys; NULL when `type` was bad */
    char *base_url;  /* the service's origin and path prefix, without a trailing '/' (each
                        module names the key: base_url, endpoint, endpoint_url) */
    int tls_verify;  /* default 1 */
    int http2;       /* `http2:`: off 0, auto 1 (default), on 2, the values of
                        cmx_http2_mode (http/upstream.h, checked there) */
    char *ca_file;   /* NULL: system store */
    char *residency; /* region tag such as "eu"; NULL: none declared */
    cmx_timeouts_config timeouts;
    cmx_health_check_config health;
    void *settings; /* the module's settings struct, or NULL */
    int line;       /* where it was defined, for messages */
} cmx_provider_config;

/* `structured_output:` of a target: the model's native structured output
 * where known to exist (auto), always native, or always a forced tool. */
enum { CMX_STRUCTURED_OUTPUT_AUTO = 0, CMX_STRUCTURED_OUTPUT_NATIVE, CMX_STRUCTURED_OUTPUT_TOOL };
#define CMX_STRUCTURED_OUTPUT_NAMES "auto", "native", "tool"

/* `reasoning:` of a target: what reasoning_effort becomes.  budget: a
 * thinking token budget (Claude's budget_tokens, Gemini's thinkingBudget);
 * effort: a level (Claude's adaptive thinking with output_config.effort,
 * Gemini's thinkingLevel); auto: whichever the model takes; off: ignored. */
enum { CMX_REASONING_AUTO = 0, CMX_REASONING_BUDGET, CMX_REASONING_EFFORT, CMX_REASONING_OFF };
#define CMX_REASONING_NAMES "auto", "budget", "effort", "off"
/* reasoning_effort levels that think: minimal, low, medium, high. */
#define CMX_REASONING_LEVELS 4
#define CMX_REASONING_LEVEL_NAMES "minimal", "low", "medium", "high"

/* `cache_prompt:` of a group: where the gateway marks the stable prefix of
 * a request for Claude's prompt cache when the client marked nothing. */
#define CMX_CACHE_PROMPT_SYSTEM 1u
#define CMX_CACHE_PROMPT_TOOLS 2u
#define CMX_CACHE_PROMPT_LAST_USER 4u

/* A target's price per 1M tokens, USD.  Set by `targets[].price` in the
 * config, or resolved from the price list after load (governance/pricing.h);
 * known == 0 means the cost of its requests is unknown. */
typedef struct cmx_target_price {
    int known;
    int from_config;     /* 1: the target's own `price:`; 0: the price list */
    double input;        /* prompt tokens not read from a cache */
    double output;       /* completion tokens */
    double cached_input; /* prompt tokens read from a cache; default: input */
    double cache_write;  /* prompt tokens written to a cache (5-minute lifetime); default: input */
    double cache_write_1h; /* ... written for one hour; default: cache_write */
} cmx_target_price;

/* The cache prices a price left out (has_*: 0) take their defaults: reads
 * and writes at the input price, one-hour writes at the write price. */
void cmx_price_defaults(cmx_target_price *p, int has_cached, int has_write, int has_write_1h);

typedef struct cmx_target_config {
    char *provider_name;
    const cmx_provider_config *provider; /* resolved at load */
    char *model;                         /* upstream model name */
    uint32_t weight;                     /* weighted/random strategies; default 1 */
    uint64_t rpm; /* requests per minute this deployment takes; 0 = no limit */
    uint64_t tpm; /* tokens per minute; 0 = no limit */
    cmx_target_price price;
    int drop_unsupported_params; /* the group's drop_unsupported_params, copied at load so a
                                    translating provider sees it with the target it serves */
    /* How the portable request fields reach this target (docs/providers.md). */
    int structured_output; /* CMX_STRUCTURED_OUTPUT_*: response_format's native form or a tool */
    int reasoning;         /* CMX_REASONING_*: how reasoning_effort becomes thinking */
    uint32_t reasoning_budgets[CMX_REASONING_LEVELS]; /* thinking tokens per level; 0: default */
    unsigned cache_prompt; /* the group's cache_prompt (CMX_CACHE_PROMPT_* bits), copied */
} cmx_target_config;

/* Strategy names as written in config; the router maps them to its own. */
#define CMX_STRATEGY_NAMES                                                                         \
    "priority", "round-robin", "weighted", "random", "least-busy", "least-latency", "cheapest",    \
        "cascade"

typedef struct cmx_breaker_settings {
    int enabled;                   /* default 1 */
    uint32_t consecutive_failures; /* default 5 */
    uint32_t error_rate_percent;   /* default 50; 0 = off */
    uint32_t window_ms;            /* default 30000 */
    uint32_t min_requests;         /* default 20 */
    uint32_t cooldown_ms;          /* default 30000 */
    uint32_t max_cooldown_ms;      /* default 300000 */
    uint32_t half_open_probes;     /* default 1 */
} cmx_breaker_settings;

typedef struct cmx_retry_settings {
    uint32_t base_ms;            /* default 100 */
    uint32_t cap_ms;             /* default 5000 */
    uint32_t max_retry_after_ms; /* longest server hint worth waiting for; default 30000 */
    uint32_t budget_percent;     /* retries at most this share of requests; default 20 */
    uint32_t min_retries;        /* per window, whatever the share; default 10 */
} cmx_retry_settings;

/* Other groups to continue with: after every target failed, after a
 * context-window error, after a content-policy refusal. */
typedef enum {
    CMX_FALLBACK_ANY = 0,
    CMX_FALLBACK_CONTEXT_WINDOW,
    CMX_FALLBACK_CONTENT_POLICY,
    CMX_FALLBACK__COUNT
} cmx_fallback_kind;

typedef struct cmx_fallback_list {
    char **names;
    const struct cmx_model_group **groups; /* resolved at load */
    size_t n;
} cmx_fallback_list;

/* The cascade strategy's check of an answer before it is accepted. */
typedef struct cmx_cascade_config {
    uint32_t min_length;     /* shorter answers escalate; default 1 */
    char **refusal_prefixes; /* answers starting so escalate (case-insensitive) */
    size_t n_refusal_prefixes;
    uint32_t max_escalations; /* default 2 */
    double max_cost_usd;      /* stop escalating past this spend; 0 = no cap */
} cmx_cascade_config;

/* The exact response cache of a group (`cache:`). */
typedef struct cmx_cache_settings {
    int enabled;      /* default 0 */
    uint32_t ttl_ms;  /* default 600000 (10 min) */
    int scope_global; /* 0 (default): one cache per client key; 1: shared by all keys */
} cmx_cache_settings;

typedef struct cmx_model_group {
    char *name; /* what clients send as "model" */
    cmx_target_config *targets;
    size_t n_targets;
    char *strategy;       /* one of CMX_STRATEGY_NAMES; default "priority" */
    uint32_t num_retries; /* extra tries on the same target for transient errors; default 0 */
    uint32_t timeout_ms;  /* deadline for the whole request, all attempts; default 600000 */
    cmx_retry_settings retry;
    cmx_breaker_settings breaker;
    char *residency;             /* only targets whose provider has this tag; NULL: any */
    int drop_unsupported_params; /* all targets drop what their provider cannot do; default 0 */
    unsigned cache_prompt;       /* CMX_CACHE_PROMPT_* bits; default 0 (off) */
    cmx_fallback_list fallbacks[CMX_FALLBACK__COUNT];
    cmx_cascade_config cascade;
    cmx_target_config *shadow; /* standby target mirrored to, or NULL */
    double shadow_percent;     /* share of requests mirrored, 0..100 */
    cmx_cache_settings cache;
    int line;
} cmx_model_group;

typedef struct cmx_server_config {
    char *listen_host;             /* default "127.0.0.1" */
    int listen_port;               /* default 4000 */
    int listen_configured;         /* the file names `server.listen` */
    int workers;                   /* default: number of CPUs */
    size_t max_body_bytes;         /* default 4 MiB */
    size_t max_header_bytes;       /* default 16 KiB */
    size_t max_headers;            /* default 100 */
    uint32_t header_timeout_ms;    /* default 10000 */
    uint32_t body_timeout_ms;      /* default 30000 */
    uint32_t keepalive_timeout_ms; /* default 75000 */
    uint32_t write_timeout_ms;     /* default 60000 */
    char **api_keys;               /* resolved client keys; empty = auth off */
    char **api_key_residency;      /* parallel: the key's residency tag, or NULL */
    size_t n_api_keys;
    char **admin_keys; /* resolved operator keys for /v1/status and /metrics;
                          empty = /v1/status refused, /metrics open */
    size_t n_admin_keys;
    int access_log; /* default 1 (stdout, JSON lines) */
    /* SIGTERM: /health/ready answers 503 at once while serving goes on for
     * drain_delay, then accepting stops and in-flight requests get up to
     * grace to finish. */
    uint32_t shutdown_drain_delay_ms; /* default 5000; 0: stop accepting at once */
    uint32_t shutdown_grace_ms;       /* default 30000 */
} cmx_server_config;

typedef struct cmx_upstream_config {
    size_t max_idle_per_origin;      /* default 32 */
    size_t max_conns_per_origin;     /* default 256 */
    uint32_t idle_expiry_ms;         /* default 60000 */
    uint32_t queue_timeout_ms;       /* longest wait for a connection slot; default 2000, 0: none */
    uint32_t http2_ping_interval_ms; /* PING an idle HTTP/2 connection; default 30000, 0: never */
    char *https_proxy;               /* NULL: from the environment */
    char *http_proxy;
    char *no_proxy;
} cmx_upstream_config;

typedef struct cmx_pricing_config {
    char *file; /* `pricing.file`, relative paths resolved against the
                   config's directory; NULL: the default lookup order */
} cmx_pricing_config;

/* `state`: where the fleet's shared state lives (state/state.h). */
typedef struct cmx_state_config {
    char *redis_url;        /* redis://, rediss:// or unix://; NULL: in-process state */
    char *redis_password;   /* resolved secret or NULL; never log it */
    char *key_prefix;       /* default "cmx:" */
    uint32_t timeout_ms;    /* longest wait for Redis; default 5 */
    int fail_closed;        /* limits refuse (503) while Redis is unavailable; default 0 */
    int tls_verify;         /* rediss://: verify the server; default 1 */
    char *ca_file;          /* rediss://: CA bundle; NULL: system store */
    size_t cache_max_bytes; /* the in-process response cache's bound; default 64 MiB */
} cmx_state_config;

/* A budget as written in the config (`budget: {usd, period, start, warn_at}`).
 * period is "total", "monthly" or "<N>d" (config/values.h). */
typedef struct cmx_budget_config {
    int set;
    double usd;
    char period[16];  /* default "monthly" */
    int64_t start_ms; /* where "<N>d" periods are counted from; default
                         1970-01-05T00:00:00Z, a Monday: days start at 00:00 UTC
                         and 7d periods on Mondays */
    double warn_at;   /* share of usd that warns; default governance.warn_at */
} cmx_budget_config;

/* What keys and teams share: allowed groups, limits, budget, tags. */
typedef struct cmx_principal_config {
    char *id;      /* the mapping key under keys: / teams: */
    char *name;    /* default: the id */
    char **models; /* group names or globs (`*`, `?`); none: every group */
    size_t n_models;
    uint64_t rpm, tpm;     /* 0: no limit */
    uint32_t max_parallel; /* 0: no limit */
    cmx_budget_config budget;
    int disabled;
    char **tag_names;
    char **tag_values;
    size_t n_tags;
    int line;
} cmx_principal_config;

/* keys.ID: a virtual key defined in the config (GitOps). */
typedef struct cmx_vkey_config {
    cmx_principal_config p;
    char *secret;       /* resolved `key:` secret; never log it */
    char *team;         /* a team id, or NULL */
    int64_t expires_ms; /* 0: never */
    char *residency;    /* region tag binding every request, or NULL */
} cmx_vkey_config;

typedef struct cmx_governance_config {
    int enabled;                /* a governance:, keys: or teams: section is present */
    char *store;                /* resolved store URL; may hold a password: never log it.
                                   default "sqlite:///var/lib/cloudmux/cloudmux.db" */
    char *pepper;               /* resolved secret for HMAC-SHA-256 digests, or NULL (SHA-256) */
    double warn_at;             /* default 0.8 */
    uint32_t poll_ms;           /* how often key changes are looked for; default 250 */
    uint32_t budget_sync_ms;    /* how often budgets are re-read from the ledger; default 1000 */
    uint32_t batch_rows;        /* ledger: commit when this many rows wait; default 2000 */
    uint32_t batch_interval_ms; /* ledger: commit at least this often; default 100 */
    uint32_t queue_rows;        /* ledger: rows that may wait in memory; default 16384 */
    uint64_t retention_ms;      /* ledger: raw rows kept this long; 0 = forever (default 90d) */
    int fail_closed;            /* ledger: refuse requests while it cannot write; default 0 */
    char *replica;              /* this process's name in the ledger; default hostname-pid */
} cmx_governance_config;

typedef enum { CMX_AUDIT_FSYNC_ALWAYS = 0, CMX_AUDIT_FSYNC_NEVER } cmx_audit_fsync;

typedef struct cmx_audit_config {
    char *file;                      /* JSON lines; NULL: no audit log */
    char *hmac_key;                  /* resolved secret, or NULL */
    cmx_audit_fsync fsync;           /* default always */
    uint32_t checkpoint_interval_ms; /* default 60000 */
    char *checkpoint_file;           /* default FILE.head */
    int requests;                    /* per-request records (metadata only); default 0 */
    size_t rotate_bytes;             /* rotate at this size; 0 (default): never */
} cmx_audit_config;

typedef struct cmx_config {
    atomic_int refs;
    char *path;
    cmx_server_config server;
    cmx_upstream_config upstream;
    cmx_provider_config *providers;
    size_t n_providers;
    cmx_model_group *models;
    size_t n_models;
    cmx_pricing_config pricing;
    cmx_governance_config governance;
    cmx_vkey_config *keys;
    size_t n_keys;
    cmx_principal_config *teams;
    size_t n_teams;
    cmx_audit_config audit;
    cmx_state_config state;
    /* Private to config/: name lookup built at load; NULL means a linear
     * search (small configs, or a snapshot built by hand in a test). */
    struct cmx_config_index *index;
} cmx_config;

/* Returns a snapshot with one reference, or NULL with diag->n_errors > 0.
 * Warnings (e.g. a secret written inline) are collected in either case. */
cmx_config *cmx_config_load(const char *path, cmx_config_diag *diag);
/* Same, from a string (for tests); `name` is used in messages. */
cmx_config *cmx_config_load_string(const char *yaml, size_t len, const char *name,
                                   cmx_config_diag *diag);

cmx_config *cmx_config_ref(cmx_config *c);
void cmx_config_unref(cmx_config *c);

const cmx_model_group *cmx_config_find_model(const cmx_config *c, const char *name, size_t len);
const cmx_provider_config *cmx_config_find_provider(const cmx_config *c, const char *name);

#endif
