/* error_json.h — the error bodies clients read, written in one place.
 *
 * Every error a client sees, from the HTTP server's framing errors to the
 * router's "every target failed", has OpenAI's shape
 * {"error":{"message","type","param","code"}}: this writer is the only
 * code that produces it, so the escaping, the field order and the type
 * names agree everywhere.  A body may carry more inside the error object
 * (the router's list of attempts): open it, add fields, close it.  Other
 * APIs' error shapes (Anthropic Messages ingress) get their writer here
 * too, so an API's errors are still written once.
 *
 * The writers append to a cmx_buf and keep its failure (core/buf.h): the
 * caller checks cmx_buf_failed once before sending. */
#ifndef CMX_CORE_ERROR_JSON_H
#define CMX_CORE_ERROR_JSON_H

#include "buf.h"
#include "err.h"

typedef struct cmx_error_body {
    cmx_err kind;        /* gives the type and, without `code`, the code */
    const char *message; /* NULL: the kind's name */
    const char *type;    /* NULL: cmx_err_openai_type(kind) */
    const char *param;   /* the request field at fault, or NULL (null in JSON) */
    const char *code;    /* NULL: cmx_err_name(kind) */
} cmx_error_body;

/* Appends {"error":{"message":..,"type":..,"param":..,"code":.. and leaves
 * the error object open for more fields (each starting with ','). */
void cmx_error_json_open(cmx_buf *b, const cmx_error_body *e);
/* Closes what cmx_error_json_open left open. */
void cmx_error_json_close(cmx_buf *b);
/* The whole body: open and close. */
void cmx_error_json(cmx_buf *b, const cmx_error_body *e);

/* Anthropic's error shape {"type":"error","error":{"type","message"}},
 * the type named after the kind (cmx_err_anthropic_type), left open for
 * more fields inside the error object as above. */
void cmx_error_json_anthropic_open(cmx_buf *b, cmx_err kind, const char *message);
/* The whole Anthropic error body: open and close (cmx_error_json_close). */
void cmx_error_json_anthropic(cmx_buf *b, cmx_err kind, const char *message);
/* Anthropic's error type for a kind: invalid_request_error,
 * authentication_error, permission_error, not_found_error,
 * request_too_large, rate_limit_error, timeout_error, overloaded_error or
 * api_error. */
const char *cmx_err_anthropic_type(cmx_err kind);

/* Appends s as a JSON string (quoted and escaped), or null for NULL. */
void cmx_json_put_string(cmx_buf *b, const char *s);

#endif
