/* metrics_bench.c — what recording one request into a metrics shard costs:
 * the request itself (requests_total, duration, overhead, tokens) and two
 * attempts (a failover), as cmx_reply_log does it, including the target
 * lookups.  Build: cmake --build build --target metrics_bench. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "obs/metrics.h"

static const char yaml[] =
    "providers:\n  a: { type: mock }\n  b: { type: mock }\n"
    "models:\n"
    "  chat: { targets: [ { provider: a, model: m1 }, { provider: b, model: m2 } ] }\n"
    "  other: { targets: [ { provider: b, model: m3 } ] }\n";

int main(void)
{
    cmx_config_diag diag = {0};
    cmx_config *cfg = cmx_config_load_string(yaml, strlen(yaml), "bench.yaml", &diag);
    cmx_config_diag_free(&diag);
    cmx_error err;
    cmx_metrics *m = cfg ? cmx_metrics_new(cfg, 2, &err) : NULL;
    if (!m)
        return 1;
    cmx_metrics_shard *s = cmx_metrics_shard_at(m, 0);
    const cmx_model_group *g = &cfg->models[0];
    const char *prov[2] = {g->targets[0].provider->name, g->targets[1].provider->name};
    const char *model[2] = {g->targets[0].model, g->targets[1].model};
    enum { N = 10000000 };
    uint64_t t0 = cmx_now_us();
    for (uint64_t i = 0; i < N; i++) {
        cmx_metrics_request_begin(s);
        cmx_metrics_request rq = {.api = CMX_API_CHAT,
                                  .group = g,
                                  .target = cmx_metrics_target_index(g, prov[1], model[1]),
                                  .status = 200,
                                  .stream = (int)(i & 1),
                                  .duration_us = 1000 + (i & 0xffff) * 50,
                                  .upstream_us = 900 + (i & 0xffff) * 50,
                                  .prompt_tokens = 12,
                                  .completion_tokens = 30};
        cmx_metrics_record_request(s, &rq);
        cmx_metrics_record_attempt(s, g, cmx_metrics_target_index(g, prov[0], model[0]),
                                   CMX_ERR_UNAVAILABLE);
        cmx_metrics_record_attempt(s, g, cmx_metrics_target_index(g, prov[1], model[1]), CMX_OK);
        cmx_metrics_request_end(s);
    }
    uint64_t t1 = cmx_now_us();
    printf("record one request with two attempts: %.1f ns\n", (double)(t1 - t0) * 1000.0 / N);
    cmx_buf out = CMX_BUF_INIT;
    t0 = cmx_now_us();
    cmx_metrics_format(m, NULL, 0, "bench", &out);
    t1 = cmx_now_us();
    printf("one scrape: %llu us, %zu bytes\n", (unsigned long long)(t1 - t0), out.len);
    cmx_buf_free(&out);
    cmx_metrics_free(m);
    cmx_config_unref(cfg);
    return 0;
}
