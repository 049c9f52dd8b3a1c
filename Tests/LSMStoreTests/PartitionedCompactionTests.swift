import Foundation
import Testing
@testable import LSMStore

@Suite struct PartitionedCompactionTests {
    static func options() -> Options {
        var o = smallOptions()
        o.compactionStyle = .partitioned
        o.memtableSize = 64 << 10
        o.targetFileSize = 16 << 10
        o.partitionCompactionRatio = 2
        return o
    }

    static func key(_ i: Int) -> [UInt8] { bytes(String(format: "key%06d", i)) }

    @Test func flushPiecesAlignWithPartitionsAndCompactionsTouchOnlyTheirPartition() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: Self.options())
        var rng = SeededRandom(seed: 3)
        var original: [[UInt8]] = []
        for i in 0..<6000 {
            original.append(rng.bytes(60))  // incompressible, so the state spans many 16 KiB files
            try store.put(Self.key(i), original[i])
        }
        try store.compact()
        let l1 = store.core.versions.current.levels[1]
        #expect(l1.count >= 8, "the state should span several partitions")
        #expect(store.core.versions.current.levels[0].isEmpty)

        // Scattered updates: the flush writes one piece per partition, none straddling a boundary.
        for i in stride(from: 0, to: 6000, by: 97) { try store.put(Self.key(i), bytes("updated")) }
        try store.flush()
        let v = store.core.versions.current
        let boundaries = v.partitionBoundaries
        #expect(v.levels[0].count > 1)
        for f in v.levels[0] {
            let crossing = boundaries.filter {
                compareBytes(f.smallestUserKey, $0) < 0 && compareBytes(f.largestUserKey, $0) >= 0
            }
            #expect(crossing.isEmpty, "L0 file \(f.number) straddles a partition boundary")
        }

        // Hammer one partition until it compacts: the other partitions' files stay as they are.
        let before = Set(store.core.versions.current.levels[1].map(\.number))
        let compactionsBefore = store.stats.compactionCount
        for round in 0..<40 {
            for i in 100..<140 {
                try store.put(Self.key(i), bytes("round \(round) " + String(repeating: "x", count: 60)))
            }
            try store.flush()
            if store.stats.compactionCount > compactionsBefore { break }
        }
        // Let the background compaction finish what it started.
        for _ in 0..<200 where store.core.mu.withLock({ store.core.compactionRunning }) { usleep(10_000) }
        #expect(store.stats.compactionCount > compactionsBefore)
        let after = Set(store.core.versions.current.levels[1].map(\.number))
        let rewritten = before.subtracting(after)
        #expect(!rewritten.isEmpty && rewritten.count <= 2, "rewrote \(rewritten.count) of \(before.count) partitions")
        #expect(try store.get(Self.key(120))?.starts(with: bytes("round")) == true)
        #expect(try store.get(Self.key(5001)) == original[5001])
        #expect(try allEntries(store).count == 6000)
        try store.close()
    }

    @Test func flushDropsVersionsNoReaderNeedsButKeepsSnapshotVersions() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Options()
        o.compactionStyle = .partitioned
        let store = try LSMStore.open(at: dir.path, options: o)
        for v in 0..<10 { try store.put(bytes("k"), bytes("v\(v)")) }
        let snap = try store.snapshot()
        for v in 10..<20 { try store.put(bytes("k"), bytes("v\(v)")) }
        try store.flush()
        let f = store.core.versions.current.levels.flatMap { $0 }
        var entries: UInt64 = 0
        for t in f {
            entries += try Inspector.dumpTable(at: dir.path + "/" + FileNames.tableName(t.number)).properties.entryCount
        }
        #expect(entries == 2)  // the newest, and the one the snapshot sees
        #expect(try store.get(bytes("k"), snapshot: snap) == bytes("v9"))
        #expect(try store.get(bytes("k")) == bytes("v19"))
        try store.close()
    }
}
