import Foundation
import Testing
@testable import LSMStore

/// `LSMStore.ingest`: a sorted batch written straight into L0 tables.
@Suite struct IngestTests {
    static func key(_ i: Int) -> [UInt8] { Array(String(format: "key%06d", i).utf8) }

    /// Ingested values win over older ones in the memtable and in every level, deletions
    /// hide them, snapshots taken before do not see the batch, and all of it survives a reopen.
    @Test(arguments: CompactionStyle.allCases)
    func ingestOrdersAfterEveryOlderWrite(style: CompactionStyle) throws {
        let dir = TempDir("ingest")
        defer { dir.cleanup() }
        var o = smallOptions()
        o.compactionStyle = style
        var store = try LSMStore.open(at: dir.path, options: o)
        for i in 0..<2_000 { try store.put(Self.key(i), bytes("old-\(i)")) }
        try store.compact()
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
}
