import Foundation
@_exported import LSMStoreTesting
import LSMStore

/// The project's seeded generator (`SplitMix64`), under the name the tests use.
typealias SeededRandom = SplitMix64

/// Lowercase hex of `b`.
func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// Replaces the file at `path` with `bytes` (damage tests).
func overwriteFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
