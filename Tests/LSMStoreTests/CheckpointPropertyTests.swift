import Foundation
import PropertyBased
import Testing
@testable import LSMStore

/// Random writes interleaved with checkpoints of random mode, retention changes,
/// compactions, reopening, and restores of a random retained checkpoint: every restored
/// store must equal the model's state at that checkpoint. Replay a failure with
/// `LSM_SEED=<seed>`; `LSM_PROPERTY_LONG=1` runs more and longer sequences.
@Suite struct CheckpointPropertyTests {
    @Test(.shrinking(false)) func restoredCheckpointsMatchTheModel() async {
        if let seed = ModelPropertyTests.fixedSeed {
            Self.check(seed: seed, steps: ModelPropertyTests.long ? 400 : 100)
            return
        }
        await propertyCheck(count: ModelPropertyTests.long ? 100 : 6, input: Gen.uint64()) { seed in
            Self.check(seed: seed, steps: ModelPropertyTests.long ? 400 : 100)
        }
    }

    static func check(seed: UInt64, steps: Int) {
        do {
            try run(seed: seed, steps: steps)
        } catch {
            Issue.record("seed \(seed): \(error) — replay with LSM_SEED=\(seed)")
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func run(seed: UInt64, steps: Int) throws {
        var rng = SeededRandom(seed: seed)
        let dir = TempDir("ckprop")
        defer { dir.cleanup() }
        var options = smallOptions()
        options.memtableSize = [8 << 10, 32 << 10].randomElement(using: &rng)!
        options.walEnabled = rng.chance(0.7)
        if rng.chance(0.5) { options.compactionStyle = .partitioned }
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"), allowLinks: rng.chance(0.8))
        var store = try LSMStore.open(at: dir.sub("db"), options: options)
        var checkpointer = try Checkpointer(
            store: store, storage: storage, retained: Int.random(in: 1...3, using: &rng))
        var model: [[UInt8]: [UInt8]] = [:]
        var modelAt: [UInt64: [[UInt8]: [UInt8]]] = [:]
        var restores = 0

        for step in 0..<steps {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<55:
                for _ in 0..<Int.random(in: 1...40, using: &rng) {
                    let k = bytes("key\(Int.random(in: 0..<300, using: &rng))")
                    if rng.chance(0.15) {
                        try store.delete(k)
                        model[k] = nil
                    } else {
                        let v = rng.bytes(Int.random(in: 0...120, using: &rng))
                        try store.put(k, v)
                        model[k] = v
                    }
                }
            case 55..<75:
                let mode: CheckpointMode = rng.chance(0.5) ? .full : .incremental
                let r = try checkpointer.checkpoint(mode: mode)
                modelAt[r.id] = model
            case 75..<80:
                checkpointer.retained = Int.random(in: 1...4, using: &rng)
            case 80..<85:
                try store.compact()
            case 85..<90:
                try store.close()
                store = try LSMStore.open(at: dir.sub("db"), options: options)
                checkpointer = try Checkpointer(store: store, storage: storage, retained: checkpointer.retained)
            default:
                let retained = checkpointer.completedCheckpoints
                guard let id = retained.randomElement(using: &rng), let expected = modelAt[id] else { break }
                restores += 1
                let target = dir.sub("restore-\(step)")
                let restored = try LSMStore.restore(from: storage, checkpoint: id, to: target, options: options)
                let got = try restored.scan().collect()
                guard got.count == expected.count, got.allSatisfy({ expected[$0.key] == $0.value }) else {
                    throw Failure(
                        description:
                            "step \(step): restore of checkpoint \(id) has \(got.count) keys, model \(expected.count), or values differ"
                    )
                }
                // Write to the restored store so it diverges; the checkpoint must stay sound.
                try restored.put(bytes("key1"), bytes("diverged"))
                try restored.compact()
                try restored.close()
                let v = try Checkpointer.verify(storage: storage, checkpoint: id)
                guard v.problems.isEmpty else {
                    throw Failure(description: "step \(step): verify \(id): \(v.problems)")
                }
                try? FileManager.default.removeItem(atPath: target)
            }
            // Invariant: the shared folder holds exactly what retained checkpoints reference.
            let referenced = Set(
                try Checkpointer.list(storage).flatMap { $0.files.map(\.name) }.filter { $0.hasPrefix("shared/") })
            guard try sharedNames(storage) == referenced else {
                throw Failure(
                    description: "step \(step): shared files differ from the references of retained checkpoints")
            }
        }
        try store.close()
        _ = restores
    }
}
