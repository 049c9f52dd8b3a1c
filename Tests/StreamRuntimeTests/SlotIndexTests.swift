import Foundation
import LSMStore
import Testing

@testable import StreamRuntime

/// The state cache's `SlotIndex` against a `Dictionary` model: random inserts, removals and
/// lookups, with hashes drawn from a small range so probe runs collide, wrap around the
/// table's end and shift back on removal. Prints its seed (`LSM_SEED` replays one).
@Suite struct SlotIndexTests {
    @Test func matchesADictionaryModel() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for round in 0..<4 {
            let index = SlotIndex(capacity: 4)
            // key -> (hash, slot); several keys share a hash, as colliding keys do.
            var model: [Int: (hash: UInt64, slot: Int)] = [:]
            var slotKey: [Int: Int] = [:]
            var nextSlot = 0
            let keySpace = [50, 500, 5_000, 20_000][round]
            let hashSpace = UInt64([7, 64, 4_096, 1 << 40][round])
            func hash(_ k: Int) -> UInt64 {
                var g = SplitMix64(seed: UInt64(k) &+ 17)
                // Low bits from a small range: many keys per home position.
                return (g.next() << 32) ^ (g.next() % hashSpace)
            }
            for step in 0..<30_000 {
                let k = Int(rng.next() % UInt64(keySpace))
                let h = hash(k)
                switch rng.next() % 3 {
                case 0:
                    if model[k] == nil {
                        index.insert(hash: h, slot: nextSlot)
                        model[k] = (h, nextSlot)
                        slotKey[nextSlot] = k
                        nextSlot += 1
                    }
                case 1:
                    if let e = model[k] {
                        #expect(index.remove(hash: e.hash, slot: e.slot), "seed \(seed), step \(step): key \(k)")
                        model[k] = nil
                    }
                default:
                    let got = index.find(hash: h) { slotKey[$0] == k }
                    #expect(got == model[k]?.slot, "seed \(seed), round \(round), step \(step): key \(k)")
                }
                if step % 1_000 == 0 {
                    #expect(index.count == model.count, "seed \(seed), round \(round), step \(step)")
                    for (key, e) in model {
                        let got = index.find(hash: e.hash) { slotKey[$0] == key }
                        #expect(got == e.slot, "seed \(seed), round \(round), step \(step): key \(key) lost")
                    }
                }
            }
            for (key, e) in model {
                #expect(index.remove(hash: e.hash, slot: e.slot), "seed \(seed): key \(key) not removable")
            }
            #expect(index.count == 0, "seed \(seed)")
        }
    }

    /// A removal of an entry that is not there changes nothing.
    @Test func removingAnAbsentEntryIsRefused() {
        let index = SlotIndex()
        index.insert(hash: 5, slot: 1)
        #expect(!index.remove(hash: 5, slot: 2))
        #expect(!index.remove(hash: 6, slot: 1))
        #expect(index.count == 1)
        #expect(index.find(hash: 5) { $0 == 1 } == 1)
    }

    /// The prefetch guess: the slot under a hash whose fingerprint no other entry shares, nil
    /// for a hash whose run is empty, and a slot of the same fingerprint when several share it.
    @Test func likelySlotGuessesTheLookup() {
        let index = SlotIndex(capacity: 1_000)
        for i in 0..<500 { index.insert(hash: UInt64(i) &* 0x9E37_79B9 & 0xFFFF_FFFF | UInt64(i) << 40, slot: i) }
        for i in 0..<500 {
            let h = UInt64(i) &* 0x9E37_79B9 & 0xFFFF_FFFF | UInt64(i) << 40
            #expect(index.likelySlot(hash: h) == index.find(hash: h) { $0 == i })
        }
        let shared = SlotIndex()
        shared.insert(hash: 7, slot: 1)
        shared.insert(hash: 7 | 1 << 40, slot: 2)
        #expect([1, 2].contains(shared.likelySlot(hash: 7)))
        #expect(shared.likelySlot(hash: 9) == nil)
    }
}
