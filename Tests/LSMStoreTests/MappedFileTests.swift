import Foundation
import Testing

@testable import LSMStore

/// Tables read through memory mappings (`FileSystem.openMapped`, `Options.memoryMappedReads`):
/// the same bytes as `pread` at random positions, reads past the mapped length, a mapping
/// whose file was truncated under it reported as an I/O error (not a crash), the budget of
/// mapped files, and a store reading the same with mappings on and off. Prints its seed
/// (`LSM_SEED` replays one).
@Suite struct MappedFileTests {
    /// Random reads of a mapped file return what `pread` returns, at every offset and
    /// length, including reads that run past its end.
    @Test func readsMatchPread() throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.sub("file")
        let size = 10_000 + Int(rng.next() % 50_000)
        let content = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        try overwriteFile(path, content)
        let fs = PosixFileSystem()
        let mapped = try fs.openMapped(path)
        let plain = try fs.openRandomAccess(path)
        #expect(mapped is PosixMappedFile, "a small file under the budget is mapped")
        #expect(try mapped.size() == UInt64(size))
        for step in 0..<2_000 {
            let offset = Int(rng.next() % UInt64(size + 100))
            let count = Int(rng.next() % 5_000)
            var a = [UInt8](repeating: 0, count: count)
            var b = [UInt8](repeating: 0xAA, count: count)
            let na = try a.withUnsafeMutableBytes { try mapped.read(at: UInt64(offset), into: $0) }
            let nb = try b.withUnsafeMutableBytes { try plain.read(at: UInt64(offset), into: $0) }
            #expect(na == nb, "seed \(seed), step \(step): offset \(offset), count \(count)")
            #expect(a[..<na] == b[..<nb], "seed \(seed), step \(step): offset \(offset), count \(count)")
        }
    }

    /// Bytes appended after the file was mapped are read with `pread`, alone or after the
    /// mapped part.
    @Test func readsPastTheMappingFallBackToPread() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.sub("file")
        try overwriteFile(path, [UInt8](repeating: 1, count: 4096))
        let mapped = try PosixFileSystem().openMapped(path)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([UInt8](repeating: 2, count: 100)))
        try handle.close()
        var buffer = [UInt8](repeating: 0, count: 200)
        let n = try buffer.withUnsafeMutableBytes { try mapped.read(at: 4000, into: $0) }
        #expect(n == 196)
        #expect(buffer[..<96] == ArraySlice(repeating: 1, count: 96))
        #expect(buffer[96..<196] == ArraySlice(repeating: 2, count: 100))
        let tail = try buffer.withUnsafeMutableBytes { try mapped.read(at: 4096, into: $0) }
        #expect(tail == 100)
    }

    /// A file truncated under its mapping: reading a page that no longer exists raises
    /// SIGBUS, which the read reports as `LSMError.io` naming the file and offset; the
    /// process goes on, and reads of pages still in the file still work.
    @Test func truncatedUnderTheMappingIsAnIOError() throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.sub("table.sst")
        let pages = 8
        try overwriteFile(path, [UInt8](repeating: 7, count: pages * 4096))
        let mapped = try PosixFileSystem().openMapped(path)
        #expect(mapped is PosixMappedFile)
        #expect(truncate(path, 4096) == 0)
        for _ in 0..<20 {
            let offset = UInt64(4096 + Int(rng.next() % UInt64((pages - 1) * 4096 - 64)))
            var buffer = [UInt8](repeating: 0, count: 64)
            do {
                _ = try buffer.withUnsafeMutableBytes { try mapped.read(at: offset, into: $0) }
                Issue.record("seed \(seed): a read at \(offset) past the truncation succeeded")
            } catch LSMError.io(let p, let operation, let code) {
                #expect(p == path)
                #expect(operation.contains("\(offset)"), "seed \(seed): \(operation)")
                #expect(code == EIO)
            }
        }
        var first = [UInt8](repeating: 0, count: 100)
        _ = try first.withUnsafeMutableBytes { try mapped.read(at: 0, into: $0) }
        #expect(first == [UInt8](repeating: 7, count: 100))
    }

    /// Each mapped file holds a place in the budget until it is released.
    @Test func mappedFilesHoldAPlaceInTheBudget() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.sub("file")
        try overwriteFile(path, [UInt8](repeating: 3, count: 100))
        let fs = PosixFileSystem()
        // Other tests map files concurrently: the count is checked from this test's side only
        // (at least one more while held).
        var held: [any RandomAccessFile] = []
        for _ in 0..<5 { held.append(try fs.openMapped(path)) }
        #expect(held.allSatisfy { $0 is PosixMappedFile })
        #expect(MappedFileBudget.mappedFiles >= 5)
        #expect(MappedFileBudget.mappedFiles <= MappedFileBudget.limit)
        held.removeAll()
        // An empty file is never mapped.
        try overwriteFile(path, [])
        #expect(!(try fs.openMapped(path) is PosixMappedFile))
    }

    /// The same random operations on a store reading through mappings and one reading with
    /// `pread` leave the same contents, read back by gets and scans.
    @Test func storeReadsTheSameWithAndWithoutMappings() throws {
        let seed = testSeed()
        var results: [[(key: [UInt8], value: [UInt8])]] = []
        var gets: [[[UInt8]?]] = []
        for mappedReads in [true, false] {
            var rng = SeededRandom(seed: seed)
            let dir = TempDir()
            defer { dir.cleanup() }
            var o = smallOptions()
            o.memoryMappedReads = mappedReads
            let store = try LSMStore.open(at: dir.path, options: o)
            for i in 0..<5_000 {
                let k = bytes("key\(rng.next() % 2_000)")
                if rng.next() % 8 == 0 {
                    try store.delete(k)
                } else {
                    try store.put(k, bytes("value\(i)-\(rng.next() % 1_000_000)"))
                }
            }
            try store.flush()
            var got: [[UInt8]?] = []
            for i in 0..<2_000 { got.append(try store.get(bytes("key\(i)"))) }
            gets.append(got)
            results.append(try allEntries(store))
            try store.close()
        }
        #expect(gets[0] == gets[1], "seed \(seed)")
        #expect(results[0].map { $0.key } == results[1].map { $0.key }, "seed \(seed)")
        #expect(results[0].map { $0.value } == results[1].map { $0.value }, "seed \(seed)")
    }

    /// A table read through its mapping answers every lookup as a table read with `pread`
    /// does, with and without a block cache. Then bytes flipped at random positions of
    /// random data blocks, under the mapping: each lookup answers as the `pread` reader's
    /// does, and one in a damaged block throws corruption naming the file and the block.
    /// Then the file truncated at a random page boundary under the mapping: lookups in
    /// blocks past it throw `LSMError.io` naming the file, the others still answer.
    @Test(arguments: [Compression.lz4, .none])
    func tableLookupsThroughTheMapping(compression: Compression) throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let (entries, path) = try SSTableTests.buildSample(dir, count: 3000, compression: compression)
        let fs = PosixFileSystem()
        var number: UInt64 = 0
        func open(mapped: Bool, cache: BlockCache? = nil) throws -> SSTableReader {
            number += 1
            return try SSTableReader.open(fileSystem: fs, path: path, fileNumber: number, cache: cache, mapped: mapped)
        }
        func outcome(_ r: SSTableReader, _ userKey: [UInt8]) -> String {
            do {
                let hit = try r.get(InternalKey.lookup(userKey, maxSequenceNumber), userKey: userKey)
                return hit.map { "\(String(describing: $0.kind)) \($0.value)" } ?? "absent"
            } catch LSMError.corruption(let file, let offset, _) {
                return "corruption of \(file) at \(offset)"
            } catch {
                return "\(error)"
            }
        }
        let mapped = try open(mapped: true)
        #expect(mapped.file is PosixMappedFile)
        let cached = try open(mapped: true, cache: BlockCache(capacity: 1 << 20))
        let plain = try open(mapped: false)
        for (k, v) in entries {
            let uk = InternalKey.userKey(k)
            let hit = try mapped.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk)
            #expect(hit?.kind == InternalKey.kind(k) && hit?.value == v, "seed \(seed)")
            let got = outcome(mapped, uk)
            #expect(got == outcome(plain, uk), "seed \(seed)")
            #expect(got == outcome(cached, uk), "seed \(seed)")
        }
        let handles = mapped.indexHandles
        let update = try #require(FileHandle(forUpdatingAtPath: path))
        for round in 0..<4 {
            let block = Int(rng.next() % UInt64(handles.count))
            let h = handles[block]
            let at = h.offset + rng.next() % (h.size + UInt64(blockTrailerSize))
            try update.seek(toOffset: at)
            let old = try #require(try update.read(upToCount: 1)?.first)
            try update.seek(toOffset: at)
            try update.write(contentsOf: Data([old ^ UInt8(1 + rng.next() % 255)]))
            let damaged = try open(mapped: true)
            let reference = try open(mapped: false)
            for i in 0..<handles.count {
                let uk = InternalKey.userKey(mapped.indexKeys[i])
                #expect(
                    outcome(damaged, uk) == outcome(reference, uk), "seed \(seed), round \(round), block \(i)")
            }
            let uk = InternalKey.userKey(mapped.indexKeys[block])
            #expect(
                outcome(damaged, uk) == "corruption of \(path) at \(h.offset)",
                "seed \(seed), round \(round): byte \(at) of the block at \(h.offset)")
            try update.seek(toOffset: at)
            try update.write(contentsOf: Data([old]))
        }
        try update.close()
        let size = try #require(handles.last).offset
        let cut = 4096 * (1 + rng.next() % max(1, size / 4096 - 1))
        #expect(truncate(path, off_t(cut)) == 0)
        for i in 0..<handles.count {
            let uk = InternalKey.userKey(mapped.indexKeys[i])
            let end = handles[i].offset + handles[i].size + UInt64(blockTrailerSize)
            do {
                _ = try mapped.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk)
                #expect(end <= cut, "seed \(seed): block \(i) past \(cut)")
            } catch LSMError.io(let p, _, let code) {
                #expect(p == path && code == EIO)
                #expect(end > cut, "seed \(seed): block \(i) before \(cut)")
            }
        }
    }
}
