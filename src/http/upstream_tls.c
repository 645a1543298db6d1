/* upstream_tls.c — TLS client contexts and per-connection SSL objects.
 *
 * One SSL_CTX per (verify, ca_file), created on first use and kept by the
 * cmx_upstream: loading the system CA store costs milliseconds, a handshake
 * should not pay it.  Each connection gets an SSL with SNI (for names, never
 * for IP literals, as RFC 6066 asks) and the peer's identity pinned for
 * verification: host name through SSL_set1_host, or the IP address for a
 * literal.  Unexpected EOF is treated as a clean close (OpenSSL 3 would
 * otherwise make every dirty shutdown an error); HTTP framing, not
 * close_notify, is what tells a truncated response here. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "http/upstream_internal.h"

static int same_ca(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static SSL_CTX *ctx_create(int verify, const char *ca_file, cmx_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        cmx_error_set(err, CMX_ERR_UNAVAILABLE, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (verify) {
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            char e[200] = "unknown error";
            unsigned long code = ERR_get_error();
            if (code)
                ERR_error_string_n(code, e, sizeof e);
            ERR_clear_error();
            cmx_error_set(err, CMX_ERR_UNAVAILABLE, "cannot load CA certificates from %s: %s",
                          ca_file ? ca_file : "the system store", e);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static SSL_CTX *ctx_get(cmx_upstream *up, int verify, const char *ca_file, cmx_error *err)
{
    if (!verify)
        ca_file = NULL; /* nothing is checked, so all unverified origins share one */
    for (cmx_up_tls_ctx *c = up->tls_ctxs; c; c = c->next)
        if (c->verify == verify && same_ca(c->ca_file, ca_file))
            return c->ctx;
    cmx_up_tls_ctx *c = calloc(1, sizeof *c);
    if (!c || (ca_file && !(c->ca_file = strdup(ca_file)))) {
        free(c);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory for a TLS context");
        return NULL;
    }
    c->verify = verify;
    c->ctx = ctx_create(verify, ca_file, err);
    if (!c->ctx) {
        free(c->ca_file);
        free(c);
        return NULL;
    }
    c->next = up->tls_ctxs;
    up->tls_ctxs = c;
    return c->ctx;
}

SSL *cmx_up_tls_new(cmx_upstream *up, const cmx_up_origin *o, cmx_error *err)
{
    SSL_CTX *ctx = ctx_get(up, o->tls_verify, o->ca_file, err);
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory for a TLS connection");
        return NULL;
    }
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, o->host, ip) == 1 || inet_pton(AF_INET6, o->host, ip) == 1;
    int ok = 1;
    if (!is_ip)
        ok = SSL_set_tlsext_host_name(ssl, o->host);
    if (ok && o->tls_verify) {
        if (is_ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o->host);
        else
            ok = SSL_set1_host(ssl, o->host);
    }
    if (!ok) {
        ERR_clear_error();
        SSL_free(ssl);
        cmx_error_set(err, CMX_ERR_UNAVAILABLE, "cannot set the TLS peer name %s", o->host);
        return NULL;
    }
    /* HTTP/2 first, HTTP/1.1 as the fallback; only h2 when it is required. */
    static const unsigned char alpn_auto[] = "\x02h2\x08http/1.1";
    static const unsigned char alpn_h2[] = "\x02h2";
    if (o->http2 == CMX_HTTP2_AUTO)
        SSL_set_alpn_protos(ssl, alpn_auto, sizeof alpn_auto - 1);
    else if (o->http2 == CMX_HTTP2_ON)
        SSL_set_alpn_protos(ssl, alpn_h2, sizeof alpn_h2 - 1);
    return ssl;
}

void cmx_up_tls_describe_failure(struct bufferevent *bev, SSL *ssl, char *buf, size_t size)
{
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long code = bufferevent_get_openssl_error(bev);
    /* Drain this connection's errors so they do not surface on another. */
    while (bufferevent_get_openssl_error(bev))
        ;
    if (vr != X509_V_OK) {
        snprintf(buf, size, "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
    } else if (code) {
        char e[200];
        ERR_error_string_n(code, e, sizeof e);
        snprintf(buf, size, "%s", e);
    } else {
        snprintf(buf, size, "connection closed during the handshake");
    }
}

void cmx_up_tls_free_all(cmx_upstream *up)
{
    while (up->tls_ctxs) {
        cmx_up_tls_ctx *c = up->tls_ctxs;
        up->tls_ctxs = c->next;
        SSL_CTX_free(c->ctx);
        free(c->ca_file);
        free(c);
    }
}
