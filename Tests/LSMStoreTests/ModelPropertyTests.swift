import Foundation
import PropertyBased
import Testing
@testable import LSMStore

/// Runs random operation sequences against the store and a sorted in-memory dictionary side
/// by side; every get and scan must agree. A failure names its seed: replay it with
/// `LSM_SEED=<seed> swift test --filter ModelPropertyTests`. `LSM_PROPERTY_LONG=1` runs many
/// more and longer sequences.
@Suite struct ModelPropertyTests {
    static var long: Bool { ProcessInfo.processInfo.environment["LSM_PROPERTY_LONG"] != nil }
    static var fixedSeed: UInt64? { ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } }

    @Test(.shrinking(false)) func storeMatchesModel() async {
        if let seed = Self.fixedSeed {
            Self.check(seed: seed, operations: Self.long ? 6000 : 1200)
            return
        }
        await propertyCheck(count: Self.long ? 300 : 12, input: Gen.uint64()) { seed in
            Self.check(seed: seed, operations: Self.long ? 6000 : 1200)
        }
    }

    /// Seeds that once failed, kept as regression cases.
    @Test(arguments: [UInt64(1), 42, 7_777])
    func regressionSeeds(seed: UInt64) {
        Self.check(seed: seed, operations: 800)
    }

    static func check(seed: UInt64, operations: Int) {
        do {
            try run(seed: seed, operations: operations)
        } catch let failure as ModelFailure {
            Issue.record("seed \(seed): \(failure.message) — replay with LSM_SEED=\(seed)")
        } catch {
            Issue.record("seed \(seed): unexpected error \(error) — replay with LSM_SEED=\(seed)")
        }
    }

    struct ModelFailure: Error { let message: String }

    static func run(seed: UInt64, operations: Int) throws {
        var rng = SeededRandom(seed: seed)
        let dir = TempDir("model")
        defer { dir.cleanup() }

        var options = smallOptions()
        options.memtableSize = [8 << 10, 32 << 10, 128 << 10].randomElement(using: &rng)!
        options.targetFileSize = [8 << 10, 32 << 10].randomElement(using: &rng)!
        options.blockSize = [128, 512, 4096].randomElement(using: &rng)!
        options.blockRestartInterval = [1, 4, 16].randomElement(using: &rng)!
        options.compression = rng.chance(0.7) ? .lz4 : .none
        options.bloomBitsPerKey = rng.chance(0.8) ? 10 : 0
        options.walEnabled = rng.chance(0.8)
        options.blockCacheSize = rng.chance(0.5) ? 64 << 10 : 0
        if rng.chance(0.5) {
            options.compactionStyle = .partitioned
            options.partitionCompactionRatio = [0.5, 1.25, 3].randomElement(using: &rng)!
            options.partitionMaxDepth = [2, 4, 40].randomElement(using: &rng)!
        }

        // Keys: many share long prefixes; lengths 0...64.
        let prefixes: [[UInt8]] = [
            [], bytes("a"), bytes("user:"), Array(repeating: 0x78, count: 40), bytes("account:000000000000000"),
        ]
        var pool: [[UInt8]] = []
        for _ in 0..<150 {
            let p = prefixes.randomElement(using: &rng)!
            let suffixLen = Int.random(in: 0...max(0, min(24, 64 - p.count)), using: &rng)
            pool.append(p + (0..<suffixLen).map { _ in UInt8.random(in: 0x30...0x33, using: &rng) })
        }
        func randomKey() -> [UInt8] {
            if rng.chance(0.05) { return rng.bytes(Int.random(in: 0...64, using: &rng)) }
            return pool.randomElement(using: &rng)!
        }
        func randomValue() -> [UInt8] {
            let r = Double.random(in: 0..<1, using: &rng)
            let n =
                r < 0.1
                ? 0 : (r < 0.97 ? Int.random(in: 1...200, using: &rng) : Int.random(in: 1...(64 << 10), using: &rng))
            // Compressible values half of the time.
            if rng.chance(0.5) { return Array(repeating: UInt8.random(in: 0...255, using: &rng), count: n) }
            return rng.bytes(n)
        }

        var model: [[UInt8]: [UInt8]] = [:]
        var snapshots: [(Snapshot, [[UInt8]: [UInt8]])] = []
        var store = try LSMStore.open(at: dir.path, options: options)

        func fail(_ i: Int, _ what: String) -> ModelFailure { ModelFailure(message: "op \(i): \(what)") }

        func checkScan(_ i: Int, _ m: [[UInt8]: [UInt8]], snapshot: Snapshot?) throws {
            var lo: [UInt8]? = rng.chance(0.5) ? randomKey() : nil
            var hi: [UInt8]? = rng.chance(0.5) ? randomKey() : nil
            if let l = lo, let h = hi, lexLess(h, l) { swap(&lo, &hi) }
            let limit = rng.chance(0.5) ? Int.random(in: 1...50, using: &rng) : Int.max
            let expected = m.keys.filter { k in
                (lo.map { !lexLess(k, $0) } ?? true) && (hi.map { lexLess(k, $0) } ?? true)
            }.sorted(by: lexLess).prefix(limit)
            let got = try store.scan(from: lo, to: hi, snapshot: snapshot).collect(limit: limit)
            guard got.count == expected.count else {
                throw fail(
                    i,
                    "scan [\(lo.map(hex) ?? "-"), \(hi.map(hex) ?? "-")) returned \(got.count) entries, model has \(expected.count)"
                )
            }
            for (g, k) in zip(got, expected) {
                guard g.key == k, g.value == m[k] else {
                    throw fail(
                        i,
                        "scan mismatch at key \(hex(k)) (store gave key \(hex(g.key)) value \(g.value.count) bytes, model \(m[k]?.count ?? -1) bytes, get gives \((try? store.get(k, snapshot: snapshot))??.count ?? -1))"
                    )
                }
            }
        }

        for i in 0..<operations {
            let r = Int.random(in: 0..<100, using: &rng)
            switch r {
            case 0..<30:
                let k = randomKey(), v = randomValue()
                try store.put(k, v)
                model[k] = v
            case 30..<40:
                let k = rng.chance(0.7) ? pool.randomElement(using: &rng)! : randomKey()
                try store.delete(k)
                model[k] = nil
            case 40..<48:
                var batch = WriteBatch()
                var staged = model
                for _ in 0..<Int.random(in: 1...10, using: &rng) {
                    let k = randomKey()
                    if rng.chance(0.7) {
                        let v = randomValue()
                        batch.put(k, v)
                        staged[k] = v
                    } else {
                        batch.delete(k)
                        staged[k] = nil
                    }
                }
                if rng.chance(0.4) {
                    // The same operations, one per key in ascending order, written straight
                    // into tables.
                    var sorted = WriteBatch()
                    for k in Set(batch.keysInOrder()).sorted(by: lexLess) {
                        if let v = staged[k] { sorted.put(k, v) } else { sorted.delete(k) }
                    }
                    try store.ingest(sorted)
                } else {
                    try store.write(batch)
                }
                model = staged
            case 48..<68:
                let k = rng.chance(0.8) ? pool.randomElement(using: &rng)! : randomKey()
                let got = try store.get(k)
                guard got == model[k] else {
                    throw fail(
                        i,
                        "get \(hex(k)): store \(got.map { "\($0.count) bytes" } ?? "nil"), model \(model[k].map { "\($0.count) bytes" } ?? "nil")"
                    )
                }
            case 68..<76:
                try checkScan(i, model, snapshot: nil)
            case 76..<79:
                snapshots.append((try store.snapshot(), model))
            case 79..<85:
                guard let (snap, m) = snapshots.randomElement(using: &rng) else { break }
                if rng.chance(0.5) {
                    let k = pool.randomElement(using: &rng)!
                    let got = try store.get(k, snapshot: snap)
                    guard got == m[k] else { throw fail(i, "snapshot get \(hex(k)) differs from the model") }
                } else {
                    try checkScan(i, m, snapshot: snap)
                }
            case 85..<87:
                if !snapshots.isEmpty {
                    let j = Int.random(in: 0..<snapshots.count, using: &rng)
                    snapshots[j].0.release()
                    snapshots.remove(at: j)
                }
            case 87..<92:
                try store.flush()
            case 92..<94:
                try store.compact()
            default:
                snapshots.removeAll()
                try store.close()
                weak var oldCore = store.core
                store = try LSMStore.open(at: dir.path, options: options)
                guard oldCore == nil else {
                    throw fail(i, "the closed store's engine is still referenced after reopening")
                }
            }
        }
        try checkScan(operations, model, snapshot: nil)
        let all = try allEntries(store)
        guard all.count == model.count else {
            throw fail(operations, "final scan has \(all.count) keys, model \(model.count)")
        }
        for (k, v) in all where model[k] != v { throw fail(operations, "final value of \(hex(k)) differs") }
        snapshots.removeAll()
        try store.close()
    }
}

extension WriteBatch {
    /// The keys of the batch's operations, in order (for tests).
    func keysInOrder() -> [[UInt8]] {
        var keys: [[UInt8]] = []
        forEachOperation { k, _ in keys.append([UInt8](k)) }
        return keys
    }
}
