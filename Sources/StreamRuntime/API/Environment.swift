import Foundation
import LSMStore
import Logging

/// The job's settings, in the manner of Flink's StreamExecutionEnvironment:
///
/// ```swift
/// let env = StreamExecutionEnvironment(stateDirectory: "/tmp/state", checkpointDirectory: "/tmp/chk")
/// env.parallelism = 2
/// env.checkpointing.trigger = .everyRecords(50_000)
/// env.checkpointing.mode = .incremental
/// env.restartStrategy = .fixedDelay(attempts: 3, delayMilliseconds: 3000)
/// let job = env.fromSource { GeneratorSource(count: 1000) { i in i } }
///     .keyBy(codec: Int64Codec()) { Int64($0 % 10) }
///     .process { SumPerKey() }
///     .sink { _ in CountingSink(counter: counter) }
/// let result = try env.execute(job, name: "Incremental Checkpoint Test")
/// ```
public final class StreamExecutionEnvironment: @unchecked Sendable {
    /// Parallel keyed subtasks (each with its own store and thread). Default 1.
    public var parallelism = 1
    /// Key groups: the most subtasks state can be split across. Default 128, as Flink.
    public var maxParallelism = 128
    /// Checkpointing. Default: incremental, every 50,000 records, retain 1.
    public var checkpointing = CheckpointConfig()
    /// Where keyed state lives.
    public var stateBackend: StateBackendConfig
    /// Folder of the checkpoint storage (unless `checkpointLocation` is set).
    public var checkpointDirectory: String
    /// Where checkpoints go when not in `checkpointDirectory`: another storage, such as an S3
    /// bucket (`CheckpointLocation`). Default nil: the folder.
    public var checkpointLocation: CheckpointLocation? = nil

    /// The checkpoint location in use.
    var checkpoints: CheckpointLocation { checkpointLocation ?? .folder(checkpointDirectory) }
    /// What happens after a failure. Default `.none`.
    public var restartStrategy: RestartStrategy = .none
    /// Failures to inject (tests, demonstrations).
    public var failureInjection = FailureInjection()
    /// Records per batch handed from the source to a subtask. Default 256.
    public var batchSize = 256
    /// A partial batch waits at most this long before it is handed over (Flink's buffer
    /// timeout), so a slow source's records are processed promptly. Default 100 ms.
    public var bufferTimeoutMilliseconds = 100
    /// Batches queued between the source and each subtask at most (Flink's buffers per
    /// channel). A barrier waits behind every queued record, so this bounds the checkpoint's
    /// alignment: at most `batchesInFlight × batchSize` records. Default 8.
    public var batchesInFlight = 8
    /// Where the job logs checkpoints, failures and restarts (swift-log). Default: a logger
    /// labelled "StreamRuntime" at the level its bootstrap chose.
    public var logger = Logger(label: "StreamRuntime")
    /// Start from the latest completed checkpoint in `checkpointDirectory` (at this
    /// environment's parallelism, which may differ from the checkpoint's) instead of from
    /// the beginning; as Flink's `-s` savepoint path. Default false: a new job clears the
    /// folder first.
    public var resumeFromLatestCheckpoint = false
    /// Receives the job's figures while it runs (`JobMonitor`; the `StreamMonitoring`
    /// product serves them over HTTP). Default nil.
    public var monitor: JobMonitor? = nil
    /// Savepoints to take at given source positions (a `JobClient` from `executeAsync`
    /// takes them at any time). Default none.
    public var scheduledSavepoints: [ScheduledSavepoint] = []
    /// Start the job from a savepoint: its state (at this environment's parallelism, store
    /// options and compaction style, whatever the savepoint's were) and its source position.
    /// A restart before the job's first checkpoint starts from it again. Ignored when
    /// `resumeFromLatestCheckpoint` is set. Default nil.
    public var savepointRestore: SavepointRestoreSettings? = nil
    /// Where state TTL's processing time comes from (`StateTtlConfig`). Default: the wall
    /// clock.
    public var ttlTimeProvider = TtlTimeProvider.system
    /// Compute each checkpoint's lower bound (stored size of the distinct state changed since
    /// the previous one). Default true.
    public var measureLowerBound = true

    /// An environment keeping state under `stateDirectory` and checkpoints under
    /// `checkpointDirectory`.
    public init(stateDirectory: String, checkpointDirectory: String) {
        self.stateBackend = StateBackendConfig(directory: stateDirectory)
        self.checkpointDirectory = checkpointDirectory
    }

    /// A stream reading from the source `make` creates (called once per attempt).
    public func fromSource<S: StreamSource>(_ make: @escaping @Sendable () -> S) -> DataStream<S, S.Output> {
        DataStream(makeSource: make, transform: { value, emit in try emit(value) })
    }

    /// Runs the job to the end of its input, with checkpoints, failures and restarts as
    /// configured, and reports what happened.
    public func execute(_ job: StreamJob, name: String) throws -> JobResult {
        try validate()
        return try job.run(self, name, nil)
    }

    private func validate() throws {
        guard parallelism >= 1, parallelism <= maxParallelism else {
            throw StreamError.invalidJob("parallelism \(parallelism) must be 1...maxParallelism (\(maxParallelism))")
        }
        guard maxParallelism <= 1 << 15 else { throw StreamError.invalidJob("maxParallelism must be at most 32768") }
        guard checkpointing.maxConcurrent >= 1 else { throw StreamError.invalidJob("maxConcurrent must be at least 1") }
        guard checkpointing.retained >= 1 else { throw StreamError.invalidJob("retained must be at least 1") }
        if case .everyRecords(let n) = checkpointing.trigger, n <= 0 {
            throw StreamError.invalidJob("everyRecords must be positive")
        }
        if case .intervalMilliseconds(let n) = checkpointing.trigger, n <= 0 {
            throw StreamError.invalidJob("interval must be positive")
        }
    }

    /// Starts the job on its own thread and returns at once: the client triggers savepoints
    /// while it runs and waits for its result.
    public func executeAsync(_ job: StreamJob, name: String) -> JobClient {
        let client = JobClient()
        let thread = Thread { [self] in
            client.finish(
                Result {
                    try validate()
                    return try job.run(self, name, client.requests)
                })
        }
        thread.stackSize = 8 << 20
        thread.start()
        return client
    }
}

/// A stream of `T` read from a `Source`, before keying.
public struct DataStream<Source: StreamSource, T: Sendable>: Sendable {
    let makeSource: @Sendable () -> Source
    let transform: @Sendable (Source.Output, (T) throws -> Void) throws -> Void

    /// Applies `f` to each record.
    public func map<U: Sendable>(_ f: @escaping @Sendable (T) throws -> U) -> DataStream<Source, U> {
        let t = transform
        return DataStream<Source, U>(makeSource: makeSource, transform: { v, emit in try t(v) { try emit(try f($0)) } })
    }

    /// Keeps the records `f` accepts.
    public func filter(_ f: @escaping @Sendable (T) throws -> Bool) -> DataStream<Source, T> {
        let t = transform
        return DataStream(makeSource: makeSource, transform: { v, emit in try t(v) { if try f($0) { try emit($0) } } })
    }

    /// Replaces each record by the records `f` returns.
    public func flatMap<U: Sendable>(_ f: @escaping @Sendable (T) throws -> [U]) -> DataStream<Source, U> {
        let t = transform
        return DataStream<Source, U>(
            makeSource: makeSource,
            transform: { v, emit in
                try t(v) { for u in try f($0) { try emit(u) } }
            })
    }

    /// Partitions the stream by key: records with one key go to one subtask, whose keyed
    /// state is that key's. `codec` encodes keys (their bytes choose the key group).
    public func keyBy<K: Sendable>(
        codec: some StateCodec<K>, _ key: @escaping @Sendable (T) -> K
    ) -> KeyedStream<Source, K, T> {
        KeyedStream(stream: self, codec: codec, key: key)
    }
}

/// A keyed stream.
public struct KeyedStream<Source: StreamSource, K: Sendable, T: Sendable>: Sendable {
    let stream: DataStream<Source, T>
    let codec: any StateCodec<K>
    let key: @Sendable (T) -> K

    /// Processes each record with keyed state; `make` creates one function per subtask.
    /// `uid` names the operator in savepoints (Flink's `uid`): a job restored from a
    /// savepoint takes the state saved under its own uid.
    public func process<F: KeyedProcessFunction>(
        uid: String = "keyed-process", _ make: @escaping @Sendable () -> F
    ) -> ProcessedStream<Source, K, T, F> where F.Key == K, F.Input == T {
        ProcessedStream(keyed: self, uid: uid, makeFunction: make)
    }
}

/// The output of a keyed process function, to be sent to a sink.
public struct ProcessedStream<Source: StreamSource, K: Sendable, T: Sendable, F: KeyedProcessFunction>: Sendable
where F.Key == K, F.Input == T {
    let keyed: KeyedStream<Source, K, T>
    let uid: String
    let makeFunction: @Sendable () -> F

    /// Sends every output record to a sink; `make` creates one sink per subtask (given its
    /// index). Returns the runnable job.
    public func sink<S: StreamSink>(_ make: @escaping @Sendable (Int) throws -> S) -> StreamJob
    where S.Input == F.Output {
        let keyed = self.keyed, makeFunction = self.makeFunction, uid = self.uid
        return StreamJob { env, name, requests in
            try JobRunner(
                env: env, name: name, keyed: keyed, uid: uid, makeFunction: makeFunction, makeSink: make,
                requests: requests
            ).run()
        }
    }
}

/// A job ready to run with `StreamExecutionEnvironment.execute`.
public struct StreamJob: Sendable {
    let run: @Sendable (StreamExecutionEnvironment, String, SavepointRequests?) throws -> JobResult
}
