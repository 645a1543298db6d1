/* anthropic_config.c — the keys of an anthropic provider (see
 * docs/config.md). */
#include "providers/anthropic_config.h"

#define S(field) CMX_SETTING(cmx_anthropic_settings, field)

/* The value goes into a header line: no control characters. */
static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"base_url", CMX_KEY_URL, CMX_SHARED(base_url), CMX_KEY_SHARED,
     .def = "https://api.anthropic.com", .doc = "the API root (/v1/messages is added)"},
    {"api_key", CMX_KEY_SECRET, S(api_key), .doc = "sent as x-api-key"},
    {"anthropic_version", CMX_KEY_STRING, S(anthropic_version), .def = "2023-06-01",
     .doc = "sent as anthropic-version", .expected = "a version such as 2023-06-01",
     .check = header_safe},
    {"default_max_tokens", CMX_KEY_UINT, S(default_max_tokens), .def = "4096",
     .doc = "max_tokens when the client sends none (Anthropic requires one)", .min = 1,
     .max = 1000000},
    {"drop_unsupported_params", CMX_KEY_BOOL, S(drop_unsupported_params),
     .doc = "drop parameters Anthropic cannot take instead of answering 400"},
    CMX_KEY_CONNECTION_ENTRIES,
    CMX_KEY_HEALTH_CHECK_ENTRY,
    {NULL},
};

const cmx_provider_schema cmx_anthropic_schema = {
    .type = "anthropic",
    .keys = keys,
    .settings_size = sizeof(cmx_anthropic_settings),
};
