#ifndef LSM_SYS_H
#define LSM_SYS_H

/// syncfs(2): flushes every dirty file of the file system holding `fd`. Returns 0 or -1
/// with errno set. (Glibc declares it only under _GNU_SOURCE, which Swift does not see.)
int lsm_syncfs(int fd);

/// Names the calling thread (the first 15 bytes), as `top -H` and `perf` show it.
void lsm_set_thread_name(const char *name);

/// Raises the calling thread's nice value by `increment` (lower CPU priority); Linux only.
/// Returns 0 or -1 with errno set.
int lsm_lower_thread_priority(int increment);

#endif
