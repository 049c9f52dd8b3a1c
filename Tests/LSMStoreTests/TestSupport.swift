import Foundation
@testable import LSMStore
@_exported import LSMStoreTesting

/// The project's seeded generator (`SplitMix64`), under the name the tests use.
typealias SeededRandom = SplitMix64

/// A fresh directory for a test (`LSMStoreTesting`).
typealias TempDir = TemporaryDirectory

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func lexLess(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// Options that make flushes and compactions happen after little data.
func smallOptions() -> Options {
    var o = Options()
    o.memtableSize = 16 << 10
    o.targetFileSize = 16 << 10
    o.baseLevelSize = 64 << 10
    o.blockSize = 512
    o.l0CompactionTrigger = 2
    o.l0SlowdownTrigger = 4
    o.l0StopTrigger = 8
    o.blockCacheSize = 32 << 10
    return o
}

/// Every entry of a store, in order.
func allEntries(_ store: LSMStore, snapshot: Snapshot? = nil) throws -> [(key: [UInt8], value: [UInt8])] {
    try store.scan(snapshot: snapshot).collect()
}

/// Replaces the file at `path` with `bytes` (damage tests).
func overwriteFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// The seed of a seeded test: `LSM_SEED` when set (to replay a failure's printed seed),
/// otherwise a random one.
func testSeed() -> UInt64 {
    ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? .random(in: 0...UInt64.max)
}
