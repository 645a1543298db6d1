/* embeddings.h — OpenAI's embeddings API on both sides, once for every
 * provider that translates embeddings (vertex, bedrock ...): the request
 * read and checked (inputs, dimensions, encoding_format, what else a
 * provider cannot take), and the answer written — the list of {object,
 * index, embedding} items, the usage, and the vector in OpenAI's
 * encoding_format "base64" (little-endian float32s, base64-encoded), which
 * the official OpenAI clients ask for by default.
 *
 * Without a tree: the request is tokenized (http/json_doc.h) and its input
 * strings copied as the client wrote them; the upstream's vectors are
 * copied as its numbers were written, or read once into float32s for
 * base64. */
#ifndef CMX_PROVIDERS_EMBEDDINGS_H
#define CMX_PROVIDERS_EMBEDDINGS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json_write.h"
#include "core/usage.h"
#include "http/json_doc.h"

/* An embeddings request as a provider needs it. */
typedef struct cmx_embedding_request {
    cmx_json_doc doc; /* the request, tokenized (released by cmx_embedding_request_free) */
    int input;        /* a string, or an array of strings */
    size_t n_texts;
    int dimensions; /* a positive integer token, or -1 */
    int base64;     /* encoding_format "base64" */
} cmx_embedding_request;

/* Reads an embeddings request: `input` as a string or a non-empty list of
 * strings (token arrays are refused, naming the provider), `dimensions`,
 * `encoding_format` ("float" or "base64"), and any other field refused as
 * unsupported unless drop_unsupported.  CMX_ERR_BAD_REQUEST (status 400)
 * with a message naming provider `name` of `type`. */
cmx_err cmx_embedding_read_request(const char *body, size_t len, const char *name, const char *type,
                                   int drop_unsupported, cmx_embedding_request *out,
                                   cmx_error *err);
void cmx_embedding_request_free(cmx_embedding_request *r);

/* The inputs written as a JSON array of strings, as the client wrote them. */
void cmx_embedding_write_texts(cmx_jw *w, const cmx_embedding_request *r);
/* Each input string written through `each` (one call per input). */
void cmx_embedding_each_text(cmx_jw *w, const cmx_embedding_request *r,
                             void (*each)(cmx_jw *w, const char *escaped, size_t len));

/* The answer being written: {"object":"list","data":[ ... */
typedef struct cmx_embedding_list {
    cmx_jw w;
    size_t n;
    int base64;
    size_t start; /* where it began in the output, to take it back */
} cmx_embedding_list;

void cmx_embedding_list_begin(cmx_embedding_list *l, cmx_buf *out, int base64);
/* The next item, from an upstream vector (an array token of numbers):
 * copied, or as base64 when asked.  CMX_ERR_UPSTREAM_PROTOCOL when the
 * vector is no array. */
cmx_err cmx_embedding_list_add(cmx_embedding_list *l, const cmx_json_doc *doc, int vector,
                               const char *provider_type, cmx_error *err);
/* Closes the list with the model and usage, and the usage (prompt = total =
 * tokens) to *usage when not NULL.  CMX_ERR_NOMEM when it could not be
 * written (nothing of it stays then). */
cmx_err cmx_embedding_list_end(cmx_embedding_list *l, const char *model, int64_t tokens,
                               cmx_usage *usage, cmx_error *err);
/* Takes back what the list wrote (an upstream answer found wrong). */
void cmx_embedding_list_abandon(cmx_embedding_list *l);

#endif
