import Foundation
import LSMStore
import Testing

@testable import StreamRuntime

/// `StateKey.sortedOrder` (a radix sort on the first 16 bytes, then whole keys where those
/// tie) against a plain sort of the keys' bytes: memcmp order, then length, equal keys in
/// position order. Prints its seed (`LSM_SEED` replays one).
@Suite struct StateKeyOrderTests {
    @Test func sortsAsBytesDo() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for round in 0..<40 {
            let count = Int(rng.next() % 3_000)
            // Keys like a store's (a key group, a state id, a number) or random bytes of any
            // length up to 40, over a small alphabet so prefixes and whole keys repeat.
            let alphabet = UInt64([2, 4, 256][round % 3])
            let keys: [[UInt8]] = (0..<count).map { _ in
                if round % 2 == 0 {
                    let group = rng.next() % 128
                    let n = rng.next() % 100_000
                    return [UInt8(group >> 8), UInt8(group & 0xFF), 1] + withUnsafeBytes(of: n.bigEndian) { Array($0) }
                }
                return (0..<Int(rng.next() % 41)).map { _ in UInt8(truncatingIfNeeded: rng.next() % alphabet) }
            }
            let order = StateKey.sortedOrder(count: keys.count) { StateKey(keys[$0]) }
            let expected = keys.indices.sorted { a, b in
                let c = KeyOrder.compare(keys[a], keys[b])
                return c != 0 ? c < 0 : a < b
            }
            let same = order.map { keys[$0] } == expected.map { keys[$0] }
            #expect(same, "seed \(seed), round \(round): keys out of order")
            #expect(Set(order).count == keys.count, "seed \(seed), round \(round): not a permutation")
        }
    }

    /// Keys that differ in one byte of one key only: the pass of that byte must not be skipped
    /// as if every key shared it.
    @Test func oneDifferingByteIsSorted() {
        for position in 0..<20 {
            var keys = [[UInt8]](repeating: [UInt8](repeating: 9, count: 20), count: 50)
            keys[49][position] = 3
            let order = StateKey.sortedOrder(count: keys.count) { StateKey(keys[$0]) }
            #expect(order.first == 49, "byte \(position)")
            keys[49][position] = 12
            let later = StateKey.sortedOrder(count: keys.count) { StateKey(keys[$0]) }
            #expect(later.last == 49 && later.dropLast() == Array(0..<49), "byte \(position)")
        }
    }
}
