/* redis_url.h — a Redis server's address as written in a config:
 * redis://[user[:password]@]host[:port][/db], rediss://... (TLS) or
 * unix:///path/to/socket.  A pure parser, so `cloudmux check` catches a bad
 * URL with its line, and the state store connects with the same result. */
#ifndef CMX_CONFIG_REDIS_URL_H
#define CMX_CONFIG_REDIS_URL_H

#include <stddef.h>

typedef struct cmx_redis_url {
    int tls;
    int is_unix;
    char host[256]; /* host name, IP literal (no brackets) or socket path */
    int port;       /* default 6379 */
    int db;         /* default 0 */
    char *username; /* percent-decoded, or NULL */
    char *password; /* percent-decoded, or NULL; never log it */
} cmx_redis_url;

/* 0 on success; -1 with `why` saying what is wrong (never quoting the
 * password). */
int cmx_parse_redis_url(const char *url, cmx_redis_url *out, char *why, size_t why_len);
void cmx_redis_url_free(cmx_redis_url *u);
/* "redis://host:port/db" without credentials, for log lines. */
void cmx_redis_url_describe(const cmx_redis_url *u, char *out, size_t n);

#endif
