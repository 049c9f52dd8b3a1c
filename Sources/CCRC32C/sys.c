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
