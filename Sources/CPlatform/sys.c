#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "lsm_sys.h"

int lsm_syncfs(int fd) {
#if defined(__linux__)
    return syncfs(fd);
#else
    return fsync(fd);
#endif
}

/// Starts writeback of the file's dirty pages in [offset, offset + nbytes) without waiting
/// for it (nbytes 0: to the end). Linux: sync_file_range(SYNC_FILE_RANGE_WRITE); elsewhere
/// it does nothing (it is only a hint).
int lsm_start_writeback(int fd, int64_t offset, int64_t nbytes) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)nbytes, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)nbytes;
    return 0;
#endif
}

#include <pthread.h>

void lsm_set_thread_name(const char *name) {
#if defined(__linux__)
    char buf[16];
    int i = 0;
    for (; i < 15 && name[i]; i++) buf[i] = name[i];
    buf[i] = 0;
    pthread_setname_np(pthread_self(), buf);
#else
    (void)name;
#endif
}

int lsm_lower_thread_priority(int increment) {
#if defined(__linux__)
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int current = getpriority(PRIO_PROCESS, (id_t)tid);
    if (current == -1 && errno != 0) return -1;
    return setpriority(PRIO_PROCESS, (id_t)tid, current + increment);
#else
    (void)increment;
    return 0;
#endif
}

/// Opens `path` as a new file (O_CREAT|O_EXCL|O_WRONLY) for writes that bypass the page
/// cache (Linux: O_DIRECT). Returns the descriptor, or -1 with errno set; EINVAL means the
/// file system does not support it (the caller opens it the usual way).
int lsm_create_direct(const char *path) {
#if defined(__linux__) && defined(O_DIRECT)
    return open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_DIRECT, 0644);
#else
    (void)path;
    errno = EINVAL;
    return -1;
#endif
}

/// Turns O_DIRECT off on `fd` (a direct write the device refused for its alignment goes
/// through the page cache instead). Returns 0 or -1 with errno set.
int lsm_clear_direct(int fd) {
#if defined(__linux__) && defined(O_DIRECT)
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags & ~O_DIRECT);
#else
    (void)fd;
    return 0;
#endif
}
