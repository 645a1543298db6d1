/* azure_config.c — the keys of an azure provider (see docs/config.md):
 * the endpoint, the URL style, and an api_key or an `auth` section with
 * Entra ID client credentials, a managed identity or a workload identity,
 * which exclude each other and have keys of their own. */
#include "providers/azure_config.h"

#include "config/values.h"
#include "core/wipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(field) CMX_SETTING(cmx_azure_settings, field)
#define DEFAULT_API_VERSION "2024-10-21"
#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_SCOPE "https://cognitiveservices.azure.com/.default"
#define DEFAULT_IMDS "http://169.254.169.254/metadata/identity/oauth2/token"

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

static const char *const client_secret_keys[] = {
    "tenant_id", "client_id",        "client_secret",     "authority",
    "scope",     "managed_identity", "workload_identity", NULL};
static const char *const managed_identity_keys[] = {"managed_identity", "client_id",
                                                    "imds_endpoint", "scope", NULL};
static const char *const workload_identity_keys[] = {
    "workload_identity", "client_id", "tenant_id", "token_file", "authority", "scope", NULL};

static void check_token(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                        const char *value, const char *what)
{
    if (value && !plain_token(value))
        cmx_cfg_error(ctx, cmx_ytree_get(map, key), "%s.%s: expected %s", path, key, what);
}

static void load_managed_identity(cmx_cfg_ctx *ctx, cmx_azure_settings *az, const cmx_ynode *node,
                                  const char *path)
{
    az->auth = CMX_AZURE_AUTH_MANAGED_IDENTITY;
    az->imds_endpoint = cmx_cfg_strdup(ctx, DEFAULT_IMDS);
    cmx_cfg_url(ctx, node, path, "imds_endpoint", 1, &az->imds_endpoint);
    check_token(ctx, node, path, "client_id", az->client_id, "an application (client) id");
}

/* A workload identity setting: the file's key, else the environment variable
 * the AKS webhook injects; an error names both when neither is there. */
static void workload_identity_setting(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path,
                                      const char *key, const char *env_name, char **out)
{
    cmx_cfg_string(ctx, node, path, key, out);
    const char *from_env = getenv(env_name);
    if (!*out && from_env && *from_env)
        *out = cmx_cfg_strdup(ctx, from_env);
    if (!*out && !cmx_ytree_get(node, key))
        cmx_cfg_error(ctx, node,
                      "%s: workload identity needs %s: set %s (the AKS workload identity webhook "
                      "sets it in pods labelled azure.workload.identity/use: \"true\") or %s.%s",
                      path, key, env_name, path, key);
}

/* workload_identity: true: AKS workload identity, settings from the
 * environment the webhook injects unless the file names them.  Errors point
 * at the section, since a value may have come from the environment. */
static void load_workload_identity(cmx_cfg_ctx *ctx, cmx_azure_settings *az, const cmx_ynode *node,
                                   const char *path)
{
    az->auth = CMX_AZURE_AUTH_WORKLOAD_IDENTITY;
    workload_identity_setting(ctx, node, path, "client_id", "AZURE_CLIENT_ID", &az->client_id);
    workload_identity_setting(ctx, node, path, "tenant_id", "AZURE_TENANT_ID", &az->tenant_id);
    workload_identity_setting(ctx, node, path, "token_file", "AZURE_FEDERATED_TOKEN_FILE",
                              &az->token_file);
    const char *host = getenv("AZURE_AUTHORITY_HOST");
    az->authority = cmx_cfg_strdup(ctx, host && *host ? host : DEFAULT_AUTHORITY);
    size_t n = az->authority ? strlen(az->authority) : 0;
    while (n > 0 && az->authority[n - 1] == '/') /* the webhook's value ends in '/' */
        az->authority[--n] = '\0';
    if (az->authority && !cmx_ytree_get(node, "authority") && cmx_check_http_url(az->authority))
        cmx_cfg_error(ctx, node, "%s: AZURE_AUTHORITY_HOST is not an http(s) URL", path);
    cmx_cfg_url(ctx, node, path, "authority", 1, &az->authority);
    if (az->tenant_id && !plain_token(az->tenant_id))
        cmx_cfg_error(ctx, node, "%s.tenant_id: expected a directory (tenant) id or domain", path);
    if (az->client_id && !plain_token(az->client_id))
        cmx_cfg_error(ctx, node, "%s.client_id: expected an application (client) id", path);
}

static void load_client_secret(cmx_cfg_ctx *ctx, cmx_azure_settings *az, const cmx_ynode *node,
                               const char *path)
{
    az->auth = CMX_AZURE_AUTH_CLIENT_SECRET;
    az->authority = cmx_cfg_strdup(ctx, DEFAULT_AUTHORITY);
    cmx_cfg_url(ctx, node, path, "authority", 1, &az->authority);
    cmx_cfg_string(ctx, node, path, "tenant_id", &az->tenant_id);
    static const char *const required[] = {"tenant_id", "client_id", "client_secret", NULL};
    cmx_cfg_require_together(ctx, node, node, path, required, "missing required key",
                             "client credentials need tenant_id, client_id and client_secret; "
                             "or use managed_identity: true");
    check_token(ctx, node, path, "tenant_id", az->tenant_id, "a directory (tenant) id or domain");
    check_token(ctx, node, path, "client_id", az->client_id, "an application (client) id");
    const cmx_ynode *secret = cmx_ytree_get(node, "client_secret");
    if (secret) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.client_secret", path);
        cmx_cfg_secret(ctx, secret, sub, &az->client_secret);
    }
}

/* `auth:` Entra ID client credentials, managed_identity: true or
 * workload_identity: true. */
static void load_auth(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *node,
                      const char *path)
{
    cmx_azure_settings *az = p->settings;
    if (node->kind != CMX_YNODE_MAP) {
        cmx_cfg_error(ctx, node,
                      "%s: expected a mapping with tenant_id, client_id and client_secret, "
                      "managed_identity: true or workload_identity: true",
                      path);
        return;
    }
    int mi = 0, wi = 0;
    cmx_cfg_bool(ctx, node, path, "managed_identity", &mi);
    cmx_cfg_bool(ctx, node, path, "workload_identity", &wi);
    if (mi && wi) {
        cmx_cfg_error(ctx, node,
                      "%s: managed_identity and workload_identity are mutually exclusive", path);
        return;
    }
    if (!cmx_cfg_check_map(ctx, node, path,
                           wi   ? workload_identity_keys
                           : mi ? managed_identity_keys
                                : client_secret_keys))
        return;
    cmx_cfg_string(ctx, node, path, "scope", &az->scope);
    for (const char *c = az->scope; c && *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            cmx_cfg_error(ctx, cmx_ytree_get(node, "scope"),
                          "%s.scope: expected a scope such as " DEFAULT_SCOPE, path);
            break;
        }
    if (wi) {
        load_workload_identity(ctx, az, node, path);
        return;
    }
    cmx_cfg_string(ctx, node, path, "client_id", &az->client_id);
    if (mi)
        load_managed_identity(ctx, az, node, path);
    else
        load_client_secret(ctx, az, node, path);
}

static const char *const url_styles[] = {"deployments", "v1", NULL};

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"endpoint", CMX_KEY_URL, CMX_SHARED(base_url),
     CMX_KEY_SHARED | CMX_KEY_REQUIRED | CMX_KEY_NO_USERINFO, .doc = "the resource's URL",
     .hint = "the resource's URL, such as https://NAME.openai.azure.com"},
    {"api_version", CMX_KEY_STRING, S(api_version), .def = DEFAULT_API_VERSION,
     .doc = "the api-version of url_style deployments",
     .expected = "a version such as " DEFAULT_API_VERSION, .check = plain_token},
    {"api_key", CMX_KEY_SECRET, S(api_key), .doc = "sent as the api-key header"},
    {"auth", CMX_KEY_SECTION, 0,
     .doc = "Entra ID client credentials, a managed identity or a workload identity",
     .load = load_auth},
    {"url_style", CMX_KEY_ENUM, S(url_style_v1), .def = "deployments",
     .doc = "deployments (the model is the deployment) or v1 (the model in the body)",
     .choices = url_styles},
    CMX_KEY_CONNECTION_ENTRIES,
    {NULL},
};

static void finish(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                   const cmx_ynode *v, const char *path)
{
    const cmx_ynode *key = cmx_ytree_get(v, "api_key");
    const cmx_ynode *auth = cmx_ytree_get(v, "auth");
    if (key && auth)
        cmx_cfg_error(ctx, auth, "%s: api_key and auth are mutually exclusive; use one", path);
    else if (!key && !auth)
        cmx_cfg_error(ctx, name_node,
                      "%s: missing credentials: set api_key, or auth with Entra ID client "
                      "credentials, managed_identity: true or workload_identity: true",
                      path);
}

static void release(cmx_provider_config *p)
{
    cmx_azure_settings *az = p->settings;
    free(az->tenant_id);
    free(az->client_id);
    cmx_free_secret(az->client_secret);
    free(az->authority);
    free(az->scope);
    free(az->imds_endpoint);
    free(az->token_file);
}

const cmx_provider_schema cmx_azure_schema = {
    .type = "azure",
    .keys = keys,
    .settings_size = sizeof(cmx_azure_settings),
    .finish = finish,
    .release = release,
};
