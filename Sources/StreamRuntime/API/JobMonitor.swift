import Foundation
import LSMStore
import Synchronization

/// A running job's figures, readable from any thread while it runs (Flink's web UI and REST
/// API read the same from the job manager): set `StreamExecutionEnvironment.monitor`, run the
/// job, and call `snapshot()` whenever a person or a scraper asks. The `StreamMonitoring`
/// product serves it over HTTP as Prometheus metrics, Flink-shaped JSON and a live page.
public final class JobMonitor: Sendable {
    /// What the job is doing.
    public enum Status: String, Sendable, Codable {
        /// Not started yet.
        case created = "CREATED"
        /// Processing records.
        case running = "RUNNING"
        /// Between a failed attempt and the next.
        case restarting = "RESTARTING"
        /// Ended normally (the input ended, or a stop-with-savepoint).
        case finished = "FINISHED"
        /// Ended with a failure the restart strategy did not recover from.
        case failed = "FAILED"
    }

    struct State {
        var jobID = ""
        var name = ""
        var status = Status.created
        var parallelism = 0
        var mode = CheckpointMode.incremental
        var startedAt: Date? = nil
        var endedAt: Date? = nil
        var restarts: [String] = []
        var completed: [JobCheckpointStats] = []
        var failures: [CheckpointFailure] = []
        var savepoints: [SavepointInfo] = []
        var inProgress = 0
        var stores: [LSMStore] = []
        var lastStoreStats: [StoreStats] = []
        var failure: String? = nil
        var rateSample: (at: Date, records: Int)? = nil
        var rate: Double = 0
    }

    private let state = Mutex(State())
    private let recordsIn = Atomic<Int>(0)
    /// Per subtask: records processed and emitted (added once per batch).
    private let counts = Mutex<[(records: Int, out: Int)]>([])

    /// A monitor for one job run.
    public init() {}

    /// The job's figures now.
    public func snapshot() -> JobSnapshot {
        let now = Date()
        let n = recordsIn.load(ordering: .relaxed)
        return state.withLock { s in
            // records/s over the last second or more.
            if let sample = s.rateSample {
                let dt = now.timeIntervalSince(sample.at)
                if dt >= 1 {
                    s.rate = Double(n - sample.records) / dt
                    s.rateSample = (now, n)
                }
            } else {
                s.rateSample = (now, n)
            }
            if s.status != .running { s.rate = 0 }
            if !s.stores.isEmpty { s.lastStoreStats = s.stores.map(\.stats) }
            let c = counts.withLock { $0 }
            var subtasks: [SubtaskSnapshot] = []
            for i in 0..<s.parallelism {
                let stats: StoreStats? = i < s.lastStoreStats.count ? s.lastStoreStats[i] : nil
                let counted = i < c.count ? c[i] : (0, 0)
                subtasks.append(
                    SubtaskSnapshot(index: i, recordsIn: counted.0, recordsOut: counted.1, store: stats))
            }
            return JobSnapshot(
                jobID: s.jobID, name: s.name, status: s.status, parallelism: s.parallelism, mode: s.mode,
                startedAt: s.startedAt, endedAt: s.endedAt, recordsIn: n,
                recordsOut: subtasks.reduce(0) { $0 + $1.recordsOut }, recordsInPerSecond: s.rate,
                restarts: s.restarts, checkpointsInProgress: s.inProgress, completedCheckpoints: s.completed,
                failedCheckpoints: s.failures, savepoints: s.savepoints, subtasks: subtasks, failure: s.failure)
        }
    }

    // MARK: Updates from the runner

    func jobStarted(name: String, parallelism: Int, mode: CheckpointMode) {
        var id = ""
        for _ in 0..<16 { id += String(format: "%02x", UInt8.random(in: 0...255)) }
        state.withLock {
            $0.jobID = id
            $0.name = name
            $0.parallelism = parallelism
            $0.mode = mode
            $0.startedAt = Date()
            $0.status = .running
        }
        counts.withLock { $0 = Array(repeating: (0, 0), count: parallelism) }
    }

    func attemptStarted(stores: [LSMStore]) {
        state.withLock {
            $0.stores = stores
            $0.status = .running
            $0.inProgress = 0
        }
    }

    func attemptFailed(cause: String) {
        state.withLock {
            $0.lastStoreStats = $0.stores.map(\.stats)
            $0.stores = []
            $0.restarts.append(cause)
            $0.status = .restarting
            $0.inProgress = 0
        }
    }

    func jobEnded(failure: String?) {
        state.withLock {
            if !$0.stores.isEmpty { $0.lastStoreStats = $0.stores.map(\.stats) }
            $0.stores = []
            $0.status = failure == nil ? .finished : .failed
            $0.failure = failure
            $0.endedAt = Date()
            $0.inProgress = 0
        }
    }

    func setRecordsIn(_ n: Int) { recordsIn.store(n, ordering: .relaxed) }

    func addProcessed(subtask i: Int, records: Int, emitted out: Int) {
        counts.withLock {
            guard i < $0.count else { return }
            $0[i].records += records
            $0[i].out += out
        }
    }

    func checkpointTriggered() { state.withLock { $0.inProgress += 1 } }

    func checkpointCompleted(_ stats: JobCheckpointStats) {
        state.withLock {
            $0.completed.append(stats)
            $0.inProgress = max(0, $0.inProgress - 1)
        }
    }

    func checkpointFailed(_ failure: CheckpointFailure) {
        state.withLock {
            $0.failures.append(failure)
            if failure.category != .abortedAtShutdown { $0.inProgress = max(0, $0.inProgress - 1) }
        }
    }

    func savepointCompleted(_ info: SavepointInfo) { state.withLock { $0.savepoints.append(info) } }

    func lowerBoundsMeasured(_ bounds: [UInt64: UInt64]) {
        state.withLock { s in
            for i in s.completed.indices { s.completed[i].lowerBoundBytes = bounds[s.completed[i].id] ?? 0 }
        }
    }
}

/// One subtask's figures in a `JobSnapshot`.
public struct SubtaskSnapshot: Sendable {
    /// Its index.
    public var index: Int
    /// Records it processed (Flink's `numRecordsIn`) and emitted (`numRecordsOut`), across
    /// attempts (replayed records count again).
    public var recordsIn: Int
    /// See `recordsIn`.
    public var recordsOut: Int
    /// Its store's figures (flushes, compactions, write stalls, block cache, tables), as of
    /// now or of the end of its last attempt.
    public var store: StoreStats?
}

/// A job's figures at one moment (`JobMonitor.snapshot()`).
public struct JobSnapshot: Sendable {
    /// A random 32-hex-digit id, as Flink's job ids.
    public var jobID: String
    /// The name given to `execute`.
    public var name: String
    /// What it is doing.
    public var status: JobMonitor.Status
    /// Subtasks.
    public var parallelism: Int
    /// Full or incremental checkpoints.
    public var mode: CheckpointMode
    /// When it started and ended.
    public var startedAt: Date?
    /// See `startedAt`.
    public var endedAt: Date?
    /// Records the source emitted (position over the whole job).
    public var recordsIn: Int
    /// Records the subtasks emitted.
    public var recordsOut: Int
    /// Source records per second over the last second or more (0 when not running).
    public var recordsInPerSecond: Double
    /// The cause of each restart.
    public var restarts: [String]
    /// Checkpoints triggered and not yet completed or failed.
    public var checkpointsInProgress: Int
    /// Completed checkpoints, in order.
    public var completedCheckpoints: [JobCheckpointStats]
    /// Failed checkpoints, in order, with their categories.
    public var failedCheckpoints: [CheckpointFailure]
    /// Completed savepoints.
    public var savepoints: [SavepointInfo]
    /// Per subtask.
    public var subtasks: [SubtaskSnapshot]
    /// Why the job failed, when it did.
    public var failure: String?
}
