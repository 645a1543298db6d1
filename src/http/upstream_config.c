/* upstream_config.c — the upstream client's settings from a config snapshot.
 * The environment's proxy variables apply unless the config names a proxy;
 * an empty string in the config means "no proxy, whatever the environment
 * says". */
#include "upstream.h"

#include "config/config.h"

/* The config stores a provider's `http2:` as these values. */
_Static_assert(CMX_HTTP2_OFF == 0 && CMX_HTTP2_AUTO == 1 && CMX_HTTP2_ON == 2,
               "cmx_provider_config.http2 holds cmx_http2_mode values");

static const char *proxy_choice(const char *configured, const char *from_env)
{
    if (!configured)
        return from_env;
    return configured[0] ? configured : NULL;
}

void cmx_upstream_settings_from_config(const cmx_upstream_config *uc, cmx_upstream_settings *s)
{
    cmx_upstream_settings_default(s);
    s->max_idle_per_origin = uc->max_idle_per_origin;
    s->max_conns_per_origin = uc->max_conns_per_origin;
    s->idle_expiry_ms = uc->idle_expiry_ms;
    s->queue_timeout_ms = uc->queue_timeout_ms;
    s->http2_ping_interval_ms = uc->http2_ping_interval_ms;
    s->https_proxy = proxy_choice(uc->https_proxy, s->https_proxy);
    s->http_proxy = proxy_choice(uc->http_proxy, s->http_proxy);
    s->no_proxy = proxy_choice(uc->no_proxy, s->no_proxy);
}
