import Foundation
import Testing
@testable import LSMStore

/// Tables a compaction replaced are deleted when it finishes, not at the next open.
@Suite struct ObsoleteFileTests {
    /// The table files in the directory, and the ones the current version names.
    static func tables(_ store: LSMStore) throws -> (onDisk: Set<String>, live: Set<String>) {
        let onDisk = Set(
            try FileManager.default.contentsOfDirectory(atPath: store.path).filter { $0.hasSuffix(".sst") })
        let live = Set(try Inspector.manifest(at: store.path).files.map { FileNames.tableName($0.number) })
        return (onDisk, live)
    }

    @Test(arguments: CompactionStyle.allCases)
    func compactionLeavesOnlyLiveTables(style: CompactionStyle) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var options = smallOptions()
        options.compactionStyle = style
        options.walEnabled = false
        var rng = SeededRandom(seed: 41)
        for round in 0..<4 {
            let store = try LSMStore.open(at: dir.path, options: options)
            for _ in 0..<2000 {
                try store.put(Array("key\(Int.random(in: 0..<3000, using: &rng))".utf8), rng.bytes(100))
            }
            try store.flush()
            try store.compact()
            // Checked once the store is closed (no background work in flight); closing
            // deletes nothing, and opening again would.
            try store.close()
            let (onDisk, live) = try Self.tables(store)
            #expect(
                onDisk == live,
                "\(style), round \(round): \(onDisk.subtracting(live).count) replaced tables outlived the compaction")
        }
    }

    /// An iterator holds the version it started from: the tables a compaction replaces stay
    /// on disk while it lives, it reads all of them, and once it is gone the next
    /// compaction deletes them.
    @Test(arguments: CompactionStyle.allCases)
    func iteratorKeepsReplacedTablesUntilReleased(style: CompactionStyle) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var options = smallOptions()
        options.compactionStyle = style
        options.walEnabled = false
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        let store = try LSMStore.open(at: dir.path, options: options)
        var model: [[UInt8]: [UInt8]] = [:]
        for _ in 0..<3000 {
            let k = Array("key\(Int.random(in: 0..<2000, using: &rng))".utf8)
            let v = rng.bytes(100)
            try store.put(k, v)
            model[k] = v
        }
        try store.flush()
        // Compacted first, so no background compaction runs on: the tables the manifest
        // names now are the ones the iterator's version holds.
        try store.compact()
        var it: StoreIterator? = try store.scan()
        let before = try Self.tables(store).live
        // Overwrites and a full compaction replace every table the iterator's version names.
        for (k, _) in model {
            let v = rng.bytes(100)
            try store.put(k, v)
        }
        try store.flush()
        try store.compact()
        let during = try Self.tables(store)
        #expect(before.isSubset(of: during.onDisk), "seed \(seed), \(style): a table the iterator reads was deleted")
        #expect(!before.isSubset(of: during.live), "seed \(seed), \(style): the compaction replaced nothing")
        var seen = 0
        while let (k, v) = try it?.next() {
            #expect(model[k] == v, "seed \(seed), \(style): the iterator read another version")
            seen += 1
        }
        #expect(seen == model.count, "seed \(seed), \(style)")
        it = nil
        try store.put(Array("last".utf8), [1])
        try store.flush()
        try store.compact()
        try store.close()
        let after = try Self.tables(store)
        #expect(after.onDisk == after.live, "seed \(seed), \(style): replaced tables outlived the iterator")
        #expect(after.onDisk.isDisjoint(with: before.subtracting(after.live)), "seed \(seed), \(style)")
    }
}
