/* sse_relay.c — recognising a plain named event and relaying a stream of
 * them; see sse_relay.h.
 *
 * Each part of an event is compared only as far as the bytes go, so an
 * event cut by a read boundary is told apart from one that is not plain:
 * the first is CMX_SSE_CUT ("not yet"), the second CMX_SSE_NOT_PLAIN as soon
 * as a byte disagrees.  The relay reads in place; only an event a read cuts is
 * copied, with the next read appended to it. */
#include "http/sse_relay.h"

#include <string.h>

/* Whether the first bytes of `have` (n of them) agree with `want` (k):
 * they differ, they agree but end first (cut), or all of `want` is there. */
static cmx_sse_plain_verdict prefix(const char *have, size_t n, const char *want, size_t k)
{
    size_t m = n < k ? n : k;
    if (memcmp(have, want, m) != 0)
        return CMX_SSE_NOT_PLAIN;
    return n >= k ? CMX_SSE_PLAIN : CMX_SSE_CUT;
}

/* A line from `s` (n bytes) to its LF: its length in *line_len; cut when
 * no LF came yet; not plain when it holds a CR (CR line ends are not). */
static cmx_sse_plain_verdict line(const char *s, size_t n, size_t *line_len)
{
    const char *lf = memchr(s, '\n', n);
    size_t m = lf ? (size_t)(lf - s) : n;
    if (memchr(s, '\r', m))
        return CMX_SSE_NOT_PLAIN;
    *line_len = m;
    return lf ? CMX_SSE_PLAIN : CMX_SSE_CUT;
}

cmx_sse_plain_verdict cmx_sse_plain_event(const char *bytes, size_t len, cmx_sse_plain *ev)
{
    static const char event_head[] = "event: ", data_head[] = "data: ",
                      type_head[] = "{\"type\":\"";
    const char *p = bytes, *end = bytes + len;
    cmx_sse_plain_verdict rc = prefix(p, len, event_head, sizeof event_head - 1);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    const char *name = p + sizeof event_head - 1;
    size_t name_len;
    rc = line(name, (size_t)(end - name), &name_len);
    /* the name is the type as the JSON writes it: no escape, no quote */
    if (rc == CMX_SSE_NOT_PLAIN || memchr(name, '\\', name_len) || memchr(name, '"', name_len))
        return CMX_SSE_NOT_PLAIN;
    if (rc == CMX_SSE_CUT)
        return CMX_SSE_CUT;
    if (name_len == 0)
        return CMX_SSE_NOT_PLAIN;
    p = name + name_len + 1;
    rc = prefix(p, (size_t)(end - p), data_head, sizeof data_head - 1);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    const char *json = p + sizeof data_head - 1;
    /* the JSON begins {"type":"NAME" */
    p = json;
    rc = prefix(p, (size_t)(end - p), type_head, sizeof type_head - 1);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    p += sizeof type_head - 1;
    rc = prefix(p, (size_t)(end - p), name, name_len);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    p += name_len;
    rc = prefix(p, (size_t)(end - p), "\"", 1);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    size_t json_len;
    rc = line(json, (size_t)(end - json), &json_len);
    if (rc != CMX_SSE_PLAIN)
        return rc;
    p = json + json_len + 1; /* the blank line that ends the event */
    if (p == end)
        return CMX_SSE_CUT;
    if (*p != '\n')
        return CMX_SSE_NOT_PLAIN;
    ev->type = name;
    ev->type_len = name_len;
    ev->data = json;
    ev->data_len = json_len;
    ev->len = (size_t)(p + 1 - bytes);
    return CMX_SSE_PLAIN;
}

/* The plain events at the start of bytes[0..len): judged, the first of the
 * stream handed on alone, the others in one run.  *used is what was read
 * (whole events); 1 when the stream stops, -1 when the event at *used is
 * not plain, 0 otherwise (the rest, if any, is an event still cut). */
static int relay_events(cmx_sse_relay *r, const char *bytes, size_t len,
                        const cmx_sse_relay_ops *ops, void *ctx, size_t *used)
{
    size_t at = 0, run_start = 0, run_n = 0;
    int rc = 0;
    while (at < len && !r->done) {
        cmx_sse_plain ev;
        cmx_sse_plain_verdict got = cmx_sse_plain_event(bytes + at, len - at, &ev);
        if (got != CMX_SSE_PLAIN) {
            rc = got == CMX_SSE_NOT_PLAIN ? -1 : 0;
            break;
        }
        cmx_sse_relay_verdict v = ops->judge(ctx, &ev);
        if (v == CMX_SSE_RELAY_STOP) {
            rc = 1;
            break;
        }
        r->done = v == CMX_SSE_RELAY_LAST;
        if (r->passed++ == 0) {
            ops->first(ctx, &ev);
            run_start = at + ev.len;
        } else {
            run_n++;
        }
        at += ev.len;
    }
    if (run_n)
        ops->run(ctx, bytes + run_start, at - run_start, run_n);
    *used = r->done ? len : at;
    return rc;
}

int cmx_sse_relay_feed(cmx_sse_relay *r, const char *data, size_t len, const cmx_sse_relay_ops *ops,
                       void *ctx)
{
    if (r->off)
        return ops->rest(ctx, data, len, 0);
    if (r->done)
        return 0;
    const char *bytes = data;
    if (r->carry.len) {
        if (cmx_buf_append(&r->carry, data, len) < 0)
            return -1;
        bytes = r->carry.data;
        len = r->carry.len;
    }
    size_t used = 0;
    int rc = relay_events(r, bytes, len, ops, ctx, &used);
    if (rc > 0)
        return rc;
    if (rc < 0) {
        r->off = 1;
        cmx_buf kept = r->carry; /* bytes may point into it */
        r->carry = (cmx_buf)CMX_BUF_INIT;
        rc = ops->rest(ctx, bytes + used, len - used, r->passed == 0 && used == 0);
        cmx_buf_free(&kept);
        return rc;
    }
    size_t left = len - used;
    if (r->max_event_bytes && left > r->max_event_bytes)
        return -1;
    if (bytes == r->carry.data) {
        memmove(r->carry.data, r->carry.data + used, left);
        r->carry.len = left;
    } else if (left && cmx_buf_append(&r->carry, bytes + used, left) < 0) {
        return -1;
    }
    return 0;
}

int cmx_sse_relay_partial(const cmx_sse_relay *r)
{
    return r->carry.len > 0;
}

void cmx_sse_relay_free(cmx_sse_relay *r)
{
    cmx_buf_free(&r->carry);
}
