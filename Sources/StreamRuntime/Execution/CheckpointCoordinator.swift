import Foundation
import LSMStore
import Logging

/// The job's checkpoint coordinator (Flink's `CheckpointCoordinator`, in one process): starts
/// checkpoints for the source, gathers the subtasks' acks, completes a checkpoint (the job
/// `_metadata` written last, then retention) or aborts it (a failed part, a timeout), and
/// keeps the job checkpoints in `job/` (DESIGN.md §19.5). Used by the source thread only;
/// the disk work of completing a checkpoint runs on its `CheckpointCommitter`.
final class CheckpointCoordinator {
    let env: StreamExecutionEnvironment
    let jobStorage: any CheckpointStorage
    let clock = ContinuousClock()
    /// When the job started (checkpoint trigger times are reported from it).
    let start: ContinuousClock.Instant

    /// Completed checkpoints' figures, across attempts.
    private(set) var checkpoints: [JobCheckpointStats] = []
    /// Checkpoints that failed or timed out, across attempts.
    var failedCheckpoints: Int { failures.count }
    /// Every failed checkpoint, across attempts.
    private(set) var failures: [CheckpointFailure] = []
    /// Failures since the last completed checkpoint that count against the tolerance.
    private(set) var consecutiveFailures = 0

    // Savepoints (CoordinatorSavepoints.swift).
    /// Savepoints triggered and not yet completed or failed.
    var savepointsInFlight: [SavepointInFlight] = []
    /// Completed savepoints, across attempts.
    var savepoints: [SavepointInfo] = []
    /// Savepoints that failed, across attempts.
    var failedSavepoints = 0
    var nextSavepointID: UInt64 = 1
    /// Indexes in `env.scheduledSavepoints` of the scheduled savepoints completed.
    var scheduledDone = Set<Int>()
    /// The keyed operator's id, the job's declared states, and the states of the savepoint the
    /// job started from (listed in a savepoint whose parts hold them undeclared), set by the runner.
    var operatorID = ""
    var declaredStates = DeclaredStates()
    var restoredStates: [UInt8: SavepointMetadata.State] = [:]
    var requests: SavepointRequests? = nil

    /// Writes completed checkpoints' `_metadata` and applies retention off the source thread.
    let committer = CheckpointCommitter()

    init(env: StreamExecutionEnvironment, start: ContinuousClock.Instant) throws {
        self.env = env
        self.start = start
        jobStorage = try env.checkpoints.storage(JobLayout.jobStorage)
    }

    func ms(_ d: Duration) -> Double { CheckpointCommitter.ms(d) }

    // MARK: Job checkpoints in the storage

    func latestJobCheckpoint() throws -> JobCheckpointMetadata? {
        try JobRunnerSupport.latestJobCheckpoint(jobStorage, in: env.checkpoints)
    }

    func completedJobCheckpointIDs() throws -> [UInt64] { try JobCheckpoints.completedIDs(jobStorage) }

    func removeJobCheckpoint(_ id: UInt64) throws { try JobCheckpoints.remove(id, from: jobStorage) }

    /// Before an attempt that resumes from `restored` (nil: from the beginning): job
    /// checkpoints after it belong to the failed attempt, and incomplete ones are leftovers.
    func removeCheckpoints(after restored: JobCheckpointMetadata?) throws {
        for id in try completedJobCheckpointIDs() where id > (restored?.id ?? 0) { try removeJobCheckpoint(id) }
        for name in try jobStorage.list("") where CheckpointLayout.id(ofFolder: name) != nil {
            if try jobStorage.size("\(name)/_metadata") == nil {
                for f in try jobStorage.list(name) { try jobStorage.delete("\(name)/\(f)") }
                try jobStorage.delete(name)
            }
        }
    }

    /// Fills in each completed checkpoint's lower bound (measured by the subtasks afterwards).
    func attachLowerBounds(_ bounds: [UInt64: UInt64]) {
        for i in checkpoints.indices { checkpoints[i].lowerBoundBytes = bounds[checkpoints[i].id] ?? 0 }
    }

    // MARK: Triggering

    struct InFlight {
        let id: UInt64
        let injectedAt: ContinuousClock.Instant
        let sourcePosition: [UInt8]
        let sourceRecords: Int
        var acks: [Ack] = []
        /// Every part is in and the committer is writing its `_metadata`.
        var committing = false
    }
    /// Checkpoints triggered and not yet completed or aborted, oldest first.
    private(set) var inFlight: [InFlight] = []
    /// Most checkpoints in flight at once so far (across attempts).
    private(set) var peakInFlight = 0
    private var lastCompletedAt: ContinuousClock.Instant? = nil
    private var nextCheckpointID: UInt64 = 1

    /// How many checkpoints may be in flight at once: as in Flink, a minimum pause between
    /// checkpoints implies one at a time.
    var maxConcurrent: Int { env.checkpointing.minPauseMilliseconds > 0 ? 1 : env.checkpointing.maxConcurrent }

    /// Starts an attempt that resumes after checkpoint `restored`: ids go on from it.
    func beginAttempt(resumingFrom restored: JobCheckpointMetadata?) {
        // Commits of an earlier attempt are recorded before its in-flight list is dropped.
        committer.drain()
        recordCommits(state: nil)
        consecutiveFailures = 0
        nextCheckpointID = (restored?.id ?? 0) + 1
        inFlight = []
    }

    /// Whether the minimum pause since the last checkpoint ended has passed.
    var pauseElapsed: Bool {
        guard let last = lastCompletedAt else { return true }
        return ms(clock.now - last) >= Double(env.checkpointing.minPauseMilliseconds)
    }

    /// Records a new checkpoint as in flight, with the source's position after the last
    /// record sent; returns its id and start time (the source then sends the barriers).
    func trigger(sourcePosition: [UInt8], sourceRecords: Int) -> (id: UInt64, at: ContinuousClock.Instant) {
        let id = nextCheckpointID
        nextCheckpointID += 1
        let now = clock.now
        inFlight.append(InFlight(id: id, injectedAt: now, sourcePosition: sourcePosition, sourceRecords: sourceRecords))
        env.monitor?.checkpointTriggered()
        peakInFlight = max(peakInFlight, inFlight.count)
        return (id, now)
    }

    // MARK: Acks, completion and abort

    /// Gathers subtask acks; completes, fails or times out the checkpoints in flight, oldest
    /// first. With `waitUntilInFlightAtMost: n` it polls until at most n are left in flight
    /// (or the attempt failed); with nil it returns at once.
    func collectAcks(state: AttemptState, checkpointers: [Checkpointer], waitUntilInFlightAtMost limit: Int?) {
        while true {
            recordCommits(state: state)
            state.lock.lock()
            let acks = state.acks
            state.acks.removeAll()
            state.lock.unlock()
            if let monitor = env.monitor, !acks.isEmpty {
                state.lock.lock()
                let bounds = state.lowerBounds
                state.lock.unlock()
                monitor.lowerBoundsMeasured(bounds)
            }
            for a in acks {
                if a.isSavepoint {
                    if let i = savepointsInFlight.firstIndex(where: { $0.id == a.id }) {
                        savepointsInFlight[i].acks.append(a)
                    }
                    continue
                }
                if let i = inFlight.firstIndex(where: { $0.id == a.id }) {
                    inFlight[i].acks.append(a)
                } else if a.report != nil {
                    try? checkpointers[a.subtask].discard(a.id)  // a late part of a checkpoint already given up
                }
            }
            // A checkpoint whose last part finished after its timeout is aborted too, even if
            // the acks are only looked at later (the end of the input waits for all of them).
            let timeout = Double(env.checkpointing.timeoutMilliseconds)
            for f in inFlight where !f.committing {
                if f.acks.count == env.parallelism, let last = f.acks.map(\.at).max(),
                    ms(last - f.injectedAt) <= timeout
                {
                    completeCheckpoint(f, checkpointers: checkpointers, state: state)
                } else if ms(clock.now - f.injectedAt) > timeout {
                    abortInFlight(f, checkpointers: checkpointers, state: state)
                }
            }
            for f in savepointsInFlight {
                if f.acks.count == env.parallelism {
                    completeSavepoint(f)
                } else if ms(clock.now - f.injectedAt) > timeout {
                    failSavepoint(f, StreamError.savepoint("timed out after \(Int(timeout)) ms"))
                }
            }
            guard let limit, inFlight.count > limit, state.failed == nil else { return }
            Thread.sleep(forTimeInterval: 0.0005)
        }
    }

    /// The subtasks' and the job's requests together; nil when no storage counts any.
    static func requests(subtasks: [StorageRequestStats], job: StorageRequestStats?) -> StorageRequestStats? {
        if subtasks.isEmpty && job == nil { return nil }
        return (subtasks + [job ?? StorageRequestStats()]).reduce(StorageRequestStats(), +)
    }

    func abortInFlight(_ f: InFlight, checkpointers: [Checkpointer], state: AttemptState) {
        let failed = f.acks.first { $0.error != nil }
        recordFailure(
            id: f.id, injectedAt: f.injectedAt,
            category: failed?.errorCategory ?? (failed == nil ? .timeout : .storageIO),
            message: failed.flatMap(\.error)
                ?? "not complete after \(env.checkpointing.timeoutMilliseconds) ms (\(f.acks.count) of \(env.parallelism) parts)",
            state: state)
        for a in f.acks where a.report != nil { try? checkpointers[a.subtask].discard(a.id) }
        inFlight.removeAll { $0.id == f.id }
        lastCompletedAt = clock.now
    }

    /// Records a failed checkpoint; past `tolerableFailedCheckpoints` consecutive ones that
    /// count, fails the attempt (the restart strategy decides what follows), naming the last
    /// failures' causes.
    func recordFailure(
        id: UInt64, injectedAt: ContinuousClock.Instant, category: CheckpointFailureCategory, message: String,
        state: AttemptState?
    ) {
        failures.append(
            CheckpointFailure(
                id: id, category: category, message: message, triggerMilliseconds: ms(injectedAt - start),
                failedMilliseconds: ms(clock.now - start)))
        env.logger.warning("checkpoint \(id) failed (\(category.rawValue)): \(message)")
        if let f = failures.last { env.monitor?.checkpointFailed(f) }
        guard category != .abortedAtShutdown else { return }
        consecutiveFailures += 1
        if let limit = env.checkpointing.tolerableFailedCheckpoints, consecutiveFailures > limit, let state {
            let last = failures.suffix(min(consecutiveFailures, 3)).map {
                "checkpoint \($0.id): \($0.category.rawValue): \($0.message)"
            }
            state.fail(
                StreamError.checkpoint(
                    "\(consecutiveFailures) consecutive checkpoint failures, more than the \(limit) tolerated; last: "
                        + last.joined(separator: "; ")))
        }
    }

    /// At the end of an attempt that failed: the checkpoints being committed finish (each
    /// completes or fails as its `_metadata` write does), and the others in flight are aborted.
    func abortAtShutdown(_ cause: String) {
        committer.drain()
        recordCommits(state: nil)
        for f in inFlight {
            recordFailure(
                id: f.id, injectedAt: f.injectedAt, category: .abortedAtShutdown, message: cause, state: nil)
        }
        inFlight = []
    }

    /// Hands a checkpoint whose parts are all in to the committer (a failed part aborts it
    /// instead); it stays in flight until `recordCommits` takes the outcome.
    func completeCheckpoint(_ f: InFlight, checkpointers: [Checkpointer], state: AttemptState) {
        if f.acks.contains(where: { $0.report == nil }) {
            inFlight.removeAll { $0.id == f.id }
            lastCompletedAt = clock.now
            abortInFlight(f, checkpointers: checkpointers, state: state)
            return
        }
        guard let i = inFlight.firstIndex(where: { $0.id == f.id }) else { return }
        inFlight[i].committing = true
        committer.submit(
            CheckpointCommitter.Commit(
                id: f.id, injectedAt: f.injectedAt, sourcePosition: f.sourcePosition, sourceRecords: f.sourceRecords,
                acks: f.acks, parallelism: env.parallelism, maxParallelism: env.maxParallelism,
                retained: env.checkpointing.retained, mode: env.checkpointing.mode,
                triggerMilliseconds: ms(f.injectedAt - start), jobStorage: jobStorage, checkpointers: checkpointers,
                location: "\(env.checkpoints)"))
    }

    /// Records the checkpoints the committer has finished: completed (figures, monitor, log)
    /// or failed (its `_metadata` could not be written), and no longer in flight.
    func recordCommits(state: AttemptState?) {
        for (id, result) in committer.takeFinished() {
            guard let f = inFlight.first(where: { $0.id == id }) else { continue }
            inFlight.removeAll { $0.id == id }
            lastCompletedAt = clock.now
            switch result {
            case .success(let stats):
                checkpoints.append(stats)
                consecutiveFailures = 0
                env.monitor?.checkpointCompleted(stats)
                env.logger.info(
                    "checkpoint \(stats.id) completed",
                    metadata: [
                        "mode": "\(stats.mode.rawValue)", "total_ms": "\(Int(stats.totalMilliseconds))",
                        "sync_ms": "\(Int(stats.syncMilliseconds))", "async_ms": "\(Int(stats.asyncMilliseconds))",
                        "bytes_written": "\(stats.bytesWritten)", "full_size": "\(stats.fullSize)",
                    ])
            case .failure(let error):
                recordFailure(
                    id: f.id, injectedAt: f.injectedAt, category: CheckpointFailureCategory.ofStorageError(error),
                    message: "\(error)", state: state)
            }
        }
    }
}
