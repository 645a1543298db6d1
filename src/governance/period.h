/* period.h — budget periods: which one a moment falls in, and when it ends.
 *
 * "<N>d" periods are N days long, counted from an anchor (by default
 * 1970-01-05T00:00:00Z, a Monday: a 1d budget resets at 00:00 UTC, a 7d one
 * on Mondays).  "monthly" follows the calendar, UTC.  "total" never resets:
 * it counts from its anchor on.  Anchors are on the hour, so a period is a
 * whole number of the ledger's hourly roll-ups and a budget can be rebuilt
 * from them exactly. */
#ifndef CMX_GOVERNANCE_PERIOD_H
#define CMX_GOVERNANCE_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include "config/values.h"

#define CMX_DEFAULT_PERIOD_ANCHOR_MS (4 * 86400000LL)
#define CMX_PERIOD_NEVER INT64_MAX

typedef struct cmx_period {
    cmx_period_kind kind;
    uint32_t days;
    int64_t anchor_ms;
} cmx_period;

/* From "total" / "monthly" / "<N>d" and an anchor; -1 if the text is not one. */
int cmx_period_from_text(const char *text, int64_t anchor_ms, cmx_period *out);
/* The period that holds now_ms: [*start, *end); end is CMX_PERIOD_NEVER for total. */
void cmx_period_window(const cmx_period *p, int64_t now_ms, int64_t *start, int64_t *end);
/* "monthly", "7d", "total" as written. */
void cmx_period_text(const cmx_period *p, char *buf, size_t len);
/* Words for messages: "monthly", "7-day", "1-day", "total". */
void cmx_period_words(const cmx_period *p, char *buf, size_t len);

/* "2026-02-01T00:00:00Z" */
void cmx_time_iso(int64_t ms, char *buf, size_t len);

#endif
