#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include "lsm_mmap.h"

// Where a SIGBUS raised by a guarded copy on this thread returns to; NULL outside one.
static __thread sigjmp_buf *guarded_copy_return;
static struct sigaction previous_bus_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    sigjmp_buf *back = guarded_copy_return;
    if (back != NULL) {
        guarded_copy_return = NULL;
        siglongjmp(*back, 1);
    }
    // Not a guarded copy: what would have happened without this handler.
    if (previous_bus_action.sa_flags & SA_SIGINFO) {
        if (previous_bus_action.sa_sigaction != NULL) {
            previous_bus_action.sa_sigaction(sig, info, context);
            return;
        }
    } else if (previous_bus_action.sa_handler != SIG_DFL && previous_bus_action.sa_handler != SIG_IGN) {
        previous_bus_action.sa_handler(sig);
        return;
    }
    // Default action: restore it; returning re-runs the faulting access, which then ends
    // the process with SIGBUS.
    signal(SIGBUS, SIG_DFL);
}

static void install_sigbus_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    // SA_NODEFER: SIGBUS is not blocked while the handler runs, so leaving it by
    // siglongjmp without restoring the signal mask (a system call) leaves it unblocked.
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_bus_action);
}

void *lsm_map_file(int fd, size_t size) {
    pthread_once(&install_once, install_sigbus_handler);
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

int lsm_unmap_file(void *base, size_t size) { return munmap(base, size); }

int lsm_mapped_copy(void *dst, const void *src, size_t n) {
    sigjmp_buf back;
    // 0: do not save the signal mask (saving it is a system call per copy).
    if (sigsetjmp(back, 0) != 0) {
        return -1;
    }
    guarded_copy_return = &back;
    // The handler must see the pointer set before the copy, and the copy finished before it
    // is cleared.
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(dst, src, n);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guarded_copy_return = NULL;
    return 0;
}
