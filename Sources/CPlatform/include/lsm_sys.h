#ifndef LSM_SYS_H
#define LSM_SYS_H

#include <stdint.h>

/// syncfs(2): flushes every dirty file of the file system holding `fd`. Returns 0 or -1
/// with errno set. (Glibc declares it only under _GNU_SOURCE, which Swift does not see.)
int lsm_syncfs(int fd);

/// Starts writing back a file's dirty pages in [offset, offset + nbytes) (nbytes 0: to the
/// end) without waiting: sync_file_range(SYNC_FILE_RANGE_WRITE) on Linux, nothing elsewhere.
/// A hint that makes a later fsync find less to write; it makes nothing durable.
int lsm_start_writeback(int fd, int64_t offset, int64_t nbytes);

/// Creates `path` (which must not exist) for writing with O_DIRECT, which bypasses the page
/// cache: writes then need 4096-byte aligned buffers, offsets and lengths. Returns the
/// descriptor, or -1 with errno set (EINVAL: the file system, or the platform, has no such
/// mode).
int lsm_create_direct(const char *path);

/// Turns O_DIRECT off on a descriptor from `lsm_create_direct`. Returns 0 or -1 with errno.
int lsm_clear_direct(int fd);

/// Names the calling thread (the first 15 bytes), as `top -H` and `perf` show it.
void lsm_set_thread_name(const char *name);

/// Raises the calling thread's nice value by `increment` (lower CPU priority); Linux only.
/// Returns 0 or -1 with errno set.
int lsm_lower_thread_priority(int increment);

/// Asks the CPU to start loading the cache line holding `p` (for reading, or with
/// `lsm_prefetch_write` for writing): a hint with no effect on results, valid for any
/// address. It lets the misses of random accesses a few steps ahead overlap.
static inline void lsm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void lsm_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

#endif
