/* openai_config.c — the keys of an openai provider (see docs/config.md). */
#include "providers/openai_config.h"

#define S(field) CMX_SETTING(cmx_openai_settings, field)

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"base_url", CMX_KEY_URL, CMX_SHARED(base_url), CMX_KEY_SHARED | CMX_KEY_REQUIRED,
     .doc = "the API's URL up to /chat/completions",
     .hint = "the API's URL, such as https://api.openai.com/v1 or http://127.0.0.1:8000/v1"},
    {"api_key", CMX_KEY_SECRET, S(api_key), .doc = "sent as Authorization: Bearer"},
    {"organization", CMX_KEY_STRING, S(organization), .doc = "sent as OpenAI-Organization"},
    CMX_KEY_CONNECTION_ENTRIES,
    CMX_KEY_HEALTH_CHECK_ENTRY,
    {NULL},
};

const cmx_provider_schema cmx_openai_schema = {
    .type = "openai",
    .keys = keys,
    .settings_size = sizeof(cmx_openai_settings),
};
