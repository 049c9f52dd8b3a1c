import CPlatform

/// Calls `body` with `byteCount` bytes of uninitialized scratch memory, valid only during
/// the call: one of the calling thread's reusable buffers (`lsm_scratch_push`), or, when
/// none can serve (nested too deep, or larger than a megabyte), a temporary allocation.
///
/// For buffers on the read path too large for the stack (a table's block, about 4 KiB, and
/// its decompressed bytes): `withUnsafeTemporaryAllocation` puts those on the heap, and a
/// `malloc` and `free` per block read both take the allocator's lock, which a thread of
/// another subsystem (a checkpoint's upload, compaction, the job's source) may hold while it
/// waits for a core; a reader then sleeps.
@inline(__always)
func withScratchBuffer<R>(byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    let count = max(1, byteCount)
    if let p = lsm_scratch_push(count) {
        defer { lsm_scratch_pop() }
        return try body(UnsafeMutableRawBufferPointer(start: p, count: count))
    }
    return try withUnsafeTemporaryAllocation(byteCount: count, alignment: 16, body)
}
