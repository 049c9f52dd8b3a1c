import Foundation
import LSMStore
import Testing

@testable import StreamRuntime

/// A checkpoint cut's sorted run (`StateCut.sortedRun`: the entries copied in key order into
/// one buffer, reusing an earlier run's) and the change log built from it, against a plain
/// sort of the same entries. Prints its seed (`LSM_SEED` replays one).
@Suite struct StateCutTests {
    @Test func runHoldsTheEntriesInKeyOrder() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        // One spare run goes through every size, larger and smaller than the one before.
        var spare: SortedRun? = nil
        for count in [0, 1, 700, 17, 1_500, 0, 300] {
            var keys = Set<[UInt8]>()
            while keys.count < count {
                // Short keys stay inline in a StateKey, long ones (over 16 bytes) do not.
                let n = Int(rng.next() % 40) + 1
                keys.insert((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) })
            }
            let entries = keys.map { k in
                let v = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                return StateCut.Entry(key: StateKey(k), value: v, present: rng.next() % 5 != 0)
            }
            let run = StateCut(entries: entries).sortedRun(reusing: &spare)
            #expect(run.count == count, "seed \(seed), count \(count)")
            var walked: [([UInt8], [UInt8]?)] = []
            run.forEach { k, v in walked.append(([UInt8](k), v.map { [UInt8]($0) })) }
            let expected = entries.sorted { KeyOrder.compare($0.key.bytes, $1.key.bytes) < 0 }
                .map { ($0.key.bytes, $0.present ? $0.value : nil) }
            #expect(walked.count == expected.count, "seed \(seed), count \(count)")
            for (i, (w, e)) in zip(walked, expected).enumerated() {
                #expect(w.0 == e.0 && w.1 == e.1, "seed \(seed), count \(count): entry \(i) differs")
            }
            var log = ChangeLog()
            log.append(run)
            let live = KeyedStateBackend.distinctSorted(log)
            let expectedLive = expected.compactMap { e in e.1.map { (e.0, $0) } }
            #expect(live.map(\.key) == expectedLive.map(\.0), "seed \(seed), count \(count)")
            #expect(live.map(\.value) == expectedLive.map(\.1), "seed \(seed), count \(count)")
            spare = run
        }
    }
}
