import Foundation
import LSMStore
import Testing

@testable import StreamRuntime

/// The source's batches (`RecordBatch`): every column reads back what was appended, past the
/// initial room, and the keys and records it held are released with it. Seeded (`LSM_SEED`
/// replays one).
@Suite struct RecordBatchTests {
    final class Payload: Sendable {
        let n: Int
        init(_ n: Int) { self.n = n }
    }

    struct Weak {
        weak var value: Payload?
    }

    @Test func columnsReadBackAndRelease() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        var watched: [Weak] = []
        do {
            let count = 1 + Int(rng.next() % 700)
            let batch = RecordBatch<String, Payload>(capacity: 1 + Int(rng.next() % 8))
            var model: [(StateKey, Int, String, Int)] = []
            for i in 0..<count {
                let key = StateKey(Array("k\(rng.next() % 1000)".utf8))
                let group = Int(rng.next() % 128)
                let value = "value-\(rng.next())"
                let record = Payload(i)
                watched.append(Weak(value: record))
                batch.append(key: key, group: group, value: value, record: record, index: i * 3)
                model.append((key, group, value, i * 3))
            }
            #expect(batch.count == count, "seed \(seed)")
            for i in 0..<count {
                #expect(batch.keys[i] == model[i].0, "seed \(seed), record \(i)")
                #expect(batch.groups[i] == model[i].1, "seed \(seed), record \(i)")
                #expect(batch.value(i) == model[i].2, "seed \(seed), record \(i)")
                #expect(batch.record(i).n == i, "seed \(seed), record \(i)")
                #expect(batch.indexes[i] == model[i].3, "seed \(seed), record \(i)")
            }
            #expect(watched.allSatisfy { $0.value != nil }, "the batch holds its records")
        }
        #expect(watched.allSatisfy { $0.value == nil }, "seed \(seed): records outlived their batch")
    }
}
