/* eventstream.c — the incremental event-stream decoder (see eventstream.h).
 *
 * feed() walks the caller's bytes message by message.  With nothing pending,
 * a message that lies whole in the bytes is checked and delivered in place;
 * otherwise its bytes are gathered in `pending` — first the 12-byte prelude,
 * whose CRC and lengths are checked before anything else is waited for, then
 * exactly the rest of that message, never more — and it is delivered from
 * there.  Every check says what failed, with the values seen, and where in
 * the stream (message number and byte offset), since an operator reading
 * "checksum mismatch" wants to know whether the first message or the
 * thousandth was hit. */
#include "providers/eventstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-32 ---- */

/* Slicing by eight (Intel's "slicing-by-8"): eight 256-entry tables for the
 * reflected polynomial 0xEDB88320, built once, so eight bytes cost eight
 * lookups and no per-bit work; every message of a stream is checked whole,
 * so this runs over every byte a Bedrock stream brings.  Table 0 is the
 * classic bytewise one; table k is table 0 advanced by k zero bytes. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void build_crc_tables(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xff];
}

uint32_t cmx_eventstream_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, build_crc_tables);
    const unsigned char *p = data;
    crc = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
              crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
              crc_table[0][hi >> 24];
    }
    for (; len; p++, len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p) & 0xff];
    return ~crc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be_n(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- life cycle ---- */

void cmx_eventstream_decoder_init(cmx_eventstream_decoder *d, cmx_eventstream_message_cb cb,
                                  void *ctx)
{
    memset(d, 0, sizeof *d);
    d->max_message_bytes = CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE;
    d->cb = cb;
    d->ctx = ctx;
}

void cmx_eventstream_decoder_free(cmx_eventstream_decoder *d)
{
    cmx_buf_free(&d->pending);
    free(d->headers);
    d->headers = NULL;
    d->headers_cap = 0;
}

int cmx_eventstream_has_partial(const cmx_eventstream_decoder *d)
{
    return d->pending.len > 0;
}

const cmx_eventstream_header *cmx_eventstream_find_header(const cmx_eventstream_message *msg,
                                                          const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < msg->n_headers; i++)
        if (msg->headers[i].name_len == len && memcmp(msg->headers[i].name, name, len) == 0)
            return &msg->headers[i];
    return NULL;
}

/* ---- checks ---- */

/* Stops the decoder with a framing error located in the stream. */
static cmx_err framing_error(cmx_eventstream_decoder *d, cmx_error *err, const char *what)
{
    d->stopped = CMX_ERR_UPSTREAM_PROTOCOL;
    return cmx_error_set(
        err, CMX_ERR_UPSTREAM_PROTOCOL, "event stream: message %llu at byte %llu: %s",
        (unsigned long long)d->messages + 1, (unsigned long long)d->consumed, what);
}

/* Checks a prelude and gives the message's total length. */
static cmx_err check_prelude(cmx_eventstream_decoder *d, const unsigned char *p,
                             uint32_t *total_out, cmx_error *err)
{
    char what[160];
    uint32_t total = be32(p), headers_len = be32(p + 4), sent = be32(p + 8);
    /* The CRC first: when it is wrong the lengths are noise, and "length too
     * big" would send the reader the wrong way. */
    uint32_t computed = cmx_eventstream_crc32(0, p, 8);
    if (sent != computed) {
        snprintf(what, sizeof what,
                 "Prelude checksum mismatch (prelude says 0x%08x, computed 0x%08x)", sent,
                 computed);
        return framing_error(d, err, what);
    }
    size_t max = d->max_message_bytes ? d->max_message_bytes : CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE;
    if (total < CMX_EVENTSTREAM_MIN_MESSAGE_LEN)
        snprintf(what, sizeof what, "total length %u is under the %u-byte minimum", total,
                 CMX_EVENTSTREAM_MIN_MESSAGE_LEN);
    else if (total > max)
        snprintf(what, sizeof what, "total length %u is over the %zu-byte limit", total, max);
    else if (headers_len > total - CMX_EVENTSTREAM_MIN_MESSAGE_LEN)
        snprintf(what, sizeof what, "headers length %u does not fit in a %u-byte message",
                 headers_len, total);
    else if (headers_len > CMX_EVENTSTREAM_MAX_HEADERS_LEN)
        snprintf(what, sizeof what, "headers length %u is over the %u-byte limit", headers_len,
                 CMX_EVENTSTREAM_MAX_HEADERS_LEN);
    else {
        *total_out = total;
        return CMX_OK;
    }
    return framing_error(d, err, what);
}

/* A header name as it may appear in an error: bounded, printable. */
static void printable_name(char *out, size_t cap, const cmx_eventstream_header *h)
{
    const unsigned char *name = (const unsigned char *)h->name;
    size_t len = h->name_len;
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? (char)name[i] : '?';
    out[n] = '\0';
}

static cmx_err grow_headers(cmx_eventstream_decoder *d, cmx_error *err)
{
    size_t cap = d->headers_cap ? d->headers_cap * 2 : 8;
    cmx_eventstream_header *h = realloc(d->headers, cap * sizeof *h);
    if (!h) {
        d->stopped = CMX_ERR_NOMEM;
        return cmx_error_set(err, CMX_ERR_NOMEM, "event stream: out of memory for headers");
    }
    d->headers = h;
    d->headers_cap = cap;
    return CMX_OK;
}

/* Parses the headers section [p, p+len) into d->headers. */
static cmx_err parse_headers(cmx_eventstream_decoder *d, const unsigned char *p, size_t len,
                             size_t *n_out, cmx_error *err)
{
    static const size_t fixed_size[] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    char what[200], name[64];
    size_t at = 0, n = 0;
    while (at < len) {
        if (n == d->headers_cap && grow_headers(d, err) != CMX_OK)
            return CMX_ERR_NOMEM;
        cmx_eventstream_header *h = &d->headers[n];
        h->integer = 0;
        h->bytes = NULL;
        h->bytes_len = 0;
        size_t name_len = p[at];
        if (name_len == 0) {
            snprintf(what, sizeof what, "header %zu has an empty name", n + 1);
            return framing_error(d, err, what);
        }
        /* The name, then at least the type byte. */
        if (len - at < 1 + name_len + 1) {
            snprintf(what, sizeof what,
                     "header %zu: name of %zu bytes and type run past the %zu-byte headers "
                     "section",
                     n + 1, name_len, len);
            return framing_error(d, err, what);
        }
        h->name = (const char *)p + at + 1;
        h->name_len = name_len;
        at += 1 + name_len;
        unsigned type = p[at++];
        if (type > CMX_EVENTSTREAM_UUID) {
            printable_name(name, sizeof name, h); /* only for an error */
            snprintf(what, sizeof what, "header '%s' has unknown value type %u", name, type);
            return framing_error(d, err, what);
        }
        h->type = (cmx_eventstream_type)type;
        size_t value_len = fixed_size[type];
        if (type == CMX_EVENTSTREAM_BYTES || type == CMX_EVENTSTREAM_STRING) {
            if (len - at < 2) {
                printable_name(name, sizeof name, h); /* only for an error */
                snprintf(what, sizeof what, "header '%s': value length runs past the headers",
                         name);
                return framing_error(d, err, what);
            }
            value_len = (size_t)be_n(p + at, 2);
            at += 2;
        }
        if (len - at < value_len) {
            printable_name(name, sizeof name, h); /* only for an error */
            snprintf(what, sizeof what,
                     "header '%s': %zu-byte value of type %u runs past the headers section", name,
                     value_len, type);
            return framing_error(d, err, what);
        }
        const unsigned char *v = p + at;
        switch (h->type) {
        case CMX_EVENTSTREAM_BOOL_TRUE: h->integer = 1; break;
        case CMX_EVENTSTREAM_BOOL_FALSE: h->integer = 0; break;
        case CMX_EVENTSTREAM_BYTE: h->integer = (int8_t)v[0]; break;
        case CMX_EVENTSTREAM_INT16: h->integer = (int16_t)be_n(v, 2); break;
        case CMX_EVENTSTREAM_INT32: h->integer = (int32_t)be_n(v, 4); break;
        case CMX_EVENTSTREAM_INT64:
        case CMX_EVENTSTREAM_TIMESTAMP: h->integer = (int64_t)be_n(v, 8); break;
        case CMX_EVENTSTREAM_BYTES:
        case CMX_EVENTSTREAM_STRING:
        case CMX_EVENTSTREAM_UUID:
            h->bytes = (const char *)v;
            h->bytes_len = value_len;
            break;
        }
        at += value_len;
        n++;
    }
    *n_out = n;
    return CMX_OK;
}

/* Checks and delivers one whole message of `total` bytes (prelude already
 * checked). */
static cmx_err deliver(cmx_eventstream_decoder *d, const unsigned char *p, uint32_t total,
                       cmx_error *err)
{
    char what[160];
    uint32_t sent = be32(p + total - 4);
    uint32_t computed = cmx_eventstream_crc32(0, p, total - 4);
    if (sent != computed) {
        snprintf(what, sizeof what,
                 "Message checksum mismatch (message says 0x%08x, computed 0x%08x)", sent,
                 computed);
        return framing_error(d, err, what);
    }
    cmx_eventstream_message msg;
    msg.total_length = total;
    msg.headers_length = be32(p + 4);
    msg.prelude_crc = be32(p + 8);
    msg.message_crc = sent;
    size_t n = 0;
    cmx_err rc = parse_headers(d, p + CMX_EVENTSTREAM_PRELUDE_LEN, msg.headers_length, &n, err);
    if (rc != CMX_OK)
        return rc;
    msg.headers = d->headers;
    msg.n_headers = n;
    msg.payload = (const char *)p + CMX_EVENTSTREAM_PRELUDE_LEN + msg.headers_length;
    msg.payload_len = total - CMX_EVENTSTREAM_MIN_MESSAGE_LEN - msg.headers_length;
    d->messages++;
    d->consumed += total;
    if (!d->cb)
        return CMX_OK;
    cmx_error cb_err = {0};
    rc = d->cb(d->ctx, &msg, &cb_err);
    if (rc != CMX_OK) {
        d->stopped = rc;
        if (err) {
            *err = cb_err;
            err->kind = rc;
            if (!err->message[0])
                snprintf(err->message, sizeof err->message,
                         "event stream: stopped by the message handler (%s)", cmx_err_name(rc));
        }
    }
    return rc;
}

/* ---- feeding ---- */

/* Moves up to `want` bytes from the input into pending. */
static cmx_err gather(cmx_eventstream_decoder *d, const unsigned char **p, size_t *len, size_t want,
                      cmx_error *err)
{
    size_t take = want < *len ? want : *len;
    if (cmx_buf_append(&d->pending, *p, take) < 0) {
        d->stopped = CMX_ERR_NOMEM;
        return cmx_error_set(err, CMX_ERR_NOMEM, "event stream: out of memory");
    }
    *p += take;
    *len -= take;
    return CMX_OK;
}

/* Continues a message cut by an earlier feed. */
static cmx_err feed_pending(cmx_eventstream_decoder *d, const unsigned char **p, size_t *len,
                            cmx_error *err)
{
    cmx_buf *pend = &d->pending;
    cmx_err rc = CMX_OK;
    if (pend->len < CMX_EVENTSTREAM_PRELUDE_LEN)
        rc = gather(d, p, len, CMX_EVENTSTREAM_PRELUDE_LEN - pend->len, err);
    if (rc != CMX_OK || pend->len < CMX_EVENTSTREAM_PRELUDE_LEN)
        return rc;
    uint32_t total = 0;
    rc = check_prelude(d, (const unsigned char *)pend->data, &total, err);
    if (rc != CMX_OK)
        return rc;
    rc = gather(d, p, len, total - pend->len, err);
    if (rc != CMX_OK || pend->len < total)
        return rc;
    rc = deliver(d, (const unsigned char *)pend->data, total, err);
    cmx_buf_reset(pend);
    return rc;
}

cmx_err cmx_eventstream_feed(cmx_eventstream_decoder *d, const void *bytes, size_t len,
                             cmx_error *err)
{
    if (d->stopped != CMX_OK)
        return cmx_error_set(err, d->stopped,
                             "event stream: decoder already stopped by an earlier error");
    const unsigned char *p = bytes;
    while (len > 0) {
        cmx_err rc;
        if (d->pending.len > 0) {
            rc = feed_pending(d, &p, &len, err);
        } else if (len < CMX_EVENTSTREAM_PRELUDE_LEN) {
            rc = gather(d, &p, &len, len, err);
        } else {
            uint32_t total = 0;
            rc = check_prelude(d, p, &total, err);
            if (rc == CMX_OK && len >= total) {
                rc = deliver(d, p, total, err); /* in place: the common case */
                p += total;
                len -= total;
            } else if (rc == CMX_OK) {
                /* Room for the whole message at once, then wait for it. */
                if (cmx_buf_reserve(&d->pending, total) < 0) {
                    d->stopped = CMX_ERR_NOMEM;
                    return cmx_error_set(err, CMX_ERR_NOMEM, "event stream: out of memory");
                }
                rc = gather(d, &p, &len, len, err);
            }
        }
        if (rc != CMX_OK)
            return rc;
    }
    return CMX_OK;
}

int cmx_eventstream_header_is(const cmx_eventstream_header *h, const char *value)
{
    return cmx_eventstream_header_is_n(h, value, strlen(value));
}
