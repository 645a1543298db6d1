/* slab.h — many objects of one size, in slabs that go back to the system
 * when they empty.
 *
 * malloc keeps freed memory in its heap, and a heap page is returned only
 * when nothing on it is alive; small records allocated between other
 * long-lived allocations (libevent's per-descriptor entries, say) pin every
 * page they share.  A slab pool takes 64 KiB slabs straight from mmap, hands
 * out fixed-size objects from them and unmaps a slab as soon as its last
 * object is freed (one empty slab is kept to absorb churn).  So the memory
 * of ten thousand connection records returns when the connections close.
 *
 * Not thread-safe: one pool per owner (a worker's server). */
#ifndef CMX_CORE_SLAB_H
#define CMX_CORE_SLAB_H

#include <stddef.h>

struct cmx_slab;

typedef struct cmx_slab_pool {
    size_t obj_size;         /* rounded up to 16 */
    size_t per_slab;         /* objects per slab */
    struct cmx_slab *usable; /* slabs with a free object */
    struct cmx_slab *spare;  /* one empty slab kept, or NULL */
    size_t n_slabs;          /* mapped, the spare included */
} cmx_slab_pool;

/* obj_size must be at most a few KiB. */
void cmx_slab_pool_init(cmx_slab_pool *p, size_t obj_size);
/* A zeroed object, or NULL when out of memory. */
void *cmx_slab_alloc(cmx_slab_pool *p);
void cmx_slab_free(cmx_slab_pool *p, void *obj);
/* Unmaps every slab; objects still allocated are gone with them. */
void cmx_slab_pool_destroy(cmx_slab_pool *p);

#endif
