/* store_report.c — spend reports, always from the hourly roll-ups.
 *
 * A report groups the roll-ups of a time range by the dimensions asked for
 * (day, hour, key, team, group, provider, model) and sums them.  It never
 * reads raw ledger rows, so it costs the same whether the ledger holds a
 * thousand rows or tens of millions: the roll-ups have one row per day (or
 * hour, at the range's edges and for by-hour reports) and combination
 * actually seen.  The total is summed separately over the whole range, so a
 * top-N report still shows the grand total. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const dim_names[CMX_DIM__COUNT] = {"day",   "hour",     "key",  "team",
                                                      "group", "provider", "model"};
static const char *const dim_sql[CMX_DIM__COUNT] = {"(hour_ms / 86400000) * 86400000",
                                                    "hour_ms",
                                                    "key_id",
                                                    "team_id",
                                                    "model_group",
                                                    "provider",
                                                    "model"};

const char *cmx_spend_dim_name(cmx_spend_dim d)
{
    return (unsigned)d < CMX_DIM__COUNT ? dim_names[d] : "?";
}

typedef struct report_ctx {
    cmx_spend_report *r;
    const cmx_spend_query *q;
    size_t cap;
    int failed;
} report_ctx;

static void read_totals(const cmx_sql_row *row, int col, cmx_spend_totals *t)
{
    t->requests = cmx_sql_row_int(row, col);
    t->errors = cmx_sql_row_int(row, col + 1);
    t->prompt_tokens = cmx_sql_row_int(row, col + 2);
    t->completion_tokens = cmx_sql_row_int(row, col + 3);
    t->cached_tokens = cmx_sql_row_int(row, col + 4);
    t->cost_usd = cmx_sql_row_real(row, col + 5);
    t->unpriced = cmx_sql_row_int(row, col + 6);
    t->estimated = cmx_sql_row_int(row, col + 7);
}

/* Day and hour cells as ISO-8601 text, UTC. */
static char *time_text(int64_t ms, int with_hour)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[32];
    strftime(buf, sizeof buf, with_hour ? "%Y-%m-%dT%H:00Z" : "%Y-%m-%d", &tm);
    return strdup(buf);
}

static int report_row(void *ctx, const cmx_sql_row *row)
{
    report_ctx *rc = ctx;
    cmx_spend_report *r = rc->r;
    if (r->n_lines == rc->cap) {
        size_t cap = rc->cap ? rc->cap * 2 : 64;
        cmx_spend_line *more = realloc(r->lines, cap * sizeof *more);
        if (!more) {
            rc->failed = 1;
            return 1;
        }
        r->lines = more;
        rc->cap = cap;
    }
    cmx_spend_line *line = &r->lines[r->n_lines++];
    memset(line, 0, sizeof *line);
    for (size_t i = 0; i < rc->q->n_by; i++) {
        cmx_spend_dim d = rc->q->by[i];
        if (d == CMX_DIM_DAY || d == CMX_DIM_HOUR) {
            line->dims[i] = time_text(cmx_sql_row_int(row, (int)i), d == CMX_DIM_HOUR);
        } else {
            const char *t = cmx_sql_row_text(row, (int)i);
            line->dims[i] = strdup(t ? t : "");
        }
        if (!line->dims[i])
            rc->failed = 1;
    }
    read_totals(row, (int)rc->q->n_by, &line->t);
    return rc->failed;
}

static int total_row(void *ctx, const cmx_sql_row *row)
{
    read_totals(row, 0, ctx);
    return 1;
}

#define SUMS                                                                                       \
    "SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), "                     \
    "SUM(cached_tokens), SUM(cost_usd), SUM(unpriced), SUM(estimated)"

#define COLUMNS                                                                                    \
    "key_id, team_id, model_group, provider, model, requests, errors, prompt_tokens, "             \
    "completion_tokens, cached_tokens, cost_usd, unpriced, estimated"

/* SELECT dims, sums FROM (the roll-ups of the range) GROUP BY dims ORDER BY
 * (cost or dims) [LIMIT top]. */
static int build_sql(const cmx_spend_query *q, char *sql, size_t cap)
{
    char source[700];
    if (cmx_rollup_range(source, sizeof source, COLUMNS) != 0)
        return -1;
    size_t at = (size_t)snprintf(sql, cap, "SELECT ");
    for (size_t i = 0; i < q->n_by; i++)
        at += (size_t)snprintf(sql + at, cap - at, "%s, ", dim_sql[q->by[i]]);
    at += (size_t)snprintf(sql + at, cap - at, SUMS " FROM %s", source);
    if (q->n_by) {
        at += (size_t)snprintf(sql + at, cap - at, " GROUP BY ");
        for (size_t i = 0; i < q->n_by; i++)
            at += (size_t)snprintf(sql + at, cap - at, "%s%zu", i ? ", " : "", i + 1);
    }
    at += (size_t)snprintf(sql + at, cap - at, " ORDER BY ");
    if (q->top)
        at += (size_t)snprintf(sql + at, cap - at, "%zu DESC%s", q->n_by + 6, q->n_by ? ", " : "");
    for (size_t i = 0; i < q->n_by; i++)
        at += (size_t)snprintf(sql + at, cap - at, "%s%zu", i ? ", " : "", i + 1);
    if (!q->top && !q->n_by)
        at += (size_t)snprintf(sql + at, cap - at, "1");
    if (q->top)
        at += (size_t)snprintf(sql + at, cap - at, " LIMIT %zu", q->top);
    return at < cap ? 0 : -1;
}

cmx_err cmx_store_report(cmx_store *s, const cmx_spend_query *q, cmx_spend_report *out,
                         cmx_error *err)
{
    memset(out, 0, sizeof *out);
    out->query = *q;
    if (q->n_by > CMX_DIM__COUNT)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "too many dimensions");
    char sql[2048], total_sql[1024], source[700];
    if (build_sql(q, sql, sizeof sql) != 0 || cmx_rollup_range(source, sizeof source, COLUMNS) != 0)
        return cmx_error_set(err, CMX_ERR_INTERNAL, "report query too long");
    snprintf(total_sql, sizeof total_sql, "SELECT " SUMS " FROM %s", source);
    /* An hour dimension needs the hourly grain throughout. */
    int by_hour = 0;
    for (size_t i = 0; i < q->n_by; i++)
        by_hour |= q->by[i] == CMX_DIM_HOUR;
    cmx_sql_value range[4];
    cmx_rollup_range_params(q->from_ms, q->to_ms, by_hour, range);
    report_ctx rc = {out, q, 0, 0};
    /* One read transaction, so the lines and the total agree. */
    cmx_err e = cmx_sql_begin(s->db, 0, err);
    if (e == CMX_OK)
        e = cmx_sql_exec(s->db, sql, range, 4, report_row, &rc, err);
    if (e == CMX_OK)
        e = cmx_sql_exec(s->db, total_sql, range, 4, total_row, &out->total, err);
    if (e == CMX_OK)
        e = cmx_sql_commit(s->db, err);
    else
        cmx_sql_rollback(s->db);
    if (e == CMX_OK && rc.failed)
        e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (e != CMX_OK)
        cmx_spend_report_free(out);
    return e;
}

void cmx_spend_report_free(cmx_spend_report *r)
{
    for (size_t i = 0; i < r->n_lines; i++)
        for (size_t d = 0; d < CMX_DIM__COUNT; d++)
            free(r->lines[i].dims[d]);
    free(r->lines);
    r->lines = NULL;
    r->n_lines = 0;
}
