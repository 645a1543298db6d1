/* chunk_emit.c — writes OpenAI chat.completion.chunk JSONs (see
 * chunk_emit.h).
 *
 * A chunk is a head (id, object, created, model, the choices array opened
 * at the delta), the delta itself, and a tail (logprobs and finish_reason,
 * then the closing brackets).  The field order is the one OpenAI sends. */
#include "chunk_emit.h"
#include "translate_util.h"
#include "core/str.h"

#include <string.h>

/* Room a stream's scratch buffer starts with: a usual chunk and its head. */
#define CHUNK_ROOM 480

/* Hands a finished chunk on: never one an allocation failure cut short. */
static void emit(const cmx_chunk_writer *w)
{
    if (!cmx_buf_failed(w->scratch))
        w->emit(w->ctx, w->scratch->data, w->scratch->len);
}

/* Whether the kept head was written for this writer's id, model and
 * created, and is still at the start of the scratch buffer. */
static int head_kept(const cmx_chunk_writer *w)
{
    const cmx_chunk_head *h = w->head;
    if (!h || !h->len || h->created != w->created || cmx_buf_failed(w->scratch) ||
        w->scratch->len < h->len)
        return 0;
    const char *id = w->id ? w->id : "", *model = w->model ? w->model : "";
    size_t id_len = strlen(id);
    return strcmp(h->key, id) == 0 && strcmp(h->key + id_len + 1, model) == 0;
}

/* Keeps the head just written (the scratch's first bytes) for the chunks
 * that follow, when its id and model fit the key. */
static void head_keep(const cmx_chunk_writer *w, const cmx_jw *jw)
{
    cmx_chunk_head *h = w->head;
    const char *id = w->id ? w->id : "", *model = w->model ? w->model : "";
    size_t id_len = strlen(id), model_len = strlen(model);
    h->len = 0;
    if (cmx_buf_failed(w->scratch) || id_len + model_len + 2 > sizeof h->key)
        return;
    memcpy(h->key, id, id_len + 1);
    memcpy(h->key + id_len + 1, model, model_len + 1);
    h->created = w->created;
    h->jw = *jw;
    h->len = w->scratch->len;
}

/* Writes the chunk's head, up to where the delta (or the usage) goes. */
static void head(const cmx_chunk_writer *w, cmx_jw *jw, int with_choice)
{
    if (with_choice && head_kept(w)) {
        cmx_buf_truncate(w->scratch, w->head->len);
        *jw = w->head->jw;
        return;
    }
    if (w->head)
        w->head->len = 0;       /* the scratch is about to be rewritten */
    cmx_buf_rewind(w->scratch); /* a failure stays: the translator checks once per event */
    if (!w->scratch->cap)
        cmx_buf_reserve(w->scratch, CHUNK_ROOM); /* once, not doubling up from 64 bytes */
    cmx_jw_init(jw, w->scratch);
    cmx_jw_object(jw);
    CMX_JW_KEY(jw, "id");
    cmx_jw_str_value(jw, cmx_jw_cstr(w->id));
    CMX_JW_KEY(jw, "object");
    CMX_JW_LIT(jw, "chat.completion.chunk");
    CMX_JW_KEY(jw, "created");
    cmx_jw_int(jw, w->created);
    CMX_JW_KEY(jw, "model");
    cmx_jw_str_value(jw, cmx_jw_cstr(w->model));
    CMX_JW_KEY(jw, "choices");
    cmx_jw_array(jw);
    if (!with_choice)
        return;
    cmx_jw_object(jw);
    CMX_JW_KEY(jw, "index");
    cmx_jw_int(jw, 0);
    CMX_JW_KEY(jw, "delta");
    cmx_jw_object(jw);
    if (w->head)
        head_keep(w, jw);
}

/* Closes a chunk whose delta was written and hands it on. */
static void tail_and_emit(const cmx_chunk_writer *w, cmx_jw *jw, const char *finish_reason)
{
    if (!finish_reason && jw->depth == 4) {
        /* the delta, the choice, choices and the chunk closed, as below */
        cmx_buf_append(w->scratch, CMX_LIT("},\"logprobs\":null,\"finish_reason\":null}]}"));
        emit(w);
        return;
    }
    cmx_jw_end(jw); /* the delta */
    CMX_JW_KEY(jw, "logprobs");
    cmx_jw_null(jw);
    CMX_JW_KEY(jw, "finish_reason");
    if (finish_reason)
        cmx_jw_string(jw, finish_reason, strlen(finish_reason));
    else
        cmx_jw_null(jw);
    cmx_jw_end(jw);
    cmx_jw_end(jw);
    cmx_jw_end(jw);
    emit(w);
}

void cmx_chunk_role(const cmx_chunk_writer *w)
{
    cmx_jw jw;
    head(w, &jw, 1);
    CMX_JW_KEY(&jw, "role");
    CMX_JW_LIT(&jw, "assistant");
    CMX_JW_KEY(&jw, "content");
    CMX_JW_LIT(&jw, "");
    tail_and_emit(w, &jw, NULL);
}

void cmx_chunk_content(const cmx_chunk_writer *w, cmx_jw_str text)
{
    cmx_jw jw;
    head(w, &jw, 1);
    CMX_JW_KEY(&jw, "content");
    cmx_jw_str_value(&jw, text);
    tail_and_emit(w, &jw, NULL);
}

void cmx_chunk_reasoning(const cmx_chunk_writer *w, cmx_jw_str text)
{
    cmx_jw jw;
    head(w, &jw, 1);
    CMX_JW_KEY(&jw, "reasoning_content");
    cmx_jw_str_value(&jw, text);
    tail_and_emit(w, &jw, NULL);
}

void cmx_chunk_thinking_block(const cmx_chunk_writer *w, int redacted, cmx_jw_str text,
                              cmx_jw_str value)
{
    if (!value.len)
        return; /* unsigned: nothing a provider would take back */
    cmx_jw jw;
    head(w, &jw, 1);
    CMX_JW_KEY(&jw, "thinking_blocks");
    cmx_jw_array(&jw);
    cmx_translate_write_thinking_block(&jw, redacted, text, value);
    cmx_jw_end(&jw);
    tail_and_emit(w, &jw, NULL);
}

/* {"tool_calls":[{"index":i[,"id":..,"type":"function"],"function":{[name,]"arguments":
 * — the arguments are the caller's to write. */
static void tool_call_head(const cmx_chunk_writer *w, cmx_jw *jw, int index, const cmx_jw_str *id,
                           const cmx_jw_str *name)
{
    head(w, jw, 1);
    CMX_JW_KEY(jw, "tool_calls");
    cmx_jw_array(jw);
    cmx_jw_object(jw);
    CMX_JW_KEY(jw, "index");
    cmx_jw_int(jw, index);
    if (id) {
        CMX_JW_KEY(jw, "id");
        cmx_jw_str_value(jw, *id);
        CMX_JW_KEY(jw, "type");
        CMX_JW_LIT(jw, "function");
    }
    CMX_JW_KEY(jw, "function");
    cmx_jw_object(jw);
    if (name) {
        CMX_JW_KEY(jw, "name");
        cmx_jw_str_value(jw, *name);
    }
    CMX_JW_KEY(jw, "arguments");
}

/* ...}[,"extra_content":...]}]} and the chunk's end. */
static void tool_call_tail(const cmx_chunk_writer *w, cmx_jw *jw, cmx_jw_str signature)
{
    cmx_jw_end(jw); /* function */
    cmx_translate_write_call_signature(jw, signature);
    cmx_jw_end(jw); /* the call */
    cmx_jw_end(jw); /* tool_calls */
    tail_and_emit(w, jw, NULL);
}

void cmx_chunk_tool_call(const cmx_chunk_writer *w, int index, cmx_jw_str id, cmx_jw_str name,
                         const char *json, size_t len, cmx_jw_str signature)
{
    cmx_jw jw;
    tool_call_head(w, &jw, index, &id, &name);
    cmx_jw_json_as_string(&jw, json, len);
    tool_call_tail(w, &jw, signature);
}

void cmx_chunk_tool_call_start(const cmx_chunk_writer *w, int index, cmx_jw_str id, cmx_jw_str name)
{
    cmx_jw jw;
    tool_call_head(w, &jw, index, &id, &name);
    CMX_JW_LIT(&jw, "");
    tool_call_tail(w, &jw, CMX_JW_RAW("", 0));
}

void cmx_chunk_tool_call_arguments(const cmx_chunk_writer *w, int index, cmx_jw_str part)
{
    cmx_jw jw;
    tool_call_head(w, &jw, index, NULL, NULL);
    cmx_jw_str_value(&jw, part);
    tool_call_tail(w, &jw, CMX_JW_RAW("", 0));
}

void cmx_chunk_finish(const cmx_chunk_writer *w, const char *finish_reason)
{
    cmx_jw jw;
    head(w, &jw, 1);
    tail_and_emit(w, &jw, finish_reason);
}

void cmx_chunk_usage(const cmx_chunk_writer *w, const cmx_usage *u)
{
    cmx_jw jw;
    head(w, &jw, 0);
    cmx_jw_end(&jw); /* no choices */
    CMX_JW_KEY(&jw, "usage");
    cmx_translate_write_usage(&jw, u);
    cmx_jw_end(&jw);
    emit(w);
}

cmx_err cmx_chunk_check(const cmx_buf *scratch, cmx_error *err)
{
    if (!cmx_buf_failed(scratch))
        return CMX_OK;
    return cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while writing a stream chunk");
}
