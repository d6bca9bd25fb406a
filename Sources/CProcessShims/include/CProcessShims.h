#ifndef C_PROCESS_SHIMS_H
#define C_PROCESS_SHIMS_H

#include <sys/prctl.h>

/// Makes this process not dumpable: its /proc files become root's, so a child running as the
/// same user (a process connector) can neither read its environment nor attach to it.
/// prctl is variadic, which Swift cannot call; this wrapper is why the target exists.
static inline int hub_set_not_dumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/// 1 while this process is dumpable, 0 once `hub_set_not_dumpable` has run.
static inline int hub_is_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

#endif
