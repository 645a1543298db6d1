/* vertex_claude.c — Claude on Vertex AI: Anthropic's Messages API behind
 * Google's endpoint and tokens.
 *
 * Vertex serves Anthropic models at
 * publishers/anthropic/models/{model}:rawPredict (:streamRawPredict for
 * streams) with the Messages request body, except that the model is named
 * by the URL, not the body, and the version goes into the body as
 * "anthropic_version": "vertex-2023-10-16" instead of a header.  Answers and
 * streams are Anthropic's own, so the anthropic translators do the rest. */
#include "vertex.h"

#include <stdlib.h>
#include <string.h>

#include "providers/anthropic.h"
#include "core/str.h"

int cmx_vertex_is_claude(const char *model)
{
    return model && CMX_STARTS_WITH(model, "claude");
}

cmx_err cmx_vertex_claude_path(const char *prefix, const char *project, const char *location,
                               const char *model, int stream, cmx_buf *out, cmx_error *err)
{
    cmx_buf tmp = CMX_BUF_INIT;
    /* the model id is checked as for Gemini, then the publisher swapped in */
    cmx_err e = cmx_vertex_model_path(prefix, project, location, model, 0, &tmp, err);
    if (e == CMX_OK) {
        char *at = strstr(tmp.data, "/publishers/google/models/");
        size_t head = (size_t)(at - tmp.data);
        if (cmx_buf_append(out, tmp.data, head) != 0 ||
            cmx_buf_printf(out, "/publishers/anthropic/models/%s:%s", model,
                           stream ? "streamRawPredict" : "rawPredict") != 0)
            e = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    cmx_buf_free(&tmp);
    return e;
}

cmx_err cmx_vertex_claude_count_path(const char *prefix, const char *project, const char *location,
                                     const char *model, int stream, cmx_buf *out, cmx_error *err)
{
    (void)model;
    (void)stream;
    return cmx_vertex_claude_path(prefix, project, location, "count-tokens", 0, out, err);
}
