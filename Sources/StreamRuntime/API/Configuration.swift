import LSMStore

/// When and how the job checkpoints.
public struct CheckpointConfig: Sendable {
    /// What triggers a checkpoint.
    public enum Trigger: Sendable, Equatable {
        /// Every N source records.
        case everyRecords(Int)
        /// Every N milliseconds of wall time.
        case intervalMilliseconds(Int)
        /// Never (no checkpoints).
        case disabled
    }

    /// The trigger. Default: every 50,000 records (the standard workload's setting).
    public var trigger: Trigger = .everyRecords(50_000)
    /// Full or incremental. Default incremental.
    public var mode: CheckpointMode = .incremental
    /// Least time between the end of one checkpoint and the start of the next. Default 0.
    /// As in Flink, a positive pause implies one checkpoint at a time, whatever
    /// `maxConcurrent` says.
    public var minPauseMilliseconds = 0
    /// A checkpoint not completed after this long is aborted and counted as failed. Default 60 s.
    public var timeoutMilliseconds = 60_000
    /// Most checkpoints in flight at once. Default 1, as Flink. A subtask takes its part of
    /// each at its barrier and uploads them one after another, in order, so they complete in
    /// order; more than one lets a new checkpoint start while a slow one is still uploading.
    public var maxConcurrent = 1
    /// Completed checkpoints kept. Default 1, as Flink.
    public var retained = 1
    /// What a trigger that comes due while `maxConcurrent` checkpoints are in flight does.
    /// false (the default, as Flink): records keep flowing and the checkpoint starts as soon
    /// as the one in flight completes, so slow checkpoints are taken less often. true: the
    /// source waits for the one in flight, so record-count triggers cut at exact multiples
    /// of N (the same cuts in every run and mode) at the price of stalling the job.
    public var waitForInFlightCheckpoint = false
    /// Consecutive checkpoint failures the job tolerates (Flink's
    /// `tolerable-failed-checkpoints`): one more fails the job over through its restart
    /// strategy, naming the last failures' causes. A completed checkpoint resets the count;
    /// checkpoints aborted because their attempt ended do not count. nil (the default): no
    /// limit, the job goes on whatever fails (Flink's own default is 0, none tolerated).
    public var tolerableFailedCheckpoints: Int? = nil
    /// Take a final checkpoint when the input ends (as Flink does for bounded input since
    /// 1.15), so the latest checkpoint holds the job's final state. Default true.
    public var checkpointAtEnd = true

    /// Defaults.
    public init() {}

    /// The settings the original's advice recommends for production: a checkpoint every 10 s
    /// of wall time, at least 5 s between the end of one and the start of the next, a 60 s
    /// timeout, one at a time, incremental, and 3 consecutive failures tolerated before the
    /// job fails over (failures are watched, never ignored: `JobResult.checkpointFailures`
    /// and the monitoring endpoint report each one).
    public static var production: CheckpointConfig {
        var c = CheckpointConfig()
        c.trigger = .intervalMilliseconds(10_000)
        c.minPauseMilliseconds = 5_000
        c.timeoutMilliseconds = 60_000
        c.maxConcurrent = 1
        c.mode = .incremental
        c.tolerableFailedCheckpoints = 3
        return c
    }
}

/// What happens after a failure.
public enum RestartStrategy: Sendable, Equatable {
    /// Fail the job at once.
    case none
    /// Restore from the latest completed checkpoint and go on, at most `attempts` times,
    /// waiting `delayMilliseconds` before each (Flink's `fixed_delay_restart(3, 3000)`).
    case fixedDelay(attempts: Int, delayMilliseconds: Int)
}

/// Where keyed state lives: one LSMStore per subtask under `directory`.
public struct StateBackendConfig: Sendable {
    /// Parent folder of the subtasks' stores.
    public var directory: String
    /// Store options (compression, memtable size, block cache, compaction style...).
    public var options: Options
    /// Most entries kept in each subtask's write-back cache in front of the store.
    public var cacheEntries = 10_000_000
    /// Memory budget of each subtask's write-back cache: keys, values and about 100 bytes of
    /// bookkeeping per entry. The default, 256 MiB, is half of what Flink's default managed
    /// memory (a fraction of 0.4) gives a task manager's RocksDB backends. Entries are
    /// evicted as new ones are admitted; a value that grows in place may pass the budget
    /// by its growth until then.
    public var cacheBytes = 256 << 20
    /// Write-backs of the cache's dirty entries between two checkpoints (0: none). Each one
    /// takes the entries dirty at that moment as a cut does (copy-on-write, between records)
    /// and ingests them into the store as tables on the subtask's upload thread, so a
    /// barrier's cut holds only what changed since the last one and the checkpoint waits
    /// for less: RocksDB's background memtable flushes, for a write-back cache. They are
    /// spread over the records the last checkpoint interval took; a key updated again after
    /// its write-back is written again. Default 3 (what it changes: docs/BENCHMARKS.md).
    public var writeBacksPerInterval = 3
    /// Fewest dirty entries a write-back takes (smaller sets wait for the barrier).
    var writeBackMinimumEntries = 1024

    /// A backend in `directory`. The defaults suit checkpointed state: WAL off (a job
    /// recovers from its checkpoints), 32 MiB memtable, partitioned compaction, 8 MiB
    /// target files (a quarter as many table files to create, copy into full checkpoints
    /// and delete as the store's 2 MiB default), and the compaction thread's priority
    /// lowered by 10 (nice), so a checkpoint's upload and the subtask win the CPU when both
    /// want it (what each changes: docs/BENCHMARKS.md, store tuning).
    public init(directory: String, options: Options? = nil) {
        self.directory = directory
        var o = Options()
        o.walEnabled = false
        o.memtableSize = 32 << 20
        o.compactionStyle = .partitioned
        o.targetFileSize = 8 << 20
        o.compactionPriorityReduction = 10
        self.options = options ?? o
    }
}

/// Failures injected to test recovery.
public struct FailureInjection: Sendable {
    /// Fail when the keyed operator processes the record with this source index (counted
    /// from 1 over the whole job), once.
    public var atRecord: Int?
    /// Fail at random records with this probability each (e.g. 1e-5), at most `maxFailures`
    /// times and at most once per attempt (so each failure causes its own restart).
    public var randomProbability: Double = 0
    /// Cap on random failures.
    public var maxFailures = 1
    /// Seed of the random failures.
    public var seed: UInt64 = 1

    /// No failures.
    public init() {}

    /// Fail once at record `n`.
    public static func atRecord(_ n: Int) -> FailureInjection {
        var f = FailureInjection()
        f.atRecord = n
        return f
    }
}
