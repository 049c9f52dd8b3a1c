import Foundation
import LSMStore

/// What `restoreLatestCheckpoint` rebuilt.
public struct RestoredJobState: Sendable {
    /// The job checkpoint restored.
    public var checkpointID: UInt64
    /// Source records the checkpoint covers.
    public var sourceRecords: Int
    /// Parallelism the checkpoint was taken at (one store per subtask).
    public var parallelism: Int
    /// Seconds to restore every subtask's store (copies or links, checks, open), without the
    /// digest scan.
    public var restoreSeconds: Double
    /// The same order-independent digest over all keyed state as `JobResult.stateDigest`.
    public var stateDigest: UInt64
    /// Store entries restored.
    public var stateEntries: Int
}

extension StreamExecutionEnvironment {
    /// Restores every subtask store of the latest completed job checkpoint in
    /// `checkpointDirectory` into empty folders under `directory` (as a restart would), then
    /// computes the state digest over them and closes them. Throws when there is no completed
    /// checkpoint or a file fails its checks.
    public func restoreLatestCheckpoint(into directory: String) throws -> RestoredJobState {
        let jobStorage = try checkpoints.storage(JobLayout.jobStorage)
        guard let m = try JobRunnerSupport.latestJobCheckpoint(jobStorage, in: checkpoints) else {
            throw StreamError.checkpoint("no completed job checkpoint in \(checkpoints) to restore")
        }
        let clock = ContinuousClock()
        let start = clock.now
        var stores: [LSMStore] = []
        defer { for s in stores { try? s.close() } }
        for (i, name) in m.subtaskStorages.enumerated() {
            let storage = try checkpoints.storage(JobLayout.subtaskStorage(name))
            stores.append(
                try LSMStore.restore(
                    from: storage, checkpoint: m.id, to: "\(directory)/subtask-\(i)", options: stateBackend.options))
        }
        let elapsed = clock.now - start
        var digest: UInt64 = 0
        var entries = 0
        for store in stores {
            let it = try store.scan()
            while let (k, v) = try it.next() {
                digest = digest &+ stateEntryHash(k, v)
                entries += 1
            }
        }
        return RestoredJobState(
            checkpointID: m.id, sourceRecords: m.sourceRecords, parallelism: m.parallelism,
            restoreSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            stateDigest: digest, stateEntries: entries)
    }
}
