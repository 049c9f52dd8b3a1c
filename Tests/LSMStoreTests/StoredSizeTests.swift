import Foundation
import Testing
@_spi(Measurement) @testable import LSMStore

/// The lower bound's measure: `DataBlockSizer` must count what a table writer stores.
@Suite struct StoredSizeTests {
    /// A store in a new temporary folder, WAL off, with `compression`.
    static func freshStore(_ compression: Compression) throws -> (dir: TempDir, options: Options, store: LSMStore) {
        let dir = TempDir()
        var options = Options()
        options.compression = compression
        options.walEnabled = false
        do {
            return (dir, options, try LSMStore.open(at: dir.path, options: options))
        } catch {
            dir.cleanup()
            throw error
        }
    }

    /// Random sorted entries, written by a real flush: without compression the sizer's total
    /// equals the table's data blocks byte for byte (sequence numbers do not change sizes then).
    /// With LZ4 it is lower: every key carries the same sequence number, which compresses
    /// better than the distinct ones of a flush (a lower bound, as a bottommost compaction
    /// that zeroes sequence numbers could reach), yet well above half.
    @Test(arguments: [Compression.none, .lz4])
    func sizerMatchesTheTableWriter(compression: Compression) throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var model: [[UInt8]: [UInt8]] = [:]
        for i in 0..<3000 {
            let key = Array("acct-\(Int.random(in: 0..<1_000_000, using: &rng))-\(i % 7)".utf8)
            model[key] = Array(String(repeating: "v\(i % 13)", count: Int.random(in: 1...20, using: &rng)).utf8)
        }
        let sorted = model.sorted { lexLess($0.key, $1.key) }
        let (dir, options, store) = try Self.freshStore(compression)
        defer { dir.cleanup() }
        var batch = WriteBatch()
        for (k, v) in sorted { batch.put(k, v) }
        try store.write(batch)
        try store.flush()
        var stored = 0
        for f in try Inspector.manifest(at: dir.path).files {
            for b in try Inspector.dumpTable(at: dir.sub(FileNames.tableName(f.number)), includeEntries: false).blocks {
                stored += Int(b.storedSize) + blockTrailerSize
            }
        }
        try store.close()

        var sizer = DataBlockSizer(options: options)
        for (k, v) in sorted { k.withUnsafeBytes { kb in v.withUnsafeBytes { sizer.add(key: kb, value: $0) } } }
        let measured = sizer.finish()
        #expect(
            measured == StoredSize.dataBlockBytes(sortedEntries: sorted.map { ($0.key, $0.value) }, options: options),
            "seed \(seed)")
        if compression == .none {
            #expect(measured == stored, "seed \(seed)")
        } else {
            #expect(measured <= stored && measured * 2 > stored, "seed \(seed): \(measured) vs \(stored)")
            #expect(
                measured < sorted.reduce(0) { $0 + $1.key.count + $1.value.count }, "seed \(seed): LZ4 saved nothing")
        }
    }

    /// What `ingestSorted` reports: its entries, its tables, their file sizes as on disk, and
    /// their data blocks as stored (read back from the tables); without compression that is
    /// exactly the sizer's measure of the same entries, deletions included.
    @Test(arguments: [Compression.none, .lz4])
    func ingestSummaryCountsWhatWasWritten(compression: Compression) throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var model: [[UInt8]: [UInt8]?] = [:]
        for i in 0..<Int.random(in: 1...4000, using: &rng) {
            let key = Array("acct-\(Int.random(in: 0..<1_000_000, using: &rng))".utf8)
            model[key] =
                Int.random(in: 0..<10, using: &rng) == 0
                ? .some(nil) : Array(String(repeating: "v\(i % 13)", count: Int.random(in: 1...20, using: &rng)).utf8)
        }
        let sorted = model.sorted { lexLess($0.key, $1.key) }
        let (dir, options, store) = try Self.freshStore(compression)
        defer { dir.cleanup() }
        let summary = try store.ingestSorted { add in
            for (k, v) in sorted {
                try k.withUnsafeBytes { kb in
                    if let v { try v.withUnsafeBytes { try add(kb, $0) } } else { try add(kb, nil) }
                }
            }
        }
        var stored: UInt64 = 0
        var fileBytes: UInt64 = 0
        let files = try Inspector.manifest(at: dir.path).files
        for f in files {
            let path = dir.sub(FileNames.tableName(f.number))
            fileBytes += try #require(try PosixFileSystem().stat(path)).size
            for b in try Inspector.dumpTable(at: path, includeEntries: false).blocks {
                stored += b.storedSize + UInt64(blockTrailerSize)
            }
        }
        try store.close()
        #expect(summary.entries == sorted.count, "seed \(seed)")
        #expect(summary.tables == files.count && files.count == 1, "seed \(seed)")
        #expect(summary.fileBytes == fileBytes, "seed \(seed)")
        #expect(summary.dataBlockBytes == stored, "seed \(seed)")
        if compression == .none {
            var sizer = DataBlockSizer(options: options)
            for (k, v) in sorted {
                k.withUnsafeBytes { kb in
                    if let v {
                        v.withUnsafeBytes { sizer.add(key: kb, valueOrDeletion: $0) }
                    } else {
                        sizer.add(key: kb, valueOrDeletion: nil)
                    }
                }
            }
            #expect(UInt64(sizer.finish()) == summary.dataBlockBytes, "seed \(seed)")
        }
    }

    @Test func emptyIngestWritesNothing() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: Options())
        #expect(try store.ingestSorted { _ in } == IngestSummary())
        #expect(try store.ingest(WriteBatch()) == IngestSummary())
        try store.close()
    }

    @Test func emptyRunMeasuresZero() {
        var sizer = DataBlockSizer()
        #expect(sizer.finish() == 0)
    }

    /// `forEachOperation` hands back every put and deletion in order, values of puts only.
    @Test func batchOperationsInOrder() {
        var batch = WriteBatch()
        batch.put(bytes("b"), bytes("2"))
        batch.delete(bytes("a"))
        bytes("c").withUnsafeBytes { k in bytes("").withUnsafeBytes { batch.put(key: k, value: $0) } }
        var seen: [(String, String?)] = []
        batch.forEachOperation { k, v in
            seen.append((String(decoding: k, as: UTF8.self), v.map { String(decoding: $0, as: UTF8.self) }))
        }
        #expect(seen.map(\.0) == ["b", "a", "c"])
        #expect(seen.map(\.1) == ["2", nil, ""])
    }
}
