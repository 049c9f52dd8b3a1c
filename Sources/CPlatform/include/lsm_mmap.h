#ifndef LSM_MMAP_H
#define LSM_MMAP_H

#include <stddef.h>
#include <stdint.h>

/// Maps `size` bytes of the file open as `fd` read-only and shared (mmap(2)). Returns the
/// address, or NULL with errno set. The first call installs the SIGBUS handler that
/// `lsm_mapped_copy` relies on.
void *lsm_map_file(int fd, size_t size);

/// Unmaps what `lsm_map_file` mapped. Returns 0 or -1 with errno set.
int lsm_unmap_file(void *base, size_t size);

/// Copies `n` bytes from mapped memory at `src` to `dst`. Returns 0, or -1 when reading the
/// mapping raised SIGBUS (the file shrank under the mapping, or the device failed to read a
/// page): the fault is turned into an error instead of ending the process. A SIGBUS raised
/// anywhere else goes to the handler installed before this one, or ends the process as it
/// would have without it.
int lsm_mapped_copy(void *dst, const void *src, size_t n);

#endif
