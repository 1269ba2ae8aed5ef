#include "declai/core/ThreadPriority.h"

#if defined(__linux__)
#include <cerrno>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace declai {

bool lowerCurrentThreadPriority(int increment) {
#if defined(__linux__)
    // On Linux the nice value belongs to the thread (the kernel task), addressed by its thread id.
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    errno = 0;
    const int current = ::getpriority(PRIO_PROCESS, tid);
    if (current == -1 && errno != 0)
        return false;
    const int target = current + (increment < 1 ? 1 : increment > 19 ? 19 : increment);
    return ::setpriority(PRIO_PROCESS, tid, target > 19 ? 19 : target) == 0;
#else
    (void)increment;
    return false;
#endif
}

} // namespace declai
