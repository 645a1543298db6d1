/* chat_write.h — the pieces of a chat completion request that both client
 * APIs' converters write (messages_chat.c, responses_chat.c): messages,
 * text and image parts, function tools, tool calls and a named tool
 * choice, the stream options, and the settings copied under their chat
 * names.  Each writes through the JSON writer (core/json_write.h); the
 * "open" ones leave their objects open for the caller to add members and
 * close (as many cmx_jw_end as they say). */
#ifndef CMX_INGRESS_CHAT_WRITE_H
#define CMX_INGRESS_CHAT_WRITE_H

#include <stddef.h>

#include "core/err.h"
#include "core/json_write.h"
#include "http/json_doc.h"

/* String token i's inside as the writer takes it (escapes kept). */
cmx_jw_str cmx_jd_str(const cmx_json_doc *doc, int i);

/* A name the code spells, as the writer takes it. */
#define CMX_JW_NAME(lit) CMX_JW_ESC((lit), sizeof(lit) - 1)

/* {"role":<role>  — one object open. */
void cmx_chat_begin_message(cmx_jw *w, cmx_jw_str role);

/* {"type":"text","text":<token>} */
void cmx_chat_text_part(cmx_jw *w, const cmx_json_doc *doc, int text);

/* {"type":"image_url","image_url":{  — two objects open; the caller
 * writes "url" (and "detail"). */
void cmx_chat_open_image(cmx_jw *w);

/* {"type":"function","function":{"name":<name>  — two objects open. */
void cmx_chat_open_function(cmx_jw *w, cmx_jw_str name);

/* A function tool, whole: name, its description when a string, its
 * parameters when an object. */
void cmx_chat_function_tool(cmx_jw *w, const cmx_json_doc *doc, int name, int description,
                            int parameters);

/* A tool choice naming one function, whole. */
void cmx_chat_named_choice(cmx_jw *w, cmx_jw_str name);

/* A tool call, whole: {"id":<id>,"type":"function","function":{"name":<name>,
 * "arguments":...}}, the arguments either a string token copied
 * (as_string 0) or any token written as a string holding its JSON. */
void cmx_chat_tool_call(cmx_jw *w, const cmx_json_doc *doc, int id, int name, int args,
                        int as_string);

/* "stream":true,"stream_options":{"include_usage":true} (the counts come
 * in the last chunk). */
void cmx_chat_stream_members(cmx_jw *w);

/* Settings copied as the client wrote them, under their chat names, in
 * the client's order. */
typedef struct cmx_chat_copies {
    int token[8];
    const char *as[8];
    size_t n;
} cmx_chat_copies;

void cmx_chat_copy(cmx_chat_copies *c, int token, const char *as);
/* Writes them all but the one named `skip` (NULL: all). */
void cmx_chat_put_copies(cmx_jw *w, const cmx_json_doc *doc, const cmx_chat_copies *c,
                         const char *skip);

/* A request's head: {"model":<model>, the copies (but `skip`), and the
 * stream members when stream is set — the object left open. */
void cmx_chat_open_request(cmx_jw *w, const cmx_json_doc *doc, int model, const cmx_chat_copies *c,
                           const char *skip, int stream);

/* The refusal of a top-level field (its name key[0..n)) that has no chat
 * completions form; `hint` says where to send it. */
cmx_err cmx_chat_no_form(cmx_error *err, const char *key, size_t n, const char *hint);

#endif
