import Foundation
import Testing
@testable import LSMStore

/// `LSMStore.ingest`: a sorted batch written straight into L0 tables.
@Suite struct IngestTests {
    static func key(_ i: Int) -> [UInt8] { Array(String(format: "key%06d", i).utf8) }

    /// A store in `dir` with compaction `style` holding `old-i` under `key(i)` for every
    /// i < `count`, compacted into tables.
    static func openWithOldValues(_ dir: TempDir, style: CompactionStyle, count: Int) throws -> LSMStore {
        var o = smallOptions()
        o.compactionStyle = style
        let store = try LSMStore.open(at: dir.path, options: o)
        for i in 0..<count { try store.put(key(i), bytes("old-\(i)")) }
        try store.compact()
        return store
    }

    /// Ingested values win over older ones in the memtable and in every level, deletions
    /// hide them, snapshots taken before do not see the batch, and all of it survives a reopen.
    @Test(arguments: CompactionStyle.allCases)
    func ingestOrdersAfterEveryOlderWrite(style: CompactionStyle) throws {
        let dir = TempDir("ingest")
        defer { dir.cleanup() }
        var o = smallOptions()
        o.compactionStyle = style
        var store = try Self.openWithOldValues(dir, style: style, count: 2_000)
        for i in 0..<2_000 where i % 3 == 0 { try store.put(Self.key(i), bytes("mem-\(i)")) }  // in the memtable
        let before = try store.snapshot()
        var batch = WriteBatch()
        for i in stride(from: 0, to: 2_000, by: 2) {
            if i % 10 == 0 { batch.delete(Self.key(i)) } else { batch.put(Self.key(i), bytes("new-\(i)")) }
        }
        try store.ingest(batch)
        #expect(store.stats.ingestCount == 1)
        func expected(_ i: Int) -> [UInt8]? {
            if i % 10 == 0 { return nil }
            if i % 2 == 0 { return bytes("new-\(i)") }
            return i % 3 == 0 ? bytes("mem-\(i)") : bytes("old-\(i)")
        }
        for i in 0..<2_000 {
            #expect(try store.get(Self.key(i)) == expected(i), "key \(i)")
            let old = i % 3 == 0 ? bytes("mem-\(i)") : bytes("old-\(i)")
            #expect(try store.get(Self.key(i), snapshot: before) == old, "key \(i) under the older snapshot")
        }
        before.release()
        // Later writes win over the ingested ones.
        try store.put(Self.key(2), bytes("later"))
        #expect(try store.get(Self.key(2)) == bytes("later"))
        try store.close()
        store = try LSMStore.open(at: dir.path, options: o)
        #expect(try store.get(Self.key(2)) == bytes("later"))
        for i in 3..<2_000 { #expect(try store.get(Self.key(i)) == expected(i), "key \(i) after reopening") }
        try store.compact()
        for i in 3..<2_000 { #expect(try store.get(Self.key(i)) == expected(i), "key \(i) after compaction") }
        try store.close()
    }

    /// Keys out of order are refused and nothing of the batch is written.
    @Test func unsortedBatchIsRefusedWhole() throws {
        let dir = TempDir("ingest-unsorted")
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        var batch = WriteBatch()
        batch.put(bytes("b"), bytes("1"))
        batch.put(bytes("c"), bytes("2"))
        batch.put(bytes("a"), bytes("3"))
        #expect(throws: LSMError.self) { try store.ingest(batch) }
        var dup = WriteBatch()
        dup.put(bytes("x"), bytes("1"))
        dup.put(bytes("x"), bytes("2"))
        #expect(throws: LSMError.self) { try store.ingest(dup) }
        #expect(try store.scan().collect().isEmpty)
        #expect(store.stats.levels[0].files == 0)
        try store.close()
        let tables = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sst") }
        #expect(tables.isEmpty, "abandoned tables left behind: \(tables)")
    }

    /// `ingestSorted` writes what its producer hands over exactly as `ingest` writes the same
    /// batch (puts, deletions), in both compaction styles.
    @Test(arguments: CompactionStyle.allCases)
    func ingestSortedMatchesABatch(style: CompactionStyle) throws {
        let dir = TempDir("ingest-sorted")
        defer { dir.cleanup() }
        let store = try Self.openWithOldValues(dir, style: style, count: 3_000)
        try store.put(Self.key(7), bytes("in the memtable"))
        try store.ingestSorted { add in
            for i in stride(from: 1, to: 3_000, by: 3) {
                try Self.key(i).withUnsafeBytes { k in
                    if i % 2 == 0 {
                        try add(k, nil)
                    } else {
                        try bytes("new-\(i)").withUnsafeBytes { try add(k, $0) }
                    }
                }
            }
        }
        #expect(store.stats.ingestCount == 1)
        for i in 0..<3_000 {
            let expected: [UInt8]? =
                i % 3 != 1
                ? (i == 7 ? bytes("in the memtable") : bytes("old-\(i)")) : (i % 2 == 0 ? nil : bytes("new-\(i)"))
            #expect(try store.get(Self.key(i)) == expected, "key \(i)")
        }
        try store.close()
    }

    /// A producer that hands nothing writes nothing (no table, no ingest counted); one that
    /// throws part-way, or hands keys out of order, leaves no trace: its error comes back and
    /// the store reads as before.
    @Test func ingestSortedWritesNothingOnEmptyOrFailure() throws {
        struct Stop: Error {}
        let dir = TempDir("ingest-sorted-failure")
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        try store.put(bytes("a"), bytes("1"))
        try store.ingestSorted { _ in }
        #expect(store.stats.ingestCount == 0)
        #expect(throws: Stop.self) {
            try store.ingestSorted { add in
                for i in 0..<5_000 { try Self.key(i).withUnsafeBytes { k in try add(k, k) } }
                throw Stop()
            }
        }
        #expect(throws: LSMError.self) {
            try store.ingestSorted { add in
                for i in [1, 2, 3, 2] { try Self.key(i).withUnsafeBytes { k in try add(k, k) } }
            }
        }
        #expect(try store.scan().collect().map(\.0) == [bytes("a")])
        #expect(store.stats.ingestCount == 0)
        try store.close()
        let tables = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sst") }
        // Only the table the first (empty) ingest's memtable flush wrote.
        #expect(tables.count <= 1, "abandoned tables left behind: \(tables)")
    }
}
