/* arena.c — bump allocator in a chain of blocks; see arena.h.
 *
 * The first block starts small, so that an arena held for a long time (a
 * streamed answer lasts minutes, and ten thousand may be open) costs what
 * its request needed.  When a use spilled into more blocks, the reset gives
 * the arena a first block that would have held it all (up to
 * CMX_ARENA_FIRST_MAX), so an arena reused for similar requests allocates
 * nothing in the steady state. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define CMX_ARENA_FIRST_MAX (32 * 1024)

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *arg);
    void *arg;
} cleanup;

struct cmx_arena {
    cleanup *cleanups; /* run at reset and free, newest first */
    block *head;       /* current block: allocations come from here */
    block *first;      /* kept across resets */
    size_t block_size;
    size_t total_used;
};

static block *block_new(size_t size)
{
    block *b = malloc(sizeof(block) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

cmx_arena *cmx_arena_new(size_t first_block_size)
{
    cmx_arena *a = malloc(sizeof *a);
    if (!a)
        return NULL;
    if (first_block_size < 256)
        first_block_size = 256;
    a->first = block_new(first_block_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->head = a->first;
    a->block_size = first_block_size;
    a->total_used = 0;
    a->cleanups = NULL;
    return a;
}

static void run_cleanups(cmx_arena *a)
{
    while (a->cleanups) {
        cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
}

int cmx_arena_on_release(cmx_arena *a, void (*fn)(void *arg), void *arg)
{
    cleanup *c = cmx_arena_alloc(a, sizeof *c);
    if (!c)
        return -1;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

static void free_chain_except_first(cmx_arena *a)
{
    block *b = a->head;
    while (b && b != a->first) {
        block *next = b->next;
        free(b);
        b = next;
    }
}

void cmx_arena_free(cmx_arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
    free_chain_except_first(a);
    free(a->first);
    free(a);
}

/* Bytes the blocks in use hold, alignment included. */
static size_t bytes_in_use(const cmx_arena *a)
{
    size_t n = 0;
    for (const block *b = a->head; b; b = b->next)
        n += b->used;
    return n;
}

void cmx_arena_reset(cmx_arena *a)
{
    run_cleanups(a);
    if (a->head != a->first) {
        size_t want = bytes_in_use(a);
        if (want > CMX_ARENA_FIRST_MAX)
            want = CMX_ARENA_FIRST_MAX;
        free_chain_except_first(a);
        block *bigger = want > a->first->size ? block_new(want) : NULL;
        if (bigger) {
            free(a->first);
            a->first = bigger;
        }
    }
    a->head = a->first;
    a->first->used = 0;
    a->first->next = NULL;
    a->total_used = 0;
}

size_t cmx_arena_first_size(const cmx_arena *a)
{
    return a->first->size;
}

void *cmx_arena_alloc(cmx_arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size)
        return NULL; /* overflow */
    block *b = a->head;
    if (b->size - b->used < need) {
        size_t bsize = need > a->block_size ? need : a->block_size;
        block *nb = block_new(bsize);
        if (!nb)
            return NULL;
        nb->next = a->head;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total_used += size;
    return p;
}

void *cmx_arena_calloc(cmx_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = cmx_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *cmx_arena_strndup(cmx_arena *a, const char *s, size_t n)
{
    char *p = cmx_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cmx_arena_strdup(cmx_arena *a, const char *s)
{
    return cmx_arena_strndup(a, s, strlen(s));
}

char *cmx_arena_sprintf(cmx_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = cmx_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t cmx_arena_used(const cmx_arena *a)
{
    return a->total_used;
}
