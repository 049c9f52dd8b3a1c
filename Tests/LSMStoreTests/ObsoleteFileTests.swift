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
}
