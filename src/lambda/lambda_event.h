/* lambda_event.h — HTTP requests carried in Lambda events, and the answers
 * Lambda expects back.
 *
 * Three event shapes reach a function over HTTP: API Gateway HTTP APIs and
 * Lambda function URLs send payload format 2.0 (`version: "2.0"`,
 * `rawPath`, `rawQueryString`, `requestContext.http.method`, `cookies`), an
 * Application Load Balancer sends `httpMethod`, `path` and `headers` or
 * `multiValueHeaders` with `requestContext.elb`, and API Gateway REST APIs
 * (payload 1.0) the same fields as the ALB.  Each becomes a
 * cmx_http_request, so the gateway's one handler serves it.
 *
 * Answers: a buffered one is the JSON object of the event's format
 * (statusCode, headers or multiValueHeaders, body, isBase64Encoded, and
 * statusDescription for the ALB); a streamed one starts with the HTTP
 * integration prelude (the status and headers as JSON, then eight NUL
 * bytes) after which the body bytes follow as they come. */
#ifndef CMX_LAMBDA_EVENT_H
#define CMX_LAMBDA_EVENT_H

#include "core/buf.h"
#include "core/err.h"
#include "http/server.h"

typedef enum {
    CMX_LAMBDA_EVENT_V2,  /* HTTP API payload 2.0, function URL */
    CMX_LAMBDA_EVENT_ALB, /* Application Load Balancer */
    CMX_LAMBDA_EVENT_V1   /* REST API payload 1.0 */
} cmx_lambda_event_kind;

typedef struct cmx_lambda_event {
    cmx_lambda_event_kind kind;
    int multi_value; /* the event used multiValueHeaders: answer the same way */
} cmx_lambda_event;

/* The content type of a streamed answer with the HTTP integration prelude. */
#define CMX_LAMBDA_HTTP_INTEGRATION "application/vnd.awslambda.http-integration-response"

/* Fills `req` from the event (all its strings in req->arena).  A JSON that is
 * not one of the three HTTP event shapes is CMX_ERR_BAD_REQUEST. */
cmx_err cmx_lambda_event_parse(const char *json, size_t len, cmx_http_request *req,
                               cmx_lambda_event *ev, cmx_error *err);

/* The buffered answer for `ev`.  `extra_headers` is NULL or "Name: value\r\n"
 * lines.  A body that is not UTF-8 goes base64-encoded.  0, or -1 when out
 * of memory. */
int cmx_lambda_answer_json(const cmx_lambda_event *ev, int status, const char *content_type,
                           const char *extra_headers, const char *body, size_t body_len,
                           cmx_buf *out);

/* The prelude of a streamed answer: {"statusCode":..,"headers":{..}} and
 * eight NUL bytes.  0, or -1 when out of memory. */
int cmx_lambda_stream_prelude(int status, const char *content_type, const char *extra_headers,
                              cmx_buf *out);

/* The AWS error document {"errorMessage","errorType","stackTrace":[]}. */
int cmx_lambda_error_json(const char *type, const char *message, cmx_buf *out);

#endif
