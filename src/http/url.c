/* url.c — parses the base URL of an upstream ("https://host:port/prefix").
 *
 * Only what an upstream origin needs: scheme (http or https), host (name,
 * IPv4 or bracketed IPv6), port (defaulting from the scheme) and a path
 * prefix without a trailing '/'.  Credentials, queries and fragments have no
 * place in an origin and are refused with a message naming the problem,
 * because a config typo should fail at load time, not at the first request. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/upstream.h"
#include "core/str.h"

static int host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static cmx_err parse_port(const char *p, size_t n, int *port, const char *url, cmx_error *err)
{
    if (n == 0 || n > 5)
        return cmx_error_set(err, CMX_ERR_CONFIG, "invalid port in URL \"%s\"", url);
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return cmx_error_set(err, CMX_ERR_CONFIG, "invalid port in URL \"%s\"", url);
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return cmx_error_set(err, CMX_ERR_CONFIG, "port %d out of range in URL \"%s\"", v, url);
    *port = v;
    return CMX_OK;
}

cmx_err cmx_url_parse(const char *url, cmx_url *out, cmx_error *err)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return cmx_error_set(err, CMX_ERR_CONFIG, "empty URL");
    const char *p;
    if (CMX_STARTS_WITH_CASE(url, "https://")) {
        out->tls = 1;
        out->port = 443;
        p = url + CMX_LIT_LEN("https://");
    } else if (CMX_STARTS_WITH_CASE(url, "http://")) {
        out->port = 80;
        p = url + CMX_LIT_LEN("http://");
    } else {
        return cmx_error_set(err, CMX_ERR_CONFIG, "URL \"%s\" must start with http:// or https://",
                             url);
    }

    size_t auth_len = strcspn(p, "/?#");
    if (memchr(p, '@', auth_len))
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "credentials (user@host) are not allowed in an upstream URL");
    const char *host = p, *host_end, *port_start = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', auth_len);
        if (!close)
            return cmx_error_set(err, CMX_ERR_CONFIG, "unterminated IPv6 address in URL \"%s\"",
                                 url);
        host = p + 1;
        host_end = close;
        for (const char *c = host; c < host_end; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return cmx_error_set(err, CMX_ERR_CONFIG, "invalid IPv6 address in URL \"%s\"",
                                     url);
        if (close + 1 < p + auth_len) {
            if (close[1] != ':')
                return cmx_error_set(err, CMX_ERR_CONFIG, "unexpected text after ']' in URL \"%s\"",
                                     url);
            port_start = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', auth_len);
        host_end = colon ? colon : p + auth_len;
        if (colon)
            port_start = colon + 1;
        for (const char *c = host; c < host_end; c++)
            if (!host_char_ok(*c))
                return cmx_error_set(err, CMX_ERR_CONFIG,
                                     "invalid character '%c' in host of URL \"%s\"", *c, url);
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0)
        return cmx_error_set(err, CMX_ERR_CONFIG, "missing host in URL \"%s\"", url);
    if (host_len >= sizeof out->host)
        return cmx_error_set(err, CMX_ERR_CONFIG, "host too long in URL \"%s\"", url);
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    if (port_start &&
        parse_port(port_start, (size_t)(p + auth_len - port_start), &out->port, url, err) != CMX_OK)
        return err ? err->kind : CMX_ERR_CONFIG;

    const char *path = p + auth_len;
    if (*path == '?' || *path == '#' || strpbrk(path, "?#"))
        return cmx_error_set(err, CMX_ERR_CONFIG, "query or fragment not allowed in URL \"%s\"",
                             url);
    size_t path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    if (path_len >= sizeof out->path)
        return cmx_error_set(err, CMX_ERR_CONFIG, "path too long in URL \"%s\"", url);
    for (size_t i = 0; i < path_len; i++)
        if ((unsigned char)path[i] <= ' ' || path[i] == 0x7f)
            return cmx_error_set(err, CMX_ERR_CONFIG, "invalid character in path of URL \"%s\"",
                                 url);
    memcpy(out->path, path, path_len);
    out->path[path_len] = '\0';
    return CMX_OK;
}
