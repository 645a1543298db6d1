/* bedrock_config.c — the keys of a bedrock provider (see docs/config.md),
 * the endpoint that follows from the region, and where the credentials
 * come from.
 *
 * Credentials come whole from one place, as AWS's own clients take them: a
 * key pair in the config never gets the environment's session token.  Only
 * the static sources (the config, the environment) are read here; the rest
 * of the chain is aws_credentials.c's, at first use. */
#include "providers/bedrock_config.h"
#include "providers/aws_credentials.h"

#include "core/wipe.h"
#include "providers/anthropic_beta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(field) CMX_SETTING(cmx_bedrock_settings, field)

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

static const char *const credential_modes[] = {
    "auto", "static", "environment", "web_identity", "profile", "container", "instance", NULL};
static const char *const apis[] = {"converse", "invoke", NULL};

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"region", CMX_KEY_STRING, S(region), CMX_KEY_REQUIRED,
     .doc = "the AWS region signed into every request",
     .expected = "an AWS region such as us-east-1", .check = valid_region,
     .hint = "the AWS region, such as us-east-1"},
    {"endpoint_url", CMX_KEY_URL, CMX_SHARED(base_url), CMX_KEY_SHARED,
     .doc = "another endpoint (a VPC endpoint, a test server)"},
    {"access_key_id", CMX_KEY_SECRET, S(access_key_id), .doc = "a static key pair's id"},
    {"secret_access_key", CMX_KEY_SECRET, S(secret_access_key), .doc = "its secret"},
    {"session_token", CMX_KEY_SECRET, S(session_token), .doc = "and its session token"},
    {"drop_unsupported_params", CMX_KEY_BOOL, S(drop_unsupported_params),
     .doc = "drop parameters the model cannot take instead of answering 400"},
    {"anthropic_betas", CMX_KEY_STRING, S(anthropic_betas), .def = CMX_CLAUDE_CLOUD_BETAS,
     .doc = "the anthropic-beta names Claude gets (comma-separated, \"*\" for all); others are "
            "dropped",
     .expected = "comma-separated beta names, or \"*\"", .check = cmx_anthropic_betas_valid},
    CMX_KEY_CONNECTION_ENTRIES,
    {"credentials", CMX_KEY_ENUM, S(credentials), .def = "auto",
     .doc = "where the keys come from: the SDKs' chain, or one source of it",
     .choices = credential_modes},
    {"profile", CMX_KEY_STRING, S(profile), .doc = "the shared files' profile"},
    {"api", CMX_KEY_ENUM, S(api), .def = "converse",
     .doc = "converse, or invoke for anthropic.* models in Anthropic's own bodies",
     .choices = apis},
    {NULL},
};

/* A key from the environment, when the config names none. */
static void from_env(cmx_cfg_ctx *ctx, const char *env, char **out)
{
    const char *value = getenv(env);
    if (value && *value && !*out)
        *out = cmx_cfg_strdup(ctx, value);
}

static void check_credentials(cmx_cfg_ctx *ctx, cmx_bedrock_settings *s, const cmx_ynode *name_node,
                              const cmx_ynode *v, const char *path)
{
    int m = s->credentials;
    int from_config = cmx_ytree_get(v, "access_key_id") || cmx_ytree_get(v, "secret_access_key") ||
                      cmx_ytree_get(v, "session_token");
    if (from_config && m != CMX_AWS_CREDS_AUTO && m != CMX_AWS_CREDS_STATIC) {
        cmx_cfg_error(ctx, cmx_ytree_get(v, "credentials"),
                      "%s: access_key_id/secret_access_key are set but credentials is '%s'", path,
                      credential_modes[m]);
        return;
    }
    if (from_config) {
        /* an unresolvable reference was reported where it stands */
        static const char *const pair[] = {"access_key_id", "secret_access_key", NULL};
        cmx_cfg_require_together(ctx, v, name_node, path, pair, "missing",
                                 "credentials in the config need both access_key_id and "
                                 "secret_access_key");
        return;
    }
    if (m == CMX_AWS_CREDS_AUTO || m == CMX_AWS_CREDS_ENVIRONMENT) {
        from_env(ctx, "AWS_ACCESS_KEY_ID", &s->access_key_id);
        from_env(ctx, "AWS_SECRET_ACCESS_KEY", &s->secret_access_key);
        from_env(ctx, "AWS_SESSION_TOKEN", &s->session_token);
    }
    int pair = s->access_key_id && s->secret_access_key;
    if ((m == CMX_AWS_CREDS_STATIC || m == CMX_AWS_CREDS_ENVIRONMENT) && !pair) {
        cmx_cfg_error(ctx, name_node,
                      "%s: no AWS credentials: set access_key_id and secret_access_key (env:NAME "
                      "or file:PATH) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                      path);
    } else if (m == CMX_AWS_CREDS_AUTO && !pair) {
        /* half a pair in the environment is not a pair: the chain goes on */
        char **keys_read[] = {&s->access_key_id, &s->secret_access_key, &s->session_token};
        for (size_t i = 0; i < 3; i++) {
            cmx_free_secret(*keys_read[i]);
            *keys_read[i] = NULL;
        }
    }
}

static void finish(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                   const cmx_ynode *v, const char *path)
{
    cmx_bedrock_settings *s = p->settings;
    if (!p->base_url && s->region && valid_region(s->region)) {
        char url[128];
        snprintf(url, sizeof url, "https://bedrock-runtime.%s.amazonaws.com", s->region);
        p->base_url = cmx_cfg_strdup(ctx, url);
    }
    check_credentials(ctx, s, name_node, v, path);
}

const cmx_provider_schema cmx_bedrock_schema = {
    .type = "bedrock",
    .keys = keys,
    .settings_size = sizeof(cmx_bedrock_settings),
    .finish = finish,
};
