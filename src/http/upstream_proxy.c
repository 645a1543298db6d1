/* upstream_proxy.c — HTTP CONNECT proxies: which origins use one, the
 * CONNECT request and the proxy's answer.
 *
 * https origins use https_proxy, http origins http_proxy; both go through a
 * CONNECT tunnel (plain http too, for one code path: the origin then sees
 * the same request it would see directly).  The proxy itself is spoken to in
 * plain HTTP; "https://" proxies are refused.  Credentials in the proxy URL
 * become a Proxy-Authorization: Basic header and never appear in messages.
 *
 * no_proxy follows curl: a comma list; "*" alone matches every host; each
 * entry matches the host itself or any subdomain of it (a leading dot is
 * ignored); IP entries match the literal or, with "/bits", a CIDR range;
 * IPv6 entries are written without brackets.  Like curl, localhost and
 * loopback addresses are NOT bypassed unless listed.  Beyond curl, an entry
 * may carry ":port" to bypass only that port. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "http/upstream_internal.h"
#include "core/str.h"
#include "core/wipe.h"

void cmx_up_proxy_free(cmx_up_proxy *p)
{
    if (!p)
        return;
    cmx_free_secret(p->authorization);
    free(p);
}

static int pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (int)o;
}

cmx_up_proxy *cmx_up_proxy_parse(const char *url, cmx_error *err)
{
    const char *rest = url;
    if (CMX_STARTS_WITH_CASE(rest, "http://"))
        rest += 7;
    else if (strstr(rest, "://"))
        return cmx_error_set(err, CMX_ERR_CONFIG, "only http:// proxies are supported"), NULL;
    cmx_up_proxy *p = calloc(1, sizeof *p);
    if (!p) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t auth_len = strcspn(rest, "/?#");
    const char *at = NULL;
    for (const char *c = rest; c < rest + auth_len; c++)
        if (*c == '@')
            at = c;
    if (at) {
        size_t n = (size_t)(at - rest);
        char *userinfo = malloc(n + 1), *encoded = malloc(4 * ((n + 2) / 3) + 1);
        p->authorization = malloc(4 * ((n + 2) / 3) + sizeof "Basic ");
        if (!userinfo || !encoded || !p->authorization) {
            free(userinfo);
            free(encoded);
            cmx_up_proxy_free(p);
            cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
            return NULL;
        }
        int len = pct_decode(rest, n, userinfo);
        EVP_EncodeBlock((unsigned char *)encoded, (unsigned char *)userinfo, len);
        sprintf(p->authorization, "Basic %s", encoded);
        cmx_free_wiped(userinfo, n + 1);
        cmx_free_secret(encoded);
        rest = at + 1;
    }
    char buf[600];
    snprintf(buf, sizeof buf, "http://%s", rest);
    cmx_url u;
    cmx_error uerr;
    if (cmx_url_parse(buf, &u, &uerr) != CMX_OK) {
        cmx_up_proxy_free(p);
        /* uerr names the URL; it no longer holds credentials. */
        cmx_error_set(err, CMX_ERR_CONFIG, "bad proxy: %s", uerr.message);
        return NULL;
    }
    snprintf(p->host, sizeof p->host, "%s", u.host);
    /* Without an explicit port, curl's default proxy port 1080. */
    size_t hp_len = strcspn(rest, "/?#");
    const char *port_colon = rest[0] == '[' ? strstr(rest, "]:") : memchr(rest, ':', hp_len);
    p->port = port_colon && port_colon < rest + hp_len ? u.port : 1080;
    return p;
}

static int cidr_match(const char *entry, size_t len, const char *host)
{
    char net[64];
    const char *slash = memchr(entry, '/', len);
    size_t net_len = slash ? (size_t)(slash - entry) : len;
    if (net_len >= sizeof net)
        return 0;
    memcpy(net, entry, net_len);
    net[net_len] = '\0';
    unsigned char a[16], b[16];
    int bytes;
    if (inet_pton(AF_INET, net, a) == 1 && inet_pton(AF_INET, host, b) == 1)
        bytes = 4;
    else if (inet_pton(AF_INET6, net, a) == 1 && inet_pton(AF_INET6, host, b) == 1)
        bytes = 16;
    else
        return -1; /* not an IP entry, or families differ */
    int bits = bytes * 8;
    if (slash) {
        bits = atoi(slash + 1);
        if (bits < 0 || bits > bytes * 8)
            return 0;
    }
    for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);
        if ((a[i / 8] & mask) != (b[i / 8] & mask))
            return 0;
    }
    return 1;
}

/* One no_proxy entry against host:port. */
static int entry_matches(const char *e, size_t len, const char *host, int port)
{
    while (len && isspace((unsigned char)*e))
        e++, len--;
    while (len && isspace((unsigned char)e[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (len == 1 && *e == '*')
        return 1;
    /* An optional ":port" (not inside an IPv6 address: one colon only, or "]:"). */
    const char *colon = NULL;
    int colons = 0;
    for (size_t i = 0; i < len; i++)
        if (e[i] == ':')
            colons++, colon = e + i;
    if (*e == '[') {
        const char *close = memchr(e, ']', len);
        if (!close)
            return 0;
        colon = close + 1 < e + len && close[1] == ':' ? close + 1 : NULL;
        if (colon) {
            if (atoi(colon + 1) != port)
                return 0;
        }
        return entry_matches(e + 1, (size_t)(close - e - 1), host, port);
    }
    if (colons == 1) {
        if (atoi(colon + 1) != port)
            return 0;
        len = (size_t)(colon - e);
    }
    int ip = cidr_match(e, len, host);
    if (ip >= 0)
        return ip;
    if (*e == '.')
        e++, len--;
    size_t hlen = strlen(host);
    if (hlen && host[hlen - 1] == '.')
        hlen--;
    if (len && e[len - 1] == '.')
        len--;
    if (len == 0 || hlen < len)
        return 0;
    if (strncasecmp(host + hlen - len, e, len) != 0)
        return 0;
    return hlen == len || host[hlen - len - 1] == '.';
}

int cmx_up_no_proxy_matches(const char *no_proxy, const char *host, int port)
{
    if (!no_proxy)
        return 0;
    const char *p = no_proxy;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (entry_matches(p, n, host, port))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

const cmx_up_proxy *cmx_up_proxy_for(const cmx_upstream *up, int tls, const char *host, int port)
{
    const cmx_up_proxy *p = tls ? up->https_proxy : up->http_proxy;
    if (!p || cmx_up_no_proxy_matches(up->no_proxy, host, port))
        return NULL;
    return p;
}

char *cmx_up_proxy_connect_request(const cmx_up_proxy *p, const char *host, int port, size_t *len)
{
    int v6 = strchr(host, ':') != NULL;
    char target[300];
    snprintf(target, sizeof target, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    size_t cap = 2 * strlen(target) + 64 + (p->authorization ? strlen(p->authorization) + 32 : 0);
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int n = snprintf(buf, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", target, target,
                     p->authorization ? "Proxy-Authorization: " : "",
                     p->authorization ? p->authorization : "", p->authorization ? "\r\n" : "");
    *len = (size_t)n;
    return buf;
}

int cmx_up_proxy_parse_reply(const char *buf, size_t len, const char *target, cmx_error *err)
{
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp(buf + i, CMX_LIT("\r\n\r\n")) == 0) {
            end = buf + i + 4;
            break;
        }
    if (!end)
        return 0;
    int major, minor, status;
    if (sscanf(buf, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || major != 1) {
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL, "proxy sent a malformed answer to CONNECT %s",
                      target);
        err->cause = CMX_CAUSE_PROTOCOL;
        return -1;
    }
    if (status < 200 || status > 299) {
        cmx_error_set(err, CMX_ERR_UNAVAILABLE, "proxy refused CONNECT %s with status %d", target,
                      status);
        err->cause = CMX_CAUSE_CONNECT_REFUSED;
        err->upstream_status = status;
        return -1;
    }
    if ((size_t)(end - buf) != len) {
        cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                      "proxy sent bytes after its answer to CONNECT %s", target);
        err->cause = CMX_CAUSE_PROTOCOL;
        return -1;
    }
    return 1;
}
