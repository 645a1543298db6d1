/* sse.c — Server-Sent Events: an incremental reader and a writer.
 *
 * The reader implements the WHATWG "event stream interpretation": it cuts the
 * byte stream into lines (CR, LF or CRLF — a CR ending one feed and an LF
 * starting the next are one line end), strips a leading BOM, and builds events
 * from "data", "event" and "id" fields until a blank line dispatches them.
 *
 * Copies are avoided where the bytes allow it: a line that arrives whole
 * inside one feed is read in place, and an event whose only data line is in
 * the current feed is dispatched straight from the caller's bytes.  Only a
 * line cut by a feed boundary, or data that must outlive the feed, is copied,
 * into buffers that are reset (never freed) between events.
 *
 * The "id" field persists across events as the spec's "last event ID" does;
 * "retry" is ignored: the gateway never reconnects a stream by itself. */
#include "http/sse.h"
#include "core/str.h"

#include <string.h>

static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};

/* Per-feed state: data that still points into the caller's bytes. */
typedef struct feed_state {
    const char *direct; /* the current event's single data line, in place */
    size_t direct_len;
} feed_state;

void cmx_sse_parser_init(cmx_sse_parser *p, cmx_sse_event_cb cb, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->ctx = ctx;
}

void cmx_sse_parser_mid_stream(cmx_sse_parser *p)
{
    p->seen_bytes = 3;
}

cmx_err cmx_sse_upstream_event_refused(cmx_error *err)
{
    cmx_error_set(err, CMX_ERR_UPSTREAM_PROTOCOL,
                  "upstream stream event too large or out of memory");
    err->cause = CMX_CAUSE_PROTOCOL;
    return err->kind;
}

void cmx_sse_parser_free(cmx_sse_parser *p)
{
    cmx_buf_free(&p->line);
    cmx_buf_free(&p->data);
    cmx_buf_free(&p->event);
    cmx_buf_free(&p->id);
}

int cmx_sse_has_partial(const cmx_sse_parser *p)
{
    return p->line.len > 0 || p->event_bytes > 0;
}

static void reset_event(cmx_sse_parser *p, feed_state *fs)
{
    cmx_buf_reset(&p->data);
    cmx_buf_reset(&p->event);
    p->has_data = 0;
    p->event_bytes = 0;
    fs->direct = NULL;
    fs->direct_len = 0;
}

/* Moves in-place data into the data buffer before the caller's bytes go. */
static int settle_direct(cmx_sse_parser *p, feed_state *fs)
{
    if (!fs->direct)
        return 0;
    int rc = cmx_buf_append(&p->data, fs->direct, fs->direct_len);
    fs->direct = NULL;
    fs->direct_len = 0;
    return rc;
}

/* Every line, complete or not, is checked as if it belonged to the event,
 * so the outcome does not depend on where feeds split the stream. */
static int over_limit(const cmx_sse_parser *p, size_t bytes)
{
    return p->max_event_bytes && bytes > p->max_event_bytes;
}

static int dispatch(cmx_sse_parser *p, feed_state *fs)
{
    if (!p->has_data) {
        reset_event(p, fs); /* no data lines: nothing to dispatch */
        return 0;
    }
    cmx_sse_event ev;
    ev.event = p->event.len ? p->event.data : "";
    ev.event_len = p->event.len;
    ev.data = fs->direct ? fs->direct : p->data.data ? p->data.data : "";
    ev.data_len = fs->direct ? fs->direct_len : p->data.len;
    ev.id = p->id.len ? p->id.data : "";
    ev.id_len = p->id.len;
    int rc = p->cb ? p->cb(p->ctx, &ev) : 0;
    reset_event(p, fs);
    return rc;
}

static int field_is(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len == lit_len && memcmp(name, lit, len) == 0;
}

/* One complete line.  `in_place` says the bytes stay valid until the feed
 * returns (they are the caller's, not the line buffer's). */
static int process_line(cmx_sse_parser *p, feed_state *fs, const char *line, size_t len,
                        int in_place)
{
    if (len == 0)
        return dispatch(p, fs);
    if (line[0] == ':')
        return 0; /* comment */
    p->event_bytes += len;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }

    if (field_is(line, name_len, CMX_LIT("data"))) {
        if (!p->has_data) {
            p->has_data = 1;
            if (in_place) {
                fs->direct = value;
                fs->direct_len = value_len;
                return 0;
            }
            return cmx_buf_append(&p->data, value, value_len);
        }
        if (settle_direct(p, fs) < 0 || cmx_buf_append(&p->data, CMX_LIT("\n")) < 0)
            return -1;
        return cmx_buf_append(&p->data, value, value_len);
    }
    if (field_is(line, name_len, CMX_LIT("event"))) {
        cmx_buf_reset(&p->event);
        return cmx_buf_append(&p->event, value, value_len);
    }
    if (field_is(line, name_len, CMX_LIT("id"))) {
        if (memchr(value, '\0', value_len))
            return 0; /* the spec ignores such ids */
        cmx_buf_reset(&p->id);
        return cmx_buf_append(&p->id, value, value_len);
    }
    return 0; /* "retry" and unknown fields */
}

/* Consumes the first bytes of a stream while they may still be a BOM.  Bytes
 * that turn out not to be one stay in the line buffer as the start of the
 * first line. */
static int skip_bom(cmx_sse_parser *p, const char **bytes, size_t *len)
{
    while (p->seen_bytes < 3 && *len > 0) {
        if ((unsigned char)**bytes != bom[p->seen_bytes]) {
            p->seen_bytes = 3;
            return 0;
        }
        if (cmx_buf_append(&p->line, *bytes, 1) < 0)
            return -1;
        p->seen_bytes++;
        (*bytes)++;
        (*len)--;
        if (p->seen_bytes == 3)
            cmx_buf_reset(&p->line);
    }
    return 0;
}

static const char *find_line_end(const char *s, const char *end)
{
    const char *lf = memchr(s, '\n', (size_t)(end - s));
    const char *cr = memchr(s, '\r', (size_t)((lf ? lf : end) - s));
    return cr ? cr : lf;
}

int cmx_sse_feed(cmx_sse_parser *p, const char *bytes, size_t len)
{
    feed_state fs = {NULL, 0};
    if (p->seen_bytes < 3 && skip_bom(p, &bytes, &len) < 0)
        return -1;
    if (p->last_was_cr && len > 0) {
        p->last_was_cr = 0;
        if (bytes[0] == '\n') {
            bytes++;
            len--;
        }
    }
    const char *s = bytes, *end = bytes + len;
    int rc = 0;
    while (s < end) {
        const char *eol = find_line_end(s, end);
        if (!eol) {
            if (over_limit(p, p->event_bytes + p->line.len + (size_t)(end - s)) ||
                cmx_buf_append(&p->line, s, (size_t)(end - s)) < 0)
                rc = -1;
            break;
        }
        const char *line = s;
        size_t line_len = (size_t)(eol - s);
        int in_place = p->line.len == 0;
        if (!in_place) {
            if (over_limit(p, p->event_bytes + p->line.len + line_len) ||
                cmx_buf_append(&p->line, s, line_len) < 0) {
                rc = -1;
                break;
            }
            line = p->line.data;
            line_len = p->line.len;
        } else if (over_limit(p, p->event_bytes + line_len)) {
            rc = -1;
            break;
        }
        s = eol + 1;
        if (*eol == '\r') {
            if (s < end && *s == '\n')
                s++;
            else if (s == end)
                p->last_was_cr = 1;
        }
        rc = process_line(p, &fs, line, line_len, in_place);
        if (!in_place)
            cmx_buf_reset(&p->line);
        if (rc != 0)
            break;
    }
    if (rc == -1) {
        /* Over the limit or out of memory: drop the event, the stream is lost. */
        cmx_buf_reset(&p->line);
        reset_event(p, &fs);
        return -1;
    }
    if (settle_direct(p, &fs) < 0) {
        reset_event(p, &fs);
        return -1;
    }
    return rc;
}

int cmx_sse_write(cmx_buf *out, const char *event_name, const char *data, size_t len)
{
    size_t name_len = 0;
    if (event_name) {
        name_len = strlen(event_name);
        if (strpbrk(event_name, "\r\n"))
            return -1; /* cannot be framed */
    }
    /* Data with line breaks becomes several data lines, which a reader joins
     * back with "\n" (so CRLF and CR come back as LF). */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || data[i] == '\r')
            lines++;
    size_t need = (event_name ? 8 + name_len : 0) + len + lines * 7 + 1;
    if (cmx_buf_reserve(out, need) < 0)
        return -1;
    if (event_name) {
        cmx_buf_append(out, CMX_LIT("event: "));
        cmx_buf_append(out, event_name, name_len);
        cmx_buf_append(out, CMX_LIT("\n"));
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        cmx_buf_append(out, CMX_LIT("data: "));
        cmx_buf_append(out, data + start, i - start);
        cmx_buf_append(out, CMX_LIT("\n"));
        if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    cmx_buf_append(out, CMX_LIT("\n"));
    return cmx_buf_failed(out) ? -1 : 0;
}
