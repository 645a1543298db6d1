/* store.h — durable records behind one interface: virtual keys and the
 * digests of their secrets, teams, the spend ledger and its hourly
 * roll-ups, on SQLite (one node) or PostgreSQL (a fleet sharing them).
 *
 * The store keeps what governance/ decides; it validates nothing beyond what
 * SQL does and knows nothing of budgets' meaning.  Every change to keys or
 * teams bumps one change counter in the same transaction, so other
 * processes notice a change with one cheap read (cmx_store_changes).  Ledger
 * rows and the roll-ups they add to are written in one transaction, so a
 * report from the roll-ups always equals the raw rows it summarises.
 *
 * A cmx_store is one connection: one thread uses it at a time.  It is never
 * used on a worker's event loop. */
#ifndef CMX_STORE_STORE_H
#define CMX_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct cmx_store cmx_store;

/* Opens the store at `url` (sqlite:///PATH, postgres://...) and creates or
 * upgrades its tables. */
cmx_store *cmx_store_open(const char *url, cmx_error *err);
void cmx_store_close(cmx_store *s);
/* "sqlite" or "postgres". */
const char *cmx_store_kind(const cmx_store *s);

/* ---- keys and teams ------------------------------------------------------ */

#define CMX_PERIOD_TEXT 16

typedef struct cmx_budget_rec {
    int set;                      /* 0: no budget */
    double usd;                   /* the cap */
    char period[CMX_PERIOD_TEXT]; /* "total", "monthly" or "<N>d" */
    int64_t start_ms;             /* where the periods are counted from */
    double warn_at;               /* share of the cap that warns (0..1) */
} cmx_budget_rec;

typedef struct cmx_limits_rec {
    int64_t rpm, tpm, max_parallel; /* 0: no limit */
} cmx_limits_rec;

typedef struct cmx_team_rec {
    char *id;
    char *name;
    char *models_json; /* JSON array of group names or globs; NULL: any group */
    cmx_limits_rec limits;
    cmx_budget_rec budget;
    char *tags_json; /* JSON object of strings; NULL: none */
    int disabled;
    int64_t created_ms, updated_ms;
} cmx_team_rec;

typedef struct cmx_key_rec {
    char *id;
    char *name;
    char *team_id; /* NULL: no team */
    char *models_json;
    cmx_limits_rec limits;
    cmx_budget_rec budget;
    int64_t expires_ms; /* 0: never */
    int64_t revoked_ms; /* 0: not revoked */
    char *residency;
    int disabled;
    char *tags_json;
    char *hint; /* "cmx-…wXyZ": tells keys apart, says nothing usable */
    int64_t created_ms, updated_ms;
} cmx_key_rec;

#define CMX_DIGEST_HEX 65 /* 64 hex digits and a NUL */

/* One secret of a key, by digest.  A rotated-out secret keeps working until
 * not_after_ms (0: no end). */
typedef struct cmx_secret_rec {
    char *key_id;
    char digest[CMX_DIGEST_HEX];
    int64_t created_ms;
    int64_t not_after_ms;
} cmx_secret_rec;

typedef struct cmx_store_snapshot {
    cmx_team_rec *teams;
    size_t n_teams;
    cmx_key_rec *keys;
    size_t n_keys;
    cmx_secret_rec *secrets;
    size_t n_secrets;
} cmx_store_snapshot;

void cmx_team_rec_free(cmx_team_rec *t);
void cmx_key_rec_free(cmx_key_rec *k);
void cmx_store_snapshot_free(cmx_store_snapshot *snap);

/* The change counter: any write to keys, teams or secrets increases it. */
cmx_err cmx_store_changes(cmx_store *s, int64_t *out, cmx_error *err);
/* Every team, key and live secret. */
cmx_err cmx_store_load(cmx_store *s, cmx_store_snapshot *out, cmx_error *err);

/* CMX_ERR_NOT_FOUND when there is none. */
cmx_err cmx_store_get_team(cmx_store *s, const char *id, cmx_team_rec *out, cmx_error *err);
cmx_err cmx_store_get_key(cmx_store *s, const char *id, cmx_key_rec *out, cmx_error *err);
/* CMX_ERR_CONFLICT when the id is taken. */
cmx_err cmx_store_create_team(cmx_store *s, const cmx_team_rec *t, cmx_error *err);
/* The whole record is written; CMX_ERR_NOT_FOUND when it does not exist. */
cmx_err cmx_store_update_team(cmx_store *s, const cmx_team_rec *t, cmx_error *err);
/* A key with its first secret. */
cmx_err cmx_store_create_key(cmx_store *s, const cmx_key_rec *k, const char *digest_hex,
                             cmx_error *err);
cmx_err cmx_store_update_key(cmx_store *s, const cmx_key_rec *k, cmx_error *err);
/* Adds a secret to key `id`; its other secrets stop working at old_not_after_ms
 * (those already ending sooner keep their end); secrets ended before now_ms
 * are deleted. */
cmx_err cmx_store_rotate_key(cmx_store *s, const char *id, const char *digest_hex, const char *hint,
                             int64_t now_ms, int64_t old_not_after_ms, cmx_error *err);

/* ---- the ledger ------------------------------------------------------------ */

typedef enum {
    CMX_LEDGER_REQUEST_ID = 0,
    CMX_LEDGER_KEY,
    CMX_LEDGER_TEAM,
    CMX_LEDGER_GROUP,
    CMX_LEDGER_PROVIDER,
    CMX_LEDGER_MODEL,
    CMX_LEDGER_ERROR,
    CMX_LEDGER__STRINGS
} cmx_ledger_string;

#define CMX_LEDGER_TEXT 552 /* the longest strings all fit: see store_ledger.c */

/* One request's record: fixed size, strings packed inside, so it can be
 * queued with no allocation.  Empty strings are stored as NULL. */
typedef struct cmx_ledger_row {
    int64_t ts_ms;
    int64_t prompt_tokens; /* -1: unknown */
    int64_t completion_tokens;
    int64_t cached_tokens;
    double cost_usd; /* < 0: unknown */
    uint32_t latency_ms;
    uint16_t status;
    uint16_t attempts;
    uint8_t cache_hit;
    uint8_t estimated; /* usage estimated (a cut stream) */
    uint16_t offsets[CMX_LEDGER__STRINGS];
    char text[CMX_LEDGER_TEXT];
} cmx_ledger_row;

/* Packs the strings (NULL for none), each cut to fit its share. */
void cmx_ledger_row_set_strings(cmx_ledger_row *row,
                                const char *const strings[CMX_LEDGER__STRINGS]);
const char *cmx_ledger_row_string(const cmx_ledger_row *row, cmx_ledger_string which);

/* Writes rows and adds them to the hourly roll-ups, in one transaction.
 * `replica` names the writing process in the raw rows. */
cmx_err cmx_store_write_ledger(cmx_store *s, const cmx_ledger_row *rows, size_t n,
                               const char *replica, cmx_error *err);
/* Deletes up to `limit` raw rows older than before_ms (roll-ups stay). */
cmx_err cmx_store_prune_ledger(cmx_store *s, int64_t before_ms, size_t limit, size_t *deleted,
                               cmx_error *err);

/* Spend per key (or team) from the roll-ups since since_ms, every replica's. */
typedef enum { CMX_SPEND_BY_KEY, CMX_SPEND_BY_TEAM } cmx_spend_scope;
typedef void (*cmx_spend_cb)(void *ctx, const char *id, double usd);
cmx_err cmx_store_spend_since(cmx_store *s, cmx_spend_scope scope, int64_t since_ms,
                              cmx_spend_cb cb, void *ctx, cmx_error *err);

/* ---- reports ------------------------------------------------------------- */

typedef enum {
    CMX_DIM_DAY = 0,
    CMX_DIM_HOUR,
    CMX_DIM_KEY,
    CMX_DIM_TEAM,
    CMX_DIM_GROUP,
    CMX_DIM_PROVIDER,
    CMX_DIM_MODEL,
    CMX_DIM__COUNT
} cmx_spend_dim;

/* "day", "hour", "key", "team", "group", "provider", "model". */
const char *cmx_spend_dim_name(cmx_spend_dim d);

typedef struct cmx_spend_query {
    int64_t from_ms; /* hour-aligned, inclusive */
    int64_t to_ms;   /* hour-aligned, exclusive */
    cmx_spend_dim by[CMX_DIM__COUNT];
    size_t n_by;
    size_t top; /* 0: every line, in dimension order; N: the N costliest */
} cmx_spend_query;

typedef struct cmx_spend_totals {
    int64_t requests, errors;
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    double cost_usd;
    int64_t unpriced;  /* requests whose cost is unknown */
    int64_t estimated; /* requests whose usage was estimated */
} cmx_spend_totals;

typedef struct cmx_spend_line {
    char *dims[CMX_DIM__COUNT]; /* in query order; day/hour as ISO text; "" for none */
    cmx_spend_totals t;
} cmx_spend_line;

typedef struct cmx_spend_report {
    cmx_spend_query query;
    cmx_spend_line *lines;
    size_t n_lines;
    cmx_spend_totals total; /* over the whole range, whatever `top` */
} cmx_spend_report;

cmx_err cmx_store_report(cmx_store *s, const cmx_spend_query *q, cmx_spend_report *out,
                         cmx_error *err);
void cmx_spend_report_free(cmx_spend_report *r);

#endif
