/* eventstream.h — AWS event-stream framing (application/vnd.amazon.eventstream),
 * the binary messages in which Bedrock's ConverseStream and
 * InvokeModelWithResponseStream answer.
 *
 * A message is a 12-byte prelude (total length, headers length, CRC-32 of
 * those 8 bytes), typed headers, a payload, and a CRC-32 of everything before
 * it; integers are big-endian.  The decoder is fed bytes across arbitrary
 * chunk boundaries, like the SSE parser (http/sse.h), and calls back once per
 * complete, verified message.  It checks the prelude CRC as soon as 12 bytes
 * are in, so a corrupt length is reported at once instead of being waited
 * for; a message cut short is not an error until the caller says the stream
 * ended (cmx_eventstream_has_partial).  There is no resynchronising after a
 * framing error: the byte stream has no markers to find the next message by,
 * so the decoder stops for good.
 *
 * It copies only what it must: a message that lies whole inside one feed is
 * decoded in place; only one cut by a feed boundary is gathered in a buffer,
 * which is reused. */
#ifndef CMX_PROVIDERS_EVENTSTREAM_H
#define CMX_PROVIDERS_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

#define CMX_EVENTSTREAM_PRELUDE_LEN 12
#define CMX_EVENTSTREAM_MIN_MESSAGE_LEN 16 /* prelude + message CRC */
/* The limits AWS's own codecs use. */
#define CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)
#define CMX_EVENTSTREAM_MAX_HEADERS_LEN (128u * 1024)

/* Header value types, numbered as on the wire. */
typedef enum cmx_eventstream_type {
    CMX_EVENTSTREAM_BOOL_TRUE = 0,
    CMX_EVENTSTREAM_BOOL_FALSE = 1,
    CMX_EVENTSTREAM_BYTE = 2,
    CMX_EVENTSTREAM_INT16 = 3,
    CMX_EVENTSTREAM_INT32 = 4,
    CMX_EVENTSTREAM_INT64 = 5,
    CMX_EVENTSTREAM_BYTES = 6,
    CMX_EVENTSTREAM_STRING = 7,
    CMX_EVENTSTREAM_TIMESTAMP = 8, /* milliseconds since the epoch */
    CMX_EVENTSTREAM_UUID = 9,      /* 16 bytes */
} cmx_eventstream_type;

/* One header.  name and bytes point into the message (not NUL-terminated). */
typedef struct cmx_eventstream_header {
    const char *name;
    size_t name_len; /* 1..255 */
    cmx_eventstream_type type;
    /* Bool (1 true, 0 false), byte, int16, int32, int64 and timestamp. */
    int64_t integer;
    /* Byte array, string (UTF-8, unchecked) and uuid. */
    const char *bytes;
    size_t bytes_len;
} cmx_eventstream_header;

/* One decoded message; everything in it is valid during the callback only. */
typedef struct cmx_eventstream_message {
    uint32_t total_length;
    uint32_t headers_length;
    uint32_t prelude_crc;
    uint32_t message_crc;
    const cmx_eventstream_header *headers; /* in wire order */
    size_t n_headers;
    const char *payload;
    size_t payload_len;
} cmx_eventstream_message;

/* Returns CMX_OK to go on.  Any other kind stops the decoder for good and is
 * what cmx_eventstream_feed returns; the callback may fill err (for example
 * an ":message-type: exception" message becoming CMX_ERR_RATE_LIMITED). */
typedef cmx_err (*cmx_eventstream_message_cb)(void *ctx, const cmx_eventstream_message *msg,
                                              cmx_error *err);

typedef struct cmx_eventstream_decoder {
    cmx_buf pending;                 /* the bytes of a message cut by a feed boundary */
    cmx_eventstream_header *headers; /* reused across messages */
    size_t headers_cap;
    /* Messages over this many bytes are refused from their prelude on.
     * Default CMX_EVENTSTREAM_DEFAULT_MAX_MESSAGE; set after init. */
    size_t max_message_bytes;
    cmx_eventstream_message_cb cb;
    void *ctx;
    cmx_err stopped;   /* CMX_OK until an error or the callback stops it */
    uint64_t messages; /* delivered so far */
    uint64_t consumed; /* stream offset of the next message, for errors */
} cmx_eventstream_decoder;

void cmx_eventstream_decoder_init(cmx_eventstream_decoder *d, cmx_eventstream_message_cb cb,
                                  void *ctx);
/* Decodes what the bytes complete.  CMX_OK when every byte was used (an
 * unfinished message is kept for the next feed); CMX_ERR_UPSTREAM_PROTOCOL
 * when the framing is wrong, with a message naming the check that failed
 * (prelude or message CRC with the value sent and the value computed, a
 * length out of bounds, a malformed header); CMX_ERR_NOMEM; or the
 * callback's kind.  After any error every later feed fails the same way. */
cmx_err cmx_eventstream_feed(cmx_eventstream_decoder *d, const void *bytes, size_t len,
                             cmx_error *err);
/* True when bytes of an unfinished message are buffered: a stream that ends
 * now was cut mid-message. */
int cmx_eventstream_has_partial(const cmx_eventstream_decoder *d);
void cmx_eventstream_decoder_free(cmx_eventstream_decoder *d);

/* The first header with this name, or NULL. */
const cmx_eventstream_header *cmx_eventstream_find_header(const cmx_eventstream_message *msg,
                                                          const char *name);
/* Whether h is a string header whose value is exactly `value` (h may be NULL). */
int cmx_eventstream_header_is(const cmx_eventstream_header *h, const char *value);
/* The same with the value's length given; the macro takes a literal. */
static inline int cmx_eventstream_header_is_n(const cmx_eventstream_header *h, const char *value,
                                              size_t len)
{
    return h && h->type == CMX_EVENTSTREAM_STRING && h->bytes_len == len &&
           memcmp(h->bytes, value, len) == 0;
}
#define CMX_EVENTSTREAM_HEADER_IS(h, lit) cmx_eventstream_header_is_n(h, lit, sizeof lit - 1)

/* Appends one message (for tests and emulators).  Each header's type says
 * which value field is read; bytes of a uuid must be 16 long.  Refuses names
 * outside 1..255 bytes, values over 65535 bytes, unknown types and messages
 * over the limits above (CMX_ERR_BAD_REQUEST); out is unchanged then. */
cmx_err cmx_eventstream_encode(cmx_buf *out, const cmx_eventstream_header *headers,
                               size_t n_headers, const void *payload, size_t payload_len,
                               cmx_error *err);

/* CRC-32 (IEEE 802.3 / zlib polynomial), continuing from crc (0 to start):
 * the same value as zlib's crc32(crc, data, len). */
uint32_t cmx_eventstream_crc32(uint32_t crc, const void *data, size_t len);

#endif
