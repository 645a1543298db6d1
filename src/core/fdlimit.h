/* fdlimit.h — the process's open-file limit.
 *
 * Every client connection and every upstream connection is a descriptor, so
 * a gateway holding ten thousand streams needs far more than the usual soft
 * limit of 1024.  The hard limit is what the administrator allows; raising
 * the soft limit up to it needs no privilege. */
#ifndef CMX_CORE_FDLIMIT_H
#define CMX_CORE_FDLIMIT_H

#include <stdint.h>

#include "core/err.h"

/* Raises RLIMIT_NOFILE's soft limit to its hard limit.  `before` and `after`
 * (either may be NULL) receive the soft limit before and after the call. */
cmx_err cmx_fd_limit_raise(uint64_t *before, uint64_t *after, cmx_error *err);

#endif
