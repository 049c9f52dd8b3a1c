import Foundation
import Testing
@testable import LSMStore

/// Deterministic complexity checks of the hot paths: they count key comparisons (through
/// the debug-build `ComparisonCounter`) or key equality checks, never time, so an accidental
/// O(n) step fails here however fast or noisy the machine is. Each bound is a small constant
/// times the textbook cost; the constants leave about 3x room over what the code needs today,
/// while an O(n) step per operation exceeds them by orders of magnitude at these sizes.
@Suite struct ComplexityTests {
    static func key(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }

    static func seed() -> UInt64 {
        ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
    }

    /// Inserting n keys in random order costs O(n log n) comparisons, and every key is found.
    @Test func memtableRandomInsertsAreLogarithmic() throws {
        let seed = Self.seed()
        var rng = SeededRandom(seed: seed)
        let n = 20_000
        let table = Memtable()
        var keys: [[UInt8]] = []
        let (_, comparisons) = ComparisonCounter.counting {
            for i in 0..<n {
                let k = Self.key(rng.next())
                keys.append(k)
                table.add(sequence: UInt64(i + 1), kind: .value, key: k, value: [1])
            }
        }
        let bound = 6 * Double(n) * log2(Double(n))
        #expect(
            Double(comparisons) <= bound,
            "seed \(seed): \(comparisons) comparisons for \(n) random inserts, bound \(Int(bound))")
        for k in keys.prefix(500) {
            guard case .found = table.get(k, sequence: UInt64(n)) else {
                Issue.record("seed \(seed): a key inserted is not found")
                return
            }
        }
    }

    /// The same with keys that mostly ascend but jump ahead at random (each insert is larger
    /// than the previous one, yet far from it): the resume-from-the-last-insert path must not
    /// walk the bottom level.
    @Test func memtableAscendingJumpsAreLogarithmic() throws {
        let seed = Self.seed()
        var rng = SeededRandom(seed: seed)
        let n = 20_000
        let table = Memtable()
        // Fill with random keys first, then insert larger keys spread over the same range.
        var values: [UInt64] = (0..<n).map { _ in rng.next() >> 1 }
        for (i, v) in values.enumerated() {
            table.add(sequence: UInt64(i + 1), kind: .value, key: Self.key(v), value: [])
        }
        values = (0..<n).map { _ in rng.next() >> 1 }.sorted()
        let (_, comparisons) = ComparisonCounter.counting {
            for (i, v) in values.enumerated() {
                table.add(sequence: UInt64(n + i + 1), kind: .value, key: Self.key(v | 1), value: [])
            }
        }
        let bound = 4 * Double(n) * log2(Double(2 * n))
        #expect(Double(comparisons) <= bound, "seed \(seed): \(comparisons) comparisons, bound \(Int(bound))")
        #expect(table.count == 2 * n)
    }

    /// A sorted batch into an empty memtable costs O(1) comparisons per entry.
    @Test func memtableSortedBatchIsLinear() throws {
        let n = 50_000
        let table = Memtable()
        let (_, comparisons) = ComparisonCounter.counting {
            for i in 0..<n {
                table.add(sequence: UInt64(i + 1), kind: .value, key: Self.key(UInt64(i) * 7), value: [2])
            }
        }
        #expect(comparisons <= 3 * n, "\(comparisons) comparisons for a sorted batch of \(n)")
        let it = table.makeIterator()
        try it.seekToFirst()
        var seen = 0
        while it.isValid {
            seen += 1
            try it.next()
        }
        #expect(seen == n)
    }

    /// A memtable seek costs O(log n).
    @Test func memtableSeekIsLogarithmic() throws {
        var rng = SeededRandom(seed: 11)
        let n = 20_000
        let table = Memtable()
        for i in 0..<n { table.add(sequence: UInt64(i + 1), kind: .value, key: Self.key(rng.next()), value: []) }
        let it = table.makeIterator()
        let seeks = 2_000
        let (_, comparisons) = try ComparisonCounter.counting {
            for _ in 0..<seeks { try it.seek(InternalKey.lookup(Self.key(rng.next()), maxSequenceNumber)) }
        }
        let bound = 8 * Double(seeks) * log2(Double(n))
        #expect(Double(comparisons) <= bound, "\(comparisons) comparisons for \(seeks) seeks, bound \(Int(bound))")
    }

    /// A block seek and a point lookup cost a binary search over the restart points plus at
    /// most one restart interval of entries.
    @Test func blockSeekIsBinarySearchPlusOneInterval() throws {
        let interval = 16
        var b = BlockBuilder(restartInterval: interval)
        let n = 4_000
        let keys = (0..<n).map { InternalKey.make(Self.key(UInt64($0) * 3), 1, .value) }
        for k in keys { b.add(k, [0]) }
        let block = try BlockTests.parse(b.finish())
        let perSeek = Int(log2(Double(block.numRestarts)).rounded(.up)) + interval + 2
        var rng = SeededRandom(seed: 3)
        let it = block.makeIterator()
        for _ in 0..<300 {
            let target = InternalKey.make(Self.key(UInt64.random(in: 0..<UInt64(3 * n), using: &rng)), 1, .value)
            let (_, seek) = try ComparisonCounter.counting { try it.seek(target) }
            #expect(seek <= perSeek, "block seek: \(seek) comparisons, bound \(perSeek)")
            let (_, find) = try ComparisonCounter.counting { try target.withUnsafeBytes { try block.find($0) } }
            #expect(find <= perSeek, "block find: \(find) comparisons, bound \(perSeek)")
        }
    }

    /// A seek of the store's iterator costs O(log n) per source (memtables, L0 files, levels),
    /// and a point get no more.
    @Test func storeSeekAndGetAreLogarithmicPerSource() throws {
        let dir = TempDir("complexity")
        defer { dir.cleanup() }
        var o = smallOptions()
        o.walEnabled = false
        let store = try LSMStore.open(at: dir.path, options: o)
        var rng = SeededRandom(seed: 17)
        let n = 30_000
        for i in 0..<n {
            try store.put(Self.key(rng.next() >> 4), Array(repeating: UInt8(i & 0xFF), count: 20))
        }
        let stats = store.stats
        let sources =
            stats.levels.enumerated().reduce(0) { acc, e in
                acc + (e.offset == 0 ? e.element.files : (e.element.files > 0 ? 1 : 0))
            } + 2
        let logN = log2(Double(n))
        let seeks = 500
        let it = try store.scan()
        let (_, seekComparisons) = try ComparisonCounter.counting {
            for _ in 0..<seeks { try it.seek(Self.key(rng.next() >> 4)) }
        }
        let seekBound = 4 * Double(seeks * sources) * logN
        #expect(
            Double(seekComparisons) <= seekBound,
            "\(seekComparisons) comparisons for \(seeks) seeks over \(sources) sources, bound \(Int(seekBound))")
        let (_, getComparisons) = try ComparisonCounter.counting {
            for _ in 0..<seeks { _ = try store.get(Self.key(rng.next() >> 4)) }
        }
        #expect(
            Double(getComparisons) <= seekBound,
            "\(getComparisons) comparisons for \(seeks) gets over \(sources) sources, bound \(Int(seekBound))")
        try store.close()
    }

    /// A key type that counts its equality checks.
    final class EqualityCounter: @unchecked Sendable { var count = 0 }
    struct CountedKey: Hashable, @unchecked Sendable {
        let value: UInt64
        let counter: EqualityCounter
        static func == (a: CountedKey, b: CountedKey) -> Bool {
            a.counter.count += 1
            return a.value == b.value
        }
        func hash(into hasher: inout Hasher) { hasher.combine(value) }
    }

    /// The CLOCK cache finds, inserts and evicts with O(1) key checks per operation.
    @Test func clockCacheOperationsAreConstantTime() {
        let counter = EqualityCounter()
        let cache = ClockCache<CountedKey, Int>(capacity: 1_000)
        var rng = SeededRandom(seed: 5)
        let ops = 50_000
        for _ in 0..<ops {
            let k = CountedKey(value: rng.next() % 5_000, counter: counter)
            if cache.get(k) == nil { cache.insert(k, 1, charge: 1) }
        }
        #expect(cache.count <= 1_000)
        #expect(counter.count <= 12 * ops, "\(counter.count) key checks for \(ops) operations")
    }

    /// Block cache keys of many files and offsets spread over hash values (a weak hash would
    /// turn every lookup into a scan of one bucket).
    @Test func blockCacheKeysHashApart() {
        var hashes = Set<Int>()
        for file in UInt64(1)...64 {
            for block in UInt64(0)..<256 {
                hashes.insert(BlockCacheKey(fileNumber: file, offset: block * 4096).hashValue)
            }
        }
        #expect(hashes.count >= 64 * 256 - 4)
    }
}
