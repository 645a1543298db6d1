/* sigv4_canon.c — the canonical parts of a SigV4 canonical request: URI,
 * query string and headers (see sigv4.h).
 *
 * Each part is rebuilt from what the request says, so two requests that mean
 * the same to the server sign the same: a path with "./" or "//" in it, a
 * query whose parameters come in another order or with other escaping, header
 * names in other case or values with other spacing.  Every function appends
 * to a cmx_buf and touches no state; the crypto lives in sigv4.c. */
#include "providers/sigv4.h"
#include "core/str.h"
#include "core/url_encode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- URI ---- */

typedef struct span {
    size_t off, len;
} span;

/* Appends one path segment: encoded again, or as given (S3). */
static int append_segment(cmx_buf *out, const char *s, size_t len, int double_encode)
{
    return double_encode ? cmx_url_encode(out, s, len, 0) : cmx_buf_append(out, s, len);
}

int cmx_sigv4_canonical_uri(cmx_buf *out, const char *path, int normalize, int double_encode)
{
    if (!path || !*path)
        path = "/";
    size_t plen = strlen(path);
    if (!normalize) {
        if (path[0] != '/' && cmx_buf_append(out, CMX_LIT("/")) < 0)
            return -1;
        /* '/' is kept: only the segments between slashes are encoded. */
        return double_encode ? cmx_url_encode(out, path, plen, 1) : cmx_buf_append(out, path, plen);
    }

    /* RFC 3986 remove_dot_segments, plus empty segments ("//") dropped, over a
     * stack of segment spans; at most one segment per byte. */
    span *segs = malloc((plen + 1) * sizeof *segs);
    if (!segs)
        return -1;
    size_t n = 0;
    int trailing_slash = 0;
    for (size_t i = 0; i < plen;) {
        while (i < plen && path[i] == '/')
            i++;
        size_t start = i;
        while (i < plen && path[i] != '/')
            i++;
        size_t len = i - start;
        /* A path ending in "/", "/." or "/.." names a directory. */
        trailing_slash = i == plen && (len == 0 || (len == 1 && path[start] == '.') ||
                                       (len == 2 && path[start] == '.' && path[start + 1] == '.'));
        if (len == 0 || (len == 1 && path[start] == '.'))
            continue;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (n > 0)
                n--;
            continue;
        }
        segs[n].off = start;
        segs[n].len = len;
        n++;
    }
    if (plen > 0 && path[plen - 1] == '/')
        trailing_slash = 1;

    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        rc = cmx_buf_append(out, CMX_LIT("/"));
        if (rc == 0)
            rc = append_segment(out, path + segs[k].off, segs[k].len, double_encode);
    }
    if (rc == 0 && (n == 0 || trailing_slash))
        rc = cmx_buf_append(out, CMX_LIT("/"));
    free(segs);
    return rc;
}

/* ---- query ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends s percent-decoded then encoded the AWS way, so "%e1%88%b4", "ሴ"
 * and "%E1%88%B4" all come out as "%E1%88%B4".  A '%' not followed by two
 * hex digits is a literal '%'; '+' is a literal '+' (AWS never reads it as a
 * space). */
static int append_reencoded(cmx_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < len) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi << 4 | lo);
                i += 2;
            }
        }
        if (cmx_url_encode(out, &c, 1, 0) < 0)
            return -1;
    }
    return 0;
}

typedef struct query_param {
    span name, value; /* encoded, in the scratch buffer */
} query_param;

/* Byte order of the encoded names, then of the encoded values. */
static int compare_spans(const char *base, span a, span b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(base + a.off, base + b.off, n);
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static void sort_params(query_param *p, size_t n, const char *base)
{
    /* Insertion sort: queries are short, and it needs no global for qsort. */
    for (size_t i = 1; i < n; i++) {
        query_param cur = p[i];
        size_t j = i;
        while (j > 0) {
            int c = compare_spans(base, p[j - 1].name, cur.name);
            if (c == 0)
                c = compare_spans(base, p[j - 1].value, cur.value);
            if (c <= 0)
                break;
            p[j] = p[j - 1];
            j--;
        }
        p[j] = cur;
    }
}

int cmx_sigv4_canonical_query(cmx_buf *out, const char *query)
{
    if (!query || !*query)
        return 0;
    size_t qlen = strlen(query);
    size_t max_params = 1;
    for (size_t i = 0; i < qlen; i++)
        max_params += query[i] == '&';
    query_param *params = malloc(max_params * sizeof *params);
    if (!params)
        return -1;
    cmx_buf scratch = CMX_BUF_INIT;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i <= qlen && rc == 0;) {
        size_t start = i;
        while (i < qlen && query[i] != '&')
            i++;
        size_t end = i++;
        if (end == start)
            continue; /* "a=1&&b=2" */
        const char *eq = memchr(query + start, '=', end - start);
        size_t name_end = eq ? (size_t)(eq - query) : end;
        query_param *p = &params[n++];
        p->name.off = scratch.len;
        rc = append_reencoded(&scratch, query + start, name_end - start);
        p->name.len = scratch.len - p->name.off;
        p->value.off = scratch.len;
        if (rc == 0 && eq)
            rc = append_reencoded(&scratch, eq + 1, end - name_end - 1);
        p->value.len = scratch.len - p->value.off;
    }
    if (rc == 0) {
        sort_params(params, n, scratch.data);
        for (size_t k = 0; k < n && rc == 0; k++) {
            if (k > 0)
                rc = cmx_buf_append(out, CMX_LIT("&"));
            if (rc == 0)
                rc = cmx_buf_append(out, scratch.data + params[k].name.off, params[k].name.len);
            if (rc == 0)
                rc = cmx_buf_append(out, CMX_LIT("="));
            if (rc == 0)
                rc = cmx_buf_append(out, scratch.data + params[k].value.off, params[k].value.len);
        }
    }
    cmx_buf_free(&scratch);
    free(params);
    return rc;
}

/* ---- headers ---- */

/* Headers never signed: hop-by-hop ones a proxy may rewrite or drop, the
 * signature's own header, and User-Agent / X-Amzn-Trace-Id, which SDKs and
 * tracers change after signing.  Signing one would make a valid request fail
 * verification somewhere along the way. */
static const struct {
    const char *name;
    size_t len;
} unsigned_headers[] = {
#define UNSIGNED(s)                                                                                \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
    UNSIGNED("authorization"), UNSIGNED("connection"),          UNSIGNED("expect"),
    UNSIGNED("keep-alive"),    UNSIGNED("proxy-authorization"), UNSIGNED("te"),
    UNSIGNED("trailer"),       UNSIGNED("transfer-encoding"),   UNSIGNED("upgrade"),
    UNSIGNED("user-agent"),    UNSIGNED("x-amzn-trace-id"),
#undef UNSIGNED
};

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return 1;
    default: return 0;
    }
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* A header as given: its name (any case) and its value with leading and
 * trailing blanks already cut; both are lower-cased and trimmed as they are
 * written out, so nothing is copied before. */
typedef struct header_entry {
    const char *name, *value;
    size_t name_len, value_len;
    size_t index; /* input order, so values of one name keep their order */
} header_entry;

/* Byte order of the lower-cased names (what the canonical form sorts by). */
static int compare_names(const header_entry *a, const header_entry *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a->name[i]), y = lower((unsigned char)b->name[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static int compare_entries(const header_entry *a, const header_entry *b)
{
    int c = compare_names(a, b);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int is_unsigned_header(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof unsigned_headers / sizeof unsigned_headers[0]; k++) {
        if (unsigned_headers[k].len != len)
            continue;
        size_t i = 0;
        while (i < len &&
               lower((unsigned char)name[i]) == (unsigned char)unsigned_headers[k].name[i])
            i++;
        if (i == len)
            return 1;
    }
    return 0;
}

/* Appends the name lower-cased. */
static int append_lower(cmx_buf *out, const char *name, size_t len)
{
    if (cmx_buf_reserve(out, len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        out->data[out->len++] = (char)lower((unsigned char)name[i]);
    out->data[out->len] = '\0';
    return 0;
}

/* Appends a value whose ends are already trimmed with every inner run of
 * spaces and tabs made one space (AWS's "trimall"). */
static int append_trimmed(cmx_buf *out, const char *v, size_t len)
{
    if (cmx_buf_reserve(out, len) < 0)
        return -1;
    int in_blank = 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t') {
            if (!in_blank)
                out->data[out->len++] = ' ';
            in_blank = 1;
        } else {
            out->data[out->len++] = c;
            in_blank = 0;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

/* Checks header i and fills e: CMX_OK, or CMX_ERR_BAD_REQUEST for a name
 * that is not an HTTP token or a value with a control character. */
static cmx_err read_header(const cmx_sigv4_header *h, size_t i, header_entry *e, cmx_error *err)
{
    const char *name = h->name, *value = h->value ? h->value : "";
    size_t name_len = 0;
    if (name)
        while (name[name_len] && is_tchar((unsigned char)name[name_len]))
            name_len++;
    if (name_len == 0 && (!name || !*name))
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: header %zu has no name", i);
    if (name[name_len])
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "sigv4: header %zu: name has a character not allowed in "
                             "an HTTP header name",
                             i);
    /* A control character in a value would end the header on the wire (or
     * smuggle another one in); the value itself is never echoed, as it may
     * be a token.  The same pass finds where the blanks around it end. */
    size_t len = 0, first = SIZE_MAX, last = 0;
    for (;; len++) {
        unsigned char c = (unsigned char)value[len];
        if (!c)
            break;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "sigv4: header %.64s: value has a control character", name);
        if (c != ' ' && c != '\t') {
            if (first == SIZE_MAX)
                first = len;
            last = len + 1;
        }
    }
    e->name = name;
    e->name_len = name_len;
    e->value = first == SIZE_MAX ? value + len : value + first;
    e->value_len = first == SIZE_MAX ? 0 : last - first;
    e->index = i;
    return CMX_OK;
}

cmx_err cmx_sigv4_canonical_headers(cmx_buf *canon, cmx_buf *signed_names,
                                    const cmx_sigv4_header *headers, size_t n, cmx_error *err)
{
    /* A request signs a handful of headers: on the stack unless it has many. */
    header_entry on_stack[16];
    header_entry *entries = n <= 16 ? on_stack : malloc(n * sizeof *entries);
    if (!entries)
        return cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    cmx_err rc = CMX_OK;
    size_t kept = 0;
    for (size_t i = 0; i < n && rc == CMX_OK; i++) {
        header_entry e;
        rc = read_header(&headers[i], i, &e, err);
        if (rc == CMX_OK && !is_unsigned_header(e.name, e.name_len)) {
            /* Insertion sort as they come, stable by input index: lists are short. */
            size_t j = kept++;
            while (j > 0 && compare_entries(&entries[j - 1], &e) > 0) {
                entries[j] = entries[j - 1];
                j--;
            }
            entries[j] = e;
        }
    }

    if (rc == CMX_OK) {
        int fail = 0;
        for (size_t i = 0; i < kept && !fail; i++) {
            const header_entry *e = &entries[i];
            if (i > 0 && compare_names(&entries[i - 1], e) == 0) {
                /* Repeated names become one line, values joined with ','. */
                fail |= cmx_buf_append(canon, CMX_LIT(","));
            } else {
                if (i > 0)
                    fail |= cmx_buf_append(canon, CMX_LIT("\n")) |
                            cmx_buf_append(signed_names, CMX_LIT(";"));
                fail |= append_lower(canon, e->name, e->name_len);
                fail |= cmx_buf_append(canon, CMX_LIT(":"));
                fail |= append_lower(signed_names, e->name, e->name_len);
            }
            fail |= append_trimmed(canon, e->value, e->value_len);
        }
        if (kept > 0)
            fail |= cmx_buf_append(canon, CMX_LIT("\n"));
        if (fail)
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    }
    if (entries != on_stack)
        free(entries);
    return rc;
}
