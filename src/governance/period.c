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

/* Days since 1970-01-01 of the first day of a month of the proleptic
 * Gregorian calendar (month 0-based, may run past 11): arithmetic, not
 * timegm, since a budget's period is looked up several times per request. */
static int64_t days_from_civil(int64_t year, int64_t month)
{
    year += floor_div(month, 12);
    month -= floor_div(month, 12) * 12;
    /* Years counted from March, so the leap day ends a year. */
    int64_t y = month < 2 ? year - 1 : year;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                         /* [0, 399] */
    int64_t doy = (153 * ((month + 10) % 12) + 2) / 5;   /* day 1 of the month, from March 1 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The year and 0-based month of a day since 1970-01-01. */
static void civil_from_days(int64_t days, int64_t *year, int64_t *month)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153; /* months from March */
    *month = mp < 10 ? mp + 2 : mp - 10;
    *year = yoe + era * 400 + (*month < 2);
}

static int64_t month_start(int64_t year, int64_t month)
{
    return days_from_civil(year, month) * DAY_MS;
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
        /* The same month for every request of a month: each thread keeps
         * the last one (the same for every monthly budget) and reckons
         * the calendar only when now leaves it. */
        static _Thread_local int64_t month_from = 1, month_to = 0;
        if (now_ms < month_from || now_ms >= month_to) {
            int64_t year, month;
            civil_from_days(floor_div(now_ms, DAY_MS), &year, &month);
            month_from = month_start(year, month);
            month_to = month_start(year, month + 1);
        }
        *start = month_from;
        *end = month_to;
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
