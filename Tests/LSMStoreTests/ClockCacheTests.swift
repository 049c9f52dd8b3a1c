import Foundation
import Testing
@testable import LSMStore

/// The CLOCK cache's eviction and admission, counted (hits, inserts kept, declines), never
/// timed. Random streams print their seed (`LSM_SEED` replays one).
@Suite struct ClockCacheTests {
    static func seed() -> UInt64 {
        ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
    }

    /// The charge never exceeds the capacity (but for a single oversized entry), and every
    /// entry present holds the value last inserted for its key: checked against a model
    /// over a random sequence of gets, inserts and erasures.
    @Test func matchesAModelAndRespectsCapacity() {
        let seed = Self.seed()
        var rng = SplitMix64(seed: seed)
        let cache = ClockCache<Int, Int>(capacity: 100)
        var model: [Int: (value: Int, charge: Int)] = [:]
        for step in 0..<20_000 {
            let k = Int(rng.next() % 300)
            switch rng.next() % 10 {
            case 0:
                cache.erase(k)
                model[k] = nil
            case 1...4:
                let v = Int(rng.next() % 1_000_000)
                let charge = 1 + Int(rng.next() % 5)
                cache.insert(k, v, charge: charge)
                model[k] = (v, charge)
            default:
                if let got = cache.get(k) {
                    #expect(model[k]?.value == got, "seed \(seed), step \(step): key \(k) holds \(got)")
                }
            }
            let (usage, _, _) = cache.counters
            #expect(usage <= 100, "seed \(seed), step \(step): usage \(usage)")
        }
        // Entries the cache holds are a subset of the model, with the model's values.
        var present = 0
        for (k, e) in model {
            if let v = cache.get(k) {
                present += 1
                #expect(v == e.value, "seed \(seed)")
            }
        }
        #expect(present == cache.count, "seed \(seed)")
    }

    /// A referenced entry gets a second chance: after a full sweep, the entries read since
    /// they were inserted are still there and the others are gone.
    @Test func referencedEntriesSurviveASweep() {
        let cache = ClockCache<Int, Int>(capacity: 10)
        for k in 0..<10 { cache.insert(k, k, charge: 1) }
        for k in stride(from: 0, to: 10, by: 2) { #expect(cache.get(k) == k) }
        for k in 10..<15 { cache.insert(k, k, charge: 1) }
        for k in stride(from: 0, to: 10, by: 2) { #expect(cache.get(k) == k, "key \(k) was referenced") }
        for k in stride(from: 1, to: 10, by: 2) { #expect(cache.get(k) == nil, "key \(k) was not") }
        #expect(cache.count == 10)
    }

    /// While there is room every entry is admitted; once full, a key is admitted on its
    /// second miss within the window, never on its first.
    @Test func admissionNeedsASecondMissOnceFull() {
        let cache = ClockCache<Int, Int>(capacity: 8)
        for k in 0..<8 {
            #expect(cache.shouldAdmit(k, charge: 1))
            cache.insert(k, k, charge: 1)
        }
        #expect(!cache.shouldAdmit(100, charge: 1))
        #expect(cache.shouldAdmit(100, charge: 1))
        #expect(cache.declined == 1)
        #expect(!cache.shouldAdmit(101, charge: 1))
        #expect(cache.declined == 2)
    }

    /// A uniform random read over many times the cache's entries (the access pattern of a
    /// point-read workload on state larger than the cache) inserts few entries: most
    /// misses are declined, so a miss costs no eviction. A hot set read between those
    /// misses still ends up cached: its hit rate is high.
    @Test func uniformMissesAreDeclinedAndAHotSetIsKept() {
        let seed = Self.seed()
        var rng = SplitMix64(seed: seed)
        let capacity = 1_000
        let cache = ClockCache<Int, Int>(capacity: capacity)
        var inserts = 0
        var hotHits = 0, hotReads = 0
        func read(_ k: Int) -> Bool {
            if cache.get(k) != nil { return true }
            if cache.shouldAdmit(k, charge: 1) {
                cache.insert(k, k, charge: 1)
                inserts += 1
            }
            return false
        }
        let reads = 200_000
        for i in 0..<reads {
            if i % 4 == 0 {
                // 200 hot keys, a fifth of the capacity.
                let hit = read(1_000_000 + Int(rng.next() % 200))
                if i >= reads / 2 {
                    hotReads += 1
                    if hit { hotHits += 1 }
                }
            } else {
                _ = read(Int(rng.next() % 100_000))
            }
        }
        let cold = reads - reads / 4
        #expect(inserts < cold / 10, "seed \(seed): \(inserts) inserts for \(cold) cold reads")
        #expect(hotHits * 10 >= hotReads * 9, "seed \(seed): hot set hit \(hotHits) of \(hotReads)")
    }
}
