/* token_queue.c — a doubly linked queue of token waiters (see
 * token_queue.h). */
#include "token_queue.h"

#include <stddef.h>

void cmx_token_queue_push(cmx_token_queue *q, cmx_token_queue_link *l)
{
    l->next = NULL;
    l->prev = q->tail;
    if (q->tail)
        q->tail->next = l;
    else
        q->head = l;
    q->tail = l;
    l->queued = 1;
}

void cmx_token_queue_remove(cmx_token_queue *q, cmx_token_queue_link *l)
{
    if (!l || !l->queued)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        q->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        q->tail = l->prev;
    l->prev = l->next = NULL;
    l->queued = 0;
}

cmx_token_queue_link *cmx_token_queue_pop(cmx_token_queue *q)
{
    cmx_token_queue_link *l = q->head;
    cmx_token_queue_remove(q, l);
    return l;
}

cmx_progress cmx_token_queue_answer(int settled, const char *token, const char **out,
                                    cmx_token_queue *q, cmx_token_queue_link *l)
{
    if (settled > 0) {
        *out = token;
        return CMX_READY;
    }
    if (settled < 0)
        return CMX_FAILED;
    cmx_token_queue_push(q, l);
    return CMX_PENDING;
}
