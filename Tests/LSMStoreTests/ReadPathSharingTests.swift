import CPlatform
import Testing

@testable import LSMStore

/// What the read path shares with other threads: a block read's buffers come from the
/// reading thread's scratch memory (reused, not allocated per read), and compaction's bulk
/// reads leave the block cache, and its lock, alone.
@Suite struct ReadPathSharingTests {
    /// Pushes reuse the thread's buffers: the same address for the same depth, distinct
    /// ones for nested pushes, none beyond the depth limit or the size limit.
    @Test func scratchBuffersAreReusedPerDepth() {
        guard let a = lsm_scratch_push(5_000) else {
            Issue.record("first push failed")
            return
        }
        lsm_scratch_pop()
        let again = lsm_scratch_push(4_000)
        #expect(again == a, "a second read at the same depth reuses the buffer")
        let nested = lsm_scratch_push(4_000)
        #expect(nested != nil && nested != again, "a nested push gets a buffer of its own")
        if nested != nil { lsm_scratch_pop() }
        if again != nil { lsm_scratch_pop() }
        // Growing a depth's buffer keeps serving it from then on.
        let big = lsm_scratch_push(100_000)
        #expect(big != nil)
        if let big {
            big.storeBytes(of: 0xAB, toByteOffset: 99_999, as: UInt8.self)
            lsm_scratch_pop()
        }
        #expect(lsm_scratch_push(Int(LSM_SCRATCH_MAX) + 1) == nil, "larger than the limit: the caller allocates")
        var pushed = 0
        while pushed < 64, lsm_scratch_push(64) != nil { pushed += 1 }
        #expect(pushed == Int(LSM_SCRATCH_DEPTH), "at most the depth limit at once")
        for _ in 0..<pushed { lsm_scratch_pop() }
        // The helper hands over exactly the bytes asked for, from scratch memory or not.
        withScratchBuffer(byteCount: 3_000) { #expect($0.count == 3_000) }
        withScratchBuffer(byteCount: Int(LSM_SCRATCH_MAX) + 10) { #expect($0.count == Int(LSM_SCRATCH_MAX) + 10) }
    }

    /// A full compaction reads every block of its inputs without a single lookup in the
    /// block cache, while point reads do look up (and count) as before.
    @Test func compactionLeavesTheBlockCacheAlone() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var options = smallOptions()
        options.blockCacheSize = 1 << 20
        let store = try LSMStore.open(at: dir.sub("db"), options: options)
        defer { try? store.close() }
        for i in 0..<4_000 {
            try store.put(
                bytes(String(format: "key%06d", (i * 7919) % 4_000)), [UInt8](repeating: UInt8(i & 0xff), count: 100))
        }
        try store.flush()
        let before = store.stats
        try store.compact()
        let after = store.stats
        #expect(
            after.blockCacheHits + after.blockCacheMisses == before.blockCacheHits + before.blockCacheMisses,
            "compaction looked up the block cache")
        for i in stride(from: 0, to: 4_000, by: 97) { _ = try store.get(bytes(String(format: "key%06d", i))) }
        let read = store.stats
        #expect(read.blockCacheHits + read.blockCacheMisses > after.blockCacheHits + after.blockCacheMisses)
    }
}
