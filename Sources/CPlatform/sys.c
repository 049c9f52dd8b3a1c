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
