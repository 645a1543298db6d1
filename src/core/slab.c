/* slab.c — fixed-size objects in 64 KiB mmap'd slabs; see slab.h.
 *
 * Slabs are aligned to their size, so an object's slab is its address with
 * the low bits cleared.  A slab hands out never-used objects by bumping an
 * index, and freed ones from its own free list. */
#include "core/slab.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_BYTES ((size_t)64 * 1024)

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer objects come from malloc, so a use after free or
 * a leak of one is reported. */
#include <stdlib.h>

void cmx_slab_pool_init(cmx_slab_pool *p, size_t obj_size)
{
    memset(p, 0, sizeof *p);
    p->obj_size = obj_size;
}

void *cmx_slab_alloc(cmx_slab_pool *p)
{
    return calloc(1, p->obj_size);
}

void cmx_slab_free(cmx_slab_pool *p, void *obj)
{
    free(obj);
}

void cmx_slab_pool_destroy(cmx_slab_pool *p)
{
}

#else

typedef struct cmx_slab {
    struct cmx_slab *next, *prev; /* in the pool's usable list */
    void *free;                   /* freed objects, linked through their first word */
    size_t used;                  /* objects handed out now */
    size_t fresh;                 /* objects never handed out start here */
    int listed;                   /* in the usable list */
} cmx_slab;

#define HEADER_BYTES ((sizeof(cmx_slab) + 15) & ~(size_t)15)

void cmx_slab_pool_init(cmx_slab_pool *p, size_t obj_size)
{
    memset(p, 0, sizeof *p);
    if (obj_size < sizeof(void *))
        obj_size = sizeof(void *);
    p->obj_size = (obj_size + 15) & ~(size_t)15;
    p->per_slab = (SLAB_BYTES - HEADER_BYTES) / p->obj_size;
}

/* SLAB_BYTES aligned to SLAB_BYTES: map twice the size, unmap the rest. */
static cmx_slab *slab_map(void)
{
    size_t span = 2 * SLAB_BYTES;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + SLAB_BYTES - 1) & ~(uintptr_t)(SLAB_BYTES - 1);
    size_t before = start - (uintptr_t)raw;
    if (before)
        munmap(raw, before);
    size_t after = span - before - SLAB_BYTES;
    if (after)
        munmap((char *)start + SLAB_BYTES, after);
    cmx_slab *s = (cmx_slab *)start; /* fresh anonymous pages are zero */
    return s;
}

static void list_add(cmx_slab_pool *p, cmx_slab *s)
{
    s->prev = NULL;
    s->next = p->usable;
    if (p->usable)
        p->usable->prev = s;
    p->usable = s;
    s->listed = 1;
}

static void list_remove(cmx_slab_pool *p, cmx_slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        p->usable = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = 0;
}

void *cmx_slab_alloc(cmx_slab_pool *p)
{
    cmx_slab *s = p->usable;
    if (!s) {
        if (p->spare) {
            s = p->spare;
            p->spare = NULL;
        } else {
            if (!(s = slab_map()))
                return NULL;
            p->n_slabs++;
        }
        list_add(p, s);
    }
    void *obj;
    if (s->free) {
        obj = s->free;
        s->free = *(void **)obj;
    } else {
        obj = (char *)s + HEADER_BYTES + s->fresh * p->obj_size;
        s->fresh++;
    }
    s->used++;
    if (!s->free && s->fresh == p->per_slab)
        list_remove(p, s); /* full */
    memset(obj, 0, p->obj_size);
    return obj;
}

void cmx_slab_free(cmx_slab_pool *p, void *obj)
{
    if (!obj)
        return;
    cmx_slab *s = (cmx_slab *)((uintptr_t)obj & ~(uintptr_t)(SLAB_BYTES - 1));
    *(void **)obj = s->free;
    s->free = obj;
    s->used--;
    if (!s->listed)
        list_add(p, s);
    if (s->used > 0)
        return;
    list_remove(p, s);
    if (!p->spare) {
        /* Kept, but as fresh pages: the system may take them back. */
        madvise((char *)s + 4096, SLAB_BYTES - 4096, MADV_DONTNEED);
        s->free = NULL;
        s->fresh = 0;
        p->spare = s;
        return;
    }
    munmap(s, SLAB_BYTES);
    p->n_slabs--;
}

void cmx_slab_pool_destroy(cmx_slab_pool *p)
{
    /* Full slabs are on no list: the owner frees every object first, so
     * only usable and spare slabs are left here. */
    while (p->usable) {
        cmx_slab *s = p->usable;
        list_remove(p, s);
        munmap(s, SLAB_BYTES);
    }
    if (p->spare)
        munmap(p->spare, SLAB_BYTES);
    p->spare = NULL;
    p->n_slabs = 0;
}

#endif
