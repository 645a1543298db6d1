/* mailbox.c — letters to a worker's loop; see mailbox.h. */
#include "mailbox.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct cmx_mailbox {
    pthread_mutex_t lock;
    cmx_letter *head, *tail;
    int fd;
    struct event *ev;
};

static cmx_letter *take_all(cmx_mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    cmx_letter *l = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    return l;
}

static void on_mail(evutil_socket_t fd, short what, void *arg)
{
    cmx_mailbox *mb = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    for (cmx_letter *l = take_all(mb), *next; l; l = next) {
        next = l->next;
        l->deliver(l);
    }
}

cmx_mailbox *cmx_mailbox_new(struct event_base *base)
{
    cmx_mailbox *mb = calloc(1, sizeof *mb);
    if (!mb)
        return NULL;
    pthread_mutex_init(&mb->lock, NULL);
    mb->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    mb->ev = mb->fd >= 0 ? event_new(base, mb->fd, EV_READ | EV_PERSIST, on_mail, mb) : NULL;
    if (!mb->ev || event_add(mb->ev, NULL) < 0) {
        cmx_mailbox_free(mb);
        return NULL;
    }
    return mb;
}

void cmx_mailbox_detach(cmx_mailbox *mb)
{
    if (mb && mb->ev) {
        event_free(mb->ev);
        mb->ev = NULL;
    }
}

void cmx_mailbox_free(cmx_mailbox *mb)
{
    if (!mb)
        return;
    cmx_mailbox_detach(mb);
    for (cmx_letter *l = take_all(mb), *next; l; l = next) {
        next = l->next;
        l->discard(l);
    }
    if (mb->fd >= 0)
        close(mb->fd);
    pthread_mutex_destroy(&mb->lock);
    free(mb);
}

void cmx_mailbox_post(cmx_mailbox *mb, cmx_letter *l)
{
    l->next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail)
        mb->tail->next = l;
    else
        mb->head = l;
    mb->tail = l;
    pthread_mutex_unlock(&mb->lock);
    uint64_t one = 1;
    ssize_t w = write(mb->fd, &one, sizeof one);
    (void)w;
}
