/* lambda_event.c — Lambda HTTP events in, Lambda HTTP answers out (see
 * lambda_event.h).  Events are parsed with jansson: an event is a few
 * kilobytes, arrives once per invocation, and Lambda's own overhead per
 * invocation is larger than the parse by orders of magnitude. */
#include "lambda_event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

#define MAX_EVENT_HEADERS 200

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static char *arena_copy(cmx_arena *a, const char *s, size_t n)
{
    return cmx_arena_strndup(a, s ? s : "", s ? n : 0);
}

/* Joins the strings of a JSON array with `sep` into the arena. */
static const char *join_array(cmx_arena *a, const json_t *arr, const char *sep, size_t *len)
{
    cmx_buf b = CMX_BUF_INIT;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            continue;
        if (b.len)
            cmx_buf_append_str(&b, sep);
        cmx_buf_append(&b, json_string_value(v), json_string_length(v));
    }
    char *out = cmx_buf_failed(&b) ? NULL : arena_copy(a, b.data, b.len); /* NULL: no memory */
    *len = b.len;
    cmx_buf_free(&b);
    return out;
}

typedef struct header_list {
    cmx_http_header *items;
    size_t n;
} header_list;

static int add_header(cmx_arena *a, header_list *h, const char *name, const char *value,
                      size_t value_len)
{
    if (h->n >= MAX_EVENT_HEADERS)
        return -1;
    cmx_http_header *x = &h->items[h->n];
    x->name.ptr = arena_copy(a, name, strlen(name));
    x->name.len = strlen(name);
    x->value.ptr = arena_copy(a, value, value_len);
    x->value.len = value_len;
    if (!x->name.ptr || !x->value.ptr)
        return -1;
    h->n++;
    return 0;
}

/* headers {name: value} or multiValueHeaders {name: [values]}; the values
 * of a repeated header are joined with ", " as HTTP allows. */
static int take_headers(cmx_arena *a, header_list *h, const json_t *single, const json_t *multi)
{
    const char *name;
    const json_t *v;
    if (json_is_object(multi)) {
        json_object_foreach((json_t *)multi, name, v)
        {
            size_t len;
            const char *joined = json_is_array(v) ? join_array(a, v, ", ", &len) : NULL;
            if (joined && add_header(a, h, name, joined, len) != 0)
                return -1;
        }
        return 0;
    }
    json_object_foreach((json_t *)single, name, v)
    {
        if (json_is_string(v) &&
            add_header(a, h, name, json_string_value(v), json_string_length(v)) != 0)
            return -1;
    }
    return 0;
}

/* queryStringParameters {k: v} or multiValueQueryStringParameters {k: [v]},
 * back into k=v&k=v (values as the event carries them). */
static cmx_slice query_of(cmx_arena *a, const json_t *single, const json_t *multi)
{
    cmx_buf b = CMX_BUF_INIT;
    const char *k;
    const json_t *v;
    const json_t *params = json_is_object(multi) ? multi : single;
    json_object_foreach((json_t *)params, k, v)
    {
        size_t i;
        const json_t *item;
        if (json_is_string(v)) {
            cmx_buf_printf(&b, "%s%s=%s", b.len ? "&" : "", k, json_string_value(v));
        } else {
            json_array_foreach(v, i, item)
            {
                if (json_is_string(item))
                    cmx_buf_printf(&b, "%s%s=%s", b.len ? "&" : "", k, json_string_value(item));
            }
        }
    }
    cmx_slice q = {cmx_buf_failed(&b) ? NULL : arena_copy(a, b.data, b.len), b.len};
    cmx_buf_free(&b);
    return q;
}

/* An HTTP API stage other than $default is the first segment of rawPath. */
static cmx_slice strip_stage(cmx_slice path, const char *stage)
{
    if (!stage || !*stage || strcmp(stage, "$default") == 0)
        return path;
    size_t n = strlen(stage);
    if (path.len > n && path.ptr[0] == '/' && memcmp(path.ptr + 1, stage, n) == 0 &&
        (path.len == n + 1 || path.ptr[n + 1] == '/')) {
        path.ptr += n + 1;
        path.len -= n + 1;
        if (path.len == 0)
            path = cmx_slice_of("/");
    }
    return path;
}

static cmx_err take_body(cmx_arena *a, const json_t *root, cmx_http_request *req, cmx_error *err)
{
    const json_t *body = json_object_get(root, "body");
    if (!json_is_string(body)) {
        req->body = "";
        req->body_len = 0;
        return CMX_OK;
    }
    const char *text = json_string_value(body);
    size_t len = json_string_length(body);
    if (json_is_true(json_object_get(root, "isBase64Encoded"))) {
        unsigned char *raw = cmx_arena_alloc(a, CMX_BASE64_DECODED_MAX(len) + 1);
        long n = raw ? cmx_base64_decode(text, len, raw) : -1;
        if (!raw)
            return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        if (n < 0)
            return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                                 "the event's body is marked isBase64Encoded but is not base64");
        raw[n] = '\0';
        req->body = (const char *)raw;
        req->body_len = (size_t)n;
        return CMX_OK;
    }
    req->body = arena_copy(a, text, len);
    req->body_len = len;
    return req->body ? CMX_OK : cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
}

cmx_err cmx_lambda_event_parse(const char *json, size_t len, cmx_http_request *req,
                               cmx_lambda_event *ev, cmx_error *err)
{
    cmx_arena *a = req->arena;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST, "the event is not a JSON object: %s",
                             jerr.text);
    }
    header_list h = {cmx_arena_alloc(a, MAX_EVENT_HEADERS * sizeof(cmx_http_header)), 0};
    const json_t *ctx = json_object_get(root, "requestContext");
    const char *version = jstr(root, "version");
    const char *method, *path;
    cmx_err rc = CMX_OK;
    memset(ev, 0, sizeof *ev);
    if (version && strcmp(version, "2.0") == 0) {
        ev->kind = CMX_LAMBDA_EVENT_V2;
        method = jstr(json_object_get(ctx, "http"), "method");
        path = jstr(root, "rawPath");
        const char *raw_query = jstr(root, "rawQueryString");
        req->query.ptr = arena_copy(a, raw_query, raw_query ? strlen(raw_query) : 0);
        req->query.len = raw_query ? strlen(raw_query) : 0;
        if (h.items && take_headers(a, &h, json_object_get(root, "headers"), NULL) == 0 &&
            json_array_size(json_object_get(root, "cookies")) > 0) {
            size_t clen;
            const char *cookie = join_array(a, json_object_get(root, "cookies"), "; ", &clen);
            if (!cookie || add_header(a, &h, "cookie", cookie, clen) != 0)
                rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
        }
    } else if (jstr(root, "httpMethod")) {
        ev->kind = json_object_get(ctx, "elb") ? CMX_LAMBDA_EVENT_ALB : CMX_LAMBDA_EVENT_V1;
        ev->multi_value = json_is_object(json_object_get(root, "multiValueHeaders"));
        method = jstr(root, "httpMethod");
        path = jstr(root, "path");
        req->query = query_of(a, json_object_get(root, "queryStringParameters"),
                              json_object_get(root, "multiValueQueryStringParameters"));
        if (h.items && take_headers(a, &h, json_object_get(root, "headers"),
                                    json_object_get(root, "multiValueHeaders")) != 0)
            rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST, "the event has more than %d headers",
                               MAX_EVENT_HEADERS);
    } else {
        json_decref(root);
        return cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                             "not an HTTP event: expected an API Gateway (payload 1.0 or 2.0), "
                             "function URL or Application Load Balancer event");
    }
    if (rc == CMX_OK && !h.items)
        rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    if (rc == CMX_OK && (!method || !*method || !path || path[0] != '/'))
        rc = cmx_error_set(err, CMX_ERR_BAD_REQUEST,
                           "the event has no HTTP method or no path starting with '/'");
    if (rc == CMX_OK) {
        req->method.ptr = arena_copy(a, method, strlen(method));
        req->method.len = strlen(method);
        cmx_slice p = {arena_copy(a, path, strlen(path)), strlen(path)};
        req->path = ev->kind == CMX_LAMBDA_EVENT_V2 ? strip_stage(p, jstr(ctx, "stage")) : p;
        req->headers = h.items;
        req->n_headers = h.n;
        if (!req->method.ptr || !req->path.ptr || !req->query.ptr)
            rc = cmx_error_set(err, CMX_ERR_NOMEM, "out of memory");
    }
    if (rc == CMX_OK)
        rc = take_body(a, root, req, err);
    json_decref(root);
    return rc;
}

/* ---- answers -------------------------------------------------------------- */

/* "Name: value\r\n" lines (and the content type) into a JSON object, or
 * with `multi`, into {name: [value]}. */
static json_t *headers_json(const char *content_type, const char *extra, int multi)
{
    json_t *h = json_object();
    if (content_type)
        json_object_set_new(h, "content-type",
                            multi ? json_pack("[s]", content_type) : json_string(content_type));
    for (const char *line = extra; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        const char *colon = memchr(line, ':', (size_t)(end - line));
        if (colon) {
            char name[128];
            size_t n = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < end && *v == ' ')
                v++;
            if (n < sizeof name) {
                for (size_t i = 0; i < n; i++) /* HTTP APIs and function URLs send lower case */
                    name[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + 32 : line[i]);
                name[n] = '\0';
                json_t *value = json_stringn(v, (size_t)(end - v));
                if (value)
                    json_object_set_new(h, name, multi ? json_pack("[o]", value) : value);
            }
        }
        line = end + 2;
    }
    return h;
}

static int dump_into(json_t *root, cmx_buf *out)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    int rc = text ? cmx_buf_append_str(out, text) : -1;
    free(text);
    return rc;
}

int cmx_lambda_answer_json(const cmx_lambda_event *ev, int status, const char *content_type,
                           const char *extra_headers, const char *body, size_t body_len,
                           cmx_buf *out)
{
    json_t *root = json_object();
    json_object_set_new(root, "statusCode", json_integer(status));
    if (ev->kind == CMX_LAMBDA_EVENT_ALB) {
        char desc[64];
        snprintf(desc, sizeof desc, "%d %s", status, cmx_http_reason_phrase(status));
        json_object_set_new(root, "statusDescription", json_string(desc));
    }
    json_object_set_new(root, ev->multi_value ? "multiValueHeaders" : "headers",
                        headers_json(content_type, extra_headers, ev->multi_value));
    /* jansson refuses a string that is not UTF-8: such a body goes base64. */
    json_t *text = json_stringn(body ? body : "", body_len);
    int b64 = text == NULL;
    if (b64) {
        char *enc = malloc(CMX_BASE64_ENCODED_SIZE(body_len));
        if (enc) {
            size_t n = cmx_base64_encode((const unsigned char *)body, body_len, enc);
            text = json_stringn_nocheck(enc, n);
        }
        free(enc);
    }
    json_object_set_new(root, "body", text ? text : json_string(""));
    json_object_set_new(root, "isBase64Encoded", json_boolean(b64));
    return text ? dump_into(root, out) : (json_decref(root), -1);
}

int cmx_lambda_stream_prelude(int status, const char *content_type, const char *extra_headers,
                              cmx_buf *out)
{
    json_t *root = json_pack("{s:i, s:o, s:[]}", "statusCode", status, "headers",
                             headers_json(content_type, extra_headers, 0), "cookies");
    if (dump_into(root, out) != 0)
        return -1;
    static const char separator[8] = {0};
    return cmx_buf_append(out, separator, sizeof separator);
}

int cmx_lambda_error_json(const char *type, const char *message, cmx_buf *out)
{
    return dump_into(json_pack("{s:s, s:s, s:[]}", "errorMessage", message ? message : "",
                               "errorType", type, "stackTrace"),
                     out);
}
