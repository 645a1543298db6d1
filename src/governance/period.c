/* period.c — budget period arithmetic; see period.h. */
#include "governance/period.h"

#include <stdio.h>
#include <time.h>

#define DAY_MS 86400000LL

int cmx_period_from_text(const char *text, int64_t anchor_ms, cmx_period *out)
{
    if (cmx_parse_budget_period(text, &out->kind, &out->days) != 0)
        return -1;
    out->anchor_ms = anchor_ms;
    return 0;
}

/* Floor division that also works before the anchor. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t month_start(int year, int month)
{
    struct tm tm = {0};
    tm.tm_year = year - 1900 + month / 12;
    tm.tm_mon = month % 12;
    tm.tm_mday = 1;
    return (int64_t)timegm(&tm) * 1000;
}

void cmx_period_window(const cmx_period *p, int64_t now_ms, int64_t *start, int64_t *end)
{
    switch (p->kind) {
    case CMX_PERIOD_DAYS: {
        int64_t len = (int64_t)p->days * DAY_MS;
        int64_t n = floor_div(now_ms - p->anchor_ms, len);
        *start = p->anchor_ms + n * len;
        *end = *start + len;
        return;
    }
    case CMX_PERIOD_MONTHLY: {
        time_t secs = (time_t)floor_div(now_ms, 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        *start = month_start(tm.tm_year + 1900, tm.tm_mon);
        *end = month_start(tm.tm_year + 1900, tm.tm_mon + 1);
        return;
    }
    default:
        *start = p->anchor_ms;
        *end = CMX_PERIOD_NEVER;
        return;
    }
}

void cmx_period_text(const cmx_period *p, char *buf, size_t len)
{
    if (p->kind == CMX_PERIOD_DAYS)
        snprintf(buf, len, "%ud", p->days);
    else
        snprintf(buf, len, "%s", p->kind == CMX_PERIOD_MONTHLY ? "monthly" : "total");
}

void cmx_period_words(const cmx_period *p, char *buf, size_t len)
{
    if (p->kind == CMX_PERIOD_DAYS)
        snprintf(buf, len, "%u-day", p->days);
    else
        snprintf(buf, len, "%s", p->kind == CMX_PERIOD_MONTHLY ? "monthly" : "total");
}

void cmx_time_iso(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
