import Foundation
import LSMStore

/// Finishes completed checkpoints off the source thread: writes each job `_metadata` (made
/// durable), applies retention (the job checkpoints and subtask parts beyond `retained`) and
/// measures the storage, one checkpoint after another in trigger order, on a serial queue of
/// its own (Flink's coordinator runs apart from its sources too).
///
/// The coordinator stays single-threaded: it hands over a `Commit` (everything the work
/// needs, copied), keeps the checkpoint in flight meanwhile, and takes the outcomes back
/// with `takeFinished()` on the source thread, where it records them. So the source keeps
/// sending records while the disk syncs and deletes, and a checkpoint still counts as in
/// flight (for the most in flight at once, the minimum pause, the end of the input) until
/// its `_metadata` is durable.
final class CheckpointCommitter: @unchecked Sendable {
    /// What completing one checkpoint needs.
    struct Commit: @unchecked Sendable {
        let id: UInt64
        let injectedAt: ContinuousClock.Instant
        let sourcePosition: [UInt8]
        let sourceRecords: Int
        let acks: [Ack]
        let parallelism: Int
        let maxParallelism: Int
        let retained: Int
        let mode: CheckpointMode
        let triggerMilliseconds: Double
        let jobStorage: any CheckpointStorage
        let checkpointers: [Checkpointer]
        let location: String
    }

    private let queue = DispatchQueue(label: "checkpoint-commit")
    private let lock = NSLock()
    private var finished: [(id: UInt64, result: Result<JobCheckpointStats, Error>)] = []

    /// Starts finishing `commit` after those handed over before it.
    func submit(_ commit: Commit) {
        queue.async { [self] in
            let result = Result { try CheckpointCommitter.finish(commit) }
            lock.lock()
            finished.append((commit.id, result))
            lock.unlock()
        }
    }

    /// The outcomes of the commits finished since the last call, in order.
    func takeFinished() -> [(id: UInt64, result: Result<JobCheckpointStats, Error>)] {
        lock.lock()
        defer { lock.unlock() }
        let done = finished
        finished.removeAll()
        return done
    }

    /// Waits until every commit handed over has finished.
    func drain() { queue.sync {} }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Writes the job `_metadata` (created exclusively, then synced), applies retention and
    /// returns the checkpoint's figures, its total time ending when the metadata is durable.
    static func finish(_ c: Commit) throws -> JobCheckpointStats {
        let clock = ContinuousClock()
        let p = c.parallelism
        // The job's own requests: its `_metadata`, listings and retention, in the job storage
        // and (retention, sizes) in the subtasks' storages.
        let storages: [any CheckpointStorage] = [c.jobStorage] + c.checkpointers.map(\.storage)
        let requestsBefore = storages.map { $0.requestStats() }
        let meta = JobCheckpointMetadata(
            id: c.id, parallelism: p, maxParallelism: c.maxParallelism, sourcePosition: c.sourcePosition,
            sourceRecords: c.sourceRecords,
            subtaskStorages: (0..<p).map { JobLayout.subtaskStorageName(parallelism: p, subtask: $0) },
            createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        let bytes = try meta.encode()
        // Created exclusively: another job writing into the same folder cannot replace it.
        guard try c.jobStorage.createExclusively(CheckpointLayout.metadata(c.id), bytes) else {
            throw StreamError.checkpoint("job checkpoint \(c.id) was created by another writer in \(c.location)")
        }
        try c.jobStorage.sync("")
        let total = ms(clock.now - c.injectedAt)
        // Retention: keep the newest `retained` job checkpoints and their subtask parts.
        let ids = try JobCheckpoints.completedIDs(c.jobStorage)
        for old in ids.dropLast(c.retained) {
            try JobCheckpoints.remove(old, from: c.jobStorage)
            for cp in c.checkpointers where cp.completedCheckpoints.contains(old) { try cp.discard(old) }
        }
        let reports = c.acks.sorted { $0.subtask < $1.subtask }.compactMap(\.report)
        var storage: UInt64 = try c.jobStorage.bytesOnDisk()
        for cp in c.checkpointers { storage += (try? cp.storage.bytesOnDisk()) ?? 0 }
        var stats = JobCheckpointStats(
            id: c.id, mode: c.mode, triggerMilliseconds: c.triggerMilliseconds,
            alignmentMilliseconds: c.acks.map { ms($0.alignment) }.max() ?? 0,
            syncMilliseconds: c.acks.map { ms($0.cacheFlush) }.max() ?? 0,
            captureMilliseconds: c.acks.map { ms($0.cutCapture) }.max() ?? 0,
            asyncMilliseconds: c.acks.map {
                ms($0.cutApply + ($0.report.map { $0.syncDuration + $0.asyncDuration } ?? .zero))
            }.max() ?? 0,
            totalMilliseconds: total,
            bytesWritten: reports.reduce(0) { $0 + $1.bytesWritten } + UInt64(bytes.count),
            fullSize: reports.reduce(0) { $0 + $1.fullSize } + UInt64(bytes.count),
            filesNew: reports.reduce(0) { $0 + $1.filesNew },
            filesReused: reports.reduce(0) { $0 + $1.filesReused },
            lowerBoundBytes: 0, storageBytesOnDisk: storage, subtasks: reports,
            requests: CheckpointCoordinator.requests(
                subtasks: reports.compactMap(\.requests),
                job: zip(storages, requestsBefore).compactMap { storage, before in
                    before.flatMap { storage.requestStats()?.since($0) }
                }.reduce(nil) { ($0 ?? StorageRequestStats()) + $1 }))
        stats.sourceRecords = c.sourceRecords
        return stats
    }
}

/// The job checkpoints in the job storage, for the coordinator and its committer.
enum JobCheckpoints {
    /// Ids of the job checkpoints whose `_metadata` exists, oldest first.
    static func completedIDs(_ storage: any CheckpointStorage) throws -> [UInt64] {
        try storage.list("").compactMap { n -> UInt64? in
            guard let id = CheckpointLayout.id(ofFolder: n) else { return nil }
            return try storage.size(CheckpointLayout.metadata(id)) != nil ? id : nil
        }.sorted()
    }

    /// Removes job checkpoint `id`: its `_metadata` first (from then on it reads as
    /// incomplete), then the rest of its folder.
    static func remove(_ id: UInt64, from storage: any CheckpointStorage) throws {
        let folder = CheckpointLayout.folder(id)
        try storage.delete(CheckpointLayout.metadata(id))
        for name in try storage.list(folder) { try storage.delete("\(folder)/\(name)") }
        try storage.delete(folder)
    }
}
