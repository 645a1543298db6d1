/* eventstream_encode.c — writes event-stream messages (see eventstream.h).
 *
 * The gateway only reads this format from Bedrock; writing it serves the
 * tests and emulators that must produce what Bedrock would.  The message is
 * sized first, so every limit is checked before a byte is appended and a
 * refused message leaves the output as it was. */
#include "providers/eventstream.h"

#include <string.h>

static void put_be(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

/* Wire size of one header's value, or 0 with err set when it cannot be sent. */
static size_t value_size(const cmx_eventstream_header *h, size_t index, cmx_error *err)
{
    switch (h->type) {
    case CMX_EVENTSTREAM_BOOL_TRUE:
    case CMX_EVENTSTREAM_BOOL_FALSE: return 1;
    case CMX_EVENTSTREAM_BYTE: return 2;
    case CMX_EVENTSTREAM_INT16: return 3;
    case CMX_EVENTSTREAM_INT32: return 5;
    case CMX_EVENTSTREAM_INT64:
    case CMX_EVENTSTREAM_TIMESTAMP: return 9;
    case CMX_EVENTSTREAM_UUID:
        if (h->bytes_len != 16 || !h->bytes) {
            cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                          "event stream: header %zu: a uuid is 16 bytes, not %zu", index,
                          h->bytes_len);
            return 0;
        }
        return 17;
    case CMX_EVENTSTREAM_BYTES:
    case CMX_EVENTSTREAM_STRING:
        if (h->bytes_len > 65535 || (h->bytes_len > 0 && !h->bytes)) {
            cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                          "event stream: header %zu: value of %zu bytes is over 65535", index,
                          h->bytes_len);
            return 0;
        }
        return 3 + h->bytes_len;
    }
    cmx_error_set(err, CMX_ERR_BAD_REQUEST, "event stream: header %zu: unknown type %d", index,
                  (int)h->type);
    return 0;
}

static unsigned char *put_header(unsigned char *w, const cmx_eventstream_header *h)
{
    *w++ = (unsigned char)h->name_len;
    memcpy(w, h->name, h->name_len);
    w += h->name_len;
    *w++ = (unsigned char)h->type;
    switch (h->type) {
    case CMX_EVENTSTREAM_BOOL_TRUE:
    case CMX_EVENTSTREAM_BOOL_FALSE: break;
    case CMX_EVENTSTREAM_BYTE: put_be(w, (uint64_t)h->integer, 1), w += 1; break;
    case CMX_EVENTSTREAM_INT16: put_be(w, (uint64_t)h->integer, 2), w += 2; break;
    case CMX_EVENTSTREAM_INT32: put_be(w, (uint64_t)h->integer, 4), w += 4; break;
    case CMX_EVENTSTREAM_INT64:
    case CMX_EVENTSTREAM_TIMESTAMP: put_be(w, (uint64_t)h->integer, 8), w += 8; break;
    case CMX_EVENTSTREAM_BYTES:
    case CMX_EVENTSTREAM_STRING:
        put_be(w, h->bytes_len, 2);
        w += 2;
        /* fall through */
    case CMX_EVENTSTREAM_UUID:
        if (h->bytes_len)
            memcpy(w, h->bytes, h->bytes_len);
        w += h->bytes_len;
        break;
    }
    return w;
}

cmx_err cmx_eventstream_encode(cmx_buf *out, const cmx_eventstream_header *headers,
                               size_t n_headers, const void *payload, size_t payload_len,
                               cmx_error *err)
{
    size_t headers_len = 0;
    for (size_t i = 0; i < n_headers; i++) {
        const cmx_eventstream_header *h = &headers[i];
        if (h->name_len == 0 || h->name_len > 255 || !h->name)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "event stream: header %zu: name must be 1 to 255 bytes, not %zu",
                                 i, h->name_len);
        size_t v = value_size(h, i, err);
        if (v == 0)
            return CMX_ERR_BAD_REQUEST;
        headers_len += 1 + h->name_len + v;
        if (headers_len > CMX_EVENTSTREAM_MAX_HEADERS_LEN)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "event stream: headers over the %u-byte limit",
                                 CMX_EVENTSTREAM_MAX_HEADERS_LEN);
    }
    if (payload_len > 0 && !payload)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "event stream: payload_len without payload");
    if (payload_len > CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE ||
        CMX_EVENTSTREAM_MIN_MESSAGE_LEN + headers_len + payload_len >
            CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE)
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "event stream: message over the %u-byte limit",
                             CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE);
    size_t total = CMX_EVENTSTREAM_MIN_MESSAGE_LEN + headers_len + payload_len;
    if (cmx_buf_reserve(out, total) < 0)
        return cmx_error_set(err, CMX_ERR_NOMEM, "event stream: out of memory");

    unsigned char *start = (unsigned char *)out->data + out->len, *w = start;
    put_be(w, total, 4);
    put_be(w + 4, headers_len, 4);
    put_be(w + 8, cmx_eventstream_crc32(0, w, 8), 4);
    w += CMX_EVENTSTREAM_PRELUDE_LEN;
    for (size_t i = 0; i < n_headers; i++)
        w = put_header(w, &headers[i]);
    if (payload_len)
        memcpy(w, payload, payload_len);
    w += payload_len;
    put_be(w, cmx_eventstream_crc32(0, start, total - 4), 4);
    out->len += total;
    out->data[out->len] = '\0';
    return CMX_OK;
}
