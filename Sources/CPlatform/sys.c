#define _GNU_SOURCE
#include <unistd.h>
#include "lsm_sys.h"

int lsm_syncfs(int fd) {
#if defined(__linux__)
    return syncfs(fd);
#else
    return fsync(fd);
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
