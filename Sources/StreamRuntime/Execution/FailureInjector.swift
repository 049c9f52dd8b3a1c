import Foundation
import LSMStore

/// Injects the failures `FailureInjection` asks for (for tests and the Bench): once at one
/// record in the whole job, and at random records with a probability, at most `maxFailures`
/// times and once per attempt (other subtasks may still be running when one fails; a second
/// failure in the same attempt would cause no restart of its own). The random draws are a
/// splitmix64 stream from the configured seed, so a run can be replayed. Shared by the
/// subtask threads.
final class FailureInjector: @unchecked Sendable {
    let config: FailureInjection
    private let lock = NSLock()
    private var atRecordDone = false
    private var randomFailures = 0
    private var rng: SplitMix64

    init(_ config: FailureInjection) {
        self.config = config
        rng = SplitMix64(seed: config.seed)
    }

    /// Whether the record with source index `index` is the one to fail at (true once).
    func failsAtRecord(_ index: Int) -> Bool {
        guard let n = config.atRecord, index == n else { return false }
        lock.lock()
        defer { lock.unlock() }
        if atRecordDone { return false }
        atRecordDone = true
        return true
    }

    /// Whether to fail at this record at random (see the type's description).
    func failsRandomly(state: AttemptState) -> Bool {
        guard config.randomProbability > 0 else { return false }
        lock.lock()
        defer { lock.unlock() }
        guard randomFailures < config.maxFailures, !state.randomFailureInjected else { return false }
        let z = rng.next()
        guard Double(z >> 11) * 0x1p-53 < config.randomProbability else { return false }
        randomFailures += 1
        state.randomFailureInjected = true
        return true
    }
}
