/* spend.h — spend reports as people ask for them: the options (from, to,
 * by, format, top) and the three ways to print one (table, csv, json).
 *
 * `cloudmux spend` and `GET /admin/spend` both parse their options here and
 * print with the same functions, so the same question gives the same
 * numbers, byte for byte.  Times are UTC; `from` is inclusive, `to`
 * exclusive, both moved out to whole hours (the roll-ups' grain).  Without
 * them a report covers the last 30 days up to the end of the current hour. */
#ifndef CMX_GOVERNANCE_SPEND_H
#define CMX_GOVERNANCE_SPEND_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

typedef enum { CMX_SPEND_TABLE = 0, CMX_SPEND_CSV, CMX_SPEND_JSON } cmx_spend_format;

typedef struct cmx_spend_request {
    cmx_spend_query query;
    cmx_spend_format format;
    int has_from, has_to;
} cmx_spend_request;

void cmx_spend_request_init(cmx_spend_request *r);
/* One option by name ("from", "to", "by", "format", "top"); a precise
 * CMX_ERR_BAD_REQUEST for a bad name or value. */
cmx_err cmx_spend_request_set(cmx_spend_request *r, const char *name, const char *value,
                              cmx_error *err);
/* A URL query string ("from=2026-01-01&by=day,provider"). */
cmx_err cmx_spend_request_parse_query(cmx_spend_request *r, const char *query, size_t len,
                                      cmx_error *err);
/* Fills the defaults, aligns to hours, checks from < to. */
cmx_err cmx_spend_request_finish(cmx_spend_request *r, int64_t now_ms, cmx_error *err);

/* Prints a report; the content type of the format. */
void cmx_spend_print(const cmx_spend_report *rep, cmx_spend_format f, cmx_buf *out);
const char *cmx_spend_content_type(cmx_spend_format f);

#endif
