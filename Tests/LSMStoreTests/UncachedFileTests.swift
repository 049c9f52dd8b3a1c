import Foundation
import Testing

@testable import LSMStore

/// Files written around the page cache (`FileSystem.createUncached`, `O_DIRECT` on Linux):
/// random appends (aligned and unaligned, small and larger than the staging buffer) with
/// syncs between them leave exactly the bytes appended, at the right size, after each sync
/// and after close; a checkpoint's copies made that way restore to the same state. Prints
/// its seed (`LSM_SEED` replays one).
@Suite struct UncachedFileTests {
    /// Appends of random lengths from random addresses, with syncs and reads of the file in
    /// between, against a model of the bytes appended.
    @Test func randomAppendsAndSyncsMatchAModel() throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let fs = PosixFileSystem()
        // One aligned source of random bytes; appends take slices at aligned or odd offsets.
        let sourceCount = 3 << 20
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: sourceCount, alignment: 4096)
        defer { source.deallocate() }
        for i in 0..<sourceCount { source[i] = UInt8(truncatingIfNeeded: rng.next()) }
        for round in 0..<4 {
            let path = dir.sub("file-\(round)")
            let file = try fs.createUncached(path)
            if round == 0 {
                // Where the file system takes O_DIRECT (ext4, xfs), the direct writer is used.
                print("uncached file: \(file is UncachedWritableFile ? "O_DIRECT" : "page cache (O_DIRECT refused)")")
            }
            var model: [UInt8] = []
            for step in 0..<60 {
                let aligned = rng.next() % 2 == 0
                let offset = aligned ? Int(rng.next() % 64) * 4096 : Int(rng.next() % 4096)
                let lengths = [0, 1, 100, 4095, 4096, 4097, 65_536, 1 << 20, (1 << 20) + 1, 2 << 20]
                var count =
                    rng.next() % 3 == 0 ? lengths[Int(rng.next() % UInt64(lengths.count))] : Int(rng.next() % 300_000)
                count = min(count, sourceCount - offset)
                let slice = UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)])
                try file.append(slice)
                model.append(contentsOf: slice)
                #expect(file.size == UInt64(model.count), "seed \(seed), round \(round), step \(step)")
                if rng.next() % 6 == 0 {
                    try file.sync()
                    let onDisk = try fs.readFile(path)
                    #expect(onDisk.count == model.count, "seed \(seed), round \(round), step \(step): size after sync")
                    #expect(
                        firstDifference(onDisk, model) == nil,
                        "seed \(seed), round \(round), step \(step): bytes after sync")
                }
            }
            try file.close()
            let onDisk = try fs.readFile(path)
            #expect(onDisk.count == model.count, "seed \(seed), round \(round): size after close")
            #expect(firstDifference(onDisk, model) == nil, "seed \(seed), round \(round): bytes after close")
        }
    }

    /// The first offset where `a` and `b` differ (one being shorter counts), or nil.
    private func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
        for i in 0..<min(a.count, b.count) where a[i] != b[i] { return i }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    /// A file closed without any append is empty; one closed after a short append holds
    /// just those bytes (the padded block is cut back).
    @Test func emptyAndShortFiles() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let fs = PosixFileSystem()
        let empty = try fs.createUncached(dir.sub("empty"))
        try empty.close()
        #expect(try fs.readFile(dir.sub("empty")).isEmpty)
        let short = try fs.createUncached(dir.sub("short"))
        try short.append([1, 2, 3])
        try short.close()
        #expect(try fs.readFile(dir.sub("short")) == [1, 2, 3])
        #expect(try fs.stat(dir.sub("short"))?.size == 3)
    }

    /// Full checkpoints into a folder on the POSIX file system copy every table with the
    /// uncached writer; each restores to the store's contents at its time.
    @Test func fullCheckpointCopiesRestore() throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        var options = smallOptions()
        options.fileSystem = PosixFileSystem()
        let store = try LSMStore.open(at: dir.sub("db"), options: options)
        let storage = try LocalCheckpointStorage(root: dir.sub("checkpoints"))
        let checkpointer = try Checkpointer(store: store, storage: storage, retained: 3)
        var model: [[UInt8]: [UInt8]] = [:]
        var expected: [UInt64: [[UInt8]: [UInt8]]] = [:]
        for round in 0..<3 {
            for _ in 0..<3_000 {
                let key = bytes(String(format: "key%06d", Int(rng.next() % 5_000)))
                let value = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                try store.put(key, value)
                model[key] = value
            }
            let report = try checkpointer.checkpoint(mode: .full)
            #expect(report.filesNew > 0, "seed \(seed), round \(round)")
            expected[report.id] = model
        }
        try store.close()
        for (id, state) in expected {
            let target = dir.sub("restored-\(id)")
            let restored = try LSMStore.restore(from: storage, checkpoint: id, to: target, options: options)
            let entries = try allEntries(restored)
            #expect(entries.count == state.count, "seed \(seed), checkpoint \(id)")
            for (k, v) in entries { #expect(state[k] == v, "seed \(seed), checkpoint \(id), key \(hex(k))") }
            try restored.close()
        }
    }
}
