/* mock_config.c — the keys of a mock provider (see docs/config.md).  A
 * mock target may leave out `model`: it answers as the group's name. */
#include "providers/mock_config.h"

#define S(field) CMX_SETTING(cmx_mock_settings, field)

static const cmx_config_key keys[] = {
    CMX_KEY_TIMEOUTS_ENTRY,
    {"latency", CMX_KEY_DURATION, S(latency_ms), .doc = "wait before the first byte"},
    {"chunk_interval", CMX_KEY_DURATION, S(chunk_interval_ms), .doc = "wait between stream chunks"},
    {"failure_rate", CMX_KEY_DOUBLE, S(failure_rate), .doc = "share of requests that fail",
     .min = 0, .max = 1},
    {"failure_status", CMX_KEY_UINT, S(failure_status), .def = "503",
     .doc = "the HTTP status a failing request gets", .min = 400, .max = 599},
    {"stream_chunks", CMX_KEY_UINT, S(stream_chunks), .def = "5",
     .doc = "content chunks in a streamed answer", .min = 1, .max = 1000},
    {"content", CMX_KEY_STRING, S(content),
     .def = "This is a simulated answer from the cloudmux mock provider. No model was called.",
     .doc = "the answer's text"},
    {"seed", CMX_KEY_UINT64, S(seed), .def = "1",
     .doc = "seed of the failure draws, so runs repeat", .min = 0, .max = 1.9e19},
    CMX_KEY_RESIDENCY_ENTRY,
    {NULL},
};

const cmx_provider_schema cmx_mock_schema = {
    .type = "mock",
    .keys = keys,
    .settings_size = sizeof(cmx_mock_settings),
    .model_optional = 1,
    .unpriced = 1,
};
