/* values.c — scalar parsers for configuration values; see values.h.
 *
 * Durations are kept in milliseconds and sizes in bytes, both checked for
 * overflow: a config that says "99999999999h" gets an error, not a wrapped
 * small number. */
#include "values.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int cmx_parse_uint(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cmx_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int cmx_parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    double v = strtod(s, &end);
    /* strtod also takes "inf", "nan" and hex floats; a config means none of them. */
    if (*end || !isfinite(v) || strpbrk(s, "xXnN"))
        return -1;
    *out = v;
    return 0;
}

/* Reads digits with an optional fraction: "10", "1.5".  Advances *p. */
static int read_number(const char **p, uint64_t *whole, double *frac)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
        digits++;
    }
    double f = 0, scale = 0.1;
    if (*s == '.') {
        s++;
        int fdigits = 0;
        while (*s >= '0' && *s <= '9') {
            f += (*s - '0') * scale;
            scale /= 10;
            s++;
            fdigits++;
        }
        if (!fdigits)
            return -1;
    }
    if (!digits)
        return -1;
    *whole = v;
    *frac = f;
    *p = s;
    return 0;
}

int cmx_parse_duration_ms(const char *s, uint64_t *out_ms)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    if (!s || !*s)
        return -1;
    uint64_t plain;
    if (cmx_parse_uint(s, &plain) == 0) {
        *out_ms = plain;
        return 0;
    }
    /* A sequence of <number><unit> parts, as in Go: "1m30s", "1.5s". */
    const char *p = s;
    uint64_t total = 0;
    while (*p) {
        uint64_t whole;
        double frac;
        if (read_number(&p, &whole, &frac))
            return -1;
        size_t ulen = 0;
        while (isalpha((unsigned char)p[ulen]))
            ulen++;
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].name) == ulen && strncmp(p, units[i].name, ulen) == 0)
                unit = units[i].ms;
        if (!unit)
            return -1;
        p += ulen;
        if (whole > UINT64_MAX / unit)
            return -1;
        uint64_t part = whole * unit + (uint64_t)llround(frac * (double)unit);
        if (part > UINT64_MAX - total)
            return -1;
        total += part;
    }
    *out_ms = total;
    return 0;
}

int cmx_parse_size(const char *s, uint64_t *out_bytes)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {{"B", 1},
                 {"KB", 1000},
                 {"KiB", 1024},
                 {"MB", 1000 * 1000},
                 {"MiB", 1024 * 1024},
                 {"GB", 1000 * 1000 * 1000},
                 {"GiB", 1024ULL * 1024 * 1024}};
    if (!s || !*s)
        return -1;
    const char *p = s;
    uint64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        p++;
        digits++;
    }
    if (!digits)
        return -1;
    while (*p == ' ')
        p++;
    if (!*p) {
        *out_bytes = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].name) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return -1;
            *out_bytes = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int parse_port(const char *s, int *port)
{
    uint64_t v;
    if (cmx_parse_uint(s, &v) || v > 65535 || strlen(s) > 5)
        return -1;
    *port = (int)v;
    return 0;
}

static int is_hostname_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

int cmx_parse_listen(const char *s, char *host, size_t host_cap, int *port)
{
    if (!s || !*s)
        return -1;
    const char *host_start, *host_end, *colon;
    if (s[0] == '[') {
        host_start = s + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end[1] != ':')
            return -1;
        colon = host_end + 1;
        size_t n = (size_t)(host_end - host_start);
        char tmp[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        if (n == 0 || n >= sizeof tmp)
            return -1;
        memcpy(tmp, host_start, n);
        tmp[n] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        host_start = s;
        host_end = colon;
        for (const char *c = host_start; c < host_end; c++)
            if (!is_hostname_char((unsigned char)*c))
                return -1; /* includes a bare IPv6 address without brackets */
    }
    if (parse_port(colon + 1, port))
        return -1;
    size_t n = (size_t)(host_end - host_start);
    if (n == 0) {
        host_start = "0.0.0.0";
        n = strlen(host_start);
    }
    if (n >= host_cap)
        return -1;
    memcpy(host, host_start, n);
    host[n] = '\0';
    return 0;
}

int cmx_check_http_url(const char *s)
{
    size_t skip;
    if (CMX_STARTS_WITH_CASE(s, "http://"))
        skip = CMX_LIT_LEN("http://");
    else if (CMX_STARTS_WITH_CASE(s, "https://"))
        skip = CMX_LIT_LEN("https://");
    else
        return -1;
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return -1;
    const char *auth = s + skip;
    size_t auth_len = strcspn(auth, "/?#");
    /* Drop user:password@ if present; the host is what must be there. */
    const char *at = memchr(auth, '@', auth_len);
    if (at) {
        auth_len -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    const char *host = auth, *port = NULL;
    size_t host_len;
    if (auth_len && auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close || close == auth + 1)
            return -1;
        host_len = (size_t)(close + 1 - auth);
        if (host_len < auth_len) {
            if (auth[host_len] != ':')
                return -1;
            port = auth + host_len + 1;
        }
    } else {
        const char *c = memchr(auth, ':', auth_len);
        host_len = c ? (size_t)(c - auth) : auth_len;
        if (c)
            port = c + 1;
        for (size_t i = 0; i < host_len; i++)
            if (!is_hostname_char((unsigned char)host[i]))
                return -1;
    }
    if (host_len == 0)
        return -1;
    if (port) {
        size_t plen = (size_t)(auth + auth_len - port);
        uint64_t v = 0;
        if (plen == 0 || plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return -1;
            v = v * 10 + (uint64_t)(port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return -1;
    }
    return 0;
}

int cmx_parse_budget_period(const char *s, cmx_period_kind *kind, uint32_t *days)
{
    if (!s)
        return -1;
    *days = 0;
    if (strcmp(s, "total") == 0) {
        *kind = CMX_PERIOD_TOTAL;
        return 0;
    }
    if (strcmp(s, "monthly") == 0) {
        *kind = CMX_PERIOD_MONTHLY;
        return 0;
    }
    size_t n = strlen(s);
    if (n < 2 || n > 5 || s[n - 1] != 'd')
        return -1;
    char digits[8];
    memcpy(digits, s, n - 1);
    digits[n - 1] = '\0';
    uint64_t v;
    if (cmx_parse_uint(digits, &v) || v < 1 || v > 3660 || digits[0] == '0')
        return -1;
    *kind = CMX_PERIOD_DAYS;
    *days = (uint32_t)v;
    return 0;
}

/* Reads exactly `n` digits. */
static int fixed_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int cmx_parse_time_ms(const char *s, int64_t *out_ms)
{
    if (!s)
        return -1;
    const char *p = s;
    int year, mon, day, hour = 0, min = 0, sec = 0, ms = 0;
    if (fixed_digits(&p, 4, &year) || *p++ != '-' || fixed_digits(&p, 2, &mon) || *p++ != '-' ||
        fixed_digits(&p, 2, &day))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (fixed_digits(&p, 2, &hour) || *p++ != ':' || fixed_digits(&p, 2, &min))
            return -1;
        if (*p == ':') {
            p++;
            if (fixed_digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                p++;
                int scale = 100, digits = 0;
                while (*p >= '0' && *p <= '9') {
                    ms += (*p++ - '0') * scale;
                    scale /= 10;
                    digits++;
                }
                if (!digits)
                    return -1;
            }
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else if (strcmp(p, "+00:00") == 0)
            p += 6;
        else
            return -1;
    }
    if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
        return -1;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-31 into March: refuse dates that moved. */
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != day || back.tm_mon != mon - 1)
        return -1;
    *out_ms = (int64_t)t * 1000 + ms;
    return 0;
}
