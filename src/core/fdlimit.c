/* fdlimit.c — raising the open-file limit; see fdlimit.h. */
#include "core/fdlimit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

cmx_err cmx_fd_limit_raise(uint64_t *before, uint64_t *after, cmx_error *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return cmx_error_set(err, CMX_ERR_IO, "cannot read the open-file limit: %s",
                             strerror(errno));
    if (before)
        *before = (uint64_t)rl.rlim_cur;
    if (after)
        *after = (uint64_t)rl.rlim_cur;
    if (rl.rlim_cur == rl.rlim_max)
        return CMX_OK;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return cmx_error_set(err, CMX_ERR_IO, "cannot raise the open-file limit to %llu: %s",
                             (unsigned long long)rl.rlim_max, strerror(errno));
    if (after)
        *after = (uint64_t)rl.rlim_cur;
    return CMX_OK;
}
