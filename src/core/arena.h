/* arena.h — per-request memory pool.
 *
 * Everything allocated for one request comes from its arena and is released
 * at once when the request completes (the nginx pool idea).  Allocation is a
 * pointer bump inside a block; large requests get their own block.  There is
 * no per-object free.  An arena can be reset and reused, keeping its first
 * block (grown to what the last use needed), so a keep-alive connection
 * allocates nothing in the steady state. */
#ifndef CMX_CORE_ARENA_H
#define CMX_CORE_ARENA_H

#include <stddef.h>

typedef struct cmx_arena cmx_arena;

cmx_arena *cmx_arena_new(size_t first_block_size);
void cmx_arena_free(cmx_arena *a);
/* Releases everything but the first block, which grows (up to 32 KB) to
 * hold what the arena last held when that spilled beyond it. */
void cmx_arena_reset(cmx_arena *a);
/* Usable bytes of the first block (for tests). */
size_t cmx_arena_first_size(const cmx_arena *a);

/* 16-byte aligned; NULL only when the system is out of memory. */
void *cmx_arena_alloc(cmx_arena *a, size_t size);
void *cmx_arena_calloc(cmx_arena *a, size_t n, size_t size);
char *cmx_arena_strndup(cmx_arena *a, const char *s, size_t n);
char *cmx_arena_strdup(cmx_arena *a, const char *s);
char *cmx_arena_sprintf(cmx_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(arg) when the arena is next reset or freed (last registered runs
 * first): for what a request holds outside its arena, such as a reference
 * to the config snapshot it started on.  Returns 0, or -1 out of memory. */
int cmx_arena_on_release(cmx_arena *a, void (*fn)(void *arg), void *arg);
/* Bytes handed out since creation or the last reset (for tests and stats). */
size_t cmx_arena_used(const cmx_arena *a);

#endif
