/* chunk_emit.c — writes OpenAI chat.completion.chunk JSONs (see
 * chunk_emit.h).
 *
 * A chunk is a head (id, object, created, model, the choices array opened
 * at the delta), the delta itself, and a tail (logprobs and finish_reason,
 * then the closing brackets).  The field order is the one OpenAI sends. */
#include "chunk_emit.h"
#include "core/str.h"

#include <string.h>

static void put_string(cmx_buf *b, const char *str, size_t len)
{
    cmx_buf_append(b, CMX_LIT("\""));
    cmx_buf_append_json_escaped(b, str ? str : "", str ? len : 0);
    cmx_buf_append(b, CMX_LIT("\""));
}

/* Hands a finished chunk on: never one an allocation failure cut short. */
static void emit(const cmx_chunk_writer *w)
{
    if (!cmx_buf_failed(w->scratch))
        w->emit(w->ctx, w->scratch->data, w->scratch->len);
}

/* Writes the chunk's head, up to where the delta (or the usage) goes. */
static void head(const cmx_chunk_writer *w, int with_choice)
{
    cmx_buf *b = w->scratch;
    cmx_buf_rewind(b); /* a failure stays: the translator checks once per event */
    cmx_buf_append_str(b, "{\"id\":");
    put_string(b, w->id, strlen(w->id));
    cmx_buf_printf(b, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                   (long long)w->created);
    put_string(b, w->model, strlen(w->model));
    cmx_buf_append_str(b,
                       with_choice ? ",\"choices\":[{\"index\":0,\"delta\":" : ",\"choices\":[]");
}

/* Closes a chunk whose delta was written and hands it on. */
static void tail_and_emit(const cmx_chunk_writer *w, const char *finish_reason)
{
    cmx_buf *b = w->scratch;
    cmx_buf_append_str(b, ",\"logprobs\":null,\"finish_reason\":");
    if (finish_reason)
        put_string(b, finish_reason, strlen(finish_reason));
    else
        cmx_buf_append_str(b, "null");
    cmx_buf_append_str(b, "}]}");
    emit(w);
}

void cmx_chunk_role(const cmx_chunk_writer *w)
{
    head(w, 1);
    cmx_buf_append_str(w->scratch, "{\"role\":\"assistant\",\"content\":\"\"}");
    tail_and_emit(w, NULL);
}

void cmx_chunk_content(const cmx_chunk_writer *w, const char *text, size_t len)
{
    head(w, 1);
    cmx_buf_append_str(w->scratch, "{\"content\":");
    put_string(w->scratch, text, len);
    cmx_buf_append_str(w->scratch, "}");
    tail_and_emit(w, NULL);
}

void cmx_chunk_tool_call(const cmx_chunk_writer *w, int index, const char *id, size_t id_len,
                         const char *name, size_t name_len, const char *arguments, size_t args_len)
{
    cmx_buf *b = w->scratch;
    head(w, 1);
    cmx_buf_printf(b, "{\"tool_calls\":[{\"index\":%d,\"id\":", index);
    put_string(b, id, id_len);
    cmx_buf_append_str(b, ",\"type\":\"function\",\"function\":{\"name\":");
    put_string(b, name, name_len);
    cmx_buf_append_str(b, ",\"arguments\":");
    put_string(b, arguments, args_len);
    cmx_buf_append_str(b, "}}]}");
    tail_and_emit(w, NULL);
}

void cmx_chunk_tool_call_start(const cmx_chunk_writer *w, int index, const char *id, size_t id_len,
                               const char *name, size_t name_len)
{
    cmx_chunk_tool_call(w, index, id, id_len, name, name_len, CMX_LIT(""));
}

void cmx_chunk_tool_call_arguments(const cmx_chunk_writer *w, int index, const char *part,
                                   size_t len)
{
    head(w, 1);
    cmx_buf_printf(w->scratch,
                   "{\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", index);
    put_string(w->scratch, part, len);
    cmx_buf_append_str(w->scratch, "}}]}");
    tail_and_emit(w, NULL);
}

void cmx_chunk_finish(const cmx_chunk_writer *w, const char *finish_reason)
{
    head(w, 1);
    cmx_buf_append_str(w->scratch, "{}");
    tail_and_emit(w, finish_reason);
}

void cmx_chunk_usage(const cmx_chunk_writer *w, const cmx_usage *u)
{
    head(w, 0);
    cmx_buf_printf(w->scratch,
                   ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                   "\"total_tokens\":%lld,\"prompt_tokens_details\":{\"cached_tokens\":%lld}}}",
                   (long long)u->prompt_tokens, (long long)u->completion_tokens,
                   (long long)u->total_tokens, (long long)u->cached_tokens);
    emit(w);
}

cmx_err cmx_chunk_check(const cmx_buf *scratch, cmx_error *err)
{
    if (!cmx_buf_failed(scratch))
        return CMX_OK;
    return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while writing a stream chunk");
}
