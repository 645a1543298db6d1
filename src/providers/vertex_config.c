/* vertex_config.c — the keys of a vertex provider (see docs/config.md),
 * the endpoint that follows from the location, and the one source of
 * tokens it must name. */
#include "providers/vertex_config.h"
#include "providers/anthropic_beta.h"

#include <stdio.h>
#include <string.h>

#define S(field) CMX_SETTING(cmx_vertex_settings, field)

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

static int valid_project(const char *s)
{
    return valid_gcp_word(s, 63);
}

static int valid_location(const char *s)
{
    return valid_gcp_word(s, 40) && !strchr(s, '.') && !strchr(s, ':');
}

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"project", CMX_KEY_STRING, S(project), CMX_KEY_REQUIRED, .doc = "the Google Cloud project id",
     .expected = "a project id (lower-case letters, digits, '-')", .check = valid_project,
     .hint = "the Google Cloud project id"},
    {"location", CMX_KEY_STRING, S(location), .def = "us-central1",
     .doc = "the region (or \"global\") the endpoint follows from",
     .expected = "a region such as us-central1 or \"global\"", .check = valid_location},
    {"endpoint_url", CMX_KEY_URL, CMX_SHARED(base_url), CMX_KEY_SHARED,
     .doc = "another endpoint (a private endpoint, a test server)"},
    {"service_account_file", CMX_KEY_FILE, S(service_account_file),
     .doc = "a service-account JSON key to sign token requests with"},
    {"metadata_server", CMX_KEY_BOOL, S(metadata_server),
     .doc = "take tokens from the metadata server (GKE workload identity, GCE)"},
    {"metadata_url", CMX_KEY_URL, S(metadata_url), .def = "http://metadata.google.internal",
     .doc = "the metadata server's origin"},
    {"drop_unsupported_params", CMX_KEY_BOOL, S(drop_unsupported_params),
     .doc = "drop parameters Gemini cannot take instead of answering 400"},
    {"anthropic_betas", CMX_KEY_STRING, S(anthropic_betas), .def = CMX_CLAUDE_CLOUD_BETAS,
     .doc = "the anthropic-beta names Claude gets (comma-separated, \"*\" for all); others are "
            "dropped",
     .expected = "comma-separated beta names, or \"*\"", .check = cmx_anthropic_betas_valid},
    CMX_KEY_CONNECTION_ENTRIES,
    {NULL},
};

static void finish(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name_node,
                   const cmx_ynode *v, const char *path)
{
    cmx_vertex_settings *s = p->settings;
    /* "global" has no region in its host name */
    if (!p->base_url && s->location && strcmp(s->location, "global") == 0) {
        p->base_url = cmx_cfg_strdup(ctx, "https://aiplatform.googleapis.com");
    } else if (!p->base_url && s->location && valid_location(s->location)) {
        char url[128];
        snprintf(url, sizeof url, "https://%s-aiplatform.googleapis.com", s->location);
        p->base_url = cmx_cfg_strdup(ctx, url);
    }
    int has_file = cmx_ytree_get(v, "service_account_file") != NULL;
    if (has_file && s->metadata_server)
        cmx_cfg_error(ctx, cmx_ytree_get(v, "metadata_server"),
                      "%s: set either 'service_account_file' or 'metadata_server: true', not both",
                      path);
    else if (!has_file && !s->metadata_server)
        cmx_cfg_error(ctx, name_node,
                      "%s: missing credentials: set 'service_account_file' (a service-account JSON "
                      "key) or 'metadata_server: true' (GKE workload identity, GCE)",
                      path);
}

const cmx_provider_schema cmx_vertex_schema = {
    .type = "vertex",
    .keys = keys,
    .settings_size = sizeof(cmx_vertex_settings),
    .finish = finish,
};
