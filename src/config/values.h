/* values.h — parsers for the scalar types a configuration is written in:
 * integers, booleans, durations ("500ms", "10s", "1m30s" or plain
 * milliseconds), sizes ("4MiB", "10MB" or plain bytes), listen addresses and
 * a light URL check.  They are pure functions of the text so they test in
 * isolation; the loader turns their failures into located messages. */
#ifndef CMX_CONFIG_VALUES_H
#define CMX_CONFIG_VALUES_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 on success and -1 if the text is not of the type. */
int cmx_parse_uint(const char *s, uint64_t *out); /* decimal digits only */
int cmx_parse_bool(const char *s, int *out);      /* true/false, yes/no, on/off */
int cmx_parse_double(const char *s, double *out); /* finite decimal number */
int cmx_parse_duration_ms(const char *s, uint64_t *out_ms);
int cmx_parse_size(const char *s, uint64_t *out_bytes);

/* "host:port", "[v6addr]:port" or ":port" (all IPv4 interfaces, like Go's
 * net.Listen).  Port 0..65535 (0 asks the kernel for a free port).  Fills
 * host (NUL-terminated, without brackets). */
int cmx_parse_listen(const char *s, char *host, size_t host_cap, int *port);

/* http:// or https:// with a non-empty host and, if given, a numeric port
 * 1..65535.  Not a full RFC 3986 parser: it catches the mistakes people make
 * in a config (missing scheme, typo'd scheme, no host, spaces). */
int cmx_check_http_url(const char *s);

/* A budget period: "total", "monthly" (calendar months, UTC) or "<N>d"
 * (N days, 1 to 3660).  days is set for "<N>d" only. */
typedef enum { CMX_PERIOD_TOTAL = 0, CMX_PERIOD_DAYS, CMX_PERIOD_MONTHLY } cmx_period_kind;
int cmx_parse_budget_period(const char *s, cmx_period_kind *kind, uint32_t *days);

/* A UTC time: "2026-01-31" (midnight) or "2026-01-31T12:00:00Z" (seconds,
 * fraction and the Z may be "+00:00"; other offsets are refused, so a time
 * never depends on the machine's zone).  Milliseconds since the epoch. */
int cmx_parse_time_ms(const char *s, int64_t *out_ms);

#endif
