/* ingress_json.h — reading a tokenized body and writing JSON by hand, the
 * two things every converter between the client APIs and the chat format
 * does over and over.
 *
 * Reading goes through the request's token view (http/json_doc.h): a
 * member is found by walking its object's keys, a value is copied as the
 * bytes the client wrote, never rebuilt.  Writing goes through the JSON
 * writer (core/json_write.h) into a cmx_buf whose failure is sticky:
 * converters append freely and the caller checks the buffer once.  No tree
 * is built either way. */
#ifndef CMX_INGRESS_JSON_H
#define CMX_INGRESS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json_write.h"
#include "core/str.h"
#include "http/json_doc.h"

/* The value of member `name` (a literal) of object token obj, or -1. */
#define CMX_JD_MEMBER(doc, obj, name) cmx_json_doc_member((doc), (obj), CMX_LIT(name), NULL)

/* Each element of array token arr, and each key of object token obj (its
 * value is the token after it). */
#define CMX_JD_EACH_ELEMENT(doc, arr, e)                                                           \
    for (int e = (arr) + 1, e##_end_ = cmx_json_doc_next((doc), (arr)); e < e##_end_;              \
         e = cmx_json_doc_next((doc), e))
#define CMX_JD_EACH_KEY(doc, obj, k)                                                               \
    for (int k = (obj) + 1, k##_end_ = cmx_json_doc_next((doc), (obj)); k < k##_end_;              \
         k = cmx_json_doc_next((doc), k + 1))

/* Whether token i is a string equal to the literal `lit`. */
#define CMX_JD_IS(doc, i, lit) cmx_jd_string_is((doc), (i), CMX_LIT(lit))
int cmx_jd_string_is(const cmx_json_doc *doc, int i, const char *s, size_t n);

/* Key token k's name (unescaped into buf when it has escapes) into *key;
 * returns its length, 0 when it does not fit. */
size_t cmx_jd_key_name(const cmx_json_doc *doc, int k, char *buf, size_t cap, const char **key);

/* Token i's type, CMX_JSON_ABSENT for i < 0. */
cmx_json_type cmx_jd_type(const cmx_json_doc *doc, int i);

/* Whether token i is a string of at least one byte. */
int cmx_jd_non_empty_string(const cmx_json_doc *doc, int i);

/* The number of elements of array token arr. */
size_t cmx_jd_count(const cmx_json_doc *doc, int arr);

/* ---- writing (core/json_write.h) ---------------------------------------- */

/* Token i's value as the client wrote it (strings with their quotes). */
void cmx_jd_put(cmx_jw *w, const cmx_json_doc *doc, int i);
/* The inside of string token i as the client wrote it (its escapes kept),
 * as a piece of a string being written (cmx_jw_string_open): how texts are
 * joined into one without unescaping them. */
void cmx_jd_put_inner(cmx_jw *w, const cmx_json_doc *doc, int i);
/* Token i's value as a string holding its JSON text: how a tool's input
 * becomes a chat tool call's arguments. */
void cmx_jd_put_as_string(cmx_jw *w, const cmx_json_doc *doc, int i);
/* A key and the value of token i, when i is a member (i >= 0). */
void cmx_jd_put_member(cmx_jw *w, const char *key, size_t key_len, const cmx_json_doc *doc, int i);
#define CMX_JD_PUT_MEMBER(w, lit, doc, i) cmx_jd_put_member((w), CMX_LIT(lit), (doc), (i))

/* Writes "name[index]" (just name when index < 0) into out[0..cap), cut
 * to fit: where a message names a field, without printf (it runs for every
 * message and block of a request). */
void cmx_ingress_path(char *out, size_t cap, const char *name, long index);

/* Appends `what` to a ", "-separated list of names, once. */
void cmx_ingress_note(cmx_buf *list, const char *what);

/* ---- reading answers ----------------------------------------------------- */

/* A chat.completion's or chunk's usage object (token u) into the counts;
 * absent members stay -1. */
struct cmx_usage;
void cmx_jd_read_chat_usage(const cmx_json_doc *doc, int u, struct cmx_usage *out);

#endif
