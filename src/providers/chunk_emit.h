/* chunk_emit.h — OpenAI chat.completion.chunk JSONs, written for the stream
 * translators of the translating providers (anthropic, bedrock, vertex).
 *
 * Every upstream stream format, once understood, comes down to the same few
 * chunks a client expects: the role, a piece of text, a tool call opening,
 * a piece of its arguments, the finish reason, and the usage.  They are
 * written here with the JSON writer into the translator's scratch buffer
 * and handed to its emit callback, so every provider's stream looks the
 * same to a client byte for byte.  Texts, ids and names are cmx_jw_str: the
 * upstream event's own escaped bytes are copied as they are.
 *
 * A chunk that ran out of memory while being written is not emitted, and
 * the scratch buffer stays failed (cmx_buf_failed): the translator checks it
 * once after each upstream event and ends the stream with out_of_memory, so
 * a client never gets half a chunk. */
#ifndef CMX_PROVIDERS_CHUNK_EMIT_H
#define CMX_PROVIDERS_CHUNK_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json_write.h"
#include "core/usage.h"

typedef void (*cmx_chunk_emit_fn)(void *ctx, const char *json, size_t len);

/* The head every chunk of a stream repeats (id, object, created, model, the
 * choices array opened at the delta), kept written at the start of the
 * scratch buffer: a stream's translator holds one, zeroed with its state,
 * and points its writer at it; each chunk after the first then cuts the
 * scratch back to the head instead of writing it again.  It remembers the
 * id, model and created it was written for and is written anew when they
 * differ; a chunk without the head (the usage chunk) drops it. */
#define CMX_CHUNK_HEAD_KEY 320
typedef struct cmx_chunk_head {
    size_t len; /* 0: none kept; else the scratch's first len bytes are it */
    cmx_jw jw;  /* the writer's state right after it */
    int64_t created;
    char key[CMX_CHUNK_HEAD_KEY]; /* id '\0' model '\0' */
} cmx_chunk_head;

/* Where chunks go and what every chunk repeats. */
typedef struct cmx_chunk_writer {
    const char *id; /* raw (escaped when written) */
    const char *model;
    int64_t created;
    cmx_buf *scratch; /* reset and rewritten for each chunk */
    cmx_chunk_emit_fn emit;
    void *ctx;
    cmx_chunk_head *head; /* NULL: every chunk's head is written in full */
} cmx_chunk_writer;

/* The first chunk: {"role":"assistant","content":""}. */
void cmx_chunk_role(const cmx_chunk_writer *w);
/* A piece of the answer's text. */
void cmx_chunk_content(const cmx_chunk_writer *w, cmx_jw_str text);
/* A piece of the model's reasoning text: {"reasoning_content": text}. */
void cmx_chunk_reasoning(const cmx_chunk_writer *w, cmx_jw_str text);
/* A thinking block, whole, once it closed: {"thinking_blocks":[{"type":
 * "thinking","thinking","signature"}]}, or redacted {"type":
 * "redacted_thinking","data"} (value is the signature, or the data); no
 * chunk when value is empty (an unsigned block cannot be sent back). */
void cmx_chunk_thinking_block(const cmx_chunk_writer *w, int redacted, cmx_jw_str text,
                              cmx_jw_str value);
/* A tool call opening: its index in tool_calls, id and name, with empty
 * arguments. */
void cmx_chunk_tool_call_start(const cmx_chunk_writer *w, int index, cmx_jw_str id,
                               cmx_jw_str name);
/* A tool call sent whole (Gemini sends them so): as above, the arguments
 * being the compact text of the JSON value json[0..len), with its thought
 * signature (empty: none) as cmx_translate_write_call_signature writes it. */
void cmx_chunk_tool_call(const cmx_chunk_writer *w, int index, cmx_jw_str id, cmx_jw_str name,
                         const char *json, size_t len, cmx_jw_str signature);
/* A piece of the arguments of the tool call at `index`. */
void cmx_chunk_tool_call_arguments(const cmx_chunk_writer *w, int index, cmx_jw_str part);
/* The empty delta that carries the finish reason. */
void cmx_chunk_finish(const cmx_chunk_writer *w, const char *finish_reason);
/* The usage chunk (no choices), written with the counts as given. */
void cmx_chunk_usage(const cmx_chunk_writer *w, const cmx_usage *u);

/* After an upstream event's chunks: CMX_OK, or CMX_ERR_NOMEM with err set
 * when one of them could not be written (and so was not emitted). */
cmx_err cmx_chunk_check(const cmx_buf *scratch, cmx_error *err);

#endif
