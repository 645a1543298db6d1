/* redis_url.c — parsing the Redis URL; see redis_url.h. */
#include "config/redis_url.h"
#include "core/str.h"
#include "core/wipe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int decode_userinfo(const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    if (!d)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end) {
                free(d);
                return -1;
            }
            d[j++] = (char)v;
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

int cmx_parse_redis_url(const char *url, cmx_redis_url *a, char *why, size_t why_len)
{
    memset(a, 0, sizeof *a);
    a->port = 6379;
    const char *rest;
    if (CMX_STARTS_WITH(url, "redis://")) {
        rest = url + CMX_LIT_LEN("redis://");
    } else if (CMX_STARTS_WITH(url, "rediss://")) {
        rest = url + CMX_LIT_LEN("rediss://");
        a->tls = 1;
    } else if (CMX_STARTS_WITH(url, "unix://")) {
        a->is_unix = 1;
        rest = url + CMX_LIT_LEN("unix://");
        if (rest[0] != '/' || strlen(rest) >= sizeof a->host ||
            strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return fail(why, why_len,
                        "expected unix:///absolute/path/to/redis.sock (under %zu bytes)",
                        sizeof(((struct sockaddr_un *)0)->sun_path));
        strcpy(a->host, rest);
        return 0;
    } else {
        return fail(why, why_len, "expected a URL starting with redis://, rediss:// or unix://");
    }
    const char *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');
    if (at && (!slash || at < slash)) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *user_end = colon ? colon : at;
        if (user_end > rest && decode_userinfo(rest, (size_t)(user_end - rest), &a->username))
            return fail(why, why_len, "the URL's user name is badly encoded");
        if (colon && decode_userinfo(colon + 1, (size_t)(at - colon - 1), &a->password)) {
            cmx_redis_url_free(a);
            return fail(why, why_len, "the URL's password is badly encoded");
        }
        rest = at + 1;
    }
    size_t hostport = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *host = rest;
    size_t host_len = hostport;
    const char *port_at = NULL;
    if (host_len && host[0] == '[') {
        const char *close = memchr(host, ']', hostport);
        if (!close)
            goto bad_host;
        port_at = close + 1 < rest + hostport && close[1] == ':' ? close + 2 : NULL;
        host++;
        host_len = (size_t)(close - host);
    } else {
        const char *colon = memchr(host, ':', hostport);
        if (colon) {
            port_at = colon + 1;
            host_len = (size_t)(colon - host);
        }
    }
    if (host_len == 0 || host_len >= sizeof a->host)
        goto bad_host;
    memcpy(a->host, host, host_len);
    if (port_at) {
        char *end;
        long p = strtol(port_at, &end, 10);
        if (end != rest + hostport || end == port_at || p < 1 || p > 65535)
            goto bad_host;
        a->port = (int)p;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 100000) {
            cmx_redis_url_free(a);
            return fail(why, why_len, "expected a database number after the host, such as /0");
        }
        a->db = (int)db;
    }
    return 0;
bad_host:
    cmx_redis_url_free(a);
    return fail(why, why_len,
                "expected HOST[:PORT] after the scheme, such as "
                "redis://127.0.0.1:6379/0");
}

void cmx_redis_url_free(cmx_redis_url *a)
{
    free(a->username);
    cmx_free_secret(a->password);
    a->username = a->password = NULL;
}

void cmx_redis_url_describe(const cmx_redis_url *a, char *out, size_t n)
{
    if (a->is_unix)
        snprintf(out, n, "unix://%s", a->host);
    else
        snprintf(out, n, "%s://%s%s%s:%d/%d", a->tls ? "rediss" : "redis",
                 strchr(a->host, ':') ? "[" : "", a->host, strchr(a->host, ':') ? "]" : "", a->port,
                 a->db);
}
