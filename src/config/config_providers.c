/* config_providers.c — the `providers` section: named connections to a
 * model API, each of one type.
 *
 * Keys are checked against the provider's type, not just against the union
 * of all types: `failure_rate` on an openai provider or `base_url` on a mock
 * is a misunderstanding worth an error of its own ("only valid for mock
 * providers"), not a silently unused value.  The types' key lists live in one
 * table indexed by cmx_provider_type. */
#include "config/config_internal.h"
#include "config/secret.h"
#include "config/values.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const openai_keys[] = {"type",         "timeouts",   "base_url", "api_key",
                                          "organization", "tls_verify", "ca_file",  "residency",
                                          "health_check", NULL};
static const char *const mock_keys[] = {"type",
                                        "timeouts",
                                        "latency",
                                        "chunk_interval",
                                        "failure_rate",
                                        "failure_status",
                                        "stream_chunks",
                                        "content",
                                        "seed",
                                        "residency",
                                        NULL};
static const char *const anthropic_keys[] = {"type",
                                             "timeouts",
                                             "base_url",
                                             "api_key",
                                             "anthropic_version",
                                             "default_max_tokens",
                                             "drop_unsupported_params",
                                             "tls_verify",
                                             "ca_file",
                                             "residency",
                                             "health_check",
                                             NULL};
static const char *const bedrock_keys[] = {"type",
                                           "timeouts",
                                           "region",
                                           "endpoint_url",
                                           "access_key_id",
                                           "secret_access_key",
                                           "session_token",
                                           "drop_unsupported_params",
                                           "tls_verify",
                                           "ca_file",
                                           "residency",
                                           "credentials",
                                           "profile",
                                           "api",
                                           NULL};
static const char *const azure_keys[] = {"type",    "timeouts",  "endpoint",  "api_version",
                                         "api_key", "auth",      "url_style", "tls_verify",
                                         "ca_file", "residency", NULL};
static const char *const azure_client_secret_keys[] = {
    "tenant_id", "client_id",        "client_secret",     "authority",
    "scope",     "managed_identity", "workload_identity", NULL};
static const char *const azure_managed_identity_keys[] = {"managed_identity", "client_id",
                                                          "imds_endpoint", "scope", NULL};
static const char *const azure_workload_identity_keys[] = {
    "workload_identity", "client_id", "tenant_id", "token_file", "authority", "scope", NULL};
static const char *const vertex_keys[] = {"type",
                                          "timeouts",
                                          "project",
                                          "location",
                                          "endpoint_url",
                                          "service_account_file",
                                          "metadata_server",
                                          "metadata_url",
                                          "drop_unsupported_params",
                                          "tls_verify",
                                          "ca_file",
                                          "residency",
                                          NULL};
static const char *const all_keys[] = {"type",
                                       "project",
                                       "location",
                                       "service_account_file",
                                       "metadata_server",
                                       "metadata_url",
                                       "endpoint",
                                       "api_version",
                                       "auth",
                                       "url_style",
                                       "timeouts",
                                       "base_url",
                                       "api_key",
                                       "organization",
                                       "anthropic_version",
                                       "default_max_tokens",
                                       "drop_unsupported_params",
                                       "tls_verify",
                                       "ca_file",
                                       "latency",
                                       "chunk_interval",
                                       "failure_rate",
                                       "failure_status",
                                       "stream_chunks",
                                       "content",
                                       "seed",
                                       "residency",
                                       "health_check",
                                       "region",
                                       "endpoint_url",
                                       "access_key_id",
                                       "secret_access_key",
                                       "session_token",
                                       "credentials",
                                       "profile",
                                       "api",
                                       NULL};

/* Indexed by cmx_provider_type. */
static const struct {
    const char *name;
    const char *const *keys;
} provider_types[] = {
    {"openai", openai_keys},   {"mock", mock_keys},   {"anthropic", anthropic_keys},
    {"bedrock", bedrock_keys}, {"azure", azure_keys}, {"vertex", vertex_keys},
};
#define N_PROVIDER_TYPES (sizeof provider_types / sizeof provider_types[0])
#define TYPE_LIST "openai, anthropic, bedrock, azure, vertex or mock"
static const char *const timeout_keys[] = {"connect", "first_byte", "idle", "total", NULL};
static const char *const health_keys[] = {
    "interval", "timeout", "path", "unhealthy_threshold", "healthy_threshold", NULL};

static void load_health_check(cmx_cfg_ctx *ctx, cmx_health_check_config *h, const cmx_ynode *v,
                              const char *path)
{
    const cmx_ynode *node = cmx_ytree_get(v, "health_check");
    if (!node)
        return;
    char sub[192];
    snprintf(sub, sizeof sub, "%s.health_check", path);
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node, "%s: expected a mapping, got %s", sub, cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_map(ctx, node, sub, health_keys);
    h->enabled = 1;
    cmx_cfg_duration(ctx, node, sub, "interval", 0, &h->interval_ms);
    cmx_cfg_duration(ctx, node, sub, "timeout", 0, &h->timeout_ms);
    if (cmx_cfg_string(ctx, node, sub, "path", &h->path) == 1 && h->path[0] != '/')
        cmx_cfg_error(ctx, cmx_ytree_get(node, "path"),
                      "%s.path: expected a path starting with '/'", sub);
    uint64_t n;
    if (cmx_cfg_uint(ctx, node, sub, "unhealthy_threshold", 1, 1000, &n) == 1)
        h->unhealthy_threshold = (uint32_t)n;
    if (cmx_cfg_uint(ctx, node, sub, "healthy_threshold", 1, 1000, &n) == 1)
        h->healthy_threshold = (uint32_t)n;
}

#define ANTHROPIC_DEFAULT_BASE_URL "https://api.anthropic.com"
#define ANTHROPIC_DEFAULT_VERSION "2023-06-01"
#define AZURE_DEFAULT_API_VERSION "2024-10-21"
#define AZURE_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define AZURE_DEFAULT_SCOPE "https://cognitiveservices.azure.com/.default"
#define AZURE_DEFAULT_IMDS "http://169.254.169.254/metadata/identity/oauth2/token"
#define MOCK_DEFAULT_CONTENT                                                                       \
    "This is a simulated answer from the cloudmux mock provider. No model was called."

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

static int valid_provider_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* Reads `type`; returns a cmx_provider_type or -1 (missing or invalid). */
static int read_type(cmx_cfg_ctx *ctx, const cmx_ynode *name_node, const cmx_ynode *v,
                     const char *path)
{
    const cmx_ynode *t = cmx_ytree_get(v, "type");
    char show[64];
    if (!t) {
        cmx_cfg_error(ctx, name_node, "%s: missing required key 'type' (" TYPE_LIST ")", path);
        return -1;
    }
    for (size_t i = 0; i < N_PROVIDER_TYPES; i++)
        if (t->kind == CMX_YNODE_SCALAR && strcmp(t->text, provider_types[i].name) == 0)
            return (int)i;
    cmx_cfg_error(ctx, t, "%s.type: expected " TYPE_LIST ", got %s", path,
                  cmx_cfg_show(t, show, sizeof show));
    return -1;
}

/* "openai, anthropic or azure": the types a key belongs to, for messages. */
static void owners_of(const char *key, char *out, size_t len)
{
    size_t idx[N_PROVIDER_TYPES], n = 0, used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_PROVIDER_TYPES; i++)
        if (in_list(provider_types[i].keys, key))
            idx[n++] = i;
    for (size_t j = 0; j < n; j++) {
        const char *sep = j == 0 ? "" : j + 1 == n ? " or " : ", ";
        int w = snprintf(out + used, len - used, "%s%s", sep, provider_types[idx[j]].name);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

static void check_keys(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path, int type)
{
    cmx_cfg_check_names(ctx, v, path);
    for (size_t i = 0; i < v->n_pairs; i++) {
        const cmx_ynode *k = v->pairs[i].key;
        if (k->kind != CMX_YNODE_SCALAR || k->is_null)
            continue;
        if (type < 0) { /* type unknown: any type's key is plausible */
            if (!in_list(all_keys, k->text))
                cmx_cfg_unknown_key(ctx, k, path, all_keys);
            continue;
        }
        const char *const *own = provider_types[type].keys;
        if (in_list(own, k->text))
            continue;
        if (in_list(all_keys, k->text)) {
            char owners[64];
            owners_of(k->text, owners, sizeof owners);
            cmx_cfg_error(ctx, k, "%s: key '%s' is only valid for %s providers (this one is %s)",
                          path, k->text, owners, provider_types[type].name);
        } else {
            cmx_cfg_unknown_key(ctx, k, path, own);
        }
    }
}

static void load_base_url(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                          const cmx_ynode *v, const char *path)
{
    char show[64];
    const cmx_ynode *u = cmx_ytree_get(v, "base_url");
    if (!u && p->type == CMX_PROVIDER_ANTHROPIC) {
        p->base_url = cmx_cfg_strdup(ctx, ANTHROPIC_DEFAULT_BASE_URL);
        return;
    }
    if (!u) {
        cmx_cfg_error(ctx, name_node,
                      "%s: missing required key 'base_url' (the API's URL, such as "
                      "https://api.openai.com/v1 or http://127.0.0.1:8000/v1)",
                      path);
        return;
    }
    if (u->kind != CMX_YNODE_SCALAR || u->is_null || cmx_check_http_url(u->text) != 0) {
        /* A URL with user:password@ is described, not shown. */
        int has_userinfo = u->kind == CMX_YNODE_SCALAR && strchr(u->text, '@');
        cmx_cfg_error(ctx, u,
                      "%s.base_url: expected an http:// or https:// URL with a host, got %s", path,
                      has_userinfo ? "an invalid URL" : cmx_cfg_show(u, show, sizeof show));
        return;
    }
    p->base_url = cmx_cfg_strdup(ctx, u->text);
    /* Stored without trailing slashes so adapters can append "/chat/completions". */
    size_t n = p->base_url ? strlen(p->base_url) : 0;
    while (n > 0 && p->base_url[n - 1] == '/')
        p->base_url[--n] = '\0';
}

static void load_ca_file(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *v,
                         const char *path)
{
    char *name = NULL;
    if (cmx_cfg_string(ctx, v, path, "ca_file", &name) != 1)
        return;
    char *full = cmx_path_resolve(ctx->base_dir, name);
    free(name);
    if (!full) {
        ctx->oom = 1;
        return;
    }
    if (access(full, R_OK) != 0) {
        cmx_cfg_error(ctx, cmx_ytree_get(v, "ca_file"), "%s.ca_file: cannot read '%s': %s", path,
                      full, strerror(errno));
        free(full);
        return;
    }
    p->ca_file = full;
}

static void load_openai(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                        const cmx_ynode *v, const char *path)
{
    char sub[192]; /* path + a sub-key */
    load_base_url(ctx, p, name_node, v, path);
    const cmx_ynode *key = cmx_ytree_get(v, "api_key");
    if (key) {
        snprintf(sub, sizeof sub, "%s.api_key", path);
        cmx_cfg_secret(ctx, key, sub, &p->api_key);
    }
    cmx_cfg_string(ctx, v, path, "organization", &p->organization);
    if (cmx_cfg_bool(ctx, v, path, "tls_verify", &p->tls_verify) == 1 && !p->tls_verify)
        cmx_cfg_warning(ctx, cmx_ytree_get(v, "tls_verify"),
                        "%s.tls_verify is false: the provider's certificate will not be checked",
                        path);
    load_ca_file(ctx, p, v, path);
}

static void load_anthropic(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                           const cmx_ynode *v, const char *path)
{
    char sub[192]; /* path + a sub-key */
    uint64_t n;
    load_base_url(ctx, p, name_node, v, path);
    const cmx_ynode *key = cmx_ytree_get(v, "api_key");
    if (key) {
        snprintf(sub, sizeof sub, "%s.api_key", path);
        cmx_cfg_secret(ctx, key, sub, &p->api_key);
    }
    p->anthropic_version = cmx_cfg_strdup(ctx, ANTHROPIC_DEFAULT_VERSION);
    cmx_cfg_string(ctx, v, path, "anthropic_version", &p->anthropic_version);
    /* The value goes into a header line: no control characters. */
    for (const char *c = p->anthropic_version; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            cmx_cfg_error(ctx, cmx_ytree_get(v, "anthropic_version"),
                          "%s.anthropic_version: expected a version such as 2023-06-01", path);
            break;
        }
    if (cmx_cfg_uint(ctx, v, path, "default_max_tokens", 1, 1000000, &n) == 1)
        p->default_max_tokens = (uint32_t)n;
    cmx_cfg_bool(ctx, v, path, "drop_unsupported_params", &p->drop_unsupported_params);
    if (cmx_cfg_bool(ctx, v, path, "tls_verify", &p->tls_verify) == 1 && !p->tls_verify)
        cmx_cfg_warning(ctx, cmx_ytree_get(v, "tls_verify"),
                        "%s.tls_verify is false: the provider's certificate will not be checked",
                        path);
    load_ca_file(ctx, p, v, path);
}

/* An AWS region name: lower-case letters, digits and '-' ("eu-west-1").  It
 * goes into a host name and the credential scope, so nothing else passes. */
static int valid_region(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

/* A credential from the config, or from the environment variable.  The
 * fuller AWS chain (profiles, container and instance metadata, web identity)
 * is not read yet. */
static void load_aws_secret(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path, const char *key,
                            const char *env, char **out)
{
    char sub[192];
    const cmx_ynode *node = v ? cmx_ytree_get(v, key) : NULL;
    if (node) {
        snprintf(sub, sizeof sub, "%s.%s", path, key);
        cmx_cfg_secret(ctx, node, sub, out);
        return;
    }
    const char *value = env ? getenv(env) : NULL;
    if (value && *value) {
        *out = cmx_cfg_strdup(ctx, value);
    }
}

/* `credentials:` and `profile:`, then the static keys.  Credentials come
 * whole from one place, as AWS's own clients take them: a key pair in the
 * config never gets the environment's session token.  Only the static
 * sources are read here; the others are the chain's, at first use. */
static void load_aws_credentials(cmx_cfg_ctx *ctx, cmx_provider_config *p,
                                 const cmx_ynode *name_node, const cmx_ynode *v, const char *path)
{
    static const char *const modes[] = {"auto",    "static",    "environment", "web_identity",
                                        "profile", "container", "instance",    NULL};
    char *mode = NULL;
    p->aws_credentials = 0;
    if (cmx_cfg_string(ctx, v, path, "credentials", &mode) == 1) {
        size_t i;
        for (i = 0; modes[i] && strcmp(modes[i], mode) != 0; i++)
            ;
        if (!modes[i])
            cmx_cfg_error(ctx, cmx_ytree_get(v, "credentials"),
                          "%s.credentials: expected auto, static, environment, web_identity, "
                          "profile, container or instance, got '%.40s'",
                          path, mode);
        else
            p->aws_credentials = (int)i;
        free(mode);
    }
    cmx_cfg_string(ctx, v, path, "profile", &p->aws_profile);
    int m = p->aws_credentials;
    int from_config = cmx_ytree_get(v, "access_key_id") || cmx_ytree_get(v, "secret_access_key") ||
                      cmx_ytree_get(v, "session_token");
    if (from_config && m != 0 && m != 1) {
        cmx_cfg_error(ctx, cmx_ytree_get(v, "credentials"),
                      "%s: access_key_id/secret_access_key are set but credentials is '%s'", path,
                      modes[m]);
        return;
    }
    if (m == 0 || m == 1 || m == 2) {
        int use_env = !from_config && m != 1;
        load_aws_secret(ctx, from_config ? v : NULL, path, "access_key_id",
                        use_env ? "AWS_ACCESS_KEY_ID" : NULL, &p->access_key_id);
        load_aws_secret(ctx, from_config ? v : NULL, path, "secret_access_key",
                        use_env ? "AWS_SECRET_ACCESS_KEY" : NULL, &p->secret_access_key);
        load_aws_secret(ctx, from_config ? v : NULL, path, "session_token",
                        use_env ? "AWS_SESSION_TOKEN" : NULL, &p->session_token);
    }
    if (from_config) {
        /* an unresolvable reference was reported where it stands */
        static const char *const pair[] = {"access_key_id", "secret_access_key"};
        for (size_t i = 0; i < 2; i++)
            if (!cmx_ytree_get(v, pair[i]))
                cmx_cfg_error(ctx, name_node,
                              "%s: missing '%s' (credentials in the config need both "
                              "access_key_id and secret_access_key)",
                              path, pair[i]);
    } else if ((m == 1 || m == 2) && (!p->access_key_id || !p->secret_access_key)) {
        cmx_cfg_error(ctx, name_node,
                      "%s: no AWS credentials: set access_key_id and secret_access_key (env:NAME "
                      "or file:PATH) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                      path);
    } else if (m == 0 && (!p->access_key_id || !p->secret_access_key)) {
        /* half a pair in the environment is not a pair: the chain goes on */
        char **keys[] = {&p->access_key_id, &p->secret_access_key, &p->session_token};
        for (size_t i = 0; i < 3; i++)
            if (*keys[i]) {
                explicit_bzero(*keys[i], strlen(*keys[i]));
                free(*keys[i]);
            }
        p->access_key_id = p->secret_access_key = p->session_token = NULL;
    }
}

/* api: converse (default) or invoke: InvokeModel with Anthropic's own
 * Messages bodies for anthropic.* models. */
static void load_bedrock_api(cmx_cfg_ctx *ctx, const cmx_ynode *v, const char *path,
                             cmx_provider_config *p)
{
    const cmx_ynode *n = cmx_ytree_get(v, "api");
    char show[64];
    if (!n)
        return;
    if (n->kind == CMX_YNODE_SCALAR && !n->is_null && strcmp(n->text, "invoke") == 0)
        p->bedrock_invoke = 1;
    else if (!(n->kind == CMX_YNODE_SCALAR && !n->is_null && strcmp(n->text, "converse") == 0))
        cmx_cfg_error(ctx, n, "%s.api: expected converse or invoke, got %s", path,
                      cmx_cfg_show(n, show, sizeof show));
}

static void load_bedrock(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                         const cmx_ynode *v, const char *path)
{
    char show[64];
    if (cmx_cfg_string(ctx, v, path, "region", &p->region) != 1) {
        if (!cmx_ytree_get(v, "region"))
            cmx_cfg_error(ctx, name_node,
                          "%s: missing required key 'region' (the AWS region, such as us-east-1)",
                          path);
    } else if (!valid_region(p->region)) {
        cmx_cfg_error(ctx, cmx_ytree_get(v, "region"),
                      "%s.region: expected an AWS region such as us-east-1, got '%.40s'", path,
                      p->region);
    }
    const cmx_ynode *u = cmx_ytree_get(v, "endpoint_url");
    if (u) {
        if (u->kind != CMX_YNODE_SCALAR || u->is_null || cmx_check_http_url(u->text) != 0) {
            int has_userinfo = u->kind == CMX_YNODE_SCALAR && strchr(u->text, '@');
            cmx_cfg_error(ctx, u,
                          "%s.endpoint_url: expected an http:// or https:// URL with a host, got "
                          "%s",
                          path,
                          has_userinfo ? "an invalid URL" : cmx_cfg_show(u, show, sizeof show));
        } else {
            p->base_url = cmx_cfg_strdup(ctx, u->text);
            size_t n = p->base_url ? strlen(p->base_url) : 0;
            while (n > 0 && p->base_url[n - 1] == '/')
                p->base_url[--n] = '\0';
        }
    } else if (p->region && valid_region(p->region)) {
        char url[128];
        snprintf(url, sizeof url, "https://bedrock-runtime.%s.amazonaws.com", p->region);
        p->base_url = cmx_cfg_strdup(ctx, url);
    }
    load_aws_credentials(ctx, p, name_node, v, path);
    cmx_cfg_bool(ctx, v, path, "drop_unsupported_params", &p->drop_unsupported_params);
    load_bedrock_api(ctx, v, path, p);
    if (cmx_cfg_bool(ctx, v, path, "tls_verify", &p->tls_verify) == 1 && !p->tls_verify)
        cmx_cfg_warning(ctx, cmx_ytree_get(v, "tls_verify"),
                        "%s.tls_verify is false: the provider's certificate will not be checked",
                        path);
    load_ca_file(ctx, p, v, path);
}

/* A value that goes into a URL or a header: printable ASCII, no spaces. */
static int plain_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '&' || *s == '?' ||
            *s == '#' || *s == '/')
            return 0;
    return 1;
}

/* An http(s) URL setting, stored without trailing slashes. */
static void azure_url(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                      char **out)
{
    char show[64];
    const cmx_ynode *u = cmx_ytree_get(map, key);
    if (!u)
        return;
    if (u->kind != CMX_YNODE_SCALAR || u->is_null || cmx_check_http_url(u->text) != 0 ||
        strchr(u->text, '@')) {
        int has_userinfo = u->kind == CMX_YNODE_SCALAR && strchr(u->text, '@');
        cmx_cfg_error(ctx, u, "%s.%s: expected an http:// or https:// URL with a host, got %s",
                      path, key,
                      has_userinfo ? "an invalid URL" : cmx_cfg_show(u, show, sizeof show));
        return;
    }
    free(*out);
    *out = cmx_cfg_strdup(ctx, u->text);
    size_t n = *out ? strlen(*out) : 0;
    while (n > 0 && (*out)[n - 1] == '/')
        (*out)[--n] = '\0';
}

/* A workload identity setting: the file's key, else the environment variable
 * the AKS webhook injects; an error names both when neither is there. */
static void workload_identity_setting(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *sub,
                                      const char *key, const char *env_name, char **out)
{
    cmx_cfg_string(ctx, node, sub, key, out);
    const char *from_env = getenv(env_name);
    if (!*out && from_env && *from_env)
        *out = cmx_cfg_strdup(ctx, from_env);
    if (!*out && !cmx_ytree_get(node, key))
        cmx_cfg_error(ctx, node,
                      "%s: workload identity needs %s: set %s (the AKS workload identity webhook "
                      "sets it in pods labelled azure.workload.identity/use: \"true\") or %s.%s",
                      sub, key, env_name, sub, key);
}

/* auth: { workload_identity: true }: AKS workload identity, settings from the
 * environment the webhook injects unless the file names them. */
static void load_azure_workload_identity(cmx_cfg_ctx *ctx, cmx_provider_config *p,
                                         const cmx_ynode *node, const char *sub)
{
    cmx_azure_config *az = &p->azure;
    az->auth = CMX_AZURE_AUTH_WORKLOAD_IDENTITY;
    workload_identity_setting(ctx, node, sub, "client_id", "AZURE_CLIENT_ID", &az->client_id);
    workload_identity_setting(ctx, node, sub, "tenant_id", "AZURE_TENANT_ID", &az->tenant_id);
    workload_identity_setting(ctx, node, sub, "token_file", "AZURE_FEDERATED_TOKEN_FILE",
                              &az->token_file);
    const char *host = getenv("AZURE_AUTHORITY_HOST");
    az->authority = cmx_cfg_strdup(ctx, host && *host ? host : AZURE_DEFAULT_AUTHORITY);
    size_t n = az->authority ? strlen(az->authority) : 0;
    while (n > 0 && az->authority[n - 1] == '/') /* the webhook's value ends in '/' */
        az->authority[--n] = '\0';
    if (az->authority && !cmx_ytree_get(node, "authority") && cmx_check_http_url(az->authority))
        cmx_cfg_error(ctx, node, "%s: AZURE_AUTHORITY_HOST is not an http(s) URL", sub);
    azure_url(ctx, node, sub, "authority", &az->authority);
    if (az->tenant_id && !plain_token(az->tenant_id))
        cmx_cfg_error(ctx, node, "%s.tenant_id: expected a directory (tenant) id or domain", sub);
    if (az->client_id && !plain_token(az->client_id))
        cmx_cfg_error(ctx, node, "%s.client_id: expected an application (client) id", sub);
}

static void load_azure_auth(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *node,
                            const char *path)
{
    char sub[192], sub2[224];
    cmx_azure_config *az = &p->azure;
    snprintf(sub, sizeof sub, "%s.auth", path);
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "%s: expected a mapping with tenant_id, client_id and client_secret, "
                      "managed_identity: true or workload_identity: true",
                      sub);
        return;
    }
    int mi = 0, wi = 0;
    cmx_cfg_bool(ctx, node, sub, "managed_identity", &mi);
    cmx_cfg_bool(ctx, node, sub, "workload_identity", &wi);
    if (mi && wi) {
        cmx_cfg_error(ctx, node,
                      "%s: managed_identity and workload_identity are mutually exclusive", sub);
        return;
    }
    if (!cmx_cfg_check_map(ctx, node, sub,
                           wi   ? azure_workload_identity_keys
                           : mi ? azure_managed_identity_keys
                                : azure_client_secret_keys))
        return;
    cmx_cfg_string(ctx, node, sub, "scope", &az->scope);
    for (const char *c = az->scope; c && *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            cmx_cfg_error(ctx, cmx_ytree_get(node, "scope"),
                          "%s.scope: expected a scope such as " AZURE_DEFAULT_SCOPE, sub);
            break;
        }
    if (wi) {
        load_azure_workload_identity(ctx, p, node, sub);
        return;
    }
    cmx_cfg_string(ctx, node, sub, "client_id", &az->client_id);
    if (mi) {
        az->auth = CMX_AZURE_AUTH_MANAGED_IDENTITY;
        az->imds_endpoint = cmx_cfg_strdup(ctx, AZURE_DEFAULT_IMDS);
        azure_url(ctx, node, sub, "imds_endpoint", &az->imds_endpoint);
        if (az->client_id && !plain_token(az->client_id))
            cmx_cfg_error(ctx, cmx_ytree_get(node, "client_id"),
                          "%s.client_id: expected an application (client) id", sub);
        return;
    }
    az->auth = CMX_AZURE_AUTH_CLIENT_SECRET;
    az->authority = cmx_cfg_strdup(ctx, AZURE_DEFAULT_AUTHORITY);
    azure_url(ctx, node, sub, "authority", &az->authority);
    cmx_cfg_string(ctx, node, sub, "tenant_id", &az->tenant_id);
    static const char *const required[] = {"tenant_id", "client_id", "client_secret"};
    for (size_t i = 0; i < 3; i++)
        if (!cmx_ytree_get(node, required[i]))
            cmx_cfg_error(ctx, node,
                          "%s: missing required key '%s' (client credentials need tenant_id, "
                          "client_id and client_secret; or use managed_identity: true)",
                          sub, required[i]);
    if (az->tenant_id && !plain_token(az->tenant_id))
        cmx_cfg_error(ctx, cmx_ytree_get(node, "tenant_id"),
                      "%s.tenant_id: expected a directory (tenant) id or domain", sub);
    if (az->client_id && !plain_token(az->client_id))
        cmx_cfg_error(ctx, cmx_ytree_get(node, "client_id"),
                      "%s.client_id: expected an application (client) id", sub);
    const cmx_ynode *secret = cmx_ytree_get(node, "client_secret");
    if (secret) {
        snprintf(sub2, sizeof sub2, "%s.client_secret", sub);
        cmx_cfg_secret(ctx, secret, sub2, &az->client_secret);
    }
}

static void load_azure(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                       const cmx_ynode *v, const char *path)
{
    char sub[192], show[64];
    cmx_azure_config *az = &p->azure;
    if (!cmx_ytree_get(v, "endpoint"))
        cmx_cfg_error(ctx, name_node,
                      "%s: missing required key 'endpoint' (the resource's URL, such as "
                      "https://NAME.openai.azure.com)",
                      path);
    azure_url(ctx, v, path, "endpoint", &p->base_url);
    az->api_version = cmx_cfg_strdup(ctx, AZURE_DEFAULT_API_VERSION);
    cmx_cfg_string(ctx, v, path, "api_version", &az->api_version);
    if (az->api_version && !plain_token(az->api_version))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "api_version"),
                      "%s.api_version: expected a version such as " AZURE_DEFAULT_API_VERSION,
                      path);
    const cmx_ynode *style = cmx_ytree_get(v, "url_style");
    if (style) {
        if (style->kind == CMX_YNODE_SCALAR && strcmp(style->text, "v1") == 0)
            az->url_style_v1 = 1;
        else if (!(style->kind == CMX_YNODE_SCALAR && strcmp(style->text, "deployments") == 0))
            cmx_cfg_error(ctx, style, "%s.url_style: expected deployments or v1, got %s", path,
                          cmx_cfg_show(style, show, sizeof show));
    }
    const cmx_ynode *key = cmx_ytree_get(v, "api_key");
    const cmx_ynode *auth = cmx_ytree_get(v, "auth");
    if (key && auth)
        cmx_cfg_error(ctx, auth, "%s: api_key and auth are mutually exclusive; use one", path);
    else if (!key && !auth)
        cmx_cfg_error(ctx, name_node,
                      "%s: missing credentials: set api_key, or auth with Entra ID client "
                      "credentials, managed_identity: true or workload_identity: true",
                      path);
    if (key) {
        snprintf(sub, sizeof sub, "%s.api_key", path);
        cmx_cfg_secret(ctx, key, sub, &p->api_key);
    }
    if (auth)
        load_azure_auth(ctx, p, auth, path);
    if (cmx_cfg_bool(ctx, v, path, "tls_verify", &p->tls_verify) == 1 && !p->tls_verify)
        cmx_cfg_warning(ctx, cmx_ytree_get(v, "tls_verify"),
                        "%s.tls_verify is false: the provider's certificate will not be checked",
                        path);
    load_ca_file(ctx, p, v, path);
}

/* Vertex's endpoint follows from the location: "global" has no region in
 * its host name. */
static void load_vertex_endpoint(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *v,
                                 const char *path)
{
    char show[64];
    const cmx_ynode *u = cmx_ytree_get(v, "endpoint_url");
    if (u) {
        if (u->kind != CMX_YNODE_SCALAR || u->is_null || cmx_check_http_url(u->text) != 0) {
            int has_userinfo = u->kind == CMX_YNODE_SCALAR && strchr(u->text, '@');
            cmx_cfg_error(
                ctx, u, "%s.endpoint_url: expected an http:// or https:// URL with a host, got %s",
                path, has_userinfo ? "an invalid URL" : cmx_cfg_show(u, show, sizeof show));
            return;
        }
        p->base_url = cmx_cfg_strdup(ctx, u->text);
    } else if (p->location && strcmp(p->location, "global") == 0) {
        p->base_url = cmx_cfg_strdup(ctx, "https://aiplatform.googleapis.com");
    } else if (p->location) {
        char url[128];
        snprintf(url, sizeof url, "https://%s-aiplatform.googleapis.com", p->location);
        p->base_url = cmx_cfg_strdup(ctx, url);
    }
    size_t n = p->base_url ? strlen(p->base_url) : 0;
    while (n > 0 && p->base_url[n - 1] == '/')
        p->base_url[--n] = '\0';
}

/* Project ids and locations go into URL paths and host names. */
static int valid_gcp_word(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
              *s == ':'))
            return 0;
    return 1;
}

static void load_vertex(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                        const cmx_ynode *v, const char *path)
{
    if (cmx_cfg_string(ctx, v, path, "project", &p->project) != 1)
        cmx_cfg_error(ctx, name_node,
                      "%s: missing required key 'project' (the Google Cloud project id)", path);
    else if (!valid_gcp_word(p->project, 63))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "project"),
                      "%s.project: expected a project id (lower-case letters, digits, '-'), got "
                      "'%.40s'",
                      path, p->project);
    p->location = cmx_cfg_strdup(ctx, "us-central1");
    if (cmx_cfg_string(ctx, v, path, "location", &p->location) == 1 &&
        (!valid_gcp_word(p->location, 40) || strchr(p->location, '.') || strchr(p->location, ':')))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "location"),
                      "%s.location: expected a region such as us-central1 or \"global\", got "
                      "'%.40s'",
                      path, p->location);
    load_vertex_endpoint(ctx, p, v, path);
    char *sa = NULL;
    int has_sa = cmx_cfg_string(ctx, v, path, "service_account_file", &sa) == 1;
    if (has_sa) {
        p->service_account_file = cmx_path_resolve(ctx->base_dir, sa);
        free(sa);
        if (!p->service_account_file)
            ctx->oom = 1;
        else if (access(p->service_account_file, R_OK) != 0)
            cmx_cfg_error(ctx, cmx_ytree_get(v, "service_account_file"),
                          "%s.service_account_file: cannot read '%s': %s", path,
                          p->service_account_file, strerror(errno));
    }
    cmx_cfg_bool(ctx, v, path, "metadata_server", &p->metadata_server);
    if (has_sa && p->metadata_server)
        cmx_cfg_error(ctx, cmx_ytree_get(v, "metadata_server"),
                      "%s: set either 'service_account_file' or 'metadata_server: true', not both",
                      path);
    else if (!has_sa && !p->metadata_server)
        cmx_cfg_error(ctx, name_node,
                      "%s: missing credentials: set 'service_account_file' (a service-account JSON "
                      "key) or 'metadata_server: true' (GKE workload identity, GCE)",
                      path);
    const cmx_ynode *m = cmx_ytree_get(v, "metadata_url");
    if (m) {
        if (m->kind != CMX_YNODE_SCALAR || m->is_null || cmx_check_http_url(m->text) != 0)
            cmx_cfg_error(ctx, m, "%s.metadata_url: expected an http:// URL with a host", path);
        else
            p->metadata_url = cmx_cfg_strdup(ctx, m->text);
    } else {
        p->metadata_url = cmx_cfg_strdup(ctx, "http://metadata.google.internal");
    }
    cmx_cfg_bool(ctx, v, path, "drop_unsupported_params", &p->drop_unsupported_params);
    if (cmx_cfg_bool(ctx, v, path, "tls_verify", &p->tls_verify) == 1 && !p->tls_verify)
        cmx_cfg_warning(ctx, cmx_ytree_get(v, "tls_verify"),
                        "%s.tls_verify is false: the provider's certificate will not be checked",
                        path);
    load_ca_file(ctx, p, v, path);
}

static void load_mock(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *v,
                      const char *path)
{
    cmx_mock_config *m = &p->mock;
    uint64_t n;
    cmx_cfg_duration(ctx, v, path, "latency", 1, &m->latency_ms);
    cmx_cfg_duration(ctx, v, path, "chunk_interval", 1, &m->chunk_interval_ms);
    cmx_cfg_double(ctx, v, path, "failure_rate", 0.0, 1.0, &m->failure_rate);
    if (cmx_cfg_uint(ctx, v, path, "failure_status", 400, 599, &n) == 1)
        m->failure_status = (int)n;
    if (cmx_cfg_uint(ctx, v, path, "stream_chunks", 1, 1000, &n) == 1)
        m->stream_chunks = (uint32_t)n;
    cmx_cfg_string(ctx, v, path, "content", &m->content);
    cmx_cfg_uint(ctx, v, path, "seed", 0, UINT64_MAX, &m->seed);
}

static void load_timeouts(cmx_cfg_ctx *ctx, cmx_timeouts_config *t, const cmx_ynode *v,
                          const char *path)
{
    char sub[192]; /* path + a sub-key */
    snprintf(sub, sizeof sub, "%s.timeouts", path);
    const cmx_ynode *node = cmx_ytree_get(v, "timeouts");
    if (!cmx_cfg_check_map(ctx, node, sub, timeout_keys))
        return;
    cmx_cfg_duration(ctx, node, sub, "connect", 0, &t->connect_ms);
    cmx_cfg_duration(ctx, node, sub, "first_byte", 0, &t->first_byte_ms);
    cmx_cfg_duration(ctx, node, sub, "idle", 0, &t->idle_ms);
    cmx_cfg_duration(ctx, node, sub, "total", 0, &t->total_ms);
}

static void set_provider_defaults(cmx_provider_config *p)
{
    p->tls_verify = 1;
    p->timeouts = (cmx_timeouts_config){
        .connect_ms = 5000, .first_byte_ms = 60000, .idle_ms = 30000, .total_ms = 600000};
    p->mock.failure_status = 503;
    p->mock.stream_chunks = 5;
    p->mock.seed = 1;
    p->default_max_tokens = 4096;
    p->health = (cmx_health_check_config){0, 15000, 5000, NULL, 2, 1};
}

/* A provider entry that is not a mapping is most often a mistake of
 * indentation: a provider's settings written at the level of its name.
 * Says so when the names around look like settings. */
static int indentation_mistake(cmx_cfg_ctx *ctx, const cmx_ynode *providers, size_t i,
                               const char *path)
{
    const cmx_ynode *name_node = providers->pairs[i].key;
    const cmx_ynode *v = providers->pairs[i].value;
    if (in_list(all_keys, name_node->text)) {
        cmx_cfg_error(ctx, name_node,
                      "%s: '%s' is a provider setting, not a provider name; check the "
                      "indentation of the provider above it (its settings must be indented "
                      "below its name)",
                      path, name_node->text);
        return 1;
    }
    const cmx_ynode *next = i + 1 < providers->n_pairs ? providers->pairs[i + 1].key : NULL;
    if (v->is_null && next && next->kind == CMX_YNODE_SCALAR && in_list(all_keys, next->text)) {
        cmx_cfg_error(ctx, name_node,
                      "%s: expected a mapping with at least 'type', got nothing; check the "
                      "indentation of the lines below '%s' (its settings must be indented below "
                      "its name)",
                      path, name_node->text);
        return 1;
    }
    return 0;
}

static void load_provider(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *providers,
                          size_t index)
{
    const cmx_ynode *name_node = providers->pairs[index].key;
    const cmx_ynode *v = providers->pairs[index].value;
    char path[160], show[64];
    snprintf(path, sizeof path, "providers.%s", name_node->text);
    set_provider_defaults(p);
    p->name = cmx_cfg_strdup(ctx, name_node->text);
    p->line = name_node->line;
    if (!valid_provider_name(name_node->text))
        cmx_cfg_error(ctx, name_node,
                      "invalid provider name %s (use 1 to 64 letters, digits, '-', '_' or '.')",
                      cmx_cfg_show(name_node, show, sizeof show));
    if (v->kind != CMX_YNODE_MAP) {
        if (indentation_mistake(ctx, providers, index, path))
            return;
        /* An empty value has no useful position of its own: blame the name. */
        cmx_cfg_error(ctx, v->is_null ? name_node : v,
                      "%s: expected a mapping with at least 'type', got %s", path,
                      cmx_ynode_kind_name(v));
        return;
    }
    int type = read_type(ctx, name_node, v, path);
    check_keys(ctx, v, path, type);
    load_timeouts(ctx, &p->timeouts, v, path);
    load_health_check(ctx, &p->health, v, path);
    if (p->health.enabled && !p->health.path)
        p->health.path = cmx_cfg_strdup(ctx, "/models");
    if (cmx_cfg_string(ctx, v, path, "residency", &p->residency) == 1 &&
        !cmx_cfg_valid_residency(p->residency))
        cmx_cfg_error(ctx, cmx_ytree_get(v, "residency"),
                      "%s.residency: expected a region tag of 1 to 32 lower-case letters, digits "
                      "or '-' (such as eu, us, eu-west), got '%.40s'",
                      path, p->residency);
    if (type < 0)
        return;
    p->type = (cmx_provider_type)type;
    p->type_name = cmx_cfg_strdup(ctx, provider_types[type].name);
    if (type == CMX_PROVIDER_OPENAI) {
        load_openai(ctx, p, name_node, v, path);
    } else if (type == CMX_PROVIDER_ANTHROPIC) {
        load_anthropic(ctx, p, name_node, v, path);
    } else if (type == CMX_PROVIDER_BEDROCK) {
        load_bedrock(ctx, p, name_node, v, path);
    } else if (type == CMX_PROVIDER_AZURE) {
        load_azure(ctx, p, name_node, v, path);
    } else if (type == CMX_PROVIDER_VERTEX) {
        load_vertex(ctx, p, name_node, v, path);
    } else {
        p->mock.content = cmx_cfg_strdup(ctx, MOCK_DEFAULT_CONTENT);
        load_mock(ctx, p, v, path);
    }
}

void cmx_cfg_load_providers(cmx_cfg_ctx *ctx, const cmx_ynode *node)
{
    if (!node || (node->kind == CMX_YNODE_SCALAR && node->is_null))
        return;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "providers: expected a mapping of provider name to settings, got %s",
                      cmx_ynode_kind_name(node));
        return;
    }
    cmx_cfg_check_names(ctx, node, "providers");
    if (!node->n_pairs)
        return;
    cmx_config *c = ctx->cfg;
    c->providers = calloc(node->n_pairs, sizeof *c->providers);
    if (!c->providers) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0; i < node->n_pairs; i++) {
        if (!cmx_cfg_is_first_name(node, i))
            continue; /* duplicates and odd keys were reported above */
        load_provider(ctx, &c->providers[c->n_providers++], node, i);
    }
}
