/* spend.c — report options and printing; see spend.h. */
#include "governance/spend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"
#include "governance/period.h"
#include "governance/pricing.h"

#define HOUR_MS 3600000LL
#define DEFAULT_RANGE_MS (30 * 24 * HOUR_MS)
#define MAX_TOP 100000

void cmx_spend_request_init(cmx_spend_request *r)
{
    memset(r, 0, sizeof *r);
}

static cmx_err set_by(cmx_spend_request *r, const char *value, cmx_error *err)
{
    cmx_spend_query *q = &r->query;
    q->n_by = 0;
    const char *p = value;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int d = 0; d < CMX_DIM__COUNT; d++)
            if (strlen(cmx_spend_dim_name((cmx_spend_dim)d)) == len &&
                strncmp(p, cmx_spend_dim_name((cmx_spend_dim)d), len) == 0)
                found = d;
        if (found < 0)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "by: unknown dimension '%.*s'; use a comma-separated list of "
                                 "day, hour, key, team, group, provider, model",
                                 (int)(len > 32 ? 32 : len), p);
        for (size_t i = 0; i < q->n_by; i++)
            if (q->by[i] == (cmx_spend_dim)found)
                return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "by: '%s' is given twice",
                                     cmx_spend_dim_name((cmx_spend_dim)found));
        q->by[q->n_by++] = (cmx_spend_dim)found;
        p += len;
        if (*p == ',')
            p++;
    }
    return CMX_OK;
}

cmx_err cmx_spend_request_set(cmx_spend_request *r, const char *name, const char *value,
                              cmx_error *err)
{
    if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
        int64_t ms;
        if (cmx_parse_time_ms(value, &ms) != 0)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "%s: expected a UTC date or time such as 2026-01-31 or "
                                 "2026-01-31T12:00:00Z, got '%.40s'",
                                 name, value);
        if (name[0] == 'f') {
            r->query.from_ms = ms;
            r->has_from = 1;
        } else {
            r->query.to_ms = ms;
            r->has_to = 1;
        }
        return CMX_OK;
    }
    if (strcmp(name, "by") == 0)
        return set_by(r, value, err);
    if (strcmp(name, "format") == 0) {
        static const char *const names[] = {"table", "csv", "json"};
        for (int f = 0; f < 3; f++)
            if (strcmp(value, names[f]) == 0) {
                r->format = (cmx_spend_format)f;
                return CMX_OK;
            }
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "format: expected table, csv or json, got '%.20s'", value);
    }
    if (strcmp(name, "top") == 0) {
        uint64_t n;
        if (cmx_parse_uint(value, &n) != 0 || n < 1 || n > MAX_TOP)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "top: expected a number of lines from 1 to %d, got '%.20s'",
                                 MAX_TOP, value);
        r->query.top = (size_t)n;
        return CMX_OK;
    }
    return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                         "unknown option '%.32s'; the options are from, to, by, format, top", name);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* %XX and '+' decoded into out (cap bytes); -1 when malformed or too long. */
static int url_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= cap || c == '\0')
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

cmx_err cmx_spend_request_parse_query(cmx_spend_request *r, const char *query, size_t len,
                                      cmx_error *err)
{
    size_t at = 0;
    while (at < len) {
        const char *amp = memchr(query + at, '&', len - at);
        size_t end = amp ? (size_t)(amp - query) : len;
        const char *eq = memchr(query + at, '=', end - at);
        if (end > at) {
            char name[32], value[256];
            size_t name_len = eq ? (size_t)(eq - (query + at)) : end - at;
            if (!eq || url_decode(query + at, name_len, name, sizeof name) != 0 ||
                url_decode(eq + 1, end - (size_t)(eq + 1 - query), value, sizeof value) != 0)
                return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                     "malformed query string: expected name=value pairs joined "
                                     "by '&'");
            if (cmx_spend_request_set(r, name, value, err) != CMX_OK)
                return err->kind;
        }
        at = end + 1;
    }
    return CMX_OK;
}

cmx_err cmx_spend_request_finish(cmx_spend_request *r, int64_t now_ms, cmx_error *err)
{
    cmx_spend_query *q = &r->query;
    if (!r->has_to)
        q->to_ms = now_ms;
    /* Out to whole hours: from down, to up. */
    q->to_ms = (q->to_ms + HOUR_MS - 1) / HOUR_MS * HOUR_MS;
    if (!r->has_from)
        q->from_ms = q->to_ms - DEFAULT_RANGE_MS;
    q->from_ms = q->from_ms / HOUR_MS * HOUR_MS;
    if (q->from_ms >= q->to_ms)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "from must be before to");
    return CMX_OK;
}

const char *cmx_spend_content_type(cmx_spend_format f)
{
    return f == CMX_SPEND_JSON  ? "application/json"
           : f == CMX_SPEND_CSV ? "text/csv; charset=utf-8"
                                : "text/plain; charset=utf-8";
}

/* ---- printing ------------------------------------------------------------- */

static const char *const total_names[] = {
    "requests",      "errors",   "prompt_tokens",     "completion_tokens",
    "cached_tokens", "cost_usd", "unpriced_requests", "estimated_requests"};
#define N_TOTALS 8

static void total_cell(const cmx_spend_totals *t, int i, char *buf, size_t len)
{
    const int64_t ints[N_TOTALS] = {t->requests,          t->errors,        t->prompt_tokens,
                                    t->completion_tokens, t->cached_tokens, 0,
                                    t->unpriced,          t->estimated};
    if (i == 5) {
        if (!cmx_cost_format(t->cost_usd, buf, len))
            snprintf(buf, len, "%.10f", t->cost_usd);
    } else {
        snprintf(buf, len, "%lld", (long long)ints[i]);
    }
}

static void append_json_string(cmx_buf *b, const char *s)
{
    if (!s || !*s) {
        cmx_buf_append_str(b, "null");
        return;
    }
    cmx_buf_append(b, "\"", 1);
    cmx_buf_append_json_escaped(b, s, strlen(s));
    cmx_buf_append(b, "\"", 1);
}

static void json_totals(cmx_buf *b, const cmx_spend_totals *t)
{
    char cell[48];
    for (int i = 0; i < N_TOTALS; i++) {
        total_cell(t, i, cell, sizeof cell);
        cmx_buf_printf(b, "%s\"%s\":%s", i ? "," : "", total_names[i], cell);
    }
}

static void print_json(const cmx_spend_report *rep, cmx_buf *b)
{
    const cmx_spend_query *q = &rep->query;
    char from[40], to[40];
    cmx_time_iso(q->from_ms, from, sizeof from);
    cmx_time_iso(q->to_ms, to, sizeof to);
    cmx_buf_printf(b, "{\"from\":\"%s\",\"to\":\"%s\",\"by\":[", from, to);
    for (size_t i = 0; i < q->n_by; i++)
        cmx_buf_printf(b, "%s\"%s\"", i ? "," : "", cmx_spend_dim_name(q->by[i]));
    cmx_buf_append_str(b, "],\"lines\":[");
    for (size_t l = 0; l < rep->n_lines; l++) {
        cmx_buf_append_str(b, l ? ",{" : "{");
        for (size_t i = 0; i < q->n_by; i++) {
            cmx_buf_printf(b, "\"%s\":", cmx_spend_dim_name(q->by[i]));
            append_json_string(b, rep->lines[l].dims[i]);
            cmx_buf_append_str(b, ",");
        }
        json_totals(b, &rep->lines[l].t);
        cmx_buf_append_str(b, "}");
    }
    cmx_buf_append_str(b, "],\"total\":{");
    json_totals(b, &rep->total);
    cmx_buf_append_str(b, "}}\n");
}

/* A CSV field, quoted when it must be. */
static void csv_field(cmx_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        cmx_buf_append_str(b, s);
        return;
    }
    cmx_buf_append_str(b, "\"");
    for (; *s; s++)
        cmx_buf_append(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    cmx_buf_append_str(b, "\"");
}

static void print_csv(const cmx_spend_report *rep, cmx_buf *b)
{
    const cmx_spend_query *q = &rep->query;
    for (size_t i = 0; i < q->n_by; i++)
        cmx_buf_printf(b, "%s,", cmx_spend_dim_name(q->by[i]));
    for (int i = 0; i < N_TOTALS; i++)
        cmx_buf_printf(b, "%s%s", total_names[i], i + 1 < N_TOTALS ? "," : "\r\n");
    char cell[48];
    for (size_t l = 0; l < rep->n_lines; l++) {
        for (size_t i = 0; i < q->n_by; i++) {
            csv_field(b, rep->lines[l].dims[i]);
            cmx_buf_append_str(b, ",");
        }
        for (int i = 0; i < N_TOTALS; i++) {
            total_cell(&rep->lines[l].t, i, cell, sizeof cell);
            cmx_buf_printf(b, "%s%s", cell, i + 1 < N_TOTALS ? "," : "\r\n");
        }
    }
}

/* Columns sized to their widest cell; numbers to the right. */
static void print_table(const cmx_spend_report *rep, cmx_buf *b)
{
    const cmx_spend_query *q = &rep->query;
    static const char *const heads[] = {"requests",   "errors", "prompt",
                                        "completion", "cached", "cost_usd"};
    enum { SHOWN = 6 };
    size_t cols = q->n_by + SHOWN;
    size_t width[CMX_DIM__COUNT + SHOWN];
    char cell[48];
    for (size_t c = 0; c < cols; c++)
        width[c] = strlen(c < q->n_by ? cmx_spend_dim_name(q->by[c]) : heads[c - q->n_by]);
    if (q->n_by && width[0] < 5)
        width[0] = 5; /* "total" */
    for (size_t l = 0; l <= rep->n_lines; l++) {
        const cmx_spend_totals *t = l < rep->n_lines ? &rep->lines[l].t : &rep->total;
        for (size_t c = 0; c < cols; c++) {
            if (c < q->n_by) {
                const char *d = l < rep->n_lines ? rep->lines[l].dims[c] : "";
                size_t w = strlen(d && *d ? d : "-");
                width[c] = w > width[c] ? w : width[c];
            } else {
                total_cell(t, (int)(c - q->n_by), cell, sizeof cell);
                width[c] = strlen(cell) > width[c] ? strlen(cell) : width[c];
            }
        }
    }
    for (size_t c = 0; c < cols; c++)
        cmx_buf_printf(b, c < q->n_by ? "%-*s%s" : "%*s%s", (int)width[c],
                       c < q->n_by ? cmx_spend_dim_name(q->by[c]) : heads[c - q->n_by],
                       c + 1 < cols ? "  " : "\n");
    for (size_t l = 0; l <= rep->n_lines; l++) {
        const cmx_spend_totals *t = l < rep->n_lines ? &rep->lines[l].t : &rep->total;
        for (size_t c = 0; c < cols; c++) {
            if (c < q->n_by) {
                const char *d = l < rep->n_lines ? rep->lines[l].dims[c] : c == 0 ? "total" : "";
                cmx_buf_printf(b, "%-*s  ", (int)width[c],
                               d && *d ? d : (l < rep->n_lines ? "-" : ""));
            } else {
                total_cell(t, (int)(c - q->n_by), cell, sizeof cell);
                cmx_buf_printf(b, "%*s%s", (int)width[c], cell, c + 1 < cols ? "  " : "\n");
            }
        }
    }
    if (rep->total.unpriced || rep->total.estimated)
        cmx_buf_printf(b,
                       "(%lld request%s without a known price are not in cost_usd; %lld had "
                       "their usage estimated)\n",
                       (long long)rep->total.unpriced, rep->total.unpriced == 1 ? "" : "s",
                       (long long)rep->total.estimated);
}

void cmx_spend_print(const cmx_spend_report *rep, cmx_spend_format f, cmx_buf *out)
{
    switch (f) {
    case CMX_SPEND_JSON: print_json(rep, out); break;
    case CMX_SPEND_CSV: print_csv(rep, out); break;
    default: print_table(rep, out); break;
    }
}
