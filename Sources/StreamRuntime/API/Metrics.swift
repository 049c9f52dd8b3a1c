import Glibc
import LSMStore

/// One checkpoint of the whole job.
public struct JobCheckpointStats: Sendable {
    /// Checkpoint id.
    public var id: UInt64
    /// Full or incremental.
    public var mode: CheckpointMode
    /// Milliseconds since the job started when the barrier was injected.
    public var triggerMilliseconds: Double
    /// Longest wait from injection to a subtask receiving the barrier (alignment).
    public var alignmentMilliseconds: Double
    /// Longest synchronous phase among subtasks: the pause at the barrier that starts the
    /// state cache's cut.
    public var syncMilliseconds: Double
    /// Longest time a subtask spent capturing its cut (slices between records, and any
    /// remainder captured at once): processing time the checkpoint costs besides the pause.
    public var captureMilliseconds: Double
    /// Longest asynchronous phase among subtasks.
    public var asyncMilliseconds: Double
    /// From injection until the job metadata was written.
    public var totalMilliseconds: Double
    /// Bytes written by this checkpoint (the delta), summed over subtasks, plus job metadata.
    public var bytesWritten: UInt64
    /// Bytes a restore needs, summed over subtasks.
    public var fullSize: UInt64
    /// Files uploaded and reused, summed.
    public var filesNew: Int
    /// See `filesNew`.
    public var filesReused: Int
    /// Stored size of the distinct state changed since the previous checkpoint (summed):
    /// what an ideal incremental checkpoint would write. 0 when not measured.
    public var lowerBoundBytes: UInt64
    /// Checkpoint storage on disk afterwards, each inode once.
    public var storageBytesOnDisk: UInt64
    /// Per subtask reports.
    public var subtasks: [CheckpointReport]
    /// Requests to the checkpoint storage (an object store's bill): every subtask's, and the
    /// job's own (its `_metadata`, listings, retention); nil for a folder. Exact with one
    /// checkpoint in flight at a time; with several, requests made while they overlap may be
    /// counted in more than one.
    public var requests: StorageRequestStats? = nil
    /// Source records the checkpoint covers (its barrier's position).
    public var sourceRecords = 0
}

/// Why a checkpoint failed (the reasons Flink's checkpoint statistics distinguish).
public enum CheckpointFailureCategory: String, Sendable, CaseIterable, Codable {
    /// Not complete within `CheckpointConfig.timeoutMilliseconds`.
    case timeout
    /// The checkpoint storage failed a write, a read or a listing.
    case storageIO = "storage I/O error"
    /// The checkpoint storage is full (ENOSPC, EDQUOT).
    case storageFull = "storage full"
    /// A subtask could not take its part (its cut could not be written to its store).
    case declined = "declined by a subtask"
    /// In flight when its attempt ended (a failure elsewhere, or the job stopping); not
    /// counted against `tolerableFailedCheckpoints`, as in Flink.
    case abortedAtShutdown = "aborted at shutdown"

    /// A Prometheus-style label value.
    public var label: String {
        switch self {
        case .timeout: return "timeout"
        case .storageIO: return "storage_io"
        case .storageFull: return "storage_full"
        case .declined: return "declined"
        case .abortedAtShutdown: return "aborted_at_shutdown"
        }
    }

    /// The category of a storage error: full for ENOSPC and EDQUOT, otherwise I/O.
    static func ofStorageError(_ error: Error) -> CheckpointFailureCategory {
        if case let .io(_, _, code) = error as? LSMError, code == ENOSPC || code == EDQUOT { return .storageFull }
        return .storageIO
    }
}

/// One failed checkpoint.
public struct CheckpointFailure: Sendable {
    /// Checkpoint id.
    public var id: UInt64
    /// Why it failed.
    public var category: CheckpointFailureCategory
    /// The first error's message (or what timed out).
    public var message: String
    /// Milliseconds since the job started when it was triggered, and when it failed.
    public var triggerMilliseconds: Double
    /// See `triggerMilliseconds`.
    public var failedMilliseconds: Double
}

/// What a finished job did.
public struct JobResult: Sendable {
    /// The job's name.
    public var name: String
    /// Records the source produced (all attempts; records replayed after a restore count again).
    public var recordsIn: Int
    /// Records processed by the keyed operator in the attempt that finished (from its restored
    /// checkpoint on).
    public var recordsProcessed: Int
    /// Records written to the sinks by the attempt that finished (earlier attempts' output
    /// before a restart is not counted; sinks are not transactional).
    public var recordsOut: Int
    /// The source's counters at the end (for example rows dropped).
    public var sourceCounters: [String: Int]
    /// Wall time from start to end, including restarts.
    public var seconds: Double
    /// Restarts after failures: the cause, the restore time and the job checkpoint restored
    /// (nil: none had completed, the restart began from the start) of each.
    public var restarts: [(cause: String, restoreSeconds: Double, restoredCheckpoint: UInt64?)]
    /// Completed checkpoints, in order.
    public var checkpoints: [JobCheckpointStats]
    /// Checkpoints that failed or timed out.
    public var failedCheckpoints: Int
    /// Most checkpoints in flight at once (at most `CheckpointConfig.maxConcurrent`).
    public var peakConcurrentCheckpoints = 0
    /// An order-independent digest of all keyed state at the end: equal for equal state,
    /// whatever the parallelism or the failures on the way. Entries of states with a time to
    /// live that have expired by the end are left out.
    public var stateDigest: UInt64
    /// Keys (store entries) in the final state.
    public var stateEntries: Int
    /// Every failed checkpoint, in order (`failedCheckpoints` of them).
    public var checkpointFailures: [CheckpointFailure] = []
    /// Savepoints the job took (`scheduledSavepoints`, `JobClient`), in order.
    public var savepoints: [SavepointInfo] = []
    /// Savepoints that failed.
    public var failedSavepoints = 0
    /// Whether the job ended with a stop-with-savepoint (its input was cut there).
    public var stoppedWithSavepoint = false
    /// Write-backs of dirty state between checkpoints (`StateBackendConfig.writeBacksPerInterval`)
    /// in the attempt that finished, all subtasks together.
    public var writeBacks = 0

    /// Records per second over the whole run.
    public var recordsPerSecond: Double { seconds > 0 ? Double(recordsIn) / seconds : 0 }
}
