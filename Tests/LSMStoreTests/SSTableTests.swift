import Foundation
import LSMStoreTesting
import Testing
@testable import LSMStore

@Suite struct SSTableTests {
    static func build(
        _ dir: TempDir, entries: [([UInt8], [UInt8])], options: TableOptions = TableOptions()
    ) throws -> String {
        let path = dir.sub("000001.sst")
        let fs = PosixFileSystem()
        let w = SSTableWriter(file: try fs.create(path), options: options)
        for (k, v) in entries { try w.add(k, v) }
        _ = try w.finish()
        return path
    }

    /// `sampleEntries(count)` written as a table of 256-byte blocks with `compression`.
    static func buildSample(
        _ dir: TempDir, count: Int, compression: Compression
    ) throws -> (entries: [([UInt8], [UInt8])], path: String) {
        var o = TableOptions()
        o.compression = compression
        o.blockSize = 256
        let entries = sampleEntries(count)
        return (entries, try build(dir, entries: entries, options: o))
    }

    static func sampleEntries(_ n: Int) -> [([UInt8], [UInt8])] {
        var out: [([UInt8], [UInt8])] = []
        for i in 0..<n {
            let deleted = i % 7 == 0
            let key = InternalKey.make(bytes(String(format: "key%06d", i)), UInt64(i + 1), deleted ? .deletion : .value)
            let value: [UInt8] = deleted ? [] : bytes("value-\(i)-" + String(repeating: "x", count: i % 50))
            out.append((key, value))
        }
        return out
    }

    @Test(arguments: [Compression.lz4, .none], [0, 10])
    func writeThenRead(compression: Compression, bloom: Int) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = TableOptions()
        o.compression = compression
        o.bloomBitsPerKey = bloom
        o.blockSize = 256
        let entries = Self.sampleEntries(2000)
        let path = try Self.build(dir, entries: entries, options: o)
        let r = try SSTableReader.open(fileSystem: PosixFileSystem(), path: path, fileNumber: 1, cache: nil)
        #expect(r.properties.entryCount == 2000)
        #expect(r.properties.deletionCount == UInt64((0..<2000).filter { $0 % 7 == 0 }.count))
        #expect(r.properties.smallestKey == entries.first!.0)
        #expect(r.properties.largestKey == entries.last!.0)
        #expect(r.indexKeys.count > 10)
        if compression == .lz4 { #expect(r.properties.compressedBlockCount > 0) }
        // Point lookups: every key is found, at its own sequence and above.
        for (i, (k, v)) in entries.enumerated() {
            let uk = InternalKey.userKey(k)
            let hit = try r.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk)
            #expect(hit?.kind == InternalKey.kind(k), "key \(i)")
            #expect(hit?.value == v)
            // Below its sequence the entry is invisible.
            let below = try r.get(InternalKey.lookup(uk, UInt64(i)), userKey: uk)
            #expect(below == nil)
        }
        // Misses.
        for i in 0..<200 {
            let uk = bytes("nokey\(i)")
            #expect(try r.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk) == nil)
        }
        // Full iteration and seeks.
        let it = r.makeIterator()
        try it.seekToFirst()
        var n = 0
        while it.isValid {
            #expect(it.key == entries[n].0)
            n += 1
            try it.next()
        }
        #expect(n == entries.count)
        try it.seek(InternalKey.lookup(bytes("key001000"), maxSequenceNumber))
        #expect(it.isValid && it.key == entries[1000].0)
        #expect(try r.verify() == 2000)
    }
}

extension SSTableTests {
    /// Point lookups through a full block cache that declines most blocks: a declined block
    /// is decoded into a temporary buffer (or, stored raw, searched where it was read) and
    /// must answer exactly as a cached one; then a byte flipped at a random position of a
    /// random data block makes a lookup in it throw corruption naming the file, never a
    /// wrong answer. Seeded (`LSM_SEED` replays one).
    @Test(arguments: [Compression.lz4, .none])
    func lookupsThroughDeclinedBlocks(compression: Compression) throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let (entries, path) = try Self.buildSample(dir, count: 3000, compression: compression)
        let cache = BlockCache(capacity: 2048)
        let r = try SSTableReader.open(fileSystem: PosixFileSystem(), path: path, fileNumber: 1, cache: cache)
        for _ in 0..<2 {
            for i in (0..<entries.count).shuffled(using: &rng) {
                let (k, v) = entries[i]
                let uk = InternalKey.userKey(k)
                let hit = try r.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk)
                #expect(hit?.kind == InternalKey.kind(k), "seed \(seed), key \(i)")
                #expect(hit?.value == v, "seed \(seed), key \(i)")
            }
        }
        #expect(cache.declined > 100, "the lookups went through declined blocks")
        // Damage: one byte of one data block.
        var file = try PosixFileSystem().readFile(path)
        let block = Int(rng.next() % UInt64(r.indexHandles.count))
        let h = r.indexHandles[block]
        let at = Int(h.offset) + Int(rng.next() % (h.size + UInt64(blockTrailerSize)))
        file[at] ^= UInt8(1 + rng.next() % 255)
        try overwriteFile(path, file)
        let damaged = try SSTableReader.open(
            fileSystem: PosixFileSystem(), path: path, fileNumber: 2, cache: BlockCache(capacity: 0))
        let uk = InternalKey.userKey(r.indexKeys[block])
        do {
            let hit = try damaged.get(InternalKey.lookup(uk, maxSequenceNumber), userKey: uk)
            Issue.record(
                "seed \(seed): a lookup in the damaged block at \(h.offset) answered \(String(describing: hit))")
        } catch LSMError.corruption(let file, let offset, _) {
            #expect(file == path)
            #expect(offset == h.offset)
        }
    }

    /// Point lookups where the index's 16-byte key prefixes tie and where one user key is a
    /// prefix of another: random keys of 0 to 40 bytes over a three-letter alphabet (so many
    /// share their first 16 bytes and differ after them, or only in length), in tables of
    /// 64-byte blocks (an index entry every entry or two). Every key written is found with
    /// its value, and keys not written are absent, as a dictionary says. Seeded (`LSM_SEED`
    /// replays one).
    @Test func lookupsWithTiedAndNestedKeyPrefixes() throws {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        func randomKey() -> [UInt8] {
            let shape = rng.next() % 3
            let n = shape == 0 ? Int(rng.next() % 16) : 14 + Int(rng.next() % 27)
            // Long runs of one letter make many keys share their first 16 bytes.
            let common = UInt8(truncatingIfNeeded: rng.next() % 3)
            return (0..<n).map { i in i < 12 && shape == 2 ? common : UInt8(truncatingIfNeeded: rng.next() % 3) }
        }
        var model: [[UInt8]: [UInt8]] = [:]
        for _ in 0..<1500 { model[randomKey()] = rng.bytes(Int(rng.next() % 20)) }
        let keys = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let entries = keys.enumerated().map { i, k in (InternalKey.make(k, UInt64(i + 1), .value), model[k]!) }
        var o = TableOptions()
        o.blockSize = 64
        o.compression = rng.next() % 2 == 0 ? .lz4 : .none
        let path = try Self.build(dir, entries: entries, options: o)
        let r = try SSTableReader.open(fileSystem: PosixFileSystem(), path: path, fileNumber: 1, cache: nil)
        #expect(r.indexHandles.count > keys.count / 3, "seed \(seed)")
        for k in keys {
            let hit = try r.get(InternalKey.lookup(k, maxSequenceNumber), userKey: k)
            #expect(hit?.kind == .value && hit?.value == model[k], "seed \(seed), key \(k)")
        }
        for _ in 0..<3000 {
            let k = randomKey()
            let hit = try r.get(InternalKey.lookup(k, maxSequenceNumber), userKey: k)
            #expect(hit?.value == model[k], "seed \(seed), key \(k)")
        }
    }
}

extension SSTableReader {
    /// The entry a lookup finds, copied (for tests).
    func get(_ lookup: [UInt8], userKey: [UInt8]) throws -> (kind: ValueKind?, value: [UInt8])? {
        let r = try lookup.withUnsafeBytes { lk in
            try get(lk, userKeyHash: bloomHash(userKey)) { kind, v in (kind, [UInt8](v)) }
        }
        if case .found(let e) = r { return e }
        return nil
    }
}

/// Counts calls from any thread.
private final class CallCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

extension SSTableTests {
    /// `Options.bytesPerSync`: a table's writer starts writeback each time that many more
    /// bytes were appended (about size / bytesPerSync times for one table), never when it is
    /// 0; and a writeback that fails fails the flush writing the table.
    @Test(arguments: [0, 256 << 10])
    func writebackEveryBytesPerSync(bytesPerSync: Int) throws {
        let fs = FaultInjectingFileSystem(MemoryFileSystem())
        let hints = CallCount()
        fs.onOperation { kind, path in if kind == .writeback && path.hasSuffix(".sst") { hints.add() } }
        var o = Options()
        o.fileSystem = fs
        o.walEnabled = false
        o.compression = .none
        o.bytesPerSync = bytesPerSync
        o.memtableSize = 16 << 20
        let store = try LSMStore.open(at: "/db", options: o)
        var rng = SeededRandom(seed: 7)
        var batch = WriteBatch()
        for i in 0..<3000 { batch.put(bytes("key-\(100_000 + i)"), rng.bytes(1000)) }
        try store.write(batch)
        try store.flush()
        let tables = try Inspector.manifest(at: "/db", fileSystem: fs).files
        #expect(tables.count == 1)
        let size = Int(tables.first?.size ?? 0)
        if bytesPerSync == 0 {
            #expect(hints.value == 0)
        } else {
            #expect(
                hints.value >= size / bytesPerSync - 1 && hints.value <= size / bytesPerSync + 1,
                "\(hints.value) for \(size) bytes")
            fs.injectNext(.error(EIO), of: .writeback)
            try store.write(batch)
            #expect(throws: LSMError.self) { try store.flush() }
        }
        try? store.close()
    }
}
