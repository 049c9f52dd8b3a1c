import Foundation
import Testing

@testable import LSMStore

/// Drops every value whose first byte is `x` ("expired"), counting its calls.
final class DropExpired: CompactionFilter, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls = 0
    var calls: Int { lock.withLock { _calls } }
    func filter(level: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> CompactionFilterDecision {
        lock.withLock { _calls += 1 }
        return value.first == UInt8(ascii: "x") ? .remove : .keep
    }
}

/// The compaction filter against a model: random puts (some "expired"), deletes, flushes,
/// compactions and snapshots in both compaction styles. At any time a key reads as the model
/// says, except that an expired newest value may already be gone; after a full compaction
/// with no snapshot every expired value is gone and nothing else is; a snapshot always reads
/// exactly what was there when it was taken. A failure prints its seed (`LSM_SEED` replays it).
@Suite struct CompactionFilterTests {
    @Test(arguments: [CompactionStyle.leveled, .partitioned])
    func filterRemovesExactlyWhatItSaysAndSnapshotsNeverChange(style: CompactionStyle) throws {
        let seeds: [UInt64] =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) }.map { [$0] }
            ?? (0..<4).map { _ in UInt64.random(in: 0...UInt64.max) }
        for seed in seeds { try run(seed, style) }
    }

    func run(_ seed: UInt64, _ style: CompactionStyle) throws {
        var rng = SplitMix64(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions()
        o.compactionStyle = style
        o.partitionMaxDepth = 4
        let filter = DropExpired()
        o.compactionFilter = filter
        let store = try LSMStore.open(at: dir.path, options: o)
        var model: [String: String] = [:]
        // Each snapshot with what it read when taken (an expired value may be gone already).
        var snapshots: [(Snapshot, [String: String?])] = []
        func key(_ i: UInt64) -> String { "k\(i % 300)" }
        func check(_ context: String) throws {
            for (k, v) in model {
                let got = try store.get(k)
                if v.hasPrefix("x") {
                    #expect(
                        got == v || got == nil, "seed \(seed) \(style) \(context): \(k) read \(String(describing: got))"
                    )
                } else {
                    #expect(
                        got == v, "seed \(seed) \(style) \(context): \(k) read \(String(describing: got)), not \(v)")
                }
            }
            for (snap, seen) in snapshots {
                for (k, v) in seen {
                    let got = try store.get(k, snapshot: snap)
                    #expect(
                        got == v,
                        "seed \(seed) \(style) \(context): snapshot \(k) read \(String(describing: got)), not \(String(describing: v))"
                    )
                }
            }
        }
        for step in 0..<1500 {
            let r = rng.next() % 100
            let k = key(rng.next())
            switch r {
            case 0..<55:
                let expired = rng.next() % 3 == 0
                let v = (expired ? "x" : "v") + "\(step)-" + String(repeating: "p", count: Int(rng.next() % 80))
                try store.put(k, v)
                model[k] = v
            case 55..<70:
                try store.delete(k)
                model[k] = nil
            case 70..<75: try store.flush()
            case 75..<77: try store.compact()
            case 77..<79 where snapshots.count < 3:
                let snap = try store.snapshot()
                var seen: [String: String?] = [:]
                for i in 0..<300 where i % 7 == 0 || model["k\(i)"] != nil {
                    let k = "k\(i)"
                    let got = try store.get(k, snapshot: snap)
                    if let v = model[k] {
                        #expect(got == v || (v.hasPrefix("x") && got == nil), "seed \(seed) \(style) snapshot of \(k)")
                    } else {
                        #expect(got == nil, "seed \(seed) \(style) snapshot of deleted \(k)")
                    }
                    seen[k] = .some(got)
                }
                snapshots.append((snap, seen))
            case 79..<81 where !snapshots.isEmpty:
                snapshots.removeFirst().0.release()
            default: break
            }
            if step % 250 == 0 { try check("step \(step)") }
        }
        try check("end")
        for (s, _) in snapshots { s.release() }
        snapshots = []
        try store.compact()
        for (k, v) in model {
            #expect(try store.get(k) == (v.hasPrefix("x") ? nil : v), "seed \(seed) \(style) after compaction: \(k)")
        }
        #expect(filter.calls > 0 && store.stats.compactionFilterRemoved > 0, "seed \(seed)")
        // Nothing the filter removed comes back after a reopen.
        try store.close()
        var reopened = o
        reopened.compactionFilter = nil
        let again = try LSMStore.open(at: dir.path, options: reopened)
        for (k, v) in model { #expect(try again.get(k) == (v.hasPrefix("x") ? nil : v), "seed \(seed) reopen: \(k)") }
        try again.close()
    }
}
