#ifndef LSM_SCRATCH_H
#define LSM_SCRATCH_H

#include <stddef.h>

/// Per-thread scratch memory for short-lived buffers (a block read from a table and its
/// decompressed bytes): each thread keeps a few buffers, reused in a stack discipline, so a
/// read that needs a buffer larger than fits on the stack allocates nothing and takes no
/// allocator lock that another thread may hold.
///
/// `lsm_scratch_push` returns a buffer of at least `size` bytes, 16-byte aligned, valid
/// until the matching `lsm_scratch_pop` on the same thread; pushes nest (at most
/// `LSM_SCRATCH_DEPTH` deep). It returns NULL (and the caller allocates as it would
/// otherwise) when the buffers are all in use, when `size` exceeds `LSM_SCRATCH_MAX`, or
/// when memory for a larger buffer cannot be had; a NULL push must not be popped. A thread's
/// buffers are freed when it exits.
#define LSM_SCRATCH_DEPTH 8
#define LSM_SCRATCH_MAX ((size_t)1 << 20)
void *lsm_scratch_push(size_t size);

/// Releases the buffer of the latest successful `lsm_scratch_push` of this thread.
void lsm_scratch_pop(void);

#endif
