/* base64.c — standard base64 with padding.  Decoding is strict: a character
 * outside the alphabet, a length that is not a multiple of four, or padding
 * anywhere but the end is an error, so malformed input is refused rather
 * than read as something else. */
#include "base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long cmx_base64_decode(const char *text, size_t len, unsigned char *out)
{
    if (len % 4 != 0 || len > ((size_t)1 << 30))
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int pad = 0;
        if (last && text[i + 3] == '=')
            pad = text[i + 2] == '=' ? 2 : 1;
        uint32_t group = 0;
        for (int k = 0; k < 4; k++) {
            int v = k >= 4 - pad ? 0 : value_of((unsigned char)text[i + (size_t)k]);
            if (v < 0)
                return -1;
            group = group << 6 | (uint32_t)v;
        }
        out[n++] = (unsigned char)(group >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(group >> 8 & 0xff);
        if (pad < 1)
            out[n++] = (unsigned char)(group & 0xff);
    }
    return (long)n;
}

size_t cmx_base64_encode(const unsigned char *data, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t rest = len - i;
        uint32_t group = (uint32_t)data[i] << 16;
        if (rest > 1)
            group |= (uint32_t)data[i + 1] << 8;
        if (rest > 2)
            group |= data[i + 2];
        out[n++] = alphabet[group >> 18 & 63];
        out[n++] = alphabet[group >> 12 & 63];
        out[n++] = rest > 1 ? alphabet[group >> 6 & 63] : '=';
        out[n++] = rest > 2 ? alphabet[group & 63] : '=';
    }
    out[n] = '\0';
    return n;
}
