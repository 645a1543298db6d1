/* token_queue.h — the requests waiting for an access token, in arrival
 * order, as the token caches of google_auth.c and azure_auth.c keep them.
 *
 * A cache that has no valid token starts one fetch and queues every request
 * that asks meanwhile; when the fetch ends, each is taken out and told, one
 * at a time from the head, so a callback may end its request or cancel
 * other waiters safely.  A waiter is a link inside the request's own memory
 * (no allocation); the cache's waiter type holds it with its callback. */
#ifndef CMX_PROVIDERS_TOKEN_QUEUE_H
#define CMX_PROVIDERS_TOKEN_QUEUE_H

#include "core/err.h"

typedef struct cmx_token_queue_link {
    struct cmx_token_queue_link *prev, *next;
    int queued;
} cmx_token_queue_link;

typedef struct cmx_token_queue {
    cmx_token_queue_link *head, *tail;
} cmx_token_queue;

/* Queues l at the tail. */
void cmx_token_queue_push(cmx_token_queue *q, cmx_token_queue_link *l);
/* Takes l out; nothing when it is not queued (NULL too). */
void cmx_token_queue_remove(cmx_token_queue *q, cmx_token_queue_link *l);
/* Takes the head out and returns it; NULL when the queue is empty. */
cmx_token_queue_link *cmx_token_queue_pop(cmx_token_queue *q);

/* A token cache's answer to a request, from where its token stands
 * (`settled`: 1 there, 0 being fetched, -1 failed): the token in *out, the
 * request queued on `l`, or the failure. */
cmx_progress cmx_token_queue_answer(int settled, const char *token, const char **out,
                                    cmx_token_queue *q, cmx_token_queue_link *l);

#endif
