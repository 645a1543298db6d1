/* mailbox.h — how another thread hands work back to a worker's event loop.
 *
 * Worker event loops run without libevent's locks, so no other thread may
 * touch their events.  A mailbox is a locked list and an eventfd the loop
 * watches: cmx_mailbox_post() (any thread) appends a letter and wakes the
 * loop, which then calls each letter's `deliver` on the worker's thread.
 * Letters still in the box when it is freed get `discard` instead. */
#ifndef CMX_GATEWAY_MAILBOX_H
#define CMX_GATEWAY_MAILBOX_H

struct event_base;

typedef struct cmx_letter {
    void (*deliver)(struct cmx_letter *l); /* on the worker's thread */
    void (*discard)(struct cmx_letter *l); /* when it can no longer be delivered */
    struct cmx_letter *next;
} cmx_letter;

typedef struct cmx_mailbox cmx_mailbox;

cmx_mailbox *cmx_mailbox_new(struct event_base *base);
/* Stops watching the loop (before the loop is freed); letters wait. */
void cmx_mailbox_detach(cmx_mailbox *mb);
/* Discards what is left and frees the box. */
void cmx_mailbox_free(cmx_mailbox *mb);
void cmx_mailbox_post(cmx_mailbox *mb, cmx_letter *l);

#endif
