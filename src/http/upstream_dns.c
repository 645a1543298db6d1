/* upstream_dns.c — names to addresses without blocking the worker.
 *
 * IP literals and "localhost" (127.0.0.1, then ::1) are answered on the spot.
 * Other names go to evdns_getaddrinfo (IPv4 and IPv6, /etc/hosts first) and
 * the answer is cached for a fixed CMX_UP_DNS_TTL_MS (30 s), because
 * evdns_getaddrinfo does not expose the records' TTL; failures are not
 * cached.  Concurrent lookups of the same name share one query: calls wait
 * on it as waiters and a cancelled call simply stops waiting, the query
 * still fills the cache. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "core/clock.h"
#include "http/upstream_internal.h"

typedef struct cmx_up_dns_query {
    struct cmx_up_dns_query *next, *prev;
    cmx_upstream *up; /* NULL once the upstream is gone */
    char host[256];
    struct evdns_getaddrinfo_request *req;
    cmx_up_dns_waiter *waiters;
    int starting; /* inside evdns_getaddrinfo, which may answer at once */
    int answered;
} cmx_up_dns_query;

static void add_addr(cmx_up_addrs *a, const struct sockaddr *sa, socklen_t len)
{
    if (a->n == CMX_UP_MAX_ADDRS || len > sizeof a->addr[0])
        return;
    memcpy(&a->addr[a->n], sa, len);
    a->len[a->n] = len;
    a->n++;
}

static int literal(const char *host, cmx_up_addrs *out)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    memset(&s4, 0, sizeof s4);
    memset(&s6, 0, sizeof s6);
    out->n = 0;
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        add_addr(out, (struct sockaddr *)&s4, sizeof s4);
        return 1;
    }
    if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
        s6.sin6_family = AF_INET6;
        add_addr(out, (struct sockaddr *)&s6, sizeof s6);
        return 1;
    }
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
        s4.sin_family = AF_INET;
        s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        add_addr(out, (struct sockaddr *)&s4, sizeof s4);
        s6.sin6_family = AF_INET6;
        s6.sin6_addr = in6addr_loopback;
        add_addr(out, (struct sockaddr *)&s6, sizeof s6);
        return 1;
    }
    return 0;
}

int cmx_up_dns_lookup(cmx_upstream *up, const char *host, cmx_up_addrs *out)
{
    if (literal(host, out))
        return 1;
    uint64_t now = cmx_now_us();
    for (cmx_up_dns_entry *e = up->dns_cache; e; e = e->next) {
        if (strcasecmp(e->host, host) == 0) {
            if (e->expires_us <= now)
                return 0;
            *out = e->addrs;
            return 1;
        }
    }
    return 0;
}

static void cache_put(cmx_upstream *up, const char *host, const cmx_up_addrs *addrs)
{
    uint64_t now = cmx_now_us();
    cmx_up_dns_entry **link = &up->dns_cache, *e;
    cmx_up_dns_entry *found = NULL, **found_link = NULL, **last_link = NULL;
    while ((e = *link)) {
        if (strcasecmp(e->host, host) == 0) {
            found = e;
            found_link = link;
        }
        last_link = link;
        link = &e->next;
    }
    if (!found && up->dns_cache_n >= CMX_UP_DNS_CACHE_MAX && last_link) {
        found = *last_link; /* reuse the oldest entry */
        found_link = last_link;
    }
    if (found) {
        *found_link = found->next; /* unlink; re-inserted at the head */
    } else {
        found = calloc(1, sizeof *found);
        if (!found)
            return;
        up->dns_cache_n++;
    }
    snprintf(found->host, sizeof found->host, "%s", host);
    found->addrs = *addrs;
    found->expires_us = now + (uint64_t)CMX_UP_DNS_TTL_MS * 1000;
    found->next = up->dns_cache;
    up->dns_cache = found;
}

static void query_unlink(cmx_up_dns_query *q)
{
    if (!q->up)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        q->up->dns_queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->next = q->prev = NULL;
}

static void deliver(cmx_up_dns_query *q, const cmx_up_addrs *addrs, const char *why)
{
    /* A waiter's callback may cancel other calls: pop one at a time. */
    cmx_up_dns_waiter *w;
    while ((w = q->waiters)) {
        q->waiters = w->next;
        if (q->waiters)
            q->waiters->prev = NULL;
        w->next = w->prev = NULL;
        w->query = NULL;
        w->done(w, addrs, why);
    }
}

static void gotaddr_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    cmx_up_dns_query *q = arg;
    q->answered = 1;
    q->req = NULL;
    if (result == EVUTIL_EAI_CANCEL || !q->up) {
        if (res)
            evutil_freeaddrinfo(res);
        if (!q->starting)
            free(q);
        return;
    }
    query_unlink(q);
    cmx_up_addrs addrs = {0};
    /* IPv4 first: most upstreams reached over IPv6 also answer on IPv4, and
     * a host without IPv6 routes fails IPv6 connects slowly. */
    for (int pass = 0; pass < 2; pass++)
        for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next)
            if ((pass == 0) == (ai->ai_family == AF_INET))
                add_addr(&addrs, ai->ai_addr, (socklen_t)ai->ai_addrlen);
    if (res)
        evutil_freeaddrinfo(res);
    if (result == 0 && addrs.n > 0) {
        cache_put(q->up, q->host, &addrs);
        deliver(q, &addrs, NULL);
    } else {
        deliver(q, NULL, result ? evutil_gai_strerror(result) : "no address");
    }
    if (!q->starting)
        free(q);
}

void cmx_up_dns_wait(cmx_upstream *up, const char *host, cmx_up_dns_waiter *w)
{
    cmx_up_dns_query *q;
    for (q = up->dns_queries; q; q = q->next)
        if (strcasecmp(q->host, host) == 0)
            break;
    if (!q) {
        if (evdns_base_count_nameservers(up->dns) == 0) {
            w->query = NULL;
            w->done(w, NULL, "no DNS nameserver configured");
            return;
        }
        q = calloc(1, sizeof *q);
        if (!q) {
            w->query = NULL;
            w->done(w, NULL, "out of memory");
            return;
        }
        q->up = up;
        snprintf(q->host, sizeof q->host, "%s", host);
        q->next = up->dns_queries;
        if (q->next)
            q->next->prev = q;
        up->dns_queries = q;
    }
    w->query = q;
    w->prev = NULL;
    w->next = q->waiters;
    if (q->waiters)
        q->waiters->prev = w;
    q->waiters = w;
    if (q->req || q->starting)
        return; /* joined a query in flight */

    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    q->starting = 1;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(up->dns, host, NULL, &hints, gotaddr_cb, q);
    q->starting = 0;
    if (q->answered)
        free(q); /* answered inside the call */
    else
        q->req = req;
}

void cmx_up_dns_unwait(cmx_up_dns_waiter *w)
{
    cmx_up_dns_query *q = w->query;
    if (!q)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->query = NULL;
}

void cmx_up_dns_free_all(cmx_upstream *up)
{
    /* Queries still in flight belong to evdns until it calls back with
     * EVUTIL_EAI_CANCEL; detached from us, they free themselves then. */
    while (up->dns_queries) {
        cmx_up_dns_query *q = up->dns_queries;
        up->dns_queries = q->next;
        q->next = q->prev = NULL;
        q->up = NULL;
        q->waiters = NULL;
        if (q->req)
            evdns_getaddrinfo_cancel(q->req);
    }
    while (up->dns_cache) {
        cmx_up_dns_entry *e = up->dns_cache;
        up->dns_cache = e->next;
        free(e);
    }
    up->dns_cache_n = 0;
}
