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
static const char *const unsigned_headers[] = {
    "authorization", "connection",        "expect",  "keep-alive", "proxy-authorization", "te",
    "trailer",       "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
};

static int is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

typedef struct header_entry {
    span name, value; /* lower-cased name, trimmed value, in the scratch buffer */
    size_t index;     /* input order, so values of one name keep their order */
} header_entry;

static int compare_entries(const char *base, const header_entry *a, const header_entry *b)
{
    int c = compare_spans(base, a->name, b->name);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Appends value with leading and trailing blanks removed and every inner run
 * of spaces and tabs made one space (AWS's "trimall"). */
static int append_trimmed(cmx_buf *out, const char *v)
{
    size_t len = strlen(v), i = 0;
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (cmx_buf_reserve(out, len - i) < 0)
        return -1;
    int in_blank = 0;
    for (; i < len; i++) {
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

static int is_unsigned_header(const char *base, span name)
{
    for (size_t k = 0; k < sizeof unsigned_headers / sizeof unsigned_headers[0]; k++)
        if (strlen(unsigned_headers[k]) == name.len &&
            memcmp(unsigned_headers[k], base + name.off, name.len) == 0)
            return 1;
    return 0;
}

cmx_err cmx_sigv4_canonical_headers(cmx_buf *canon, cmx_buf *signed_names,
                                    const cmx_sigv4_header *headers, size_t n, cmx_error *err)
{
    header_entry *entries = malloc((n ? n : 1) * sizeof *entries);
    if (!entries)
        return cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    cmx_buf scratch = CMX_BUF_INIT;
    cmx_err rc = CMX_OK;
    size_t kept = 0;
    for (size_t i = 0; i < n && rc == CMX_OK; i++) {
        const char *name = headers[i].name, *value = headers[i].value;
        size_t name_len = name ? strlen(name) : 0;
        if (name_len == 0) {
            rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST, "sigv4: header %zu has no name", i);
            break;
        }
        for (size_t k = 0; k < name_len && rc == CMX_OK; k++)
            if (!is_tchar((unsigned char)name[k]))
                rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                   "sigv4: header %zu: name has a character not allowed in "
                                   "an HTTP header name",
                                   i);
        /* A control character in a value would end the header on the wire
         * (or smuggle another one in); the value itself is never echoed, as
         * it may be a token. */
        for (const char *v = value ? value : ""; *v && rc == CMX_OK; v++)
            if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
                rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                   "sigv4: header %.64s: value has a control character", name);
        if (rc != CMX_OK)
            break;
        header_entry *e = &entries[kept];
        e->index = i;
        e->name.off = scratch.len;
        if (cmx_buf_append(&scratch, name, name_len) < 0) {
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
            break;
        }
        for (size_t k = e->name.off; k < scratch.len; k++)
            if (scratch.data[k] >= 'A' && scratch.data[k] <= 'Z')
                scratch.data[k] = (char)(scratch.data[k] - 'A' + 'a');
        e->name.len = name_len;
        if (is_unsigned_header(scratch.data, e->name)) {
            scratch.len = e->name.off;
            continue;
        }
        e->value.off = scratch.len;
        if (append_trimmed(&scratch, value ? value : "") < 0) {
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
            break;
        }
        e->value.len = scratch.len - e->value.off;
        kept++;
    }

    if (rc == CMX_OK) {
        /* Insertion sort, stable by input index: header lists are short. */
        for (size_t i = 1; i < kept; i++) {
            header_entry cur = entries[i];
            size_t j = i;
            while (j > 0 && compare_entries(scratch.data, &entries[j - 1], &cur) > 0) {
                entries[j] = entries[j - 1];
                j--;
            }
            entries[j] = cur;
        }
        int fail = 0;
        for (size_t i = 0; i < kept && !fail; i++) {
            const char *base = scratch.data;
            int same_as_previous =
                i > 0 && compare_spans(base, entries[i - 1].name, entries[i].name) == 0;
            if (same_as_previous) {
                /* Repeated names become one line, values joined with ','. */
                fail |= cmx_buf_append(canon, CMX_LIT(","));
            } else {
                if (i > 0)
                    fail |= cmx_buf_append(canon, CMX_LIT("\n")) |
                            cmx_buf_append(signed_names, CMX_LIT(";"));
                fail |= cmx_buf_append(canon, base + entries[i].name.off, entries[i].name.len);
                fail |= cmx_buf_append(canon, CMX_LIT(":"));
                fail |=
                    cmx_buf_append(signed_names, base + entries[i].name.off, entries[i].name.len);
            }
            fail |= cmx_buf_append(canon, base + entries[i].value.off, entries[i].value.len);
        }
        if (kept > 0)
            fail |= cmx_buf_append(canon, CMX_LIT("\n"));
        if (fail)
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "sigv4: out of memory");
    }
    cmx_buf_free(&scratch);
    free(entries);
    return rc;
}
