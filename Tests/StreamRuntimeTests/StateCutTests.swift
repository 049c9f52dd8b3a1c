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
            // Alone in its log, the run is the checkpoint's whole change, deletions included.
            #expect(log.isSingleRun == (count > 0), "seed \(seed), count \(count)")
            var distinct: [([UInt8], [UInt8]?)] = []
            log.forEachDistinct { k, v in distinct.append(([UInt8](k), v.map { [UInt8]($0) })) }
            #expect(distinct.map(\.0) == expected.map(\.0), "seed \(seed), count \(count)")
            #expect(distinct.map(\.1) == expected.map(\.1), "seed \(seed), count \(count)")
            spare = run
        }
    }

    /// A log of several parts (flushes' batches and cuts' runs) yields each key's last write,
    /// a deletion as nil, and is not a single run.
    @Test func distinctTakesEachKeysLastWrite() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        var model: [[UInt8]: [UInt8]?] = [:]
        var log = ChangeLog()
        var spare: SortedRun? = nil
        var nonEmpty: [Bool] = []  // the parts written, true for a cut's run
        for part in 0..<Int(rng.next() % 5 + 2) {
            var written: [[UInt8]: [UInt8]?] = [:]
            for _ in 0..<Int(rng.next() % 200) {
                let k = (0..<Int(rng.next() % 6 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3) }
                written[k] = rng.next() % 4 == 0 ? .some(nil) : [UInt8(truncatingIfNeeded: rng.next())]
            }
            if part % 2 == 0 {
                var batch = WriteBatch()
                for (k, v) in written { if let v { batch.put(k, v) } else { batch.delete(k) } }
                log.append(batch)
            } else {
                let entries = written.map {
                    StateCut.Entry(key: StateKey($0.key), value: $0.value ?? [], present: $0.value != nil)
                }
                log.append(StateCut(entries: entries).sortedRun(reusing: &spare))
                spare = nil
            }
            if !written.isEmpty { nonEmpty.append(part % 2 == 1) }
            model.merge(written) { _, new in new }
        }
        var distinct: [([UInt8], [UInt8]?)] = []
        log.forEachDistinct { k, v in distinct.append(([UInt8](k), v.map { [UInt8]($0) })) }
        let expected = model.sorted { KeyOrder.compare($0.key, $1.key) < 0 }
        #expect(distinct.map(\.0) == expected.map(\.key), "seed \(seed)")
        #expect(distinct.map(\.1) == expected.map(\.value), "seed \(seed)")
        #expect(log.isSingleRun == (nonEmpty == [true]), "seed \(seed)")
    }

    /// A log of runs only (the write-backs before a barrier and its cut) is merged as it is:
    /// each key's entry from the latest run that has it. Its stored size, estimated from the
    /// runs' (here: each run's stored size taken as its byte count, so the estimate must be
    /// exactly the bytes of the entries that count), leaves out every superseded entry.
    @Test func runsMergeToEachKeysLastWriteAndEstimateWhatCounts() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for round in 0..<20 {
            var model: [[UInt8]: [UInt8]?] = [:]
            var log = ChangeLog()
            var spare: SortedRun? = nil
            for _ in 0..<Int(rng.next() % 4 + 1) {
                var written: [[UInt8]: [UInt8]?] = [:]
                for _ in 0..<Int(rng.next() % 300) {
                    let k = (0..<Int(rng.next() % 5 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) }
                    written[k] =
                        rng.next() % 5 == 0
                        ? .some(nil) : (0..<Int(rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                }
                let entries = written.map {
                    StateCut.Entry(key: StateKey($0.key), value: $0.value ?? [], present: $0.value != nil)
                }
                let run = StateCut(entries: entries).sortedRun(reusing: &spare)
                log.append(run, stored: UInt64(run.byteCount))
                spare = nil
                model.merge(written) { _, new in new }
            }
            var distinct: [([UInt8], [UInt8]?)] = []
            log.forEachDistinct { k, v in distinct.append(([UInt8](k), v.map { [UInt8]($0) })) }
            let expected = model.sorted { KeyOrder.compare($0.key, $1.key) < 0 }
            #expect(distinct.map(\.0) == expected.map(\.key), "seed \(seed), round \(round)")
            #expect(distinct.map(\.1) == expected.map(\.value), "seed \(seed), round \(round)")
            let counted = expected.reduce(0) { $0 + SortedRun.entryOverhead + $1.key.count + ($1.value?.count ?? 0) }
            #expect(log.estimatedStoredSize() == UInt64(counted), "seed \(seed), round \(round)")
        }
        // Nothing is estimated for a run whose stored size is unknown, or beside a flush's batch.
        var spare: SortedRun? = nil
        let run = StateCut(entries: [StateCut.Entry(key: StateKey([1]), value: [2], present: true)])
            .sortedRun(reusing: &spare)
        var unknown = ChangeLog()
        unknown.append(run)
        #expect(unknown.estimatedStoredSize() == nil)
        var mixed = ChangeLog()
        mixed.append(run, stored: 10)
        var batch = WriteBatch()
        batch.put([3], [4])
        mixed.append(batch)
        #expect(mixed.estimatedStoredSize() == nil)
    }
}
