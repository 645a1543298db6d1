/* server_detached.c — exchanges that no connection carries.
 *
 * The gateway's handler answers through cmx_http_respond and
 * cmx_http_stream_*; an exchange made here has a sink instead of a
 * connection, so the same handler (and with it the router, the pools and the
 * credentials of the worker) serves a request that came from somewhere else,
 * such as a Lambda event.  The state machine is the connection's: ACTIVE
 * until a whole answer or a stream head, STREAMING until the end, NONE after,
 * and on_close runs when the owner cancels an unfinished answer. */
#include <stdlib.h>

#include "core/clock.h"
#include "http/server_internal.h"

#define DETACHED_ARENA_BLOCK 8192

cmx_http_exchange *cmx_http_exchange_new(const cmx_http_sink *sink, void *sink_arg)
{
    cmx_http_exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->req.arena = cmx_arena_new(DETACHED_ARENA_BLOCK);
    if (!ex->req.arena) {
        free(ex);
        return NULL;
    }
    ex->sink = sink;
    ex->sink_arg = sink_arg;
    ex->state = EX_ACTIVE;
    ex->req.method = cmx_slice_of("GET");
    ex->req.path = cmx_slice_of("/");
    ex->req.query = cmx_slice_of("");
    ex->req.body = "";
    ex->req.keep_alive = 1;
    ex->req.start_us = cmx_now_us();
    return ex;
}

cmx_http_request *cmx_http_exchange_request(cmx_http_exchange *ex)
{
    return &ex->req;
}

int cmx_http_exchange_active(const cmx_http_exchange *ex)
{
    return ex->state == EX_ACTIVE || ex->state == EX_STREAMING;
}

void cmx_http_exchange_cancel(cmx_http_exchange *ex)
{
    if (!cmx_http_exchange_active(ex))
        return;
    cmx_http_close_cb cb = ex->on_close;
    ex->state = EX_CLOSING; /* the writers ignore calls from on_close */
    if (cb)
        cb(ex, ex->on_close_arg);
    ex->state = EX_NONE;
    ex->on_close = NULL;
}

void cmx_http_exchange_free(cmx_http_exchange *ex)
{
    if (!ex)
        return;
    cmx_arena_free(ex->req.arena);
    free(ex);
}

/* ---- the response calls, from server_write.c ------------------------------ */

static void finish(cmx_http_exchange *ex)
{
    ex->state = EX_NONE;
    ex->on_close = NULL;
}

void cmx_http_detached_respond(cmx_http_exchange *ex, int status, const char *content_type,
                               const char *extra_headers, const char *body, size_t body_len)
{
    finish(ex);
    ex->sink->respond(ex->sink_arg, status, content_type, extra_headers, body, body_len);
}

void cmx_http_detached_stream_begin(cmx_http_exchange *ex, int status, const char *content_type,
                                    const char *extra_headers)
{
    ex->state = EX_STREAMING;
    ex->sink->stream_begin(ex->sink_arg, status, content_type, extra_headers);
}

void cmx_http_detached_stream_write(cmx_http_exchange *ex, const char *data, size_t len)
{
    ex->sink->stream_write(ex->sink_arg, data, len);
}

size_t cmx_http_detached_stream_pending(cmx_http_exchange *ex)
{
    return ex->sink->stream_pending ? ex->sink->stream_pending(ex->sink_arg) : 0;
}

void cmx_http_detached_stream_end(cmx_http_exchange *ex, int complete)
{
    finish(ex);
    ex->sink->stream_end(ex->sink_arg, complete);
}
