/* aws_credentials.c — the AWS credential chain: which sources apply (decided
 * once, at creation, from the config and the environment), the walk through
 * them at first use, the cache and its early refresh, and the queue of
 * requests waiting for keys.
 *
 * The chain is a short array of links.  A static link (config, environment,
 * a profile's keys) is settled at once; the others are HTTP exchanges with
 * the worker's upstream client: STS for web identity, one GET for the
 * container endpoint, three steps for IMDSv2 (token PUT, role list, role
 * keys).  The first walk goes down the links until one answers; the link
 * that answered is then the only one asked at refresh, as the SDKs memoise
 * the provider that worked.  Waiters are an intrusive list in the requests'
 * memory, as in azure_auth.c. */
#include "aws_credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "providers/aws_credentials_internal.h"
#include "providers/credential_share.h"
#include "core/str.h"
#include "core/url_encode.h"
#include "core/wipe.h"
#include "providers/bedrock_config.h"

#define MAX_ANSWER (64u << 10)
#define FAILURE_HOLD_US 1000000ull
#define MAX_LINKS 4
#define IMDS_DEFAULT "http://169.254.169.254"
#define CONTAINER_HOST "http://169.254.170.2"

typedef enum link_kind { LINK_STATIC, LINK_WEB_IDENTITY, LINK_CONTAINER, LINK_IMDS } link_kind;

typedef struct chain_link {
    link_kind kind;
    const char *name; /* for messages */
    cmx_url origin;
    char path[1600];
    cmx_awsc_keys keys;    /* static */
    char *role_arn;        /* web identity */
    char *token_file;      /* web identity */
    char *session_name;    /* web identity */
    char *auth_token;      /* container: AWS_CONTAINER_AUTHORIZATION_TOKEN */
    char *auth_token_file; /* container: ..._TOKEN_FILE, read at each fetch */
} chain_link;

struct cmx_aws_credentials {
    const cmx_provider_config *cfg;
    cmx_upstream *up;
    const cmx_clock *clock;
    chain_link links[MAX_LINKS];
    size_t n_links;
    int won;    /* link that answered, -1 before */
    size_t cur; /* link being asked */
    int step;   /* IMDS: 0 token, 1 role name, 2 keys */
    char *imds_token;
    char role[256];
    cmx_awsc_keys keys; /* this worker's copy of the keys */
    cmx_sigv4_credentials view;
    int have_keys;
    int is_static;               /* the first link is static: nothing to fetch or share */
    cmx_credential_local shared; /* fetched keys, shared with the other workers */
    cmx_upstream_call *call;
    int status;
    cmx_buf resp;
    cmx_buf failures; /* "source (host): why; ..." of this walk */
    cmx_aws_credentials_waiter *head, *tail;
    unsigned long fetches;
    const char *source;
};

static void keys_free(cmx_awsc_keys *k)
{
    cmx_awsc_wipe_free(k->access_key_id);
    cmx_awsc_wipe_free(k->secret_access_key);
    cmx_awsc_wipe_free(k->session_token);
    k->access_key_id = k->secret_access_key = k->session_token = NULL;
}

static int keys_copy(cmx_awsc_keys *dst, const char *id, const char *secret, const char *token)
{
    keys_free(dst);
    dst->access_key_id = strdup(id);
    dst->secret_access_key = strdup(secret);
    dst->session_token = token && *token ? strdup(token) : NULL;
    dst->expiration = -1;
    return dst->access_key_id && dst->secret_access_key && (!token || !*token || dst->session_token)
               ? 0
               : -1;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ---- building the chain ------------------------------------------------- */

static chain_link *add_link(cmx_aws_credentials *c, link_kind kind, const char *name)
{
    chain_link *l = &c->links[c->n_links++];
    l->kind = kind;
    l->name = name;
    l->keys.expiration = -1;
    return l;
}

static cmx_err add_web_identity(cmx_aws_credentials *c, const char *name, const char *role,
                                const char *file, const char *session, cmx_error *err)
{
    chain_link *l = add_link(c, LINK_WEB_IDENTITY, name);
    const char *sts = env("AWS_ENDPOINT_URL_STS");
    char def[128];
    if (!sts) {
        snprintf(def, sizeof def, "https://sts.%s.amazonaws.com",
                 cmx_bedrock_settings_of(c->cfg)->region ? cmx_bedrock_settings_of(c->cfg)->region
                                                         : "us-east-1");
        sts = def;
    }
    if (cmx_url_parse(sts, &l->origin, err) != CMX_OK)
        return err->kind;
    /* The URL's path (already without a trailing slash) plus "/". */
    size_t plen = strnlen(l->origin.path, sizeof l->origin.path);
    if (plen > sizeof l->path - 2)
        plen = sizeof l->path - 2;
    memcpy(l->path, l->origin.path, plen);
    l->path[plen] = '/';
    l->path[plen + 1] = '\0';
    l->role_arn = strdup(role);
    l->token_file = strdup(file);
    l->session_name = session ? strdup(session) : NULL;
    if (!l->role_arn || !l->token_file || (session && !l->session_name))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

/* Plain http only to the hosts the SDKs allow it for: loopback and the
 * ECS / EKS Pod Identity link-local addresses. */
static int container_host_allowed(const cmx_url *u)
{
    if (u->tls)
        return 1;
    return CMX_STARTS_WITH(u->host, "127.") || strcmp(u->host, "localhost") == 0 ||
           strcmp(u->host, "::1") == 0 || strcmp(u->host, "169.254.170.2") == 0 ||
           strcmp(u->host, "169.254.170.23") == 0 || strcmp(u->host, "fd00:ec2::23") == 0;
}

static cmx_err add_container(cmx_aws_credentials *c, cmx_error *err)
{
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    chain_link *l = add_link(c, LINK_CONTAINER, "container");
    char url[1200];
    if (rel && rel[0] == '/')
        snprintf(url, sizeof url, "%s%s", CONTAINER_HOST, rel);
    else
        snprintf(url, sizeof url, "%s", full);
    /* cmx_url_parse keeps the path but not the query: split it off first */
    char *q = strchr(url, '?');
    char query[512] = "";
    if (q) {
        snprintf(query, sizeof query, "%s", q);
        *q = '\0';
    }
    if (cmx_url_parse(url, &l->origin, err) != CMX_OK)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): the container credentials URI is not a URL",
                             c->cfg->name);
    if (!rel && !container_host_allowed(&l->origin))
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): AWS_CONTAINER_CREDENTIALS_FULL_URI must be "
                             "https or a loopback or container host, not %.60s",
                             c->cfg->name, l->origin.host);
    snprintf(l->path, sizeof l->path, "%s%s", l->origin.path[0] ? l->origin.path : "/", query);
    const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tok_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tok_file && !(l->auth_token_file = strdup(tok_file)))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (!tok_file && tok && !(l->auth_token = strdup(tok)))
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    return CMX_OK;
}

static cmx_err add_imds(cmx_aws_credentials *c, cmx_error *err)
{
    chain_link *l = add_link(c, LINK_IMDS, "instance metadata");
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (cmx_url_parse(ep ? ep : IMDS_DEFAULT, &l->origin, err) != CMX_OK)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): AWS_EC2_METADATA_SERVICE_ENDPOINT is not "
                             "a URL",
                             c->cfg->name);
    return CMX_OK;
}

static int imds_disabled(void)
{
    const char *v = env("AWS_EC2_METADATA_DISABLED");
    return v && strcasecmp(v, "true") == 0;
}

/* Adds the profile's link: its keys, or its role_arn + token file.
 * Returns 1 if it added one. */
static int add_profile(cmx_aws_credentials *c, cmx_awsc_profile *p, cmx_error *err)
{
    if (p->keys.access_key_id && p->keys.secret_access_key) {
        chain_link *l = add_link(c, LINK_STATIC, "profile");
        l->keys = p->keys;
        memset(&p->keys, 0, sizeof p->keys);
        return 1;
    }
    if (p->role_arn && p->web_identity_token_file) {
        if (add_web_identity(c, "profile web identity", p->role_arn, p->web_identity_token_file,
                             p->role_session_name, err) != CMX_OK)
            return -1;
        return 1;
    }
    return 0;
}

static cmx_err build_chain(cmx_aws_credentials *c, cmx_error *err)
{
    const cmx_provider_config *cfg = c->cfg;
    const cmx_bedrock_settings *bs = cmx_bedrock_settings_of(cfg);
    int mode = bs->credentials;
    if (bs->access_key_id && bs->secret_access_key &&
        (mode == CMX_AWS_CREDS_AUTO || mode == CMX_AWS_CREDS_STATIC ||
         mode == CMX_AWS_CREDS_ENVIRONMENT)) {
        chain_link *l =
            add_link(c, LINK_STATIC, mode == CMX_AWS_CREDS_ENVIRONMENT ? "environment" : "static");
        if (keys_copy(&l->keys, bs->access_key_id, bs->secret_access_key, bs->session_token))
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return CMX_OK;
    }
    if (mode == CMX_AWS_CREDS_STATIC || mode == CMX_AWS_CREDS_ENVIRONMENT)
        return cmx_error_set(err, CMX_ERR_CONFIG, "provider '%s' (bedrock) has no %s credentials",
                             cfg->name, mode == CMX_AWS_CREDS_STATIC ? "static" : "environment");
    int any = mode == CMX_AWS_CREDS_AUTO;
    const char *role = env("AWS_ROLE_ARN"), *file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    if ((any || mode == CMX_AWS_CREDS_WEB_IDENTITY) && role && file &&
        add_web_identity(c, "web identity", role, file, env("AWS_ROLE_SESSION_NAME"), err) !=
            CMX_OK)
        return err->kind;
    if (mode == CMX_AWS_CREDS_WEB_IDENTITY && !c->n_links)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): credentials: web_identity needs "
                             "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE",
                             cfg->name);
    if (any || mode == CMX_AWS_CREDS_PROFILE) {
        cmx_awsc_profile p;
        int found = cmx_awsc_profile_load(bs->profile, &p);
        int added = add_profile(c, &p, err);
        if (added < 0) {
            cmx_awsc_profile_free(&p);
            return err->kind;
        }
        if (mode == CMX_AWS_CREDS_PROFILE && !added) {
            cmx_error_set(err, CMX_ERR_CONFIG, "provider '%s' (bedrock): AWS profile '%.60s' %s",
                          cfg->name, p.name,
                          found ? "has neither keys nor role_arn with web_identity_token_file"
                                : "is in neither the shared credentials nor the config file");
            cmx_awsc_profile_free(&p);
            return err->kind;
        }
        cmx_awsc_profile_free(&p);
    }
    int has_container = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") ||
                        (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") &&
                         env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")[0] == '/');
    if ((any || mode == CMX_AWS_CREDS_CONTAINER) && has_container &&
        add_container(c, err) != CMX_OK)
        return err->kind;
    if (mode == CMX_AWS_CREDS_CONTAINER && !c->n_links)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): credentials: container needs "
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI",
                             cfg->name);
    if ((any || mode == CMX_AWS_CREDS_INSTANCE) && !imds_disabled() && add_imds(c, err) != CMX_OK)
        return err->kind;
    if (!c->n_links)
        return cmx_error_set(err, CMX_ERR_CONFIG,
                             "provider '%s' (bedrock): no AWS credential source applies (no keys, "
                             "no web identity, no profile, no container endpoint, instance "
                             "metadata disabled)",
                             cfg->name);
    return CMX_OK;
}

/* Makes `keys` this worker's keys (static ones, never shared). */
static void use_keys(cmx_aws_credentials *c, cmx_awsc_keys *keys)
{
    keys_free(&c->keys);
    c->keys = *keys;
    memset(keys, 0, sizeof *keys);
    keys->expiration = -1;
    c->view = (cmx_sigv4_credentials){c->keys.access_key_id, c->keys.secret_access_key,
                                      c->keys.session_token};
    c->have_keys = 1;
}

/* Fetched keys go to every worker as "won:expiration\0id\0secret\0token",
 * timed by their Expiration: refreshed 5 minutes before it, as the SDKs
 * do, or at 80% of a lifetime too short for that. */
static void publish_keys(cmx_aws_credentials *c, cmx_awsc_keys *keys, int won)
{
    cmx_buf b = CMX_BUF_INIT;
    cmx_buf_printf(&b, "%d:%lld", won, (long long)keys->expiration);
    cmx_buf_append(&b, "", 1);
    cmx_buf_append(&b, keys->access_key_id, strlen(keys->access_key_id) + 1);
    cmx_buf_append(&b, keys->secret_access_key, strlen(keys->secret_access_key) + 1);
    if (keys->session_token)
        cmx_buf_append(&b, keys->session_token, strlen(keys->session_token));
    uint64_t expires = 0, refresh = 0;
    if (keys->expiration >= 0) {
        uint64_t now = cmx_clock_now_us(c->clock);
        int64_t left = keys->expiration - (int64_t)time(NULL);
        uint64_t life = left > 0 ? (uint64_t)left * 1000000ull : 1;
        uint64_t early = life > 600000000ull ? 300000000ull : life / 5;
        expires = now + life;
        refresh = now + life - early;
    }
    if (b.data)
        cmx_credential_local_publish(&c->shared, b.data, b.len, expires, refresh);
    if (b.data)
        cmx_wipe(b.data, b.len);
    cmx_buf_free(&b);
    keys_free(keys);
}

/* Brings this worker's keys up to the shared copy when it changed. */
static void take_shared(cmx_aws_credentials *c)
{
    cmx_credential_local *l = &c->shared;
    if (!l->changed)
        return;
    l->changed = 0;
    keys_free(&c->keys);
    c->have_keys = 0;
    c->view = (cmx_sigv4_credentials){NULL, NULL, NULL};
    if (!l->has_value)
        return;
    const char *p = l->value.data, *end = p + l->value.len;
    int won = -1;
    long long expiration = -1;
    if (sscanf(p, "%d:%lld", &won, &expiration) != 2)
        return;
    const char *fields[3] = {NULL, NULL, ""};
    p += strlen(p) + 1;
    for (int i = 0; i < 3 && p < end; i++) {
        fields[i] = p;
        p += strlen(p) + 1;
    }
    if (!fields[0] || !fields[1] || keys_copy(&c->keys, fields[0], fields[1], fields[2]) != 0) {
        keys_free(&c->keys);
        return;
    }
    c->keys.expiration = expiration;
    c->view = (cmx_sigv4_credentials){c->keys.access_key_id, c->keys.secret_access_key,
                                      c->keys.session_token};
    c->have_keys = 1;
    if (won >= 0 && (size_t)won < c->n_links) {
        c->won = won;
        c->source = c->links[won].name;
    }
}

static void on_news(void *ctx);

/* The fetched sources that make up the chain name the credential. */
static cmx_err join_share(cmx_aws_credentials *c, cmx_error *err)
{
    cmx_buf material = CMX_BUF_INIT;
    for (size_t i = 0; i < c->n_links; i++) {
        const chain_link *l = &c->links[i];
        cmx_buf_printf(&material, "%d %s %s:%d%s %s %s %s %s|", (int)l->kind, l->name,
                       l->origin.host, l->origin.port, l->path, l->role_arn ? l->role_arn : "",
                       l->token_file ? l->token_file : "", l->session_name ? l->session_name : "",
                       l->auth_token_file ? l->auth_token_file : "");
        if (l->auth_token)
            cmx_buf_append_str(&material, l->auth_token);
        if (l->kind == LINK_STATIC && l->keys.access_key_id)
            cmx_buf_append_str(&material, l->keys.access_key_id);
    }
    return cmx_credential_local_join(&c->shared, "aws ", &material, cmx_upstream_base(c->up),
                                     on_news, c, err);
}

cmx_aws_credentials *cmx_aws_credentials_new(const cmx_provider_config *cfg, cmx_upstream *up,
                                             const cmx_clock *clock, cmx_error *err)
{
    cmx_aws_credentials *c = calloc(1, sizeof *c);
    if (!c) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cmx_buf_init_secret(&c->resp);
    c->cfg = cfg;
    c->up = up;
    c->clock = clock ? clock : &cmx_clock_monotonic;
    c->won = -1;
    c->keys.expiration = -1;
    if (build_chain(c, err) != CMX_OK) {
        cmx_aws_credentials_free(c);
        return NULL;
    }
    c->source = c->links[0].name;
    if (c->links[0].kind == LINK_STATIC) {
        c->won = 0;
        c->is_static = 1;
        use_keys(c, &c->links[0].keys);
    } else if (join_share(c, err) != CMX_OK) {
        cmx_aws_credentials_free(c);
        return NULL;
    }
    return c;
}

void cmx_aws_credentials_free(cmx_aws_credentials *c)
{
    if (!c)
        return;
    if (c->call)
        cmx_upstream_cancel(c->call);
    cmx_credential_local_release(&c->shared);
    for (size_t i = 0; i < c->n_links; i++) {
        chain_link *l = &c->links[i];
        keys_free(&l->keys);
        free(l->role_arn);
        free(l->token_file);
        free(l->session_name);
        cmx_awsc_wipe_free(l->auth_token);
        free(l->auth_token_file);
    }
    keys_free(&c->keys);
    cmx_awsc_wipe_free(c->imds_token);
    if (c->resp.data)
        cmx_wipe(c->resp.data, c->resp.len);
    cmx_buf_free(&c->resp);
    cmx_buf_free(&c->failures);
    free(c);
}

void cmx_aws_credentials_invalidate(cmx_aws_credentials *c, const char *access_key_id)
{
    if (c->is_static || !c->have_keys || c->keys.expiration < 0 || !access_key_id ||
        !c->keys.access_key_id || strcmp(c->keys.access_key_id, access_key_id) != 0)
        return; /* static keys, or already replaced */
    cmx_credential_local_invalidate(&c->shared, c->shared.value.data, c->shared.value.len);
}

const char *cmx_aws_credentials_source(const cmx_aws_credentials *c)
{
    return c->source;
}

unsigned long cmx_aws_credentials_fetches(const cmx_aws_credentials *c)
{
    return c->fetches;
}

/* ---- waiters ------------------------------------------------------------ */

static void serve_queue(cmx_aws_credentials *c);

static void enqueue(cmx_aws_credentials *c, cmx_aws_credentials_waiter *w)
{
    w->next = NULL;
    w->prev = c->tail;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    w->queued = 1;
}

void cmx_aws_credentials_cancel(cmx_aws_credentials *c, cmx_aws_credentials_waiter *w)
{
    if (!w->queued)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        c->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = 0;
}

static void wake_all(cmx_aws_credentials *c, const cmx_sigv4_credentials *creds,
                     const cmx_error *err)
{
    while (c->head) {
        cmx_aws_credentials_waiter *w = c->head;
        cmx_aws_credentials_cancel(c, w);
        w->on_credentials(w->ctx, creds, err);
    }
}

/* ---- fetching ----------------------------------------------------------- */

static void on_head(void *ctx, int status, const cmx_http_header *headers, size_t n)
{
    (void)headers;
    (void)n;
    ((cmx_aws_credentials *)ctx)->status = status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    cmx_aws_credentials *c = ctx;
    if (c->resp.len + len <= MAX_ANSWER)
        cmx_buf_append(&c->resp, data, len);
}

static void on_complete(void *ctx, const cmx_error *uerr);
static const cmx_upstream_callbacks callbacks = {on_head, on_body, on_complete};

/* Notes why the current link failed, for the final message (no secrets:
 * hosts, statuses, error codes and the upstream client's own messages). */
static void note_failure(cmx_aws_credentials *c, const char *detail)
{
    chain_link *l = &c->links[c->cur];
    cmx_buf_printf(&c->failures, "%s%s (%.60s): ", c->failures.len ? "; " : "", l->name,
                   l->origin.host);
    cmx_buf_printf(&c->failures, "%.120s", detail);
}

static int start_step(cmx_aws_credentials *c, cmx_error *err);

/* Every link asked failed: the error names each and why. */
static void fail_walk(cmx_aws_credentials *c, cmx_error *err)
{
    cmx_error_set(err, CMX_ERR_PROVIDER_AUTH, "provider '%s' (bedrock): no AWS credentials: %.200s",
                  c->cfg->name, c->failures.data ? c->failures.data : "no source answered");
    cmx_buf_reset(&c->failures);
    /* A failed refresh leaves the current keys in use. */
    cmx_credential_local_publish_failure(&c->shared, err,
                                         cmx_clock_now_us(c->clock) + FAILURE_HOLD_US);
}

/* Asks the links from c->cur on until one starts a fetch (0) or settles at
 * once (1: a static link), or none is left (-1, err set).  A refresh asks
 * only the link that worked before. */
static int walk(cmx_aws_credentials *c, cmx_error *err)
{
    for (; c->cur < c->n_links; c->cur++) {
        chain_link *l = &c->links[c->cur];
        c->step = 0;
        if (l->kind == LINK_STATIC) {
            /* A profile's keys found on the walk: shared like fetched ones,
             * never expiring.  The link keeps its own copy for a later walk. */
            cmx_awsc_keys copy = {.expiration = -1};
            if (keys_copy(&copy, l->keys.access_key_id, l->keys.secret_access_key,
                          l->keys.session_token) != 0) {
                keys_free(&copy);
                note_failure(c, "out of memory");
                continue;
            }
            c->won = (int)c->cur;
            c->source = l->name;
            publish_keys(c, &copy, c->won);
            cmx_buf_reset(&c->failures);
            return 1;
        }
        cmx_error e;
        if (start_step(c, &e) == 0)
            return 0;
        note_failure(c, e.message);
        if (c->won >= 0)
            break;
    }
    fail_walk(c, err);
    return -1;
}

/* After a fetch failed: the next link, or the end of the walk. */
static void next_link(cmx_aws_credentials *c)
{
    cmx_error e;
    cmx_error_clear(&e);
    int r;
    if (c->won >= 0) {
        fail_walk(c, &e);
        r = -1;
    } else {
        c->cur++;
        r = walk(c, &e);
    }
    if (r != 0)
        serve_queue(c);
}

static int start_walk(cmx_aws_credentials *c, cmx_error *err)
{
    cmx_buf_reset(&c->failures);
    c->cur = c->won >= 0 ? (size_t)c->won : 0;
    return walk(c, err);
}

static int build_web_identity(cmx_aws_credentials *c, chain_link *l, cmx_buf *body, cmx_error *err)
{
    char *token = cmx_awsc_read_small_file(l->token_file, 64u << 10);
    if (!token || !*token) {
        free(token);
        cmx_error_set(err, CMX_ERR_PROVIDER_AUTH, "cannot read the token file %.80s",
                      l->token_file);
        return -1;
    }
    char session[64];
    if (l->session_name)
        snprintf(session, sizeof session, "%s", l->session_name);
    else
        snprintf(session, sizeof session, "cloudmux-%lld", (long long)time(NULL));
    cmx_buf_append_str(body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    cmx_url_encode_str(body, l->role_arn);
    cmx_buf_append_str(body, "&RoleSessionName=");
    cmx_url_encode_str(body, session);
    cmx_buf_append_str(body, "&WebIdentityToken=");
    cmx_url_encode_str(body, token);
    cmx_awsc_wipe_free(token);
    (void)c;
    return 0;
}

static int start_step(cmx_aws_credentials *c, cmx_error *err)
{
    chain_link *l = &c->links[c->cur];
    cmx_buf headers = CMX_BUF_INIT, body = CMX_BUF_INIT;
    char path[2000];
    const char *method = "GET";
    cmx_upstream_timeouts to = {1000, 2000, 2000, 5000};
    cmx_error_clear(err);
    switch (l->kind) {
    case LINK_WEB_IDENTITY:
        if (build_web_identity(c, l, &body, err) != 0)
            goto fail;
        method = "POST";
        snprintf(path, sizeof path, "%s", l->path);
        cmx_buf_append_str(&headers, "Content-Type: application/x-www-form-urlencoded\r\n"
                                     "Accept: text/xml\r\n");
        to = (cmx_upstream_timeouts){c->cfg->timeouts.connect_ms, 10000, 10000, 20000};
        break;
    case LINK_CONTAINER: {
        snprintf(path, sizeof path, "%s", l->path);
        cmx_buf_append_str(&headers, "Accept: application/json\r\n");
        char *tok = l->auth_token_file ? cmx_awsc_read_small_file(l->auth_token_file, 16u << 10)
                                       : (l->auth_token ? strdup(l->auth_token) : NULL);
        if (l->auth_token_file && !tok) {
            cmx_error_set(err, CMX_ERR_PROVIDER_AUTH, "cannot read the authorization token file");
            goto fail;
        }
        if (tok) {
            if (strpbrk(tok, "\r\n")) {
                cmx_awsc_wipe_free(tok);
                cmx_error_set(err, CMX_ERR_PROVIDER_AUTH, "the authorization token has a newline");
                goto fail;
            }
            cmx_buf_printf(&headers, "Authorization: %s\r\n", tok);
            cmx_awsc_wipe_free(tok);
        }
        break;
    }
    case LINK_IMDS:
        if (c->step == 0) {
            method = "PUT";
            snprintf(path, sizeof path, "%s/latest/api/token", l->origin.path);
            cmx_buf_append_str(&headers, "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n");
        } else {
            snprintf(path, sizeof path, "%s/latest/meta-data/iam/security-credentials/%s",
                     l->origin.path, c->step == 2 ? c->role : "");
            cmx_buf_printf(&headers, "X-aws-ec2-metadata-token: %s\r\n", c->imds_token);
        }
        break;
    case LINK_STATIC: break;
    }
    cmx_buf_append_str(&headers, "User-Agent: cloudmux\r\n");
    cmx_upstream_request req = {
        .origin = &l->origin,
        .tls_verify = c->cfg->tls_verify,
        .http2 = cmx_http2_for_side_requests(c->cfg->http2),
        .ca_file = c->cfg->ca_file,
        .method = method,
        .path = path,
        .headers = headers.data,
        .headers_len = headers.len,
        .body = body.data,
        .body_len = body.len,
        .timeouts = to,
    };
    c->status = 0;
    cmx_buf_reset(&c->resp);
    c->call = cmx_upstream_send(c->up, &req, &callbacks, c);
    if (headers.data)
        cmx_wipe(headers.data, headers.len);
    if (body.data)
        cmx_wipe(body.data, body.len);
    cmx_buf_free(&headers);
    cmx_buf_free(&body);
    if (!c->call)
        return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory"), -1;
    if (c->step == 0)
        c->fetches++;
    c->source = l->name;
    return 0;
fail:
    if (body.data)
        cmx_wipe(body.data, body.len);
    if (headers.data)
        cmx_wipe(headers.data, headers.len);
    cmx_buf_free(&headers);
    cmx_buf_free(&body);
    return -1;
}

/* Handles the answer to one step; returns 1 when keys were taken, 0 when
 * another step was started, -1 on failure (noted). */
static int take_answer(cmx_aws_credentials *c)
{
    chain_link *l = &c->links[c->cur];
    char code[64] = "";
    const char *text = c->resp.data ? c->resp.data : "";
    if (c->status != 200) {
        if (l->kind == LINK_WEB_IDENTITY)
            cmx_awsc_sts_error_code(text, code, sizeof code);
        char what[96];
        snprintf(what, sizeof what, "HTTP %d%s%s%s", c->status, code[0] ? " " : "", code,
                 l->kind == LINK_IMDS && c->step == 0 ? " to the token PUT" : "");
        note_failure(c, what);
        return -1;
    }
    cmx_awsc_keys keys = {.expiration = -1};
    int rc;
    if (l->kind == LINK_IMDS && c->step < 2) {
        char *line = strndup(text, c->resp.len);
        if (!line)
            return note_failure(c, "out of memory"), -1;
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line) {
            free(line);
            note_failure(c, c->step == 0 ? "empty token" : "no IAM role attached");
            return -1;
        }
        if (c->step == 0) {
            cmx_awsc_wipe_free(c->imds_token);
            c->imds_token = line;
        } else {
            snprintf(c->role, sizeof c->role, "%s", line);
            free(line);
        }
        c->step++;
        cmx_error e;
        if (start_step(c, &e) != 0) {
            note_failure(c, e.message);
            return -1;
        }
        return 0;
    }
    if (l->kind == LINK_WEB_IDENTITY)
        rc = cmx_awsc_take_sts_xml(text, &keys);
    else
        rc = cmx_awsc_take_json(text, c->resp.len, &keys);
    if (rc != 0) {
        keys_free(&keys);
        note_failure(c, "answered 200 without AccessKeyId and SecretAccessKey");
        return -1;
    }
    c->won = (int)c->cur;
    c->source = l->name;
    publish_keys(c, &keys, c->won);
    return 1;
}

static void on_complete(void *ctx, const cmx_error *uerr)
{
    cmx_aws_credentials *c = ctx;
    c->call = NULL;
    int r;
    if (uerr && uerr->kind != CMX_OK) {
        note_failure(c, uerr->message);
        r = -1;
    } else {
        r = take_answer(c);
    }
    if (c->resp.data)
        cmx_wipe(c->resp.data, c->resp.len);
    if (r == 0)
        return;
    if (r > 0) {
        c->step = 0;
        cmx_buf_reset(&c->failures);
        serve_queue(c);
        return;
    }
    next_link(c);
}

/* Where the keys stand, for this worker: 1 c->view holds them, 0 this
 * worker's requests wait (its own walk or another worker's), -1 err says
 * why there are none. */
static int settle(cmx_aws_credentials *c, cmx_error *err)
{
    if (c->is_static)
        return 1;
    int r;
    switch (cmx_credential_local_get(&c->shared, cmx_clock_now_us(c->clock), err)) {
    case CMX_CREDENTIAL_FRESH: r = 1; break;
    case CMX_CREDENTIAL_REFRESH: {
        cmx_error ignored;
        start_walk(c, &ignored); /* background; the current keys still serve */
        r = 1;
        break;
    }
    case CMX_CREDENTIAL_FETCH:
        /* 1: a static link settled it at once (published); -1: the failure
         * was published */
        r = start_walk(c, err);
        break;
    case CMX_CREDENTIAL_WAIT: r = 0; break;
    default: r = -1; break;
    }
    take_shared(c);
    if (r > 0 && !c->have_keys) {
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        r = -1;
    }
    return r;
}

/* A walk ended here or on another worker: the queue learns the outcome. */
static void serve_queue(cmx_aws_credentials *c)
{
    if (!c->head)
        return;
    cmx_error err;
    cmx_error_clear(&err);
    int r = settle(c, &err);
    if (r != 0)
        wake_all(c, r > 0 ? &c->view : NULL, r > 0 ? NULL : &err);
}

static void on_news(void *ctx)
{
    serve_queue(ctx);
}

cmx_progress cmx_aws_credentials_get(cmx_aws_credentials *c, cmx_aws_credentials_waiter *w,
                                     const cmx_sigv4_credentials **creds, cmx_error *err)
{
    int r = settle(c, err);
    if (r > 0) {
        *creds = &c->view;
        return CMX_READY;
    }
    if (r < 0)
        return CMX_FAILED;
    enqueue(c, w);
    return CMX_PENDING;
}
