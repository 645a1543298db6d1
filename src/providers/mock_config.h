/* mock_config.h — the mock provider's settings (read by mock_config.c from
 * its keys): how the simulated service behaves. */
#ifndef CMX_PROVIDERS_MOCK_CONFIG_H
#define CMX_PROVIDERS_MOCK_CONFIG_H

#include <stdint.h>

#include "config/config_module.h"

typedef struct cmx_mock_settings {
    uint32_t latency_ms;        /* before the first byte; default 0 */
    uint32_t chunk_interval_ms; /* between stream chunks; default 0 */
    double failure_rate;        /* 0..1; default 0 */
    uint32_t failure_status;    /* default 503 */
    uint32_t stream_chunks;     /* content chunks per stream; default 5 */
    char *content;              /* reply text; default a short simulated answer */
    uint64_t seed;              /* RNG seed for failures; default 1 */
} cmx_mock_settings;

extern const cmx_provider_schema cmx_mock_schema;

static inline const cmx_mock_settings *cmx_mock_settings_of(const cmx_provider_config *p)
{
    return (const cmx_mock_settings *)p->settings;
}

#endif
